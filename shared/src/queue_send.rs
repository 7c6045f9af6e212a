//! Sending many messages to one queue: ten per SendMessageBatch, and every one taken or an error.
//! A caller that sends again after an error sends some messages twice; Provisio's consumers take
//! duplicates in their stride (dispatch reconciles state).

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

/// Largest SendMessageBatch.
const BATCH: usize = 10;

pub async fn send_all<B: AsRef<str>>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    bodies: &[B],
) -> Result<(), String> {
    for chunk in bodies.chunks(BATCH) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body.as_ref())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        if let Some(failed) = out.failed.first() {
            return Err(format!(
                "{} of {} messages refused: {}",
                out.failed.len(),
                chunk.len(),
                failed.message.as_deref().unwrap_or(&failed.code)
            ));
        }
    }
    Ok(())
}
