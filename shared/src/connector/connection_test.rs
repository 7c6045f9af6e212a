//! "Test connection" for an authorization config: fetch a token (OAuth 2.0, custom), or call a
//! URL with the authorization. The URL must be on an origin the app's own event or import
//! configs already send to: a test must not become a way to send the app's credentials anywhere
//! else. A token is never shown, only whether one came back.

use std::time::Instant;

use serde::Serialize;

use super::auth_config::{AuthConfig, AuthSecret, AuthSettings};
use super::delivery::Sender;
use super::http::Verdict;
use super::request::{HttpMethod, Rendered};

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTest {
    pub ok: bool,
    /// What was tried: `token` or `GET <url>`.
    pub tried: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// Why it failed, or the start of the answer (credentials redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("{0}")]
    Url(String),
}

/// The scheme, host and port of `url` (`None` when it is not an absolute http(s) URL).
pub fn origin(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.origin().ascii_serialization())
}

/// Tests `auth` (with its `secret`): a GET of `url` when given (one of `allowed` origins), else a
/// token fetch for the types that fetch one.
pub async fn test(
    sender: &Sender,
    auth: &AuthConfig,
    secret: &AuthSecret,
    url: Option<&str>,
    allowed: &[String],
) -> Result<ConnectionTest, TestError> {
    let started = Instant::now();
    let Some(url) = url else {
        if !matches!(
            auth.settings,
            AuthSettings::Oauth2 { .. } | AuthSettings::Custom { .. }
        ) {
            return Err(TestError::Url(
                "basic and bearer authorizations are tested by a call: give a url on one of the app's own origins".into(),
            ));
        }
        let fetched = sender.fresh_token(auth, secret).await;
        return Ok(ConnectionTest {
            ok: fetched.is_ok(),
            tried: "token".into(),
            status: None,
            latency_ms: elapsed_ms(started),
            detail: Some(match fetched {
                Ok(()) => "a token was issued".into(),
                Err(reason) => reason,
            }),
        });
    };
    let Some(wanted) = origin(url) else {
        return Err(TestError::Url("must be an absolute http(s) URL".into()));
    };
    if !allowed.contains(&wanted) {
        return Err(TestError::Url(format!(
            "{wanted} is not an origin this app's event or import configs send to; the authorization is only sent there"
        )));
    }
    let request = Rendered {
        method: HttpMethod::Get,
        url: url.to_string(),
        headers: Vec::new(),
        body: None,
    };
    let delivery = sender.send(&request, Some((auth, secret))).await;
    let (ok, detail) = match delivery.verdict {
        Verdict::Done => (
            true,
            delivery.response.as_deref().map(crate::connector::http::excerpt),
        ),
        Verdict::Retry { reason, .. } | Verdict::Permanent { reason } => (false, Some(reason)),
    };
    Ok(ConnectionTest {
        ok,
        tried: format!("GET {}", url.split('?').next().unwrap_or_default()),
        status: delivery.status,
        latency_ms: elapsed_ms(started),
        detail,
    })
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert_eq!(
            origin("https://api.example.com/users/@ExternalUserId").as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/x?y=1").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_ne!(
            origin("https://api.example.com.evil.test/"),
            origin("https://api.example.com/")
        );
        assert_eq!(origin("ftp://files.example.com/"), None);
        assert_eq!(origin("/relative"), None);
    }
}
