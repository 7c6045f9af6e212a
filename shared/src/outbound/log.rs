//! The provisioning log: one entry per attempt to call an app, listed per app and per user.
//! Entries expire after 30 days (DynamoDB TTL).

use serde::{Deserialize, Serialize};

use crate::directory::change::ChangeKind;
use crate::ids::{AppId, GroupId, UserId};
use crate::resources::GSI2;
use crate::store::item::{Item, Keys, to_item};
use crate::store::{Listing, Page, QueryError, Store, StoreError};

pub const LOG_TTL_SECS: i64 = 30 * 24 * 3600;
pub use crate::connector::http::{MAX_EXCERPT, excerpt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    /// 429, 5xx or a network failure: retried later.
    Retrying,
    /// A permanent failure or exhausted retries: the message went to the dead-letter queue.
    Failed,
    /// The app was not called, on purpose: `reason` says why (no enabled config, parked, nothing
    /// changed, ...). A user in scope without an account always has one of these or a failure.
    Skipped,
    /// A deprovision held by the app's deletion threshold: sent if an administrator approves it.
    Held,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retrying => "retrying",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Held => "held",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub id: String,
    pub at: String,
    pub app_id: AppId,
    /// The user the call was about; absent for a group's own change (a rename, a delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// The group whose own change this call sent (group renamed or deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<GroupId>,
    /// The event config that was fired (for a skip: the one that was not, or the event handled).
    pub event: ChangeKind,
    /// Empty for a skip.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub outcome: Outcome,
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why a skipped entry did not call the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A call that carried several users' member changes (one PATCH of a SCIM group): how many.
    /// Each of those users has an entry of the one call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
}

#[derive(Serialize)]
struct Stored<'a> {
    #[serde(flatten)]
    entry: &'a LogEntry,
    ttl: i64,
}

fn app_partition(app: &AppId) -> String {
    format!("PLOG#APP#{app}")
}

fn user_partition(user: &UserId) -> String {
    format!("PLOG#USER#{user}")
}

impl LogEntry {
    /// The entry of a decision about a user that called nothing (skipped, held): no request,
    /// a reason.
    pub fn decision(
        app: &AppId,
        user: Option<&UserId>,
        event: ChangeKind,
        outcome: Outcome,
        attempt: u32,
        reason: String,
    ) -> Self {
        LogEntry {
            id: uuid::Uuid::now_v7().to_string(),
            at: crate::timestamp::now(),
            app_id: app.clone(),
            user_id: user.cloned(),
            group_id: None,
            event,
            method: String::new(),
            url: String::new(),
            status: None,
            latency_ms: 0,
            outcome,
            attempt,
            error: None,
            reason: Some(reason),
            batch: None,
        }
    }

    pub fn keys(&self) -> Keys {
        let sk = format!("{}#{}", self.at, self.id);
        let keys = Keys::new(app_partition(&self.app_id), sk.clone());
        match &self.user_id {
            Some(user) => keys.gsi2(user_partition(user), sk),
            None => keys,
        }
    }

    pub fn item(&self) -> Result<Item, StoreError> {
        let ttl = time::OffsetDateTime::now_utc().unix_timestamp() + LOG_TTL_SECS;
        to_item(&Stored { entry: self, ttl }, &self.keys())
    }
}

/// Newest first.
pub async fn list_for_app(
    store: &Store,
    app: &AppId,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<LogEntry>, QueryError> {
    let pk = app_partition(app);
    let listing = Listing {
        index: None,
        partition: &pk,
        sk_prefix: None,
    };
    store.query_page_ordered(&listing, limit, cursor, false).await
}

pub async fn list_for_user(
    store: &Store,
    user: &UserId,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<LogEntry>, QueryError> {
    let pk = user_partition(user);
    let listing = Listing {
        index: Some(GSI2),
        partition: &pk,
        sk_prefix: None,
    };
    store.query_page_ordered(&listing, limit, cursor, false).await
}
