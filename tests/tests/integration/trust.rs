//! Trust boundaries (issue 11, docs/SECURITY.md): credentials stay with the origin they were
//! configured for, callers stay in their lane, peer input is bounded. "Another origin" is a
//! second listener on 127.0.0.1 (another port): it must never hear from Provisio.

use std::time::Duration;

use provisio_tests::fake_app::{Answer, FakeApp, UsersApi};
use provisio_tests::{Call, TestEnv};
use serde_json::{Value, json};

const PUMP: Duration = Duration::from_secs(30);
const SECRET: &str = "s3cr3t-bearer-token";

/// A listener that records whatever reaches it: the attacker's host.
async fn elsewhere() -> FakeApp {
    FakeApp::start(|_| Answer::json(200, json!({ "users": [], "access_token": "stolen", "id": "x" }))).await
}

/// A new user, Ann, joins `group` (which gives the app under test); the dispatcher handles it.
async fn join_and_dispatch(env: &TestEnv, group: &str) -> String {
    let user = env.user("ann").await;
    assert_eq!(
        env.put(&format!("/admin/groups/{group}/members/{user}"))
            .await
            .status,
        201
    );
    env.pump(&env.dispatcher(), PUMP).await;
    user
}

async fn bearer(env: &TestEnv, app: &str) -> String {
    let reply = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "bearer", "name": "key", "token": SECRET }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().expect("id").to_string()
}

