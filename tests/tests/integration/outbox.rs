//! Every change outbound provisioning acts on is announced once, by the write itself (an event
//! riding on the user or group written, or an outbox item in the same transaction): refused
//! writes and no-op updates announce nothing. SCIM changes are directory changes like any other.

use provisio_tests::{ScimClient, TestEnv};
use serde_json::json;

fn kinds(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn admin_changes_are_announced_once_each() {
    let env = TestEnv::new().await;
    let user = env.user("ann").await;
    let group = env.group("eng").await;
    assert_eq!(kinds(&env.changes().await), ["user_created"]);

    // Refused and no-op writes announce nothing.
    env.post("/admin/users", json!({ "userName": "ANN" })).await;
    env.patch(&format!("/admin/users/{user}"), json!({ "userName": "ann" }))
        .await;
    assert_eq!(env.changes().await.len(), 1);

    env.patch(&format!("/admin/users/{user}"), json!({ "displayName": "Ann" }))
        .await;
    env.patch(&format!("/admin/users/{user}"), json!({ "active": false }))
        .await;
    env.put(&format!("/admin/groups/{group}/members/{user}")).await;
    env.put(&format!("/admin/groups/{group}/members/{user}")).await; // already a member
    env.delete(&format!("/admin/groups/{group}/members/{user}")).await;
    env.put(&format!("/admin/groups/{group}/members/{user}")).await;
    // A group's own rename is announced (SCIM apps rename what they were given); its
    // description is not, nor a rename to the same name.
    env.patch(
        &format!("/admin/groups/{group}"),
        json!({ "name": "engineering" }),
    )
    .await;
    env.patch(
        &format!("/admin/groups/{group}"),
        json!({ "name": "engineering", "description": "d" }),
    )
    .await;
    env.delete(&format!("/admin/groups/{group}")).await; // its members leave it, then it goes
    env.delete(&format!("/admin/users/{user}")).await;

    let events = env.changes().await;
    let mut got = kinds(&events);
    got.sort();
    let mut expected = vec![
        "user_created",
        "user_updated",
        "user_deactivated",
        "member_added",
        "member_removed",
        "member_added",
        "member_removed",
        "group_renamed",
        "group_deleted",
        "user_deleted",
    ];
    expected.sort();
    assert_eq!(got, expected, "{events:#?}");
    let (group_events, events): (Vec<serde_json::Value>, Vec<serde_json::Value>) = events
        .into_iter()
        .partition(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("group_")));
    assert!(
        group_events
            .iter()
            .all(|e| e["groupId"] == group.as_str() && e.get("userId").is_none()),
        "{group_events:#?}"
    );
    assert!(events.iter().all(|e| e["userId"] == user.as_str()));
    let order: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(order.first(), Some(&"user_created"));
    assert_eq!(order.last(), Some(&"user_deleted"));
}

#[tokio::test]
async fn scim_changes_are_announced_like_any_other() {
    let env = TestEnv::new().await;
    let client = ScimClient::new(&env, "Entra ID").await;
    let user = client.user("scim.user").await;
    let patch = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{ "op": "Replace", "path": "active", "value": "False" }] });
    client
        .send("PATCH", &format!("/Users/{user}"), Some(patch.clone()))
        .await;
    client.send("PATCH", &format!("/Users/{user}"), Some(patch)).await; // no change
    let group = client
        .send(
            "POST",
            "/Groups",
            Some(json!({ "displayName": "G", "members": [{ "value": user }] })),
        )
        .await;
    let group = group.body["id"].as_str().unwrap().to_string();
    client
        .patch_group(
            &group,
            json!([{ "op": "remove", "path": format!("members[value eq \"{user}\"]") }]),
        )
        .await;
    client.send("DELETE", &format!("/Users/{user}"), None).await;
    assert_eq!(
        kinds(&env.changes().await),
        [
            "user_created",
            "user_deactivated",
            "member_added",
            "member_removed",
            "user_deleted"
        ]
    );
}
