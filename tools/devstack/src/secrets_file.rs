//! `make dev` keeps its data between runs: DynamoDB Local writes to disk, but moto (SQS, Secrets
//! Manager) holds everything in memory. The secrets (the admin key, the authorization configs'
//! credentials) are saved to a file beside the table, readable by its owner only, and put back
//! before the next run's bootstrap, so the admin key stays the same and saved configs keep working.
//! Queues are created again, empty: the stream feeder goes on from its checkpoint in the table, and
//! events that were on the old queue can be sent again with `POST /admin/provisioning/replay`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use provisio::aws::AwsClients;

fn text<E: std::fmt::Display>(context: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("{context}: {e}")
}

/// Writes every secret whose name starts with `prefix` to `path` (a JSON object name -> value).
pub async fn save(clients: &AwsClients, prefix: &str, path: &str) -> Result<usize, String> {
    let mut saved = serde_json::Map::new();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .secrets
            .list_secrets()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "ListSecrets: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
        for entry in page.secret_list() {
            let Some(name) = entry.name().filter(|n| n.starts_with(prefix)) else {
                continue;
            };
            let value = provisio::secrets::read_secret(&clients.secrets, name)
                .await
                .map_err(text(name))?;
            saved.insert(name.to_string(), serde_json::Value::String(value));
        }
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    let count = saved.len();
    // Written whole to a file of this process, then moved over the old one: a stop mid-write, or
    // the periodic save and the one on exit at once, lose nothing.
    let partial = format!("{path}.{}.partial", std::process::id());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(text(&partial))?;
    file.write_all(serde_json::Value::Object(saved).to_string().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(text(&partial))?;
    std::fs::rename(&partial, path).map_err(text(path))?;
    Ok(count)
}

/// Puts back the secrets of `path` (none when it doesn't exist).
pub async fn restore(clients: &AwsClients, path: &str) -> Result<usize, String> {
    let raw = match std::fs::read_to_string(path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("{path}: {e}")),
    };
    let saved: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&raw).map_err(text(path))?;
    for (name, value) in &saved {
        let value = value.as_str().unwrap_or_default();
        provisio::secrets::put_secret(&clients.secrets, name, value)
            .await
            .map_err(text(name))?;
    }
    Ok(saved.len())
}
