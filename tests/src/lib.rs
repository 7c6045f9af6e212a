//! Test harness: each test gets its own table, queues and admin key on the local AWS stack
//! (started by `scripts/stack.sh`, which `make test` wraps around `cargo test`), and calls the
//! real handlers with API Gateway events, in process, as Lambda would.

pub mod bench;
/// The sample apps live with the dev tools (`make demo` uses them too).
pub use devstack::sample_app as fake_app;
pub mod scim_peers;
pub mod watch;

use std::collections::HashMap;

use devstack::bootstrap::{LocalResources, bootstrap};
use provisio::admin_api::AdminApi;
use provisio::aws::{AwsClients, load_sdk_config};
use provisio::connector::delivery::Timeouts;
use provisio::import::importer::{Importer, Settings as ImportSettings};
use provisio::outbound::dispatch::{Dispatcher, Settings};
use provisio::request_count::RequestCounter;
use provisio::scim::ScimApi;
use provisio::store::Store;
use serde_json::{Value, json};

/// A path in the repository. Read from the environment cargo gives the running test, not baked in
/// at build time: the build cache is shared between checkouts (CI's clone and a working copy), and
/// a binary cargo found fresh may have been compiled in the other one.
pub fn repo_path(relative: &str) -> std::path::PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    manifest_dir.join("..").join(relative)
}

/// Fails fast, with the fix, when the tests run without the local stack.
pub fn require_stack() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "the local AWS stack is not running: use `make test`, or `scripts/stack.sh run cargo test`"
    );
}

pub struct TestEnv {
    pub sdk: aws_config::SdkConfig,
    pub clients: AwsClients,
    /// The table's stream to the dispatch queue, as the deployed pipe carries it; fed by
    /// [`TestEnv::feed_stream`] (and so by every pump), on clients the request counter doesn't see.
    pub stream: tokio::sync::Mutex<devstack::stream::StreamFeeder>,
    pub resources: LocalResources,
    pub api: AdminApi,
    pub scim: ScimApi,
    /// Counts every AWS request the clients send.
    pub requests: RequestCounter,
}

/// A stream feeder of a test stack on fresh state (it knows only the checkpoints in the table),
/// on clients the request counter doesn't see.
fn stream_feeder(sdk: &aws_config::SdkConfig, resources: &LocalResources) -> devstack::stream::StreamFeeder {
    devstack::stream::StreamFeeder::new(
        &AwsClients::new(sdk, None),
        devstack::stream::StreamFeeder::streams_client(sdk),
        &resources.config.table,
        &resources.queue_urls["dispatch"],
    )
}

/// What a handler answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The `field` member of a problem body.
    pub fn field(&self) -> Option<&str> {
        self.body["field"].as_str()
    }
}

/// One request to the admin API.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Option<String>,
    pub headers: Vec<(String, String)>,
    /// `None`: send the test stack's admin key. `Some("")`: send no Authorization header.
    pub key: Option<String>,
}

impl Call {
    pub fn new(method: &str, path: &str) -> Self {
        Call {
            method: method.into(),
            path: path.into(),
            body: None,
            headers: Vec::new(),
            key: None,
        }
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self
    }

