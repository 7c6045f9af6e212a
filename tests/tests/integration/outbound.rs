//! Outbound provisioning against real HTTP apps on 127.0.0.1: configs through the admin API,
//! events through the real dispatch queue, the dispatcher run in process. Every test asserts the
//! exact requests the app received.

use std::time::Duration;

use base64::Engine;
use provisio_tests::TestEnv;
use provisio_tests::fake_app::{Answer, FakeApp, OAuthClient, UsersApi};
use serde_json::{Value, json};

const PUMP: Duration = Duration::from_secs(30);

/// The seed's user-created and user-updated configs, with `auth` (an auth config id) if any.
async fn user_configs(env: &TestEnv, app: &str, base: &str, auth: Option<&str>) {
    let created = json!({
        "authId": auth,
        "externalIdPath": "data.id",
        "request": {
            "method": "POST", "url": format!("{base}/users"),
            "headers": { "X-Source": "provisio" },
            "body": { "email": "@email", "name": { "first": "@givenName", "last": "@familyName" },
                      "active": "@active", "level": "@attributes.level",
                      "label": "@userName (@attributes.department)" }
        }
    });
    let reply = env
        .call(
            provisio_tests::Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created"))
                .json(created),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let updated = json!({
        "authId": auth,
        "request": { "method": "PUT", "url": format!("{base}/users/@ExternalUserId"),
                     "body": { "email": "@email", "active": "@active", "level": "@attributes.level" } }
    });
    let reply = env
        .call(
            provisio_tests::Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_updated"))
                .json(updated),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
}

async fn put_config(env: &TestEnv, app: &str, kind: &str, body: Value) -> provisio_tests::Reply {
    env.call(provisio_tests::Call::new("PUT", &format!("/admin/apps/{app}/event-configs/{kind}")).json(body))
        .await
}

async fn auth(env: &TestEnv, app: &str, body: Value) -> String {
    let reply = env.post(&format!("/admin/apps/{app}/auth-configs"), body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().expect("id").to_string()
}

/// A user with typed attributes, added to `group`.
async fn member(env: &TestEnv, group: &str, name: &str) -> String {
    let reply = env
        .post(
            "/admin/users",
            json!({ "userName": name, "email": format!("{name}@example.com"), "givenName": "Ann",
                    "familyName": "Lee", "attributes": { "level": 3, "department": "R&D" } }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let user = reply.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        env.put(&format!("/admin/groups/{group}/members/{user}"))
            .await
            .status,
        201
    );
    user
}

#[tokio::test]
async fn basic_auth_create_then_update_at_the_stored_id() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let app_server = api.start().await;
    let group = env.group("Engineering").await;
    let app = env.outbound_app("HR", &group).await;
    let basic = auth(
        &env,
        &app,
        json!({ "type": "basic", "name": "HR basic", "clientId": "prov", "clientSecret": "pa:ss wörd" }),
    )
    .await;
    user_configs(&env, &app, &app_server.url, Some(&basic)).await;
    let dispatcher = env.dispatcher();

    let user = member(&env, &group, "ann").await;
    env.pump(&dispatcher, PUMP).await;
    let received = app_server.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    let create = &received[0];
    assert_eq!((create.method.as_str(), create.path.as_str()), ("POST", "/users"));
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("prov:pa:ss wörd")
    );
    assert_eq!(create.header("authorization"), Some(expected_auth.as_str()));
    assert_eq!(create.header("x-source"), Some("provisio"));
    assert_eq!(create.header("content-type"), Some("application/json"));
    assert_eq!(
        create.json(),
        json!({ "email": "ann@example.com", "name": { "first": "Ann", "last": "Lee" }, "active": true,
                "level": 3, "label": "ann (R&D)" })
    );

    let reply = env
        .patch(
            &format!("/admin/users/{user}"),
            json!({ "email": "ann.lee@example.com" }),
        )
        .await;
    assert_eq!(reply.status, 200);
    env.pump(&dispatcher, PUMP).await;
    let received = app_server.received();
    assert_eq!(received.len(), 2, "{received:#?}");
    assert_eq!(
        (received[1].method.as_str(), received[1].path.as_str()),
        ("PUT", "/users/ext-1")
    );
    assert_eq!(
        received[1].json(),
        json!({ "email": "ann.lee@example.com", "active": true, "level": 3 })
    );

    // One log entry per attempt, per app and per user, newest first, no secret in sight.
    let log = env.get(&format!("/admin/apps/{app}/provisioning-log")).await;
    assert_eq!(log.status, 200);
    // Ann's second event (she joined the group right after her creation) found nothing new to send:
    // a skipped entry with its reason. The calls:
    let entries: Vec<Value> = log.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["outcome"] != "skipped")
        .cloned()
        .collect();
    let events: Vec<&str> = entries.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["user_updated", "user_created"]);
    assert_eq!(entries[0]["status"], 200);
    assert_eq!(entries[1]["status"], 201);
    assert_eq!(entries[1]["outcome"], "succeeded");
    assert_eq!(entries[0]["url"], format!("{}/users/ext-1", app_server.url));
    let by_user = env.get(&format!("/admin/users/{user}/provisioning-log")).await;
    assert_eq!(
        by_user.body["items"], log.body["items"],
        "one user: the same entries"
    );
    assert!(!log.body.to_string().contains("pa:ss"));

    // A duplicate of an old event changes nothing: the app already has this version.
    env.patch(
        &format!("/admin/users/{user}"),
        json!({ "email": "ann.lee@example.com" }),
    )
    .await;
    env.pump(&dispatcher, PUMP).await;
    assert_eq!(app_server.received().len(), 2);
}

