//! No in-scope user is lost (issue 18): the dispatcher never decides "nothing to send" on a view of
//! the configuration older than the event it handles. The dispatcher runs with the settings it is
//! deployed with (caches on), against a real users API on 127.0.0.1.

use std::time::Duration;

use provisio::connector::delivery::Timeouts;
use provisio::outbound::dispatch::{Dispatcher, Settings};
use provisio_tests::fake_app::UsersApi;
use provisio_tests::{Call, TestEnv};
use serde_json::{Value, json};

const PUMP: Duration = Duration::from_secs(60);

/// Deployed defaults (configuration caches included), with quick retries and timeouts.
fn deployed(env: &TestEnv) -> Dispatcher {
    env.dispatcher_with(Settings {
        retry_base: Duration::from_secs(1),
        timeouts: Timeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_secs(5),
        },
        ..Settings::default()
    })
}

async fn put_config(env: &TestEnv, app: &str, kind: &str, body: Value) {
    let reply = env
        .call(Call::new("PUT", &format!("/admin/apps/{app}/event-configs/{kind}")).json(body))
        .await;
    assert!(matches!(reply.status, 200 | 201), "{kind}: {:?}", reply.body);
}

async fn user_created(env: &TestEnv, app: &str, base: &str, enabled: bool) {
    put_config(
        env,
        app,
        "user_created",
        json!({ "enabled": enabled, "externalIdPath": "data.id",
                "request": { "method": "POST", "url": format!("{base}/users"),
                             "body": { "userName": "@userName", "givenName": "@givenName" } } }),
    )
    .await;
}

