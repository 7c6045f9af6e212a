//! Dispatch to a SCIM app (issue 17) against the local stack: one dispatcher instance, fed from the
//! real dispatch queue, provisioning to an in-memory SCIM 2.0 service on 127.0.0.1 that answers
//! after 5 ms (filters, POST, PATCH of users and groups) and counts the calls it gets. Figures are
//! printed, never asserted: events a second and HTTP calls an event, for creates (two lookups and a
//! POST each: the accounts are new), updates (one PATCH each) and group joins.
//!
//!   make bench                          (1,000 users)
//!   PROVISIO_BENCH_QUICK=1 make bench   (50 users; `cargo test` runs this quick pass too)

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use provisio_tests::bench::{self, CONCURRENCY};
use provisio_tests::fake_app::{Answer, FakeApp, Received};
use provisio_tests::{Call, TestEnv};
use serde_json::{Value, json};

/// The service's users by id, and the calls it got by kind.
#[derive(Default)]
struct Service {
    users: Mutex<HashMap<String, Value>>,
    calls: Mutex<HashMap<String, usize>>,
    next: AtomicUsize,
}

impl Service {
    fn answer(&self, r: &Received) -> Answer {
        let kind = format!(
            "{} {}",
            r.method,
            if r.path.contains("/Groups") {
                "Groups"
            } else {
                "Users"
            }
        );
        *self.calls.lock().unwrap().entry(kind).or_default() += 1;
        let id = || format!("acc-{}", self.next.fetch_add(1, Ordering::SeqCst));
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/scim/ServiceProviderConfig") => Answer::json(
                200,
                json!({ "patch": { "supported": true }, "filter": { "supported": true }, "etag": { "supported": false } }),
            ),
            ("GET", "/scim/ResourceTypes") => Answer::json(
                200,
                json!([{ "name": "User", "endpoint": "/Users" }, { "name": "Group", "endpoint": "/Groups" }]),
            ),
            // Every account is new: lookups find nothing.
            ("GET", _) => Answer::json(200, json!({ "totalResults": 0, "Resources": [] })),
            ("POST", path) => {
                let mut created = r.json();
                let new = id();
                created["id"] = json!(new);
                if path.ends_with("/Users") {
                    self.users.lock().unwrap().insert(new, created.clone());
                }
                Answer::json(201, created)
            }
            ("PATCH", _) => Answer::json(204, Value::Null),
            _ => Answer::json(404, json!({ "status": "404" })),
        }
    }

    fn total(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }
}

#[tokio::main]
async fn main() {
    provisio_tests::require_stack();
    let users = if bench::quick() { 50 } else { 1000 };
    let env = TestEnv::new().await;
    let service = Arc::new(Service::default());
    let answering = service.clone();
    let server = FakeApp::start_with_delay(Duration::from_millis(5), move |r| answering.answer(r)).await;
    let reply = env
        .post(
            "/admin/apps",
            json!({ "name": "bench scim", "kind": "scim_target", "scimTarget": { "baseUrl": format!("{}/scim", server.url) } }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let app = reply.body["id"].as_str().expect("app id").to_string();
    let group = env.group("bench").await;
    let creates = (0..users)
        .map(|i| {
            Call::new("POST", "/admin/users").json(
                json!({ "userName": format!("u{i:06}"), "email": format!("u{i:06}@example.com"), "displayName": "U" }),
            )
        })
        .collect();
    bench::measure(&env, creates, 201, |c| env.call(c)).await;
    let ids: Vec<String> = env
        .list_all("/admin/users")
        .await
        .iter()
        .filter_map(|u| u["id"].as_str().map(str::to_string))
        .collect();
    let joins = ids
        .iter()
        .map(|id| Call::new("PUT", &format!("/admin/groups/{group}/members/{id}")))
        .collect();
    bench::measure(&env, joins, 201, |c| env.call(c)).await;
    let dispatcher = env.dispatcher();
    env.pump(&dispatcher, Duration::from_secs(600)).await;

    println!(
        "Dispatch to a SCIM app, one dispatcher instance (batches of 10 handled concurrently), service answers in 5 ms"
    );
    println!(
        "| phase  | events | messages | events/s handler | events/s pump | HTTP calls/ev | DynamoDB req/ev | calls by kind |"
    );
    println!(
        "|--------|--------|----------|------------------|---------------|---------------|-----------------|---------------|"
    );
    let phase = async |label: &str| {
        let events = env.feed_stream().await;
        service.calls.lock().unwrap().clear();
        env.requests.reset();
        let started = Instant::now();
        let pumped = env.pump(&dispatcher, Duration::from_secs(600)).await;
        let seconds = started.elapsed().as_secs_f64();
        // Members of a group being created at the target wait for its claim: a few come back.
        assert!(pumped.handled >= events, "every event handled");
        let calls = service.total();
        let mut kinds: Vec<String> = service
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        kinds.sort();
        println!(
            "| {label:<6} | {events:>6} | {:>8} | {:>16.0} | {:>13.0} | {:>13.2} | {:>15.2} | {} |",
            pumped.handled,
            events as f64 / pumped.handler.as_secs_f64(),
            events as f64 / seconds,
            calls as f64 / events as f64,
            env.requests.total_for("DynamoDB") as f64 / events as f64,
            kinds.join(", ")
        );
    };
    // The policy puts every member in scope: two lookups and a POST each, then the group (once)
    // and each member added to it.
    let reply = env
        .post(
            "/admin/policies",
            json!({ "name": "p", "appId": app, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    phase("create").await;
    assert_eq!(service.users.lock().unwrap().len(), users);
    let updates = ids
        .iter()
        .map(|id| Call::new("PATCH", &format!("/admin/users/{id}")).json(json!({ "displayName": "Updated" })))
        .collect();
    bench::measure(&env, updates, 200, |c| env.call(c)).await;
    phase("update").await;
    println!("({users} users; admin writes ran {CONCURRENCY} in flight)");
}
