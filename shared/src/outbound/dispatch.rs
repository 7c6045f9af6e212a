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

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::configs::AppSetup;
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
use crate::directory::apps::AppKind;
use crate::directory::change::{ChangeEvent, ChangeKind};
use crate::directory::groups::Group;
use crate::directory::memberships::Membership;
use crate::directory::relay::Relay;
use crate::directory::scope::{self, Grant};
use crate::directory::users::User;
use crate::ids::{AppId, GroupId, UserId};
use crate::json_path;
use crate::queue_batch;
use crate::resources::{GSI2, SK};
use crate::store::item::{from_item, string_attr, to_item};
use crate::store::keys::{self, GROUP_PREFIX, PROFILE};
use crate::store::transaction::{op, transact};
use crate::store::{Listing, Store, StoreError};

/// A dispatch queue message: a change event, optionally aimed at one app (a redriven failure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchMessage {
    #[serde(flatten)]
    pub event: ChangeEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<AppId>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// First retry delay; doubled per attempt, with jitter.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Deliveries of a message before a retryable failure counts as permanent.
    pub max_attempts: u32,
    /// Outbox events younger than this are left to their writer's relay.
    pub sweep_grace: Duration,
    pub timeouts: Timeouts,
    /// Messages of one batch handled at the same time.
    pub concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retry_base: Duration::from_secs(10),
            retry_cap: Duration::from_secs(900),
            max_attempts: crate::resources::Queue::Dispatch.max_receive_count(),
            sweep_grace: Duration::from_secs(60),
            timeouts: Timeouts::default(),
            concurrency: 10,
        }
    }
}

impl Settings {
    /// Defaults with overrides from the environment (`PROVISIO_RETRY_BASE_SECS`, ...).
    pub fn from_env() -> Self {
        let secs = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs)
        };
        let mut s = Settings::default();
        if let Some(v) = secs("PROVISIO_RETRY_BASE_SECS") {
            s.retry_base = v;
        }
        if let Some(v) = secs("PROVISIO_SWEEP_GRACE_SECS") {
            s.sweep_grace = v;
        }
        s
    }

    /// Exponential backoff with jitter (half to full delay), never shorter than Retry-After.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        crate::retry::backoff(self.retry_base, self.retry_cap, attempt, retry_after)
    }
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
}

/// The event being handled and how far along its retries are.
struct Attempt<'a> {
    event: &'a ChangeEvent,
    number: u32,
    /// A redriven message: parked failures are tried again.
    forced: bool,
}

/// The user as the dispatcher sees it: profile (absent once deleted), links, groups.
struct UserState {
    user: Option<User>,
    links: HashMap<AppId, Link>,
    groups: BTreeSet<GroupId>,
}

/// The configuration as this process last read it: grants (scope) and app setups, loaded when
/// first needed and dropped when the configuration version moves past `version`.
#[derive(Default)]
struct ConfigView {
    version: Option<u64>,
    grants: Option<Arc<Vec<Grant>>>,
    apps: HashMap<AppId, Option<Arc<AppSetup>>>,
}