async fn run_import(env: &TestEnv, app: &str, config: Value) -> Value {
    let reply = env
        .post(&format!("/admin/apps/{app}/import-configs"), config)
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let import = reply.body["id"].as_str().expect("id").to_string();
    let reply = env
        .post(
            &format!("/admin/apps/{app}/import-configs/{import}/runs"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let job = reply.body["id"].as_str().expect("job id").to_string();
    env.pump_imports(&env.importer(), PUMP).await;
    env.get(&format!("/admin/jobs/{job}")).await.body
}

fn mapping() -> Value {
    json!({ "externalId": "id", "email": "email" })
}

#[tokio::test]
async fn import_next_link_to_another_origin_gets_no_credentials() {
    let env = TestEnv::new().await;
    let thief = elsewhere().await;
    let link = format!("{}/steal", thief.url);
    let source = FakeApp::start(move |_| {
        Answer::json(
            200,
            json!({ "users": [{ "id": "1", "email": "a@corp.test" }], "next": link.clone() }),
        )
    })
    .await;
    let app = env.app("HRIS").await;
    let auth = bearer(&env, &app).await;
    let report = run_import(
        &env,
        &app,
        json!({ "name": "users", "authId": auth, "request": { "method": "GET", "url": format!("{}/users", source.url) },
                "usersPath": "users", "pagination": { "nextPath": "next" }, "mapping": mapping() }),
    )
    .await;
    assert!(
        thief.received().is_empty(),
        "the other origin got {:?}",
        thief.received()
    );
    assert_eq!(report["status"], "failed", "{report:#}");
    let reason = report["reason"].as_str().unwrap_or_default();
    let thief_origin = thief.url.trim_end_matches('/');
    assert!(reason.contains(thief_origin), "{reason}");
    assert!(!report.to_string().contains(SECRET), "{report:#}");
    // The first page was read with the credentials, at the configured origin.
    assert_eq!(source.received().len(), 1);
    let expected = format!("Bearer {SECRET}");
    assert_eq!(
        source.received()[0].header("authorization"),
        Some(expected.as_str())
    );
}

#[tokio::test]
async fn import_token_that_looks_like_a_url_stays_a_token() {
    let env = TestEnv::new().await;
    let thief = elsewhere().await;
    let token = format!("{}/steal", thief.url);
    let source = FakeApp::start(move |r| {
        if r.query.is_empty() || r.query == "cursor=" {
            Answer::json(
                200,
                json!({ "users": [{ "id": "1", "email": "a@corp.test" }], "next": token.clone() }),
            )
        } else {
            Answer::json(200, json!({ "users": [{ "id": "2", "email": "b@corp.test" }] }))
        }
    })
    .await;
    let app = env.app("HRIS").await;
    let auth = bearer(&env, &app).await;
    let report = run_import(
        &env,
        &app,
        json!({ "name": "users", "authId": auth,
                "request": { "method": "GET", "url": format!("{}/users?cursor=@Pagination", source.url) },
                "usersPath": "users", "pagination": { "nextPath": "next" }, "mapping": mapping() }),
    )
    .await;
    assert_eq!(report["status"], "succeeded", "{report:#}");
    assert!(thief.received().is_empty());
    let second = &source.received()[1];
    assert!(
        second.query.starts_with("cursor=http"),
        "the token went into @Pagination: {}",
        second.query
    );
}

/// An app that answers every call with a redirect to `to`.
async fn redirecting(to: String) -> FakeApp {
    FakeApp::start(move |r| Answer::json(307, json!({})).header("location", &format!("{to}{}", r.path))).await
}

#[tokio::test]
async fn provisioning_calls_follow_no_redirect() {
    let env = TestEnv::new().await;
    let thief = elsewhere().await;
    let app_server = redirecting(thief.url.clone()).await;
    let group = env.group("Staff").await;
    let app = env.outbound_app("Redirector", &group).await;
    let auth = bearer(&env, &app).await;
    let reply = env
        .call(
            Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created"))
                .json(json!({ "authId": auth, "request": { "method": "POST", "url": format!("{}/users", app_server.url),
                                                           "body": { "email": "@email" } } })),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let user = join_and_dispatch(&env, &group).await;

    assert_eq!(
        app_server.received().len(),
        1,
        "tried once: a redirect is permanent"
    );
    assert!(thief.received().is_empty(), "{:?}", thief.received());
    let log = env.get(&format!("/admin/users/{user}/provisioning-log")).await;
    let failed = log.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["outcome"] == "failed")
        .cloned()
        .expect("a failed entry");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("redirect") && error.contains(thief.url.trim_end_matches('/')),
        "{error}"
    );
}

#[tokio::test]
async fn token_requests_follow_no_redirect() {
    let env = TestEnv::new().await;
    let thief = elsewhere().await;
    let idp = redirecting(thief.url.clone()).await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let app_server = api.start().await;
    let group = env.group("Staff").await;
    let app = env.outbound_app("OAuth app", &group).await;
    let reply = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "oauth2", "name": "cc", "tokenUrl": format!("{}/oauth/token", idp.url),
                    "clientId": "prov", "clientSecret": SECRET }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let auth = reply.body["id"].as_str().expect("id").to_string();
    let reply = env
        .call(
            Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created"))
                .json(json!({ "authId": auth, "request": { "method": "POST", "url": format!("{}/users", app_server.url),
                                                           "body": { "email": "@email" } } })),
        )
        .await;
    assert_eq!(reply.status, 201);
    let user = join_and_dispatch(&env, &group).await;

    assert_eq!(idp.received().len(), 1);
    assert!(
        thief.received().is_empty(),
        "the client secret was re-posted: {:?}",
        thief.received()
    );
    assert!(app_server.received().is_empty());
    let log = env.get(&format!("/admin/users/{user}/provisioning-log")).await;
    assert!(log.body.to_string().contains("redirect"), "{:#}", log.body);
    assert!(!log.body.to_string().contains(SECRET));
}

#[tokio::test]
async fn token_endpoints_over_plain_http_are_refused_unless_loopback() {
    let env = TestEnv::new().await;
    let app = env.app("IdP app").await;
    let path = format!("/admin/apps/{app}/auth-configs");
    for url in ["http://idp.example.com/token", "http://10.0.0.8/token"] {
        let reply = env
            .post(
                &path,
                json!({ "type": "oauth2", "name": "cc", "tokenUrl": url, "clientId": "c", "clientSecret": "s" }),
            )
            .await;
        assert_eq!(reply.status, 400, "{url}: {:?}", reply.body);
        assert_eq!(reply.field(), Some("tokenUrl"));
        let reply = env
            .post(
                &path,
                json!({ "type": "custom", "name": "t", "method": "POST", "url": url }),
            )
            .await;
        assert_eq!(reply.status, 400, "{url}: {:?}", reply.body);
        assert_eq!(reply.field(), Some("url"));
    }
    for url in [
        "https://idp.example.com/token",
        "http://127.0.0.1:9/token",
        "http://localhost:9/token",
    ] {
        let reply = env
            .post(
                &path,
                json!({ "type": "oauth2", "name": "cc", "tokenUrl": url, "clientId": "c", "clientSecret": "s" }),
            )
            .await;
        assert_eq!(reply.status, 201, "{url}: {:?}", reply.body);
    }
}

