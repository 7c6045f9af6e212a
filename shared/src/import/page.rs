//! One page of an import: the request rendered with `@Pagination`, sent with the config's
//! authorization, the answer checked (JSON, the users list where `usersPath` says) and the next
//! page's key read.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::{ImportConfig, PAGINATION};
use crate::json_path;
use crate::outbound::auth_config::{AuthConfig, AuthSecret};
use crate::outbound::delivery::{Sender, Verdict};
use crate::outbound::template::Context;

/// The import queue's message: which page of which job, and the `@Pagination` value (or the full
/// URL an API gave as its next page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageMessage {
    pub job_id: String,
    pub page: u32,
    pub key: String,
}

#[derive(Debug, Clone)]
pub struct Fetched {
    pub records: Vec<Value>,
    /// The next page's key, if the answer names one (or, numbering pages, if this one had records).
    pub next: Option<String>,
}

/// Why a page could not be read; all of these are retried until the config's attempts run out.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchError {
    pub reason: String,
    pub retry_after: Option<Duration>,
    /// A 4xx other than 429: retrying will not help, the run fails at once.
    pub permanent: bool,
}

/// The key of the first page.
pub fn first_key(config: &ImportConfig) -> String {
    match &config.pagination {
        Some(p) if p.next_path.is_none() => p.start_page.to_string(),
        _ => String::new(),
    }
}

pub async fn fetch(
    sender: &Sender,
    config: &ImportConfig,
    auth: Option<(&AuthConfig, &AuthSecret)>,
    message: &PageMessage,
) -> Result<Fetched, FetchError> {
    let ctx = Context {
        user: json!({ PAGINATION: message.key }),
        ..Context::default()
    };
    let mut request = config.request.render(&ctx);
    let next_is_url = message.key.starts_with("http://") || message.key.starts_with("https://");
    if next_is_url {
        request.url = message.key.clone();
    }
    let delivery = sender.send(&request, auth).await;
    let fail = |reason: String, retry_after: Option<Duration>, permanent: bool| FetchError {
        reason,
        retry_after,
        permanent,
    };
    match delivery.verdict {
        Verdict::Done => {}
        Verdict::Retry { after, reason } => return Err(fail(reason, after, false)),
        Verdict::Permanent { reason } => return Err(fail(reason, None, true)),
    }
    let status = delivery.status.unwrap_or_default();
    let body = delivery.body.ok_or_else(|| {
        fail(
            format!("page {}: HTTP {status} but the answer is not JSON", message.page),
            None,
            false,
        )
    })?;
    let users = json_path::lookup(&body, &config.users_path).ok_or_else(|| {
        fail(
            format!("page {}: no `{}` in the answer", message.page, config.users_path),
            None,
            false,
        )
    })?;
    let records = users
        .as_array()
        .ok_or_else(|| {
            let at = if config.users_path.is_empty() {
                "the answer"
            } else {
                config.users_path.as_str()
            };
            fail(format!("page {}: {at} is not a list", message.page), None, false)
        })?
        .clone();
    let next = match &config.pagination {
        None => None,
        Some(p) => match &p.next_path {
            Some(path) => json_path::lookup(&body, path)
                .and_then(json_path::scalar_text)
                .filter(|k| !k.is_empty()),
            None if records.is_empty() => None,
            None => Some((p.start_page + u64::from(message.page)).to_string()),
        },
    };
    Ok(Fetched { records, next })
}