    pub fn raw(mut self, body: &str) -> Self {
        self.body = Some(body.to_string());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl TestEnv {
    pub async fn new() -> Self {
        require_stack();
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let requests = RequestCounter::new();
        let sdk = load_sdk_config().await;
        let clients = AwsClients::new(&sdk, Some(&requests));
        let resources = bootstrap(&clients, &prefix)
            .await
            .expect("bootstrap the test stack");
        let api = AdminApi::new(&clients, &resources.config);
        let scim = ScimApi::new(Store::new(clients.dynamodb.clone(), &resources.config.table));
        let stream = stream_feeder(&sdk, &resources);
        requests.reset();
        TestEnv {
            stream: tokio::sync::Mutex::new(stream),
            sdk,
            clients,
            resources,
            api,
            scim,
            requests,
        }
    }

    pub async fn call(&self, call: Call) -> Reply {
        let request = lambda_http::request::from_str(&api_gateway_event(&call, &self.resources.admin_key))
            .expect("a valid API Gateway event");
        to_reply(self.api.handle(request).await)
    }

    /// A SCIM request; `call.key` is the SCIM bearer token (`""` for none).
    pub async fn scim_call(&self, scim: &ScimApi, call: Call) -> Reply {
        let request =
            lambda_http::request::from_str(&api_gateway_event(&call, "")).expect("a valid API Gateway event");
        to_reply(scim.handle(request).await)
    }

    /// Creates a SCIM client app; returns its id and token.
    pub async fn scim_app(&self, name: &str) -> (String, String) {
        let reply = self
            .post("/admin/apps", json!({ "name": name, "kind": "scim_client" }))
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let id = reply.body["id"].as_str().expect("id").to_string();
        let token = reply.body["scim"]["token"]
            .as_str()
            .expect("a SCIM token")
            .to_string();
        (id, token)
    }
}

fn to_reply(response: lambda_http::Response<lambda_http::Body>) -> Reply {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
        lambda_http::Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    Reply {
        status,
        headers,
        body,
    }
}

impl TestEnv {
    pub async fn get(&self, path: &str) -> Reply {
        self.call(Call::new("GET", path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Call::new("POST", path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Call::new("PATCH", path).json(body)).await
    }

    pub async fn put(&self, path: &str) -> Reply {
        self.call(Call::new("PUT", path)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Call::new("DELETE", path)).await
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, user_name: &str) -> String {
        let reply = self
            .post(
                "/admin/users",
                json!({ "userName": user_name, "email": format!("{user_name}@example.com") }),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        reply.body["id"].as_str().expect("id").to_string()
    }

    /// Creates a user of `fields` (a userName among them) who joins `group`; its id.
    pub async fn member_of(&self, group: &str, fields: Value) -> String {
        let reply = self.post("/admin/users", fields).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let id = reply.body["id"].as_str().expect("id").to_string();
        let joined = self.put(&format!("/admin/groups/{group}/members/{id}")).await;
        assert_eq!(joined.status, 201, "{:?}", joined.body);
        id
    }

    pub async fn group(&self, name: &str) -> String {
        let reply = self.post("/admin/groups", json!({ "name": name })).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        reply.body["id"].as_str().expect("id").to_string()
    }

    pub async fn app(&self, name: &str) -> String {
        let reply = self
            .post(
                "/admin/apps",
                json!({ "name": name, "kind": "custom_provisioning" }),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        reply.body["id"].as_str().expect("id").to_string()
    }

    /// Number of directory items in the test's table (outbox events aside): proves that a refused
    /// request wrote nothing.
    pub async fn item_count(&self) -> usize {
        self.items().await.iter().filter(|i| !is_outbox(i)).count()
    }

    /// Every item of the test's table, as debug text: to prove a secret is nowhere in it.
    pub async fn table_dump(&self) -> String {
        format!("{:?}", self.items().await)
    }

    /// Marks a group as claimed for deletion, the way a group delete that stopped after its claim
    /// (a timeout) leaves it: `deleting` set, the version moved on.
    pub async fn claim_group_for_deletion(&self, group: &str) {
        use aws_sdk_dynamodb::types::AttributeValue as V;
        self.clients
            .dynamodb
            .update_item()
            .table_name(&self.resources.config.table)
            .key("pk", V::S(format!("GROUP#{group}")))
            .key("sk", V::S("PROFILE".into()))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET deleting = :t ADD version :one")
            .expression_attribute_values(":t", V::Bool(true))
            .expression_attribute_values(":one", V::N("1".into()))
            .send()
            .await
            .expect("claim");
    }

    /// The change events the table announced (what its stream holds and the pipe would pass:
    /// events riding on users, and outbox items), oldest first.
    pub async fn changes(&self) -> Vec<Value> {
        let messages = self.stream.lock().await.history().await.expect("read the stream");
        let mut events: Vec<Value> = messages
            .iter()
            .map(|m| {
                let message: Value = serde_json::from_str(m).expect("a JSON message");
                let event =
                    provisio::directory::change_stream::from_stream_record(&message).expect("a change event");
                serde_json::to_value(event).expect("an event as JSON")
            })
            .collect();
        // Times, then ids (UUID v7: time-ordered within a millisecond).
        events
            .sort_by(|a, b| (a["at"].as_str(), a["id"].as_str()).cmp(&(b["at"].as_str(), b["id"].as_str())));
        events
    }

    /// One item of the test's table by key, read strongly.
    pub async fn raw_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        self.clients
            .dynamodb
            .get_item()
            .table_name(&self.resources.config.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
    }

    /// The items of one partition, read strongly.
    pub async fn raw_items(&self, pk: &str) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.clients
            .dynamodb
            .query()
            .table_name(&self.resources.config.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("query")
            .items
            .unwrap_or_default()
    }

    /// Puts a partition back as [`TestEnv::raw_items`] read it: items added since are deleted.
    pub async fn restore_items(
        &self,
        pk: &str,
        saved: Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
    ) {
        let table = &self.resources.config.table;
        for item in self.raw_items(pk).await {
            self.clients
                .dynamodb
                .delete_item()
                .table_name(table)
                .key("pk", item["pk"].clone())
                .key("sk", item["sk"].clone())
                .send()
                .await
                .expect("delete");
        }
        for item in saved {
            self.clients
                .dynamodb
                .put_item()
                .table_name(table)
                .set_item(Some(item))
                .send()
                .await
                .expect("put");
        }
    }

    async fn items(&self) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .clients
                .dynamodb
                .scan()
                .table_name(&self.resources.config.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return items,
            }
        }
    }
}

fn is_outbox(item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> bool {
    matches!(item.get("pk"), Some(aws_sdk_dynamodb::types::AttributeValue::S(pk)) if pk.starts_with("OUTBOX#"))
}

/// An API Gateway HTTP API (payload 2.0) event, as Lambda hands it to the function.
pub fn api_gateway_event(call: &Call, admin_key: &str) -> String {
    let (path, query) = call.path.split_once('?').unwrap_or((&call.path, ""));
    let mut headers = serde_json::Map::new();
    headers.insert("content-type".into(), json!("application/json"));
    match call.key.as_deref() {
        None => {
            headers.insert("authorization".into(), json!(format!("Bearer {admin_key}")));
        }
        Some("") => {}
        Some(key) => {
            headers.insert("authorization".into(), json!(format!("Bearer {key}")));
        }
    }
    for (name, value) in &call.headers {
        headers.insert(name.to_lowercase(), json!(value));
    }
    let mut query_map = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query_map.insert(k.into(), json!(v));
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": query_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": call.method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "provisio-tests"
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "body": call.body,
        "isBase64Encoded": false
    })
    .to_string()
}

/// A SCIM client app's view of the SCIM API: its base path and token.
pub struct ScimClient<'a> {
    pub env: &'a TestEnv,
    pub app: String,
    pub token: String,
}

impl<'a> ScimClient<'a> {
    /// Creates a SCIM client app through the admin API.
    pub async fn new(env: &'a TestEnv, name: &str) -> Self {
        let (app, token) = env.scim_app(name).await;
        ScimClient { env, app, token }
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/scim/v2/{}{rest}", self.app)
    }

    pub async fn send(&self, method: &str, rest: &str, body: Option<Value>) -> Reply {
        let mut call = Call::new(method, &self.path(rest)).key(&self.token);
        if let Some(body) = body {
            call = call.json(body);
        }
        self.env.scim_call(&self.env.scim, call).await
    }

    /// A PATCH of a group with these operations.
    pub async fn patch_group(&self, group: &str, operations: Value) -> Reply {
        let body =
            json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations });
        self.send("PATCH", &format!("/Groups/{group}"), Some(body)).await
    }

