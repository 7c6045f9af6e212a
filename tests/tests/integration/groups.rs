//! Groups and membership through the admin API.

use provisio_tests::TestEnv;
use serde_json::json;

fn ids(body: &serde_json::Value, field: &str) -> Vec<String> {
    let mut ids: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[field].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn group_crud_and_unique_names() {
    let env = TestEnv::new().await;
    let created = env
        .post(
            "/admin/groups",
            json!({ "name": "Engineering", "description": "builders" }),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap().to_string();

    let dup = env.post("/admin/groups", json!({ "name": "engineering" })).await;
    assert_eq!((dup.status, dup.field()), (409, Some("name")));

    let renamed = env
        .patch(
            &format!("/admin/groups/{id}"),
            json!({ "name": "Platform", "description": null }),
        )
        .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["name"], "Platform");
    assert!(renamed.body.get("description").is_none());
    assert_eq!(
        env.post("/admin/groups", json!({ "name": "ENGINEERING" }))
            .await
            .status,
        201
    );

    let list = env.get("/admin/groups").await;
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ENGINEERING", "Platform"]);

    assert_eq!(env.delete(&format!("/admin/groups/{id}")).await.status, 204);
    assert_eq!(env.get(&format!("/admin/groups/{id}")).await.status, 404);
}

#[tokio::test]
async fn membership_both_ways() {
    let env = TestEnv::new().await;
    let (ann, bob) = (env.user("ann").await, env.user("bob").await);
    let (eng, ops) = (env.group("eng").await, env.group("ops").await);

    let added = env.put(&format!("/admin/groups/{eng}/members/{ann}")).await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(added.body["userId"], ann.as_str());
    // Adding again is idempotent.
    let again = env.put(&format!("/admin/groups/{eng}/members/{ann}")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["added"], added.body["added"]);
    assert_eq!(
        env.put(&format!("/admin/groups/{eng}/members/{bob}"))
            .await
            .status,
        201
    );
    assert_eq!(
        env.put(&format!("/admin/groups/{ops}/members/{ann}"))
            .await
            .status,
        201
    );

    let members = env.get(&format!("/admin/groups/{eng}/members")).await;
    let mut expected = vec![ann.clone(), bob.clone()];
    expected.sort();
    assert_eq!(ids(&members.body, "userId"), expected);
    let groups = env.get(&format!("/admin/users/{ann}/groups")).await;
    let mut expected = vec![eng.clone(), ops.clone()];
    expected.sort();
    assert_eq!(ids(&groups.body, "groupId"), expected);

    // Unknown user or group: 404 and nothing written.
    let before = env.item_count().await;
    let ghost = "0196a7c4-7f59-7a8e-9d1e-3b7c2f0a1b2c";
    let reply = env.put(&format!("/admin/groups/{eng}/members/{ghost}")).await;
    assert_eq!(reply.status, 404);
    assert!(reply.body["detail"].as_str().unwrap().contains("user"));
    let reply = env.put(&format!("/admin/groups/{ghost}/members/{ann}")).await;
    assert_eq!(reply.status, 404);
    assert!(reply.body["detail"].as_str().unwrap().contains("group"));
    assert_eq!(
        env.get(&format!("/admin/groups/{ghost}/members")).await.status,
        404
    );
    assert_eq!(env.get(&format!("/admin/users/{ghost}/groups")).await.status, 404);
    assert_eq!(env.item_count().await, before);

    // Removing.
    assert_eq!(
        env.delete(&format!("/admin/groups/{eng}/members/{bob}"))
            .await
            .status,
        204
    );
    assert_eq!(
        env.delete(&format!("/admin/groups/{eng}/members/{bob}"))
            .await
            .status,
        404
    );
    assert_eq!(
        ids(
            &env.get(&format!("/admin/groups/{eng}/members")).await.body,
            "userId"
        ),
        vec![ann.clone()]
    );
    let empty = env.get(&format!("/admin/users/{bob}/groups")).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body["items"], json!([]));

    // Deleting a user removes its memberships; deleting a group removes its members.
    assert_eq!(env.delete(&format!("/admin/users/{ann}")).await.status, 204);
    assert_eq!(
        env.get(&format!("/admin/groups/{eng}/members")).await.body["items"],
        json!([])
    );
    assert_eq!(
        env.get(&format!("/admin/groups/{ops}/members")).await.body["items"],
        json!([])
    );
    assert_eq!(
        env.put(&format!("/admin/groups/{ops}/members/{bob}"))
            .await
            .status,
        201
    );
    assert_eq!(env.delete(&format!("/admin/groups/{ops}")).await.status, 204);
    assert_eq!(
        env.get(&format!("/admin/users/{bob}/groups")).await.body["items"],
        json!([])
    );
}