async fn policy(env: &TestEnv, app: &str, group: &str) -> String {
    let reply = env
        .post(
            "/admin/policies",
            json!({ "name": "p", "appId": app, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().expect("id").to_string()
}

async fn add_member(env: &TestEnv, group: &str, user: &str) {
    let reply = env.put(&format!("/admin/groups/{group}/members/{user}")).await;
    assert!(matches!(reply.status, 200 | 201 | 204), "{:?}", reply.body);
}

fn user_names(api: &UsersApi) -> Vec<String> {
    let mut names: Vec<String> = api
        .accounts()
        .values()
        .map(|a| a["userName"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

/// The reproduction: a dispatcher that has just handled an event, then within a second a
/// new app with an enabled user-created config, a group, a policy, and new members.
#[tokio::test]
async fn members_added_right_after_a_new_policy_reach_the_app() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let dispatcher = deployed(&env);

    // Warm the dispatcher: it handles an event and so reads the (empty) policies.
    env.user("warm").await;
    env.pump(&dispatcher, PUMP).await;

    let app = env.app("Payroll").await;
    user_created(&env, &app, &server.url, true).await;
    let group = env.group("Engineering").await;
    policy(&env, &app, &group).await;
    let mut expected = Vec::new();
    for i in 0..20 {
        let name = format!("new{i:02}");
        let user = env.user(&name).await;
        add_member(&env, &group, &user).await;
        expected.push(name);
    }
    env.pump(&dispatcher, PUMP).await;
    assert_eq!(user_names(&api), expected, "every member reaches the app");
}

/// The same for an app the dispatcher already knew without an enabled user-created config:
/// enabling it provisions the members already in scope and every member added after.
#[tokio::test]
async fn enabling_user_created_provisions_members_already_in_scope() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let dispatcher = deployed(&env);

    let app = env.app("Payroll").await;
    user_created(&env, &app, &server.url, false).await;
    let group = env.group("Engineering").await;
    policy(&env, &app, &group).await;
    let early = env.user("early").await;
    add_member(&env, &group, &early).await;
    // The dispatcher reads the app's setup (user-created disabled) and sends nothing.
    env.pump(&dispatcher, PUMP).await;
    assert!(api.accounts().is_empty());
    let log = env.get(&format!("/admin/users/{early}/provisioning-log")).await;
    assert_eq!(log.status, 200, "{:?}", log.body);
    let skipped = &log.body["items"][0];
    assert_eq!(skipped["outcome"], "skipped", "{:?}", log.body);
    assert_eq!(skipped["event"], "user_created");
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("no enabled user_created"),
        "{skipped:?}"
    );

    user_created(&env, &app, &server.url, true).await;
    let mut expected = vec!["early".to_string()];
    for i in 0..10 {
        let name = format!("new{i:02}");
        let user = env.user(&name).await;
        add_member(&env, &group, &user).await;
        expected.push(name);
    }
    env.pump(&dispatcher, PUMP).await;
    expected.sort();
    assert_eq!(user_names(&api), expected);
    drop(server);
}

/// A small deterministic generator: a failing seed replays the same interleaving.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// One step of an interleaving.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    UserCreatedConfig { enabled: bool },
    PolicyA,
    PolicyB,
    DeletePolicyB,
    Join { user: usize, group: char },
    LeaveA { user: usize },
    Rename { user: usize },
}

const USERS: usize = 6;

/// The steps of one seed, shuffled under the few orders that must hold (a leave after its join,
/// a policy deleted after it was created, the user-created config enabled last of its two puts).
fn plan(rng: &mut Rng) -> Vec<Step> {
    let mut steps = vec![
        Step::UserCreatedConfig { enabled: false },
        Step::UserCreatedConfig { enabled: true },
        Step::PolicyA,
        Step::PolicyB,
        Step::DeletePolicyB,
    ];
    for user in 0..USERS {
        if rng.chance(75) {
            steps.push(Step::Join { user, group: 'A' });
            if rng.chance(30) {
                steps.push(Step::LeaveA { user });
            }
        }
        if rng.chance(50) {
            steps.push(Step::Join { user, group: 'B' });
        }
        if rng.chance(50) {
            steps.push(Step::Rename { user });
        }
    }
    for i in (1..steps.len()).rev() {
        let j = rng.below(i + 1);
        steps.swap(i, j);
    }
    let before = |steps: &[Step], first: &Step, second: &Step| {
        let a = steps.iter().position(|s| s == first);
        let b = steps.iter().position(|s| s == second);
        if let (Some(a), Some(b)) = (a, b)
            && a > b
        {
            return Some((a, b));
        }
        None
    };
    let mut pairs = vec![
        (
            Step::UserCreatedConfig { enabled: false },
            Step::UserCreatedConfig { enabled: true },
        ),
        (Step::PolicyB, Step::DeletePolicyB),
    ];
    for user in 0..USERS {
        pairs.push((Step::Join { user, group: 'A' }, Step::LeaveA { user }));
    }
    for (first, second) in pairs {
        if let Some((a, b)) = before(&steps, &first, &second) {
            steps.swap(a, b);
        }
    }
    steps
}

/// Runs one seed: config, policy and membership changes interleaved with dispatch of single
/// batches; then the queue drained. The app must hold exactly the users in scope, as they are.
async fn interleaving(seed: u64) -> Result<(), String> {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let dispatcher = deployed(&env);
    let mut rng = Rng(seed);

    let reply = env
        .post(
            "/admin/apps",
            json!({ "name": "Target", "kind": "custom_provisioning", "deprovision": "delete" }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let app = reply.body["id"].as_str().expect("id").to_string();
    put_config(
        &env,
        &app,
        "user_updated",
        json!({ "request": { "method": "PUT", "url": format!("{}/users/@ExternalUserId", server.url),
                             "body": { "userName": "@userName", "givenName": "@givenName" } } }),
    )
    .await;
    put_config(
        &env,
        &app,
        "user_deleted",
        json!({ "request": { "method": "DELETE", "url": format!("{}/users/@ExternalUserId", server.url) } }),
    )
    .await;
    let group_a = env.group("A").await;
    let group_b = env.group("B").await;
    let mut users = Vec::new();
    for i in 0..USERS {
        let reply = env
            .post(
                "/admin/users",
                json!({ "userName": format!("u{i}"), "email": format!("u{i}@example.com"), "givenName": "before" }),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        users.push(reply.body["id"].as_str().expect("id").to_string());
    }

    let steps = plan(&mut rng);
    let mut policy_b = None;
    let mut in_a = [false; USERS];
    for step in &steps {
        match step {
            Step::UserCreatedConfig { enabled } => user_created(&env, &app, &server.url, *enabled).await,
            Step::PolicyA => {
                policy(&env, &app, &group_a).await;
            }
            Step::PolicyB => policy_b = Some(policy(&env, &app, &group_b).await),
            Step::DeletePolicyB => {
                let id = policy_b.take().expect("created before");
                assert_eq!(env.delete(&format!("/admin/policies/{id}")).await.status, 204);
            }
            Step::Join { user, group } => {
                let group = if *group == 'A' { &group_a } else { &group_b };
                add_member(&env, group, &users[*user]).await;
                in_a[*user] |= group == &group_a;
            }
            Step::LeaveA { user } => {
                let reply = env
                    .delete(&format!("/admin/groups/{group_a}/members/{}", users[*user]))
                    .await;
                assert_eq!(reply.status, 204, "{:?}", reply.body);
                in_a[*user] = false;
            }
            Step::Rename { user } => {
                let reply = env
                    .patch(
                        &format!("/admin/users/{}", users[*user]),
                        json!({ "givenName": "after" }),
                    )
                    .await;
                assert_eq!(reply.status, 200, "{:?}", reply.body);
            }
        }
        if rng.chance(40) {
            let batch = 1 + rng.below(10) as i32;
            env.pump_once(&dispatcher, batch).await;
        }
    }
    env.pump(&dispatcher, PUMP).await;

    let renamed: Vec<bool> = (0..USERS)
        .map(|u| steps.contains(&Step::Rename { user: u }))
        .collect();
    let expected: std::collections::BTreeMap<String, String> = (0..USERS)
        .filter(|u| in_a[*u])
        .map(|u| {
            let given = if renamed[u] { "after" } else { "before" };
            (format!("u{u}"), given.to_string())
        })
        .collect();
    let held: std::collections::BTreeMap<String, String> = api
        .accounts()
        .values()
        .map(|a| {
            (
                a["userName"].as_str().unwrap_or_default().to_string(),
                a["givenName"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    drop(server);
    let silent = env.silent_in_scope().await;
    if !silent.is_empty() {
        return Err(format!("seed {seed}: silent users {silent:?}\nsteps: {steps:?}"));
    }
    if held == expected && api.accounts().len() == expected.len() {
        Ok(())
    } else {
        Err(format!(
            "seed {seed}: the app holds {held:?}, the directory's scope is {expected:?}\nsteps: {steps:?}"
        ))
    }
}

/// Config, policy and membership changes interleaved with dispatch in random orders: whatever the
/// order, the app ends up with exactly the users in scope. `PROVISIO_INTERLEAVINGS` sets how many
/// seeds run (default 12); `PROVISIO_SEED` replays one.
#[tokio::test]
async fn any_interleaving_of_changes_and_dispatch_converges_to_the_scope() {
    let seeds: Vec<u64> = match std::env::var("PROVISIO_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => {
            let count = std::env::var("PROVISIO_INTERLEAVINGS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(12u64);
            (1..=count).collect()
        }
    };
    let mut failures = Vec::new();
    // Four seeds at a time, each on its own table and queues.
    for chunk in seeds.chunks(4) {
        let results = futures::future::join_all(chunk.iter().map(|seed| interleaving(*seed))).await;
        failures.extend(results.into_iter().filter_map(Result::err));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every user in an app's scope either has an account there or a log entry that says why not:
/// a failure with its error, or a skip with its reason. None is silent.
#[tokio::test]
async fn every_in_scope_user_without_an_account_is_explained() {
    use provisio_tests::fake_app::{Answer, FakeApp};
    let env = TestEnv::new().await;
    let server = FakeApp::start(|r| {
        if r.method == "POST" && r.json()["userName"] == "refused" {
            Answer::json(400, json!({ "error": "userName refused" }))
        } else {
            Answer::json(
                201,
                json!({ "data": { "id": format!("x-{}", r.json()["userName"].as_str().unwrap_or("?")) } }),
            )
        }
    })
    .await;
    let dispatcher = deployed(&env);
    let group = env.group("Everyone").await;
    let live = env.app("Live").await;
    user_created(&env, &live, &server.url, true).await;
    policy(&env, &live, &group).await;
    let dormant = env.app("Dormant").await;
    user_created(&env, &dormant, &server.url, false).await;
    policy(&env, &dormant, &group).await;

    let mut users = Vec::new();
    for (name, active) in [("fine", true), ("refused", true), ("asleep", false)] {
        let reply = env
            .post(
                "/admin/users",
                json!({ "userName": name, "email": format!("{name}@example.com"), "active": active }),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let id = reply.body["id"].as_str().expect("id").to_string();
        add_member(&env, &group, &id).await;
        users.push((name, id));
    }
    // Before dispatch, all three are in both apps' scope and nothing explains it yet.
    assert_eq!(env.silent_in_scope().await.len(), 6);
    env.pump(&dispatcher, PUMP).await;
    // A later event of the refused user (the profile unchanged) finds the failure parked:
    // skipped, with the reason.
    let other = env.group("Other").await;
    add_member(&env, &other, &users[1].1).await;
    env.pump(&dispatcher, PUMP).await;

    let mut created: Vec<String> = server
        .received()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.json()["userName"].as_str().unwrap_or_default().to_string())
        .collect();
    created.sort();
    for (name, user) in &users {
        let log = env.get(&format!("/admin/users/{user}/provisioning-log")).await;
        assert_eq!(log.status, 200);
        let entries = log.body["items"].as_array().expect("items").clone();
        for app in [&live, &dormant] {
            let has_account = app == &live && *name == "fine";
            let explained: Vec<&Value> = entries
                .iter()
                .filter(|e| e["appId"] == **app)
                .filter(|e| match e["outcome"].as_str() {
                    Some("skipped") => e["reason"].as_str().is_some_and(|r| !r.is_empty()),
                    Some("failed") => e["error"].as_str().is_some_and(|r| !r.is_empty()),
                    _ => false,
                })
                .collect();
            assert!(
                has_account || !explained.is_empty(),
                "{name} in scope of {app} has no account and no reason: {entries:#?}"
            );
        }
        let reasons: Vec<&str> = entries.iter().filter_map(|e| e["reason"].as_str()).collect();
        match *name {
            "fine" => assert!(
                reasons.iter().any(|r| r.contains("no enabled user_created")),
                "{reasons:?}"
            ),
            "refused" => {
                assert!(reasons.iter().any(|r| r.contains("parked")), "{reasons:?}");
                assert!(
                    entries
                        .iter()
                        .any(|e| e["outcome"] == "failed" && e["status"] == 400)
                );
            }
            _ => assert!(reasons.iter().any(|r| r.contains("deactivated")), "{reasons:?}"),
        }
    }
    assert_eq!(created, ["fine", "refused"], "the refused create is not repeated");
    assert_eq!(env.silent_in_scope().await, Vec::<String>::new());
}

/// A table from before grants existed (policies without grant items, no version item): the
/// dispatcher writes the grants once before it decides anything, so nobody drops out of scope.
#[tokio::test]
async fn policies_from_before_grants_are_backfilled() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let app = env.app("Payroll").await;
    user_created(&env, &app, &server.url, true).await;
    let group = env.group("Engineering").await;
    policy(&env, &app, &group).await;
    // Take the table back to the earlier release's layout.
    let table = &env.resources.config.table;
    let config_items = env
        .clients
        .dynamodb
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S("CONFIG".into()))
        .send()
        .await
        .expect("query CONFIG")
        .items
        .unwrap_or_default();
    assert_eq!(
        config_items.len(),
        2,
        "the version and one grant: {config_items:?}"
    );
    for item in config_items {
        env.clients
            .dynamodb
            .delete_item()
            .table_name(table)
            .key("pk", item["pk"].clone())
            .key("sk", item["sk"].clone())
            .send()
            .await
            .expect("delete");
    }

    let user = env.user("ann").await;
    add_member(&env, &group, &user).await;
    env.pump(&deployed(&env), PUMP).await;
    assert_eq!(user_names(&api), ["ann"]);
    drop(server);
}

/// An app whose scope is every user (Entra's "sync all users and groups"): switched on, every
/// user gets an account without a change of their own, and new users too; switched back to
/// assigned users, those outside its policies' groups leave it.
#[tokio::test]
async fn an_app_for_all_users_provisions_everyone_and_lets_go_when_assigned_again() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let dispatcher = deployed(&env);
    let settle = async || {
        env.feed_stream().await;
        env.pump(&dispatcher, PUMP).await;
    };
    let ada = env.user("ada").await;
    env.user("bob").await;
    let group = env.group("staff").await;
    add_member(&env, &group, &ada).await;
    let app = env.app("everyone").await;
    policy(&env, &app, &group).await;
    user_created(&env, &app, &server.url, true).await;
    put_config(
        &env,
        &app,
        "user_deleted",
        json!({ "enabled": true, "request": { "method": "DELETE", "url": format!("{}/users/@ExternalUserId", server.url) } }),
    )
    .await;
    let set = env
        .patch(&format!("/admin/apps/{app}"), json!({ "deprovision": "delete" }))
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    settle().await;
    assert_eq!(user_names(&api), ["ada"]);

    let set = env
        .patch(&format!("/admin/apps/{app}"), json!({ "scope": "all_users" }))
        .await;
    assert_eq!(
        (set.status, set.body["scope"].as_str()),
        (200, Some("all_users")),
        "{:?}",
        set.body
    );
    settle().await;
    assert_eq!(
        user_names(&api),
        ["ada", "bob"],
        "every user, without a change of their own"
    );
    env.user("carol").await;
    settle().await;
    assert_eq!(user_names(&api), ["ada", "bob", "carol"], "and new users");

    let set = env
        .patch(&format!("/admin/apps/{app}"), json!({ "scope": "assigned" }))
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert!(
        set.body.get("scope").is_none(),
        "assigned is the default: {:?}",
        set.body
    );
    settle().await;
    // Narrowing the scope is one change that takes users out: the deletion threshold holds its
    // deprovisions whole, until an administrator approves them.
    assert_eq!(user_names(&api), ["ada", "bob", "carol"], "held, not sent");
    let held = env
        .list_all(&format!("/admin/apps/{app}/held-deprovisions"))
        .await;
    assert_eq!(held.len(), 2, "{held:#?}");
    let approved = env
        .post(&format!("/admin/apps/{app}/held-deprovisions/approve"), json!({}))
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    settle().await;
    assert_eq!(
        user_names(&api),
        ["ada"],
        "only the policy's group's members stay"
    );

    // A SCIM client app provisions no one: the setting is refused, naming it.
    let (client, _) = env.scim_app("source").await;
    let refused = env
        .patch(&format!("/admin/apps/{client}"), json!({ "scope": "all_users" }))
        .await;
    assert_eq!(
        (refused.status, refused.body["field"].as_str()),
        (400, Some("scope")),
        "{:?}",
        refused.body
    );
}