    /// Creates a user over SCIM and returns its id.
    pub async fn user(&self, user_name: &str) -> String {
        let reply = self
            .send("POST", "/Users", Some(json!({ "userName": user_name })))
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        reply.body["id"].as_str().expect("id").to_string()
    }
}

/// Percent-encodes a query parameter value (a SCIM filter).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What a pump did: messages handed to the dispatcher, and the time the dispatcher spent on them
/// (the local queue's own latency aside).
#[derive(Debug, Default, Clone, Copy)]
pub struct Pumped {
    /// Messages the stream feeder sent to the queue meanwhile (change events, as the pipe would).
    pub fed: usize,
    pub handled: usize,
    pub handler: std::time::Duration,
}

/// Dispatcher settings for tests: quick retries and timeouts. The
/// configuration caches stay on, as deployed (they are checked against the configuration version).
pub fn test_dispatch_settings() -> Settings {
    Settings {
        retry_base: std::time::Duration::from_secs(1),
        // Tests give up soon (one sets more to ride out an outage).
        max_attempts: 5,
        timeouts: Timeouts {
            connect: std::time::Duration::from_secs(1),
            total: std::time::Duration::from_secs(5),
        },
        ..Settings::default()
    }
}

impl TestEnv {
    /// A dispatcher on this stack, run in process.
    pub fn dispatcher(&self) -> Dispatcher {
        self.dispatcher_with(test_dispatch_settings())
    }

