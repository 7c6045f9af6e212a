//! What every outbound HTTP exchange shares, whoever makes it (the sender, the token fetcher,
//! the importer's pages): how an answer is classified, read within a cap, and cut for a log.

use std::time::Duration;

/// Longest error excerpt kept.
pub const MAX_EXCERPT: usize = 500;

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Done,
    Retry { after: Option<Duration>, reason: String },
    Permanent { reason: String },
}

/// Reads a response body, failing once it passes `cap` bytes (announced or streamed).
pub async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(format!("the answer is larger than {cap} bytes"));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(format!("the answer is larger than {cap} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err("timed out reading the answer".into()),
            Err(_) => return Err("the connection broke while reading the answer".into()),
        }
    }
}

/// Where a redirect pointed, as scheme://host:port (the path and query may carry data).
pub fn redirect_target(headers: &reqwest::header::HeaderMap, from: &str) -> String {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match reqwest::Url::parse(from).and_then(|base| base.join(location)) {
        Ok(url) => url.origin().ascii_serialization(),
        Err(_) => "an unreadable location".into(),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and read as absent).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// 429 and 5xx are worth another try; other 4xx are not.
pub fn classify(status: u16, retry_after: Option<Duration>, excerpt: &str) -> Verdict {
    match status {
        200..=299 => Verdict::Done,
        429 | 500..=599 => Verdict::Retry {
            after: retry_after,
            reason: format!("HTTP {status}: {excerpt}"),
        },
        _ => Verdict::Permanent {
            reason: format!("HTTP {status}: {excerpt}"),
        },
    }
}

/// Cuts an error text to [`MAX_EXCERPT`] characters. Credentials were taken out where the text
/// came in (the sender's redaction), before any sink.
pub fn excerpt(text: &str) -> String {
    let mut text = text.to_string();
    if text.chars().count() > MAX_EXCERPT {
        text = text.chars().take(MAX_EXCERPT).collect::<String>() + "…";
    }
    text
}
