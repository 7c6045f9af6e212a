//! Provisio and the in-memory Python SCIM server `scim2-server` (pinned in scripts/versions.env),
//! side by side in one run, for the same SCIM calls over HTTP with 16 in flight: Provisio through
//! `cargo lambda watch` as `make dev` serves it (with the stream and dispatch feeders running, as
//! there), and Provisio's SCIM handler in process (no HTTP, no watcher) for reference. Each call
//! starts on a quiet stack: the events of the creates before it are dispatched first (that wait is
//! printed as its own row), so one call's rate does not carry the previous call's background work.
//! Figures are printed, never asserted.
//!
//!   make bench                          (1,000 and 10,000 users)
//!   PROVISIO_BENCH_QUICK=1 make bench   (30 users; `cargo test` runs this quick pass too)

use std::time::{Duration, Instant};

use futures::StreamExt;
use provisio_tests::bench::CONCURRENCY;
use provisio_tests::{Call, TestEnv};
use serde_json::{Value, json};

/// A SCIM service reached over HTTP.
struct Http {
    client: reqwest::Client,
    /// Ends before `/Users`.
    base: String,
    token: Option<String>,
}

fn user(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("user{i:06}@example.com"),
        "externalId": format!("ext-{i}"),
        "name": { "givenName": "Bench", "familyName": format!("{i}") },
        "emails": [{ "value": format!("user{i:06}@example.com"), "type": "work", "primary": true }],
        "active": true
    })
}

fn filter(i: usize) -> String {
    format!("/Users?filter=userName%20eq%20%22user{i:06}%40example.com%22")
}

impl Http {
    fn request(&self, method: reqwest::Method, rest: &str) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method, format!("{}{rest}", self.base))
            .header("content-type", "application/scim+json");
        match &self.token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    /// Calls per second; every answer must have `expect`.
    async fn run(&self, calls: Vec<(reqwest::Method, String, Option<Value>)>, expect: u16) -> f64 {
        let count = calls.len();
        let started = Instant::now();
        let statuses: Vec<u16> = futures::stream::iter(calls)
            .map(|(method, rest, body)| {
                let mut request = self.request(method, &rest);
                if let Some(body) = body {
                    request = request.body(body.to_string());
                }
                async move {
                    match request.send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let _ = r.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let rate = count as f64 / started.elapsed().as_secs_f64();
        let wrong = statuses.iter().filter(|s| **s != expect).count();
        assert_eq!(wrong, 0, "{} of {count} calls did not answer {expect}", wrong);
        rate
    }

    async fn create(&self, range: std::ops::Range<usize>) -> f64 {
        let calls = range
            .map(|i| (reqwest::Method::POST, "/Users".to_string(), Some(user(i))))
            .collect();
        self.run(calls, 201).await
    }

    async fn lookups(&self, users: usize, sample: usize) -> f64 {
        let calls = (0..sample)
            .map(|i| (reqwest::Method::GET, filter((i * 7919) % users), None))
            .collect();
        self.run(calls, 200).await
    }
}

/// The same calls through the SCIM handler in process.
struct InProcess<'a> {
    env: &'a TestEnv,
    app: String,
    token: String,
}

impl InProcess<'_> {
    async fn run(&self, calls: Vec<Call>, expect: u16) -> f64 {
        let measured = provisio_tests::bench::measure(self.env, calls, expect, |call| {
            self.env.scim_call(&self.env.scim, call)
        })
        .await;
        measured.per_second()
    }

    fn call(&self, method: &str, rest: &str) -> Call {
        Call::new(method, &format!("/scim/v2/{}{rest}", self.app)).key(&self.token)
    }

    async fn create(&self, range: std::ops::Range<usize>) -> f64 {
        let calls = range.map(|i| self.call("POST", "/Users").json(user(i))).collect();
        self.run(calls, 201).await
    }

    async fn lookups(&self, users: usize, sample: usize) -> f64 {
        let calls = (0..sample)
            .map(|i| self.call("GET", &filter((i * 7919) % users)))
            .collect();
        self.run(calls, 200).await
    }
}

