//! What the queue-driven functions (dispatcher, importer) share: what they are invoked with, and
//! one driver for an SQS batch. Failed messages are reported as partial batch failures (only they
//! are redelivered, and after the queue's maxReceiveCount moved to the dead-letter queue); before
//! that, the driver sets the message's visibility to the consumer's backoff.

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use serde::de::DeserializeOwned;

/// What a queue-driven function is invoked with: a batch from its event source mapping, or its
/// EventBridge schedule's tick (any other event).
#[derive(Debug)]
pub enum Invocation {
    Batch(SqsEvent),
    Tick,
}

impl Invocation {
    /// An event with `Records` must be an SQS batch (an error otherwise, never a tick).
    pub fn from_event(event: serde_json::Value) -> Result<Self, serde_json::Error> {
        if event.get("Records").is_some() {
            Ok(Invocation::Batch(serde_json::from_value(event)?))
        } else {
            Ok(Invocation::Tick)
        }
    }
}

/// One message as its consumer gets it: the body parsed (or why not), and how often the message
/// has been received, this delivery included.
pub struct Received<T> {
    pub message: SqsMessage,
    pub body: Result<T, serde_json::Error>,
    pub receives: u32,
}

/// What handling one message came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Done,
    /// Comes back after this (its visibility timeout is set to it).
    RetryAfter(Duration),
    /// Comes back when its visibility timeout, as it stands, runs out.
    Redeliver,
}

/// The queue a batch came from.
pub struct Queue<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    pub url: Option<&'a str>,
}

impl Queue<'_> {
    /// Runs `handle` over a batch: messages with the same `order` key one after another, different
    /// keys up to `concurrency` at once. Messages handled as anything but done are reported.
    pub async fn drive<T, K, H, F>(
        &self,
        event: SqsEvent,
        concurrency: usize,
        order: K,
        handle: H,
    ) -> SqsBatchResponse
    where
        T: DeserializeOwned,
        K: Fn(&Received<T>) -> String,
        H: Fn(Received<T>) -> F,
        F: Future<Output = Handled>,
    {
        let mut groups: Vec<(String, Vec<Received<T>>)> = Vec::new();
        for message in event.records {
            let received = Received {
                body: serde_json::from_str(message.body.as_deref().unwrap_or_default()),
                receives: receive_count(&message),
                message,
            };
            let key = order(&received);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, group)) => group.push(received),
                None => groups.push((key, vec![received])),
            }
        }
        let handle = &handle;
        let failures: Vec<Vec<BatchItemFailure>> = futures::stream::iter(groups)
            .map(|(_, group)| async move {
                let mut failures = Vec::new();
                for received in group {
                    let message = received.message.clone();
                    match handle(received).await {
                        Handled::Done => {}
                        Handled::RetryAfter(after) => {
                            delay(self.sqs, self.url, &message, after).await;
                            failures.push(failure(&message));
                        }
                        Handled::Redeliver => failures.push(failure(&message)),
                    }
                }
                failures
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures.into_iter().flatten().collect();
        response
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_with_records_is_a_batch_or_an_error_never_a_tick() {
        let batch = serde_json::json!({ "Records": [{ "messageId": "m1", "body": "{}" }] });
        assert!(matches!(Invocation::from_event(batch), Ok(Invocation::Batch(b)) if b.records.len() == 1));
        let tick =
            serde_json::json!({ "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {} });
        assert!(matches!(Invocation::from_event(tick), Ok(Invocation::Tick)));
        let broken = serde_json::json!({ "Records": "not a list" });
        assert!(Invocation::from_event(broken).is_err());
    }
}
