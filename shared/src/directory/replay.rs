//! Replaying change events. Every change event reaches the dispatch queue through the table's
//! stream (an EventBridge Pipe deployed, `devstack stream` locally), which keeps records 24 hours.
//! When the pipe could not deliver for longer (the queue deleted, the pipe stopped, its
//! dead-letter queue holding the batches it gave up on), an operator sends the events of a time
//! window again: those in the outbox (kept [`OUTBOX_TTL_SECS`](super::change::OUTBOX_TTL_SECS):
//! deletions, memberships, re-scopings, groups' own changes), then the last event each user
//! carries, if it was written in the window. An event delivered already finds its work done (dispatch is
//! state-based), so a window may overlap what was delivered, and a user's last event stands for
//! its earlier ones.
//!
//! The outbox is read by time; users are read whole (their listing in `gsi1`, filtered by the
//! event's time): a replay's cost grows with the directory, the price of user writes that carry
//! their own events instead of an outbox item each. It is the recovery from an outage of more
//! than a day, not a routine operation.

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::directory::change::{ChangeEvent, EVENT_ATTR, OUTBOX_PREFIX, OUTBOX_SHARDS};
use crate::resources::GSI1;
use crate::store::item::{Item, s};
use crate::store::keys::LIST_USERS;
use crate::store::{Cursor, Filter, Listing, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A request field is wrong (named).
    #[error("{field}: {message}")]
    Input { field: &'static str, message: String },
    #[error("send to the dispatch queue: {0}")]
    Send(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Events one call sends at most; the cursor resumes after them.
pub const MAX_PER_CALL: usize = 1000;

/// What one replay call did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replayed {
    pub sent: usize,
    /// Present when the window holds more: call again with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A window of event times, `since` included, `until` (if any) excluded.
#[derive(Debug, Clone)]
pub struct Window {
    since: String,
    until: Option<String>,
}

impl Window {
    /// From RFC 3339 times; without `until`, everything since.
    pub fn parse(since: &str, until: Option<&str>) -> Result<Self, ReplayError> {
        let time = |field: &'static str, raw: &str| {
            // Stored times are UTC (`Z`); text comparison needs the same offset.
            OffsetDateTime::parse(raw, &Rfc3339)
                .map(|t| crate::timestamp::format(t.to_offset(time::UtcOffset::UTC)))
                .map_err(|_| ReplayError::Input {
                    field,
                    message: format!("not an RFC 3339 time: {raw}"),
                })
        };
        let since = time("since", since)?;
        let until = until.map(|raw| time("until", raw)).transpose()?;
        if until.as_ref().is_some_and(|until| *until < since) {
            return Err(ReplayError::Input {
                field: "until",
                message: "is before since".into(),
            });
        }
        Ok(Window { since, until })
    }
}

/// The phase after the outbox's shards: the users' listing, whose users carry their own events.
const USERS: u32 = OUTBOX_SHARDS;
/// Listing pages one call reads at most (a page is at most 1 MB): a directory with few events
/// in the window still answers in bounded time, with a cursor.
const LISTING_PAGES_PER_CALL: usize = 20;

fn users() -> Listing<'static> {
    Listing {
        index: Some(GSI1),
        partition: LIST_USERS,
        sk_prefix: None,
    }
}

/// Where a replay stopped.
#[derive(Debug, PartialEq)]
enum Position {
    /// An outbox shard, after this sort key.
    Shard(u32, Option<String>),
    /// The users' listing, after this key.
    Users(Option<Item>),
}

/// A cursor: the phase, then the last sort key sent in a shard, or the listing's cursor.
fn cursor(phase: u32, after: Option<&str>) -> String {
    format!("{phase:02}:{}", after.unwrap_or_default())
}

fn parse_cursor(raw: &str) -> Result<Position, ReplayError> {
    let bad = || ReplayError::Input {
        field: "cursor",
        message: "not a cursor from an earlier replay".into(),
    };
    let (phase, after) = raw.split_once(':').ok_or_else(bad)?;
    let phase: u32 = phase.parse().map_err(|_| bad())?;
    match phase {
        USERS if after.is_empty() => Ok(Position::Users(None)),
        USERS => Cursor::decode(after, Some(GSI1), LIST_USERS)
            .map(|key| Position::Users(Some(key)))
            .map_err(|_| bad()),
        shard if shard < OUTBOX_SHARDS => Ok(Position::Shard(
            shard,
            (!after.is_empty()).then(|| after.to_string()),
        )),
        _ => Err(bad()),
    }
}

/// Sends the change events of `window` to the dispatch queue: the outbox's, shard by shard, then
/// those users carry; at most `max` per call (the admin API: [`MAX_PER_CALL`]).
pub async fn replay(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    window: &Window,
    from: Option<&str>,
    max: usize,
) -> Result<Replayed, ReplayError> {
    let (first, mut after, mut start) = match from.map(parse_cursor).transpose()? {
        None => (0, None, None),
        Some(Position::Shard(shard, after)) => (shard, after, None),
        Some(Position::Users(start)) => (USERS, None, start),
    };
    // Sort keys are `<at>#<id>`: `#` sorts before every id character, `~` after every one.
    let upper = match &window.until {
        Some(until) => format!("{until}#"),
        None => "~".to_string(),
    };
    let mut sent = 0;
    for shard in first..OUTBOX_SHARDS {
        loop {
            let room = max.saturating_sub(sent);
            if room == 0 {
                return Ok(Replayed {
                    sent,
                    next_cursor: Some(cursor(shard, after.as_deref())),
                });
            }
            let pk = format!("{OUTBOX_PREFIX}{shard:02}");
            let start = after.as_ref().map(|sk| {
                std::collections::HashMap::from([
                    (crate::resources::PK.to_string(), s(pk.clone())),
                    (crate::resources::SK.to_string(), s(sk.clone())),
                ])
            });
            let out = store
                .client
                .query()
                .table_name(&store.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lower AND :upper")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":lower", AttributeValue::S(format!("{}#", window.since)))
                .expression_attribute_values(":upper", AttributeValue::S(upper.clone()))
                .set_exclusive_start_key(start)
                .limit(room.min(500) as i32)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("Query", e))?;
            let events = send(sqs, queue_url, out.items).await?;
            sent += events.len();
            let more = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
            match events.last() {
                Some(last) if more => after = Some(last.keys().sk),
                _ => break,
            }
        }
        after = None;
    }
    for pages in 0.. {
        if sent >= max || pages >= LISTING_PAGES_PER_CALL {
            return Ok(Replayed {
                sent,
                next_cursor: Some(cursor(USERS, start.as_ref().map(Cursor::encode).as_deref())),
            });
        }
        let filter = Filter {
            expression: match window.until {
                Some(_) => "#e.#at >= :since AND #e.#at < :until",
                None => "#e.#at >= :since",
            },
            names: vec![("#e", EVENT_ATTR), ("#at", "at")],
            values: std::iter::once((":since", s(&window.since)))
                .chain(window.until.as_ref().map(|until| (":until", s(until))))
                .collect(),
        };
        // Each item kept is one event: never more than the call may still send.
        let limit = u32::try_from((max - sent).min(500)).unwrap_or(500);
        let (items, last) = store.filtered_page(&users(), filter, limit, start.take()).await?;
        sent += send(sqs, queue_url, Some(items)).await?.len();
        match last {
            Some(last) => start = Some(last),
            None => break,
        }
    }
    Ok(Replayed {
        sent,
        next_cursor: None,
    })
}

/// Sends the events `items` carry; returns them.
async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    items: Option<Vec<Item>>,
) -> Result<Vec<ChangeEvent>, ReplayError> {
    let events = items
        .unwrap_or_default()
        .into_iter()
        .map(ChangeEvent::carried)
        .collect::<Result<Vec<_>, _>>()?;
    let bodies = events
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ReplayError::Send(e.to_string()))?;
    crate::queue_send::send_all(sqs, queue_url, &bodies)
        .await
        .map_err(ReplayError::Send)?;
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_cursors_are_checked() {
        assert!(Window::parse("2026-11-30T00:00:00Z", Some("2026-11-30T01:00:00Z")).is_ok());
        // Offsets are turned to UTC, the stored times' own.
        let window = Window::parse("2026-11-30T02:00:00+02:00", None).unwrap();
        assert_eq!(window.since, "2026-11-30T00:00:00Z");
        assert!(matches!(
            Window::parse("yesterday", None),
            Err(ReplayError::Input { field: "since", .. })
        ));
        assert!(matches!(
            Window::parse("2026-11-30T01:00:00Z", Some("2026-11-30T00:00:00Z")),
            Err(ReplayError::Input { field: "until", .. })
        ));
        assert_eq!(
            parse_cursor(&cursor(3, Some("t#e"))).unwrap(),
            Position::Shard(3, Some("t#e".into()))
        );
        assert_eq!(parse_cursor(&cursor(0, None)).unwrap(), Position::Shard(0, None));
        // In the users' listing: the listing's own cursor, checked to stay in it.
        let key: Item = [
            ("pk", "USER#u"),
            ("sk", "PROFILE"),
            ("gsi1pk", "USER"),
            ("gsi1sk", "ann b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), s(v)))
        .collect();
        assert_eq!(
            parse_cursor(&cursor(16, Some(&Cursor::encode(&key)))).unwrap(),
            Position::Users(Some(key.clone()))
        );
        let mut other = key;
        other.insert("gsi1pk".into(), s("GROUP"));
        assert!(parse_cursor(&cursor(16, Some(&Cursor::encode(&other)))).is_err());
        assert_eq!(parse_cursor("16:").unwrap(), Position::Users(None));
        assert!(parse_cursor("16:no-space").is_err());
        assert!(parse_cursor("17:").is_err());
        assert!(parse_cursor("x").is_err());
    }
}
