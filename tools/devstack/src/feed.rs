//! The SQS event source mapping, locally: receive a batch, invoke the function with an SQS event
//! through `cargo lambda watch`'s Lambda invoke API, delete the messages it processed. Messages it
//! reports as batch item failures (or all of them, when the invocation fails) are left alone: they
//! come back after the visibility timeout, and the queue's redrive policy moves them to the
//! dead-letter queue after maxReceiveCount receives, as on AWS.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FeedError(String);

fn err(context: &str, e: impl std::fmt::Display) -> FeedError {
    FeedError(format!("{context}: {e}"))
}

#[derive(Debug, Clone)]
pub struct Feeder {
    pub sqs: aws_sdk_sqs::Client,
    pub http: reqwest::Client,
    pub queue_url: String,
    /// `http://127.0.0.1:9000/2015-03-31/functions/<name>/invocations`
    pub invoke_url: String,
    pub batch_size: i32,
    /// Overrides the queue's visibility timeout for received messages (shorter retries locally).
    pub visibility_timeout: Option<i32>,
    pub wait_seconds: i32,
}

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Polled {
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
}

impl Feeder {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: &str, invoke_base: &str, function: &str) -> Self {
        Feeder {
            sqs,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(900))
                .build()
                .unwrap_or_default(),
            queue_url: queue_url.to_string(),
            invoke_url: format!(
                "{}/2015-03-31/functions/{function}/invocations",
                invoke_base.trim_end_matches('/')
            ),
            batch_size: 10,
            visibility_timeout: None,
            wait_seconds: 2,
        }
    }

    /// Receives one batch (long polling) and hands it to the function.
    pub async fn poll_once(&self) -> Result<Polled, FeedError> {
        self.poll_with(|event| self.invoke(event)).await
    }

    /// Receives one batch and hands it to `handler` (the function over HTTP, or in process in
    /// the tests); deletes what it did not report as failed.
    pub async fn poll_with<F, Fut>(&self, handler: F) -> Result<Polled, FeedError>
    where
        F: FnOnce(SqsEvent) -> Fut,
        Fut: std::future::Future<Output = Result<SqsBatchResponse, FeedError>>,
    {
        let arn = crate::queues::queue_arn(&self.sqs, &self.queue_url)
            .await
            .map_err(FeedError)?;
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(self.wait_seconds)
            .set_visibility_timeout(self.visibility_timeout)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| err("receive", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(Polled::default());
        }
        let mut event = SqsEvent::default();
        let mut handles = HashMap::new();
        for message in &messages {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.receipt_handle = message.receipt_handle.clone();
            record.body = message.body.clone();
            record.md5_of_body = message.md5_of_body.clone();
            record.attributes = message
                .attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_string(), v))
                .collect();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(arn.clone());
            record.aws_region = Some("us-east-1".into());
            if let (Some(id), Some(handle)) = (&message.message_id, &message.receipt_handle) {
                handles.insert(id.clone(), handle.clone());
            }
            event.records.push(record);
        }
        let failed_ids = match handler(event).await {
            Ok(response) => response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "invocation failed; the whole batch will be retried");
                handles.keys().cloned().collect::<Vec<_>>()
            }
        };
        let entries: Vec<DeleteMessageBatchRequestEntry> = handles
            .iter()
            .filter(|(id, _)| !failed_ids.contains(id))
            .enumerate()
            .filter_map(|(i, (_, handle))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build()
                    .ok()
            })
            .collect();
        let deleted = entries.len();
        if !entries.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| err("delete", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        }
        Ok(Polled {
            received: messages.len(),
            deleted,
            failed: messages.len() - deleted,
        })
    }

    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, FeedError> {
        let response = self
            .http
            .post(&self.invoke_url)
            .json(&event)
            .send()
            .await
            .map_err(|e| err("invoke", e))?;
        let status = response.status();
        let function_error = response.headers().contains_key("x-amz-function-error");
        let body = response.text().await.map_err(|e| err("invoke response", e))?;
        if !status.is_success() || function_error {
            return Err(FeedError(format!("function answered {status}: {body}")));
        }
        serde_json::from_str(&body).map_err(|e| err("batch response", e))
    }
}
