//! Metrics in CloudWatch Embedded Metric Format: one JSON line on stdout per measurement, which
//! Lambda's log delivery turns into CloudWatch metrics (namespace `Provisio`) without a
//! PutMetricData call. Dimensions are chosen for cost: each distinct combination is a custom
//! metric billed monthly, so calls are counted by outcome (four), failures and held deprovisions
//! by app (an app appears only when something went wrong with it), import records by outcome.

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "Provisio";

/// Calls to apps, by `Outcome` (succeeded, retrying, failed) and in total.
pub const CALLS: &str = "Calls";
/// Their latency, in milliseconds.
pub const CALL_LATENCY: &str = "CallLatency";
/// Calls that failed for good, by `AppId` and in total.
pub const FAILED_CALLS: &str = "FailedCalls";
/// Deprovisions held by a deletion threshold, by `AppId` and in total.
pub const HELD_DEPROVISIONS: &str = "HeldDeprovisions";
/// Apps quarantined (their calls kept failing), by `AppId` and in total.
pub const QUARANTINES: &str = "Quarantines";
/// Import records by outcome.
pub const IMPORT_CREATED: &str = "ImportRecordsCreated";
pub const IMPORT_UPDATED: &str = "ImportRecordsUpdated";
pub const IMPORT_UNCHANGED: &str = "ImportRecordsUnchanged";
pub const IMPORT_FAILED: &str = "ImportRecordsFailed";

/// Every metric the functions emit (the dashboard and alarms in `infra/` name only these).
pub const ALL: [&str; 9] = [
    CALLS,
    QUARANTINES,
    CALL_LATENCY,
    FAILED_CALLS,
    HELD_DEPROVISIONS,
    IMPORT_CREATED,
    IMPORT_UPDATED,
    IMPORT_UNCHANGED,
    IMPORT_FAILED,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF document: `values` recorded under each of `dimension_sets` (an empty set: the total),
/// with `dimensions` giving the dimensions' values.
pub fn document(
    dimensions: &[(&str, &str)],
    dimension_sets: &[&[&str]],
    values: &[(&str, f64, Unit)],
    timestamp_ms: i128,
) -> Value {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimension_sets,
                "Metrics": values.iter().map(|(name, _, unit)| json!({ "Name": name, "Unit": unit.name() })).collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, value) in dimensions {
        root.insert((*name).into(), Value::String((*value).into()));
    }
    for (name, value, _) in values {
        root.insert((*name).into(), json!(value));
    }
    Value::Object(root)
}

/// Writes one EMF line to stdout.
pub fn emit(dimensions: &[(&str, &str)], dimension_sets: &[&[&str]], values: &[(&str, f64, Unit)]) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    println!("{}", document(dimensions, dimension_sets, values, now));
}

/// A call to an app: counted by outcome; a failure also by app, unless the answer was a 404 or
/// 410 (a lookup that found no account, a delete of an account already gone: not failures).
pub fn call(app: &str, outcome: &str, status: Option<u16>, latency_ms: u64) {
    emit(
        &[("Outcome", outcome)],
        &[&["Outcome"], &[]],
        &[
            (CALLS, 1.0, Unit::Count),
            (CALL_LATENCY, latency_ms as f64, Unit::Milliseconds),
        ],
    );
    if outcome == "failed" && !matches!(status, Some(404 | 410)) {
        emit(
            &[("AppId", app)],
            &[&["AppId"], &[]],
            &[(FAILED_CALLS, 1.0, Unit::Count)],
        );
    }
}

/// Deprovisions held: by `app`'s deletion threshold (one at a time), or deactivations of users
/// missing from one of its import runs (past the import's threshold, all at once).
pub fn held(app: &str, count: u64) {
    emit(
        &[("AppId", app)],
        &[&["AppId"], &[]],
        &[(HELD_DEPROVISIONS, count as f64, Unit::Count)],
    );
}

/// `app` was quarantined.
pub fn quarantined(app: &str) {
    emit(
        &[("AppId", app)],
        &[&["AppId"], &[]],
        &[(QUARANTINES, 1.0, Unit::Count)],
    );
}

/// One import page's records.
pub fn import_page(created: u64, updated: u64, unchanged: u64, failed: u64) {
    emit(
        &[],
        &[&[]],
        &[
            (IMPORT_CREATED, created as f64, Unit::Count),
            (IMPORT_UPDATED, updated as f64, Unit::Count),
            (IMPORT_UNCHANGED, unchanged as f64, Unit::Count),
            (IMPORT_FAILED, failed as f64, Unit::Count),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_what_cloudwatch_extracts() {
        let doc = document(
            &[("Outcome", "failed")],
            &[&["Outcome"], &[]],
            &[
                (CALLS, 1.0, Unit::Count),
                (CALL_LATENCY, 42.0, Unit::Milliseconds),
            ],
            1_700_000_000_000,
        );
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], "Provisio");
        assert_eq!(directive["Dimensions"], json!([["Outcome"], []]));
        assert_eq!(
            directive["Metrics"],
            json!([{ "Name": "Calls", "Unit": "Count" }, { "Name": "CallLatency", "Unit": "Milliseconds" }])
        );
        // Every dimension and metric named in the directive is a member of the document.
        assert_eq!(doc["Outcome"], "failed");
        assert_eq!(
            (doc["Calls"].as_f64(), doc["CallLatency"].as_f64()),
            (Some(1.0), Some(42.0))
        );
    }
}
