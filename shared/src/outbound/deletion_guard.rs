//! The accidental-deletion threshold of a custom provisioning app: a per-app count of the
//! deprovisions sent in the current window, and the deprovisions held once the threshold is
//! crossed, until an administrator approves (sends) or rejects (drops) them.
//!
//! Rules ([`reserve`]): a deprovision passes while the window's count stays within
//! `maxDeprovisions`. The one that would exceed it holds the app, and so does an event that one
//! directory change wrote for more users than the threshold (a policy deleted: its `batch`), so
//! such a change is held whole, before any of it is sent. A held app holds every deprovision
//! until a decision; creates and updates go on. Every delivery of a deprovision counts (a retry
//! too: over-counting errs on the side of holding); approved ones are not counted.
//!
//! Items: the guard `APP#<id>` / `DELETION_GUARD` (window start and count, `heldSince`; while
//! held it is listed in GSI1 under `HELD`, which the dashboard reads), and one `HELD#<appId>` /
//! `<userId>` per held deprovision, carrying the event to send again on approval (a partition of
//! their own: the app's partition is read whole whenever its configuration is loaded).

use serde::{Deserialize, Serialize};

use super::dispatch::DispatchMessage;
use super::log::{LogEntry, Outcome};
use crate::directory::apps::DeletionThreshold;
use crate::directory::change::{ChangeEvent, ChangeKind};
use crate::ids::{AppId, UserId};
use crate::resources::GSI1;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};

use crate::store::item::{Keys, to_item};
use crate::store::keys;
use crate::store::read::Count;
use crate::store::transaction::{op, transact, update_if};
use crate::store::{Listing, Page, QueryError, Store, StoreError};

const GUARD_SK: &str = "DELETION_GUARD";
const HELD_PREFIX: &str = "HELD#";

fn held_partition(app: &AppId) -> String {
    format!("{HELD_PREFIX}{app}")
}
/// GSI1 partition of the guards of held apps.
pub const LIST_HELD: &str = "HELD";
/// Most held deprovisions one approve or reject call decides; the rest wait for the next call.
pub const MAX_PER_DECISION: usize = 1000;
/// Most held deprovisions counted for display.
const COUNT_CAP: u32 = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Guard {
    pub app_id: AppId,
    /// Unix seconds at which the current window began.
    #[serde(default)]
    pub window_start: i64,
    /// Deprovisions let through in that window.
    #[serde(default)]
    pub count: u32,
    /// Since when the app's deprovisions are held; absent when they are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<String>,
    /// Why the app was held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_reason: Option<String>,
}

fn guard_key(app: &AppId) -> crate::store::item::Item {
    crate::store::item::key(keys::app(app), GUARD_SK)
}

/// A deprovision held for an administrator's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeldDeprovision {
    pub app_id: AppId,
    pub user_id: UserId,
    /// The user's userName as the app last received it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// What would be sent: user_deactivated or user_deleted.
    pub kind: ChangeKind,
    pub at: String,
    /// The event that was held, sent again (aimed at the app) on approval.
    pub event: ChangeEvent,
}

impl HeldDeprovision {
    fn keys(&self) -> Keys {
        Keys::new(held_partition(&self.app_id), self.user_id.to_string())
    }
}

/// What the threshold says about one deprovision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Held, with the reason the app is held.
    Hold(String),
}

fn window_start(now: i64, threshold: &DeletionThreshold) -> i64 {
    let len = i64::from(threshold.window_minutes.max(1)) * 60;
    now - now.rem_euclid(len)
}

pub async fn guard(store: &Store, app: &AppId) -> Result<Guard, StoreError> {
    Ok(store
        .get::<Guard>(&keys::app(app), GUARD_SK)
        .await?
        .unwrap_or_else(|| Guard {
            app_id: app.clone(),
            window_start: 0,
            count: 0,
            held_since: None,
            held_reason: None,
        }))
}

