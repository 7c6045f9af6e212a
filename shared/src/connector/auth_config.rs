//! Authorization configs of a custom provisioning app: the seed's four types. What is secret (a
//! client secret, a bearer token, a custom token request's headers and body) goes to Secrets
//! Manager under `<prefix>/apps/<appId>/auth/<authId>`; DynamoDB and every response keep only the
//! rest, with `secretSet` saying a secret is stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::{BodyFormat, HttpMethod, RequestTemplate};
use crate::directory::{DirectoryError, validate};
use crate::ids::{AppId, AuthId};
use crate::json_path;
use crate::store::item::Keys;
use crate::store::keys;

/// How the client authenticates at an OAuth 2.0 token endpoint (RFC 6749 section 2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    #[default]
    Post,
    /// HTTP Basic with the client id and secret.
    Basic,
}

/// Where the token and its lifetime are in a token response (seed: "response settings").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenResponse {
    /// Dotted path of the token; `access_token` by default.
    #[serde(default = "default_token_path")]
    pub token_path: String,
    /// Dotted path of the lifetime in seconds (`expires_in`); used when present in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_path: Option<String>,
    /// A fixed lifetime when the response carries none; one hour if neither is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_seconds: Option<u64>,
    /// The scheme put before the token in `Authorization`; `Bearer` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

fn default_token_path() -> String {
    "access_token".into()
}

impl Default for TokenResponse {
    fn default() -> Self {
        TokenResponse {
            token_path: default_token_path(),
            expires_in_path: Some("expires_in".into()),
            lifetime_seconds: None,
            token_type: None,
        }
    }
}

pub const MAX_TOKEN_LIFETIME_SECS: u64 = 30 * 24 * 3600;

impl TokenResponse {
    fn validate(&self) -> Result<(), DirectoryError> {
        json_path::validate(&self.token_path)
            .map_err(|e| DirectoryError::invalid("response.tokenPath", e))?;
        if let Some(path) = &self.expires_in_path {
            json_path::validate(path).map_err(|e| DirectoryError::invalid("response.expiresInPath", e))?;
        }
        if self
            .lifetime_seconds
            .is_some_and(|s| s == 0 || s > MAX_TOKEN_LIFETIME_SECS)
        {
            return Err(DirectoryError::invalid(
                "response.lifetimeSeconds",
                format!("must be from 1 to {MAX_TOKEN_LIFETIME_SECS}"),
            ));
        }
        if let Some(t) = &self.token_type {
            validate::name("response.tokenType", t)?;
        }
        Ok(())
    }
}

/// The non-secret settings of each type, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum AuthSettings {
    /// `Authorization: Basic base64(clientId:clientSecret)`.
    Basic { client_id: String },
    /// `Authorization: Bearer <token>`.
    Bearer {},
    /// OAuth 2.0 client credentials grant.
    Oauth2 {
        token_url: String,
        client_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        extra_params: BTreeMap<String, String>,
        #[serde(default)]
        client_auth: ClientAuth,
        response: TokenResponse,
    },
    /// A request of the app's own making whose response carries the token; its headers and body
    /// are secret.
    Custom {
        method: HttpMethod,
        url: String,
        response: TokenResponse,
        /// The header the token goes in; `Authorization` by default.
        header_name: String,
    },
}

impl AuthSettings {
    pub fn type_name(&self) -> &'static str {
        match self {
            AuthSettings::Basic { .. } => "basic",
            AuthSettings::Bearer {} => "bearer",
            AuthSettings::Oauth2 { .. } => "oauth2",
            AuthSettings::Custom { .. } => "custom",
        }
    }
}

/// The secret part, as stored in Secrets Manager.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthSecret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Custom: the token request's headers and body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestTemplate>,
}

