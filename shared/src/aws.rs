//! AWS clients, created once per cold start and shared by every invocation.
//!
//! Endpoints come from the standard SDK settings: locally `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SQS` and `AWS_ENDPOINT_URL_SECRETS_MANAGER` point at the local stack.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig, timeout::TimeoutConfig};

use crate::request_count::RequestCounter;

/// Every AWS call is bounded: a stuck connection fails the attempt, the SDK's standard retry
/// mode retries throttling and 5xx with backoff, and the whole operation has a ceiling.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build()
}

pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}

#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl AwsClients {
    /// Clients from a loaded SDK config; with a counter, every request they send is counted.
    pub fn new(sdk: &SdkConfig, counter: Option<&RequestCounter>) -> Self {
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk);
        let mut sqs = aws_sdk_sqs::config::Builder::from(sdk);
        let mut secrets = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Some(counter) = counter {
            dynamodb = dynamodb.interceptor(counter.clone());
            sqs = sqs.interceptor(counter.clone());
            secrets = secrets.interceptor(counter.clone());
        }
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            secrets: aws_sdk_secretsmanager::Client::from_conf(secrets.build()),
        }
    }

    pub async fn from_env() -> Self {
        Self::new(&load_sdk_config().await, None)
    }
}

/// What every function builds once, at cold start, before its first event: JSON logs, its
/// configuration (from the environment) and its AWS clients.
pub async fn cold_start() -> (crate::config::Config, AwsClients) {
    crate::telemetry::init();
    (crate::config::Config::from_env(), AwsClients::from_env().await)
}
