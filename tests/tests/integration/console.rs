//! The console's boundary, through the admin handler: its page and files under a strict CSP, the
//! exchange of an admin key for a session cookie that scripts can't read, and the CSRF token that
//! every call made with that cookie needs. The pages themselves are tested in Chromium
//! (tests/tests/served/console.rs).

use std::time::Duration;

use provisio_tests::{Call, Reply, TestEnv};
use serde_json::json;

async fn sign_in(env: &TestEnv, key: &str, host: &str) -> Reply {
    env.call(
        Call::new("POST", "/console/session")
            .key("")
            .header("host", host)
            .json(json!({ "key": key })),
    )
    .await
}

/// The `name=value` part of a Set-Cookie header.
fn cookie_pair(reply: &Reply) -> String {
    let set = reply.header("set-cookie").expect("a Set-Cookie header");
    set.split(';').next().expect("name=value").to_string()
}

#[tokio::test]
async fn the_page_and_its_files_are_served_under_a_strict_policy() {
    let env = TestEnv::new().await;
    let page = env.call(Call::new("GET", "/console").key("")).await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    let csp = page.header("content-security-policy").expect("a CSP");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("http"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let script = env.call(Call::new("GET", "/console/assets/app.js").key("")).await;
    assert_eq!(script.status, 200);
    assert!(
        script
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    for missing in [
        "/console/assets/../Cargo.toml",
        "/console/assets/nope.js",
        "/console/other",
    ] {
        let reply = env.call(Call::new("GET", missing).key("")).await;
        assert_eq!(reply.status, 404, "{missing}");
        assert!(reply.header("content-security-policy").is_some());
    }
}

#[tokio::test]
async fn an_admin_key_becomes_a_session_that_scripts_cannot_read() {
    let env = TestEnv::new().await;
    let key = env.resources.admin_key.clone();

    let wrong = sign_in(&env, "pk_not-a-key", "127.0.0.1:9000").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());
    assert!(!wrong.body.to_string().contains("pk_not-a-key"));
    let unknown_field = env
        .call(
            Call::new("POST", "/console/session")
                .key("")
                .json(json!({ "key": key, "keep": true })),
        )
        .await;
    assert_eq!(unknown_field.status, 400);

    let local = sign_in(&env, &key, "127.0.0.1:9000").await;
    assert_eq!(local.status, 201, "{:?}", local.body);
    let set = local.header("set-cookie").unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=1800"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(
        !set.contains("Secure"),
        "make dev serves plain HTTP on 127.0.0.1: {set}"
    );
    assert!(!set.contains(&key), "the key itself never goes into the cookie");
    assert!(!local.body.to_string().contains(&key));
    let csrf = local.body["csrf"].as_str().expect("a CSRF token").to_string();
    assert!(local.body["expiresAt"].is_string());

    // Over HTTPS the cookie is Secure and `__Host-` prefixed (no sibling domain can plant one), and
    // only that name counts there.
    let host = "abc123.execute-api.us-east-1.amazonaws.com";
    let deployed = sign_in(&env, &key, host).await;
    let set = deployed.header("set-cookie").unwrap();
    assert!(
        set.starts_with("__Host-provisio_session=") && set.contains("; Secure"),
        "{set}"
    );
    let value = cookie_pair(&deployed).split_once('=').unwrap().1.to_string();
    let deployed_csrf = deployed.body["csrf"].as_str().unwrap().to_string();
    let read = |cookie: String| {
        env.call(
            Call::new("GET", "/admin/users")
                .key("")
                .header("host", host)
                .header("cookie", &cookie)
                .header("x-provisio-csrf", &deployed_csrf),
        )
    };
    let accepted = read(format!("__Host-provisio_session={value}")).await;
    assert_eq!(accepted.status, 200);
    assert_eq!(accepted.header("cache-control"), Some("no-store"));
    assert_eq!(
        read(format!("provisio_session={value}")).await.status,
        401,
        "a plain name over HTTPS"
    );

    // The session reads back, with its CSRF token.
    let cookie = cookie_pair(&local);
    let current = env
        .call(
            Call::new("GET", "/console/session")
                .key("")
                .header("host", "127.0.0.1")
                .header("cookie", &cookie),
        )
        .await;
    assert_eq!(current.status, 200);
    assert_eq!(current.body["csrf"], csrf);

    // Calls to the admin API with the cookie need the CSRF token, for reads and changes alike.
    let users = |headers: Vec<(&str, String)>| {
        let mut call = Call::new("POST", "/admin/users")
            .key("")
            .header("host", "127.0.0.1")
            .json(json!({ "userName": format!("u{}", headers.len()), "email": format!("u{}@example.com", headers.len()) }));
        for (name, value) in headers {
            call = call.header(name, &value);
        }
        env.call(call)
    };
    assert_eq!(
        users(vec![("cookie", cookie.clone())]).await.status,
        401,
        "no CSRF token"
    );
    let other = sign_in(&env, &key, "127.0.0.1").await;
    let foreign = other.body["csrf"].as_str().unwrap().to_string();
    assert_eq!(
        users(vec![("cookie", cookie.clone()), ("x-provisio-csrf", foreign)])
            .await
            .status,
        401,
        "another session's token"
    );
    let made = users(vec![
        ("cookie", cookie.clone()),
        ("x-provisio-csrf", csrf.clone()),
    ])
    .await;
    assert_eq!(made.status, 201, "{:?}", made.body);

    // A cookie changed by hand (a later expiry) is refused.
    let value = cookie.split_once('=').unwrap().1;
    let mut parts: Vec<&str> = value.split('.').collect();
    parts[2] = "99999999999";
    let forged = format!("provisio_session={}", parts.join("."));
    let reply = env
        .call(
            Call::new("GET", "/admin/users")
                .key("")
                .header("host", "127.0.0.1")
                .header("cookie", &forged)
                .header("x-provisio-csrf", &csrf),
        )
        .await;
    assert_eq!(reply.status, 401);

    // Signing out clears the cookie.
    let out = env
        .call(
            Call::new("DELETE", "/console/session")
                .key("")
                .header("cookie", &cookie)
                .header("host", "127.0.0.1"),
        )
        .await;
    assert_eq!(out.status, 204);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    // ... and ends the session: a copy of the cookie no longer works.
    let copied = env
        .call(
            Call::new("GET", "/console/session")
                .key("")
                .header("host", "127.0.0.1")
                .header("cookie", &cookie),
        )
        .await;
    assert_eq!(copied.status, 401);
    let copied_use = users(vec![
        ("cookie", cookie.clone()),
        ("x-provisio-csrf", csrf.clone()),
    ])
    .await;
    assert_eq!(copied_use.status, 401);
    // Another session of the same key lives on.
    let other_cookie = cookie_pair(&other);
    let still = env
        .call(
            Call::new("GET", "/console/session")
                .key("")
                .header("host", "127.0.0.1")
                .header("cookie", &other_cookie),
        )
        .await;
    assert_eq!(still.status, 200);
}

