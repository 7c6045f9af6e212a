//! Authorization and event configs through the admin API: secrets stored in Secrets Manager and
//! never returned or written to DynamoDB, templates checked when saved, previews rendered with
//! the authorization masked.

use provisio_tests::{Call, TestEnv};
use serde_json::json;

async fn secret(env: &TestEnv, name: &str) -> Option<serde_json::Value> {
    let out = env
        .clients
        .secrets
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .ok()?;
    serde_json::from_str(out.secret_string()?).ok()
}

#[tokio::test]
async fn secrets_go_to_secrets_manager_and_never_come_back() {
    let env = TestEnv::new().await;
    let app = env.app("HR").await;
    let reply = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "oauth2", "name": "IdP", "tokenUrl": "https://idp.example.com/token",
                    "clientId": "provisio", "clientSecret": "cs-topsecret-1", "scope": "users",
                    "response": { "tokenPath": "data.token", "lifetimeSeconds": 600 } }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let id = reply.body["id"].as_str().expect("id").to_string();
    assert_eq!(reply.body["secretSet"], true);
    assert_eq!(reply.body["type"], "oauth2");
    assert_eq!(reply.body["response"]["tokenPath"], "data.token");
    assert!(!reply.body.to_string().contains("cs-topsecret-1"));
    let name = reply.body["secretName"]
        .as_str()
        .expect("secret name")
        .to_string();
    assert_eq!(
        secret(&env, &name).await.expect("stored")["clientSecret"],
        "cs-topsecret-1"
    );
    assert!(!env.table_dump().await.contains("cs-topsecret-1"));

    let path = format!("/admin/apps/{app}/auth-configs/{id}");
    let got = env.get(&path).await;
    assert_eq!(got.status, 200);
    assert!(!got.body.to_string().contains("cs-topsecret-1"));
    let listed = env.get(&format!("/admin/apps/{app}/auth-configs")).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));

    // A replacement without the secret keeps it; a new secret replaces it.
    let replace = json!({ "type": "oauth2", "name": "IdP", "tokenUrl": "https://idp.example.com/token",
                          "clientId": "provisio", "scope": "users groups" });
    let reply = env.call(Call::new("PUT", &path).json(replace.clone())).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["scope"], "users groups");
    assert_eq!(
        secret(&env, &name).await.expect("kept")["clientSecret"],
        "cs-topsecret-1"
    );
    let mut rotated = replace.clone();
    rotated["clientSecret"] = json!("cs-rotated-2");
    let reply = env.call(Call::new("PUT", &path).json(rotated)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // A new secret lives under a new name (a replace that lost its race never touched the live
    // one); the old one is deleted once the config points at the new.
    let old = name;
    let name = reply.body["secretName"]
        .as_str()
        .expect("secret name")
        .to_string();
    assert_ne!(name, old);
    assert_eq!(
        secret(&env, &name).await.expect("rotated")["clientSecret"],
        "cs-rotated-2"
    );
    assert!(
        secret(&env, &old).await.is_none(),
        "the replaced secret is deleted"
    );
    // Another type needs its own secret.
    let reply = env
        .call(Call::new("PUT", &path).json(json!({ "type": "bearer", "name": "b" })))
        .await;
    assert_eq!((reply.status, reply.field()), (400, Some("type")));

    // Deleting the app deletes its configs and their secrets.
    assert_eq!(env.delete(&format!("/admin/apps/{app}")).await.status, 204);
    assert!(secret(&env, &name).await.is_none());
    assert!(!env.table_dump().await.contains(&id));
    assert!(!env.table_dump().await.contains(&format!("APP#{app}")));
    // A SCIM client app leaves nothing behind either (its token digests go with it).
    let (scim_app, _) = env.scim_app("Entra").await;
    assert_eq!(env.delete(&format!("/admin/apps/{scim_app}")).await.status, 204);
    assert!(!env.table_dump().await.contains(&format!("APP#{scim_app}")));
}

