//! SCIM Groups as Entra ID and Okta drive them; members are the directory's memberships.

use provisio_tests::{ScimClient as Client, TestEnv, encode as q};
use serde_json::json;

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The group's members as the admin API lists them.
async fn admin_members(env: &TestEnv, group: &str) -> Vec<String> {
    let reply = env.get(&format!("/admin/groups/{group}/members?limit=200")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let mut ids: Vec<String> = reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["userId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn entra_id_group_lifecycle() {
    let env = TestEnv::new().await;
    let (app, token) = env.scim_app("Entra ID").await;
    let entra = Client {
        env: &env,
        app,
        token,
    };
    let user = entra.user("member@example.com").await;

    let lookup = entra
        .send(
            "GET",
            &format!(
                "/Groups?excludedAttributes=members&filter={}",
                q("displayName eq \"displayName\"")
            ),
            None,
        )
        .await;
    assert_eq!(
        (lookup.status, lookup.body["totalResults"].clone()),
        (200, json!(0))
    );
    // An empty name matches nothing (DynamoDB refuses a query for an empty key value).
    let empty = entra
        .send(
            "GET",
            &format!("/Groups?filter={}", q("displayName eq \"\"")),
            None,
        )
        .await;
    assert_eq!(
        (empty.status, empty.body["totalResults"].clone()),
        (200, json!(0)),
        "{:#}",
        empty.body
    );

    let created = entra
        .send(
            "POST",
            "/Groups",
            Some(
                json!({ "schemas": [GROUP], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                          "displayName": "displayName", "meta": { "resourceType": "Group" }, "members": [] }),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        env.get(&format!("/admin/groups/{id}")).await.body["name"],
        "displayName"
    );

    let got = entra
        .send("GET", &format!("/Groups/{id}?excludedAttributes=members"), None)
        .await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("members").is_none());
    assert_eq!(got.body["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");

    let is_member = format!(
        "/Groups?excludedAttributes=members&filter={}",
        q(&format!("id eq \"{id}\" and members[value eq \"{user}\"]"))
    );
    assert_eq!(entra.send("GET", &is_member, None).await.body["totalResults"], 0);

    let added = entra
        .patch_group(
            &id,
            json!([{ "op": "Add", "path": "members", "value": [{ "$ref": null, "value": user }] }]),
        )
        .await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    assert_eq!(admin_members(&env, &id).await, vec![user.clone()]);
    assert_eq!(entra.send("GET", &is_member, None).await.body["totalResults"], 1);
    // Adding again changes nothing.
    entra
        .patch_group(
            &id,
            json!([{ "op": "Add", "path": "members", "value": [{ "value": user }] }]),
        )
        .await;
    assert_eq!(admin_members(&env, &id).await, vec![user.clone()]);

    let removed = entra
        .patch_group(
            &id,
            json!([{ "op": "Remove", "path": "members", "value": [{ "$ref": null, "value": user }] }]),
        )
        .await;
    assert_eq!(removed.status, 200);
    assert!(admin_members(&env, &id).await.is_empty());

    let renamed = entra
        .patch_group(
            &id,
            json!([{ "op": "Replace", "path": "displayName", "value": "updatedDisplayName" }]),
        )
        .await;
    assert_eq!(renamed.body["displayName"], "updatedDisplayName");
    assert_eq!(
        env.get(&format!("/admin/groups/{id}")).await.body["name"],
        "updatedDisplayName"
    );

    assert_eq!(
        entra.send("DELETE", &format!("/Groups/{id}"), None).await.status,
        204
    );
    assert_eq!(env.get(&format!("/admin/groups/{id}")).await.status, 404);
}

#[tokio::test]
async fn okta_group_push_never_wipes_members_by_accident() {
    let env = TestEnv::new().await;
    let (app, token) = env.scim_app("Okta").await;
    let okta = Client {
        env: &env,
        app,
        token,
    };
    let (u1, u2, u3) = (
        okta.user("u1").await,
        okta.user("u2").await,
        okta.user("u3").await,
    );

    let created = okta
        .send("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Test SCIMv2", "members": [{ "value": u1 }, { "value": u2 }] })))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin_members(&env, &id).await,
        sorted(vec![u1.clone(), u2.clone()])
    );

    // Rename with a path-less replace that carries the id too.
    let renamed = okta
        .patch_group(
            &id,
            json!([{ "op": "replace", "value": { "id": id, "displayName": "Test SCIMv2 renamed" } }]),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["displayName"], "Test SCIMv2 renamed");
    assert_eq!(
        admin_members(&env, &id).await,
        sorted(vec![u1.clone(), u2.clone()]),
        "a rename kept the members"
    );

    // Okta's mix: remove one by filter, add another, in one request.
    let mixed = okta
        .patch_group(
            &id,
            json!([
                { "op": "remove", "path": format!("members[value eq \"{u1}\"]") },
                { "op": "add", "path": "members", "value": [{ "value": u3, "display": "u3" }] }
            ]),
        )
        .await;
    assert_eq!(mixed.status, 200, "{:?}", mixed.body);
    assert_eq!(
        admin_members(&env, &id).await,
        sorted(vec![u2.clone(), u3.clone()])
    );

    // Replace sets exactly the given members; later operations in the request apply after it.
    let replaced = okta
        .patch_group(
            &id,
            json!([
                { "op": "replace", "path": "members", "value": [{ "value": u1 }] },
                { "op": "add", "path": "members", "value": [{ "value": u2 }] }
            ]),
        )
        .await;
    assert_eq!(replaced.status, 200);
    assert_eq!(
        admin_members(&env, &id).await,
        sorted(vec![u1.clone(), u2.clone()])
    );
    let scim_members: Vec<String> = sorted(
        replaced.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect(),
    );
    assert_eq!(
        scim_members,
        admin_members(&env, &id).await,
        "SCIM and the admin API show the same membership"
    );

    // An unknown member is refused and nothing changes.
    let ghost = "0196a7c4-7f59-7a8e-9d1e-3b7c2f0a1b2c";
    let refused = okta
        .patch_group(&id, json!([{ "op": "remove", "path": "members", "value": [{ "value": u1 }] }, { "op": "add", "path": "members", "value": [{ "value": ghost }] }]))
        .await;
    assert_eq!(
        (refused.status, refused.body["scimType"].clone()),
        (400, json!("invalidValue")),
        "{:?}",
        refused.body
    );
    assert_eq!(
        admin_members(&env, &id).await,
        sorted(vec![u1.clone(), u2.clone()])
    );

    // PUT replaces name and members.
    let put = okta
        .send(
            "PUT",
            &format!("/Groups/{id}"),
            Some(json!({ "displayName": "Final", "members": [{ "value": u3 }] })),
        )
        .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(admin_members(&env, &id).await, vec![u3.clone()]);

    // Lookups: displayName (one Query), and explicit removal of all members.
    env.requests.reset();
    let found = okta
        .send(
            "GET",
            &format!(
                "/Groups?excludedAttributes=members&filter={}",
                q("displayName eq \"final\"")
            ),
            None,
        )
        .await;
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(
        env.requests.snapshot().into_iter().collect::<Vec<_>>(),
        vec![("DynamoDB.Query".to_string(), 1)]
    );
    let emptied = okta
        .patch_group(&id, json!([{ "op": "remove", "path": "members" }]))
        .await;
    assert_eq!(emptied.status, 200);
    assert!(admin_members(&env, &id).await.is_empty());
}

