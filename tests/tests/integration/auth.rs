//! Every admin route needs the admin key from Secrets Manager.

use provisio_tests::{Call, TestEnv};
use serde_json::json;

#[tokio::test]
async fn missing_or_wrong_keys_get_401_and_change_nothing() {
    let env = TestEnv::new().await;
    let attempts = [
        Call::new("GET", "/admin/users").key(""),
        Call::new("GET", "/admin/users").key("pk_wrong"),
        Call::new("POST", "/admin/users")
            .key("pk_wrong")
            .json(json!({ "userName": "mallory" })),
        Call::new("GET", "/admin/users").key(&format!("{}x", env.resources.admin_key)),
        Call::new("GET", "/admin/nowhere").key(""),
        Call::new("GET", "/admin/users").header("authorization", "Basic YWRtaW46YWRtaW4="),
    ];
    for call in attempts {
        let described = format!("{} {} key={:?}", call.method, call.path, call.key);
        let reply = env.call(call).await;
        assert_eq!(reply.status, 401, "{described}");
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer realm=\"provisio-admin\"")
        );
        let text = reply.body.to_string();
        assert!(
            !text.contains(&env.resources.admin_key),
            "the key leaked into a response"
        );
    }
    assert_eq!(env.item_count().await, 0);
    assert_eq!(env.get("/admin/users").await.status, 200);
}

#[tokio::test]
async fn keys_are_read_from_secrets_manager_once_per_cold_start() {
    let env = TestEnv::new().await;
    for _ in 0..5 {
        assert_eq!(env.get("/admin/users").await.status, 200);
    }
    assert_eq!(
        env.requests.total_for("Secrets Manager"),
        1,
        "{:?}",
        env.requests.snapshot()
    );
}
