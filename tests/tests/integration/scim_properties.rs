//! Property tests of the SCIM filter parser, the PATCH engine and the User mapping: no panic on
//! any input, printed filters parse back to themselves, and render -> parse is stable (which is
//! what makes a PATCH that changes nothing write nothing).

use proptest::prelude::*;
use provisio::directory::users::User;
use provisio::ids::AppId;
use provisio::scim::{filter, patch, user_resource};
use serde_json::{Value, json};

const ATTRS: &[&str] = &[
    "userName",
    "displayName",
    "name.givenName",
    "name.familyName",
    "emails.value",
    "emails.type",
    "active",
    "title",
    "externalId",
    "meta.created",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
];
const OPS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 @._\\-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        Just("true".to_string()),
        Just("false".to_string()),
        Just("null".to_string()),
        (0i64..100_000).prop_map(|n| n.to_string()),
    ]
}

fn comparison() -> impl Strategy<Value = String> {
    prop_oneof![
        (prop::sample::select(ATTRS), prop::sample::select(OPS), value())
            .prop_map(|(a, o, v)| format!("{a} {o} {v}")),
        prop::sample::select(ATTRS).prop_map(|a| format!("{a} pr")),
        (prop::sample::select(&["type", "value", "primary"][..]), value())
            .prop_map(|(s, v)| format!("emails[{s} eq {v}]")),
    ]
}

fn filter_text() -> impl Strategy<Value = String> {
    comparison().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

fn sample_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "1", "userName": "bjensen", "active": true,
        "name": { "givenName": "Barbara", "familyName": "Jensen" },
        "emails": [{ "value": "b@example.com", "type": "work", "primary": true }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": "Ops" }
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(|n| json!(n)),
        "[a-zA-Z0-9@. ]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(&["value", "type", "primary", "givenName", "display", "x"][..]),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn patch_path() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(ATTRS).prop_map(str::to_string),
        comparison().prop_map(|c| format!("emails[{}].value", c.replace("emails[", "").replace(']', ""))),
        "[a-zA-Z\\[\\]\\.\" :]{0,20}",
        Just("members[value eq \"1\"]".to_string()),
        Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager".to_string()),
    ]
}

fn operation() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&["add", "Replace", "remove", "REMOVE", "move"][..]),
        prop::option::of(patch_path()),
        prop::option::of(json_value()),
    )
        .prop_map(|(op, path, value)| {
            let mut o = json!({ "op": op });
            if let Some(p) = path {
                o["path"] = json!(p);
            }
            if let Some(v) = value {
                o["value"] = v;
            }
            o
        })
}

fn new_user() -> User {
    User::blank("2026-01-01T00:00:00Z".into())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_filter_parser_never_panics(raw in "\\PC{0,80}") {
        let _ = filter::parse(&raw);
    }

    #[test]
    fn a_printed_filter_parses_back_to_itself(text in filter_text()) {
        let parsed = filter::parse(&text).expect("generated filters are valid");
        let printed = parsed.to_string();
        let again = filter::parse(&printed).expect("printed filters are valid");
        prop_assert_eq!(&again, &parsed, "printed as {}", printed);
        // And evaluating it never panics.
        let _ = filter::matches(&parsed, &sample_user());
    }

    #[test]
    fn the_patch_engine_never_panics(ops in prop::collection::vec(operation(), 0..5)) {
        let body = json!({ "schemas": [patch::PATCH_OP], "Operations": ops });
        if let Ok(operations) = patch::parse(&body) {
            let mut resource = sample_user();
            if patch::apply(&mut resource, &operations).is_ok() {
                let _ = user_resource::parse(&resource);
            }
        }
    }

    #[test]
    fn render_then_parse_is_stable(
        user_name in "[a-z][a-z0-9.]{0,12}",
        given in prop::option::of("[A-Za-z]{1,8}"),
        title in prop::option::of("[A-Za-z ]{1,8}"),
        department in prop::option::of("[A-Za-z]{1,8}"),
        active in any::<bool>(),
        emails in prop::collection::vec(("[a-z]{1,6}@[a-z]{1,6}\\.io", prop::sample::select(&["work", "home"][..])), 0..3),
    ) {
        let app = AppId::generate();
        let mut body = json!({ "userName": user_name, "active": active, "externalId": "e-1" });
        if let Some(g) = given { body["name"] = json!({ "givenName": g }); }
        if let Some(t) = title { body["title"] = json!(t); }
        if let Some(d) = department {
            body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = json!({ "department": d });
        }
        if !emails.is_empty() {
            body["emails"] = json!(emails.iter().map(|(v, t)| json!({ "value": v, "type": t })).collect::<Vec<_>>());
        }
        let input = user_resource::parse(&body).expect("a valid user");
        let mut user = new_user();
        input.apply(&mut user, &app);
        let rendered = user_resource::render(&user, &app, "http://localhost/scim/v2/x");
        let mut again = user.clone();
        user_resource::parse(&rendered).expect("a rendered user parses").apply(&mut again, &app);
        prop_assert_eq!(again, user);
    }
}