#[tokio::test]
async fn placeholders_cannot_choose_the_host() {
    let env = TestEnv::new().await;
    let app = env.app("Tenant app").await;
    let put = |url: &str| {
        Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created"))
            .json(json!({ "request": { "method": "POST", "url": url } }))
    };
    for url in [
        "https://@attributes.tenant.example.com/users",
        "https://api.example.com:@attributes.port/users",
        "@attributes.scheme://api.example.com/users",
        "https://@attributes.host",
    ] {
        let reply = env.call(put(url)).await;
        assert_eq!(reply.status, 400, "{url}: {:?}", reply.body);
        assert_eq!(reply.field(), Some("request.url"), "{url}");
    }
    for url in [
        "https://api.example.com/tenants/@attributes.tenant/users",
        "https://api.example.com?user=@userName",
    ] {
        let reply = env.call(put(url)).await;
        assert!(matches!(reply.status, 200 | 201), "{url}: {:?}", reply.body);
    }
}

#[tokio::test]
async fn dot_segments_from_values_do_not_climb_the_api() {
    let env = TestEnv::new().await;
    let app_server = FakeApp::start(|_| Answer::json(201, json!({ "id": "1" }))).await;
    let group = env.group("Staff").await;
    let app = env.outbound_app("Tenant app", &group).await;
    let reply = env
        .call(
            Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created")).json(
                json!({ "request": { "method": "POST", "url": format!("{}/tenants/@attributes.tenant/users", app_server.url) } }),
            ),
        )
        .await;
    assert_eq!(reply.status, 201);
    for (name, tenant) in [("dot", ".."), ("encoded", "%2e%2E"), ("fine", "acme")] {
        let reply = env
            .post(
                "/admin/users",
                json!({ "userName": name, "email": format!("{name}@example.com"), "attributes": { "tenant": tenant } }),
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
    }
    env.pump(&env.dispatcher(), PUMP).await;
    let mut paths: Vec<String> = app_server.received().iter().map(|r| r.path.clone()).collect();
    paths.sort();
    // `..` is refused; an encoded one is sent as data (its `%` encoded), never as a segment.
    assert_eq!(paths, ["/tenants/%252e%252E/users", "/tenants/acme/users"]);
    let log = env.get(&format!("/admin/apps/{app}/provisioning-log")).await;
    assert!(log.body.to_string().contains("path segment"), "{:#}", log.body);
}

#[tokio::test]
async fn a_huge_token_lifetime_neither_crashes_nor_lasts_forever() {
    let env = TestEnv::new().await;
    let idp = FakeApp::start(|_| {
        Answer::json(
            200,
            json!({ "access_token": "t", "expires_in": u64::MAX, "token_type": "Bearer" }),
        )
    })
    .await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let app_server = api.start().await;
    let group = env.group("Staff").await;
    let app = env.outbound_app("OAuth app", &group).await;
    let reply = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "oauth2", "name": "cc", "tokenUrl": format!("{}/token", idp.url),
                    "clientId": "prov", "clientSecret": "x" }),
        )
        .await;
    let auth = reply.body["id"].as_str().expect("id").to_string();
    let reply = env
        .call(
            Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created"))
                .json(json!({ "authId": auth, "request": { "method": "POST", "url": format!("{}/users", app_server.url) } })),
        )
        .await;
    assert_eq!(reply.status, 201);
    join_and_dispatch(&env, &group).await;
    assert_eq!(app_server.received().len(), 1);
    assert_eq!(app_server.received()[0].header("authorization"), Some("Bearer t"));
}

