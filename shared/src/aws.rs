//! AWS clients, created once per cold start and shared by every invocation.
//!
//! The SDK's configuration comes from the environment alone, as Lambda provides it: the region
//! (`AWS_REGION`), the credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`) and the
//! endpoints (`AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`: locally
//! `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS` and `AWS_ENDPOINT_URL_SECRETS_MANAGER` point
//! at the local stack). Not aws-config's default chain: its profile files, SSO, web identity (an
//! STS client), container endpoint and instance metadata are never where a Lambda function's
//! credentials come from, and they were 0.7 MB of every package. Nor are the settings only that
//! chain reads: `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, `AWS_USE_FIPS_ENDPOINT`,
//! `AWS_USE_DUALSTACK_ENDPOINT`, `AWS_PROFILE` (the template sets none of them).

use std::time::Duration;

use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use aws_config::meta::region::ProvideRegion;
use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_types::sdk_config::SharedCredentialsProvider;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

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
    let region = EnvironmentVariableRegionProvider::new().region().await;
    let credentials = EnvironmentVariableCredentialsProvider::new();
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .service_config(EnvironmentSettings)
        // Stated, not left to the behaviour version's defaults (older ones retried nothing).
        .retry_config(RetryConfig::standard())
        .timeout_config(timeouts())
        .build()
}

/// Per-service settings from the environment, named as the SDKs name them: the service's own
/// variable (`AWS_ENDPOINT_URL_SECRETS_MANAGER`) before the general one (`AWS_ENDPOINT_URL`).
#[derive(Debug)]
struct EnvironmentSettings;

impl LoadServiceConfig for EnvironmentSettings {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        setting(key.env(), key.service_id(), |name| std::env::var(name).ok())
    }
}

fn setting(name: &str, service_id: &str, read: impl Fn(&str) -> Option<String>) -> Option<String> {
    let service = service_id.to_uppercase().replace(' ', "_");
    // An empty variable is unset: it must not hide the general one (and send a local client to AWS).
    let read = |name: &str| read(name).filter(|value| !value.is_empty());
    read(&format!("{name}_{service}")).or_else(|| read(name))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_setting_comes_before_the_general_one() {
        let env = |name: &str| match name {
            "AWS_ENDPOINT_URL_SECRETS_MANAGER" => Some("http://127.0.0.1:2".to_string()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:1".to_string()),
            _ => None,
        };
        assert_eq!(
            setting("AWS_ENDPOINT_URL", "Secrets Manager", env).as_deref(),
            Some("http://127.0.0.1:2")
        );
        assert_eq!(
            setting("AWS_ENDPOINT_URL", "DynamoDB", env).as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(setting("AWS_ENDPOINT_URL", "SQS", |_| None), None);
        let empty_service = |name: &str| match name {
            "AWS_ENDPOINT_URL_SQS" => Some(String::new()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:1".to_string()),
            _ => None,
        };
        assert_eq!(
            setting("AWS_ENDPOINT_URL", "SQS", empty_service).as_deref(),
            Some("http://127.0.0.1:1")
        );
    }
}
