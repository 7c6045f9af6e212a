//! Hostile and broken input at the request handlers (issue 11, point 8): arbitrary Unicode keys
//! and values in SCIM and admin bodies, PATCH paths and filters. No input may panic a handler
//! (with `panic = "abort"` one request would take the instance and its batch down) or get a 500:
//! bad input is the caller's error (4xx), valid input is stored.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use provisio_tests::{Call, ScimClient, TestEnv};
use serde_json::{Map, Value, json};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// An object with arbitrary members, some of them under the names the handlers look at, on top
/// of `base` (the members a request needs to get past its first check), sometimes left out.
fn body(base: Value, names: &'static [&'static str]) -> impl Strategy<Value = Value> {
    (
        prop::collection::btree_map(any::<String>(), any_json(), 0..3),
        prop::collection::btree_map(prop::sample::select(names), any_json(), 0..3),
        any::<String>(),
        any::<bool>(),
    )
        .prop_map(move |(random, known, name, with_base)| {
            let mut map = Map::new();
            if with_base {
                if let Value::Object(base) = &base {
                    map.extend(base.clone());
                }
                // The base's first text member gets an arbitrary value.
                if let Some((_, v)) = map.iter_mut().find(|(_, v)| v.is_string()) {
                    *v = Value::String(name);
                }
            }
            map.extend(random);
            map.extend(known.into_iter().map(|(k, v)| (k.to_string(), v)));
            Value::Object(map)
        })
}

const SCIM_USER: &[&str] = &[
    "schemas",
    "userName",
    "name",
    "emails",
    "active",
    "externalId",
    "displayName",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
];
const ADMIN_USER: &[&str] = &[
    "userName",
    "email",
    "givenName",
    "familyName",
    "active",
    "attributes",
];

fn check(what: &str, strategy: impl Strategy<Value = Value>, call: impl Fn(Value) -> u16) {
    let cases = std::env::var("PROVISIO_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    runner
        .run(&strategy, |input| {
            let status = call(input.clone());
            *seen.borrow_mut().entry(status).or_default() += 1;
            prop_assert!(status < 500, "{what}: {status} for {input}");
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    println!("{what}: statuses {:?}", seen.borrow());
}

#[test]
fn no_input_panics_a_handler_or_gets_a_500() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let env = rt.block_on(TestEnv::new());
    let scim = rt.block_on(ScimClient::new(&env, "Fuzzed source"));
    let user = rt.block_on(scim.user("target@example.com"));
    let admin_user = rt.block_on(env.user("admin-target"));
    let scim_user = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "u" });
    check("SCIM POST /Users", body(scim_user.clone(), SCIM_USER), |b| {
        rt.block_on(scim.send("POST", "/Users", Some(b))).status
    });
    check("SCIM PUT /Users/{id}", body(scim_user, SCIM_USER), |b| {
        rt.block_on(scim.send("PUT", &format!("/Users/{user}"), Some(b)))
            .status
    });
    let op = (
        prop::sample::select(&["add", "replace", "remove", "Add", "x"][..]),
        prop_oneof![
            any::<String>(),
            prop::sample::select(SCIM_USER).prop_map(str::to_string),
            Just("emails[type eq \"work\"].value".to_string()),
            Just("name.givenName".to_string()),
        ],
        any_json(),
    )
        .prop_map(|(op, path, value)| json!({ "op": op, "path": path, "value": value }));
    let patch = prop::collection::vec(op, 1..4).prop_map(
        |ops| json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops }),
    );
    check("SCIM PATCH /Users/{id}", patch, |b| {
        rt.block_on(scim.send("PATCH", &format!("/Users/{user}"), Some(b)))
            .status
    });
    check(
        "SCIM GET /Users?filter=",
        any::<String>().prop_map(Value::String),
        |f| {
            let filter = provisio_tests::encode(f.as_str().unwrap_or_default());
            rt.block_on(scim.send("GET", &format!("/Users?filter={filter}"), None))
                .status
        },
    );
    check(
        "SCIM POST /Groups",
        body(
            json!({ "displayName": "g", "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"] }),
            &["schemas", "displayName", "members", "externalId"],
        ),
        |b| rt.block_on(scim.send("POST", "/Groups", Some(b))).status,
    );
    check(
        "admin POST /admin/users",
        body(json!({ "userName": "u", "email": "u@example.com" }), ADMIN_USER),
        |b| rt.block_on(env.post("/admin/users", b)).status,
    );
    check(
        "admin PATCH /admin/users/{id}",
        body(json!({ "displayName": "d" }), ADMIN_USER),
        |b| {
            rt.block_on(env.call(Call::new("PATCH", &format!("/admin/users/{admin_user}")).json(b)))
                .status
        },
    );
    let app = rt.block_on(env.app("Fuzzed target"));
    check(
        "admin PUT event config",
        body(
            json!({ "request": { "method": "POST", "url": "https://api.example.com/users", "body": {} } }),
            &["request", "enabled", "externalIdPath", "lookup"],
        ),
        |b| {
            rt.block_on(
                env.call(Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created")).json(b)),
            )
            .status
        },
    );
    check(
        "admin POST /admin/groups",
        body(json!({ "name": "g" }), &["name", "externalId"]),
        |b| rt.block_on(env.post("/admin/groups", b)).status,
    );
}