#[tokio::test]
async fn an_oversized_answer_is_refused_not_buffered() {
    let env = TestEnv::new().await;
    let huge = "x".repeat(provisio::connector::delivery::MAX_RESPONSE_BYTES + 1);
    let app_server = FakeApp::start(move |_| Answer::text(201, &huge)).await;
    let group = env.group("Staff").await;
    let app = env.outbound_app("Chatty app", &group).await;
    let reply = env
        .call(
            Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created"))
                .json(json!({ "request": { "method": "POST", "url": format!("{}/users", app_server.url) } })),
        )
        .await;
    assert_eq!(reply.status, 201);
    let user = join_and_dispatch(&env, &group).await;
    let log = env.get(&format!("/admin/users/{user}/provisioning-log")).await;
    let errors: Vec<&str> = log.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["error"].as_str())
        .collect();
    assert!(errors.iter().any(|e| e.contains("larger than")), "{errors:?}");
}

#[tokio::test]
async fn a_removed_admin_key_stops_working_after_the_window() {
    provisio_tests::require_stack();
    let sdk = provisio::aws::load_sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("trust-test/{}", uuid::Uuid::new_v4());
    let put = |keys: Value| {
        let client = client.clone();
        let name = name.clone();
        async move {
            provisio::secrets::put_secret(&client, &name, &json!({ "keys": keys }).to_string())
                .await
                .expect("put the admin keys");
        }
    };
    put(json!(["kept", "revoked"])).await;
    let keys = provisio::secrets::AdminKeys::new(client.clone(), &name).with_max_age(Duration::from_secs(1));
    assert!(keys.verify("revoked").await.expect("verify"));
    put(json!(["kept"])).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        !keys.verify("revoked").await.expect("verify"),
        "a removed key must stop working"
    );
    assert!(keys.verify("kept").await.expect("verify"));
    assert!(provisio::secrets::ADMIN_KEYS_MAX_AGE <= Duration::from_secs(60));
}

#[tokio::test]
async fn a_custom_token_request_moved_without_its_secret_goes_to_the_new_url() {
    let env = TestEnv::new().await;
    let idp = FakeApp::start(|r| {
        let token = if r.path == "/v2/token" { "new" } else { "old" };
        Answer::json(200, json!({ "access_token": token, "expires_in": 3600 }))
    })
    .await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let app_server = api.start().await;
    let group = env.group("Staff").await;
    let app = env.outbound_app("Custom app", &group).await;
    let reply = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "custom", "name": "t", "method": "POST", "url": format!("{}/v1/token", idp.url),
                    "headers": { "X-Api-Key": SECRET } }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let auth = reply.body["id"].as_str().expect("id").to_string();
    // Moved to v2, the secret headers left out (kept).
    let reply = env
        .call(
            Call::new("PUT", &format!("/admin/apps/{app}/auth-configs/{auth}"))
                .json(json!({ "type": "custom", "name": "t", "method": "POST", "url": format!("{}/v2/token", idp.url) })),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let reply = env
        .call(
            Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created"))
                .json(json!({ "authId": auth, "request": { "method": "POST", "url": format!("{}/users", app_server.url) } })),
        )
        .await;
    assert_eq!(reply.status, 201);
    join_and_dispatch(&env, &group).await;
    let token_calls: Vec<(String, Option<String>)> = idp
        .received()
        .iter()
        .map(|r| (r.path.clone(), r.header("x-api-key").map(str::to_string)))
        .collect();
    assert_eq!(token_calls, [("/v2/token".to_string(), Some(SECRET.to_string()))]);
    assert_eq!(
        app_server.received()[0].header("authorization"),
        Some("Bearer new")
    );
}

#[tokio::test]
async fn a_multibyte_scim_attribute_name_is_not_a_crash() {
    let env = TestEnv::new().await;
    let client = provisio_tests::ScimClient::new(&env, "Entra").await;
    let prefix = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:";
    // A key of three-byte characters, longer than the prefix, whose byte `prefix.len()` falls
    // inside a character.
    let mut key = "€".repeat(prefix.len());
    if prefix.len().is_multiple_of(3) {
        key.insert(0, 'a');
    }
    let reply = client
        .send(
            "POST",
            "/Users",
            Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ünï", key: "v" })),
        )
        .await;
    assert!(reply.status < 500, "{}: {:?}", reply.status, reply.body);
}

/// Tracing output of the test's thread, as text.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).to_string()
    }
}

