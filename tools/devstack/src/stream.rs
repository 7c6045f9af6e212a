//! The EventBridge Pipe, locally: reads the table's stream (DynamoDB Local serves the Streams API)
//! and sends the change event of every item written with one (a user carrying its own,
//! an outbox item) to the dispatch queue, one message each, as the deployed pipe does with its
//! filter and input template. Progress is checkpointed per shard in the table itself
//! (`STREAMFEED` / `<shard id>`) after the queue took the records, so a feeder stopped at any
//! point and started again goes on where it stopped: nothing is lost, and what was sent but not
//! yet checkpointed is sent again (the dispatcher makes that harmless).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue as TableValue;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
// The deployed pipe's filter: items written with this attribute.
use provisio::directory::change::EVENT_ATTR;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StreamError(String);

fn err(context: &str, e: impl std::fmt::Display) -> StreamError {
    StreamError(format!("{context}: {e}"))
}

const CHECKPOINT_PK: &str = "STREAMFEED";
/// A shard's id and its parent's.
type Shard = (String, Option<String>);
/// How long a described shard list is used before it is described again.
const SHARDS_FRESH: Duration = Duration::from_secs(5);
/// The pause of [`StreamFeeder::run`] after a pass that read something, as the deployed pipe
/// reads a shard about four times a second. Not shorter: DynamoDB Local runs every request of
/// every table on one SQLite thread, and a GetRecords there costs it more the more the stream
/// holds (28 ms after `make bench` seeded 10,000 users, against 1 ms on a fresh stream): polling
/// every 50 ms took 37% of that thread with nothing to read, and every SCIM call waited behind it
/// (GET at 10,000 users in one run: 582/s with the feeder polling so, 826/s with it stopped; and
/// `make bench` before and after this pace: 565/s and 902/s).
const PACE: Duration = Duration::from_millis(250);
/// After passes that read nothing the pause doubles up to this: an idle stack costs DynamoDB
/// Local one read a second, and the first event after a quiet spell waits at most this long.
const IDLE_MAX: Duration = Duration::from_secs(1);

pub struct StreamFeeder {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub table: String,
    pub queue_url: String,
    http: reqwest::Client,
    /// DynamoDB Local's address, for GetRecords (read once).
    endpoint: Option<String>,
    /// Records read per GetRecords call (the pipe's batch size is 10 per SendMessageBatch).
    pub batch: i32,
    stream_arn: Option<String>,
    /// The stream's shards with their parents, as last described, and when; described again
    /// after a shard ends (its children appear then) or when older than [`SHARDS_FRESH`].
    shards: Option<(Instant, Vec<Shard>)>,
    /// Open iterators by shard; a shard absent here starts from its checkpoint.
    iterators: HashMap<String, String>,
    /// Shards read to their end (closed by DynamoDB, fully sent).
    finished: HashSet<String>,
}

/// What one pass over the shards did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Stream records read (every item change, not only those carrying change events).
    pub read: usize,
    /// Messages sent to the queue.
    pub sent: usize,
    /// GetRecords calls that failed (an expired iterator: the shard is read again from its
    /// checkpoint).
    pub failed_reads: usize,
    /// Shards found read to their end (closed): their children are readable from the next pass.
    pub ended: usize,
}

impl StreamFeeder {
    pub fn new(
        clients: &provisio::aws::AwsClients,
        streams: aws_sdk_dynamodbstreams::Client,
        table: &str,
        queue_url: &str,
    ) -> Self {
        StreamFeeder {
            dynamodb: clients.dynamodb.clone(),
            streams,
            sqs: clients.sqs.clone(),
            table: table.to_string(),
            queue_url: queue_url.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            endpoint: std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok(),
            batch: 1000,
            stream_arn: None,
            shards: None,
            iterators: HashMap::new(),
            finished: HashSet::new(),
        }
    }

