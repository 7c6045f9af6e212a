//! SQS batch handling shared by the queue-driven functions. Both report failed messages as partial
//! batch failures (only they are redelivered, and after the queue's maxReceiveCount moved to the
//! dead-letter queue); before that, they set the message's visibility to their backoff.

use aws_lambda_events::sqs::{BatchItemFailure, SqsMessage};

/// Sets when a failed message comes back: the visibility timeout carries the backoff (at least a
/// second; the event source mapping leaves reported failures invisible for that long).
pub async fn delay(
    sqs: &aws_sdk_sqs::Client,
    queue_url: Option<&str>,
    message: &SqsMessage,
    after: std::time::Duration,
) {
    let (Some(queue), Some(handle)) = (queue_url, &message.receipt_handle) else {
        return;
    };
    let secs = i32::try_from(after.as_secs().max(1)).unwrap_or(i32::MAX);
    if let Err(e) = sqs
        .change_message_visibility()
        .queue_url(queue)
        .receipt_handle(handle)
        .visibility_timeout(secs)
        .send()
        .await
    {
        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "visibility change failed");
    }
}

/// How often the message has been received, this delivery included (SQS's
/// `ApproximateReceiveCount`; 1 when absent).
pub fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
}

/// The message reported as a partial batch failure: it comes back.
pub fn failure(message: &SqsMessage) -> BatchItemFailure {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = message.message_id.clone().unwrap_or_default();
    failure
}
