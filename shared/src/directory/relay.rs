//! The outbox relay. A writer that committed change events sends them to the dispatch queue at
//! once and deletes them from the outbox; if it dies in between (or SQS is unreachable), the
//! sweeper, run every minute by the dispatcher's schedule, sends what is older than a grace
//! period. An event may so be sent twice; the dispatcher reconciles state, so that is harmless.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::directory::change::{ChangeEvent, OUTBOX_SHARDS};
use crate::store::item::{from_item, s};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("send to the dispatch queue: {0}")]
    Send(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone)]
pub struct Relay {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

/// Largest SendMessageBatch.
const SQS_BATCH: usize = 10;
/// Events the sweeper moves per shard and tick; the rest wait for the next tick.
const SWEEP_PER_SHARD: i32 = 500;

impl Relay {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Relay {
            sqs,
            queue_url: queue_url.into(),
        }
    }

    /// The relay to the configured dispatch queue; none without one (events wait in the outbox).
    pub fn configured(clients: &crate::aws::AwsClients, config: &crate::config::Config) -> Option<Self> {
        config
            .dispatch_queue_url
            .as_ref()
            .map(|url| Relay::new(clients.sqs.clone(), url))
    }

    /// Sends events and deletes the sent ones from the outbox. Returns how many were sent.
    pub async fn publish(&self, store: &Store, events: &[ChangeEvent]) -> Result<usize, RelayError> {
        let mut sent_keys = Vec::new();
        for chunk in events.chunks(SQS_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, event)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(event).unwrap_or_default())
                        .build()
                        .ok()
                })
                .collect();
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| RelayError::Send(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
            for ok in out.successful {
                if let Some(event) = ok.id.parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    sent_keys.push(event.keys().primary());
                }
            }
        }
        let sent = sent_keys.len();
        store.batch_delete(sent_keys).await?;
        Ok(sent)
    }

    /// Sends the outbox events older than `grace`, shard by shard. Returns how many were sent.
    pub async fn sweep(&self, store: &Store, grace: Duration) -> Result<usize, RelayError> {
        let cutoff = time::OffsetDateTime::now_utc() - grace;
        // Sort keys are `<at>#<id>`: `~` sorts after `#`, so the cutoff's own second is included.
        let cutoff = format!("{}~", crate::timestamp::format(cutoff));
        let mut sent = 0;
        for shard in 0..OUTBOX_SHARDS {
            let out = store
                .client
                .query()
                .table_name(&store.table)
                .key_condition_expression("pk = :pk AND sk < :cutoff")
                .expression_attribute_values(":pk", s(format!("OUTBOX#{shard:02}")))
                .expression_attribute_values(":cutoff", AttributeValue::S(cutoff.clone()))
                .limit(SWEEP_PER_SHARD)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("Query", e))?;
            let events = out
                .items
                .unwrap_or_default()
                .into_iter()
                .map(from_item::<ChangeEvent>)
                .collect::<Result<Vec<_>, _>>()?;
            if !events.is_empty() {
                sent += self.publish(store, &events).await?;
            }
        }
        Ok(sent)
    }
}