/// One conditional UpdateItem of the app's guard; `false` when its condition failed. Every
/// change of the count is one atomic update, so concurrent dispatchers never lose one.
async fn update_guard(
    store: &Store,
    app: &AppId,
    expression: &str,
    condition: Option<&str>,
    values: Vec<(&str, AttributeValue)>,
) -> Result<bool, StoreError> {
    let names = [
        ("#a", "appId"),
        ("#w", "windowStart"),
        ("#c", "count"),
        ("#h", "heldSince"),
        ("#r", "heldReason"),
        ("#gp", GSI1.pk),
        ("#gs", GSI1.sk),
    ];
    update_if(store, guard_key(app), expression, condition, &names, values).await
}

/// Counts one deprovision in the current window if there is room and the app is not held.
async fn count_one(store: &Store, app: &AppId, start: i64, max: u32) -> Result<bool, StoreError> {
    let number = |v: i64| AttributeValue::N(v.to_string());
    update_guard(
        store,
        app,
        "SET #c = #c + :one",
        Some("#w = :w AND #c < :max AND attribute_not_exists(#h)"),
        vec![
            (":one", number(1)),
            (":w", number(start)),
            (":max", number(i64::from(max))),
        ],
    )
    .await
}

/// Counts one deprovision of `app`, of an event that one directory change wrote for `batch`
/// users, at `now`.
pub async fn reserve(
    store: &Store,
    app: &AppId,
    threshold: &DeletionThreshold,
    batch: u32,
    now: time::OffsetDateTime,
) -> Result<Verdict, StoreError> {
    let start = window_start(now.unix_timestamp(), threshold);
    let max = threshold.max_deprovisions;
    let number = |v: i64| AttributeValue::N(v.to_string());
    // The common case, one write: the window is current, not used up, and the app not held.
    if batch <= max && count_one(store, app, start, max).await? {
        return Ok(Verdict::Send);
    }
    for _ in 0..5 {
        let current = guard(store, app).await?;
        if current.held_since.is_some() {
            return Ok(Verdict::Hold(current.held_reason.unwrap_or_default()));
        }
        let reason = if batch > max {
            Some(format!(
                "one directory change took {batch} users out of the app's scope; the threshold is {max}"
            ))
        } else if current.window_start == start && current.count >= max {
            Some(format!(
                "more than {max} deprovisions within {} minutes",
                threshold.window_minutes
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            let since = crate::timestamp::now();
            let held = update_guard(
                store,
                app,
                "SET #a = :app, #h = :since, #r = :reason, #gp = :list, #gs = :sort",
                Some("attribute_not_exists(#h)"),
                vec![
                    (":app", AttributeValue::S(app.to_string())),
                    (":since", AttributeValue::S(since.clone())),
                    (":reason", AttributeValue::S(reason.clone())),
                    (":list", AttributeValue::S(LIST_HELD.into())),
                    (":sort", AttributeValue::S(format!("{since}#{app}"))),
                ],
            )
            .await?;
            if held {
                tracing::warn!(app = %app, reason, "deprovisions held by the deletion threshold");
                return Ok(Verdict::Hold(reason));
            }
            continue;
        }
        if current.window_start == start {
            // Room in the current window after all: the fast path met a concurrent change.
            if count_one(store, app, start, max).await? {
                return Ok(Verdict::Send);
            }
            continue;
        }
        // A new window (or the first deprovision ever): it starts at one.
        if update_guard(
            store,
            app,
            "SET #a = :app, #w = :w, #c = :one",
            // Only forward: a dispatcher whose clock is a little behind never restarts a window.
            Some("(attribute_not_exists(#w) OR #w < :w) AND attribute_not_exists(#h)"),
            vec![
                (":app", AttributeValue::S(app.to_string())),
                (":w", number(start)),
                (":one", number(1)),
            ],
        )
        .await?
        {
            return Ok(Verdict::Send);
        }
    }
    Err(StoreError::Unavailable(format!(
        "app {app}: the deletion guard is too busy, try again"
    )))
}

/// What became of a deprovision to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Recorded (or it was already: the first hold and its log entry stand).
    Recorded,
    /// The hold was lifted meanwhile (an administrator decided): ask [`reserve`] again.
    Lifted,
}

/// Records a held deprovision with its log entry, while the app is still held: an item written
/// after a decision listed the held ones would wait unseen on an app that is not held.
pub async fn hold(
    store: &Store,
    held: &HeldDeprovision,
    reason: &str,
    attempt: u32,
) -> Result<Held, StoreError> {
    let entry = LogEntry {
        at: held.at.clone(),
        ..LogEntry::decision(
            &held.app_id,
            Some(&held.user_id),
            held.kind,
            Outcome::Held,
            attempt,
            format!("held by the deletion threshold ({reason}); an administrator approves or rejects it"),
        )
    };
    let still_held = ConditionCheck::builder()
        .table_name(&store.table)
        .set_key(Some(guard_key(&held.app_id)))
        .condition_expression("attribute_exists(#h)")
        .expression_attribute_names("#h", "heldSince")
        .build()
        .map_err(|e| StoreError::Other(format!("deletion guard check: {e}")))?;
    let ops = vec![
        TransactWriteItem::builder().condition_check(still_held).build(),
        op::put_new(&store.table, to_item(held, &held.keys())?),
        op::put(&store.table, entry.item()?),
    ];
    Ok(match transact(store, ops).await? {
        Ok(()) => {
            crate::metrics::held(held.app_id.as_str(), 1);
            Held::Recorded
        }
        Err(cancelled) if cancelled.failed(0) => Held::Lifted,
        // Ok, or already held: the first hold and its log entry stand.
        _ => Held::Recorded,
    })
}

/// Drops every held deprovision of a deleted app.
pub async fn forget(store: &Store, app: &AppId) -> Result<(), StoreError> {
    let pk = held_partition(app);
    let keys = store.query_keys(&held_listing(&pk)).await?;
    store.batch_delete(keys).await
}

fn held_listing(pk: &str) -> Listing<'_> {
    Listing {
        index: None,
        partition: pk,
        sk_prefix: None,
    }
}