/// Apps that echo what they received in their errors, a token endpoint that echoes the posted
/// client secret, an app that refuses its fetched token and says which: then every sink (tracing,
/// dead-letter messages and attributes, the provisioning log, the import report, the API's
/// answers) is searched for every credential and its forms.
#[tokio::test]
async fn no_sink_shows_a_credential_after_a_fault_run() {
    use base64::Engine;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = TestEnv::new().await;
    let echo = FakeApp::start(|r| {
        let status = if r.path.starts_with("/flaky") { 503 } else { 400 };
        Answer::json(
            status,
            json!({ "error": "no", "youSent": r.header("authorization"), "body": r.body }),
        )
    })
    .await;
    let idp = FakeApp::start(|r| {
        if r.path == "/refuse" {
            Answer::json(401, json!({ "error": "invalid_client", "youSent": r.body }))
        } else {
            Answer::json(
                200,
                json!({ "access_token": "tok-fetched-7781", "expires_in": 3600 }),
            )
        }
    })
    .await;
    let group = env.group("Everyone").await;
    let secrets = [
        "basic-pa55word",
        SECRET,
        "oauth-client-secret-1",
        "oauth-client-secret-2",
    ];
    let auths = [
        json!({ "type": "basic", "name": "b", "clientId": "prov", "clientSecret": secrets[0] }),
        json!({ "type": "bearer", "name": "t", "token": secrets[1] }),
        json!({ "type": "oauth2", "name": "o1", "tokenUrl": format!("{}/refuse", idp.url), "clientId": "prov",
                "clientSecret": secrets[2] }),
        json!({ "type": "oauth2", "name": "o2", "tokenUrl": format!("{}/token", idp.url), "clientId": "prov",
                "clientSecret": secrets[3], "clientAuth": "basic" }),
    ];
    let mut apps = Vec::new();
    for (i, auth) in auths.into_iter().enumerate() {
        let app = env.outbound_app(&format!("app{i}"), &group).await;
        let reply = env.post(&format!("/admin/apps/{app}/auth-configs"), auth).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let auth = reply.body["id"].as_str().expect("id").to_string();
        let path = if i == 1 { "flaky" } else { "users" };
        let reply = env
            .call(
                Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created")).json(
                    json!({ "authId": auth, "request": { "method": "POST", "url": format!("{}/{path}", echo.url),
                                                         "body": { "email": "@email" } } }),
                ),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        apps.push((app, auth));
    }
    let user = env.user("ann").await;
    assert_eq!(
        env.put(&format!("/admin/groups/{group}/members/{user}"))
            .await
            .status,
        201
    );
    let mut settings = provisio_tests::test_dispatch_settings();
    settings.max_attempts = 2;
    env.pump(&env.dispatcher_with(settings), PUMP).await;

    // An import whose source echoes the bearer token in its error.
    let (import_app, _) = &apps[1];
    let import_auth = &apps[1].1;
    let report = run_import(
        &env,
        import_app,
        json!({ "name": "users", "authId": import_auth, "request": { "method": "GET", "url": format!("{}/users", echo.url) },
                "usersPath": "users", "mapping": mapping() }),
    )
    .await;
    assert_eq!(report["status"], "failed", "{report:#}");

    assert!(
        captured.text().contains("dead-letter queue"),
        "tracing was captured: {}",
        captured.text()
    );
    let mut sinks = vec![
        ("tracing".to_string(), captured.text()),
        ("import report".into(), report.to_string()),
    ];
    for (body, reason) in env.dead_letters().await {
        sinks.push(("dead-letter message".into(), format!("{body} {reason}")));
    }
    assert!(
        sinks.len() >= 5,
        "the failures reached the dead-letter queue: {sinks:?}"
    );
    for (app, auth) in &apps {
        for path in [
            format!("/admin/apps/{app}/provisioning-log"),
            format!("/admin/apps/{app}/auth-configs/{auth}"),
            format!("/admin/apps/{app}/auth-configs"),
        ] {
            sinks.push((path.clone(), env.get(&path).await.body.to_string()));
        }
    }
    sinks.push((
        "user log".into(),
        env.get(&format!("/admin/users/{user}/provisioning-log"))
            .await
            .body
            .to_string(),
    ));
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut needles: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
    needles.push(b64(&format!("prov:{}", secrets[0])));
    needles.push(b64(&format!("prov:{}", secrets[3])));
    needles.push("tok-fetched-7781".into());
    for (sink, text) in &sinks {
        for needle in &needles {
            assert!(!text.contains(needle.as_str()), "{sink} shows {needle}: {text}");
        }
    }
    // The echoes did happen: the redaction, not silence, kept them out.
    assert!(sinks.iter().any(|(_, t)| t.contains("[redacted]")), "{sinks:?}");
}

