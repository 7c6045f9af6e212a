//! What operations cost in dollars at AWS list prices (infra/prices.json: us-east-1, on demand,
//! no free tier), from what the run counted: DynamoDB capacity units from the requests' bodies
//! (`RequestCounter::units`), SQS, Secrets Manager and Lambda requests, pipe events, and Lambda
//! GB-seconds from the handlers' measured time at the template's memory size. The handlers run in
//! process on this machine (x86_64, bench profile); a Lambda of 256 MB has a sixth of a vCPU, so
//! the Lambda line is a lower bound. Figures are printed, never asserted.
//!
//!   make bench                          (10,000 users)
//!   PROVISIO_BENCH_QUICK=1 make bench   (100 users; `cargo test` runs this quick pass too)

use std::time::{Duration, Instant};

use provisio_tests::bench;
use provisio_tests::fake_app::UsersApi;
use provisio_tests::{Call, Pumped, TestEnv};
use serde_json::json;

const PER_PAGE: usize = 100;

#[derive(serde::Deserialize)]
struct Prices {
    date: String,
    dynamodb_write_request_unit: f64,
    dynamodb_read_request_unit: f64,
    dynamodb_streams_read_request: f64,
    sqs_standard_request: f64,
    lambda_arm64_gb_second: f64,
    lambda_request: f64,
    eventbridge_pipes_request: f64,
    http_api_request: f64,
    secrets_manager_api_call: f64,
}

fn prices() -> Prices {
    let path = provisio_tests::repo_path("infra/prices.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("infra/prices.json")).expect("prices")
}

/// The functions' memory (the template's global MemorySize), in GB.
fn memory_gb() -> f64 {
    let path = provisio_tests::repo_path("infra/template.yaml");
    let template: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).expect("template")).expect("YAML");
    template["Globals"]["Function"]["MemorySize"]
        .as_f64()
        .expect("MemorySize")
        / 1024.0
}

/// What one phase used, in billable quantities.
#[derive(Default)]
struct Usage {
    write_units: f64,
    read_units: f64,
    sqs_requests: f64,
    secrets_calls: f64,
    lambda_invocations: f64,
    handler: Duration,
    http_api_requests: f64,
    pipe_events: f64,
    stream_reads: f64,
}

impl Usage {
    /// The counted AWS requests of `env` since its counter's last reset, and `handler` time over
    /// `invocations`.
    fn counted(env: &TestEnv, handler: Duration, invocations: f64) -> Self {
        let units = env.requests.units();
        Usage {
            write_units: units.write,
            read_units: units.read,
            sqs_requests: env.requests.total_for("SQS") as f64,
            secrets_calls: env.requests.total_for("Secrets Manager") as f64,
            lambda_invocations: invocations,
            handler,
            ..Usage::default()
        }
    }

    /// Events the pipe carried: one pipe request each, its SendMessageBatch per 10, a stream read
    /// per batch of 10. (The event source mapping's receives and deletes are counted with the
    /// dispatcher: the pump makes them on counted clients.)
    fn carried(events: usize) -> Self {
        let batches = events.div_ceil(10) as f64;
        Usage {
            pipe_events: events as f64,
            stream_reads: batches,
            sqs_requests: batches,
            ..Usage::default()
        }
    }

    fn dollars(&self, p: &Prices, gb: f64) -> f64 {
        self.write_units * p.dynamodb_write_request_unit
            + self.read_units * p.dynamodb_read_request_unit
            + self.stream_reads * p.dynamodb_streams_read_request
            + self.sqs_requests * p.sqs_standard_request
            + self.secrets_calls * p.secrets_manager_api_call
            + self.lambda_invocations * p.lambda_request
            + self.handler.as_secs_f64() * gb * p.lambda_arm64_gb_second
            + self.http_api_requests * p.http_api_request
            + self.pipe_events * p.eventbridge_pipes_request
    }

    fn row(&self, phase: &str, p: &Prices, gb: f64) {
        println!(
            "| {phase:<34} | {:>9.0} | {:>8.0} | {:>6.0} | {:>7.0} | {:>9.1} | {:>6.0} | {:>10.6} |",
            self.write_units,
            self.read_units,
            self.sqs_requests,
            self.lambda_invocations,
            self.handler.as_secs_f64() * gb,
            self.pipe_events,
            self.dollars(p, gb)
        );
    }

