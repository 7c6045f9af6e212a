//! Paginated import throughput and cost against the local stack: a source API on 127.0.0.1 with
//! 100 users a page, imported by the importer handler in process, fed one page per invocation
//! from the real import queue. Figures are printed, never asserted.
//!
//!   make bench                          (100,000 users over 1,000 pages)
//!   PROVISIO_BENCH_QUICK=1 make bench   (2,000 users over 20 pages; `cargo test` runs this too)

use std::time::{Duration, Instant};

use provisio_tests::TestEnv;
use provisio_tests::bench;
use serde_json::json;

const PER_PAGE: usize = 100;

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Users carrying a change event (each imported user's rides on it): a COUNT Query of the users'
/// listing.
async fn announced_count(env: &TestEnv) -> u64 {
    use aws_sdk_dynamodb::types::{AttributeValue, Select};
    let mut total = 0;
    {
        let mut start = None;
        loop {
            let out = env
                .clients
                .dynamodb
                .query()
                .table_name(&env.resources.config.table)
                .index_name(provisio::resources::GSI1.name)
                .key_condition_expression("#p = :p")
                .filter_expression("attribute_exists(#e)")
                .expression_attribute_names("#p", provisio::resources::GSI1.pk)
                .expression_attribute_names("#e", provisio::directory::change::EVENT_ATTR)
                .expression_attribute_values(
                    ":p",
                    AttributeValue::S(provisio::store::keys::LIST_USERS.into()),
                )
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("count the users carrying events");
            total += out.count as u64;
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
    }
    total
}

#[tokio::main]
async fn main() {
    provisio_tests::require_stack();
    let pages = if bench::quick() { 20 } else { 1000 };
    let users = pages * PER_PAGE;
    let env = TestEnv::new().await;
    let server = bench::paged_source(users, PER_PAGE).await;
    let app = env.app("source").await;
    let config = env
        .post(
            &format!("/admin/apps/{app}/import-configs"),
            json!({ "name": "bench", "request": { "method": "GET", "url": format!("{}/users?cursor=@Pagination", server.url) },
                    "usersPath": "data.users", "pagination": { "nextPath": "next" },
                    "mapping": { "externalId": "id", "email": "mail", "givenName": "first", "attributes": { "department": "dept" } } }),
        )
        .await;
    let import = config.body["id"].as_str().expect("import id").to_string();
    // The imported users' change events ride on them: nothing feeds the stream here.
    let config = env.resources.config.clone();
    let importer = provisio::import::importer::Importer::new(
        &env.clients,
        &config,
        provisio_tests::test_import_settings(),
    );
    let rss_before = peak_rss_mib();
    env.requests.reset();
    let started = Instant::now();
    let reply = env
        .post(
            &format!("/admin/apps/{app}/import-configs/{import}/runs"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let job = reply.body["id"].as_str().expect("job").to_string();
    let pumped = env.pump_imports(&importer, Duration::from_secs(3600)).await;
    let seconds = started.elapsed().as_secs_f64();
    let rss_growth = peak_rss_mib() - rss_before;
    let counts = env.requests.snapshot();
    let report = env.get(&format!("/admin/jobs/{job}")).await.body;
    assert_eq!(report["status"], "succeeded", "{report:#}");
    assert_eq!(report["created"], users, "{report:#}");

    let get = |k: &str| counts.get(k).copied().unwrap_or(0);
    let writes =
        get("DynamoDB.TransactWriteItems") + get("DynamoDB.BatchWriteItem") + get("DynamoDB.PutItem");
    let reads = get("DynamoDB.BatchGetItem") + get("DynamoDB.GetItem") + get("DynamoDB.Query");
    let announced = announced_count(&env).await;
    println!("Paginated import: {users} users over {pages} pages of {PER_PAGE}, one page per invocation");
    println!(
        "| users/s handler | users/s pump | DynamoDB writes/user | DynamoDB reads/user | page messages/page | users with events | peak RSS growth |"
    );
    println!(
        "|-----------------|--------------|----------------------|---------------------|--------------------|-------------------|-----------------|"
    );
    println!(
        "| {:>15.0} | {:>12.0} | {:>20.3} | {:>19.3} | {:>18.2} | {:>17} | {:>11.1} MiB |",
        users as f64 / pumped.handler.as_secs_f64(),
        users as f64 / seconds,
        writes as f64 / users as f64,
        reads as f64 / users as f64,
        get("SQS.SendMessage") as f64 / pages as f64,
        announced,
        rss_growth,
    );
    println!(
        "({} TransactWriteItems of up to 100 items: the user carrying its change event, and its 3 guards; \
         the stream carries the events on; peak RSS of the whole bench process {:.0} MiB)",
        get("DynamoDB.TransactWriteItems"),
        peak_rss_mib()
    );
}