async fn scim_get(env: &TestEnv, app: &str, token: &str) -> u16 {
    let path = format!("/scim/v2/{app}/Users");
    env.scim_call(&env.scim, Call::new("GET", &path).key(token))
        .await
        .status
}

/// The same through a SCIM function instance that has cached nothing yet.
async fn cold_scim_get(env: &TestEnv, app: &str, token: &str) -> u16 {
    let scim = provisio::scim::ScimApi::new(provisio::store::Store::new(
        env.clients.dynamodb.clone(),
        &env.resources.config.table,
    ));
    let path = format!("/scim/v2/{app}/Users");
    env.scim_call(&scim, Call::new("GET", &path).key(token))
        .await
        .status
}

#[tokio::test]
async fn concurrent_token_rotations_leave_exactly_one_new_token() {
    let env = TestEnv::new().await;
    let (app, first) = env.scim_app("Entra").await;
    let path = format!("/admin/apps/{app}/scim/token");
    let mut conflicts = 0;
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            env.post(&path, json!({ "overlapSeconds": 60 })),
            env.post(&path, json!({ "overlapSeconds": 60 }))
        );
        for reply in [&a, &b] {
            match reply.status {
                // Whatever was issued works: as the current token, or the previous one within
                // the overlap (when the two happened one after the other).
                201 => {
                    let token = reply.body["token"].as_str().expect("token");
                    assert_eq!(
                        cold_scim_get(&env, &app, token).await,
                        200,
                        "an issued token must work"
                    );
                }
                409 => conflicts += 1,
                other => panic!("{other}: {:?}", reply.body),
            }
        }
        assert!(a.status == 201 || b.status == 201, "one of the two wins");
    }
    println!("{conflicts} of 3 concurrent pairs conflicted");
    let _ = first;
}

#[tokio::test]
async fn scim_requests_for_made_up_apps_are_cheap_and_bounded() {
    let env = TestEnv::new().await;
    // Junk tokens: refused without a read.
    env.requests.reset();
    for _ in 0..200 {
        assert_eq!(
            scim_get(&env, &uuid::Uuid::now_v7().to_string(), "junk").await,
            401
        );
    }
    assert_eq!(
        env.requests.total_for("DynamoDB"),
        0,
        "a malformed token costs no read"
    );
    // Well-formed guesses for made-up apps: one read each, and the cache stays bounded.
    let guess = format!("scim_{}", "A".repeat(43));
    for _ in 0..(provisio::scim::token::MAX_CACHED_APPS + 200) {
        assert_eq!(
            scim_get(&env, &uuid::Uuid::now_v7().to_string(), &guess).await,
            401
        );
    }
    assert!(env.scim.cached_token_records().await <= provisio::scim::token::MAX_CACHED_APPS);
}

