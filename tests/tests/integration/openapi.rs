//! The OpenAPI document at /admin/openapi.json describes exactly the routes the admin API serves:
//! every documented operation is routed and allowed, every route is documented, every schema
//! reference resolves.

use provisio::admin_api::routes::{Route, route};
use provisio_tests::{Call, TestEnv};
use serde_json::{Value, json};

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_matches_the_routes() {
    let env = TestEnv::new().await;
    // Public: tools fetch it without a key.
    let reply = env.call(Call::new("GET", "/admin/openapi.json").key("")).await;
    assert_eq!(reply.status, 200);
    let doc = reply.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");

    // Every route is documented.
    for r in Route::ALL {
        assert!(
            paths.contains_key(r.template()),
            "{} is not documented",
            r.template()
        );
    }
    // Every documented operation is routed to its template, and its method is allowed there.
    let id = "0196a7c4-7f59-7a8e-9d1e-3b7c2f0a1b2c";
    for (template, item) in paths {
        let path = template.replace("{kind}", "user_created");
        let path = path
            .split('/')
            .map(|s| if s.starts_with('{') { id } else { s })
            .collect::<Vec<_>>()
            .join("/");
        assert_eq!(
            route(&path).map(|r| r.template()),
            Some(template.as_str()),
            "{template}"
        );
        for method in item.as_object().expect("operations").keys() {
            let mut call = Call::new(&method.to_uppercase(), &path);
            if matches!(method.as_str(), "post" | "put" | "patch") {
                call = call.json(json!({}));
            }
            let reply = env.call(call).await;
            assert_ne!(reply.status, 405, "{method} {template}: {:?}", reply.body);
            let detail = reply.body["detail"].as_str().unwrap_or_default();
            assert!(!detail.starts_with("no route"), "{method} {template}: {detail}");
        }
    }
    // Every schema reference resolves; the request and response types are there.
    let mut found = Vec::new();
    refs(&doc, &mut found);
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for r in &found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(schemas.contains_key(name), "{r} does not resolve");
    }
    for name in [
        "User",
        "NewUser",
        "AuthInput",
        "EventInput",
        "ImportInput",
        "Job",
        "LogEntry",
        "Problem",
    ] {
        assert!(schemas.contains_key(name), "{name} missing");
    }
    // Schemas follow the serde attributes: camelCase fields, tagged auth types.
    assert!(schemas["User"]["properties"].get("userName").is_some());
    let auth = schemas["AuthInput"].to_string();
    for kind in ["basic", "bearer", "oauth2", "custom"] {
        assert!(
            auth.contains(&format!("\"{kind}\"")),
            "{kind} missing from AuthInput"
        );
    }
    assert!(auth.contains("tokenUrl"));
}
