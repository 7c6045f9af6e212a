//! Apps: the applications Provisio provisions to (custom provisioning) or from (SCIM client).

use serde::{Deserialize, Serialize};

use super::record::{Check, Record};
use super::{Directory, DirectoryError, Precondition, nullable, validate};
use crate::ids::AppId;
use crate::resources::GSI1;
use crate::store::item::Keys;
use crate::store::keys::{self, LIST_APPS, LIST_POLICIES, PROFILE, fold};
use crate::store::{Listing, Page};
use crate::timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// Outbound: Provisio calls the app's REST API (seed 000).
    CustomProvisioning,
    /// Inbound: the app pushes users and groups to Provisio over SCIM 2.0 (seed 004).
    ScimClient,
    /// Outbound over SCIM 2.0: Provisio is the SCIM client of the app's SCIM service, with no
    /// templates to write (issue 17).
    ScimTarget,
}

impl AppKind {
    /// Whether Provisio provisions to apps of this kind (scope, links, the dispatcher).
    pub fn is_outbound(self) -> bool {
        matches!(self, AppKind::CustomProvisioning | AppKind::ScimTarget)
    }

    /// Whether a SCIM attribute mapping applies (either direction).
    fn speaks_scim(self) -> bool {
        matches!(self, AppKind::ScimClient | AppKind::ScimTarget)
    }
}

/// What a custom provisioning app is told when a user leaves its scope (removed from the policy's
/// group, or the policy removed). A deleted user is always deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Deprovision {
    /// Fire the user_deactivated event config; the account stays, disabled.
    #[default]
    Deactivate,
    /// Fire the user_deleted event config and forget the account.
    Delete,
}

/// Which users an outbound app is provisioned (Entra's "sync only assigned users and groups" or
/// "sync all users and groups").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppScope {
    /// The members of the groups its app login policies name.
    #[default]
    Assigned,
    /// Every user of the directory (its policies still decide login, and which groups a SCIM
    /// app is given).
    AllUsers,
}

impl AppScope {
    fn is_assigned(&self) -> bool {
        *self == AppScope::Assigned
    }
}

/// Custom provisioning apps: the accidental-deletion threshold (Entra's "prevent accidental
/// deletions"). More deprovisions (deactivations and deletes) within a window than `maxDeprovisions`,
/// or one directory change that re-scopes more users than that (a policy deleted or moved), and
/// the app's deprovisions are held, not sent, until an administrator approves or rejects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeletionThreshold {
    #[serde(default = "DeletionThreshold::on")]
    pub enabled: bool,
    /// Deprovisions sent within one window before the rest are held (1 to 100,000).
    #[serde(default = "DeletionThreshold::default_max")]
    pub max_deprovisions: u32,
    /// The window, in minutes (1 to 1,440); windows are fixed (from the hour, the day).
    #[serde(default = "DeletionThreshold::default_window")]
    pub window_minutes: u32,
}

impl DeletionThreshold {
    fn on() -> bool {
        true
    }
    fn default_max() -> u32 {
        50
    }
    fn default_window() -> u32 {
        60
    }

    pub fn validate(&self) -> Result<(), DirectoryError> {
        if !(1..=100_000).contains(&self.max_deprovisions) {
            return Err(DirectoryError::invalid(
                "deletionThreshold.maxDeprovisions",
                "must be from 1 to 100000",
            ));
        }
        if !(1..=1440).contains(&self.window_minutes) {
            return Err(DirectoryError::invalid(
                "deletionThreshold.windowMinutes",
                "must be from 1 to 1440",
            ));
        }
        Ok(())
    }
}

/// A rate limit, when given, is 1 to 10,000 calls a second.
fn validate_rate(limit: Option<u32>) -> Result<Option<u32>, DirectoryError> {
    match limit {
        Some(n) if !(1..=10_000).contains(&n) => Err(DirectoryError::invalid(
            "rateLimit",
            "must be from 1 to 10000 calls a second, or null for none",
        )),
        other => Ok(other),
    }
}

/// A change of an app's deletion threshold: the fields given replace the stored ones.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeletionThresholdPatch {
    pub enabled: Option<bool>,
    pub max_deprovisions: Option<u32>,
    pub window_minutes: Option<u32>,
}

impl DeletionThresholdPatch {
    fn apply(&self, to: DeletionThreshold) -> DeletionThreshold {
        DeletionThreshold {
            enabled: self.enabled.unwrap_or(to.enabled),
            max_deprovisions: self.max_deprovisions.unwrap_or(to.max_deprovisions),
            window_minutes: self.window_minutes.unwrap_or(to.window_minutes),
        }
    }
}