    /// A Streams client on the same endpoint as DynamoDB (DynamoDB Local serves both).
    pub fn streams_client(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodbstreams::Client {
        let mut builder = aws_sdk_dynamodbstreams::config::Builder::from(sdk);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
            builder = builder.endpoint_url(endpoint);
        }
        aws_sdk_dynamodbstreams::Client::from_conf(builder.build())
    }

    /// One pass: every readable shard up to what it holds now, at most `max_calls` GetRecords
    /// per shard. Stops a shard at its first read of less than a batch.
    pub async fn poll(&mut self, max_calls: usize) -> Result<Fed, StreamError> {
        let arn = self.stream_arn().await?;
        let shards = match &self.shards {
            Some((at, shards)) if at.elapsed() < SHARDS_FRESH => shards.clone(),
            _ => {
                let shards = self.shards(&arn).await?;
                self.shards = Some((Instant::now(), shards.clone()));
                shards
            }
        };
        let known: HashSet<&str> = shards.iter().map(|(id, _)| id.as_str()).collect();
        let mut fed = Fed::default();
        for (shard, parent) in &shards {
            if self.finished.contains(shard) {
                continue;
            }
            // A child shard waits until its parent is read to the end, as the pipe does: one
            // item's records stay in order.
            if let Some(parent) = parent
                && known.contains(parent.as_str())
                && !self.finished.contains(parent)
            {
                continue;
            }
            for _ in 0..max_calls {
                let iterator = match self.iterators.remove(shard) {
                    Some(it) => it,
                    None => match self.start(&arn, shard).await? {
                        Some(it) => it,
                        None => break,
                    },
                };
                let out = match self.get_records(&iterator).await {
                    Ok(out) => out,
                    // An expired or trimmed iterator: start again from the checkpoint.
                    Err(e) => {
                        tracing::debug!(shard, error = %e, "iterator dropped");
                        fed.failed_reads += 1;
                        continue;
                    }
                };
                let records = out.records;
                fed.read += records.len();
                fed.sent += self.send(&records).await?;
                // A checkpoint write is itself a stream record: records that are only that are
                // not checkpointed again (read again after a restart, they pass no filter).
                if !records.iter().all(is_checkpoint)
                    && let Some(last) = records
                        .iter()
                        .rev()
                        .find_map(|r| r.pointer("/dynamodb/SequenceNumber")?.as_str())
                {
                    self.checkpoint(shard, Some(last), false).await?;
                }
                match out.next_shard_iterator {
                    Some(next) => {
                        self.iterators.insert(shard.clone(), next);
                        // Less than asked for: the shard is read to what it holds now, without one
                        // more read to find it empty (a read capped short of the batch, if
                        // DynamoDB Local capped any, leaves the rest to the next pass).
                        if records.len() < self.batch as usize {
                            break;
                        }
                    }
                    None => {
                        self.checkpoint(shard, None, true).await?;
                        fed.ended += 1;
                        self.finished.insert(shard.clone());
                        self.shards = None;
                        break;
                    }
                }
            }
        }
        Ok(fed)
    }

    /// Every message the pipe would have sent for what the stream holds now, shard by shard from
    /// its oldest record, whatever was fed already (checkpoints and the feeder's own position are
    /// left alone): what the table announced, for tests.
    pub async fn history(&mut self) -> Result<Vec<String>, StreamError> {
        let arn = self.stream_arn().await?;
        let mut messages = Vec::new();
        for (shard, _) in self.shards(&arn).await? {
            let mut iterator = self.oldest(&arn, &shard).await?;
            while let Some(current) = iterator {
                let out = self.get_records(&current).await?;
                messages.extend(out.records.iter().filter_map(pipe_message));
                iterator = out.next_shard_iterator.filter(|_| !out.records.is_empty());
            }
        }
        Ok(messages)
    }