    fn add(&mut self, other: &Usage) {
        self.write_units += other.write_units;
        self.read_units += other.read_units;
        self.sqs_requests += other.sqs_requests;
        self.secrets_calls += other.secrets_calls;
        self.lambda_invocations += other.lambda_invocations;
        self.handler += other.handler;
        self.http_api_requests += other.http_api_requests;
        self.pipe_events += other.pipe_events;
        self.stream_reads += other.stream_reads;
    }
}

/// Admin or SCIM calls through the handler in process, one at a time as one Lambda instance
/// takes them (with 16 in flight, DynamoDB Local's queueing would be billed as handler time):
/// their usage.
async fn calls<F, Fut>(env: &TestEnv, calls: Vec<Call>, expect: u16, send: F) -> Usage
where
    F: Fn(Call) -> Fut,
    Fut: std::future::Future<Output = provisio_tests::Reply>,
{
    use futures::StreamExt;
    env.requests.reset();
    let count = calls.len();
    let busy = std::sync::Mutex::new(Duration::ZERO);
    let statuses: Vec<u16> = futures::stream::iter(calls)
        .map(|call| {
            let busy = &busy;
            let reply = send(call);
            async move {
                let started = Instant::now();
                let status = reply.await.status;
                *busy.lock().unwrap() += started.elapsed();
                status
            }
        })
        .buffer_unordered(1)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == expect), "{statuses:?}");
    let handler = *busy.lock().unwrap();
    let mut usage = Usage::counted(env, handler, count as f64);
    usage.http_api_requests = count as f64;
    usage
}

/// Feeds the stream (as the pipe) and pumps the dispatcher; the usage of both.
async fn dispatch(env: &TestEnv) -> (Usage, Usage) {
    let dispatcher = env.dispatcher();
    env.requests.reset();
    let pumped: Pumped = env.pump(&dispatcher, Duration::from_secs(3600)).await;
    // The dispatcher's SQS requests and the pump's (receives, deletes and queue depth checks: a
    // little more than the event source mapping makes).
    let dispatched = Usage::counted(env, pumped.handler, pumped.handled.div_ceil(10) as f64);
    (Usage::carried(pumped.fed), dispatched)
}

