//! Tokens fetched from OAuth 2.0 token endpoints (client credentials grant, RFC 6749 section 4.4)
//! and from custom token requests, cached per authorization config until shortly before they
//! expire. One fetch at a time per config: concurrent sends wait for the same token.
//!
//! Hand-written rather than the `oauth2` crate: the seed's response settings take the token and
//! its lifetime from any key path (`data.token`, a fixed lifetime, a custom token type), which a
//! standard token response type can't express, and the grant itself is one form POST.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;

use super::auth_config::{AuthConfig, AuthSecret, AuthSettings, ClientAuth, TokenResponse};
use super::http::{Verdict, classify, retry_after};
use crate::ids::AuthId;
use crate::json_path;

#[derive(Debug, Clone, PartialEq)]
pub enum TokenError {
    /// The endpoint is down or throttling: try later.
    Unavailable { after: Option<Duration>, reason: String },
    /// Wrong credentials or a response without the token: fix the config.
    Refused(String),
}

impl TokenError {
    pub fn verdict(&self) -> Verdict {
        match self {
            TokenError::Unavailable { after, reason } => Verdict::Retry {
                after: *after,
                reason: format!("token request: {reason}"),
            },
            TokenError::Refused(reason) => Verdict::Permanent {
                reason: format!("token request: {reason}"),
            },
        }
    }
}

#[derive(Debug, Clone)]
struct Cached {
    header: (String, String),
    refresh_at: Instant,
}

type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

#[derive(Debug)]
pub struct Tokens {
    http: reqwest::Client,
    slots: std::sync::Mutex<HashMap<(AuthId, u64), Slot>>,
    issued: std::sync::atomic::AtomicU64,
}

/// Lifetime assumed when neither the response nor the config gives one.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest lifetime believed: an endpoint's `expires_in` is clamped to it (a huge value would
/// overflow the clock and keep a revoked token forever).
const MAX_LIFETIME: Duration = Duration::from_secs(super::auth_config::MAX_TOKEN_LIFETIME_SECS);
/// Largest token response read.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// A token is replaced this long before it expires (at most a tenth of its lifetime), so a
/// request never leaves with a token about to expire.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(60))
}

