//! One page of an import: the request rendered with `@Pagination`, sent with the config's
//! authorization, the answer checked (JSON, the users list where `usersPath` says) and the next
//! page's key read.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::{ImportConfig, PAGINATION};
use crate::connector::auth_config::{AuthConfig, AuthSecret};
use crate::connector::delivery::{Sender, Verdict};
use crate::connector::template::Context;
use crate::json_path;

/// The import queue's message: which page of which job, and the `@Pagination` value (or the full
/// URL an API gave as its next page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageMessage {
    pub job_id: String,
    pub page: u32,
    pub key: String,
    /// The job's run number (a resume starts the next): a message of an earlier run is dropped.
    #[serde(default)]
    pub run: u32,
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

/// Most records one page may hold; a larger page fails the run (a broken or hostile source must
/// not make one invocation hold an unbounded list).
pub const MAX_RECORDS: usize = 10_000;

/// How a config pages: the next key goes into `@Pagination` (a token, an offset, a page number),
/// or, when the request has no `@Pagination`, the next key is the next page's URL (a `next`
/// link). Decided by the config alone: a token that happens to look like a URL stays a token.
pub fn follows_links(config: &ImportConfig) -> bool {
    config.pagination.as_ref().is_some_and(|p| p.next_path.is_some()) && !config.request.uses(PAGINATION)
}

/// The URL of a next-page link, resolved against the configured URL, if it stays on the
/// configured origin (scheme, host and port): the config's credentials go with it.
pub fn next_link(configured: &str, link: &str) -> Result<String, String> {
    let base = reqwest::Url::parse(configured).map_err(|_| "the configured URL is not a URL".to_string())?;
    let next = base
        .join(link.trim())
        .map_err(|_| "the next-page link is not a URL".to_string())?;
    if next.origin() != base.origin() {
        return Err(format!(
            "the next-page link points to {}, not to the configured origin {}: not followed, the credentials stay with {}",
            next.origin().ascii_serialization(),
            base.origin().ascii_serialization(),
            base.origin().ascii_serialization(),
        ));
    }
    Ok(next.to_string())
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
    if !crate::connector::template::origin_is_fixed(&config.request.url) {
        return Err(FetchError {
            reason: "the URL template lets a placeholder choose the scheme, host or port; not sent (fix the config)".into(),
            retry_after: None,
            permanent: true,
        });
    }
    let mut request = config.request.render(&ctx);
    let fail = |reason: String, retry_after: Option<Duration>, permanent: bool| FetchError {
        reason,
        retry_after,
        permanent,
    };
    if follows_links(config) && !message.key.is_empty() {
        request.url = next_link(&request.url, &message.key)
            .map_err(|reason| fail(format!("page {}: {reason}", message.page), None, true))?;
    }
    let delivery = sender.send(&request, auth).await;
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
    let records = users.as_array().ok_or_else(|| {
        let at = if config.users_path.is_empty() {
            "the answer"
        } else {
            config.users_path.as_str()
        };
        fail(format!("page {}: {at} is not a list", message.page), None, false)
    })?;
    if records.len() > MAX_RECORDS {
        return Err(fail(
            format!(
                "page {}: {} records, more than the {MAX_RECORDS} a page may hold",
                message.page,
                records.len()
            ),
            None,
            true,
        ));
    }
    let records = records.clone();
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
