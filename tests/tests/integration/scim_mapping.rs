//! Per-app SCIM attribute mapping, on top of the built-in one.

use provisio_tests::{ScimClient, TestEnv};
use serde_json::json;

#[tokio::test]
async fn an_apps_mapping_decides_where_attributes_land() {
    let env = TestEnv::new().await;
    let client = ScimClient::new(&env, "HR system").await;
    let mapping = json!({ "users": [
        { "scim": "emails[type eq \"home\"].value", "directory": "email" },
        { "scim": "title", "directory": "attributes.jobTitle" },
        { "scim": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "directory": "attributes.badge" }
    ] });
    let set = env
        .patch(
            &format!("/admin/apps/{}", client.app),
            json!({ "scimMapping": mapping }),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(
        set.body["scimMapping"]["users"][1]["directory"],
        "attributes.jobTitle"
    );

    // A fresh SCIM instance, as after the settings cache expires.
    let env_scim = provisio::scim::ScimApi::new(provisio::store::Store::new(
        env.clients.dynamodb.clone(),
        &env.resources.config.table,
    ));
    let call = provisio_tests::Call::new("POST", &client.path("/Users")).key(&client.token).json(json!({
        "userName": "ada",
        "title": "Countess",
        "emails": [{ "type": "work", "value": "ada@work.example" }, { "type": "home", "value": "ada@home.example" }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "employeeNumber": "42" }
    }));
    let created = env.scim_call(&env_scim, call).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let stored = env.get(&format!("/admin/users/{id}")).await.body;
    assert_eq!(stored["email"], "ada@home.example");
    assert_eq!(stored["attributes"]["jobTitle"], "Countess");
    assert_eq!(stored["attributes"]["badge"], "42");

    // A PATCH that changes nothing keeps the version, mapping and all.
    let before = env.get(&format!("/admin/users/{id}")).await.body;
    let same = env
        .scim_call(
            &env_scim,
            provisio_tests::Call::new("PATCH", &client.path(&format!("/Users/{id}")))
                .key(&client.token)
                .json(json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{ "op": "replace", "path": "title", "value": "Countess" }]
                })),
        )
        .await;
    assert_eq!(same.status, 200, "{:?}", same.body);
    let after = env.get(&format!("/admin/users/{id}")).await.body;
    assert_eq!(after, before);
    assert_eq!(same.body["meta"]["version"], "W/\"1\"");

    // The directory changes; SCIM shows the change at the mapped paths.
    env.patch(
        &format!("/admin/users/{id}"),
        json!({ "email": "ada@new-home.example", "attributes": { "jobTitle": "Analyst" } }),
    )
    .await;
    let got = env
        .scim_call(
            &env_scim,
            provisio_tests::Call::new("GET", &client.path(&format!("/Users/{id}"))).key(&client.token),
        )
        .await;
    assert_eq!(got.body["title"], "Analyst");
    let home = got.body["emails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "home")
        .unwrap()
        .clone();
    assert_eq!(home["value"], "ada@new-home.example");

    // Bad mappings are refused, naming the entry; null goes back to the built-in mapping.
    let bad = env
        .patch(
            &format!("/admin/apps/{}", client.app),
            json!({ "scimMapping": { "users": [{ "scim": "title", "directory": "password" }] } }),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (400, Some("scimMapping.users[0].directory"))
    );
    let reset = env
        .patch(
            &format!("/admin/apps/{}", client.app),
            json!({ "scimMapping": null }),
        )
        .await;
    assert!(reset.body.get("scimMapping").is_none());
    let custom = env
        .post(
            "/admin/apps",
            json!({ "name": "x", "kind": "custom_provisioning", "scimMapping": {} }),
        )
        .await;
    assert_eq!((custom.status, custom.field()), (400, Some("scimMapping")));
}
