//! Provision on demand and "test connection" (issue 16.3), against the sample users API on
//! 127.0.0.1: what is sent now for one user and one app, shown as it went, secrets masked.

use std::time::Duration;

use provisio_tests::TestEnv;
use provisio_tests::fake_app::{Answer, OAuthClient, UsersApi};
use serde_json::{Value, json};

async fn config(env: &TestEnv, app: &str, kind: &str, auth: Option<&str>, request: Value) {
    let reply = env
        .call(
            provisio_tests::Call::new("PUT", &format!("/admin/apps/{app}/event-configs/{kind}")).json(
                if kind == "user_created" {
                    json!({ "authId": auth, "externalIdPath": "data.id", "request": request })
                } else {
                    json!({ "authId": auth, "request": request })
                },
            ),
        )
        .await;
    assert!(reply.status < 300, "{:?}", reply.body);
}

async fn provision(env: &TestEnv, app: &str, user: &str) -> Value {
    let reply = env
        .post(&format!("/admin/apps/{app}/provision"), json!({ "userId": user }))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

#[tokio::test]
async fn provision_on_demand_sends_what_the_state_requires_and_shows_it_masked() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(3600));
    let server = api.start().await;
    let group = env.group("Support").await;
    let app = env.outbound_app("Helpdesk", &group).await;
    let auth = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "bearer", "name": "b", "token": "tok-secret-77" }),
        )
        .await
        .body["id"]
        .as_str()
        .expect("auth id")
        .to_string();
    config(
        &env,
        &app,
        "user_created",
        Some(&auth),
        json!({ "method": "POST", "url": format!("{}/users", server.url), "body": { "email": "@email" } }),
    )
    .await;
    config(&env, &app, "user_updated", Some(&auth), json!({ "method": "PUT", "url": format!("{}/users/@ExternalUserId", server.url), "body": { "email": "@email", "name": "@givenName" } })).await;
    let user = env
        .member_of(
            &group,
            json!({ "userName": "ann", "email": "ann@example.com", "givenName": "Ann" }),
        )
        .await;

    // Now, without the queue: the create, as sent and answered.
    let done = provision(&env, &app, &user).await;
    assert_eq!(
        (done["result"].clone(), done["inScope"].clone()),
        (json!("done"), json!(true)),
        "{done:#}"
    );
    let call = &done["calls"][0];
    assert_eq!(call["event"], "user_created");
    assert_eq!(call["request"]["method"], "POST");
    assert_eq!(call["request"]["headers"]["Authorization"], "Bearer ****");
    assert_eq!(call["request"]["body"], json!({ "email": "ann@example.com" }));
    assert_eq!(call["status"], 201);
    assert!(
        call["response"].as_str().unwrap_or_default().contains("ext-1"),
        "{call:#}"
    );
    assert!(
        !done.to_string().contains("tok-secret-77"),
        "the token is never shown"
    );
    assert_eq!(api.accounts().len(), 1);
    assert_eq!(
        server.received()[0].header("authorization"),
        Some("Bearer tok-secret-77")
    );

    // Up to date: nothing is sent, and the log says why.
    let again = provision(&env, &app, &user).await;
    assert_eq!(again["result"], "skipped", "{again:#}");
    assert!(again["calls"].as_array().expect("calls").is_empty());
    assert_eq!(server.received().len(), 1);

    // A failing app: the answer is shown, and the queue tries again.
    let reply = env
        .call(
            provisio_tests::Call::new("PATCH", &format!("/admin/users/{user}"))
                .json(json!({ "givenName": "Anna" })),
        )
        .await;
    assert_eq!(reply.status, 200);
    api.fail_next(Answer::json(503, json!({ "error": "maintenance" })));
    let failing = provision(&env, &app, &user).await;
    assert_eq!(failing["result"], "retrying", "{failing:#}");
    assert_eq!(failing["calls"][0]["status"], 503);
    assert!(
        failing["calls"][0]["response"]
            .as_str()
            .unwrap_or_default()
            .contains("maintenance")
    );
    let queue = &env.resources.queue_urls["dispatch"];
    assert!(
        provisio_tests::depth(&env.clients.sqs, queue).await >= 1,
        "a retry is queued"
    );

    // Out of scope, no account: nothing to do. Unknown users and SCIM apps are refused.
    let other = env.post("/admin/users", json!({ "userName": "bob" })).await.body["id"]
        .as_str()
        .expect("id")
        .to_string();
    let outside = provision(&env, &app, &other).await;
    assert_eq!(
        (outside["inScope"].clone(), outside["calls"].clone()),
        (json!(false), json!([]))
    );
    let missing = env
        .post(
            &format!("/admin/apps/{app}/provision"),
            json!({ "userId": "0190a7b2-0000-7000-8000-000000000000" }),
        )
        .await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);
    let (scim, _) = env.scim_app("source").await;
    let refused = env
        .post(
            &format!("/admin/apps/{scim}/provision"),
            json!({ "userId": user }),
        )
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
}

