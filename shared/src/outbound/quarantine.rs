//! App quarantine: an app whose calls keep failing (5xx, timeouts, 429) stops being called. Its
//! messages wait (a delayed copy aimed at it, attempts not used up) and one probe call every few
//! minutes tells whether it answers again; the first success lifts the quarantine. So an outage
//! costs the app one call per probe interval instead of one per message and retry.
//!
//! The health item `APP#<id>` / `HEALTH` counts transient failures in a fixed window (written only
//! when a call fails: a healthy app costs nothing); `failures` reaching the threshold quarantines
//! the app until `quarantinedUntil` (listed under `gsi1` `QUARANTINED` for the dashboard). The
//! dispatcher that finds that time passed claims the probe by moving it on (a conditional write:
//! one probe per interval, however many dispatchers), calls, and lifts the quarantine on success.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::ids::AppId;
use crate::resources::GSI1;
use crate::store::item::key;
use crate::store::keys;
use crate::store::transaction::update_if;
use crate::store::{Listing, QueryError, Store, StoreError};

const HEALTH_SK: &str = "HEALTH";
/// GSI1 partition of quarantined apps.
pub const LIST_QUARANTINED: &str = "QUARANTINED";

/// When an app is quarantined and probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Transient failures within `window` that quarantine the app.
    pub failures: u32,
    pub window: Duration,
    /// How often a quarantined app is probed.
    pub probe_every: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            failures: 20,
            window: Duration::from_secs(300),
            probe_every: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    #[serde(default)]
    pub window_start: i64,
    #[serde(default)]
    pub failures: u32,
    /// Unix seconds until which the app is not called (but for the probe that moves it on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined_since: Option<String>,
}

/// Whether the dispatcher may call an app now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Quarantined: try again at this time (Unix seconds).
    Closed(i64),
    /// Quarantined, and this dispatcher holds the probe: one call, to see.
    Probe,
}

pub async fn health(store: &Store, app: &AppId) -> Result<Health, StoreError> {
    Ok(store
        .get::<Health>(&keys::app(app), HEALTH_SK)
        .await?
        .unwrap_or_default())
}

async fn update(
    store: &Store,
    app: &AppId,
    expression: &str,
    condition: Option<&str>,
    values: Vec<(&str, AttributeValue)>,
) -> Result<bool, StoreError> {
    let names = [
        ("#a", "appId"),
        ("#w", "windowStart"),
        ("#f", "failures"),
        ("#u", "quarantinedUntil"),
        ("#s", "quarantinedSince"),
        ("#gp", GSI1.pk),
        ("#gs", GSI1.sk),
    ];
    update_if(
        store,
        key(keys::app(app), HEALTH_SK),
        expression,
        condition,
        &names,
        values,
    )
    .await
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The gate for `app` as `health` shows it at `now` (Unix seconds); claims the probe when due.
pub async fn gate(
    store: &Store,
    app: &AppId,
    health: &Health,
    now: i64,
    rules: &Rules,
) -> Result<Gate, StoreError> {
    let Some(until) = health.quarantined_until else {
        return Ok(Gate::Open);
    };
    if now < until {
        return Ok(Gate::Closed(until));
    }
    let next = now + i64::try_from(rules.probe_every.as_secs()).unwrap_or(300);
    let claimed = update(
        store,
        app,
        "SET #u = :next",
        Some("#u = :until"),
        vec![(":next", n(next)), (":until", n(until))],
    )
    .await?;
    Ok(if claimed { Gate::Probe } else { Gate::Closed(next) })
}

/// Counts a transient failure of a call to `app`; `true` when it quarantined the app.
pub async fn failed(store: &Store, app: &AppId, now: i64, rules: &Rules) -> Result<bool, StoreError> {
    let len = i64::try_from(rules.window.as_secs().max(1)).unwrap_or(300);
    let start = now - now.rem_euclid(len);
    let counted = update(
        store,
        app,
        "SET #f = #f + :one",
        Some("#w = :w"),
        vec![(":one", n(1)), (":w", n(start))],
    )
    .await?;
    if !counted {
        // A new window (or the first failure ever): it starts at one.
        update(
            store,
            app,
            "SET #w = :w, #f = :one",
            Some("attribute_not_exists(#w) OR #w < :w"),
            vec![(":one", n(1)), (":w", n(start))],
        )
        .await?;
    }
    let current = health(store, app).await?;
    if current.quarantined_until.is_some()
        || current.window_start != start
        || current.failures < rules.failures
    {
        return Ok(false);
    }
    let until = now + i64::try_from(rules.probe_every.as_secs()).unwrap_or(300);
    let since = crate::timestamp::now();
    let quarantined = update(
        store,
        app,
        "SET #a = :app, #u = :until, #s = :since, #gp = :list, #gs = :sort",
        Some("attribute_not_exists(#u)"),
        vec![
            (":app", AttributeValue::S(app.to_string())),
            (":until", n(until)),
            (":since", AttributeValue::S(since.clone())),
            (":list", AttributeValue::S(LIST_QUARANTINED.into())),
            (":sort", AttributeValue::S(format!("{since}#{app}"))),
        ],
    )
    .await?;
    if quarantined {
        tracing::warn!(app = %app, failures = current.failures, "app quarantined: most calls fail");
        crate::metrics::quarantined(app.as_str());
    }
    Ok(quarantined)
}

/// The app answered: calls resume.
pub async fn lift(store: &Store, app: &AppId) -> Result<(), StoreError> {
    update(
        store,
        app,
        "SET #f = :zero REMOVE #u, #s, #gp, #gs",
        Some("attribute_exists(#u)"),
        vec![(":zero", n(0))],
    )
    .await?;
    tracing::info!(app = %app, "app quarantine lifted: it answers again");
    Ok(())
}

/// A quarantined app on the dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuarantinedApp {
    pub app_id: AppId,
    pub quarantined_since: String,
    /// Unix seconds of the next probe.
    pub quarantined_until: i64,
}

/// The quarantined apps, oldest first (at most `limit`).
pub async fn quarantined_apps(store: &Store, limit: u32) -> Result<Vec<QuarantinedApp>, QueryError> {
    let listing = Listing {
        index: Some(GSI1),
        partition: LIST_QUARANTINED,
        sk_prefix: None,
    };
    Ok(store
        .query_page::<QuarantinedApp>(&listing, limit, None)
        .await?
        .items)
}
