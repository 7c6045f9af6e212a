//! Outbound provisioning: SQS batches of change events in, calls of custom provisioning apps
//! out (`shared::outbound::dispatch`). The same function runs the outbox sweeper on its
//! EventBridge schedule.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::aws::AwsClients;
use shared::config::Config;
use shared::outbound::dispatch::{Dispatcher, Settings};
use shared::telemetry;

async fn handle(dispatcher: &Dispatcher, event: Value) -> Result<Value, Error> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)?;
        let response: SqsBatchResponse = dispatcher.handle_batch(batch).await;
        return Ok(serde_json::to_value(response)?);
    }
    // Anything else is the schedule's tick.
    let sent = dispatcher.sweep().await?;
    tracing::info!(sent, "outbox swept");
    Ok(serde_json::json!({ "swept": sent }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Cold start: configuration, clients, HTTP client and caches are built once and reused.
    let config = Config::from_env();
    let clients = AwsClients::from_env().await;
    let dispatcher = Dispatcher::new(&clients, &config, Settings::from_env());
    let dispatcher = &dispatcher;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(dispatcher, event.payload).await
    }))
    .await
}
