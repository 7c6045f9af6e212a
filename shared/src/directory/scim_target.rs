//! A SCIM target app's connection (issue 17): where its SCIM 2.0 service is, which of the app's
//! authorization configs every call carries, and what the service said it supports when last
//! asked (`ServiceProviderConfig`, `ResourceTypes`).

use serde::{Deserialize, Serialize};

use super::DirectoryError;
use crate::ids::AuthId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScimTarget {
    /// The service's base URL, where `/Users` is (`https://api.example.com/scim/v2`).
    pub base_url: String,
    /// The app's authorization config (Bearer, Basic, OAuth 2.0 client credentials) every call
    /// carries; none for a service that asks for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_id: Option<AuthId>,
    /// What the service supports, from its discovery endpoints (absent until it answered them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports: Option<Supports>,
}

/// What a SCIM service announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Supports {
    /// PATCH (else changes go as PUT of the whole resource).
    pub patch: bool,
    /// Filters (else a user entering scope is created without looking for an account first).
    pub filter: bool,
    pub etag: bool,
    /// A `Groups` resource type (for pushing groups).
    pub groups: bool,
    /// When the service answered.
    pub checked_at: String,
}

/// The connection as an administrator gives it (`supports` is Provisio's to find out).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScimTargetInput {
    pub base_url: String,
    #[serde(default)]
    pub auth_id: Option<AuthId>,
}

/// Longest base URL accepted.
const MAX_BASE_URL: usize = 2000;

impl ScimTarget {
    /// Whether the service announced ETags (If-Match is sent, a 412 read again).
    pub fn announces_etags(&self) -> bool {
        self.supports.as_ref().is_some_and(|s| s.etag)
    }
}

impl ScimTargetInput {
    /// The connection, its base URL checked (an absolute http(s) URL without credentials, query
    /// or fragment; a trailing slash dropped). `current` keeps what the service announced while
    /// the base URL stays.
    pub fn into_target(self, current: Option<&ScimTarget>) -> Result<ScimTarget, DirectoryError> {
        let field = "scimTarget.baseUrl";
        let raw = self.base_url.trim();
        if raw.len() > MAX_BASE_URL {
            return Err(DirectoryError::invalid(
                field,
                format!("at most {MAX_BASE_URL} characters"),
            ));
        }
        let url = reqwest::Url::parse(raw)
            .map_err(|e| DirectoryError::invalid(field, format!("not a URL: {e}")))?;
        if !crate::url_policy::credentials_may_go(raw) {
            // Its authorization travels with every call.
            return Err(DirectoryError::invalid(
                field,
                "must be an https URL (plain http only to a loopback host, for local development)",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DirectoryError::invalid(
                field,
                "must not carry credentials: give them as an authorization config",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(DirectoryError::invalid(field, "must have no query or fragment"));
        }
        if crate::url_policy::has_dot_segment(raw) {
            return Err(DirectoryError::invalid(
                field,
                "must have no . or .. path segments",
            ));
        }
        let base_url = raw.trim_end_matches('/').to_string();
        let supports = current
            .filter(|c| c.base_url == base_url)
            .and_then(|c| c.supports.clone());
        Ok(ScimTarget {
            base_url,
            auth_id: self.auth_id,
            supports,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Result<ScimTarget, DirectoryError> {
        ScimTargetInput {
            base_url: url.into(),
            auth_id: None,
        }
        .into_target(None)
    }

    #[test]
    fn base_urls_are_absolute_http_without_credentials_or_query() {
        assert_eq!(
            target("https://api.example.com/scim/v2/").unwrap().base_url,
            "https://api.example.com/scim/v2"
        );
        for bad in [
            "ftp://x.example/scim",
            "http://x.example/scim",
            "/scim/v2",
            "https://user:pw@x.example/scim",
            "https://x.example/scim?token=1",
            "https://x.example/scim/../admin",
        ] {
            assert!(
                matches!(target(bad), Err(DirectoryError::Invalid { field, .. }) if field == "scimTarget.baseUrl"),
                "{bad}"
            );
        }
    }
}