#[tokio::test]
async fn bearer_and_custom_token_authorizations() {
    let env = TestEnv::new().await;
    // The custom token endpoint wants an API key header and a JSON body, and answers with the
    // token nested under `data`.
    let app_server = FakeApp::start(|r| match r.path.as_str() {
        "/session" if r.header("x-api-key") == Some("key-123") && r.json()["account"] == "acme" => {
            Answer::json(200, json!({ "data": { "token": "sess-9", "ttl": 600 } }))
        }
        "/session" => Answer::json(403, json!({ "error": "bad key" })),
        _ => Answer::json(201, json!({ "id": "x-1" })),
    })
    .await;
    let group = env.group("g").await;
    let bearer_app = env.outbound_app("Bearer app", &group).await;
    let custom_app = env.outbound_app("Custom app", &group).await;
    let bearer = auth(
        &env,
        &bearer_app,
        json!({ "type": "bearer", "name": "b", "token": "static-tok" }),
    )
    .await;
    let custom = auth(
        &env,
        &custom_app,
        json!({ "type": "custom", "name": "session", "method": "POST", "url": format!("{}/session", app_server.url),
                "headers": { "X-Api-Key": "key-123" }, "body": { "account": "acme" },
                "response": { "tokenPath": "data.token", "expiresInPath": "data.ttl", "tokenType": "Session" },
                "headerName": "X-Auth" }),
    )
    .await;
    for (app, auth_id, path) in [
        (&bearer_app, &bearer, "/b/users"),
        (&custom_app, &custom, "/c/users"),
    ] {
        let reply = put_config(
            &env,
            app,
            "user_created",
            json!({ "authId": auth_id, "request": { "method": "POST", "url": format!("{}{path}", app_server.url),
                    "body": { "userName": "@userName" } } }),
        )
        .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    member(&env, &group, "bob").await;
    env.pump(&env.dispatcher(), PUMP).await;

    let received = app_server.received();
    let to = |path: &str| {
        received
            .iter()
            .find(|r| r.path == path)
            .unwrap_or_else(|| panic!("{path}: {received:#?}"))
    };
    assert_eq!(to("/b/users").header("authorization"), Some("Bearer static-tok"));
    assert_eq!(to("/c/users").header("x-auth"), Some("Session sess-9"));
    assert_eq!(to("/c/users").header("authorization"), None);
    assert_eq!(to("/c/users").json(), json!({ "userName": "bob" }));
    assert_eq!(received.iter().filter(|r| r.path == "/session").count(), 1);
}

#[tokio::test]
async fn oauth_tokens_are_reused_until_they_expire_and_refreshed_on_401() {
    let env = TestEnv::new().await;
    let client = OAuthClient {
        client_id: "provisio".into(),
        client_secret: "cs-42".into(),
    };
    let api = UsersApi::new(Some(client), Duration::from_secs(3));
    let server = api.start().await;
    let group = env.group("g").await;
    let app = env.outbound_app("OAuth app", &group).await;
    let oauth = auth(
        &env,
        &app,
        json!({ "type": "oauth2", "name": "cc", "tokenUrl": format!("{}/oauth/token", server.url),
                "clientId": "provisio", "clientSecret": "cs-42", "scope": "users:write",
                "extraParams": { "audience": "users-api" } }),
    )
    .await;
    user_configs(&env, &app, &server.url, Some(&oauth)).await;
    let dispatcher = env.dispatcher();

    for i in 0..4 {
        member(&env, &group, &format!("u{i}")).await;
    }
    env.pump(&dispatcher, PUMP).await;
    assert_eq!(api.accounts().len(), 4);
    assert_eq!(
        api.tokens_issued(),
        1,
        "one token serves every call within its lifetime"
    );
    let token_request = server
        .received()
        .into_iter()
        .find(|r| r.path == "/oauth/token")
        .expect("token request");
    let form = token_request.form();
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
    assert_eq!(form.get("scope").map(String::as_str), Some("users:write"));
    assert_eq!(form.get("audience").map(String::as_str), Some("users-api"));
    assert_eq!(form.get("client_secret").map(String::as_str), Some("cs-42"));

    // Lifetime 3 s, replaced 0.3 s early: after it, the next call gets a new token.
    tokio::time::sleep(Duration::from_secs(3)).await;
    member(&env, &group, "late").await;
    env.pump(&dispatcher, PUMP).await;
    assert_eq!(api.tokens_issued(), 2);

    // A token revoked early: the 401 refreshes it once and the call goes through.
    api.revoke_tokens();
    member(&env, &group, "after-revoke").await;
    env.pump(&dispatcher, PUMP).await;
    assert_eq!(api.tokens_issued(), 3);
    assert_eq!(api.accounts().len(), 6);
    assert_eq!(env.dead_letters().await.len(), 0);
}

#[tokio::test]
async fn leaving_scope_deprovisions_and_deleting_deletes() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let group = env.group("Sales").await;
    let app = env.outbound_app("CRM", &group).await;
    user_configs(&env, &app, &server.url, None).await;
    let reply = put_config(
        &env,
        &app,
        "user_deactivated",
        json!({ "request": { "method": "PATCH", "url": format!("{}/users/@ExternalUserId", server.url),
                             "body": { "active": false } } }),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let reply = put_config(
        &env,
        &app,
        "user_deleted",
        json!({ "request": { "method": "DELETE", "url": format!("{}/users/@ExternalUserId?email=@email", server.url) } }),
    )
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let dispatcher = env.dispatcher();

    let ann = member(&env, &group, "ann").await;
    let bob = member(&env, &group, "bob").await;
    env.pump(&dispatcher, PUMP).await;
    assert_eq!(api.accounts().len(), 2);
    let account = |email: &str| {
        let accounts = api.accounts();
        let id = accounts
            .iter()
            .find(|(_, body)| body["email"] == email)
            .map(|(id, _)| id.clone());
        format!("/users/{}", id.expect("an account"))
    };
    let (ann_at, bob_at) = (account("ann@example.com"), account("bob@example.com"));

    // Removed from the policy's group: the app hears at once, with the deactivation.
    env.delete(&format!("/admin/groups/{group}/members/{ann}")).await;
    env.pump(&dispatcher, PUMP).await;
    let last = server.received().pop().expect("a request");
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("PATCH", ann_at.as_str())
    );
    assert_eq!(last.json(), json!({ "active": false }));

    // Back in the group: reactivated through the update config.
    env.put(&format!("/admin/groups/{group}/members/{ann}")).await;
    env.pump(&dispatcher, PUMP).await;
    let last = server.received().pop().expect("a request");
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("PUT", ann_at.as_str())
    );
    assert_eq!(last.json()["active"], true);

    // Deleted from the directory: the delete carries the attributes the app last had.
    env.delete(&format!("/admin/users/{bob}")).await;
    env.pump(&dispatcher, PUMP).await;
    let last = server.received().pop().expect("a request");
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("DELETE", bob_at.as_str())
    );
    assert_eq!(last.query, "email=bob%40example.com");
    assert_eq!(api.accounts().len(), 1);

    // With deprovision = delete, leaving scope deletes too.
    let reply = env
        .patch(&format!("/admin/apps/{app}"), json!({ "deprovision": "delete" }))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    env.delete(&format!("/admin/groups/{group}/members/{ann}")).await;
    env.pump(&dispatcher, PUMP).await;
    let last = server.received().pop().expect("a request");
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("DELETE", ann_at.as_str())
    );
    assert!(api.accounts().is_empty());
}