impl Tokens {
    pub fn new(http: reqwest::Client) -> Self {
        Tokens {
            http,
            slots: std::sync::Mutex::new(HashMap::new()),
            issued: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Tokens fetched by this process (for the benchmark's tokens-per-events figure).
    pub fn fetched(&self) -> u64 {
        self.issued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The header carrying a valid token; `refresh` forces a new one (after a 401).
    pub async fn header(
        &self,
        auth: &AuthConfig,
        secret: &AuthSecret,
        refresh: bool,
    ) -> Result<(String, String), TokenError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry((auth.id.clone(), auth.version)).or_default().clone()
        };
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref()
            && !refresh
            && Instant::now() < c.refresh_at
        {
            return Ok(c.header.clone());
        }
        let fresh = self.fetch(auth, secret).await?;
        self.issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let header = fresh.header.clone();
        *cached = Some(fresh);
        Ok(header)
    }

    async fn fetch(&self, auth: &AuthConfig, secret: &AuthSecret) -> Result<Cached, TokenError> {
        let endpoint = match &auth.settings {
            AuthSettings::Oauth2 { token_url, .. } => Some(token_url),
            AuthSettings::Custom { url, .. } => Some(url),
            _ => None,
        };
        if let Some(endpoint) = endpoint.filter(|u| !super::auth_config::token_endpoint_allowed(u)) {
            let origin = reqwest::Url::parse(endpoint)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            return Err(TokenError::Refused(format!(
                "the token endpoint {origin} is not https: the secret is not sent (save the config with an https URL)"
            )));
        }
        let (request, response, header_name) = match &auth.settings {
            AuthSettings::Oauth2 {
                token_url,
                client_id,
                scope,
                extra_params,
                client_auth,
                response,
            } => {
                let client_secret = secret.client_secret.clone().unwrap_or_default();
                let mut form: Vec<(String, String)> =
                    vec![("grant_type".into(), "client_credentials".into())];
                if let Some(scope) = scope {
                    form.push(("scope".into(), scope.clone()));
                }
                form.extend(extra_params.iter().map(|(k, v)| (k.clone(), v.clone())));
                let mut builder = self.http.post(token_url).header("accept", "application/json");
                match client_auth {
                    ClientAuth::Post => {
                        form.push(("client_id".into(), client_id.clone()));
                        form.push(("client_secret".into(), client_secret));
                    }
                    ClientAuth::Basic => {
                        // RFC 6749 section 2.3.1: both parts form-urlencoded before Basic.
                        let encode =
                            |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                        let pair = format!("{}:{}", encode(client_id), encode(&client_secret));
                        builder = builder.header(
                            "authorization",
                            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)),
                        );
                    }
                }
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&form)
                    .finish();
                let builder = builder
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body);
                (builder, response, "Authorization".to_string())
            }
            AuthSettings::Custom {
                method,
                url,
                response,
                header_name,
            } => {
                // Method and URL come from the settings, which a replace may change without
                // resending the secret; the secret holds only the headers and body.
                let (headers, body) = match &secret.request {
                    Some(template) => {
                        let r = template.render(&super::template::Context::default());
                        (r.headers, r.body)
                    }
                    None => (Vec::new(), None),
                };
                let rendered = super::request::Rendered {
                    method: *method,
                    url: url.clone(),
                    headers,
                    body,
                };
                let mut builder = self.http.request(rendered.method.as_reqwest(), &rendered.url);
                for (k, v) in &rendered.headers {
                    builder = builder.header(k, v);
                }
                if let Some(body) = &rendered.body {
                    builder = builder
                        .header("content-type", body.content_type())
                        .body(body.bytes());
                }
                (builder, response, header_name.clone())
            }
            AuthSettings::Basic { .. } | AuthSettings::Bearer {} => {
                return Err(TokenError::Refused("this authorization type has no token".into()));
            }
        };
        let reply = request.send().await.map_err(|e| TokenError::Unavailable {
            after: None,
            reason: if e.is_timeout() {
                "timed out".into()
            } else {
                "connection failed".into()
            },
        })?;
        let status = reply.status().as_u16();
        let after = retry_after(reply.headers());
        if reply.status().is_redirection() {
            let target = super::http::redirect_target(reply.headers(), reply.url().as_str());
            return Err(TokenError::Refused(format!(
                "HTTP {status}: a redirect to {target}, not followed (the client secret stays with the configured token endpoint)"
            )));
        }
        let bytes = super::http::read_capped(reply, MAX_TOKEN_RESPONSE)
            .await
            .map_err(|reason| TokenError::Refused(format!("HTTP {status}: {reason}")))?;
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_string();
        match classify(status, after, &text) {
            Verdict::Done => {}
            Verdict::Retry { after, reason } => return Err(TokenError::Unavailable { after, reason }),
            Verdict::Permanent { reason } => return Err(TokenError::Refused(reason)),
        }
        let document: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| TokenError::Refused(format!("HTTP {status}: the response is not JSON")))?;
        parse_token(&document, response, &header_name)
    }
}

fn parse_token(
    document: &serde_json::Value,
    settings: &TokenResponse,
    header: &str,
) -> Result<Cached, TokenError> {
    let token = json_path::lookup(document, &settings.token_path)
        .and_then(json_path::scalar_text)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            TokenError::Refused(format!("no token at `{}` in the response", settings.token_path))
        })?;
    let lifetime = settings
        .expires_in_path
        .as_deref()
        .and_then(|p| json_path::lookup(document, p))
        .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .or(settings.lifetime_seconds)
        .map_or(DEFAULT_LIFETIME, Duration::from_secs)
        .min(MAX_LIFETIME);
    let scheme = settings.token_type.clone().unwrap_or_else(|| "Bearer".into());
    let value = if scheme.is_empty() {
        token
    } else {
        format!("{scheme} {token}")
    };
    Ok(Cached {
        header: (header.to_string(), value),
        refresh_at: Instant::now() + lifetime.saturating_sub(refresh_margin(lifetime)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_token_and_lifetime_from_paths() {
        let settings = TokenResponse {
            token_path: "data.token".into(),
            expires_in_path: Some("data.ttl".into()),
            lifetime_seconds: Some(99),
            token_type: Some("Token".into()),
        };
        let cached = parse_token(
            &json!({ "data": { "token": "abc", "ttl": "100" } }),
            &settings,
            "X-Auth",
        )
        .unwrap();
        assert_eq!(cached.header, ("X-Auth".to_string(), "Token abc".to_string()));
        // 100 s lifetime, refreshed 10 s early.
        let left = cached.refresh_at - Instant::now();
        assert!(
            left <= Duration::from_secs(90) && left > Duration::from_secs(85),
            "{left:?}"
        );
        assert!(matches!(
            parse_token(&json!({}), &settings, "X"),
            Err(TokenError::Refused(_))
        ));
    }
}