/// The app's guard, how many deprovisions it holds and a page of them.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeldView {
    pub held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub threshold: DeletionThreshold,
    /// Deprovisions sent in the current window.
    pub sent_in_window: u32,
    pub count: Count,
    #[serde(flatten)]
    pub page: Page<HeldDeprovision>,
}

pub async fn view(
    store: &Store,
    app: &AppId,
    threshold: DeletionThreshold,
    limit: u32,
    cursor: Option<&str>,
) -> Result<HeldView, QueryError> {
    let pk = held_partition(app);
    let listing = held_listing(&pk);
    let (guard, count, page) = tokio::try_join!(
        async { guard(store, app).await.map_err(QueryError::from) },
        async { store.count(&listing, COUNT_CAP).await.map_err(QueryError::from) },
        store.query_page::<HeldDeprovision>(&listing, limit, cursor)
    )?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sent_in_window = if guard.window_start == window_start(now, &threshold) {
        guard.count
    } else {
        0
    };
    Ok(HeldView {
        held: guard.held_since.is_some(),
        held_since: guard.held_since,
        reason: guard.held_reason,
        threshold,
        sent_in_window,
        count,
        page,
    })
}

/// A held app on the dashboard.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeldApp {
    pub app_id: AppId,
    pub held_since: String,
    pub reason: Option<String>,
}

/// The apps whose deprovisions are held, oldest hold first (at most `limit`).
pub async fn held_apps(store: &Store, limit: u32) -> Result<Vec<HeldApp>, QueryError> {
    let listing = Listing {
        index: Some(GSI1),
        partition: LIST_HELD,
        sk_prefix: None,
    };
    let page = store.query_page::<Guard>(&listing, limit, None).await?;
    Ok(page
        .items
        .into_iter()
        .filter_map(|g| {
            Some(HeldApp {
                held_since: g.held_since?,
                app_id: g.app_id,
                reason: g.held_reason,
            })
        })
        .collect())
}