#[tokio::test]
async fn group_membership_events_carry_the_group() {
    let env = TestEnv::new().await;
    let server = FakeApp::start(|r| {
        Answer::json(
            if r.method == "POST" && r.path == "/users" {
                201
            } else {
                200
            },
            json!({ "id": "e1" }),
        )
    })
    .await;
    let scope = env.group("All staff").await;
    let app = env.outbound_app("Wiki", &scope).await;
    let reply = put_config(
        &env,
        &app,
        "user_created",
        json!({ "request": { "method": "POST", "url": format!("{}/users", server.url), "body": { "u": "@userName" } } }),
    )
    .await;
    assert_eq!(reply.status, 201);
    for (kind, method) in [("member_added", "PUT"), ("member_removed", "DELETE")] {
        let reply = put_config(
            &env,
            &app,
            kind,
            json!({ "request": { "method": method, "url": format!("{}/groups/@group.id/members/@ExternalUserId", server.url),
                                 "body": { "group": "@group.name" } } }),
        )
        .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    let dispatcher = env.dispatcher();
    let user = member(&env, &scope, "cy").await;
    env.pump(&dispatcher, PUMP).await;
    let extra = env.group("Editors").await;
    env.put(&format!("/admin/groups/{extra}/members/{user}")).await;
    env.pump(&dispatcher, PUMP).await;
    env.delete(&format!("/admin/groups/{extra}/members/{user}")).await;
    env.pump(&dispatcher, PUMP).await;

    let calls: Vec<(String, String, Value)> = server
        .received()
        .into_iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.json()))
        .collect();
    assert_eq!(calls[0].1, "/users");
    // The scope group is pushed once the account exists, then Editors comes and goes.
    let rest: Vec<_> = calls[1..].to_vec();
    assert_eq!(
        rest,
        vec![
            (
                "PUT".into(),
                format!("/groups/{scope}/members/e1"),
                json!({ "group": "All staff" })
            ),
            (
                "PUT".into(),
                format!("/groups/{extra}/members/e1"),
                json!({ "group": "Editors" })
            ),
            (
                "DELETE".into(),
                format!("/groups/{extra}/members/e1"),
                json!({ "group": "Editors" })
            ),
        ]
    );
}

