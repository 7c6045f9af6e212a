//! Import configs (seed 000 section 9): how to fetch users page by page from an app's REST API
//! and how its records map to directory users.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::connector::request::RequestTemplate;
use crate::directory::{DirectoryError, validate};
use crate::ids::{AppId, AuthId};
use crate::json_path;
use crate::store::item::Keys;
use crate::store::keys;

/// The placeholder that carries the page: a token, an offset, a page number.
pub const PAGINATION: &str = "Pagination";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pagination {
    /// Dotted path of the next page's key in a response: a token, an offset or a full URL.
    /// Without it, pages are numbered from `startPage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_path: Option<String>,
    #[serde(default = "one")]
    pub start_page: u64,
}

fn one() -> u64 {
    1
}

/// Users of the source missing from a complete run are deactivated (off by default); one that
/// shows up again is active again, unless someone changed the user meanwhile or the mapping reads
/// `active` from the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeactivateMissing {
    #[serde(default)]
    pub enabled: bool,
    /// More users missing than this (or than the run listed) hold the run's deactivations for an
    /// administrator's approval (`POST /admin/jobs/{id}/approve-deactivations`): a source
    /// answering with an empty or truncated list must not deactivate everyone.
    #[serde(default = "default_max_deactivations")]
    pub max_deactivations: u32,
}

fn default_max_deactivations() -> u32 {
    50
}

impl Default for DeactivateMissing {
    fn default() -> Self {
        DeactivateMissing {
            enabled: false,
            max_deactivations: default_max_deactivations(),
        }
    }
}

fn is_off(d: &DeactivateMissing) -> bool {
    *d == DeactivateMissing::default()
}

/// Where a record's values are. `externalId` and `email` are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImportMapping {
    pub external_id: String,
    pub email: String,
    /// The email when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    /// Directory attribute name -> dotted source path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl ImportMapping {
    fn validate(&self) -> Result<(), DirectoryError> {
        let paths = [
            ("mapping.externalId", Some(&self.external_id)),
            ("mapping.email", Some(&self.email)),
            ("mapping.userName", self.user_name.as_ref()),
            ("mapping.givenName", self.given_name.as_ref()),
            ("mapping.familyName", self.family_name.as_ref()),
            ("mapping.displayName", self.display_name.as_ref()),
            ("mapping.active", self.active.as_ref()),
        ];
        for (field, path) in paths {
            if let Some(path) = path {
                json_path::validate(path).map_err(|e| DirectoryError::invalid(field, e))?;
            }
        }
        if self.attributes.len() > validate::MAX_ATTRIBUTES {
            return Err(DirectoryError::invalid(
                "mapping.attributes",
                format!("at most {} attributes", validate::MAX_ATTRIBUTES),
            ));
        }
        for (name, path) in &self.attributes {
            let field = format!("mapping.attributes.{name}");
            if name.is_empty() || name.len() > validate::MAX_ATTRIBUTE_KEY_LEN || name.contains('.') {
                return Err(DirectoryError::invalid(field, "is not an attribute name"));
            }
            json_path::validate(path).map_err(|e| DirectoryError::invalid(field, e))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportConfig {
    pub id: String,
    pub app_id: AppId,
    pub name: String,
    /// `@Pagination` may appear in the URL, a header or the body.
    pub request: RequestTemplate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_id: Option<AuthId>,
    /// Dotted path of the list of users in a response; empty: the response is the list.
    #[serde(default)]
    pub users_path: String,
    /// Absent: one request, one page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    pub mapping: ImportMapping,
    /// Pages one run reads at most.
    pub page_limit: u32,
    /// Tries of a page before the run fails.
    pub max_attempts: u32,
    /// `rate(6 hours)` or `cron(0 3 * * ? *)`: the schedule tick starts the import when due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<super::schedule::Schedule>,
    #[serde(default, skip_serializing_if = "is_off")]
    pub deactivate_missing: DeactivateMissing,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
}

pub const IMPORT_PREFIX: &str = "IMPORT#";

/// GSI1 partition of import configs that carry a schedule (the tick reads it).
pub const SCHEDULED: &str = "IMPORT_SCHEDULE";

impl ImportConfig {
    pub fn keys(&self) -> Keys {
        let keys = Keys::new(keys::app(&self.app_id), format!("{IMPORT_PREFIX}{}", self.id));
        match &self.schedule {
            Some(_) => keys.gsi1(SCHEDULED, format!("{}#{}", self.app_id, self.id)),
            None => keys,
        }
    }
}

pub const DEFAULT_PAGE_LIMIT: u32 = 10_000;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// What a caller sends to create or replace an import config.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImportInput {
    pub name: String,
    pub request: RequestTemplate,
    #[serde(default)]
    pub auth_id: Option<AuthId>,
    #[serde(default)]
    pub users_path: String,
    #[serde(default)]
    pub pagination: Option<Pagination>,
    pub mapping: ImportMapping,
    #[serde(default)]
    pub page_limit: Option<u32>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub schedule: Option<super::schedule::Schedule>,
    #[serde(default)]
    pub deactivate_missing: DeactivateMissing,
}

impl ImportInput {
    pub fn validate(&self) -> Result<(), DirectoryError> {
        validate::name("name", &self.name)?;
        let paginated = self.pagination.is_some();
        self.request.validate("request", |name| {
            if name == PAGINATION {
                if paginated {
                    Ok(())
                } else {
                    Err("@Pagination needs `pagination`".into())
                }
            } else {
                Err(format!(
                    "unknown placeholder @{name}: an import request knows only @Pagination; write @@ for a literal @"
                ))
            }
        })?;
        if !self.users_path.is_empty() {
            json_path::validate(&self.users_path).map_err(|e| DirectoryError::invalid("usersPath", e))?;
        }
        if let Some(next) = self.pagination.as_ref().and_then(|p| p.next_path.as_ref()) {
            json_path::validate(next).map_err(|e| DirectoryError::invalid("pagination.nextPath", e))?;
        }
        self.mapping.validate()?;
        if self.deactivate_missing.max_deactivations > 1_000_000 {
            return Err(DirectoryError::invalid(
                "deactivateMissing.maxDeactivations",
                "must be from 0 (hold every deactivation) to 1000000",
            ));
        }
        if self.page_limit.is_some_and(|l| l == 0 || l > 100_000) {
            return Err(DirectoryError::invalid("pageLimit", "must be from 1 to 100000"));
        }
        let most = crate::resources::Queue::Import.max_receive_count();
        if self.max_attempts.is_some_and(|a| a == 0 || a > most) {
            // More would outlast the queue: its redrive would park the page with the run going.
            return Err(DirectoryError::invalid(
                "maxAttempts",
                format!("must be from 1 to {most} (the import queue's deliveries of a message)"),
            ));
        }
        Ok(())
    }
}
