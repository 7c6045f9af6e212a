//! The dispatch dead-letter queue: messages the dispatcher gave up on, aimed at the one app that
//! failed, with the reason as message attributes; and the redrive that puts them back.

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, SendMessageBatchRequestEntry,
};
use serde::Serialize;

use crate::ids::AppId;

fn text(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

/// Reason attributes are cut to this length (SQS allows more; operators need the gist).
const MAX_REASON: usize = 1000;

/// Why a message could not be parked in the dead-letter queue (it is then retried instead).
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("no dead-letter queue configured")]
    NotConfigured,
    #[error("dead-letter queue: {0}")]
    Send(String),
}

pub async fn send(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    body: &str,
    app: Option<&AppId>,
    reason: &str,
) -> Result<(), DlqError> {
    let reason: String = reason.chars().take(MAX_REASON).collect();
    let mut request = sqs
        .send_message()
        .queue_url(dlq_url)
        .message_body(body)
        .set_message_attributes(None);
    if let Some(v) = text(&reason) {
        request = request.message_attributes("reason", v);
    }
    if let Some(v) = app.and_then(|a| text(a.as_str())) {
        request = request.message_attributes("appId", v);
    }
    if let Some(v) = text(&crate::timestamp::now()) {
        request = request.message_attributes("failedAt", v);
    }
    request
        .send()
        .await
        .map(|_| ())
        .map_err(|e| DlqError::Send(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Redriven {
    pub moved: usize,
    /// Messages seen but left in the dead-letter queue (another app's, when filtering).
    pub skipped: usize,
}

/// Moves up to `limit` messages (those of `app`, when given) from the dead-letter queue back to
/// the dispatch queue. Skipped messages stay invisible for a short while, so a call never sees
/// the same message twice.
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    queue_url: &str,
    app: Option<&AppId>,
    limit: usize,
) -> Result<Redriven, String> {
    let err = |e: String| format!("redrive: {e}");
    let mut result = Redriven::default();
    while result.moved < limit {
        let received = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(i32::try_from((limit - result.moved).min(10)).unwrap_or(10))
            .message_attribute_names("All")
            .visibility_timeout(30)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        let mut sends = Vec::new();
        let mut deletes = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let app_attr = message
                .message_attributes
                .as_ref()
                .and_then(|a| a.get("appId"))
                .and_then(|v| v.string_value.clone());
            if app.is_some_and(|a| app_attr.as_deref() != Some(a.as_str())) {
                result.skipped += 1;
                continue;
            }
            let (Some(body), Some(handle)) = (&message.body, &message.receipt_handle) else {
                continue;
            };
            sends.extend(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .ok(),
            );
            deletes.extend(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build()
                    .ok(),
            );
        }
        if sends.is_empty() {
            continue;
        }
        let out = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(sends))
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        // Only what reached the dispatch queue leaves the dead-letter queue.
        let sent: Vec<String> = out.successful.into_iter().map(|s| s.id).collect();
        let deletes: Vec<_> = deletes.into_iter().filter(|d| sent.contains(&d.id)).collect();
        result.moved += deletes.len();
        if !deletes.is_empty() {
            sqs.delete_message_batch()
                .queue_url(dlq_url)
                .set_entries(Some(deletes))
                .send()
                .await
                .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        }
    }
    Ok(result)
}

/// How many messages wait in the dead-letter queue (SQS's approximate count: one request).
pub async fn depth(sqs: &aws_sdk_sqs::Client, dlq_url: &str) -> Result<u64, DlqError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let out = sqs
        .get_queue_attributes()
        .queue_url(dlq_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map_err(|e| DlqError::Send(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
    Ok(out
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}