/// A session is signed with its admin key's digest: removing the key from the secret ends it.
#[tokio::test]
async fn a_session_ends_with_its_admin_key() {
    provisio_tests::require_stack();
    let sdk = provisio::aws::load_sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("console-test/{}", uuid::Uuid::new_v4());
    let put = |keys: serde_json::Value| {
        let (client, name) = (client.clone(), name.clone());
        async move {
            provisio::secrets::put_secret(&client, &name, &json!({ "keys": keys }).to_string())
                .await
                .expect("put the admin keys");
        }
    };
    put(json!(["kept", "revoked"])).await;
    let keys = provisio::secrets::AdminKeys::new(client.clone(), &name).with_max_age(Duration::from_secs(1));
    let digest = keys.digest_of("revoked").await.unwrap().expect("a key");
    let fingerprint = provisio::secrets::key_fingerprint(&digest);
    assert_eq!(keys.by_fingerprint(&fingerprint).await.unwrap(), Some(digest));
    put(json!(["kept"])).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(keys.by_fingerprint(&fingerprint).await.unwrap(), None);
    assert!(keys.digest_of("kept").await.unwrap().is_some());
}

#[tokio::test]
async fn users_are_searched_by_user_name_prefix_or_email_and_counted() {
    let env = TestEnv::new().await;
    for name in ["ada.lovelace", "ada.byron", "grace.hopper"] {
        env.user(name).await;
    }
    let found = env.get("/admin/users?userName=ADA.").await;
    let names: Vec<&str> = found.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ada.byron", "ada.lovelace"]);
    let paged = env.get("/admin/users?userName=ada&limit=1").await;
    assert_eq!(paged.body["items"].as_array().unwrap().len(), 1);
    let cursor = paged.body["nextCursor"].as_str().expect("a next page");
    let second = env
        .get(&format!("/admin/users?userName=ada&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second.body["items"][0]["userName"], "ada.lovelace");
    let by_email = env.get("/admin/users?email=Grace.Hopper%40example.com").await;
    assert_eq!(by_email.body["items"][0]["userName"], "grace.hopper");
    assert_eq!(
        env.get("/admin/users?email=nobody%40example.com").await.body["items"],
        json!([])
    );
    // An empty search is no search (DynamoDB refuses an empty key value: this was a 500).
    let all = env.get("/admin/users?userName=").await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(3));
    let no_email = env.get("/admin/users?email=").await;
    assert_eq!((no_email.status, &no_email.body["items"]), (200, &json!([])));
    let both = env.get("/admin/users?email=a%40b.c&userName=a").await;
    assert_eq!((both.status, both.body["field"].as_str()), (400, Some("email")));

    env.group("g").await;
    let summary = env.get("/admin/summary").await;
    assert_eq!(summary.status, 200, "{:?}", summary.body);
    assert_eq!(summary.body["users"], json!({ "count": 3, "more": false }));
    assert_eq!(summary.body["groups"]["count"], 1);
    assert_eq!(summary.body["deadLetters"], 0);
}
