//! SCIM as real sources send it (issue 12): what RFC 7643/7644 allow is accepted the way the RFCs
//! define it.

use provisio_tests::{ScimClient, TestEnv};
use serde_json::json;

#[tokio::test]
async fn endpoint_names_in_any_case_reach_the_same_handlers() {
    let env = TestEnv::new().await;
    let client = ScimClient::new(&env, "Hand-built paths").await;
    let user = client.user("ann@corp.test").await;
    for path in ["/users", "/USERS", "/Users"] {
        let reply = client.send("GET", path, None).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        assert_eq!(reply.body["totalResults"], 1, "{path}");
    }
    assert_eq!(
        client.send("GET", &format!("/users/{user}"), None).await.body["id"],
        user.as_str()
    );
    for path in ["/serviceproviderconfig", "/resourcetypes", "/schemas", "/groups"] {
        assert_eq!(client.send("GET", path, None).await.status, 200, "{path}");
    }
    let reply = client
        .send(
            "POST",
            "/bulk",
            Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                         "Operations": [{ "method": "POST", "bulkId": "g", "path": "/groups",
                                          "data": { "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops" } },
                                        { "method": "POST", "bulkId": "n", "path": "/bulk", "data": {} }] })),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["Operations"][0]["status"], "201");
    assert_eq!(
        reply.body["Operations"][1]["status"], "400",
        "a bulk can't nest, whatever its case"
    );
}
