//! The dispatcher: turns change events into calls of custom provisioning apps.
//!
//! Events are notifications. For each one the dispatcher reads the user's current state (profile,
//! groups, links) and reconciles every app the user is or was provisioned to: create when the
//! user entered an app's scope, update when the app holds an older version, deactivate or delete
//! when the user left, push group changes. So ordering comes from state, not from message order:
//! an update can't overtake its create (without a link there is nothing to update; a create in
//! flight is claimed in the link), and a duplicate delivery finds the work done.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

mod config_view;
mod group_change;
mod member_batch;
pub mod on_demand;
mod scim;
pub use scim::DiscoveryError;
mod steps;
mod user_state;

use super::configs::AppSetup;
use super::deletion_guard;
use super::dlq;
use super::event_config::{DEFAULT_EXTERNAL_ID_PATH, kind_name};
use super::link::{LINK_PREFIX, Link, LinkState};
use super::log::{self, LogEntry, Outcome};
use super::reconcile::{self, Step};
use super::skip::Skip;
use crate::connector::auth_config::AuthSecret;
use crate::connector::configs::{Configs, SecretCache};
use crate::connector::delivery::{Delivery, Sender, Timeouts, Verdict};
use crate::connector::template::Context;
use crate::directory::change::{ChangeEvent, ChangeKind};
use crate::directory::change_stream;
use crate::directory::groups::Group;
use crate::directory::memberships::Membership;
use crate::directory::scope;
use crate::directory::users::User;
use crate::ids::{AppId, GroupId, UserId};
use crate::json_path;
use crate::queue_batch::{self, Handled, Received};
use crate::resources::{GSI2, SK};
use crate::store::item::{from_item, string_attr, to_item};
use crate::store::keys::{self, GROUP_PREFIX, PROFILE};
use crate::store::transaction::{op, transact};
use crate::store::{Listing, Store, StoreError};

/// A dispatch queue message: a change event, optionally aimed at one app (a redriven failure,
/// or a held deprovision an administrator approved). Read either bare or as the pipe sends it from
/// the table's stream (the `changeEvent` of the item written with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "Value")]
pub struct DispatchMessage {
    #[serde(flatten)]
    pub event: ChangeEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<AppId>,
    /// An administrator approved this deprovision: the deletion threshold lets it through.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approved: bool,
    /// Attempts made before this copy was sent (a retry goes back to the queue as a new copy,
    /// so an outage is ridden out for hours, not for the queue's five receives).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// A copy aimed at an app that was quarantined when it came (not a redrive: parked
    /// failures stay parked).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deferred: bool,
    /// A full reconcile's message: the profile is sent again even if the link says the app has it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resend: bool,
}

/// What the dispatch queue carries: change events (as above), and the pages of full reconciles.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Incoming {
    Reconcile {
        reconcile: super::full_reconcile::ReconcilePage,
    },
    Event(DispatchMessage),
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The bare form, as serde derives it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BareMessage {
    #[serde(flatten)]
    event: ChangeEvent,
    #[serde(default)]
    app_id: Option<AppId>,
    #[serde(default)]
    approved: bool,
    #[serde(default)]
    attempts: u32,
    #[serde(default)]
    deferred: bool,
    #[serde(default)]
    resend: bool,
}

impl TryFrom<Value> for DispatchMessage {
    type Error = String;