impl Default for DeletionThreshold {
    fn default() -> Self {
        DeletionThreshold {
            enabled: true,
            max_deprovisions: Self::default_max(),
            window_minutes: Self::default_window(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub id: AppId,
    pub name: String,
    pub kind: AppKind,
    /// SCIM client apps: a user the source deactivates (`active: false`) is deleted rather than
    /// stored as inactive (seed 004).
    #[serde(default)]
    pub delete_on_deactivate: bool,
    /// SCIM client apps: may take over users and groups that no source owns (created through
    /// the admin API), on its first write to them. Off: such a write is refused (403).
    #[serde(default)]
    pub adopt_unowned: bool,
    /// Custom provisioning apps: what leaving scope does.
    #[serde(default)]
    pub deprovision: Deprovision,
    /// Outbound apps: who is provisioned.
    #[serde(default, skip_serializing_if = "AppScope::is_assigned")]
    pub scope: AppScope,
    /// Custom provisioning apps: when deprovisions are held for approval (on by default, also
    /// for apps stored before it existed).
    #[serde(default)]
    pub deletion_threshold: DeletionThreshold,
    /// Custom provisioning apps: calls a second at most, across every dispatcher (none: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// SCIM client and target apps: attribute mapping entries applied on top of the built-in
    /// mapping (for a target: the directory attribute is sent at the SCIM path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_mapping: Option<super::scim_mapping::ScimMapping>,
    /// SCIM target apps: the SCIM service and its authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_target: Option<super::scim_target::ScimTarget>,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
}

impl Record for App {
    const RESOURCE: &'static str = "app";

    fn id_str(&self) -> &str {
        self.id.as_str()
    }

    fn keys(&self) -> Keys {
        Keys::new(keys::app(&self.id), PROFILE).gsi1(LIST_APPS, format!("{}#{}", fold(&self.name), self.id))
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn stamp(&mut self, version: u64, modified: String) {
        self.version = version;
        self.last_modified = modified;
    }

    /// An app's settings (its deprovision mode) are part of what the dispatcher decides with.
    fn side_writes(
        table: &str,
        before: Option<&Self>,
        after: Option<&Self>,
    ) -> Result<Vec<aws_sdk_dynamodb::types::TransactWriteItem>, crate::store::StoreError> {
        let all_users = |app: Option<&Self>| app.map(|a| (a.id.clone(), a.scope == AppScope::AllUsers));
        let mut writes = vec![super::scope::bump(table)];
        writes.extend(super::scope::all_users_write(
            table,
            all_users(before),
            all_users(after),
        )?);
        Ok(writes)
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewApp {
    pub name: String,
    pub kind: AppKind,
    #[serde(default)]
    pub delete_on_deactivate: bool,
    #[serde(default)]
    pub adopt_unowned: bool,
    #[serde(default)]
    pub deprovision: Option<Deprovision>,
    #[serde(default)]
    pub scope: Option<AppScope>,
    #[serde(default)]
    pub deletion_threshold: Option<DeletionThreshold>,
    #[serde(default)]
    pub rate_limit: Option<u32>,
    #[serde(default)]
    pub scim_mapping: Option<super::scim_mapping::ScimMapping>,
    /// Required for scim_target apps.
    #[serde(default)]
    pub scim_target: Option<super::scim_target::ScimTargetInput>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppPatch {
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub name: Option<Option<String>>,
    /// Accepted only when unchanged: an app's kind decides what its configs mean.
    #[serde(default)]
    pub kind: Option<AppKind>,
    #[serde(default)]
    pub delete_on_deactivate: Option<bool>,
    #[serde(default)]
    pub adopt_unowned: Option<bool>,
    #[serde(default)]
    pub deprovision: Option<Deprovision>,
    #[serde(default)]
    pub scope: Option<AppScope>,
    #[serde(default)]
    pub deletion_threshold: Option<DeletionThresholdPatch>,
    /// Calls a second; `null` removes the limit.
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub rate_limit: Option<Option<u32>>,
    /// `null` goes back to the built-in mapping alone.
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub scim_mapping: Option<Option<super::scim_mapping::ScimMapping>>,
    /// scim_target apps: the service's base URL and authorization, replaced whole.
    #[serde(default)]
    pub scim_target: Option<super::scim_target::ScimTargetInput>,
}

impl AppPatch {
    pub fn apply(&self, app: &mut App) -> Result<(), DirectoryError> {
        match &self.name {
            Some(Some(name)) => app.name = validate::name("name", name)?,
            Some(None) => return Err(DirectoryError::invalid("name", "must not be null")),
            None => {}
        }
        if self.kind.is_some_and(|kind| kind != app.kind) {
            return Err(DirectoryError::invalid(
                "kind",
                "is immutable; create a new app instead",
            ));
        }
        if let Some(delete) = self.delete_on_deactivate {
            if delete && app.kind != AppKind::ScimClient {
                return Err(DirectoryError::invalid(
                    "deleteOnDeactivate",
                    "applies to scim_client apps only",
                ));
            }
            app.delete_on_deactivate = delete;
        }
        if let Some(adopt) = self.adopt_unowned {
            if adopt && app.kind != AppKind::ScimClient {
                return Err(DirectoryError::invalid(
                    "adoptUnowned",
                    "applies to scim_client apps only",
                ));
            }
            app.adopt_unowned = adopt;
        }
        if let Some(deprovision) = self.deprovision {
            if !app.kind.is_outbound() {
                return Err(DirectoryError::invalid(
                    "deprovision",
                    "applies to custom_provisioning and scim_target apps only",
                ));
            }
            app.deprovision = deprovision;
        }
        if let Some(scope) = self.scope {
            if scope != AppScope::Assigned && !app.kind.is_outbound() {
                return Err(DirectoryError::invalid(
                    "scope",
                    "applies to custom_provisioning and scim_target apps only",
                ));
            }
            app.scope = scope;
        }
        if let Some(limit) = self.rate_limit {
            if limit.is_some() && !app.kind.is_outbound() {
                return Err(DirectoryError::invalid(
                    "rateLimit",
                    "applies to custom_provisioning and scim_target apps only",
                ));
            }
            app.rate_limit = validate_rate(limit)?;
        }
        if let Some(patch) = self.deletion_threshold {
            let threshold = patch.apply(app.deletion_threshold);
            if !app.kind.is_outbound() {
                return Err(DirectoryError::invalid(
                    "deletionThreshold",
                    "applies to custom_provisioning and scim_target apps only",
                ));
            }
            threshold.validate()?;
            app.deletion_threshold = threshold;
        }
        if let Some(mapping) = &self.scim_mapping {
            if let Some(m) = mapping {
                if !app.kind.speaks_scim() {
                    return Err(DirectoryError::invalid(
                        "scimMapping",
                        "applies to scim_client and scim_target apps only",
                    ));
                }
                m.validate()?;
            }
            app.scim_mapping = mapping.clone();
        }
        if let Some(target) = &self.scim_target {
            if app.kind != AppKind::ScimTarget {
                return Err(DirectoryError::invalid(
                    "scimTarget",
                    "applies to scim_target apps only",
                ));
            }
            app.scim_target = Some(target.clone().into_target(app.scim_target.as_ref())?);
        }
        Ok(())
    }
}

impl Directory {
    /// Creates an app; a SCIM client app gets its first SCIM token in the same transaction (the
    /// token is returned once, only its digest is stored).
    pub async fn create_app(&self, new: NewApp) -> Result<(App, Option<String>), DirectoryError> {
        if let Some(mapping) = &new.scim_mapping {
            if !new.kind.speaks_scim() {
                return Err(DirectoryError::invalid(
                    "scimMapping",
                    "applies to scim_client and scim_target apps only",
                ));
            }
            mapping.validate()?;
        }
        let scim_target = match (new.kind, new.scim_target.clone()) {
            (AppKind::ScimTarget, Some(target)) => Some(target.into_target(None)?),
            (AppKind::ScimTarget, None) => {
                return Err(DirectoryError::invalid(
                    "scimTarget",
                    "a scim_target app needs its service: {\"baseUrl\": ..., \"authId\"?: ...}",
                ));
            }
            (_, Some(_)) => {
                return Err(DirectoryError::invalid(
                    "scimTarget",
                    "applies to scim_target apps only",
                ));
            }
            (_, None) => None,
        };
        if new.delete_on_deactivate && new.kind != AppKind::ScimClient {
            return Err(DirectoryError::invalid(
                "deleteOnDeactivate",
                "applies to scim_client apps only",
            ));
        }
        if new.adopt_unowned && new.kind != AppKind::ScimClient {
            return Err(DirectoryError::invalid(
                "adoptUnowned",
                "applies to scim_client apps only",
            ));
        }
        if new.deprovision.is_some() && !new.kind.is_outbound() {
            return Err(DirectoryError::invalid(
                "deprovision",
                "applies to custom_provisioning and scim_target apps only",
            ));
        }
        if new.scope.is_some_and(|s| s != AppScope::Assigned) && !new.kind.is_outbound() {
            return Err(DirectoryError::invalid(
                "scope",
                "applies to custom_provisioning and scim_target apps only",
            ));
        }
        if new.rate_limit.is_some() && !new.kind.is_outbound() {
            return Err(DirectoryError::invalid(
                "rateLimit",
                "applies to custom_provisioning and scim_target apps only",
            ));
        }
        validate_rate(new.rate_limit)?;
        if let Some(threshold) = new.deletion_threshold {
            if !new.kind.is_outbound() {
                return Err(DirectoryError::invalid(
                    "deletionThreshold",
                    "applies to custom_provisioning and scim_target apps only",
                ));
            }
            threshold.validate()?;
        }
        let now = timestamp::now();
        let app = App {
            id: AppId::generate(),
            name: validate::name("name", &new.name)?,
            kind: new.kind,
            delete_on_deactivate: new.delete_on_deactivate,
            adopt_unowned: new.adopt_unowned,
            deprovision: new.deprovision.unwrap_or_default(),
            scope: new.scope.unwrap_or_default(),
            deletion_threshold: new.deletion_threshold.unwrap_or_default(),
            rate_limit: new.rate_limit,
            scim_mapping: new.scim_mapping,
            scim_target,
            version: 1,
            created: now.clone(),
            last_modified: now,
        };
        let (token, checks) = match app.kind {
            AppKind::ScimClient => {
                let (token, item) = super::scim_tokens::first_token(&app.id)?;
                let check = Check {
                    op: crate::store::transaction::op::put_new(&self.store.table, item),
                    on_fail: DirectoryError::conflict("id", "the app already has a SCIM token"),
                };
                (Some(token), vec![check])
            }
            AppKind::CustomProvisioning | AppKind::ScimTarget => (None, Vec::new()),
        };
        self.create_record(&app, checks).await?;
        Ok((app, token))
    }

    pub async fn get_app(&self, id: &AppId) -> Result<App, DirectoryError> {
        self.get_record(&keys::app(id), id.as_str()).await
    }

    pub async fn list_apps(&self, limit: u32, cursor: Option<&str>) -> Result<Page<App>, DirectoryError> {
        let listing = Listing {
            index: Some(GSI1),
            partition: LIST_APPS,
            sk_prefix: None,
        };
        self.list_records(listing, limit, cursor).await
    }

    pub async fn update_app(
        &self,
        id: &AppId,
        patch: &AppPatch,
        precondition: Precondition,
    ) -> Result<App, DirectoryError> {
        self.update_record(&keys::app(id), id.as_str(), precondition, |app: &mut App| {
            patch.apply(app).map(|()| Vec::new())
        })
        .await
    }

    /// Keeps what a SCIM target's service announced, if the app still points at `base_url`.
    pub async fn set_scim_supports(
        &self,
        id: &AppId,
        base_url: &str,
        supports: super::scim_target::Supports,
    ) -> Result<App, DirectoryError> {
        self.update_record(&keys::app(id), id.as_str(), Precondition::Any, |app: &mut App| {
            if let Some(target) = app.scim_target.as_mut().filter(|t| t.base_url == base_url) {
                target.supports = Some(supports.clone());
            }
            Ok::<_, DirectoryError>(Vec::new())
        })
        .await
    }

    /// An app that an app login policy uses is kept (409), like a group. `configs` are the keys
    /// of the app's own items (authorization and event configs), deleted with it.
    pub async fn delete_app(
        &self,
        id: &AppId,
        precondition: Precondition,
        configs: Vec<crate::store::item::Item>,
    ) -> Result<App, DirectoryError> {
        let prefix = keys::policy_listing_prefix(id);
        let policies = Listing {
            index: Some(GSI1),
            partition: LIST_POLICIES,
            sk_prefix: Some(&prefix),
        };
        let used_by = self
            .store
            .query_page::<super::policies::Policy>(&policies, 1, None)
            .await?;
        if let Some(policy) = used_by.items.first() {
            return Err(DirectoryError::conflict(
                "id",
                format!(
                    "app is used by app login policy {}; delete the policy first",
                    policy.id
                ),
            ));
        }
        self.delete_record(&keys::app(id), id.as_str(), precondition, configs)
            .await
    }
}

impl Directory {
    /// Issues a new token for a SCIM client app; the previous one keeps working for `overlap`.
    pub async fn rotate_scim_token(
        &self,
        app: &AppId,
        overlap: std::time::Duration,
    ) -> Result<super::scim_tokens::IssuedToken, DirectoryError> {
        if self.get_app(app).await?.kind != AppKind::ScimClient {
            return Err(DirectoryError::conflict(
                "kind",
                "only scim_client apps have SCIM tokens",
            ));
        }
        self.replace_scim_token(app, overlap).await
    }
}
