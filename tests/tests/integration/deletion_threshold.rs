//! The accidental-deletion threshold (issue 16): a policy deleted by mistake holds its
//! deprovisions until an administrator decides; deprovisions one by one pass until the window's
//! count is used up. Against the sample users API on 127.0.0.1, through the real queue and table.

use std::time::Duration;

use provisio_tests::fake_app::{FakeApp, UsersApi};
use provisio_tests::{Call, TestEnv};
use serde_json::{Value, json};

const PUMP: Duration = Duration::from_secs(60);

/// What [`provisioned`] set up.
struct Setup {
    app: String,
    policy: String,
    group: String,
    users: Vec<String>,
}

/// An app that creates on user_created, deactivates on user_deactivated and deletes on
/// user_deleted (deprovision: delete), with the threshold at `max` a day; `users` members of a
/// group in its scope, provisioned.
async fn provisioned(env: &TestEnv, api: &UsersApi, url: &str, users: usize, max: u32) -> Setup {
    let group = env.group("Everyone").await;
    let app = env.app("Wiki").await;
    let reply = env
        .call(Call::new("PATCH", &format!("/admin/apps/{app}")).json(json!({
            "deprovision": "delete",
            // A day: the fixed windows start at midnight UTC, which a test run hardly crosses.
            "deletionThreshold": { "maxDeprovisions": max, "windowMinutes": 1440 }
        })))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body["deletionThreshold"]["enabled"], true,
        "on unless switched off"
    );
    let configs = [
        (
            "user_created",
            json!({ "method": "POST", "url": format!("{url}/users"), "body": { "email": "@email" } }),
        ),
        (
            "user_deleted",
            json!({ "method": "DELETE", "url": format!("{url}/users/@ExternalUserId") }),
        ),
        (
            "user_deactivated",
            json!({ "method": "PATCH", "url": format!("{url}/users/@ExternalUserId"),
                    "body": { "email": "@email", "active": false } }),
        ),
    ];
    for (kind, request) in configs {
        let reply = env
            .call(
                Call::new("PUT", &format!("/admin/apps/{app}/event-configs/{kind}"))
                    .json(json!({ "request": request })),
            )
            .await;
        assert!(reply.status < 300, "{:?}", reply.body);
    }
    let mut ids = Vec::new();
    for i in 0..users {
        let fields = json!({ "userName": format!("u{i:03}"), "email": format!("u{i:03}@example.com") });
        ids.push(env.member_of(&group, fields).await);
    }
    let policy = env
        .post(
            "/admin/policies",
            json!({ "name": "wiki", "appId": app, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    assert_eq!(policy.status, 201, "{:?}", policy.body);
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(api.accounts().len(), users, "every member provisioned");
    Setup {
        app,
        policy: policy.body["id"].as_str().expect("policy id").to_string(),
        group,
        users: ids,
    }
}

fn calls(server: &FakeApp, method: &str) -> usize {
    server.received().iter().filter(|r| r.method == method).count()
}

async fn held(env: &TestEnv, app: &str) -> Value {
    let reply = env
        .get(&format!("/admin/apps/{app}/held-deprovisions?limit=200"))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

/// Every entry of the app's provisioning log.
async fn log(env: &TestEnv, app: &str) -> Vec<Value> {
    env.list_all(&format!("/admin/apps/{app}/provisioning-log")).await
}

#[tokio::test]
async fn a_deleted_policy_over_the_threshold_sends_nothing_until_approved_then_every_delete_once() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(3600));
    let server = api.start().await;
    let s = provisioned(&env, &api, &server.url, 100, 20).await;
    let app = &s.app;

    assert_eq!(
        env.delete(&format!("/admin/policies/{}", s.policy)).await.status,
        204
    );
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(
        calls(&server, "DELETE"),
        0,
        "a change over the threshold is held whole"
    );
    assert_eq!(api.accounts().len(), 100);

    let view = held(&env, app).await;
    assert_eq!(view["held"], true, "{view}");
    assert!(
        view["reason"].as_str().unwrap_or_default().contains("100 users"),
        "{view}"
    );
    assert_eq!(view["count"]["count"], 100, "{view}");
    let items = view["items"].as_array().expect("items");
    assert_eq!(items.len(), 100);
    assert!(
        items
            .iter()
            .all(|i| i["kind"] == "user_deleted" && i["userName"].is_string()),
        "{view}"
    );
    // The dashboard lists the held app; the log says why nothing was sent.
    let summary = env.get("/admin/summary").await;
    let held_apps = summary.body["held"].as_array().expect("held");
    assert!(
        held_apps.iter().any(|h| h["appId"] == app.as_str()),
        "{:?}",
        summary.body
    );
    let held_entries = log(&env, app)
        .await
        .iter()
        .filter(|e| e["outcome"] == "held")
        .count();
    assert_eq!(held_entries, 100, "one held entry per user");

    // Approved: each is reconciled again and sent, exactly once.
    let decided = env
        .post(&format!("/admin/apps/{app}/held-deprovisions/approve"), json!({}))
        .await;
    assert_eq!(decided.status, 200, "{:?}", decided.body);
    assert_eq!(decided.body, json!({ "decided": 100, "remaining": false }));
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(calls(&server, "DELETE"), 100, "every held delete sent once");
    assert!(api.accounts().is_empty());
    let view = held(&env, app).await;
    assert_eq!(view["held"], false, "{view}");
    assert_eq!(view["count"]["count"], 0, "{view}");
    // Approving twice sends nothing more.
    env.post(&format!("/admin/apps/{app}/held-deprovisions/approve"), json!({}))
        .await;
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(calls(&server, "DELETE"), 100);
}

#[tokio::test]
async fn deprovisions_one_by_one_pass_up_to_the_threshold_then_are_held_and_a_rejection_keeps_the_accounts() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(3600));
    let server = api.start().await;
    let s = provisioned(&env, &api, &server.url, 8, 5).await;
    let app = &s.app;

    // Eight users deleted from the directory, one request each.
    for id in &s.users {
        assert_eq!(env.delete(&format!("/admin/users/{id}")).await.status, 204);
    }
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(calls(&server, "DELETE"), 5, "the window's five pass");
    let view = held(&env, app).await;
    assert_eq!(view["held"], true, "{view}");
    assert_eq!(view["sentInWindow"], 5, "{view}");
    assert_eq!(view["count"]["count"], 3, "{view}");

    // A hold holds nothing else: a new member is created meanwhile.
    let reply = env
        .post(
            "/admin/users",
            json!({ "userName": "newcomer", "email": "newcomer@example.com" }),
        )
        .await;
    let newcomer = reply.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        env.put(&format!("/admin/groups/{}/members/{newcomer}", s.group))
            .await
            .status,
        201
    );
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(api.accounts().len(), 4, "three held accounts and the newcomer's");

    // Rejected: nothing is sent, the accounts stay, the log says so, the hold is lifted.
    let decided = env
        .post(&format!("/admin/apps/{app}/held-deprovisions/reject"), json!({}))
        .await;
    assert_eq!(
        decided.body,
        json!({ "decided": 3, "remaining": false }),
        "{:?}",
        decided.body
    );
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(calls(&server, "DELETE"), 5);
    assert_eq!(api.accounts().len(), 4, "rejected deletes leave the accounts");
    let view = held(&env, app).await;
    assert_eq!(
        (view["held"].clone(), view["sentInWindow"].clone()),
        (json!(false), json!(0))
    );
    let rejected = log(&env, app)
        .await
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("rejected by an administrator"))
        })
        .count();
    assert_eq!(rejected, 3);

    // Bad decisions and settings are refused and change nothing.
    let bad = env
        .post(
            &format!("/admin/apps/{app}/held-deprovisions/send-all"),
            json!({}),
        )
        .await;
    assert_eq!(bad.status, 404, "{:?}", bad.body);
    let bad = env
        .call(Call::new("PATCH", &format!("/admin/apps/{app}")).json(json!({
            "deletionThreshold": { "maxDeprovisions": 0 }
        })))
        .await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    assert_eq!(
        bad.body["field"], "deletionThreshold.maxDeprovisions",
        "{:?}",
        bad.body
    );
    let app_now = env.get(&format!("/admin/apps/{app}")).await;
    assert_eq!(app_now.body["deletionThreshold"]["maxDeprovisions"], 5);
}

