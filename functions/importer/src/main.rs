//! Importer: one import page per SQS message (`provisio::import::importer`), plus the EventBridge
//! schedule tick that starts the imports that are due.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use provisio::import::importer::{Importer, Settings};
use provisio::queue_batch::Invocation;
use serde_json::{Value, json};

async fn handle(importer: &Importer, event: Value) -> Result<Value, Error> {
    match Invocation::from_event(event)? {
        Invocation::Batch(batch) => Ok(serde_json::to_value(importer.handle_batch(batch).await)?),
        Invocation::Tick => Ok(json!({ "started": importer.tick().await? })),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (config, clients) = provisio::aws::cold_start().await;
    let importer = Importer::new(&clients, &config, Settings::default());
    let importer = &importer;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(importer, event.payload).await
    }))
    .await
}
