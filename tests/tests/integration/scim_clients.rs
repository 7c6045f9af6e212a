//! The request sequences Microsoft Entra ID and Okta send, as their public SCIM documentation
//! shows them, replayed request by request; after each, what the directory holds.

use provisio::ids::UserId;
use provisio_tests::{Call, ScimClient as Client, TestEnv, encode as filter};
use serde_json::json;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn stored(env: &TestEnv, id: &str) -> Option<provisio::directory::users::User> {
    env.api.directory.get_user(&UserId::parse(id).unwrap()).await.ok()
}

#[tokio::test]
async fn entra_id_user_lifecycle() {
    let env = TestEnv::new().await;
    let (app, token) = env.scim_app("Entra ID").await;
    let entra = Client {
        env: &env,
        app,
        token,
    };
    let user_name = "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081";

    // Does the user exist?
    let lookup = entra
        .send(
            "GET",
            &format!(
                "/Users?filter={}",
                filter(&format!("userName eq \"{user_name}\""))
            ),
            None,
        )
        .await;
    assert_eq!(
        (lookup.status, lookup.body["totalResults"].clone()),
        (200, json!(0))
    );

    // Create.
    let created = entra
        .send(
            "POST",
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7a3e4f1a7c1b",
                "userName": user_name,
                "active": true,
                "emails": [{ "primary": true, "type": "work", "value": "Test_User_11bb6097@testuser.com" }],
                "meta": { "resourceType": "User" },
                "name": { "formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName" },
                "roles": []
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let user = stored(&env, &id).await.unwrap();
    assert_eq!(
        (user.user_name.as_str(), user.email.as_deref()),
        (user_name, Some("Test_User_11bb6097@testuser.com"))
    );

    // Lookup by userName and by externalId.
    let found = entra
        .send(
            "GET",
            &format!(
                "/Users?filter={}",
                filter(&format!("userName eq \"{user_name}\""))
            ),
            None,
        )
        .await;
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    let found = entra
        .send(
            "GET",
            &format!(
                "/Users?filter={}",
                filter("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7a3e4f1a7c1b\"")
            ),
            None,
        )
        .await;
    assert_eq!(found.body["totalResults"], 1);

    // Update: replace the work email and the family name.
    let patched = entra
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({ "schemas": [PATCH_OP], "Operations": [
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com" },
                { "op": "Replace", "path": "name.familyName", "value": "updatedFamilyName" }
            ] })),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let user = stored(&env, &id).await.unwrap();
    assert_eq!(user.email.as_deref(), Some("updatedEmail@microsoft.com"));
    assert_eq!(user.family_name.as_deref(), Some("updatedFamilyName"));
    assert_eq!(user.version, 2);

    // The same PATCH again changes nothing: no new version.
    let again = entra
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({ "schemas": [PATCH_OP], "Operations": [
                { "op": "Replace", "path": "name.familyName", "value": "updatedFamilyName" }
            ] })),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(stored(&env, &id).await.unwrap().version, 2);

    // Add a manager (unqualified path, list value), then remove it.
    let manager = entra
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({ "schemas": [PATCH_OP], "Operations": [
                { "op": "Add", "path": "manager", "value": [{ "$ref": null, "value": "2819c223-7f76-453a-919d-413861904646" }] }
            ] })),
        )
        .await;
    assert_eq!(manager.status, 200, "{:?}", manager.body);
    assert_eq!(
        manager.body[ENTERPRISE]["manager"]["value"],
        "2819c223-7f76-453a-919d-413861904646"
    );
    assert_eq!(
        stored(&env, &id).await.unwrap().attributes["manager"],
        "2819c223-7f76-453a-919d-413861904646"
    );
    let removed = entra
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({ "schemas": [PATCH_OP], "Operations": [{ "op": "Remove", "path": "manager" }] })),
        )
        .await;
    assert_eq!(removed.status, 200);
    assert!(
        !stored(&env, &id)
            .await
            .unwrap()
            .attributes
            .contains_key("manager")
    );

    // A work email for a user without one: the replace adds it.
    let no_email = entra
        .send(
            "POST",
            "/Users",
            Some(json!({ "userName": "no.email", "externalId": "e2" })),
        )
        .await;
    let no_email_id = no_email.body["id"].as_str().unwrap().to_string();
    let added = entra
        .send(
            "PATCH",
            &format!("/Users/{no_email_id}"),
            Some(json!({ "schemas": [PATCH_OP], "Operations": [
                { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "fresh@example.com" }
            ] })),
        )
        .await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    assert_eq!(
        stored(&env, &no_email_id).await.unwrap().email.as_deref(),
        Some("fresh@example.com")
    );

    // Disable: Entra ID sends the boolean as a string.
    let disabled = entra
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({ "schemas": [PATCH_OP], "Operations": [{ "op": "Replace", "path": "active", "value": "False" }] })),
        )
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    assert_eq!(disabled.body["active"], false);
    assert!(!stored(&env, &id).await.unwrap().active);

    // Delete.
    assert_eq!(
        entra.send("DELETE", &format!("/Users/{id}"), None).await.status,
        204
    );
    assert!(stored(&env, &id).await.is_none());
}