#[tokio::test]
async fn users_deactivated_in_the_directory_count_too() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(3600));
    let server = api.start().await;
    let s = provisioned(&env, &api, &server.url, 4, 2).await;
    for id in &s.users {
        let reply = env
            .call(Call::new("PATCH", &format!("/admin/users/{id}")).json(json!({ "active": false })))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(
        calls(&server, "PATCH"),
        2,
        "two deactivations pass, the others are held"
    );
    let view = held(&env, &s.app).await;
    assert_eq!(view["count"]["count"], 2, "{view}");
    let items = view["items"].as_array().expect("items");
    assert!(items.iter().all(|i| i["kind"] == "user_deactivated"), "{view}");

    // The threshold's routes are for custom provisioning apps only.
    let (scim, _) = env.scim_app("source").await;
    let refused = env
        .post(
            &format!("/admin/apps/{scim}/held-deprovisions/approve"),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
}

#[tokio::test]
async fn a_switched_off_threshold_holds_nothing() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(3600));
    let server = api.start().await;
    let s = provisioned(&env, &api, &server.url, 30, 10).await;
    let reply = env
        .call(Call::new("PATCH", &format!("/admin/apps/{}", s.app)).json(json!({
            "deletionThreshold": { "enabled": false }
        })))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body["deletionThreshold"],
        json!({ "enabled": false, "maxDeprovisions": 10, "windowMinutes": 1440 }),
        "a change of one field keeps the others"
    );
    assert_eq!(
        env.delete(&format!("/admin/policies/{}", s.policy)).await.status,
        204
    );
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(calls(&server, "DELETE"), 30);
    assert_eq!(held(&env, &s.app).await["held"], false);
}