#[tokio::test]
async fn a_group_being_deleted_refuses_scim_changes_with_a_conflict_and_keeps_its_claim() {
    let env = TestEnv::new().await;
    let okta = Client::new(&env, "Okta").await;
    let member = okta.user("member@example.com").await;
    let created = okta
        .send(
            "POST",
            "/Groups",
            Some(json!({ "schemas": [GROUP], "displayName": "Leaving", "members": [{ "value": member }] })),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    env.claim_group_for_deletion(&id).await;

    let renamed = okta
        .patch_group(
            &id,
            json!([{ "op": "replace", "path": "displayName", "value": "Staying" }]),
        )
        .await;
    let replaced = okta
        .send(
            "PUT",
            &format!("/Groups/{id}"),
            Some(json!({ "schemas": [GROUP], "displayName": "Staying", "members": [] })),
        )
        .await;
    for refused in [&renamed, &replaced] {
        assert_eq!(refused.status, 409, "{:?}", refused.body);
        assert_eq!(
            refused.body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
        );
        // Not `uniqueness`: nothing is taken; the group's state is what conflicts.
        assert!(refused.body.get("scimType").is_none(), "{:?}", refused.body);
        assert!(
            refused.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("is being deleted")),
            "{:?}",
            refused.body
        );
    }
    let raw = env
        .raw_item(&format!("GROUP#{id}"), "PROFILE")
        .await
        .expect("the group is still there");
    assert!(raw.contains_key("deleting"), "the claim is kept");
    assert_eq!(
        raw.get("name").and_then(|v| v.as_s().ok()).map(String::as_str),
        Some("Leaving")
    );

    // The client's delete finishes the group and its membership.
    let deleted = okta.send("DELETE", &format!("/Groups/{id}"), None).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    assert_eq!(env.get(&format!("/admin/groups/{id}")).await.status, 404);
    assert!(
        env.get(&format!("/admin/users/{member}/groups")).await.body["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );
}