#[tokio::test]
async fn okta_user_lifecycle_and_delete_on_deactivate() {
    let env = TestEnv::new().await;
    let (app, token) = env.scim_app("Okta").await;
    let okta = Client {
        env: &env,
        app: app.clone(),
        token,
    };

    let lookup = okta
        .send(
            "GET",
            &format!(
                "/Users?filter={}&startIndex=1&count=100",
                filter("userName eq \"test.user@okta.local\"")
            ),
            None,
        )
        .await;
    assert_eq!(lookup.body["totalResults"], 0);

    let created = okta
        .send(
            "POST",
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "test.user@okta.local",
                "name": { "givenName": "Test", "familyName": "User" },
                "emails": [{ "primary": true, "value": "test.user@okta.local", "type": "work" }],
                "displayName": "Test User",
                "locale": "en-US",
                "externalId": "00ujl29u0le5T6Aj10h7",
                "groups": [],
                "password": "1mz050nq",
                "active": true
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert!(created.body.get("password").is_none());
    let dump = env.table_dump().await;
    assert!(!dump.contains("1mz050nq"), "a password reached DynamoDB");

    let got = okta.send("GET", &format!("/Users/{id}"), None).await;
    assert_eq!(got.body["locale"], "en-US");

    // Profile update: Okta PUTs the whole user.
    let mut full = got.body.clone();
    full["name"]["givenName"] = json!("Another");
    let replaced = okta.send("PUT", &format!("/Users/{id}"), Some(full)).await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    assert_eq!(
        stored(&env, &id).await.unwrap().given_name.as_deref(),
        Some("Another")
    );

    // Deactivate: a path-less replace.
    let deactivate =
        json!({ "schemas": [PATCH_OP], "Operations": [{ "op": "replace", "value": { "active": false } }] });
    let off = okta
        .send("PATCH", &format!("/Users/{id}"), Some(deactivate.clone()))
        .await;
    assert_eq!(off.status, 200);
    let user = stored(&env, &id).await.unwrap();
    assert!(
        !user.active,
        "without the option, a deactivated user is kept, inactive"
    );

    // With "delete the user when the source deactivates it" on, deactivation deletes.
    let option = env
        .patch(
            &format!("/admin/apps/{app}"),
            json!({ "deleteOnDeactivate": true }),
        )
        .await;
    assert_eq!(option.status, 200, "{:?}", option.body);
    let fresh_okta = provisio::scim::ScimApi::new(provisio::store::Store::new(
        env.clients.dynamodb.clone(),
        &env.resources.config.table,
    ));
    let second = okta
        .send(
            "POST",
            "/Users",
            Some(json!({ "userName": "second@okta.local", "externalId": "00u2", "active": true })),
        )
        .await;
    let second_id = second.body["id"].as_str().unwrap().to_string();
    let call = Call::new("PATCH", &format!("/scim/v2/{app}/Users/{second_id}"))
        .key(&okta.token)
        .json(deactivate);
    let deleted = env.scim_call(&fresh_okta, call).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    assert!(stored(&env, &second_id).await.is_none());
    let not_custom = env
        .post(
            "/admin/apps",
            json!({ "name": "x", "kind": "custom_provisioning", "deleteOnDeactivate": true }),
        )
        .await;
    assert_eq!(
        (not_custom.status, not_custom.field()),
        (400, Some("deleteOnDeactivate"))
    );
}
