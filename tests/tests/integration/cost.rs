//! DynamoDB and SQS requests per admin operation, counted by the SDK interceptor. The counts are
//! part of the design (docs/ARCHITECTURE.md): they must not grow with the directory. A change
//! that announces an event also costs its relay: one SendMessageBatch and one BatchWriteItem that
//! clears the outbox.

use provisio_tests::TestEnv;
use serde_json::json;

async fn dynamodb_requests(
    env: &TestEnv,
    call: impl std::future::Future<Output = provisio_tests::Reply>,
) -> (u16, std::collections::BTreeMap<String, u64>) {
    env.requests.reset();
    let reply = call.await;
    let counts = env
        .requests
        .snapshot()
        .into_iter()
        .filter(|(k, _)| {
            let k = k.to_lowercase();
            k.starts_with("dynamodb.") || k.starts_with("sqs.")
        })
        .collect();
    (reply.status, counts)
}

fn counts(pairs: &[(&str, u64)]) -> std::collections::BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (format!("DynamoDB.{k}"), *v)).collect()
}

/// `counts` of a write: its change event rides in its transaction, and the table's stream takes
/// it to the queue, so the request itself sends nothing to SQS.
fn written(pairs: &[(&str, u64)]) -> std::collections::BTreeMap<String, u64> {
    counts(pairs)
}

#[tokio::test]
async fn each_operation_costs_a_fixed_number_of_requests() {
    let env = TestEnv::new().await;
    env.get("/admin/users").await; // loads the admin keys once
    let user = env.user("first").await;
    let group = env.group("g").await;

    let (status, used) = dynamodb_requests(
        &env,
        env.post("/admin/users", json!({ "userName": "u", "email": "u@x.io" })),
    )
    .await;
    assert_eq!((status, used), (201, written(&[("TransactWriteItems", 1)])));
    let (status, used) = dynamodb_requests(&env, env.get(&format!("/admin/users/{user}"))).await;
    assert_eq!((status, used), (200, counts(&[("GetItem", 1)])));
    let (status, used) = dynamodb_requests(&env, env.get("/admin/users?limit=1")).await;
    assert_eq!((status, used), (200, counts(&[("Query", 1)])));
    let (status, used) = dynamodb_requests(
        &env,
        env.patch(&format!("/admin/users/{user}"), json!({ "displayName": "F" })),
    )
    .await;
    assert_eq!(
        (status, used),
        (200, written(&[("GetItem", 1), ("TransactWriteItems", 1)]))
    );
    let (status, used) =
        dynamodb_requests(&env, env.put(&format!("/admin/groups/{group}/members/{user}"))).await;
    assert_eq!((status, used), (201, written(&[("TransactWriteItems", 1)])));
    let (status, used) = dynamodb_requests(&env, env.get(&format!("/admin/groups/{group}/members"))).await;
    assert_eq!((status, used), (200, counts(&[("Query", 1)])));
    let (status, used) = dynamodb_requests(&env, env.delete(&format!("/admin/users/{user}"))).await;
    assert_eq!(
        (status, used),
        (
            204,
            written(&[("GetItem", 1), ("Query", 1), ("TransactWriteItems", 1)])
        )
    );
}