#[tokio::test]
async fn a_large_group_is_deleted_with_all_its_members() {
    let env = TestEnv::new().await;
    let group = env.group("everyone").await;
    for i in 0..120 {
        let user = env.user(&format!("user{i:03}")).await;
        assert_eq!(
            env.put(&format!("/admin/groups/{group}/members/{user}"))
                .await
                .status,
            201
        );
    }
    let users_and_guards = 120 * 3;
    assert_eq!(env.item_count().await, users_and_guards + 120 + 2);
    assert_eq!(env.delete(&format!("/admin/groups/{group}")).await.status, 204);
    assert_eq!(env.item_count().await, users_and_guards);
}

#[tokio::test]
async fn a_large_group_delete_checks_if_match_before_deleting_anything_then_finishes() {
    let env = TestEnv::new().await;
    let group = env.group("everyone").await;
    let mut users = Vec::new();
    for i in 0..120 {
        let user = env.user(&format!("user{i:03}")).await;
        assert_eq!(
            env.put(&format!("/admin/groups/{group}/members/{user}"))
                .await
                .status,
            201
        );
        users.push(user);
    }
    let before = env.item_count().await;
    let version = env.get(&format!("/admin/groups/{group}")).await.body["version"].clone();
    let stale = format!("W/\"{}\"", version.as_u64().expect("version") - 1);
    let refused = env
        .call(
            provisio_tests::Call::new("DELETE", &format!("/admin/groups/{group}")).header("if-match", &stale),
        )
        .await;
    assert_eq!(refused.status, 412, "{:?}", refused.body);
    assert_eq!(env.item_count().await, before, "a stale If-Match deletes nothing");

    // Members leave while the delete runs, moving the group's version on. Either the delete's
    // check came first (204: everything goes) or a leave did (412: and then the delete removed
    // no membership; only the leaves did).
    let current = format!("W/\"{version}\"");
    let delete = env.call(
        provisio_tests::Call::new("DELETE", &format!("/admin/groups/{group}")).header("if-match", &current),
    );
    let paths: Vec<String> = users
        .iter()
        .take(20)
        .map(|u| format!("/admin/groups/{group}/members/{u}"))
        .collect();
    let leaves = futures::future::join_all(paths.iter().map(|p| env.delete(p)));
    let (deleted, left) = tokio::join!(delete, leaves);
    let left = left.iter().filter(|r| r.status == 204).count();
    match deleted.status {
        204 => {
            assert_eq!(env.get(&format!("/admin/groups/{group}")).await.status, 404);
            assert_eq!(
                env.item_count().await,
                120 * 3,
                "the users and their guards are left, nothing else"
            );
        }
        412 => {
            let members = env.list_all(&format!("/admin/groups/{group}/members")).await;
            assert_eq!(
                members.len(),
                120 - left,
                "a refused delete removed no membership"
            );
        }
        other => panic!("{other}: {:?}", deleted.body),
    }
}

#[tokio::test]
async fn a_group_delete_that_broke_off_after_its_claim_takes_no_members_nor_changes_and_is_finished_by_the_next()
 {
    let env = TestEnv::new().await;
    let group = env.group("leaving").await;
    let ann = env.user("ann").await;
    let bob = env.user("bob").await;
    assert_eq!(
        env.put(&format!("/admin/groups/{group}/members/{ann}"))
            .await
            .status,
        201
    );
    let version = env.get(&format!("/admin/groups/{group}")).await.body["version"]
        .as_u64()
        .expect("version");
    env.claim_group_for_deletion(&group).await;
    // Nor any other change: a whole-group write would drop the claim, and the group would take
    // members again while a delete removes them.
    let renamed = env
        .patch(&format!("/admin/groups/{group}"), json!({ "name": "staying" }))
        .await;
    assert_eq!(
        (renamed.status, renamed.body["field"].as_str()),
        (409, Some("id")),
        "{:?}",
        renamed.body
    );
    assert!(
        renamed.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("is being deleted")),
        "{:?}",
        renamed.body
    );
    assert_eq!(
        env.get(&format!("/admin/groups/{group}")).await.body["name"],
        "leaving"
    );
    let refused = env.put(&format!("/admin/groups/{group}/members/{bob}")).await;
    assert_eq!(
        (refused.status, refused.body["field"].as_str()),
        (409, Some("id")),
        "a group being deleted takes no members: {:?}",
        refused.body
    );
    // Nor a login policy, which would keep its delete from finishing (409, in use).
    let app = env.app("crm").await;
    let policy = env
        .post(
            "/admin/policies",
            json!({ "name": "CRM", "appId": app, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    assert_eq!(
        (policy.status, policy.field()),
        (400, Some("groupId")),
        "{:?}",
        policy.body
    );
    // The retry of the delete, with the If-Match it had, finishes it.
    let finished = env
        .call(
            provisio_tests::Call::new("DELETE", &format!("/admin/groups/{group}"))
                .header("if-match", &format!("W/\"{version}\"")),
        )
        .await;
    assert_eq!(finished.status, 204, "{:?}", finished.body);
    assert_eq!(env.get(&format!("/admin/groups/{group}")).await.status, 404);
    assert!(
        env.get(&format!("/admin/users/{ann}/groups")).await.body["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );
}
