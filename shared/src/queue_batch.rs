//! SQS batch handling shared by the queue-driven functions: every message gets an outcome, and
//! failed ones are reported as partial batch failures so only they are redelivered (and, after
//! the queue's maxReceiveCount, moved to the dead-letter queue).

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

/// What became of one message.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// Leave the message on the queue: it comes back after the visibility timeout.
    Retry(String),
}

/// Runs `handle` on every message of the batch and collects the failures.
pub async fn process<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if let Outcome::Retry(reason) = handle(message).await {
            tracing::warn!(message_id = %id, reason, "message not processed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
