//! Counts the requests the SDK clients send, per service and operation, so cost per operation is
//! measured rather than assumed (benchmarks and tests).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    /// DynamoDB capacity units the requests would consume, estimated from their bodies.
    units: Arc<Mutex<Units>>,
}

/// On-demand DynamoDB billing units: writes of 1 KB, reads of 4 KB (strongly consistent;
/// eventually consistent halves them), transactions doubling both.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub write: f64,
    pub read: f64,
}

impl RequestCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests per `Service.Operation` since the last reset.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Requests to one service (`DynamoDB`, `SQS`, `Secrets Manager`).
    pub fn total_for(&self, service: &str) -> u64 {
        self.snapshot()
            .iter()
            .filter(|(k, _)| k.split('.').next() == Some(service))
            .map(|(_, v)| v)
            .sum()
    }

    pub fn reset(&self) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.clear();
        }
        if let Ok(mut units) = self.units.lock() {
            *units = Units::default();
        }
    }

    /// DynamoDB capacity units since the last reset (see [`units_of`]).
    pub fn units(&self) -> Units {
        self.units.lock().map(|u| *u).unwrap_or_default()
    }
}

/// Kilobyte units of a JSON-encoded item: its encoding is a little longer than DynamoDB's own
/// size measure (names and values), so this errs on the dear side.
fn kb_units(item: &serde_json::Value, unit: usize) -> f64 {
    item.to_string().len().div_ceil(unit).max(1) as f64
}

/// The capacity a DynamoDB request would consume, from its JSON body: writes by the size of what
/// they write (an update or delete counts one unit: its item is not in the request), reads one
/// unit per key or per request (a Query's result is not in the request; Provisio's read at most
/// a few small items), transactional operations twice.
pub fn units_of(operation: &str, body: &serde_json::Value) -> Units {
    let put_or_one = |request: &serde_json::Value| match request.get("Item") {
        Some(item) => kb_units(item, 1024),
        None => 1.0,
    };
    let consistent = |request: &serde_json::Value| {
        if request["ConsistentRead"] == true {
            1.0
        } else {
            0.5
        }
    };
    match operation {
        "PutItem" | "UpdateItem" | "DeleteItem" => Units {
            write: put_or_one(body),
            read: 0.0,
        },
        "GetItem" | "Query" => Units {
            write: 0.0,
            read: consistent(body),
        },
        "BatchWriteItem" => Units {
            write: body["RequestItems"]
                .as_object()
                .into_iter()
                .flat_map(|tables| tables.values())
                .filter_map(|requests| requests.as_array())
                .flatten()
                .map(|r| r.get("PutRequest").map_or(1.0, put_or_one))
                .sum(),
            read: 0.0,
        },
        "BatchGetItem" => Units {
            write: 0.0,
            read: body["RequestItems"]
                .as_object()
                .into_iter()
                .flat_map(|tables| tables.values())
                .map(|t| t["Keys"].as_array().map_or(0, Vec::len) as f64 * consistent(t))
                .sum(),
        },
        "TransactWriteItems" => {
            let mut units = Units::default();
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                if let Some(put) = item.get("Put") {
                    units.write += 2.0 * put_or_one(put);
                } else if item.get("ConditionCheck").is_some() {
                    units.read += 2.0;
                } else {
                    units.write += 2.0;
                }
            }
            units
        }
        _ => Units::default(),
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    // Before transmit: runs once per HTTP attempt, so retries are counted as the bill counts them.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown.unknown".to_string());
        if let Some(operation) = key.strip_prefix("DynamoDB.")
            && let Some(body) = context.request().body().bytes()
            && let Ok(body) = serde_json::from_slice::<serde_json::Value>(body)
        {
            let units = units_of(operation, &body);
            if let Ok(mut total) = self.units.lock() {
                total.write += units.write;
                total.read += units.read;
            }
        }
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(key).or_default() += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transactions_count_twice_and_large_items_more() {
        let big = "x".repeat(1500);
        let body = json!({ "TransactItems": [
            { "Put": { "Item": { "pk": { "S": "a" } } } },
            { "Put": { "Item": { "pk": { "S": big } } } },
            { "Update": { "Key": {} } },
            { "ConditionCheck": { "Key": {} } }
        ] });
        let units = units_of("TransactWriteItems", &body);
        assert_eq!(
            units,
            Units {
                write: 2.0 + 4.0 + 2.0,
                read: 2.0
            }
        );
        assert_eq!(units_of("GetItem", &json!({ "ConsistentRead": true })).read, 1.0);
        assert_eq!(units_of("Query", &json!({})).read, 0.5);
    }
}
