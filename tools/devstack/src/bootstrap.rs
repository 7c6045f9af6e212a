//! Creates what the functions expect to find: the table with its indexes, the queues with their
//! dead-letter queues and redrive policies, the admin keys secret. Used by `make dev` (prefix
//! `provisio`) and by the tests (a unique prefix each, so tests never share state). Idempotent.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;

use provisio::aws::AwsClients;
use provisio::config::Config;
use provisio::resources::Queue;
use provisio::secrets::generate_key;
use provisio::store::{Store, schema};

#[derive(Debug, Clone)]
pub struct LocalResources {
    pub config: Config,
    pub queue_urls: HashMap<&'static str, String>,
    pub dlq_urls: HashMap<&'static str, String>,
    /// An admin key valid for this stack.
    pub admin_key: String,
}

#[derive(Debug, thiserror::Error)]
#[error("bootstrap: {0}")]
pub struct BootstrapError(String);

fn err(context: &str, e: impl std::fmt::Display) -> BootstrapError {
    BootstrapError(format!("{context}: {e}"))
}

pub async fn bootstrap(clients: &AwsClients, prefix: &str) -> Result<LocalResources, BootstrapError> {
    let table = prefix.to_string();
    schema::create_table(&Store::new(clients.dynamodb.clone(), &table))
        .await
        .map_err(|e| err("table", e))?;

    let mut queue_urls = HashMap::new();
    let mut dlq_urls = HashMap::new();
    for queue in Queue::ALL {
        let dlq_url = create_queue(clients, &queue.local_dlq_name(prefix), HashMap::new()).await?;
        let dlq_arn = crate::queues::queue_arn(&clients.sqs, &dlq_url)
            .await
            .map_err(BootstrapError)?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": queue.max_receive_count(),
        });
        let attributes = HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
            (
                QueueAttributeName::VisibilityTimeout,
                queue.visibility_timeout_secs().to_string(),
            ),
        ]);
        let url = create_queue(clients, &queue.local_name(prefix), attributes).await?;
        queue_urls.insert(queue.base_name(), url);
        dlq_urls.insert(queue.base_name(), dlq_url);
    }

    let secret_id = format!("{prefix}/admin-keys");
    let admin_key = ensure_admin_key(clients, &secret_id).await?;
    let config = Config {
        table,
        dispatch_queue_url: queue_urls.get(Queue::Dispatch.base_name()).cloned(),
        import_queue_url: queue_urls.get(Queue::Import.base_name()).cloned(),
        admin_keys_secret: secret_id,
        dispatch_dlq_url: dlq_urls.get(Queue::Dispatch.base_name()).cloned(),
        import_dlq_url: dlq_urls.get(Queue::Import.base_name()).cloned(),
        secrets_prefix: prefix.to_string(),
    };
    Ok(LocalResources {
        config,
        queue_urls,
        dlq_urls,
        admin_key,
    })
}

async fn create_queue(
    clients: &AwsClients,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<String, BootstrapError> {
    let out = clients
        .sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| err(name, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    out.queue_url
        .ok_or_else(|| BootstrapError(format!("{name}: no queue URL")))
}

/// Returns the first admin key of the secret, creating the secret with a fresh key if needed.
async fn ensure_admin_key(clients: &AwsClients, secret_id: &str) -> Result<String, BootstrapError> {
    if let Ok(existing) = provisio::secrets::read_secret(&clients.secrets, secret_id).await {
        let doc: serde_json::Value = serde_json::from_str(&existing).map_err(|e| err(secret_id, e))?;
        if let Some(key) = doc["keys"].get(0).and_then(|k| k.as_str()) {
            return Ok(key.to_string());
        }
    }
    let key = generate_key();
    let value = serde_json::json!({ "keys": [key] }).to_string();
    clients
        .secrets
        .create_secret()
        .name(secret_id)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| err(secret_id, aws_sdk_secretsmanager::error::DisplayErrorContext(e)))?;
    Ok(key)
}