pub struct Dispatcher {
    pub store: Store,
    pub configs: Configs,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: Option<String>,
    pub dlq_url: Option<String>,
    pub relay: Option<Relay>,
    pub sender: Sender,
    pub settings: Settings,
    view: tokio::sync::Mutex<ConfigView>,
    secrets: SecretCache,
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
            relay: config
                .dispatch_queue_url
                .as_ref()
                .map(|url| Relay::new(clients.sqs.clone(), url)),
            sender: Sender::new(settings.timeouts),
            settings,
            view: Default::default(),
            secrets: Default::default(),
        }
    }

    /// Handles an SQS batch; messages to retry are reported as batch item failures after their
    /// visibility timeout was set to the backoff delay.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        // Every message of the batch was sent after its change was committed, and so after
        // every configuration change that preceded it: checking the version now means no
        // message of the batch is judged on configuration older than itself.
        if let Err(e) = self.sync_config().await {
            // Without knowing the configuration is current, nothing may be decided: every
            // message comes back after a backoff.
            tracing::warn!(error = %e, "configuration version unreadable; the batch is retried");
            let mut response = SqsBatchResponse::default();
            for message in &event.records {
                let receives = queue_batch::receive_count(message);
                self.delay(message, self.settings.backoff(receives, None)).await;
                response.batch_item_failures.push(queue_batch::failure(message));
            }
            return response;
        }
        // One user's messages one after the other, different users at once: two events of one
        // user (or a relayed and a swept copy of one) handled side by side would both see the
        // app behind and both call it.
        // Each body is parsed once, here; an unreadable one is a group of its own.
        type Parsed = (SqsMessage, Result<DispatchMessage, serde_json::Error>);
        let mut by_user: Vec<(String, Vec<Parsed>)> = Vec::new();
        for message in event.records {
            let parsed = serde_json::from_str::<DispatchMessage>(message.body.as_deref().unwrap_or_default());
            let user = match &parsed {
                Ok(m) => m.event.user_id.to_string(),
                Err(_) => message.message_id.clone().unwrap_or_default(),
            };
            match by_user.iter_mut().find(|(u, _)| *u == user) {
                Some((_, messages)) => messages.push((message, parsed)),
                None => by_user.push((user, vec![(message, parsed)])),
            }
        }
        let results: Vec<Vec<Option<BatchItemFailure>>> = futures::stream::iter(by_user)
            .map(|(_, messages)| async move {
                let mut results = Vec::with_capacity(messages.len());
                for (message, parsed) in messages {
                    results.push(self.handle_message(message, parsed).await);
                }
                results
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = results.into_iter().flatten().flatten().collect();
        response
    }

    async fn handle_message(
        &self,
        message: SqsMessage,
        parsed: Result<DispatchMessage, serde_json::Error>,
    ) -> Option<BatchItemFailure> {
        let id = message.message_id.clone().unwrap_or_default();
        let failure = || Some(queue_batch::failure(&message));
        let body = message.body.as_deref().unwrap_or_default();
        let parsed = match parsed {
            Ok(m) => m,
            Err(e) => {
                // Not ours to fix by retrying: park it where an operator sees it.
                tracing::error!(message_id = %id, error = %e, "unreadable dispatch message");
                return match self
                    .dead_letter(body, None, &format!("unreadable message: {e}"), None)
                    .await
                {
                    Ok(()) => None,
                    Err(_) => failure(),
                };
            }
        };
        let attempt = queue_batch::receive_count(&message);
        match self.dispatch(&parsed, attempt).await {
            Ok(None) => None,
            Ok(Some(after)) => {
                self.delay(&message, after).await;
                failure()
            }
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "dispatch failed; retried");
                self.delay(&message, self.settings.backoff(attempt, None)).await;
                failure()
            }
        }
    }

    async fn delay(&self, message: &SqsMessage, after: Duration) {
        queue_batch::delay(&self.sqs, self.queue_url.as_deref(), message, after).await;
    }

    /// Reconciles the event's user with every app concerned. `Some(delay)` asks for a retry.
    pub async fn dispatch(
        &self,
        message: &DispatchMessage,
        attempt: u32,
    ) -> Result<Option<Duration>, StoreError> {
        let event = &message.event;
        let (state, grants) = futures::try_join!(self.user_state(event), self.grants())?;
        let in_scope: BTreeSet<AppId> = match &state.user {
            Some(_) => grants
                .iter()
                .filter(|g| state.groups.contains(&g.group_id))
                .map(|g| g.app_id.clone())
                .collect(),
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
        let try_ = Attempt {
            event,
            number: attempt,
            forced: message.app_id.is_some(),
        };
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
            if setup.app.kind != AppKind::CustomProvisioning {
                continue;
            }
            let result = self
                .reconcile(&setup, &state, in_scope.contains(&app), &try_)
                .await?;
            match result {
                AppResult::Done => {}
                AppResult::Skipped { event: kind, reason } => {
                    skipped.push(skip_entry(&app, &try_, kind, reason).item()?);
                }
                AppResult::Wait(after) => wait = Some(wait.map_or(after, |w| w.max(after))),
                AppResult::Retry { after, reason } if attempt < self.settings.max_attempts => {
                    tracing::info!(app = %app, user = %event.user_id, attempt, reason, "retrying");
                    let delay = self.settings.backoff(attempt, after);
                    retry = Some(retry.map_or(delay, |d| d.max(delay)));
                }
                AppResult::Retry { reason, .. } => {
                    let reason = format!("gave up after {attempt} attempts: {reason}");
                    self.give_up(message, &app, &reason).await?;
                }
                AppResult::Failed { reason } => self.give_up(message, &app, &reason).await?,
            }
        }
        if !skipped.is_empty() {
            self.store.batch_put(skipped).await?;
        }
        if let (None, Some(after)) = (retry, wait) {
            // A fresh copy, delayed: waiting for another dispatch must not use up attempts.
            self.requeue(message, after).await?;
        }
        Ok(retry)
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

    async fn give_up(&self, message: &DispatchMessage, app: &AppId, reason: &str) -> Result<(), StoreError> {
        let aimed = DispatchMessage {
            event: message.event.clone(),
            app_id: Some(app.clone()),
        };
        let body = serde_json::to_string(&aimed).unwrap_or_default();
        self.dead_letter(&body, Some(app), reason, Some(&message.event.user_id))
            .await
            .map_err(StoreError::Unavailable)
    }

    async fn dead_letter(
        &self,
        body: &str,
        app: Option<&AppId>,
        reason: &str,
        user: Option<&UserId>,
    ) -> Result<(), String> {
        tracing::warn!(app = ?app.map(AppId::as_str), user = ?user.map(UserId::as_str), reason, "sent to the dead-letter queue");
        match &self.dlq_url {
            Some(url) => dlq::send(&self.sqs, url, body, app, reason).await,
            None => Err("no dead-letter queue configured".into()),
        }
    }

    /// Profile and links (one Query), groups (one Query on GSI2), and the event's own group read
    /// strongly.
    async fn user_state(&self, event: &ChangeEvent) -> Result<UserState, StoreError> {
        let pk = keys::user(&event.user_id);
        let profile_and_links = Listing {
            index: None,
            partition: &pk,
            sk_prefix: None,
        };
        let memberships = Listing {
            index: Some(GSI2),
            partition: &pk,
            sk_prefix: Some(GROUP_PREFIX),
        };
        // The event's own group is read from the table: the index may lag behind a membership
        // written a moment ago (a join, or a join just before a policy re-scoped the group).
        let event_group = match (&event.group_id, event.kind) {
            (Some(group), ChangeKind::MemberAdded | ChangeKind::MemberRemoved | ChangeKind::ScopeChanged) => {
                Some(group)
            }
            _ => None,
        };
        // Independent reads, in parallel: the dispatch's latency is one round trip, not three.
        let (items, memberships, current) = futures::try_join!(
            self.store.query_items(&profile_and_links),
            async {
                self.store
                    .query_all::<Membership>(&memberships, 10_000, 1000)
                    .await
                    .map_err(|e| StoreError::Other(e.to_string()))
            },
            async {
                match event_group {
                    Some(group) => {
                        self.store
                            .get::<Membership>(&keys::group(group), &keys::member(&event.user_id))
                            .await
                    }
                    None => Ok(None),
                }
            },
        )?;
        let mut user = None;
        let mut links = HashMap::new();
        for item in items {
            let sk = string_attr(&item, SK).unwrap_or_default();
            if sk == PROFILE {
                user = Some(from_item::<User>(item)?);
            } else if sk.starts_with(LINK_PREFIX) {
                let link: Link = from_item(item)?;
                links.insert(link.app_id.clone(), link);
            }
        }
        let mut groups: BTreeSet<GroupId> = BTreeSet::new();
        if user.is_some() {
            groups.extend(memberships.unwrap_or_default().into_iter().map(|m| m.group_id));
            // The index may not show a membership written a moment ago; the table does.
            if let Some(group) = event_group {
                if current.is_some() {
                    groups.insert(group.clone());
                } else {
                    groups.remove(group);
                }
            }
        }
        Ok(UserState { user, links, groups })
    }

    /// Drops the configuration this process holds if the configuration version moved (one
    /// strongly consistent GetItem). An error means the batch must not be decided now.
    async fn sync_config(&self) -> Result<(), StoreError> {
        let mut version = scope::version(&self.store).await?;
        if !version.grants_complete() {
            // A table from before grants existed: write them once, before deciding from them.
            let n = scope::backfill(&self.store).await?;
            tracing::info!(grants = n, "grants backfilled from the policies");
            version = scope::version(&self.store).await?;
        }
        let mut view = self.view.lock().await;
        if view.version.is_none_or(|held| held < version.version) {
            *view = ConfigView {
                version: Some(version.version),
                ..ConfigView::default()
            };
        }
        Ok(())
    }

    /// Every app login policy as a grant, read strongly when the view has none.
    async fn grants(&self) -> Result<Arc<Vec<Grant>>, StoreError> {
        let mut view = self.view.lock().await;
        if let Some(grants) = &view.grants {
            return Ok(grants.clone());
        }
        let grants = Arc::new(scope::grants(&self.store).await?);
        view.grants = Some(grants.clone());
        Ok(grants)
    }

    async fn setup(&self, app: &AppId) -> Result<Option<Arc<AppSetup>>, StoreError> {
        let mut view = self.view.lock().await;
        if let Some(setup) = view.apps.get(app) {
            return Ok(setup.clone());
        }
        let setup = self.configs.setup(app).await?.map(Arc::new);
        view.apps.insert(app.clone(), setup.clone());
        Ok(setup)
    }

    async fn secret(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
    ) -> Result<Option<(crate::connector::auth_config::AuthConfig, AuthSecret)>, SecretFailure> {
        let Some(auth_id) = setup.events.get(&kind).and_then(|e| e.auth_id.as_ref()) else {
            return Ok(None);
        };
        let auth = setup
            .auths
            .get(auth_id)
            .ok_or_else(|| SecretFailure::Gone(format!("authorization config {auth_id} is gone")))?;
        // Unreadable is retried: a config replaced a moment ago may have moved its secret, and
        // the next batch reads the new config.
        let secret = self
            .secrets
            .get(&self.configs, auth)
            .await
            .map_err(|e| SecretFailure::Unreadable(e.to_string()))?;
        Ok(Some((auth.clone(), secret)))
    }

    /// Brings one app in line with the user's state: asks [`reconcile::next_step`] what to do,
    /// does it (a call, a link write), and asks again with the link as stored. Every way out that
    /// calls nothing for a user the app is concerned with says why ([`AppResult::Skipped`], or a
    /// skip logged with the link write in [`Dispatcher::fire_and_store`]).
    async fn reconcile(
        &self,
        setup: &AppSetup,
        state: &UserState,
        in_scope: bool,
        attempt: &Attempt<'_>,
    ) -> Result<AppResult, StoreError> {
        let enabled: Vec<ChangeKind> = setup
            .events
            .values()
            .filter(|e| e.enabled)
            .map(|e| e.kind)
            .collect();
        let mut link = state.links.get(&setup.app.id).cloned();
        let snapshot = |fallback: &Link| match &state.user {
            Some(user) => serde_json::to_value(user).unwrap_or(Value::Null),
            None => fallback.snapshot.clone(),
        };
        // Each step moves the link on (a create, a profile change, one group): bounded by them.
        let most_steps = 4 + state.groups.len() + link.as_ref().map_or(0, |l| l.groups.len());
        for acted in std::iter::once(false)
            .chain(std::iter::repeat(true))
            .take(most_steps)
        {
            let step = reconcile::next_step(&reconcile::Situation {
                link: link.as_ref(),
                user: state.user.as_ref(),
                in_scope,
                groups: &state.groups,
                enabled: &enabled,
                deprovision: setup.app.deprovision,
                event: attempt.event.kind,
                event_id: &attempt.event.id,
                forced: attempt.forced,
                acted,
                now: time::OffsetDateTime::now_utc(),
            });
            match step {
                Step::Done => return Ok(AppResult::Done),
                Step::Skip { event, reason } => return Ok(AppResult::Skipped { event, reason }),
                Step::Wait(after) => return Ok(AppResult::Wait(after)),
                Step::Deprovision { kind, next } => {
                    let Some(current) = link else {
                        return Ok(AppResult::Done);
                    };
                    let snapshot = snapshot(&current);
                    return self
                        .fire_and_store(setup, kind, &current, next, snapshot, None, attempt)
                        .await;
                }
                Step::Create => {
                    let Some(user) = &state.user else {
                        return Ok(AppResult::Done);
                    };
                    let snapshot = serde_json::to_value(user).unwrap_or(Value::Null);
                    match self
                        .create(setup, user, link.as_ref(), &snapshot, attempt)
                        .await?
                    {
                        Ok(created) => link = Some(created),
                        Err(result) => return Ok(result),
                    }
                }
                Step::Advance { kind, next, group } => {
                    let Some(current) = link else {
                        return Ok(AppResult::Done);
                    };
                    let snapshot = snapshot(&current);
                    match self
                        .advance(setup, kind, &current, next, &snapshot, group.as_ref(), attempt)
                        .await?
                    {
                        Ok(stored) => link = Some(stored),
                        Err(result) => return Ok(result),
                    }
                }
            }
        }
        Ok(AppResult::Retry {
            after: None,
            reason: "the reconcile did not settle; tried again".into(),
        })
    }

    /// One step of a reconcile: fires `kind` and stores `next`. `Ok` is the link as now stored,
    /// for the next step; `Err` what to report when the step did not go through.
    #[allow(clippy::too_many_arguments)]
    async fn advance(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
        current: &Link,
        next: Link,
        snapshot: &Value,
        group: Option<&GroupId>,
        attempt: &Attempt<'_>,
    ) -> Result<Result<Link, AppResult>, StoreError> {
        let result = self
            .fire_and_store(
                setup,
                Some(kind),
                current,
                Some(next.clone()),
                snapshot.clone(),
                group,
                attempt,
            )
            .await?;
        Ok(match result {
            AppResult::Done => Ok(Link {
                version: current.version + 1,
                ..next
            }),
            other => Err(other),
        })
    }

    /// Claims the link, calls the create endpoint, stores the account id with the log entry.
    /// `Err` carries what to report when the create did not happen. A create that will be
    /// retried keeps its claim, so no other event's dispatch creates the account meanwhile.
    async fn create(
        &self,
        setup: &AppSetup,
        user: &User,
        previous: Option<&Link>,
        snapshot: &Value,
        attempt: &Attempt<'_>,
    ) -> Result<Result<Link, AppResult>, StoreError> {
        let table = &self.store.table;
        let claim = Link {
            user_id: user.id.clone(),
            app_id: setup.app.id.clone(),
            state: LinkState::Creating,
            external_id: None,
            user_version: user.version,
            groups: Vec::new(),
            snapshot: Value::Null,
            claimed_by: Some(attempt.event.id.clone()),
            parked: None,
            version: previous.map_or(1, |s| s.version + 1),
            last_modified: crate::timestamp::now(),
        };
        let item = to_item(&claim, &claim.keys())?;
        let put = match previous {
            None => op::put_new(table, item),
            Some(s) => op::put_if_version(table, item, s.version),
        };
        if transact(&self.store, vec![put]).await?.is_err() {
            // Another dispatch got there first; its outcome decides.
            return Ok(Err(AppResult::Wait(Duration::from_secs(2))));
        }
        let ctx = Context {
            user: snapshot.clone(),
            external_user_id: None,
            group: None,
        };
        let config = &setup.events[&ChangeKind::UserCreated];
        if let Some(lookup) = &config.lookup {
            match self
                .lookup(setup, lookup, &ctx, &claim, snapshot, attempt)
                .await?
            {
                Some(Ok(linked)) => return Ok(Ok(linked)),
                Some(Err(result)) => return Ok(Err(result)),
                None => {}
            }
        }
        let (delivery, entry) = match self.call(setup, ChangeKind::UserCreated, &ctx, attempt).await {
            Ok(pair) => pair,
            Err(reason) => {
                self.park_claim(&claim, None).await?;
                return Ok(Err(AppResult::Failed { reason }));
            }
        };
        if delivery.verdict != Verdict::Done {
            let result = self.result(delivery.verdict, attempt);
            if matches!(result, AppResult::Failed { .. }) {
                self.park_claim(&claim, Some(&entry)).await?;
            } else {
                self.store.batch_put(vec![entry.item()?]).await?;
            }
            return Ok(Err(result));
        }
        let path = config
            .external_id_path
            .as_deref()
            .unwrap_or(DEFAULT_EXTERNAL_ID_PATH);
        let external_id = delivery
            .body
            .as_ref()
            .and_then(|b| json_path::lookup(b, path))
            .and_then(json_path::scalar_text);
        let mut entry = entry;
        if external_id.is_none() {
            entry.error = Some(format!("created, but the response has no id at `{path}`"));
        }
        let created = self
            .activate(claim.clone(), external_id, claim.user_version, snapshot, &entry)
            .await?;
        Ok(Ok(created))
    }

    /// The claim becomes an active link to the app's account, stored with the log entry.
    async fn activate(
        &self,
        claim: Link,
        external_id: Option<String>,
        user_version: u64,
        snapshot: &Value,
        entry: &LogEntry,
    ) -> Result<Link, StoreError> {
        let table = &self.store.table;
        let active = Link {
            state: LinkState::Active,
            external_id,
            user_version,
            snapshot: snapshot.clone(),
            claimed_by: None,
            version: claim.version + 1,
            last_modified: crate::timestamp::now(),
            ..claim.clone()
        };
        let ops = vec![
            op::put_if_version(table, to_item(&active, &active.keys())?, claim.version),
            op::put(table, entry.item()?),
        ];
        transact(&self.store, ops)
            .await?
            .map_err(|_| StoreError::Other("the create claim was taken over".into()))?;
        Ok(active)
    }

    /// Searches the app for the user's account. `Some(Ok(link))`: found and linked (at user
    /// version 0, so the update that follows brings the account up to date); `None`: not found,
    /// create it; `Some(Err)`: the search failed.
    async fn lookup(
        &self,
        setup: &AppSetup,
        lookup: &super::event_config::Lookup,
        ctx: &Context,
        claim: &Link,
        snapshot: &Value,
        attempt: &Attempt<'_>,
    ) -> Result<Option<Result<Link, AppResult>>, StoreError> {
        let (delivery, entry) = match self
            .send(setup, ChangeKind::UserCreated, &lookup.request, ctx, attempt)
            .await
        {
            Ok(pair) => pair,
            Err(reason) => {
                self.park_claim(claim, None).await?;
                return Ok(Some(Err(AppResult::Failed { reason })));
            }
        };
        let found = match (&delivery.verdict, delivery.status) {
            (_, Some(404)) => None,
            (Verdict::Done, _) => delivery
                .body
                .as_ref()
                .and_then(|b| json_path::lookup(b, &lookup.external_id_path))
                .and_then(json_path::scalar_text),
            (verdict, _) => {
                let result = self.result(verdict.clone(), attempt);
                if matches!(result, AppResult::Failed { .. }) {
                    self.park_claim(claim, Some(&entry)).await?;
                } else {
                    self.store.batch_put(vec![entry.item()?]).await?;
                }
                return Ok(Some(Err(result)));
            }
        };
        let Some(external_id) = found else {
            return Ok(None);
        };
        let linked = self
            .activate(claim.clone(), Some(external_id), 0, snapshot, &entry)
            .await?;
        Ok(Some(Ok(linked)))
    }

    /// A create that failed for good: the claim becomes a parked failure.
    async fn park_claim(&self, claim: &Link, entry: Option<&LogEntry>) -> Result<(), StoreError> {
        let table = &self.store.table;
        let failed = Link {
            state: LinkState::Failed,
            claimed_by: None,
            parked: Some(claim.user_version),
            version: claim.version + 1,
            last_modified: crate::timestamp::now(),
            ..claim.clone()
        };
        let mut ops = vec![op::put_if_version(
            table,
            to_item(&failed, &failed.keys())?,
            claim.version,
        )];
        if let Some(entry) = entry {
            ops.push(op::put(table, entry.item()?));
        }
        let _ = transact(&self.store, ops).await?;
        Ok(())
    }

    /// Fires `kind` (when the app has an enabled config for it) and stores `next` (or deletes the link when `None`) with
    /// the log entry, in one transaction, only if the call succeeded.
    #[allow(clippy::too_many_arguments)]
    async fn fire_and_store(
        &self,
        setup: &AppSetup,
        kind: Option<ChangeKind>,
        link: &Link,
        next: Option<Link>,
        snapshot: Value,
        group: Option<&GroupId>,
        attempt: &Attempt<'_>,
    ) -> Result<AppResult, StoreError> {
        let table = &self.store.table;
        let requested = kind;
        // An event the app has no (enabled) config for is not sent; the link still moves on.
        let kind = kind.filter(|k| setup.enabled(*k));
        let write = |next: &Option<Link>, entry: Option<&LogEntry>| -> Result<Vec<_>, StoreError> {
            let mut ops = vec![match next {
                Some(n) => {
                    let stored = Link {
                        version: link.version + 1,
                        last_modified: crate::timestamp::now(),
                        ..n.clone()
                    };
                    op::put_if_version(table, to_item(&stored, &stored.keys())?, link.version)
                }
                None => op::delete_if_version(table, link.keys().primary(), link.version),
            }];
            if let Some(entry) = entry {
                ops.push(op::put(table, entry.item()?));
            }
            Ok(ops)
        };
        let Some(kind) = kind else {
            // Nothing to tell the app; remember the state all the same, and say why.
            let skip = match requested {
                Some(k) => skip_entry(&setup.app.id, attempt, k, Skip::NotConfigured(k)),
                None => skip_entry(&setup.app.id, attempt, attempt.event.kind, Skip::NoAccount),
            };
            transact(&self.store, write(&next, Some(&skip))?)
                .await?
                .map_err(|_| StoreError::Other("link changed meanwhile".into()))?;
            return Ok(AppResult::Done);
        };
        let group_value = match group {
            Some(g) => Some(self.group_value(g).await?),
            None => None,
        };
        let ctx = Context {
            user: snapshot,
            external_user_id: link.external_id.clone(),
            group: group_value,
        };
        let (delivery, entry) = match self.call(setup, kind, &ctx, attempt).await {
            Ok(pair) => pair,
            Err(reason) => return Ok(AppResult::Failed { reason }),
        };
        // A delete of an account the app no longer has is done.
        let gone = kind == ChangeKind::UserDeleted && matches!(delivery.status, Some(404 | 410));
        if delivery.verdict == Verdict::Done || gone {
            return match transact(&self.store, write(&next, Some(&entry))?).await? {
                Ok(()) => Ok(AppResult::Done),
                Err(_) => Ok(AppResult::Wait(Duration::from_secs(1))),
            };
        }
        let result = self.result(delivery.verdict, attempt);
        if matches!(result, AppResult::Failed { .. }) {
            // Parked at this version: later events of the same state leave the app alone.
            let parked = Link {
                parked: Some(link.user_version.max(snapshot_version(&ctx.user))),
                ..link.clone()
            };
            let _ = transact(&self.store, write(&Some(parked), Some(&entry))?).await?;
        } else {
            self.store.batch_put(vec![entry.item()?]).await?;
        }
        Ok(result)
    }

    /// A retryable verdict on the last attempt is a failure.
    fn result(&self, verdict: Verdict, attempt: &Attempt<'_>) -> AppResult {
        match verdict {
            Verdict::Done => AppResult::Done,
            Verdict::Retry { reason, .. } if attempt.number >= self.settings.max_attempts => {
                AppResult::Failed {
                    reason: format!("gave up after {} attempts: {reason}", attempt.number),
                }
            }
            Verdict::Retry { after, reason } => AppResult::Retry { after, reason },
            Verdict::Permanent { reason } => AppResult::Failed { reason },
        }
    }

    async fn group_value(&self, group: &GroupId) -> Result<Value, StoreError> {
        let stored: Option<Group> = self.store.get(&keys::group(group), PROFILE).await?;
        Ok(match stored {
            Some(g) => json!({ "id": g.id, "name": g.name, "externalId": g.external_id }),
            None => json!({ "id": group }),
        })
    }

    /// Renders and sends the event config of `kind`; the log entry describes the attempt. `Err`
    /// when the config can't be used at all (its authorization or secret is missing).
    async fn call(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
        ctx: &Context,
        attempt: &Attempt<'_>,
    ) -> Result<(Delivery, LogEntry), String> {
        let config = setup
            .events
            .get(&kind)
            .ok_or_else(|| format!("no {} event config", kind_name(kind)))?;
        self.send(setup, kind, &config.request, ctx, attempt).await
    }

    /// Renders `request` with the authorization of `kind`'s config and sends it.
    async fn send(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
        request: &crate::connector::request::RequestTemplate,
        ctx: &Context,
        attempt: &Attempt<'_>,
    ) -> Result<(Delivery, LogEntry), String> {
        if !crate::connector::template::origin_is_fixed(&request.url) {
            // A config saved before the rule: a value must not choose where credentials go.
            return Err(
                "the URL template lets a placeholder choose the scheme, host or port; not sent (fix the config)"
                    .into(),
            );
        }
        let rendered = request.render(ctx);
        let delivery = match self.secret(setup, kind).await {
            Ok(auth) => {
                self.sender
                    .send(&rendered, auth.as_ref().map(|(c, s)| (c, s)))
                    .await
            }
            Err(SecretFailure::Gone(reason)) => return Err(reason),
            Err(SecretFailure::Unreadable(reason)) => Delivery {
                status: None,
                latency: Duration::ZERO,
                body: None,
                verdict: Verdict::Retry {
                    after: None,
                    reason: format!("authorization secret unreadable: {reason}"),
                },
            },
        };
        let (outcome, error) = match &delivery.verdict {
            Verdict::Done => (Outcome::Succeeded, None),
            Verdict::Retry { reason, .. } if attempt.number < self.settings.max_attempts => {
                (Outcome::Retrying, Some(reason.clone()))
            }
            Verdict::Retry { reason, .. } | Verdict::Permanent { reason } => {
                (Outcome::Failed, Some(reason.clone()))
            }
        };
        let entry = LogEntry {
            id: uuid::Uuid::now_v7().to_string(),
            at: crate::timestamp::now(),
            app_id: setup.app.id.clone(),
            user_id: attempt.event.user_id.clone(),
            event: kind,
            method: format!("{:?}", rendered.method).to_uppercase(),
            url: rendered.url.split('?').next().unwrap_or_default().to_string(),
            status: delivery.status,
            latency_ms: u64::try_from(delivery.latency.as_millis()).unwrap_or(u64::MAX),
            outcome,
            attempt: attempt.number,
            error: error.as_deref().map(log::excerpt),
            reason: None,
        };
        Ok((delivery, entry))
    }

    /// Moves outbox events older than the grace period to the dispatch queue.
    pub async fn sweep(&self) -> Result<usize, crate::directory::relay::RelayError> {
        match &self.relay {
            Some(relay) => relay.sweep(&self.store, self.settings.sweep_grace).await,
            None => Ok(0),
        }
    }
}

/// Why an authorization could not be used.
enum SecretFailure {
    /// The event config names an authorization config that no longer exists: permanent.
    Gone(String),
    /// Secrets Manager did not give the secret: retried.
    Unreadable(String),
}

/// The log entry of a decision not to call `app` about the attempt's user.
fn skip_entry(app: &AppId, attempt: &Attempt<'_>, event: ChangeKind, reason: Skip) -> LogEntry {
    LogEntry {
        id: uuid::Uuid::now_v7().to_string(),
        at: crate::timestamp::now(),
        app_id: app.clone(),
        user_id: attempt.event.user_id.clone(),
        event,
        method: String::new(),
        url: String::new(),
        status: None,
        latency_ms: 0,
        outcome: Outcome::Skipped,
        attempt: attempt.number,
        error: None,
        reason: Some(reason.to_string()),
    }
}

/// The version of a user snapshot (`u64::MAX` when the user is gone: nothing newer can come).
fn snapshot_version(user: &Value) -> u64 {
    user.get("version").and_then(Value::as_u64).unwrap_or(u64::MAX)
}