#[tokio::test]
async fn a_new_policy_provisions_the_groups_members_and_its_deletion_deprovisions_them() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let group = env.group("Support").await;
    let app = env.app("Helpdesk").await;
    user_configs(&env, &app, &server.url, None).await;
    let reply = put_config(
        &env,
        &app,
        "user_deactivated",
        json!({ "request": { "method": "PATCH", "url": format!("{}/users/@ExternalUserId", server.url),
                             "body": { "active": false } } }),
    )
    .await;
    assert_eq!(reply.status, 201);
    // Caches on, as deployed: scope changes must not wait for them.
    let dispatcher = env.dispatcher();
    for name in ["a", "b", "c"] {
        member(&env, &group, name).await;
    }
    env.pump(&dispatcher, PUMP).await;
    assert!(server.received().is_empty(), "no policy, no scope");

    let policy = env
        .post(
            "/admin/policies",
            json!({ "name": "p", "appId": app, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    assert_eq!(policy.status, 201);
    env.pump(&dispatcher, PUMP).await;
    assert_eq!(api.accounts().len(), 3);

    let policy = policy.body["id"].as_str().expect("id").to_string();
    assert_eq!(env.delete(&format!("/admin/policies/{policy}")).await.status, 204);
    env.pump(&dispatcher, PUMP).await;
    let deactivations: Vec<_> = server
        .received()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.json() == json!({ "active": false }))
        .collect();
    assert_eq!(deactivations.len(), 3);
}

#[tokio::test]
async fn an_existing_account_is_linked_instead_of_created_twice() {
    let env = TestEnv::new().await;
    // The app already has Ann (hired before Provisio), found by email; Bob is new.
    let server = FakeApp::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/users") if r.query == "email=ann%40example.com" => Answer::json(
            200,
            json!({ "data": [{ "id": "legacy-7", "email": "ann@example.com" }] }),
        ),
        ("GET", "/users") => Answer::json(200, json!({ "data": [] })),
        ("POST", "/users") => Answer::json(201, json!({ "data": { "id": "new-1" } })),
        _ => Answer::json(200, json!({})),
    })
    .await;
    let group = env.group("g").await;
    let app = env.outbound_app("Legacy", &group).await;
    user_configs(&env, &app, &server.url, None).await;
    let mut created = env
        .get(&format!("/admin/apps/{app}/event-configs/user_created"))
        .await
        .body;
    for k in ["appId", "kind", "version", "created", "lastModified"] {
        created.as_object_mut().expect("config").remove(k);
    }
    created["lookup"] = json!({
        "request": { "method": "GET", "url": format!("{}/users?email=@email", server.url) },
        "externalIdPath": "data.0.id"
    });
    let reply = put_config(&env, &app, "user_created", created).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    member(&env, &group, "ann").await;
    member(&env, &group, "bob").await;
    env.pump(&env.dispatcher(), PUMP).await;

    let mut calls: Vec<String> = server
        .received()
        .iter()
        .map(|r| {
            format!(
                "{} {}{}",
                r.method,
                r.path,
                if r.query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", r.query)
                }
            )
        })
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        [
            "GET /users?email=ann%40example.com",
            "GET /users?email=bob%40example.com",
            "POST /users",
            "PUT /users/legacy-7",
        ]
    );
    let update = server
        .received()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("update");
    assert_eq!(update.json()["email"], "ann@example.com");

    // A lookup belongs to user_created only.
    let reply = put_config(
        &env,
        &app,
        "user_updated",
        json!({ "request": { "method": "PUT", "url": "https://x.io/u/@ExternalUserId" },
                "lookup": { "request": { "method": "GET", "url": "https://x.io/u" }, "externalIdPath": "id" } }),
    )
    .await;
    assert_eq!((reply.status, reply.field()), (400, Some("lookup")));
}