impl AuthSecret {
    /// The secret strings, for redaction of anything that might echo them.
    pub fn values(&self) -> Vec<String> {
        let mut values: Vec<String> = self
            .client_secret
            .iter()
            .chain(self.token.iter())
            .cloned()
            .collect();
        if let Some(request) = &self.request {
            for value in request.headers.values() {
                values.push(value.clone());
                // `Basic <b64>`, `Token <t>`: the credential alone may be echoed too.
                if let Some((_, credential)) = value.split_once(' ') {
                    values.push(credential.trim().to_string());
                }
            }
            if let Some(body) = &request.body {
                let mut strings = Vec::new();
                collect_strings(body, &mut strings);
                for s in strings {
                    // As sent in a form body, too.
                    values.push(form_urlencoded::byte_serialize(s.as_bytes()).collect());
                    values.push(s);
                }
            }
        }
        values.retain(|v| v.len() >= 4);
        values
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    pub id: AuthId,
    pub app_id: AppId,
    pub name: String,
    #[serde(flatten)]
    pub settings: AuthSettings,
    /// Name of the secret in Secrets Manager (not the secret).
    pub secret_name: String,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
}

pub const AUTH_PREFIX: &str = "AUTH#";

impl AuthConfig {
    pub fn keys(&self) -> Keys {
        Keys::new(keys::app(&self.app_id), format!("{AUTH_PREFIX}{}", self.id))
    }

    /// As the admin API shows it: never the secret.
    pub fn view(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.insert("secretSet".into(), Value::Bool(true));
        }
        value
    }
}

/// What a caller sends to create or replace an authorization config. Secret fields may be left out
/// of a replacement of the same type: the stored secret is kept.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum AuthInput {
    Basic {
        name: String,
        client_id: String,
        client_secret: Option<String>,
    },
    Bearer {
        name: String,
        token: Option<String>,
    },
    Oauth2 {
        name: String,
        token_url: String,
        client_id: String,
        client_secret: Option<String>,
        scope: Option<String>,
        #[serde(default)]
        extra_params: BTreeMap<String, String>,
        #[serde(default)]
        client_auth: ClientAuth,
        #[serde(default)]
        response: TokenResponse,
    },
    Custom {
        name: String,
        method: HttpMethod,
        url: String,
        headers: Option<BTreeMap<String, String>>,
        body: Option<Value>,
        #[serde(default)]
        body_format: BodyFormat,
        #[serde(default)]
        response: TokenResponse,
        header_name: Option<String>,
    },
}

/// Form parameters the client credentials grant sets itself.
const RESERVED_PARAMS: [&str; 4] = ["grant_type", "client_id", "client_secret", "scope"];

fn required_secret(field: &str, value: Option<String>) -> Result<Option<String>, DirectoryError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(DirectoryError::invalid(field, "must not be empty")),
        Some(v) if v.contains(['\r', '\n']) => Err(DirectoryError::invalid(field, "must be a single line")),
        other => Ok(other),
    }
}

/// A token endpoint's URL: https, or plain http to a loopback host (local development). The
/// client secret travels in the request; over plain http anyone on the path reads it.
fn token_endpoint_url(field: &str, url: &str) -> Result<String, DirectoryError> {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => Ok(url.trim().to_string()),
        Ok(u) if u.scheme() == "http" && crate::url_policy::credentials_may_go(url.trim()) => {
            Ok(url.trim().to_string())
        }
        Ok(u) if u.scheme() == "http" && u.host().is_some() => Err(DirectoryError::invalid(
            field,
            "must use https (plain http only to a loopback host, for local development)",
        )),
        _ => Err(DirectoryError::invalid(field, "must be an absolute https URL")),
    }
}

/// Whether a stored token endpoint may be called: https, or http to a loopback host. Checked again
/// at every fetch, so a config saved before the rule existed gets no secret over plain http.
pub fn token_endpoint_allowed(url: &str) -> bool {
    crate::url_policy::credentials_may_go(url)
}

