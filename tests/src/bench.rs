//! What the benchmarks share: run calls with a fixed number in flight, count DynamoDB requests,
//! print a row.

use std::future::Future;
use std::time::Instant;

use futures::StreamExt;

use crate::{Call, TestEnv};

pub const CONCURRENCY: usize = 16;

pub struct Measured {
    pub ops: usize,
    pub seconds: f64,
    pub dynamodb_requests: u64,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.ops as f64 / self.seconds
    }

    pub fn per_op(&self) -> f64 {
        self.dynamodb_requests as f64 / self.ops as f64
    }

    /// `| label | users | ops | req/s | DynamoDB req/op |`
    pub fn row(&self, label: &str, users: usize) {
        println!(
            "| {label:<26} | {users:>7} | {:>6} | {:>10.0} | {:>15.2} |",
            self.ops,
            self.per_second(),
            self.per_op()
        );
    }
}

pub fn header(title: &str) {
    println!("{title} ({CONCURRENCY} requests in flight)");
    println!("| operation                  |   users |    ops |      req/s | DynamoDB req/op |");
    println!("|----------------------------|---------|--------|------------|-----------------|");
}

/// Whether to run the small sizes: under `cargo test`, or with PROVISIO_BENCH_QUICK set.
pub fn quick() -> bool {
    std::env::var("PROVISIO_BENCH_QUICK").is_ok() || !std::env::args().any(|a| a == "--bench")
}

/// Sends `calls` through `send`, `CONCURRENCY` at a time; every answer must be `expect`.
pub async fn measure<'a, F, Fut>(env: &'a TestEnv, calls: Vec<Call>, expect: u16, send: F) -> Measured
where
    F: Fn(Call) -> Fut,
    Fut: Future<Output = crate::Reply> + 'a,
{
    env.requests.reset();
    let ops = calls.len();
    let started = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(calls)
        .map(|call| {
            let reply = send(call);
            async move { reply.await.status }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        statuses.iter().all(|s| *s == expect),
        "unexpected statuses: {statuses:?}"
    );
    Measured {
        ops,
        seconds,
        dynamodb_requests: env.requests.total_for("DynamoDB"),
    }
}

/// A source API on 127.0.0.1 for import benchmarks: `users` records (`id`, `mail`, `first`,
/// `dept`) at `GET /users?cursor=N`, `per_page` a page under `data.users`, with `next` until the
/// last page.
pub async fn paged_source(users: usize, per_page: usize) -> crate::fake_app::FakeApp {
    use serde_json::json;
    crate::fake_app::FakeApp::start(move |r| {
        let page: usize = r
            .query
            .strip_prefix("cursor=")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let records: Vec<serde_json::Value> = (page * per_page..((page + 1) * per_page).min(users))
            .map(|i| json!({ "id": format!("e{i}"), "mail": format!("person{i}@corp.test"), "first": "P", "dept": i % 17 }))
            .collect();
        let mut body = json!({ "data": { "users": records } });
        if (page + 1) * per_page < users {
            body["next"] = json!((page + 1).to_string());
        }
        crate::fake_app::Answer::json(200, body)
    })
    .await
}
