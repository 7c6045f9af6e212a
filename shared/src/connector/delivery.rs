//! Sending a rendered request to an app: authorization applied, bounded by timeouts, the answer
//! classified as done, worth retrying (429, 5xx, network) or permanent (other 4xx). A 401 with a
//! fetched token refreshes the token and tries once more.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use super::auth_config::{AuthConfig, AuthSecret, AuthSettings};
pub use super::http::{Verdict, classify, read_capped, redirect_target, retry_after};
use super::redact::Redactor;
use super::request::Rendered;
use super::token::{TokenError, Tokens};

#[derive(Debug, Clone)]
pub struct Delivery {
    pub status: Option<u16>,
    pub latency: Duration,
    /// The response body when it is JSON.
    pub body: Option<Value>,
    /// The start of the response's text, credentials redacted (what provision on demand shows).
    pub response: Option<String>,
    pub verdict: Verdict,
}

impl Delivery {
    /// No call was made, and the message is to come back (no rate limit slot, a secret not read).
    pub fn unsent_retry(reason: String) -> Self {
        Delivery {
            status: None,
            latency: Duration::ZERO,
            body: None,
            response: None,
            verdict: Verdict::Retry { after: None, reason },
        }
    }
}

/// Timeouts of every outbound call.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            total: Duration::from_secs(10),
        }
    }
}

/// The HTTP client and token cache of one process, shared by all invocations.
#[derive(Debug)]
pub struct Sender {
    pub http: reqwest::Client,
    pub tokens: Tokens,
    /// Largest answer read.
    pub max_body: usize,
}

/// Longest response text read for an error excerpt.
const MAX_ERROR_BODY: usize = 2048;
/// Largest answer read from an app or a token endpoint: a provisioning answer is a small JSON
/// document; an import page holds at most 10,000 records (`import::page::MAX_RECORDS`).
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// The client of every outbound call. Redirects are never followed: a redirect would carry the
/// app's credentials (and a 307/308 its body) to wherever the app, or whoever controls its
/// answer, points; a 3xx is a permanent failure that names where it pointed.
pub fn client(timeouts: Timeouts) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("provisio/", env!("CARGO_PKG_VERSION")))
        .build()
        // Fail closed at cold start: a default client would follow redirects and wait forever.
        .unwrap_or_else(|e| panic!("the outbound HTTP client can't be built: {e}"))
}

pub use crate::url_policy::has_dot_segment;

impl Sender {
    pub fn new(timeouts: Timeouts) -> Self {
        let http = client(timeouts);
        Sender {
            tokens: Tokens::new(http.clone()),
            http,
            max_body: MAX_RESPONSE_BYTES,
        }
    }

