//! Outbound provisioning: SQS batches of change events in (each one the change event of an item
//! the table's stream carried, as the pipe delivers it), calls of custom provisioning apps out
//! (`provisio::outbound::dispatch`).

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use provisio::outbound::dispatch::{Dispatcher, Settings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Cold start: configuration, clients, HTTP client and caches are built once and reused.
    let (config, clients) = provisio::aws::cold_start().await;
    let dispatcher = Dispatcher::new(&clients, &config, Settings::from_env());
    let dispatcher = &dispatcher;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(dispatcher.handle_batch(event.payload).await)
    }))
    .await
}
