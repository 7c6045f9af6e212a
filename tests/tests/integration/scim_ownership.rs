//! SCIM sources own what they write (issue 11, point 6; docs/SECURITY.md): two SCIM client apps
//! and the admin API side by side. A source changes and deletes only its own users and groups,
//! or unowned ones when the admin let it adopt them; anything else is a 403 in the SCIM error
//! schema that changes nothing. Reads stay open for matching.

use provisio_tests::{ScimClient, TestEnv, encode};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM client app with options; its client.
async fn source<'a>(env: &'a TestEnv, name: &str, options: Value) -> ScimClient<'a> {
    let mut body = json!({ "name": name, "kind": "scim_client" });
    for (k, v) in options.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let reply = env.post("/admin/apps", body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    ScimClient {
        env,
        app: reply.body["id"].as_str().expect("id").to_string(),
        token: reply.body["scim"]["token"].as_str().expect("token").to_string(),
    }
}

fn deactivate() -> Value {
    json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "active", "value": false }] })
}

fn assert_forbidden(reply: &provisio_tests::Reply, what: &str) {
    assert_eq!(reply.status, 403, "{what}: {:?}", reply.body);
    assert_eq!(
        reply.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{what}"
    );
    assert_eq!(reply.body["status"], "403", "{what}");
}

#[tokio::test]
async fn a_source_cannot_change_or_delete_another_sources_users_and_groups() {
    let env = TestEnv::new().await;
    let a = source(&env, "Entra", json!({})).await;
    let b = source(&env, "Okta", json!({ "deleteOnDeactivate": true })).await;
    let user = a.user("ann@corp.test").await;
    let reply = a
        .send("POST", "/Groups", Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                               "displayName": "Engineering", "members": [{ "value": user }] })))
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let group = reply.body["id"].as_str().expect("id").to_string();
    let before = env.get(&format!("/admin/users/{user}")).await.body;

    let replace = json!({ "schemas": [USER], "userName": "mallory@corp.test", "active": true });
    assert_forbidden(
        &b.send("PUT", &format!("/Users/{user}"), Some(replace)).await,
        "PUT user",
    );
    assert_forbidden(
        &b.send("PATCH", &format!("/Users/{user}"), Some(deactivate()))
            .await,
        "deactivate user",
    );
    assert_forbidden(
        &b.send("DELETE", &format!("/Users/{user}"), None).await,
        "DELETE user",
    );
    let rename = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "displayName", "value": "Ops" }] });
    assert_forbidden(
        &b.patch_group(&group, rename["Operations"].clone()).await,
        "PATCH group",
    );
    assert_forbidden(
        &b.patch_group(
            &group,
            json!([{ "op": "remove", "path": format!("members[value eq \"{user}\"]") }]),
        )
        .await,
        "remove a member",
    );
    assert_forbidden(
        &b.send("DELETE", &format!("/Groups/{group}"), None).await,
        "DELETE group",
    );

    // Nothing changed: the user (not deleted by B's deleteOnDeactivate), the group and its member.
    assert_eq!(env.get(&format!("/admin/users/{user}")).await.body, before);
    let members = env.get(&format!("/admin/groups/{group}/members")).await.body;
    assert_eq!(members["items"].as_array().map(Vec::len), Some(1), "{members:?}");
    assert_eq!(
        env.get(&format!("/admin/groups/{group}")).await.body["name"],
        "Engineering"
    );

    // Reads stay open for matching.
    let filter = encode("userName eq \"ann@corp.test\"");
    let found = b.send("GET", &format!("/Users?filter={filter}"), None).await;
    assert_eq!(found.body["totalResults"], 1, "{:?}", found.body);

    // The owner keeps full control.
    assert_eq!(
        a.send("PATCH", &format!("/Users/{user}"), Some(deactivate()))
            .await
            .status,
        200
    );
    assert_eq!(
        a.send("DELETE", &format!("/Groups/{group}"), None).await.status,
        204
    );
    assert_eq!(
        a.send("DELETE", &format!("/Users/{user}"), None).await.status,
        204
    );
}

#[tokio::test]
async fn unowned_users_are_adopted_only_where_the_admin_allows_it() {
    let env = TestEnv::new().await;
    let strict = source(&env, "Strict", json!({})).await;
    let adopter = source(&env, "Adopter", json!({ "adoptUnowned": true })).await;
    let user = env.user("bob").await;
    let rename = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "displayName", "value": "Bob" }] });

    assert_forbidden(
        &strict
            .send("PATCH", &format!("/Users/{user}"), Some(rename.clone()))
            .await,
        "an unowned user without adoption",
    );
    let reply = adopter
        .send("PATCH", &format!("/Users/{user}"), Some(rename.clone()))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // Adopted: the adopter owns it now, so the other source is refused as before.
    let stored = env.get(&format!("/admin/users/{user}")).await.body;
    assert_eq!(stored["sourceAppId"], adopter.app.as_str());
    assert_eq!(stored["displayName"], "Bob");
    assert_forbidden(
        &strict.send("DELETE", &format!("/Users/{user}"), None).await,
        "an adopted user",
    );
    // The admin API is not a source: it may still change the user.
    let reply = env
        .patch(&format!("/admin/users/{user}"), json!({ "givenName": "Robert" }))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // An admin-created group is protected the same way.
    let group = env.group("Admins").await;
    assert_forbidden(
        &strict
            .patch_group(
                &group,
                json!([{ "op": "replace", "path": "displayName", "value": "x" }]),
            )
            .await,
        "an unowned group",
    );
    // A PATCH of members alone adopts it too.
    let reply = adopter
        .patch_group(
            &group,
            json!([{ "op": "add", "path": "members", "value": [{ "value": user }] }]),
        )
        .await;
    assert!(reply.status < 300, "{:?}", reply.body);
    assert_eq!(
        env.get(&format!("/admin/groups/{group}")).await.body["sourceAppId"],
        adopter.app.as_str()
    );
    assert_eq!(
        adopter
            .send("DELETE", &format!("/Groups/{group}"), None)
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn a_deleted_sources_users_can_be_adopted_by_its_successor() {
    let env = TestEnv::new().await;
    let old = source(&env, "Old Entra", json!({})).await;
    let user = old.user("carol@corp.test").await;
    assert_eq!(env.delete(&format!("/admin/apps/{}", old.app)).await.status, 204);
    let strict = source(&env, "Strict", json!({})).await;
    let successor = source(&env, "New Entra", json!({ "adoptUnowned": true })).await;
    assert_forbidden(
        &strict
            .send("PATCH", &format!("/Users/{user}"), Some(deactivate()))
            .await,
        "a deleted source's user without adoption",
    );
    let reply = successor
        .send("PATCH", &format!("/Users/{user}"), Some(deactivate()))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        env.get(&format!("/admin/users/{user}")).await.body["sourceAppId"],
        successor.app.as_str()
    );
}