    async fn auth_header(
        &self,
        auth: &AuthConfig,
        secret: &AuthSecret,
        refresh: bool,
    ) -> Result<(String, String), TokenError> {
        match &auth.settings {
            AuthSettings::Basic { client_id } => {
                let pair = format!(
                    "{client_id}:{}",
                    secret.client_secret.as_deref().unwrap_or_default()
                );
                Ok((
                    "Authorization".into(),
                    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)),
                ))
            }
            AuthSettings::Bearer {} => Ok((
                "Authorization".into(),
                format!("Bearer {}", secret.token.as_deref().unwrap_or_default()),
            )),
            AuthSettings::Oauth2 { .. } | AuthSettings::Custom { .. } => {
                self.tokens.header(auth, secret, refresh).await
            }
        }
    }

    /// Fetches a new token for `auth` (OAuth 2.0, custom); the reason, credentials redacted,
    /// when none came.
    pub async fn fresh_token(&self, auth: &AuthConfig, secret: &AuthSecret) -> Result<(), String> {
        match self.auth_header(auth, secret, true).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let reason = match e.verdict() {
                    Verdict::Done => String::new(),
                    Verdict::Retry { reason, .. } | Verdict::Permanent { reason } => reason,
                };
                Err(Redactor::for_auth(auth, secret, None).apply(&reason))
            }
        }
    }

    /// Sends `request` with `auth` applied.
    pub async fn send(&self, request: &Rendered, auth: Option<(&AuthConfig, &AuthSecret)>) -> Delivery {
        let started = Instant::now();
        let mut refreshed = false;
        loop {
            let header = match auth {
                Some((config, secret)) => match self.auth_header(config, secret, refreshed).await {
                    Ok(h) => Some(h),
                    Err(e) => {
                        let redactor = Redactor::for_auth(config, secret, None);
                        return Delivery {
                            status: None,
                            latency: started.elapsed(),
                            body: None,
                            response: None,
                            verdict: redacted(e.verdict(), &redactor),
                        };
                    }
                },
                None => None,
            };
            let redactor = match auth {
                Some((config, secret)) => {
                    Redactor::for_auth(config, secret, header.as_ref().map(|(_, v)| v.as_str()))
                }
                None => Redactor::default(),
            };
            let mut delivery = self.attempt(request, header, started).await;
            delivery.verdict = redacted(delivery.verdict, &redactor);
            delivery.response = delivery.response.map(|text| redactor.apply(&text));
            let fetched_token = auth.is_some_and(|(c, _)| {
                matches!(
                    c.settings,
                    AuthSettings::Oauth2 { .. } | AuthSettings::Custom { .. }
                )
            });
            if delivery.status == Some(401) && fetched_token && !refreshed {
                // The token may have been revoked or expired early: one fresh token, one retry.
                refreshed = true;
                continue;
            }
            return delivery;
        }
    }

    async fn attempt(
        &self,
        request: &Rendered,
        auth: Option<(String, String)>,
        started: Instant,
    ) -> Delivery {
        if has_dot_segment(&request.url) {
            return Delivery {
                status: None,
                latency: started.elapsed(),
                body: None,
                response: None,
                verdict: Verdict::Permanent {
                    reason: "not sent: a `.` or `..` path segment in the URL (from a placeholder value) would leave the configured path".into(),
                },
            };
        }
        let mut builder = self.http.request(request.method.as_reqwest(), &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some((name, value)) = auth {
            builder = builder.header(name, value);
        }
        if let Some(body) = &request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, body.content_type())
                .body(body.bytes());
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                return Delivery {
                    status: None,
                    latency: started.elapsed(),
                    body: None,
                    response: None,
                    verdict: Verdict::Retry {
                        after: None,
                        reason: format!("{kind}: {}", without_url(&e)),
                    },
                };
            }
        };
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        if response.status().is_redirection() {
            let target = redirect_target(response.headers(), &request.url);
            return Delivery {
                status: Some(status),
                latency: started.elapsed(),
                body: None,
                response: None,
                verdict: Verdict::Permanent {
                    reason: format!(
                        "HTTP {status}: a redirect to {target}, not followed (credentials stay with the configured origin)"
                    ),
                },
            };
        }
        let bytes = match read_capped(response, self.max_body).await {
            Ok(bytes) => bytes,
            Err(reason) => {
                return Delivery {
                    status: Some(status),
                    latency: started.elapsed(),
                    body: None,
                    response: None,
                    verdict: Verdict::Permanent {
                        reason: format!("HTTP {status}: {reason}"),
                    },
                };
            }
        };
        let body = serde_json::from_slice::<Value>(&bytes).ok();
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ERROR_BODY)]).to_string();
        let verdict = classify(status, after, &text);
        Delivery {
            status: Some(status),
            latency: started.elapsed(),
            body,
            response: Some(text),
            verdict,
        }
    }
}

/// The verdict with credentials hidden from its reason (the answer's text may echo them).
fn redacted(verdict: Verdict, redactor: &Redactor) -> Verdict {
    match verdict {
        Verdict::Done => Verdict::Done,
        Verdict::Retry { after, reason } => Verdict::Retry {
            after,
            reason: redactor.apply(&reason),
        },
        Verdict::Permanent { reason } => Verdict::Permanent {
            reason: redactor.apply(&reason),
        },
    }
}

/// A reqwest error's text without the URL (which may carry user data in its query).
fn without_url(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut text = String::new();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    if text.is_empty() { e.to_string() } else { text }
}
