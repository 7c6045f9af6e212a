//! Outbound dispatch throughput and cost against the local stack: one dispatcher instance (the
//! in-process handler, fed from the real dispatch queue one batch of 10 at a time, as the event
//! source mapping does) against a users API on 127.0.0.1 that answers after 5 ms and issues
//! OAuth 2.0 client credentials tokens. Figures are printed, never asserted.
//!
//!   make bench                          (1,000 users)
//!   PROVISIO_BENCH_QUICK=1 make bench   (50 users; `cargo test` runs this quick pass too)

use std::time::{Duration, Instant};

use provisio_tests::bench::{self, CONCURRENCY};
use provisio_tests::fake_app::{OAuthClient, UsersApi};
use provisio_tests::{Call, TestEnv};
use serde_json::json;

struct Run {
    events: usize,
    seconds: f64,
    /// Time spent in the dispatcher's handler, without the local SQS emulation's latency.
    handler_seconds: f64,
    dynamodb: u64,
    sqs: u64,
    app_calls: usize,
    tokens: u64,
}

fn row(label: &str, run: &Run) {
    let per = |n: u64| n as f64 / run.events as f64;
    println!(
        "| {label:<8} | {:>6} | {:>16.0} | {:>13.0} | {:>9} | {:>15.2} | {:>10.2} | {:>15.2} |",
        run.events,
        run.events as f64 / run.handler_seconds,
        run.events as f64 / run.seconds,
        run.app_calls,
        per(run.dynamodb),
        per(run.sqs),
        run.tokens as f64 * 1000.0 / run.events as f64,
    );
}

async fn timed_pump(
    env: &TestEnv,
    dispatcher: &provisio::outbound::dispatch::Dispatcher,
    api: &UsersApi,
    calls_before: usize,
    calls: impl Fn() -> usize,
) -> Run {
    let events = env.feed_stream().await;
    let tokens_before = api.tokens_issued();
    env.requests.reset();
    let started = Instant::now();
    let pumped = env.pump(dispatcher, Duration::from_secs(600)).await;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(pumped.handled, events, "every event handled once");
    Run {
        events,
        seconds,
        handler_seconds: pumped.handler.as_secs_f64(),
        dynamodb: env.requests.total_for("DynamoDB"),
        sqs: env.requests.total_for("SQS"),
        app_calls: calls() - calls_before,
        tokens: api.tokens_issued() - tokens_before,
    }
}

#[tokio::main]
async fn main() {
    provisio_tests::require_stack();
    let users = if bench::quick() { 50 } else { 1000 };
    // Each phase's events are fed from the stream before it is timed, so they are counted exactly.
    let env = TestEnv::new().await;
    let api = UsersApi::new(
        Some(OAuthClient {
            client_id: "bench".into(),
            client_secret: "bench-secret".into(),
        }),
        Duration::from_secs(3600),
    );
    let server = api.start_with_delay(Duration::from_millis(5)).await;
    let app = env.app("bench app").await;
    let auth = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "oauth2", "name": "cc", "tokenUrl": format!("{}/oauth/token", server.url),
                    "clientId": "bench", "clientSecret": "bench-secret" }),
        )
        .await;
    let auth = auth.body["id"].as_str().expect("auth id").to_string();
    for (kind, method, url) in [
        ("user_created", "POST", format!("{}/users", server.url)),
        (
            "user_updated",
            "PUT",
            format!("{}/users/@ExternalUserId", server.url),
        ),
    ] {
        let reply = env
            .call(
                Call::new("PUT", &format!("/admin/apps/{app}/event-configs/{kind}")).json(json!({
                    "authId": auth,
                    "request": { "method": method, "url": url,
                                 "body": { "email": "@email", "name": "@displayName", "active": "@active" } }
                })),
            )
            .await;
        assert!(reply.status < 300, "{:?}", reply.body);
    }
    let group = env.group("bench").await;
    let creates = (0..users)
        .map(|i| {
            Call::new("POST", "/admin/users").json(
                json!({ "userName": format!("u{i:06}"), "email": format!("u{i:06}@example.com"), "displayName": "U" }),
            )
        })
        .collect();
    bench::measure(&env, creates, 201, |c| env.call(c)).await;
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/admin/users?limit=200&cursor={}", provisio_tests::encode(c)),
                None => "/admin/users?limit=200".into(),
            };
            let page = env.get(&path).await;
            ids.extend(
                page.body["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| u["id"].as_str().map(str::to_string)),
            );
            match page.body["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        ids
    };
    let joins = ids
        .iter()
        .map(|id| Call::new("PUT", &format!("/admin/groups/{group}/members/{id}")))
        .collect();
    bench::measure(&env, joins, 201, |c| env.call(c)).await;
    let dispatcher = env.dispatcher();
    // Directory events before any policy: nothing to send yet.
    env.pump(&dispatcher, Duration::from_secs(600)).await;

    println!(
        "Outbound dispatch, one dispatcher instance (batches of 10 handled concurrently), app answers in 5 ms"
    );
    println!(
        "| phase    | events | events/s handler | events/s pump | app calls | DynamoDB req/ev | SQS req/ev | tokens/1,000 ev |"
    );
    println!(
        "|----------|--------|------------------|---------------|-----------|-----------------|------------|-----------------|"
    );
    let calls = || {
        server
            .received()
            .iter()
            .filter(|r| r.path != "/oauth/token")
            .count()
    };
    // The policy puts every member in scope: one event each, one create each.
    let reply = env
        .post(
            "/admin/policies",
            json!({ "name": "p", "appId": app, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    assert_eq!(reply.status, 201);
    let run = timed_pump(&env, &dispatcher, &api, calls(), calls).await;
    assert_eq!(api.accounts().len(), users);
    row("create", &run);

    let updates = ids
        .iter()
        .map(|id| Call::new("PATCH", &format!("/admin/users/{id}")).json(json!({ "displayName": "Updated" })))
        .collect();
    bench::measure(&env, updates, 200, |c| env.call(c)).await;
    let run = timed_pump(&env, &dispatcher, &api, calls(), calls).await;
    row("update", &run);
    println!(
        "({users} users; admin writes ran {CONCURRENCY} in flight; token lifetime 3,600 s; \
         {} tokens issued in all)",
        api.tokens_issued()
    );
}