impl AuthInput {
    /// Validates the input and splits it into the stored settings and the secret. The secret is
    /// `None` when the input leaves it out (allowed only when replacing, see the caller).
    pub fn split(self) -> Result<(String, AuthSettings, Option<AuthSecret>), DirectoryError> {
        match self {
            AuthInput::Basic {
                name,
                client_id,
                client_secret,
            } => {
                let client_id = validate::name("clientId", &client_id)?;
                if client_id.contains(':') {
                    return Err(DirectoryError::invalid(
                        "clientId",
                        "must not contain ':' (RFC 7617)",
                    ));
                }
                let secret = required_secret("clientSecret", client_secret)?.map(|s| AuthSecret {
                    client_secret: Some(s),
                    ..Default::default()
                });
                Ok((
                    validate::name("name", &name)?,
                    AuthSettings::Basic { client_id },
                    secret,
                ))
            }
            AuthInput::Bearer { name, token } => {
                let secret = required_secret("token", token)?.map(|t| AuthSecret {
                    token: Some(t),
                    ..Default::default()
                });
                Ok((validate::name("name", &name)?, AuthSettings::Bearer {}, secret))
            }
            AuthInput::Oauth2 {
                name,
                token_url,
                client_id,
                client_secret,
                scope,
                extra_params,
                client_auth,
                response,
            } => {
                for key in extra_params.keys() {
                    if RESERVED_PARAMS.contains(&key.as_str()) {
                        return Err(DirectoryError::invalid(
                            format!("extraParams.{key}"),
                            "is set by the client credentials grant itself",
                        ));
                    }
                }
                response.validate()?;
                let settings = AuthSettings::Oauth2 {
                    token_url: token_endpoint_url("tokenUrl", &token_url)?,
                    client_id: validate::name("clientId", &client_id)?,
                    scope: validate::optional("scope", scope)?.filter(|s| !s.is_empty()),
                    extra_params,
                    client_auth,
                    response,
                };
                let secret = required_secret("clientSecret", client_secret)?.map(|s| AuthSecret {
                    client_secret: Some(s),
                    ..Default::default()
                });
                Ok((validate::name("name", &name)?, settings, secret))
            }
            AuthInput::Custom {
                name,
                method,
                url,
                headers,
                body,
                body_format,
                response,
                header_name,
            } => {
                response.validate()?;
                let header_name = header_name.unwrap_or_else(|| "Authorization".into());
                if http::HeaderName::from_bytes(header_name.as_bytes()).is_err() {
                    return Err(DirectoryError::invalid(
                        "headerName",
                        "is not a valid header name",
                    ));
                }
                let request = RequestTemplate {
                    method,
                    url: token_endpoint_url("url", &url)?,
                    headers: headers.clone().unwrap_or_default(),
                    body: body.clone(),
                    body_format,
                };
                // A token request is the same for every user: no placeholders.
                request.validate("", |name| {
                    Err(format!(
                        "a token request has no user; write @@ for a literal @ (found @{name})"
                    ))
                })?;
                let settings = AuthSettings::Custom {
                    method,
                    url: request.url.clone(),
                    response,
                    header_name,
                };
                let secret = (headers.is_some() || body.is_some()).then(|| AuthSecret {
                    request: Some(request),
                    ..Default::default()
                });
                Ok((validate::name("name", &name)?, settings, secret))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value) -> Result<AuthInput, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn splits_secrets_from_settings() {
        let (name, settings, secret) = input(json!({
            "type": "oauth2", "name": "IdP", "tokenUrl": "https://idp.test/token",
            "clientId": "c1", "clientSecret": "s3cret", "scope": "users.write",
            "response": { "tokenPath": "data.token", "lifetimeSeconds": 600 }
        }))
        .unwrap()
        .split()
        .unwrap();
        assert_eq!(name, "IdP");
        assert_eq!(secret.unwrap().client_secret.as_deref(), Some("s3cret"));
        let stored = serde_json::to_value(&settings).unwrap();
        assert_eq!(stored["type"], "oauth2");
        assert!(!stored.to_string().contains("s3cret"));
    }

    #[test]
    fn refuses_unknown_fields_and_reserved_params() {
        assert!(input(json!({ "type": "bearer", "name": "b", "token": "t", "extra": 1 })).is_err());
        let err = input(
            json!({ "type": "oauth2", "name": "o", "tokenUrl": "https://x.test/t",
                                "clientId": "c", "extraParams": { "grant_type": "password" } }),
        )
        .unwrap()
        .split()
        .unwrap_err();
        assert!(matches!(err, DirectoryError::Invalid { field, .. } if field == "extraParams.grant_type"));
    }

    #[test]
    fn stored_config_round_trips_through_dynamodb_items() {
        let config = AuthConfig {
            id: AuthId::generate(),
            app_id: AppId::generate(),
            name: "n".into(),
            settings: AuthSettings::Oauth2 {
                token_url: "https://x.test/t".into(),
                client_id: "c".into(),
                scope: None,
                extra_params: BTreeMap::from([("audience".into(), "api".into())]),
                client_auth: ClientAuth::Basic,
                response: TokenResponse {
                    lifetime_seconds: Some(60),
                    ..TokenResponse::default()
                },
            },
            secret_name: "p/apps/a/auth/b".into(),
            version: 3,
            created: "t".into(),
            last_modified: "t".into(),
        };
        let item = crate::store::item::to_item(&config, &config.keys()).unwrap();
        let back: AuthConfig = crate::store::item::from_item(item).unwrap();
        assert_eq!(back, config);
    }
}