    fn try_from(body: Value) -> Result<Self, String> {
        if change_stream::is_stream_record(&body) {
            return Ok(DispatchMessage {
                event: change_stream::from_stream_record(&body)?,
                app_id: None,
                approved: false,
                attempts: 0,
                deferred: false,
                resend: false,
            });
        }
        let bare: BareMessage = serde_json::from_value(body).map_err(|e| e.to_string())?;
        Ok(DispatchMessage {
            event: bare.event,
            app_id: bare.app_id,
            approved: bare.approved,
            attempts: bare.attempts,
            deferred: bare.deferred,
            resend: bare.resend,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// First retry delay; doubled per attempt, with jitter.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Attempts at a message before a retryable failure counts as permanent: with the backoff
    /// capped at 15 minutes, the default of 100 keeps trying for about a day (Entra ID escrows
    /// failures as long).
    pub max_attempts: u32,
    pub timeouts: Timeouts,
    /// Messages of one batch handled at the same time.
    pub concurrency: usize,
    /// When an app whose calls keep failing is quarantined, and how often it is probed.
    pub quarantine: super::quarantine::Rules,
    /// The time (tests run it faster).
    pub clock: Clock,
    /// How long the first member change of a SCIM group waits for others to share its PATCH
    /// (zero: every change alone).
    pub member_batch_window: Duration,
}

/// The dispatcher's clock.
#[derive(Clone)]
pub struct Clock(pub Arc<dyn Fn() -> time::OffsetDateTime + Send + Sync>);

impl Clock {
    pub fn now(&self) -> time::OffsetDateTime {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock(Arc::new(time::OffsetDateTime::now_utc))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retry_base: Duration::from_secs(10),
            retry_cap: Duration::from_secs(900),
            max_attempts: 100,
            timeouts: Timeouts::default(),
            concurrency: 10,
            quarantine: Default::default(),
            clock: Clock::default(),
            member_batch_window: Duration::from_millis(50),
        }
    }
}

impl Settings {
    /// Defaults with overrides from the environment (`resources::env::RETRY_BASE_SECS`).
    pub fn from_env() -> Self {
        let secs = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs)
        };
        let mut s = Settings::default();
        if let Some(v) = secs(crate::resources::env::RETRY_BASE_SECS) {
            s.retry_base = v;
        }
        s
    }

    /// Exponential backoff with jitter (half to full delay), never shorter than Retry-After.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        crate::retry::backoff(self.retry_base, self.retry_cap, attempt, retry_after)
    }
}

/// Why an event could not be handled now (it is retried after a backoff).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A failure for good could not be parked in the dead-letter queue.
    #[error(transparent)]
    DeadLetter(#[from] dlq::DlqError),
}

/// What became of one app for one event.
#[derive(Debug, Clone, PartialEq)]
enum AppResult {
    Done,
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    Failed {
        reason: String,
    },
    /// Another event's dispatch holds a create claim: look again later, without counting it
    /// as a failed attempt.
    Wait(Duration),
    /// Nothing was sent, on purpose: logged as a skipped entry about `event`.
    Skipped {
        event: ChangeKind,
        reason: Skip,
    },
    /// A deprovision held by the app's deletion threshold (recorded and logged).
    Held,
}

/// The event being handled and how far along its retries are.
struct Attempt<'a> {
    event: &'a ChangeEvent,
    number: u32,
    /// A redriven message: parked failures are tried again.
    forced: bool,
    /// An approved held deprovision: not counted against the deletion threshold.
    approved: bool,
    /// Provision on demand: the calls, as sent and answered.
    record: Option<&'a on_demand::Recorder>,
    /// Calls the app answered with success (a probe lifts a quarantine only on one).
    answered: std::sync::atomic::AtomicU32,
    /// Calls that met the app's transient trouble (5xx, 429, timeouts): what a quarantine counts.
    troubled: std::sync::atomic::AtomicU32,
    /// A full reconcile's message.
    resend: bool,
}

impl<'a> Attempt<'a> {
    /// The attempt at a queued message (not provision on demand).
    fn of(message: &'a DispatchMessage, number: u32) -> Self {
        Attempt {
            event: &message.event,
            number,
            forced: message.app_id.is_some() && !message.deferred,
            approved: message.approved,
            record: None,
            answered: Default::default(),
            troubled: Default::default(),
            resend: message.resend,
        }
    }
}

pub struct Dispatcher {
    pub store: Store,
    pub configs: Configs,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: Option<String>,
    pub dlq_url: Option<String>,
    pub sender: Sender,
    pub settings: Settings,
    view: tokio::sync::Mutex<config_view::ConfigView>,
    secrets: SecretCache,
    /// Apps' health, read at most every two seconds per app.
    health: tokio::sync::Mutex<HashMap<AppId, (std::time::Instant, super::quarantine::Health)>>,
    /// SCIM group member changes being gathered into one PATCH.
    member_batches: member_batch::MemberBatches,
}

impl Dispatcher {
    pub fn new(clients: &crate::aws::AwsClients, config: &crate::config::Config, settings: Settings) -> Self {
        let store = Store::new(clients.dynamodb.clone(), &config.table);
        Dispatcher {
            configs: Configs::new(store.clone(), clients.secrets.clone(), &config.secrets_prefix),
            store,
            sqs: clients.sqs.clone(),
            queue_url: config.dispatch_queue_url.clone(),
            dlq_url: config.dispatch_dlq_url.clone(),
            sender: Sender::new(settings.timeouts),
            settings,
            view: Default::default(),
            secrets: Default::default(),
            health: Default::default(),
            member_batches: Default::default(),
        }
    }

