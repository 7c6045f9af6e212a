//! Outbound provisioning: SQS batches of change events in, calls of custom provisioning apps
//! out (`provisio::outbound::dispatch`). The same function runs the outbox sweeper on its
//! EventBridge schedule.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use provisio::outbound::dispatch::{Dispatcher, Settings};
use provisio::queue_batch::Invocation;
use serde_json::{Value, json};

async fn handle(dispatcher: &Dispatcher, event: Value) -> Result<Value, Error> {
    match Invocation::from_event(event)? {
        Invocation::Batch(batch) => Ok(serde_json::to_value(dispatcher.handle_batch(batch).await)?),
        Invocation::Tick => {
            let sent = dispatcher.sweep().await?;
            tracing::info!(sent, "outbox swept");
            Ok(json!({ "swept": sent }))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Cold start: configuration, clients, HTTP client and caches are built once and reused.
    let (config, clients) = provisio::aws::cold_start().await;
    let dispatcher = Dispatcher::new(&clients, &config, Settings::from_env());
    let dispatcher = &dispatcher;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(dispatcher, event.payload).await
    }))
    .await
}