#[tokio::test]
async fn test_connection_fetches_a_token_or_calls_the_apps_own_origin_only() {
    let env = TestEnv::new().await;
    let client = OAuthClient {
        client_id: "provisio".into(),
        client_secret: "cs-42".into(),
    };
    let api = UsersApi::new(Some(client), Duration::from_secs(3600));
    let server = api.start().await;
    let elsewhere = UsersApi::new(None, Duration::from_secs(3600)).start().await;
    let group = env.group("g").await;
    let app = env.outbound_app("OAuth app", &group).await;
    let oauth = |secret: &str| {
        json!({ "type": "oauth2", "name": format!("cc {secret}"), "tokenUrl": format!("{}/oauth/token", server.url),
                "clientId": "provisio", "clientSecret": secret })
    };
    let good = env
        .post(&format!("/admin/apps/{app}/auth-configs"), oauth("cs-42"))
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();
    let bad = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            oauth("wrong-secret-9"),
        )
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();
    config(
        &env,
        &app,
        "user_created",
        Some(&good),
        json!({ "method": "POST", "url": format!("{}/users", server.url) }),
    )
    .await;

    let test = |auth: String, body: Value| {
        let env = &env;
        let app = app.clone();
        async move {
            env.post(&format!("/admin/apps/{app}/auth-configs/{auth}/test"), body)
                .await
        }
    };
    let token = test(good.clone(), json!({})).await;
    assert_eq!(token.status, 200, "{:?}", token.body);
    assert_eq!(
        (token.body["ok"].clone(), token.body["tried"].clone()),
        (json!(true), json!("token"))
    );
    assert_eq!(api.tokens_issued(), 1);
    let refused = test(bad.clone(), json!({})).await;
    assert_eq!(refused.body["ok"], false, "{:?}", refused.body);
    assert!(
        !refused.body.to_string().contains("wrong-secret-9"),
        "{:?}",
        refused.body
    );

    // A call with the token: only to an origin the app's own configs send to.
    let called = test(good.clone(), json!({ "url": format!("{}/users", server.url) })).await;
    assert_eq!(
        (called.body["ok"].clone(), called.body["status"].clone()),
        (json!(true), json!(200)),
        "{:?}",
        called.body
    );
    // `elsewhere` is where another authorization of the app goes, not this one.
    config(
        &env,
        &app,
        "user_deleted",
        Some(&bad),
        json!({ "method": "DELETE", "url": format!("{}/users/@ExternalUserId", elsewhere.url) }),
    )
    .await;
    let leak = test(good.clone(), json!({ "url": format!("{}/users", elsewhere.url) })).await;
    assert_eq!(
        (leak.status, leak.body["field"].clone()),
        (400, json!("url")),
        "{:?}",
        leak.body
    );
    assert!(
        elsewhere.received().is_empty(),
        "the credentials never left for another origin"
    );
    let bearer = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "bearer", "name": "b", "token": "t0k3n" }),
        )
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();
    let no_url = test(bearer, json!({})).await;
    assert_eq!(
        (no_url.status, no_url.body["field"].clone()),
        (400, json!("url")),
        "{:?}",
        no_url.body
    );
}

/// Issue 16: a full reconcile after a template change sends every account the new body (and
/// nothing to a user out of scope), and ends with a report.
#[tokio::test]
async fn a_full_reconcile_sends_every_user_what_the_directory_says() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(3600));
    let server = api.start().await;
    let group = env.group("Staff").await;
    let app = env.outbound_app("Wiki", &group).await;
    config(
        &env,
        &app,
        "user_created",
        None,
        json!({ "method": "POST", "url": format!("{}/users", server.url), "body": { "email": "@email" } }),
    )
    .await;
    config(&env, &app, "user_updated", None, json!({ "method": "PUT", "url": format!("{}/users/@ExternalUserId", server.url), "body": { "email": "@email" } })).await;
    for name in ["ann", "bob", "cy"] {
        let fields = json!({ "userName": name, "email": format!("{name}@example.com"), "givenName": name });
        env.member_of(&group, fields).await;
    }
    env.pump(&env.dispatcher(), Duration::from_secs(60)).await;
    assert_eq!(api.accounts().len(), 3);
    // Someone outside the group, and the template now sends the name too.
    env.post(
        "/admin/users",
        json!({ "userName": "outsider", "email": "o@example.com" }),
    )
    .await;
    config(&env, &app, "user_updated", None, json!({ "method": "PUT", "url": format!("{}/users/@ExternalUserId", server.url), "body": { "email": "@email", "name": "@givenName" } })).await;
    env.pump(&env.dispatcher(), Duration::from_secs(60)).await;
    assert!(
        server.received().iter().all(|r| r.method != "PUT"),
        "a template change alone sends nothing"
    );

    let started = env.post(&format!("/admin/apps/{app}/reconcile"), json!({})).await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    let again = env.post(&format!("/admin/apps/{app}/reconcile"), json!({})).await;
    assert_eq!(again.status, 409, "one run at a time: {:?}", again.body);
    env.pump(&env.dispatcher(), Duration::from_secs(60)).await;
    let run = env.get(&format!("/admin/apps/{app}/reconcile")).await.body;
    assert_eq!(
        (run["status"].clone(), run["users"].clone()),
        (json!("succeeded"), json!(4)),
        "{run:#}"
    );
    let puts: Vec<Value> = server
        .received()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.json())
        .collect();
    assert_eq!(puts.len(), 3, "each account once, the outsider none: {puts:?}");
    assert!(
        puts.iter().all(|b| b["name"].is_string()),
        "the new template: {puts:?}"
    );
    assert_eq!(api.accounts().len(), 3);
}
