//! SQS consumer for outbound provisioning. Until that feature lands no message kind is known, so every message
//! is reported as a batch item failure: it is retried, then lands in the dead-letter queue rather
//! than being dropped as if it had been handled.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::queue_batch::{Outcome, process};
use shared::telemetry;

async fn handler(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    Ok(process(event.payload, |_message| async {
        Outcome::Retry("outbound provisioning is not implemented yet".to_string())
    })
    .await)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    run(service_fn(handler)).await
}