#[tokio::test]
async fn bad_configs_are_refused_with_the_field_and_change_nothing() {
    let env = TestEnv::new().await;
    let app = env.app("HR").await;
    let before = env.item_count().await;
    let cases = [
        (json!({ "type": "basic", "name": "b", "clientId": "c" }), "secret"),
        (
            json!({ "type": "bearer", "name": "b", "token": "t", "extra": 1 }),
            "extra",
        ),
        (
            json!({ "type": "oauth2", "name": "o", "tokenUrl": "ftp://x", "clientId": "c", "clientSecret": "s" }),
            "tokenUrl",
        ),
        (
            json!({ "type": "oauth2", "name": "o", "tokenUrl": "https://x.io/t", "clientId": "c", "clientSecret": "s",
                 "extraParams": { "client_secret": "x" } }),
            "extraParams.client_secret",
        ),
        (
            json!({ "type": "oauth2", "name": "o", "tokenUrl": "https://x.io/t", "clientId": "c", "clientSecret": "s",
                 "response": { "tokenPath": "a..b" } }),
            "response.tokenPath",
        ),
        (
            json!({ "type": "custom", "name": "c", "method": "POST", "url": "https://x.io/s",
                 "body": { "user": "@userName" } }),
            "body",
        ),
    ];
    for (body, field) in cases {
        let reply = env
            .post(&format!("/admin/apps/{app}/auth-configs"), body.clone())
            .await;
        assert_eq!(
            (reply.status, reply.field()),
            (400, Some(field)),
            "{body}: {:?}",
            reply.body
        );
    }

    let event = |body: serde_json::Value| {
        Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created")).json(body)
    };
    let cases = [
        (
            json!({ "request": { "method": "POST", "url": "https://x.io/users", "body": { "mail": "@emial" } } }),
            "request.body",
            "@emial",
        ),
        (
            json!({ "request": { "method": "POST", "url": "https://x.io/users/@ExternalUserId" } }),
            "request.url",
            "not known yet",
        ),
        (
            json!({ "request": { "method": "POST", "url": "https://x.io/users", "headers": { "X-G": "@group.name" } } }),
            "request.headers.X-G",
            "member_added",
        ),
        (
            json!({ "request": { "method": "POST", "url": "/users" } }),
            "request.url",
            "absolute",
        ),
        (
            json!({ "request": { "method": "POST", "url": "https://x.io/u", "bodyFormat": "form", "body": { "a": { "b": 1 } } } }),
            "request.body",
            "form",
        ),
        (
            json!({ "request": { "method": "FETCH", "url": "https://x.io/u" } }),
            "request.method",
            "variant",
        ),
        (
            json!({ "authId": "0195f7e0-0000-7000-8000-000000000000", "request": { "method": "POST", "url": "https://x.io/u" } }),
            "authId",
            "not an authorization",
        ),
        (
            json!({ "externalIdPath": "data..id", "request": { "method": "POST", "url": "https://x.io/u" } }),
            "externalIdPath",
            "dotted",
        ),
    ];
    for (body, field, detail) in cases {
        let reply = env.call(event(body.clone())).await;
        assert_eq!(
            (reply.status, reply.field()),
            (400, Some(field)),
            "{body}: {:?}",
            reply.body
        );
        let text = reply.body["detail"].as_str().unwrap_or_default();
        assert!(text.contains(detail), "{text}");
    }
    let reply = env
        .call(Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_updated")).json(
            json!({ "externalIdPath": "id", "request": { "method": "PUT", "url": "https://x.io/u/@ExternalUserId" } }),
        ))
        .await;
    assert_eq!((reply.status, reply.field()), (400, Some("externalIdPath")));
    assert_eq!(env.item_count().await, before, "refused configs write nothing");

    let unknown = env
        .get(&format!("/admin/apps/{app}/event-configs/user_renamed"))
        .await;
    assert_eq!(unknown.status, 404);
    let (scim_app, _) = env.scim_app("Entra").await;
    let reply = env
        .post(
            &format!("/admin/apps/{scim_app}/auth-configs"),
            json!({ "type": "bearer", "name": "b", "token": "t" }),
        )
        .await;
    assert_eq!((reply.status, reply.field()), (409, Some("kind")));
}

#[tokio::test]
async fn event_configs_use_auth_configs_and_preview_masks_them() {
    let env = TestEnv::new().await;
    let app = env.app("HR").await;
    let auth = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "basic", "name": "b", "clientId": "c", "clientSecret": "basic-secret-9" }),
        )
        .await;
    let auth_id = auth.body["id"].as_str().expect("id").to_string();
    let path = format!("/admin/apps/{app}/event-configs/user_updated");
    let config = json!({ "authId": auth_id, "request": {
        "method": "PATCH", "url": "https://hr.example.com/api/users/@ExternalUserId?src=@@provisio",
        "headers": { "X-Dept": "@attributes.department" },
        "body": { "mail": "@email", "active": "@active", "grade": "@attributes.grade", "note": "a@@b" } } });
    let reply = env.call(Call::new("PUT", &path).json(config.clone())).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["enabled"], true);
    let reply = env
        .call(Call::new("PUT", &path).json(config).header("If-Match", "W/\"1\""))
        .await;
    assert_eq!((reply.status, reply.body["version"].clone()), (200, json!(2)));
    let reply = env
        .call(
            Call::new("PUT", &path)
                .json(json!({ "request": { "method": "GET", "url": "https://x.io" } }))
                .header("If-Match", "W/\"1\""),
        )
        .await;
    assert_eq!(reply.status, 412);

    // In use: the auth config stays.
    let reply = env
        .delete(&format!("/admin/apps/{app}/auth-configs/{auth_id}"))
        .await;
    assert_eq!((reply.status, reply.field()), (409, Some("id")));

    let user = env
        .post(
            "/admin/users",
            json!({ "userName": "ann", "email": "ann@example.com", "attributes": { "department": "R&D", "grade": 7 } }),
        )
        .await;
    let user = user.body["id"].as_str().expect("id").to_string();
    let preview = env
        .post(&format!("{path}/preview"), json!({ "userId": user }))
        .await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    assert_eq!(
        preview.body,
        json!({ "method": "PATCH",
                "url": "https://hr.example.com/api/users/%7BExternalUserId%7D?src=@provisio",
                "headers": { "X-Dept": "R&D", "Authorization": "Basic ****" },
                "body": { "mail": "ann@example.com", "active": true, "grade": 7, "note": "a@b" } })
    );
    assert!(!preview.body.to_string().contains("basic-secret-9"));

    let listed = env.get(&format!("/admin/apps/{app}/event-configs")).await;
    assert_eq!(listed.body["items"][0]["kind"], "user_updated");
    assert_eq!(env.delete(&path).await.status, 204);
    assert_eq!(
        env.delete(&format!("/admin/apps/{app}/auth-configs/{auth_id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        env.get(&format!("/admin/apps/{app}/auth-configs")).await.body["items"],
        json!([])
    );
}
