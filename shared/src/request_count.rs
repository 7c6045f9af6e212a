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
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    // Before transmit: runs once per HTTP attempt, so retries are counted as the bill counts them.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown.unknown".to_string());
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(key).or_default() += 1;
        }
        Ok(())
    }
}
