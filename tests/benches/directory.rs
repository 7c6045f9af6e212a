//! Admin API throughput and cost against the local stack, at two directory sizes.
//!
//! Requests go through the real handler as API Gateway events, in process; DynamoDB requests are
//! counted by the SDK interceptor, not assumed. Figures are printed, never asserted: DynamoDB Local
//! on a laptop is not DynamoDB, but the request counts are exactly what AWS would bill.
//!
//!   make bench                          (100 and 10,000 users)
//!   PROVISIO_BENCH_QUICK=1 make bench   (20 and 200 users; `cargo test` runs this quick pass too)
//!
//! A write's change event rides in its transaction; the table's stream carries it to the queue
//! outside the request (nothing feeds the stream here), so no SQS request is counted per write.

use provisio_tests::bench::{self, Measured};
use provisio_tests::{Call, TestEnv};
use serde_json::json;

async fn measure(env: &TestEnv, calls: Vec<Call>, expect: u16) -> Measured {
    bench::measure(env, calls, expect, |call| env.call(call)).await
}

fn create_calls(from: usize, to: usize) -> Vec<Call> {
    (from..to)
        .map(|i| {
            Call::new("POST", "/admin/users").json(json!({
                "userName": format!("user{i:06}"),
                "email": format!("user{i:06}@example.com"),
                "givenName": "Bench",
                "familyName": format!("{i}"),
                "attributes": { "department": "bench" }
            }))
        })
        .collect()
}

#[tokio::main]
async fn main() {
    provisio_tests::require_stack();
    // `cargo bench` passes --bench; under `cargo test` this runs as a quick check of the harness.
    let quick = std::env::var("PROVISIO_BENCH_QUICK").is_ok() || !std::env::args().any(|a| a == "--bench");
    let (sizes, sample) = if quick {
        ([20, 200], 50)
    } else {
        ([100, 10_000], 1_000)
    };
    bench::header("Admin API against the local stack");
    for users in sizes {
        let env = TestEnv::new().await;
        env.get("/admin/users").await; // cold start: admin keys loaded once
        let seeded = measure(&env, create_calls(0, users), 201).await;
        seeded.row("create user (seeding)", users);

        let created = measure(&env, create_calls(users, users + sample), 201).await;
        created.row("create user", users);

        let page = env.get(&format!("/admin/users?limit={}", sample.min(200))).await;
        let ids: Vec<String> = page.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|u| u["id"].as_str().expect("id").to_string())
            .collect();
        let gets: Vec<Call> = (0..sample)
            .map(|i| Call::new("GET", &format!("/admin/users/{}", ids[i % ids.len()])))
            .collect();
        let got = measure(&env, gets, 200).await;
        got.row("get user", users);

        let lists: Vec<Call> = (0..sample.min(200))
            .map(|_| Call::new("GET", "/admin/users?limit=50"))
            .collect();
        let listed = measure(&env, lists, 200).await;
        listed.row("list users (page of 50)", users);

        let patches: Vec<Call> = (0..sample)
            .map(|i| {
                Call::new("PATCH", &format!("/admin/users/{}", ids[i % ids.len()]))
                    .json(json!({ "displayName": format!("n{i}") }))
            })
            .collect();
        let patched = measure(&env, patches, 200).await;
        patched.row("update user", users);
    }
}
