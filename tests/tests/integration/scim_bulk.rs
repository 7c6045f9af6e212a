//! SCIM Bulk (RFC 7644 3.7): bulkId references, failOnErrors, the operation limit.

use provisio_tests::{Call, TestEnv};
use serde_json::{Value, json};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

async fn bulk(env: &TestEnv, app: &str, token: &str, body: Value) -> provisio_tests::Reply {
    env.scim_call(
        &env.scim,
        Call::new("POST", &format!("/scim/v2/{app}/Bulk"))
            .key(token)
            .json(body),
    )
    .await
}

#[tokio::test]
async fn users_and_a_group_that_refers_to_them_by_bulk_id() {
    let env = TestEnv::new().await;
    let (app, token) = env.scim_app("Okta").await;
    // The group comes first and refers forward to users created later in the request.
    let reply = bulk(
        &env,
        &app,
        &token,
        json!({ "schemas": [BULK], "Operations": [
            { "method": "POST", "path": "/Groups", "bulkId": "g1",
              "data": { "displayName": "Tour Guides", "members": [{ "value": "bulkId:u1" }, { "value": "bulkId:u2" }] } },
            { "method": "POST", "path": "/Users", "bulkId": "u1", "data": { "userName": "alice" } },
            { "method": "POST", "path": "/Users", "bulkId": "u2", "data": { "userName": "bob" } },
            { "method": "PATCH", "path": "/Users/bulkId:u2",
              "data": { "Operations": [{ "op": "replace", "path": "displayName", "value": "Bob" }] } }
        ] }),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"])
    );
    let ops = reply.body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.len(), 4);
    assert!(
        statuses.iter().filter(|s| **s == "201").count() == 3 && statuses.contains(&"200"),
        "{statuses:?}"
    );
    let group = ops.iter().find(|o| o["bulkId"] == "g1").unwrap();
    let group_id = group["location"].as_str().unwrap().rsplit('/').next().unwrap();
    let members = env.get(&format!("/admin/groups/{group_id}/members")).await;
    assert_eq!(members.body["items"].as_array().unwrap().len(), 2);
    let bob = ops.iter().find(|o| o["bulkId"] == "u2").unwrap()["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        env.get(&format!("/admin/users/{bob}")).await.body["displayName"],
        "Bob"
    );
}

#[tokio::test]
async fn fail_on_errors_unresolvable_references_and_limits() {
    let env = TestEnv::new().await;
    let (app, token) = env.scim_app("Entra ID").await;
    let reply = bulk(
        &env,
        &app,
        &token,
        json!({ "schemas": [BULK], "failOnErrors": 1, "Operations": [
            { "method": "POST", "path": "/Users", "bulkId": "a", "data": { "displayName": "no userName" } },
            { "method": "POST", "path": "/Users", "bulkId": "b", "data": { "userName": "never-created" } }
        ] }),
    )
    .await;
    assert_eq!(reply.status, 200);
    let ops = reply.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1, "stopped after the first error: {ops:?}");
    assert_eq!(ops[0]["status"], "400");
    assert_eq!(ops[0]["response"]["scimType"], "invalidValue");
    assert_eq!(env.get("/admin/users").await.body["items"], json!([]));

    let dangling = bulk(
        &env,
        &app,
        &token,
        json!({ "schemas": [BULK], "Operations": [
            { "method": "POST", "path": "/Groups", "bulkId": "g", "data": { "displayName": "G", "members": [{ "value": "bulkId:nobody" }] } }
        ] }),
    )
    .await;
    assert_eq!(dangling.body["Operations"][0]["status"], "409");

    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({ "method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": { "userName": format!("u{i}") } }))
        .collect();
    let refused = bulk(
        &env,
        &app,
        &token,
        json!({ "schemas": [BULK], "Operations": too_many }),
    )
    .await;
    assert_eq!(refused.status, 413);
    assert_eq!(env.get("/admin/users").await.body["items"], json!([]));
    let config = env
        .scim_call(
            &env.scim,
            Call::new("GET", &format!("/scim/v2/{app}/ServiceProviderConfig")).key(&token),
        )
        .await;
    assert_eq!(config.body["bulk"]["maxOperations"], 100);
}