    pub fn dispatcher_with(&self, settings: Settings) -> Dispatcher {
        Dispatcher::new(&self.clients, &self.resources.config, settings)
    }

    fn queue_url(&self, dlq: bool) -> String {
        let urls = if dlq {
            &self.resources.dlq_urls
        } else {
            &self.resources.queue_urls
        };
        urls.get("dispatch").expect("dispatch queue").clone()
    }

    /// A new feeder of this stack's stream, as a newly started `devstack stream` (or the pipe
    /// after a restart) would be.
    pub fn new_stream_feeder(&self) -> devstack::stream::StreamFeeder {
        stream_feeder(&self.sdk, &self.resources)
    }

    /// Carries what the table's stream holds now to the dispatch queue, as the pipe does.
    /// Returns the messages sent.
    pub async fn feed_stream(&self) -> usize {
        self.stream.lock().await.drain().await.expect("feed the stream")
    }

    /// Feeds the table's stream to the dispatch queue and the queue to `dispatcher` the way
    /// Lambda's event source mapping does, until both are empty (retried messages included) or
    /// `limit` has passed. The stream is fed a pass at a time (up to 1,000 records a shard), so
    /// the local queue never holds a whole import's events (moto slows down with its depth).
    pub async fn pump(&self, dispatcher: &Dispatcher, limit: std::time::Duration) -> Pumped {
        let queue = self.queue_url(false);
        let deadline = std::time::Instant::now() + limit;
        let mut total = Pumped::default();
        loop {
            let fed = self.stream.lock().await.poll(1).await.expect("feed the stream");
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let pumped = self
                .pump_queue(&queue, 10, left, |event| dispatcher.handle_batch(event))
                .await;
            total.handled += pumped.handled;
            total.handler += pumped.handler;
            total.fed += fed.sent;
            let idle = fed.read == 0 && fed.failed_reads == 0 && pumped.handled == 0;
            if idle || left.is_zero() {
                return total;
            }
        }
    }

    /// One receive of up to `batch` messages handed to `dispatcher`, as one Lambda invocation:
    /// lets a test interleave directory changes with dispatch. Returns the messages handled.
    pub async fn pump_once(&self, dispatcher: &Dispatcher, batch: i32) -> usize {
        self.feed_stream().await;
        let mut feeder =
            devstack::feed::Feeder::new(self.clients.sqs.clone(), &self.queue_url(false), "", "");
        feeder.wait_seconds = 0;
        feeder.batch_size = batch;
        feeder
            .poll_with(|event| async { Ok(dispatcher.handle_batch(event).await) })
            .await
            .expect("poll the queue")
            .received
    }

    /// The same for the import queue and an importer (one page per invocation).
    pub async fn pump_imports(&self, importer: &Importer, limit: std::time::Duration) -> Pumped {
        let queue = self.resources.queue_urls["import"].clone();
        self.pump_queue(&queue, 1, limit, |event| importer.handle_batch(event))
            .await
    }