#[tokio::test]
async fn a_deleted_apps_links_go_with_the_users_next_event() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let group = env.group("Staff").await;
    let reply = env
        .post(
            "/admin/apps",
            json!({ "name": "Gone", "kind": "custom_provisioning" }),
        )
        .await;
    let app = reply.body["id"].as_str().expect("id").to_string();
    let policy = env
        .post(
            "/admin/policies",
            json!({ "name": "p", "appId": app, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    let policy = policy.body["id"].as_str().expect("id").to_string();
    let reply = env
        .call(
            Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created"))
                .json(json!({ "request": { "method": "POST", "url": format!("{}/users", server.url) } })),
        )
        .await;
    assert_eq!(reply.status, 201);
    let user = join_and_dispatch(&env, &group).await;
    assert_eq!(api.accounts().len(), 1);
    let link = format!("LINK#{app}");
    assert!(env.table_dump().await.contains(&link));

    assert_eq!(env.delete(&format!("/admin/policies/{policy}")).await.status, 204);
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(env.delete(&format!("/admin/apps/{app}")).await.status, 204);
    let reply = env
        .patch(&format!("/admin/users/{user}"), json!({ "displayName": "Ann" }))
        .await;
    assert_eq!(reply.status, 200);
    env.pump(&env.dispatcher(), PUMP).await;
    assert!(
        !env.table_dump().await.contains(&link),
        "the link to the deleted app is gone"
    );
}

#[tokio::test]
async fn a_replace_that_loses_its_version_check_leaves_the_live_secret() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let group = env.group("Staff").await;
    let app = env.outbound_app("Bearer app", &group).await;
    let auth = bearer(&env, &app).await;
    let path = format!("/admin/apps/{app}/auth-configs/{auth}");
    let replace = |token: &str| {
        Call::new("PUT", &path)
            .header("If-Match", "W/\"1\"")
            .json(json!({ "type": "bearer", "name": "key", "token": token }))
    };
    let (a, b) = tokio::join!(
        env.call(replace("token-from-a")),
        env.call(replace("token-from-b"))
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "{:?} {:?}", a.body, b.body);
    let live = if a.status == 200 {
        "token-from-a"
    } else {
        "token-from-b"
    };

    let reply = env
        .call(
            Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created"))
                .json(json!({ "authId": auth, "request": { "method": "POST", "url": format!("{}/users", server.url) } })),
        )
        .await;
    assert_eq!(reply.status, 201);
    join_and_dispatch(&env, &group).await;
    let expected = format!("Bearer {live}");
    assert_eq!(
        server.received()[0].header("authorization"),
        Some(expected.as_str())
    );
}

#[tokio::test]
async fn bulk_cannot_chain_directory_searches() {
    let env = TestEnv::new().await;
    let client = provisio_tests::ScimClient::new(&env, "Entra").await;
    let search = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                         "filter": "title co \"x\"" });
    // Every spelling that routes to a search: a trailing or doubled slash as well.
    let paths = [
        "/Users/.search",
        "/Users/.search/",
        "//Users//.search",
        "/Groups/.search",
    ];
    let ops: Vec<Value> = (0..100)
        .map(|i| json!({ "method": "POST", "bulkId": format!("s{i}"), "path": paths[i % paths.len()], "data": search }))
        .collect();
    env.requests.reset();
    let reply = client
        .send(
            "POST",
            "/Bulk",
            Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops })),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let results = reply.body["Operations"].as_array().expect("operations");
    assert_eq!(results.len(), 100);
    assert!(results.iter().all(|r| r["status"] == "400"), "{:?}", results[0]);
    assert_eq!(results[0]["response"]["scimType"], "invalidPath");
    // The token check aside, nothing was read.
    assert!(
        env.requests.total_for("DynamoDB") <= 2,
        "{}",
        env.requests.total_for("DynamoDB")
    );
}

#[tokio::test]
async fn an_import_page_past_the_record_cap_ends_the_run() {
    let env = TestEnv::new().await;
    let records: Vec<Value> = (0..=provisio::import::page::MAX_RECORDS)
        .map(|i| json!({ "id": i.to_string(), "email": format!("u{i}@corp.test") }))
        .collect();
    let body = json!({ "users": records });
    let source = FakeApp::start(move |_| Answer::json(200, body.clone())).await;
    let app = env.app("HRIS").await;
    let report = run_import(
        &env,
        &app,
        json!({ "name": "users", "request": { "method": "GET", "url": format!("{}/users", source.url) },
                "usersPath": "users", "mapping": mapping() }),
    )
    .await;
    assert_eq!(report["status"], "failed", "{report:#}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("records, more than"),
        "{report:#}"
    );
    assert_eq!(report["created"], 0, "{report:#}");
}

#[tokio::test]
async fn an_oversized_scim_body_is_refused_before_parsing() {
    let env = TestEnv::new().await;
    let client = provisio_tests::ScimClient::new(&env, "Entra").await;
    let padding = "x".repeat(provisio::scim::MAX_BODY_BYTES);
    let reply = client
        .send(
            "POST",
            "/Users",
            Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "big", "title": padding })),
        )
        .await;
    assert_eq!(reply.status, 413, "{:?}", reply.body);
    assert_eq!(
        reply.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    let filter = provisio_tests::encode("userName eq \"big\"");
    assert_eq!(
        client
            .send("GET", &format!("/Users?filter={filter}"), None)
            .await
            .body["totalResults"],
        0
    );
}
