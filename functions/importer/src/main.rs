//! Importer: one import page per SQS message (`shared::import::importer`), plus the EventBridge
//! schedule tick that starts the imports that are due.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};
use shared::aws::AwsClients;
use shared::config::Config;
use shared::import::importer::{Importer, Settings};
use shared::telemetry;

async fn handle(importer: &Importer, event: Value) -> Result<Value, Error> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)?;
        return Ok(serde_json::to_value(importer.handle_batch(batch).await)?);
    }
    let started = importer.tick().await?;
    Ok(json!({ "started": started }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env();
    let clients = AwsClients::from_env().await;
    let importer = Importer::new(&clients, &config, Settings::default());
    let importer = &importer;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(importer, event.payload).await
    }))
    .await
}