    /// Polls until a pass reads nothing, ends no shard and fails no read: everything written
    /// before the call is on the queue (a pass that found a shard's end goes on to its children).
    pub async fn drain(&mut self) -> Result<usize, StreamError> {
        let mut sent = 0;
        let mut failing = 0;
        loop {
            let fed = self.poll(100).await?;
            sent += fed.sent;
            if fed.failed_reads > 0 {
                failing += 1;
                if failing > 3 {
                    return Err(StreamError("the stream's records could not be read".into()));
                }
                continue;
            }
            failing = 0;
            if fed.read == 0 && fed.ended == 0 {
                return Ok(sent);
            }
        }
    }

    /// GetRecords over plain HTTP: DynamoDB Local writes an empty map attribute as `{}` (not
    /// `{"M": {}}`), which the SDK refuses for the whole response. Read as JSON, each record is
    /// also exactly what the pipe forwards. DynamoDB Local checks no signature.
    async fn get_records(&self, iterator: &str) -> Result<Records, StreamError> {
        let endpoint = self
            .endpoint
            .as_deref()
            .ok_or_else(|| StreamError("AWS_ENDPOINT_URL_DYNAMODB is not set (the local stack)".into()))?;
        let response = self
            .http
            .post(endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "DynamoDBStreams_20120810.GetRecords")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .json(&json!({ "ShardIterator": iterator, "Limit": self.batch }))
            .send()
            .await
            .map_err(|e| err("get records", e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| err("get records", e))?;
        if !status.is_success() {
            return Err(StreamError(format!("get records: {status}: {body}")));
        }
        serde_json::from_str(&body).map_err(|e| err("get records", e))
    }

    /// Feeds the queue until the future is dropped, as the pipe does: a pass, then a pause of
    /// [`PACE`] after a pass that read something, growing to [`IDLE_MAX`] while nothing comes, and
    /// of a second after a failure. A pass reads a backlog of up to 10 batches a shard.
    pub async fn run(&mut self) {
        let mut pause = PACE;
        loop {
            pause = match self.poll(10).await {
                Ok(fed) => {
                    if fed.sent > 0 {
                        tracing::info!(sent = fed.sent, "change events");
                    }
                    next_pause(pause, fed.read)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stream poll failed");
                    Duration::from_secs(1)
                }
            };
            tokio::time::sleep(pause).await;
        }
    }

    async fn stream_arn(&mut self) -> Result<String, StreamError> {
        if let Some(arn) = &self.stream_arn {
            return Ok(arn.clone());
        }
        let out = self
            .dynamodb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| err("describe table", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        let arn = out
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| StreamError(format!("table {} has no stream", self.table)))?;
        self.stream_arn = Some(arn.clone());
        Ok(arn)
    }

    /// Every shard of the stream with its parent, parents first.
    async fn shards(&self, arn: &str) -> Result<Vec<Shard>, StreamError> {
        let mut shards = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(arn)
                .set_exclusive_start_shard_id(start)
                .send()
                .await
                .map_err(|e| {
                    err(
                        "describe stream",
                        aws_sdk_dynamodbstreams::error::DisplayErrorContext(e),
                    )
                })?;
            let Some(description) = out.stream_description else {
                break;
            };
            for shard in description.shards.unwrap_or_default() {
                if let Some(id) = shard.shard_id {
                    shards.push((id, shard.parent_shard_id));
                }
            }
            match description.last_evaluated_shard_id {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        // Shard ids grow with creation time, so a parent sorts before its children.
        shards.sort();
        Ok(shards)
    }

    /// An iterator after the shard's checkpoint, or at its start; none if it was read to its end.
    async fn start(&mut self, arn: &str, shard: &str) -> Result<Option<String>, StreamError> {
        let saved = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", TableValue::S(CHECKPOINT_PK.into()))
            .key("sk", TableValue::S(shard.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err("read checkpoint", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?
            .item
            .unwrap_or_default();
        if matches!(saved.get("done"), Some(TableValue::Bool(true))) {
            self.finished.insert(shard.to_string());
            return Ok(None);
        }
        let request = || self.streams.get_shard_iterator().stream_arn(arn).shard_id(shard);
        if let Some(TableValue::S(seq)) = saved.get("seq") {
            let after = request()
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq)
                .send()
                .await;
            match after {
                Ok(out) => return Ok(out.shard_iterator),
                // The checkpoint left the stream (kept data reopened after its 24 hours): go on
                // from the oldest record still there; what fell off in between is for a replay.
                Err(e) => tracing::warn!(
                    shard,
                    error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(e),
                    "checkpoint no longer in the stream; reading from its oldest record"
                ),
            }
        }
        self.oldest(arn, shard).await
    }

    /// An iterator at the shard's oldest record.
    async fn oldest(&self, arn: &str, shard: &str) -> Result<Option<String>, StreamError> {
        let out = self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| {
                err(
                    "shard iterator",
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(e),
                )
            })?;
        Ok(out.shard_iterator)
    }

    async fn checkpoint(&self, shard: &str, seq: Option<&str>, done: bool) -> Result<(), StreamError> {
        let mut update = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", TableValue::S(CHECKPOINT_PK.into()))
            .key("sk", TableValue::S(shard.into()))
            .update_expression(if seq.is_some() {
                "SET seq = :seq, done = :done"
            } else {
                "SET done = :done"
            })
            .expression_attribute_values(":done", TableValue::Bool(done));
        if let Some(seq) = seq {
            update = update.expression_attribute_values(":seq", TableValue::S(seq.into()));
        }
        update.send().await.map(|_| ()).map_err(|e| {
            err(
                "write checkpoint",
                aws_sdk_dynamodb::error::DisplayErrorContext(e),
            )
        })
    }

    /// Sends the change events among `records`, ten per SendMessageBatch; fails unless the queue
    /// took every one (the records are then read again from the checkpoint).
    async fn send(&self, records: &[Value]) -> Result<usize, StreamError> {
        let bodies: Vec<String> = records.iter().filter_map(pipe_message).collect();
        provisio::queue_send::send_all(&self.sqs, &self.queue_url, &bodies)
            .await
            .map_err(|e| err("send", e))?;
        Ok(bodies.len())
    }
}

/// The pause after a pass that read `read` records, the last pause having been `last`.
fn next_pause(last: Duration, read: usize) -> Duration {
    if read > 0 {
        PACE
    } else {
        (last * 2).clamp(PACE, IDLE_MAX)
    }
}

/// One GetRecords answer.
#[derive(Debug, serde::Deserialize)]
struct Records {
    #[serde(rename = "Records", default)]
    records: Vec<Value>,
    #[serde(rename = "NextShardIterator")]
    next_shard_iterator: Option<String>,
}

fn partition_key(record: &Value) -> Option<&str> {
    record.pointer("/dynamodb/Keys/pk/S")?.as_str()
}

fn is_checkpoint(record: &Value) -> bool {
    partition_key(record) == Some(CHECKPOINT_PK)
}

/// What the pipe sends for a record, if its filter passes it (infra/template.yaml, `OutboxPipe`):
/// an item inserted or modified whose new image carries a change event (its `id` a string), sent
/// as the template shapes it, `{"changeEvent": <the attribute as the stream wrote it>}`.
pub fn pipe_message(record: &Value) -> Option<String> {
    if !matches!(record["eventName"].as_str(), Some("INSERT" | "MODIFY")) {
        return None;
    }
    let event = record.pointer("/dynamodb/NewImage")?.get(EVENT_ATTR)?;
    event.pointer("/M/id/S")?.as_str()?;
    Some(json!({ EVENT_ATTR: event }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_is_the_pace_after_a_read_and_doubles_to_the_idle_bound_without() {
        assert_eq!(next_pause(IDLE_MAX, 3), PACE);
        let mut pause = PACE;
        let mut seen = Vec::new();
        for _ in 0..4 {
            pause = next_pause(pause, 0);
            seen.push(pause.as_millis());
        }
        assert_eq!(seen, [500, 1000, 1000, 1000]);
        // After a failure's one-second pause, a read goes back to the pace.
        assert_eq!(next_pause(Duration::from_secs(1), 1), PACE);
    }
}