/// An administrator's decision about an app's held deprovisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send them (each is reconciled again first: a user back in scope is left alone).
    Approve,
    /// Drop them; the accounts stay in the app.
    Reject,
}

impl Decision {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "approve" => Some(Decision::Approve),
            "reject" => Some(Decision::Reject),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decided {
    /// Held deprovisions approved (sent to the dispatch queue) or rejected (dropped) by this call.
    pub decided: usize,
    /// More are held: call again.
    pub remaining: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the dispatch queue refused the approved messages: {0}")]
    Queue(String),
}

/// Lifts the hold (the window starts again from zero) and decides up to [`MAX_PER_DECISION`]
/// held deprovisions. The hold is lifted first: a deprovision held while this runs is either
/// listed here or waits for the next call, never lost.
pub async fn decide(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    app: &AppId,
    decision: Decision,
) -> Result<Decided, DecisionError> {
    lift(store, app).await?;
    let pk = held_partition(app);
    let listing = held_listing(&pk);
    let mut decided = 0;
    let mut cursor: Option<String> = None;
    while decided < MAX_PER_DECISION {
        let page = store
            .query_page::<HeldDeprovision>(&listing, 100, cursor.as_deref())
            .await
            .map_err(|e| match e {
                QueryError::Store(e) => e,
                QueryError::Cursor(e) => StoreError::Other(e.to_string()),
            })?;
        if page.items.is_empty() {
            break;
        }
        match decision {
            Decision::Approve => {
                let bodies: Vec<String> = page
                    .items
                    .iter()
                    .map(|h| {
                        serde_json::to_string(&DispatchMessage {
                            event: h.event.clone(),
                            app_id: Some(app.clone()),
                            approved: true,
                            attempts: 0,
                            deferred: false,
                            resend: false,
                        })
                        .unwrap_or_default()
                    })
                    .collect();
                crate::queue_send::send_all(sqs, queue_url, &bodies)
                    .await
                    .map_err(DecisionError::Queue)?;
            }
            Decision::Reject => {
                let entries = page
                    .items
                    .iter()
                    .map(|h| rejected_entry(h).item())
                    .collect::<Result<Vec<_>, _>>()?;
                store.batch_put(entries).await?;
            }
        }
        let keys = page.items.iter().map(|h| h.keys().primary()).collect();
        store.batch_delete(keys).await?;
        decided += page.items.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let remaining = store.count(&listing, 1).await?.count > 0;
    Ok(Decided { decided, remaining })
}

/// Lifts the hold; the window starts again from zero.
async fn lift(store: &Store, app: &AppId) -> Result<(), StoreError> {
    update_guard(
        store,
        app,
        "SET #a = :app, #w = :zero, #c = :zero REMOVE #h, #r, #gp, #gs",
        None,
        vec![
            (":app", AttributeValue::S(app.to_string())),
            (":zero", AttributeValue::N("0".into())),
        ],
    )
    .await?;
    Ok(())
}

fn rejected_entry(held: &HeldDeprovision) -> LogEntry {
    LogEntry::decision(
        &held.app_id,
        Some(&held.user_id),
        held.kind,
        Outcome::Skipped,
        0,
        "a held deprovision rejected by an administrator; the account stays in the app \
         (a later change of the user, still out of scope, deprovisions it again)"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_from_the_epoch() {
        let t = DeletionThreshold {
            window_minutes: 60,
            ..DeletionThreshold::default()
        };
        assert_eq!(window_start(7_200, &t), 7_200);
        assert_eq!(window_start(7_199, &t), 3_600);
        assert_eq!(window_start(10_799, &t), 7_200);
    }

    #[test]
    fn decisions_parse() {
        assert_eq!(Decision::parse("approve"), Some(Decision::Approve));
        assert_eq!(Decision::parse("reject"), Some(Decision::Reject));
        assert_eq!(Decision::parse("APPROVE"), None);
    }
}