    /// Handles an SQS batch; messages to retry are reported as batch item failures after their
    /// visibility timeout was set to the backoff delay.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        // Every message of the batch was sent after its change was committed, and so after
        // every configuration change that preceded it: checking the version now means no
        // message of the batch is judged on configuration older than itself.
        let queue = queue_batch::Queue {
            sqs: &self.sqs,
            url: self.queue_url.as_deref(),
        };
        if let Err(e) = self.sync_config().await {
            // Without knowing the configuration is current, nothing may be decided: every
            // message comes back after a backoff.
            tracing::warn!(error = %e, "configuration version unreadable; the batch is retried");
            return queue
                .drive(
                    event,
                    self.settings.concurrency,
                    |r: &Received<serde_json::Value>| r.message.message_id.clone().unwrap_or_default(),
                    |r| async move { Handled::RetryAfter(self.settings.backoff(r.receives, None)) },
                )
                .await;
        }
        // One user's messages one after the other, different users at once: two events of one
        // user (or two deliveries of one) handled side by side would both see the
        // app behind and both call it. An unreadable message is a group of its own.
        queue
            .drive(
                event,
                self.settings.concurrency,
                |r: &Received<Incoming>| match &r.body {
                    Ok(Incoming::Event(m)) => match (&m.event.user_id, &m.event.group_id) {
                        (Some(user), _) => user.to_string(),
                        (None, Some(group)) => format!("group#{group}"),
                        (None, None) => String::new(),
                    },
                    Ok(Incoming::Reconcile { reconcile }) => format!("reconcile#{}", reconcile.app_id),
                    Err(_) => r.message.message_id.clone().unwrap_or_default(),
                },
                |r| self.handle_message(r),
            )
            .await
    }

    async fn handle_message(&self, received: Received<Incoming>) -> Handled {
        let id = received.message.message_id.clone().unwrap_or_default();
        let parsed = match received.body {
            Ok(Incoming::Event(m)) => m,
            Ok(Incoming::Reconcile { reconcile }) => {
                return match Box::pin(self.reconcile_page(&reconcile)).await {
                    Ok(()) => Handled::Done,
                    Err(e) => {
                        tracing::warn!(message_id = %id, error = %e, "reconcile page failed; retried");
                        Handled::RetryAfter(self.settings.backoff(received.receives, None))
                    }
                };
            }
            Err(e) => {
                // Not ours to fix by retrying: park it where an operator sees it.
                tracing::error!(message_id = %id, error = %e, "unreadable dispatch message");
                let body = received.message.body.as_deref().unwrap_or_default();
                return match self
                    .dead_letter(body, None, &format!("unreadable message: {e}"), None)
                    .await
                {
                    Ok(()) => Handled::Done,
                    Err(_) => Handled::Redeliver,
                };
            }
        };
        let attempt = parsed.attempts + received.receives;
        match self.dispatch(&parsed, attempt).await {
            Ok(None) => Handled::Done,
            Ok(Some(after)) => {
                // A new copy, delayed, carrying the count: the queue's own receive count (and
                // its dead-letter queue after five) is for messages the dispatcher can't handle.
                let again = DispatchMessage {
                    attempts: attempt,
                    ..parsed
                };
                match self.requeue(&again, after).await {
                    Ok(()) => Handled::Done,
                    Err(_) => Handled::RetryAfter(after),
                }
            }
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "dispatch failed; retried");
                Handled::RetryAfter(self.settings.backoff(received.receives, None))
            }
        }
    }

    /// Reconciles the event's user with every app concerned. `Some(delay)` asks for a retry.
    pub async fn dispatch(
        &self,
        message: &DispatchMessage,
        attempt: u32,
    ) -> Result<Option<Duration>, DispatchError> {
        let event = &message.event;
        let Some(user_id) = &event.user_id else {
            if event.kind.is_group_change() {
                return Box::pin(self.group_change(message, attempt)).await;
            }
            // Nothing to act on: parked where an operator sees it.
            let body = serde_json::to_string(message).unwrap_or_default();
            Box::pin(self.dead_letter(&body, None, "a user's change event without a userId", None)).await?;
            return Ok(None);
        };
        let (state, scope) = futures::try_join!(self.user_state(user_id, event), self.scope())?;
        let in_scope: BTreeSet<AppId> = match &state.user {
            Some(_) => scope.apps_of(&state.groups).cloned().collect(),
            None => BTreeSet::new(),
        };
        let mut apps: BTreeSet<AppId> = in_scope.iter().cloned().collect();
        apps.extend(state.links.keys().cloned());
        if let Some(only) = &message.app_id {
            apps.retain(|a| a == only);
        }
        let mut retry: Option<Duration> = None;
        let mut wait: Option<Duration> = None;
        let mut skipped = Vec::new();
        let try_ = Attempt::of(message, attempt);
        let mut deferred: Vec<(AppId, Duration)> = Vec::new();
        for app in apps {
            let Some(setup) = self.setup(&app).await? else {
                // The app was deleted: its links are dead weight, removed as they are met
                // (an app's links can't be listed without an index by app).
                if let Some(link) = state.links.get(&app) {
                    let _ = transact(
                        &self.store,
                        vec![op::delete_if_version(
                            &self.store.table,
                            link.keys().primary(),
                            link.version,
                        )],
                    )
                    .await?;
                }
                continue;
            };
            if !setup.app.kind.is_outbound() {
                continue;
            }
            let now = self.settings.clock.now().unix_timestamp();
            let health = self.app_health(&app).await?;
            let rules = &self.settings.quarantine;
            let gate = super::quarantine::gate(&self.store, &app, &health, now, rules).await?;
            if let super::quarantine::Gate::Closed(until) = gate {
                let wait = Duration::from_secs(u64::try_from((until - now).max(1)).unwrap_or(1));
                deferred.push((app.clone(), wait.min(self.settings.retry_cap)));
                skipped.push(steps::skip_entry(&app, &try_, event.kind, Skip::Quarantined).item()?);
                continue;
            }
            // Boxed, here and in its steps: a reconcile's future is large in debug builds, and
            // nested in every caller's (the admin API's provision on demand among them).
            let result = Box::pin(self.reconcile(&setup, &state, in_scope.contains(&app), &try_)).await?;
            let transient = matches!(result, AppResult::Retry { .. })
                && try_.troubled.load(std::sync::atomic::Ordering::Relaxed) > 0;
            if transient {
                super::quarantine::failed(&self.store, &app, now, rules).await?;
                self.forget_health(&app).await;
            } else if gate == super::quarantine::Gate::Probe
                && try_.answered.load(std::sync::atomic::Ordering::Relaxed) > 0
            {
                super::quarantine::lift(&self.store, &app).await?;
                self.forget_health(&app).await;
            }
            match result {
                AppResult::Done | AppResult::Held => {}
                AppResult::Skipped { event: kind, reason } => {
                    skipped.push(steps::skip_entry(&app, &try_, kind, reason).item()?);
                }
                AppResult::Wait(after) => wait = Some(wait.map_or(after, |w| w.max(after))),
                failed @ (AppResult::Retry { .. } | AppResult::Failed { .. }) => {
                    if let Some(delay) =
                        Box::pin(self.retry_or_give_up(message, &app, attempt, failed)).await?
                    {
                        retry = Some(retry.map_or(delay, |d| d.max(delay)));
                    }
                }
            }
        }
        if !skipped.is_empty() {
            self.store.batch_put(skipped).await?;
        }
        for (app, after) in deferred {
            // Waiting for a quarantine uses up no attempt.
            let copy = DispatchMessage {
                app_id: Some(app),
                deferred: true,
                ..message.clone()
            };
            self.requeue(&copy, after).await?;
        }
        if let (None, Some(after)) = (retry, wait) {
            // A fresh copy, delayed: waiting for another dispatch must not use up attempts.
            self.requeue(message, after).await?;
        }
        Ok(retry)
    }

    /// One page of a full reconcile: 100 users listed, each sent an aimed reconcile message,
    /// the checkpoint, then the next page's message.
    async fn reconcile_page(&self, page: &super::full_reconcile::ReconcilePage) -> Result<(), StoreError> {
        use super::full_reconcile::{self as fr, ReconcilePage};
        if !fr::is_due(&self.store, page).await? {
            return Ok(());
        }
        let listing = Listing {
            index: Some(crate::resources::GSI1),
            partition: crate::store::keys::LIST_USERS,
            sk_prefix: None,
        };
        let users = self
            .store
            .query_page::<User>(&listing, fr::PAGE_SIZE, page.cursor.as_deref())
            .await
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let bodies: Vec<String> = users
            .items
            .iter()
            .map(|u| {
                let event = ChangeEvent::new(ChangeKind::ScopeChanged, &u.id, None, None);
                // A narrowed scope's deprovisions are one change: held whole by a threshold.
                let event = match page.narrows {
                    true => event.in_batch(usize::MAX),
                    false => event,
                };
                serde_json::to_string(&DispatchMessage {
                    event,
                    app_id: Some(page.app_id.clone()),
                    approved: false,
                    attempts: 0,
                    deferred: true,
                    resend: !page.scope_only,
                })
                .unwrap_or_default()
            })
            .collect();
        let Some(queue) = &self.queue_url else {
            return Err(StoreError::Other("no dispatch queue configured".into()));
        };
        crate::queue_send::send_all(&self.sqs, queue, &bodies)
            .await
            .map_err(StoreError::Unavailable)?;
        let last = users.next_cursor.is_none();
        let saved = fr::checkpoint(&self.store, page, bodies.len() as u64, last).await?;
        if let (Some(_), Some(cursor)) = (saved, users.next_cursor) {
            let next = ReconcilePage {
                page: page.page + 1,
                cursor: Some(cursor),
                ..page.clone()
            };
            crate::queue_send::send_all(&self.sqs, queue, &[fr::page_body(&next)])
                .await
                .map_err(StoreError::Unavailable)?;
        }
        Ok(())
    }

    /// The app's health, as read at most two seconds ago.
    async fn app_health(&self, app: &AppId) -> Result<super::quarantine::Health, StoreError> {
        let mut cache = self.health.lock().await;
        if let Some((at, health)) = cache.get(app)
            && at.elapsed() < Duration::from_secs(2)
        {
            return Ok(health.clone());
        }
        let health = super::quarantine::health(&self.store, app).await?;
        cache.insert(app.clone(), (std::time::Instant::now(), health.clone()));
        Ok(health)
    }

    async fn forget_health(&self, app: &AppId) {
        self.health.lock().await.remove(app);
    }

    async fn requeue(&self, message: &DispatchMessage, after: Duration) -> Result<(), StoreError> {
        let Some(queue) = &self.queue_url else {
            return Ok(());
        };
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(serde_json::to_string(message).unwrap_or_default())
            .delay_seconds(i32::try_from(after.as_secs().clamp(1, 900)).unwrap_or(900))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))
    }

    /// A failed result of `app`: the delay before the message is tried again, or `None` once it
    /// was given up (dead-lettered, aimed at the app).
    async fn retry_or_give_up(
        &self,
        message: &DispatchMessage,
        app: &AppId,
        attempt: u32,
        result: AppResult,
    ) -> Result<Option<Duration>, DispatchError> {
        let subject = (message.event.user_id.as_ref().map(UserId::as_str))
            .or(message.event.group_id.as_ref().map(GroupId::as_str))
            .unwrap_or_default();
        match result {
            AppResult::Retry { after, reason } if attempt < self.settings.max_attempts => {
                tracing::info!(app = %app, subject, attempt, reason, "retrying");
                Ok(Some(self.settings.backoff(attempt, after)))
            }
            AppResult::Retry { reason, .. } => {
                let reason = format!("gave up after {attempt} attempts: {reason}");
                self.give_up(message, app, &reason).await?;
                Ok(None)
            }
            AppResult::Failed { reason } => {
                self.give_up(message, app, &reason).await?;
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    async fn give_up(
        &self,
        message: &DispatchMessage,
        app: &AppId,
        reason: &str,
    ) -> Result<(), DispatchError> {
        let aimed = DispatchMessage {
            app_id: Some(app.clone()),
            ..message.clone()
        };
        let body = serde_json::to_string(&aimed).unwrap_or_default();
        Ok(self
            .dead_letter(&body, Some(app), reason, message.event.user_id.as_ref())
            .await?)
    }

    async fn dead_letter(
        &self,
        body: &str,
        app: Option<&AppId>,
        reason: &str,
        user: Option<&UserId>,
    ) -> Result<(), dlq::DlqError> {
        tracing::warn!(app = ?app.map(AppId::as_str), user = ?user.map(UserId::as_str), reason, "sent to the dead-letter queue");
        match &self.dlq_url {
            Some(url) => dlq::send(&self.sqs, url, body, app, reason).await,
            None => Err(dlq::DlqError::NotConfigured),
        }
    }
}