/// Imports `users` and provisions them to one custom app: with `all_users`, an app whose scope
/// is every user (the import's own events provision them); else an app assigned to a group that
/// each user then joins through the admin API. Prints the phases; the total usage.
async fn import_and_provision(users: usize, all_users: bool, p: &Prices, gb: f64) -> Usage {
    let pages = users.div_ceil(PER_PAGE);
    let env = TestEnv::new().await;

    // The target app: a users API with bearer auth, creates on user_created.
    let api = UsersApi::new(None, Duration::from_secs(3600));
    let server = api.start().await;
    let group = env.group("everyone").await;
    let target = env.outbound_app("target", &group).await;
    if all_users {
        let reply = env
            .patch(&format!("/admin/apps/{target}"), json!({ "scope": "all_users" }))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    let auth = env
        .post(
            &format!("/admin/apps/{target}/auth-configs"),
            json!({ "type": "bearer", "name": "t", "token": "bench-token" }),
        )
        .await;
    let created = json!({ "authId": auth.body["id"], "request": { "method": "POST",
                          "url": format!("{}/users", server.url), "body": { "email": "@email" } } });
    let reply = env
        .call(Call::new("PUT", &format!("/admin/apps/{target}/event-configs/user_created")).json(created))
        .await;
    assert!(reply.status < 300, "{:?}", reply.body);
    // Switching user_created on for an all-users app looks at every user (none yet): not counted.
    env.pump(&env.dispatcher(), Duration::from_secs(60)).await;

    // The source: `users` records over `pages` pages.
    let source_server = bench::paged_source(users, PER_PAGE).await;
    let source = env.app("source").await;
    let config = env
        .post(
            &format!("/admin/apps/{source}/import-configs"),
            json!({ "name": "cost", "request": { "method": "GET", "url": format!("{}/users?cursor=@Pagination", source_server.url) },
                    "usersPath": "data.users", "pagination": { "nextPath": "next" },
                    "mapping": { "externalId": "id", "email": "mail", "givenName": "first" } }),
        )
        .await;
    let import = config.body["id"].as_str().expect("import id").to_string();

    // 1. Import.
    let importer = env.importer();
    env.requests.reset();
    let run = env
        .post(
            &format!("/admin/apps/{source}/import-configs/{import}/runs"),
            json!({}),
        )
        .await;
    assert_eq!(run.status, 202, "{:?}", run.body);
    let pumped = env.pump_imports(&importer, Duration::from_secs(3600)).await;
    let mut imported = Usage::counted(&env, pumped.handler, pages as f64 + 1.0);
    imported.http_api_requests = 1.0;
    imported.row(&format!("import {users} users ({pages} pages)"), p, gb);
    let (carried, dispatched) = dispatch(&env).await;
    carried.row("  their events: pipe and queue", p, gb);
    let mut parts = vec![imported, carried];
    if all_users {
        dispatched.row(&format!("  provisioning: {users} creates in the app"), p, gb);
        parts.push(dispatched);
    } else {
        dispatched.row("  their events: dispatcher (no scope)", p, gb);
        parts.push(dispatched);
        // 2. Into the app's scope: each joins the group (admin API), then is provisioned.
        let mut ids = Vec::new();
        for item in env.list_all("/admin/users").await {
            ids.push(item["id"].as_str().expect("id").to_string());
        }
        assert_eq!(ids.len(), users);
        let joins = ids
            .iter()
            .map(|id| Call::new("PUT", &format!("/admin/groups/{group}/members/{id}")))
            .collect();
        let joined = calls(&env, joins, 201, |c| env.call(c)).await;
        joined.row(&format!("{users} group joins (admin API)"), p, gb);
        let (carried_joins, provisioned) = dispatch(&env).await;
        carried_joins.row("  their events: pipe and queue", p, gb);
        provisioned.row(&format!("  provisioning: {users} creates in the app"), p, gb);
        parts.extend([joined, carried_joins, provisioned]);
    }
    assert_eq!(api.accounts().len(), users, "every user provisioned");
    let mut total = Usage::default();
    for part in &parts {
        total.add(part);
    }
    total
}

#[tokio::main]
async fn main() {
    provisio_tests::require_stack();
    let users: usize = if bench::quick() { 100 } else { 10_000 };
    let p = prices();
    let gb = memory_gb();

    println!(
        "Cost at AWS list prices (infra/prices.json, {}, us-east-1 on demand, no free tier); Lambda at {} MB",
        p.date,
        gb * 1024.0
    );
    println!(
        "| phase                              | DynamoDB WRU | RRU | SQS req | Lambda inv | GB-s | pipe ev | dollars |"
    );
    println!(
        "|------------------------------------|--------------|-----|---------|------------|------|---------|---------|"
    );
    println!("| **to an app for all users**        | | | | | | | |");
    let total = import_and_provision(users, true, &p, gb).await;
    total.row("import and provision, total", &p, gb);
    let all_users = total.dollars(&p, gb) * 10_000.0 / users as f64;
    // Then, for comparison, an app assigned to a group that each user joins: at most 1,000 users
    // (the joins go one at a time, for their handler time), scaled to 10,000; its requests per
    // user are the same at any size. (A second stack in one process runs slower against
    // DynamoDB Local, which only its GB-s show.)
    let joining = users.min(1_000);
    println!("| **to an app assigned to a group, {joining} users each joining it** | | | | | | | |");
    let total = import_and_provision(joining, false, &p, gb).await;
    total.row("import, join and provision, total", &p, gb);
    let assigned = total.dollars(&p, gb) * 10_000.0 / joining as f64;
    println!(
        "  = ${all_users:.4} per 10,000 users imported and provisioned to one app for all users; \
         ${assigned:.4} when each joins the app's group through the admin API instead"
    );

    // 3. SCIM creates: at most 2,000 (one at a time, for their handler time), scaled to 10,000.
    let scim_users = users.min(2_000);
    let scim_env = TestEnv::new().await;
    let (app, token) = scim_env.scim_app("cost").await;
    let creates = (0..scim_users)
        .map(|i| {
            Call::new("POST", &format!("/scim/v2/{app}/Users"))
                .key(&token)
                .json(
                    json!({ "userName": format!("user{i:06}@example.com"), "externalId": format!("x{i}"),
                               "emails": [{ "value": format!("user{i:06}@example.com"), "primary": true }] }),
                )
        })
        .collect();
    let scim = calls(&scim_env, creates, 201, |c| scim_env.scim_call(&scim_env.scim, c)).await;
    scim.row(&format!("{scim_users} SCIM creates"), &p, gb);
    let (carried, dispatched) = dispatch(&scim_env).await;
    carried.row("  their events: pipe and queue", &p, gb);
    dispatched.row("  their events: dispatcher (no scope)", &p, gb);
    let mut total = Usage::default();
    for part in [&scim, &carried, &dispatched] {
        total.add(part);
    }
    println!(
        "  = ${:.4} per 10,000 SCIM creates",
        total.dollars(&p, gb) * 10_000.0 / scim_users as f64
    );
}