/// Waits until `make dev`'s pipeline is idle: the dispatch queue has stayed empty (nothing visible,
/// in flight or delayed) for five polls in a row, so the stream feeder has nothing left to send.
/// Returns how long the drain took (to the first of those polls). Every event must have been
/// dispatched: a stopped feeder or a dead letter ends the bench.
async fn settle(env: &TestEnv, feeders: &[tokio::task::JoinHandle<()>]) -> Duration {
    let started = Instant::now();
    let queue = &env.resources.queue_urls["dispatch"];
    let mut quiet_since = None;
    let mut quiet = 0;
    // Five polls (2 s and more): longer than the stream feeder's idle pause (1 s), so records it
    // has not read yet can't pass for a quiet queue.
    while quiet < 5 {
        assert!(feeders.iter().all(|f| !f.is_finished()), "a feeder stopped");
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "the dispatch queue did not drain in 30 minutes"
        );
        if provisio_tests::depth(&env.clients.sqs, queue).await == 0 {
            quiet += 1;
            quiet_since.get_or_insert(started.elapsed());
        } else {
            quiet = 0;
            quiet_since = None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let dead = provisio_tests::depth(&env.clients.sqs, &env.resources.dlq_urls["dispatch"]).await;
    assert_eq!(dead, 0, "events were dead-lettered: the dispatcher failed them");
    quiet_since.unwrap_or_default()
}

fn row(call: &str, users: usize, peer: f64, dev: f64, in_process: f64) {
    println!(
        "| {call:<22} | {users:>6} | {peer:>12.0} | {dev:>13.0} | {:>12.2} | {in_process:>18.0} |",
        dev / peer
    );
}

#[tokio::main]
async fn main() {
    provisio_tests::require_stack();
    let quick = provisio_tests::bench::quick();
    // PROVISIO_BENCH_USERS=1000 measures one size only (quicker comparisons of settings).
    let one: Vec<usize> = std::env::var("PROVISIO_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .into_iter()
        .collect();
    // PROVISIO_BENCH_ONLY=import runs the paginated import alone, on a stack nothing else wrote;
    // PROVISIO_BENCH_ONLY=scim the SCIM calls alone.
    let only = std::env::var("PROVISIO_BENCH_ONLY").unwrap_or_default();
    assert!(
        ["", "import", "scim"].contains(&only.as_str()),
        "PROVISIO_BENCH_ONLY is import or scim, not {only:?}"
    );
    let import_only = only == "import";
    let (sizes, sample): (&[usize], usize) = if import_only {
        (&[], 0)
    } else if quick {
        (&[30], 30)
    } else if !one.is_empty() {
        (&one, 1_000)
    } else {
        (&[1_000, 10_000], 1_000)
    };

    let peer = provisio_tests::scim_peers::ScimPeer::start().await;
    let peer_base = peer.base.clone();
    let peer = Http {
        client: reqwest::Client::new(),
        base: peer_base,
        token: None,
    };

    let env = TestEnv::new().await;
    // The functions log every request: to a file, so the table stays readable.
    let log = std::env::temp_dir().join("provisio-side-by-side-watch.log");
    let mut watch = provisio_tests::watch::start_logging(&env, Some(&log));
    watch.ready(&env.resources.admin_key).await;
    let app = watch.scim_app(&env.resources.admin_key, "side by side").await;
    let dev = Http {
        client: reqwest::Client::new(),
        base: app["scim"]["baseUrl"]
            .as_str()
            .expect("SCIM base URL")
            .to_string(),
        token: app["scim"]["token"].as_str().map(String::from),
    };
    let app_id = app["id"].as_str().expect("app id").to_string();
    watch
        .warm(&format!("/scim/v2/{app_id}/ServiceProviderConfig"))
        .await;
    // The feeders `make dev` runs beside the watcher.
    let feeders = [
        provisio_tests::watch::stream_feeder(&env),
        provisio_tests::watch::queue_feeder(&env, "dispatch", "dispatcher", &watch.base),
    ];

    let local = TestEnv::new().await;
    let (local_app, local_token) = local.scim_app("side by side").await;
    let in_process = InProcess {
        env: &local,
        app: local_app,
        token: local_token,
    };

    // `make bench` gives this bench a stack with its table on disk, as `make dev` keeps it.
    let storage = if std::env::var_os("PROVISIO_DATA_DIR").is_some() {
        "on disk, as `make dev` keeps it"
    } else {
        "in memory, as the tests keep it"
    };
    println!(
        "`cargo lambda watch --concurrency {}`, dev profile; DynamoDB Local's table {storage}",
        provisio_tests::watch::concurrency()
    );
    // PROVISIO_BENCH_ONLY=import measures no SCIM call: no table for them.
    if !sizes.is_empty() {
        println!(
            "SCIM over HTTP, {CONCURRENCY} in flight, one run: scim2-server (in memory, Python; pinned in \
             scripts/versions.env) and Provisio through `cargo lambda watch` as `make dev` serves it; in \
             process: Provisio's handler without HTTP"
        );
        println!(
            "| call                   |  users | scim2-server/s | make dev /s | make dev / peer | Provisio in process/s |"
        );
        println!(
            "|------------------------|--------|----------------|-------------|-----------------|-----------------------|"
        );
    }
    let mut seeded = 0;
    let mut drains = Vec::new();
    for &users in sizes {
        // Seed up to `users` (timed as a POST run of its own), then POST `sample` more and look up
        // `sample` of the first `users`.
        let p = peer.create(seeded..users).await;
        let d = dev.create(seeded..users).await;
        let drained = settle(&env, &feeders).await;
        let i = in_process.create(seeded..users).await;
        row(&format!("POST /Users (to {users})"), users, p, d, i);
        drains.push((format!("to {users}"), users - seeded, drained));
        let (p, d, i) = (
            peer.lookups(users, sample).await,
            dev.lookups(users, sample).await,
            in_process.lookups(users, sample).await,
        );
        row("GET userName eq", users, p, d, i);
        let extra = 1_000_000 + users..1_000_000 + users + sample;
        let p = peer.create(extra.clone()).await;
        let d = dev.create(extra.clone()).await;
        let drained = settle(&env, &feeders).await;
        let i = in_process.create(extra).await;
        row("POST /Users", users, p, d, i);
        drains.push((format!("{sample} more at {users}"), sample, drained));
        seeded = users;
    }
    if !drains.is_empty() {
        let drains: Vec<String> = drains
            .iter()
            .map(|(run, events, took)| format!("{run}: {:.1} s ({events} events)", took.as_secs_f64()))
            .collect();
        println!(
            "make dev's feeders finished dispatching each POST run's events this long after its last \
             response (before the next call was measured): {}",
            drains.join("; ")
        );
    }
    if only == "scim" {
        for feeder in feeders {
            feeder.abort();
        }
        return;
    }

    // A paginated import as `make dev` runs it: the run started through the watcher's admin API,
    // one page per importer invocation through the watcher (the import queue's feeder), the users'
    // events carried on by the stream feeder to the dispatcher meanwhile.
    let (import_users, per_page) = if quick { (300, 100) } else { (10_000, 100) };
    let importing = provisio_tests::watch::queue_feeder(&env, "import", "importer", &watch.base);
    let source = provisio_tests::bench::paged_source(import_users, per_page).await;
    let source_app = env.app("import source").await;
    let config = env
        .post(
            &format!("/admin/apps/{source_app}/import-configs"),
            json!({ "name": "bench", "request": { "method": "GET", "url": format!("{}/users?cursor=@Pagination", source.url) },
                    "usersPath": "data.users", "pagination": { "nextPath": "next" },
                    "mapping": { "externalId": "id", "email": "mail", "givenName": "first" } }),
        )
        .await;
    let import = config.body["id"].as_str().expect("import config id");
    let admin = |method: reqwest::Method, path: &str| {
        reqwest::Client::new()
            .request(method, format!("{}{path}", watch.base))
            .header("authorization", format!("Bearer {}", env.resources.admin_key))
    };
    let started = Instant::now();
    let run: Value = admin(
        reqwest::Method::POST,
        &format!("/admin/apps/{source_app}/import-configs/{import}/runs"),
    )
    .json(&json!({}))
    .send()
    .await
    .expect("start the run")
    .json()
    .await
    .expect("the job");
    let job = run["id"].as_str().expect("job id").to_string();
    let deadline = Instant::now() + Duration::from_secs(1800);
    let mut last_progress = Instant::now();
    let report = loop {
        let report: Value = admin(reqwest::Method::GET, &format!("/admin/jobs/{job}"))
            .send()
            .await
            .expect("the job")
            .json()
            .await
            .expect("a JSON job");
        if report["status"] != "running" {
            break report;
        }
        if last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            eprintln!(
                "import: {:.0} s, {} pages, {} created",
                started.elapsed().as_secs_f64(),
                report["pages"],
                report["created"]
            );
        }
        assert!(Instant::now() < deadline, "the import did not end: {report:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report["status"], "succeeded", "{report:#}");
    assert_eq!(report["created"], import_users, "{report:#}");
    importing.abort();
    println!();
    println!(
        "Paginated import through `make dev` (the watcher's admin API and importer, one page per \
         invocation): {import_users} users over {} pages in {seconds:.1} s ({:.0} users/s)",
        import_users.div_ceil(per_page),
        import_users as f64 / seconds
    );
    for feeder in feeders {
        feeder.abort();
    }
}
