//! SCIM throughput and cost against the local stack, at two directory sizes: the calls SCIM
//! clients make on every sync. Requests go through the real SCIM handler as API Gateway events;
//! DynamoDB requests are counted by the SDK interceptor. Figures are printed, never asserted.
//!
//!   make bench                          (100 and 10,000 users)
//!   PROVISIO_BENCH_QUICK=1 make bench   (20 and 200 users; `cargo test` runs this quick pass too)
//!
//! A write's change event rides in its transaction; the table's stream carries it to the queue
//! outside the request (nothing feeds the stream here), so no SQS request is counted per write.

use provisio_tests::bench::{self, Measured};
use provisio_tests::{Call, TestEnv};
use serde_json::json;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn measure(env: &TestEnv, calls: Vec<Call>, expect: u16) -> Measured {
    bench::measure(env, calls, expect, |call| env.scim_call(&env.scim, call)).await
}

#[tokio::main]
async fn main() {
    provisio_tests::require_stack();
    let quick = std::env::var("PROVISIO_BENCH_QUICK").is_ok() || !std::env::args().any(|a| a == "--bench");
    let (sizes, sample) = if quick {
        ([20, 200], 20)
    } else {
        ([100, 10_000], 500)
    };
    bench::header("SCIM against the local stack");
    for users in sizes {
        let env = TestEnv::new().await;
        let (app, token) = env.scim_app("bench").await;
        let path = |rest: &str| format!("/scim/v2/{app}{rest}");
        let create = |i: usize| {
            Call::new("POST", &path("/Users")).key(&token).json(json!({
                "userName": format!("user{i:06}@example.com"),
                "externalId": format!("ext-{i}"),
                "name": { "givenName": "Bench", "familyName": format!("{i}") },
                "emails": [{ "value": format!("user{i:06}@example.com"), "type": "work", "primary": true }],
                "active": true
            }))
        };
        measure(&env, (0..users).map(create).collect(), 201).await;
        let group = env
            .scim_call(
                &env.scim,
                Call::new("POST", &path("/Groups"))
                    .key(&token)
                    .json(json!({ "displayName": "bench" })),
            )
            .await;
        let group = group.body["id"].as_str().expect("group id").to_string();
        // Warm the token cache, as a sync does after its first request.
        env.scim_call(
            &env.scim,
            Call::new("GET", &path("/ServiceProviderConfig")).key(&token),
        )
        .await;

        let lookups = (0..sample)
            .map(|i| {
                let filter = format!("userName%20eq%20%22user{:06}%40example.com%22", i % users);
                Call::new("GET", &path(&format!("/Users?filter={filter}"))).key(&token)
            })
            .collect();
        measure(&env, lookups, 200)
            .await
            .row("GET Users?filter=userName", users);

        let created = measure(&env, (users..users + sample).map(create).collect(), 201).await;
        created.row("POST Users", users);

        let page = env.get(&format!("/admin/users?limit={}", sample.min(200))).await;
        let ids: Vec<String> = page.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|u| u["id"].as_str().expect("id").to_string())
            .collect();
        let patches = (0..sample)
            .map(|i| {
                Call::new("PATCH", &path(&format!("/Users/{}", ids[i % ids.len()])))
                    .key(&token)
                    .json(json!({
                        "schemas": [PATCH_OP],
                        "Operations": [{ "op": "Replace", "path": "displayName", "value": format!("n{i}") }]
                    }))
            })
            .collect();
        measure(&env, patches, 200).await.row("PATCH User", users);

        let adds = (0..sample.min(ids.len()))
            .map(|i| {
                Call::new(
                    "PATCH",
                    &path(&format!("/Groups/{group}?excludedAttributes=members")),
                )
                .key(&token)
                .json(json!({
                    "schemas": [PATCH_OP],
                    "Operations": [{ "op": "Add", "path": "members", "value": [{ "value": ids[i] }] }]
                }))
            })
            .collect();
        measure(&env, adds, 200)
            .await
            .row("PATCH Group add member", users);
    }
}
