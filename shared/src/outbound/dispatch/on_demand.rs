//! Provision on demand (Entra's "provision on demand"): for one user and one app, now, the calls
//! that the user's current state requires, taken by the same reconcile as every event, and shown
//! as they went: each request (authorization masked) and the app's answer (credentials
//! redacted). A call to retry goes to the dispatch queue; a permanent failure is parked and
//! logged as usual, but not dead-lettered (the administrator is looking at it).

use std::sync::Mutex;

use super::*;
use crate::directory::change::ChangeEvent;
use crate::outbound::log::Outcome;

/// One call of a provision on demand.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exchange {
    pub event: ChangeKind,
    /// Method, URL, headers (the authorization by type only) and body, as sent.
    pub request: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub outcome: Outcome,
    /// The start of the answer's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a provision on demand did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnDemand {
    pub in_scope: bool,
    /// `done`, `skipped` (nothing to send: `reason` says why), `held` (by the deletion
    /// threshold), `retrying` (the dispatch queue tries again), `waiting` (another dispatch is
    /// creating the account) or `failed`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub calls: Vec<Exchange>,
}

#[derive(Debug, thiserror::Error)]
pub enum OnDemandError {
    #[error("no {0} {1}")]
    NotFound(&'static str, String),
    #[error("only custom_provisioning apps are provisioned to")]
    NotCustom,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a reconcile records its calls, when someone is watching.
pub(super) type Recorder = Mutex<Vec<Exchange>>;

impl Dispatcher {
    pub async fn provision_now(&self, app: &AppId, user: &UserId) -> Result<OnDemand, OnDemandError> {
        // Decided on the configuration as it is now, like every batch.
        self.sync_config().await?;
        // As a change of the user: an account already up to date is a skip that says so.
        let event = ChangeEvent::new(ChangeKind::UserUpdated, user, None, None);
        let (state, scope) = futures::try_join!(self.user_state(user, &event), self.scope())?;
        if state.user.is_none() && !state.links.contains_key(app) {
            return Err(OnDemandError::NotFound("user", user.to_string()));
        }
        let setup = self
            .setup(app)
            .await?
            .ok_or_else(|| OnDemandError::NotFound("app", app.to_string()))?;
        if !setup.app.kind.is_outbound() {
            return Err(OnDemandError::NotCustom);
        }
        let in_scope = state.user.is_some() && scope.apps_of(&state.groups).any(|a| a == app);
        let record = Recorder::default();
        let attempt = Attempt {
            event: &event,
            number: 1,
            forced: true,
            approved: false,
            record: Some(&record),
            answered: Default::default(),
            troubled: Default::default(),
            resend: false,
        };
        let result = Box::pin(self.reconcile(&setup, &state, in_scope, &attempt)).await?;
        let aimed = DispatchMessage {
            event: event.clone(),
            app_id: Some(app.clone()),
            approved: false,
            attempts: 1,
            deferred: false,
            resend: false,
        };
        let (result, reason) = match result {
            AppResult::Done => ("done", None),
            AppResult::Held => (
                "held",
                Some("held by the app's deletion threshold: approve or reject it on the app's page".into()),
            ),
            AppResult::Skipped { event: kind, reason } => {
                let entry = steps::skip_entry(app, &attempt, kind, reason);
                self.store.batch_put(vec![entry.item()?]).await?;
                ("skipped", Some(reason.to_string()))
            }
            AppResult::Wait(after) => {
                self.requeue(&aimed, after).await?;
                (
                    "waiting",
                    Some("another dispatch is creating the account; the queue looks again".into()),
                )
            }
            AppResult::Retry { after, reason } => {
                self.requeue(&aimed, self.settings.backoff(1, after)).await?;
                (
                    "retrying",
                    Some(format!("{reason}; the dispatch queue tries again")),
                )
            }
            AppResult::Failed { reason } => ("failed", Some(reason)),
        };
        let calls = record.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(OnDemand {
            in_scope,
            result,
            reason,
            calls,
        })
    }
}