    async fn pump_queue<F, Fut>(
        &self,
        queue: &str,
        batch: i32,
        limit: std::time::Duration,
        handle: F,
    ) -> Pumped
    where
        F: Fn(aws_lambda_events::sqs::SqsEvent) -> Fut,
        Fut: std::future::Future<Output = aws_lambda_events::sqs::SqsBatchResponse>,
    {
        let mut feeder = devstack::feed::Feeder::new(self.clients.sqs.clone(), queue, "", "");
        feeder.wait_seconds = 0;
        feeder.batch_size = batch;
        let deadline = std::time::Instant::now() + limit;
        let mut pumped = Pumped::default();
        while std::time::Instant::now() < deadline {
            let polled = feeder
                .poll_with(|event| async {
                    let started = std::time::Instant::now();
                    let response = handle(event).await;
                    pumped.handler += started.elapsed();
                    Ok(response)
                })
                .await
                .expect("poll the queue");
            pumped.handled += polled.received;
            if polled.received == 0 {
                if depth(&self.clients.sqs, queue).await == 0 {
                    return pumped;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
        pumped
    }

    /// Visible plus in-flight messages of the dispatch queue (or its dead-letter queue), once
    /// the stream has been fed to it.
    pub async fn queue_depth(&self, dlq: bool) -> u64 {
        self.feed_stream().await;
        depth(&self.clients.sqs, &self.queue_url(dlq)).await
    }

    /// The dead-letter queue's messages: body and `reason` attribute. They stay in the queue
    /// (visible again after a second).
    pub async fn dead_letters(&self) -> Vec<(Value, String)> {
        let out = self
            .clients
            .sqs
            .receive_message()
            .queue_url(self.queue_url(true))
            .max_number_of_messages(10)
            .visibility_timeout(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive from the dead-letter queue");
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let reason = m
                    .message_attributes
                    .as_ref()
                    .and_then(|a| a.get("reason"))
                    .and_then(|v| v.string_value.clone())
                    .unwrap_or_default();
                (
                    serde_json::from_str(m.body.as_deref().unwrap_or("null")).unwrap_or(Value::Null),
                    reason,
                )
            })
            .collect()
    }

    /// A custom provisioning app in scope of `group` through an app login policy.
    pub async fn outbound_app(&self, name: &str, group: &str) -> String {
        let app = self.app(name).await;
        let reply = self
            .post(
                "/admin/policies",
                json!({ "name": format!("{name} policy"), "appId": app, "groupId": group,
                        "firstFactor": "password" }),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        app
    }
}

/// Visible, in-flight and delayed messages of a queue.
pub async fn depth(sqs: &aws_sdk_sqs::Client, queue: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("queue attributes");
    out.attributes
        .unwrap_or_default()
        .values()
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}

/// Importer settings for tests: quick retries.
pub fn test_import_settings() -> ImportSettings {
    ImportSettings {
        retry_base: std::time::Duration::from_secs(1),
        timeouts: Timeouts {
            connect: std::time::Duration::from_secs(1),
            total: std::time::Duration::from_secs(5),
        },
        ..ImportSettings::default()
    }
}

impl TestEnv {
    pub fn importer(&self) -> Importer {
        Importer::new(&self.clients, &self.resources.config, test_import_settings())
    }
}

impl TestEnv {
    /// Every page of an admin listing (`items`, followed through `nextCursor`).
    pub async fn list_all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit=200&cursor={}", encode(c)),
                None => format!("{path}{sep}limit=200"),
            };
            let reply = self.get(&url).await;
            assert_eq!(reply.status, 200, "{url}: {:?}", reply.body);
            items.extend(reply.body["items"].as_array().cloned().unwrap_or_default());
            match reply.body["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return items,
            }
        }
    }

    /// The users in a custom provisioning app's scope whose provisioning log has nothing about that
    /// app: no successful call, no failure with its error, no skip with its reason (issue 18: no
    /// one is silently left out). Each as "user <id> in scope of app <id>"; empty when none is.
    pub async fn silent_in_scope(&self) -> Vec<String> {
        let mut silent = Vec::new();
        for policy in self.list_all("/admin/policies").await {
            let app = policy["appId"].as_str().unwrap_or_default();
            let group = policy["groupId"].as_str().unwrap_or_default();
            if self.get(&format!("/admin/apps/{app}")).await.body["kind"] != "custom_provisioning" {
                continue;
            }
            for member in self.list_all(&format!("/admin/groups/{group}/members")).await {
                let user = member["userId"].as_str().unwrap_or_default();
                let log = self
                    .list_all(&format!("/admin/users/{user}/provisioning-log"))
                    .await;
                let explained = log.iter().filter(|e| e["appId"] == app).any(|e| {
                    let text = |field: &str| e[field].as_str().is_some_and(|t| !t.is_empty());
                    match e["outcome"].as_str() {
                        Some("succeeded") => true,
                        Some("failed") => text("error"),
                        Some("skipped") => text("reason"),
                        _ => false,
                    }
                });
                if !explained {
                    silent.push(format!("user {user} in scope of app {app}"));
                }
            }
        }
        silent
    }
}
