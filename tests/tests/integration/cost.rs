//! DynamoDB and SQS requests per operation, counted by the SDK interceptor. The counts are part of
//! the design (docs/ARCHITECTURE.md): they must not grow with the directory. A change that
//! announces an event writes it in its own transaction; the table's stream carries it to the
//! queue, so no request sends anything to SQS.

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

/// `counts` of a write: its change event rides on the item written (or in its transaction), and
/// the table's stream takes it to the queue, so the request itself sends nothing to SQS.
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
    // An update that moves no guard is one conditional PutItem: the user item carries its event,
    // so there is no second item to write (a transaction of one bills twice).
    let (status, used) = dynamodb_requests(
        &env,
        env.patch(&format!("/admin/users/{user}"), json!({ "displayName": "F" })),
    )
    .await;
    assert_eq!((status, used), (200, written(&[("GetItem", 1), ("PutItem", 1)])));
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

/// Provisioning one user: the claim and the account's link are single conditional PutItems (one
/// write unit each, where a transaction would cost two) and the log entry a plain write after the
/// link's. A second claim of the same link is refused by that condition.
#[tokio::test]
async fn a_create_in_an_app_is_three_single_writes() {
    use provisio_tests::fake_app::UsersApi;
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, std::time::Duration::from_secs(3600));
    let server = api.start().await;
    let group = env.group("g").await;
    let app = env.outbound_app("target", &group).await;
    let created = json!({ "request": { "method": "POST", "url": format!("{}/users", server.url),
                          "body": { "email": "@email" } } });
    let reply = env
        .call(
            provisio_tests::Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created"))
                .json(created),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let dispatcher = env.dispatcher();
    env.pump(&dispatcher, std::time::Duration::from_secs(30)).await;

    // The user's creation is dispatched first (out of scope: nothing to send), then the join.
    let user = env.user("ann").await;
    env.pump(&dispatcher, std::time::Duration::from_secs(30)).await;
    assert_eq!(
        env.put(&format!("/admin/groups/{group}/members/{user}"))
            .await
            .status,
        201
    );
    env.feed_stream().await;
    env.requests.reset();
    let pumped = env.pump(&dispatcher, std::time::Duration::from_secs(30)).await;
    assert_eq!(pumped.handled, 1, "the member_added event");
    assert_eq!(api.accounts().len(), 1);
    let writes: std::collections::BTreeMap<String, u64> = env
        .requests
        .snapshot()
        .into_iter()
        .filter(|(k, _)| {
            [
                "PutItem",
                "UpdateItem",
                "DeleteItem",
                "BatchWriteItem",
                "TransactWriteItems",
            ]
            .iter()
            .any(|op| k == &format!("DynamoDB.{op}"))
        })
        .collect();
    assert_eq!(writes, counts(&[("PutItem", 2), ("BatchWriteItem", 1)]));
    assert_eq!(
        env.requests.units().write,
        3.0,
        "claim 1 + link 1 + log entry 1: no transaction bills them twice"
    );
}

/// A write of one item goes as the plain conditional request, and keeps the transaction's meaning:
/// a failed condition is a cancellation of that item, nothing is written, and a write that meets
/// none goes through.
#[tokio::test]
async fn a_one_item_write_keeps_its_condition() {
    use provisio::store::item::{key, n, s};
    use provisio::store::transaction::{op, transact};
    let env = TestEnv::new().await;
    let store = provisio::store::Store::new(env.clients.dynamodb.clone(), &env.resources.config.table);
    let table = store.table.clone();
    let item = |v: u64| {
        let mut item = key("PROBE#1", "PROFILE");
        item.insert("version".into(), n(v));
        item.insert("label".into(), s(format!("v{v}")));
        item
    };
    env.requests.reset();
    assert_eq!(
        transact(&store, vec![op::put_new(&table, item(1))])
            .await
            .unwrap(),
        Ok(())
    );
    let refused = transact(&store, vec![op::put_new(&table, item(2))])
        .await
        .unwrap();
    assert_eq!(refused.map_err(|c| c.failed_conditions), Err(vec![true]));
    let stale = transact(&store, vec![op::put_if_version(&table, item(3), 7)])
        .await
        .unwrap();
    assert!(stale.is_err(), "a stale version is refused");
    assert_eq!(
        transact(&store, vec![op::put_if_version(&table, item(2), 1)])
            .await
            .unwrap(),
        Ok(())
    );
    let gone = transact(
        &store,
        vec![op::delete_if_version(&table, key("PROBE#1", "PROFILE"), 1)],
    )
    .await
    .unwrap();
    assert!(gone.is_err(), "the delete's version condition holds");
    let stored = env.raw_items("PROBE#1").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["label"].as_s().unwrap(), "v2");
    let snapshot = env.requests.snapshot();
    assert_eq!(snapshot.get("DynamoDB.PutItem"), Some(&4));
    assert_eq!(snapshot.get("DynamoDB.DeleteItem"), Some(&1));
    assert_eq!(snapshot.get("DynamoDB.TransactWriteItems"), None);
}
