//! Full reconcile of one app (Entra's "restart provisioning"): every user of the directory is
//! looked at again against the app's scope and links, and the app is sent what the directory
//! says, profiles re-sent even when the link says the app has them (after a template or mapping
//! change, or to repair drift). A run is paged through the dispatch queue like an import: one
//! message lists 100 users and sends each an aimed reconcile message, then the next page's.
//! The deletion threshold applies to the deprovisions it finds; parked failures stay parked.
//!
//! The run is one item per app, `APP#<id>` / `RECONCILE`: the latest run's progress, and the
//! guard against two at once (a run left `running` for an hour may be replaced).

use serde::{Deserialize, Serialize};

use crate::ids::AppId;
use crate::store::item::{Keys, to_item};
use crate::store::keys;
use crate::store::transaction::{op, transact};
use crate::store::{Store, StoreError};

const RUN_SK: &str = "RECONCILE";
/// Users listed, and so messages sent, per page.
pub const PAGE_SIZE: u32 = 100;
/// A run that has not moved for this long may be replaced by a new one.
const STALE_SECS: i64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileRun {
    pub app_id: AppId,
    pub run_id: String,
    pub status: RunStatus,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Pages of users done.
    pub pages: u32,
    /// Users sent a reconcile message (the provisioning log has what each came to).
    pub users: u64,
    /// A run for a change of the app's scope: each user is looked at against the scope, and
    /// accounts up to date are sent nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scope_only: bool,
    /// A scope run after the scope narrowed: its deprovisions are one change that takes many
    /// users out of scope, held whole by the deletion threshold.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub narrows: bool,
    pub version: u64,
    pub last_modified: String,
}

impl ReconcileRun {
    pub fn keys(&self) -> Keys {
        Keys::new(keys::app(&self.app_id), RUN_SK)
    }
}

/// The message of one page of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcilePage {
    pub app_id: AppId,
    pub run_id: String,
    pub page: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scope_only: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub narrows: bool,
}

/// The dispatch queue's body of a page: `{"reconcile": {...}}`.
pub fn page_body(page: &ReconcilePage) -> String {
    serde_json::json!({ "reconcile": page }).to_string()
}

pub async fn latest(store: &Store, app: &AppId) -> Result<Option<ReconcileRun>, StoreError> {
    store.get(&keys::app(app), RUN_SK).await
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a full reconcile of this app is running")]
    Running,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the dispatch queue refused the first page: {0}")]
    Queue(String),
}

/// Starts a run: the run item (unless one is running) and the first page's message.
pub async fn start(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    app: &AppId,
) -> Result<ReconcileRun, StartError> {
    begin(store, sqs, queue_url, app, None).await
}

/// Starts a run after the app's scope changed (every user may have entered or left it). A run
/// in progress is replaced, from the first page: a full one stays full (it re-sends profiles).
pub async fn start_for_scope(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    app: &AppId,
    narrows: bool,
) -> Result<ReconcileRun, StartError> {
    // A page's checkpoint may move the run item between the read and the write: read again.
    let mut last = Err(StartError::Running);
    for _ in 0..5 {
        last = begin(store, sqs, queue_url, app, Some(narrows)).await;
        if !matches!(last, Err(StartError::Running)) {
            break;
        }
    }
    last
}

async fn begin(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    app: &AppId,
    // A scope run, and whether the scope narrowed.
    for_scope: Option<bool>,
) -> Result<ReconcileRun, StartError> {
    let previous = latest(store, app).await?;
    let now = time::OffsetDateTime::now_utc();
    let mut scope_only = for_scope.is_some();
    let mut narrows = for_scope == Some(true);
    if let Some(run) = &previous {
        let moved =
            time::OffsetDateTime::parse(&run.last_modified, &time::format_description::well_known::Rfc3339)
                .map_or(0, |t| (now - t).whole_seconds());
        if run.status == RunStatus::Running && moved < STALE_SECS {
            if for_scope.is_none() {
                return Err(StartError::Running);
            }
            scope_only = run.scope_only;
            narrows |= run.narrows;
        }
    }
    let stamp = crate::timestamp::now();
    let run = ReconcileRun {
        app_id: app.clone(),
        run_id: uuid::Uuid::now_v7().to_string(),
        status: RunStatus::Running,
        started_at: stamp.clone(),
        finished_at: None,
        pages: 0,
        users: 0,
        scope_only,
        narrows,
        version: previous.as_ref().map_or(1, |p| p.version + 1),
        last_modified: stamp,
    };
    let item = to_item(&run, &run.keys())?;
    let write = match &previous {
        None => op::put_new(&store.table, item),
        Some(p) => op::put_if_version(&store.table, item, p.version),
    };
    if transact(store, vec![write]).await?.is_err() {
        return Err(StartError::Running);
    }
    let first = ReconcilePage {
        app_id: app.clone(),
        run_id: run.run_id.clone(),
        page: 1,
        cursor: None,
        scope_only,
        narrows,
    };
    crate::queue_send::send_all(sqs, queue_url, &[page_body(&first)])
        .await
        .map_err(StartError::Queue)?;
    Ok(run)
}

/// Records page `page` done (`users` more), and the run's end when `last`; `None` when the
/// page was done before (a second delivery) or the run is not this one.
pub async fn checkpoint(
    store: &Store,
    page: &ReconcilePage,
    users: u64,
    last: bool,
) -> Result<Option<ReconcileRun>, StoreError> {
    let Some(run) = latest(store, &page.app_id).await? else {
        return Ok(None);
    };
    if run.run_id != page.run_id || run.status != RunStatus::Running || run.pages + 1 != page.page {
        return Ok(None);
    }
    let now = crate::timestamp::now();
    let next = ReconcileRun {
        pages: page.page,
        users: run.users + users,
        status: if last {
            RunStatus::Succeeded
        } else {
            RunStatus::Running
        },
        finished_at: last.then(|| now.clone()),
        version: run.version + 1,
        last_modified: now,
        ..run.clone()
    };
    let write = op::put_if_version(&store.table, to_item(&next, &next.keys())?, run.version);
    Ok(transact(store, vec![write]).await?.ok().map(|()| next))
}

/// Whether `page` is the next one of the app's running run.
pub async fn is_due(store: &Store, page: &ReconcilePage) -> Result<bool, StoreError> {
    Ok(latest(store, &page.app_id).await?.is_some_and(|run| {
        run.run_id == page.run_id && run.status == RunStatus::Running && run.pages + 1 == page.page
    }))
}
