//! App login policies: which group gets which app, and with which first factor (seed 000 step 6).

use serde::{Deserialize, Serialize};

use super::record::{Check, Record};
use super::{Directory, DirectoryError, Precondition, nullable, validate};
use crate::ids::{AppId, GroupId, PolicyId};
use crate::resources::GSI1;
use crate::store::item::Keys;
use crate::store::keys::{self, LIST_POLICIES, PROFILE};
use crate::store::{Listing, Page};
use crate::timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FirstFactor {
    Password,
    /// Password-less login, e.g. biometrics.
    Passwordless,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub id: PolicyId,
    pub name: String,
    pub app_id: AppId,
    pub group_id: GroupId,
    pub first_factor: FirstFactor,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
}

impl Record for Policy {
    const RESOURCE: &'static str = "policy";

    fn id_str(&self) -> &str {
        self.id.as_str()
    }

    fn keys(&self) -> Keys {
        Keys::new(keys::policy(&self.id), PROFILE)
            .gsi1(LIST_POLICIES, keys::policy_listing(&self.app_id, &self.id))
            .gsi2(keys::group(&self.group_id), keys::policy(&self.id))
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn stamp(&mut self, version: u64, modified: String) {
        self.version = version;
        self.last_modified = modified;
    }

    /// The grant the dispatcher reads scope from, and the configuration version.
    fn side_writes(
        table: &str,
        before: Option<&Self>,
        after: Option<&Self>,
    ) -> Result<Vec<aws_sdk_dynamodb::types::TransactWriteItem>, crate::store::StoreError> {
        let grant = |p: &Self| super::scope::Grant {
            policy_id: p.id.clone(),
            app_id: p.app_id.clone(),
            group_id: p.group_id.clone(),
        };
        super::scope::policy_writes(table, before.map(grant).as_ref(), after.map(grant).as_ref())
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewPolicy {
    pub name: String,
    pub app_id: AppId,
    pub group_id: GroupId,
    pub first_factor: FirstFactor,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyPatch {
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub name: Option<Option<String>>,
    #[serde(default)]
    pub app_id: Option<AppId>,
    #[serde(default)]
    pub group_id: Option<GroupId>,
    #[serde(default)]
    pub first_factor: Option<FirstFactor>,
}

impl Directory {
    /// The app and the group must exist, the group not claimed by a delete (a policy on it would
    /// keep that delete from finishing); checked in the same transaction that writes the policy.
    fn reference_checks(&self, app: &AppId, group: &GroupId) -> Vec<Check> {
        vec![
            Check::exists(
                self,
                keys::app(app),
                DirectoryError::invalid("appId", format!("no app {app}")),
            ),
            Check::live_group(
                self,
                keys::group(group),
                DirectoryError::invalid("groupId", format!("no group {group}, or it is being deleted")),
            ),
        ]
    }

    pub async fn create_policy(&self, new: NewPolicy) -> Result<Policy, DirectoryError> {
        let now = timestamp::now();
        let policy = Policy {
            id: PolicyId::generate(),
            name: validate::name("name", &new.name)?,
            app_id: new.app_id,
            group_id: new.group_id,
            first_factor: new.first_factor,
            version: 1,
            created: now.clone(),
            last_modified: now,
        };
        let checks = self.reference_checks(&policy.app_id, &policy.group_id);
        self.create_record(&policy, checks).await?;
        // The group's members enter the app's scope now, not at their next change.
        self.rescope(&[&policy.group_id], false).await?;
        Ok(policy)
    }

    pub async fn get_policy(&self, id: &PolicyId) -> Result<Policy, DirectoryError> {
        self.get_record(&keys::policy(id), id.as_str()).await
    }

    /// All policies, or one app's policies: one Query on GSI1 either way.
    pub async fn list_policies(
        &self,
        app: Option<&AppId>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Policy>, DirectoryError> {
        let prefix = app.map(keys::policy_listing_prefix);
        let listing = Listing {
            index: Some(GSI1),
            partition: LIST_POLICIES,
            sk_prefix: prefix.as_deref(),
        };
        self.list_records(listing, limit, cursor).await
    }

    pub async fn update_policy(
        &self,
        id: &PolicyId,
        patch: &PolicyPatch,
        precondition: Precondition,
    ) -> Result<Policy, DirectoryError> {
        let before = self.get_policy(id).await?;
        let after: Policy = self
            .update_record(
                &keys::policy(id),
                id.as_str(),
                precondition,
                |policy: &mut Policy| {
                    match &patch.name {
                        Some(Some(name)) => policy.name = validate::name("name", name)?,
                        Some(None) => return Err(DirectoryError::invalid("name", "must not be null")),
                        None => {}
                    }
                    let moved = patch.app_id.as_ref().is_some_and(|a| *a != policy.app_id)
                        || patch.group_id.as_ref().is_some_and(|g| *g != policy.group_id);
                    if let Some(app) = &patch.app_id {
                        policy.app_id = app.clone();
                    }
                    if let Some(group) = &patch.group_id {
                        policy.group_id = group.clone();
                    }
                    if let Some(factor) = patch.first_factor {
                        policy.first_factor = factor;
                    }
                    Ok(if moved {
                        self.reference_checks(&policy.app_id, &policy.group_id)
                    } else {
                        Vec::new()
                    })
                },
            )
            .await?;
        if after.app_id != before.app_id || after.group_id != before.group_id {
            // The members of the group it named lose the app it named.
            self.rescope(&[&before.group_id], true).await?;
            if after.group_id != before.group_id {
                self.rescope(&[&after.group_id], false).await?;
            }
        }
        Ok(after)
    }

    pub async fn delete_policy(
        &self,
        id: &PolicyId,
        precondition: Precondition,
    ) -> Result<Policy, DirectoryError> {
        let policy: Policy = self
            .delete_record(&keys::policy(id), id.as_str(), precondition, Vec::new())
            .await?;
        self.rescope(&[&policy.group_id], true).await?;
        Ok(policy)
    }
}
