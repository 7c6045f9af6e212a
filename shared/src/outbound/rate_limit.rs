//! A per-app rate limit (requests per second, an app setting), honoured across every dispatcher
//! instance: each call takes a slot of the current second from one counter item per app
//! (`APP#<id>` / `RATE`: `second`, `count`) with a conditional UpdateItem, so the limit holds
//! however many instances run. A call without a slot waits for the next second, in the
//! dispatcher, for up to [`MAX_WAIT`]; after that its message is retried later.
//!
//! Bounds: seconds are the dispatchers' clocks (a skew of a few milliseconds may let a slot of
//! the next second go early); each slot and each refused try is a write on one item, so limits
//! above a few hundred a second are not what this is for. Apps without a limit pay nothing.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::ids::AppId;
use crate::store::item::key;
use crate::store::keys;
use crate::store::transaction::update_if;
use crate::store::{Store, StoreError};

const RATE_SK: &str = "RATE";
/// Longest a call waits for a slot before its message is retried later.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// Takes a slot of second `second` (Unix) for `app`, if one of `limit` is left.
pub async fn take(store: &Store, app: &AppId, limit: u32, second: i64) -> Result<bool, StoreError> {
    let names = [("#s", "second"), ("#c", "count")];
    let n = |v: i64| AttributeValue::N(v.to_string());
    let k = || key(keys::app(app), RATE_SK);
    if update_if(
        store,
        k(),
        "SET #c = #c + :one",
        Some("#s = :s AND #c < :limit"),
        &names,
        vec![(":one", n(1)), (":s", n(second)), (":limit", n(i64::from(limit)))],
    )
    .await?
    {
        return Ok(true);
    }
    // The first slot of a new second.
    update_if(
        store,
        k(),
        "SET #s = :s, #c = :one",
        Some("attribute_not_exists(#s) OR #s < :s"),
        &names,
        vec![(":one", n(1)), (":s", n(second))],
    )
    .await
}

/// Waits for a slot for `app` (at most [`MAX_WAIT`]); `false` when none came.
pub async fn acquire(store: &Store, app: &AppId, limit: u32) -> Result<bool, StoreError> {
    let started = std::time::Instant::now();
    loop {
        let now = time::OffsetDateTime::now_utc();
        if take(store, app, limit, now.unix_timestamp()).await? {
            return Ok(true);
        }
        if started.elapsed() >= MAX_WAIT {
            return Ok(false);
        }
        // Until the next second, and a little spread so waiters don't all come at once.
        let into = u64::from(now.millisecond());
        let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 50;
        tokio::time::sleep(Duration::from_millis(1000 - into.min(999) + jitter)).await;
    }
}
