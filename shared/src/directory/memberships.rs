//! Group membership, stored once (under the group) and found both ways through GSI2.

use serde::{Deserialize, Serialize};

use super::change::{ChangeEvent, ChangeKind};
use super::{Directory, DirectoryError};
use crate::ids::{GroupId, UserId};
use crate::resources::GSI2;
use crate::store::item::{Keys, key, to_item};
use crate::store::keys::{self, GROUP_PREFIX, MEMBER_PREFIX, PROFILE};
use crate::store::transaction::{op, transact};
use crate::store::{Listing, Page};
use crate::timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub group_id: GroupId,
    pub user_id: UserId,
    pub added: String,
}

impl Membership {
    fn keys(&self) -> Keys {
        Keys::new(keys::group(&self.group_id), keys::member(&self.user_id))
            .gsi2(keys::user(&self.user_id), keys::group(&self.group_id))
    }
}

/// Whether a membership change moves its group's version (ETag) on in the same transaction. A
/// group's members are part of it (a PATCH with If-Match protects them), so single changes do;
/// a SCIM request that changes many members moves the version once, itself, first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupVersion {
    Bump,
    Leave,
}

/// Whether an add created the membership or found it in place (adds are idempotent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Created,
    AlreadyMember,
}

impl Directory {
    /// One TransactWriteItems: the user and the group must exist, the membership is written once.
    pub async fn add_member(
        &self,
        group: &GroupId,
        user: &UserId,
        version: GroupVersion,
    ) -> Result<(Membership, Added), DirectoryError> {
        let membership = Membership {
            group_id: group.clone(),
            user_id: user.clone(),
            added: timestamp::now(),
        };
        let table = &self.store.table;
        let event = ChangeEvent::new(ChangeKind::MemberAdded, user, Some(group), None);
        let group_key = key(keys::group(group), PROFILE);
        let ops = vec![
            op::check_exists(table, key(keys::user(user), PROFILE)),
            match version {
                GroupVersion::Bump => op::touch_live_group(table, group_key, &membership.added),
                GroupVersion::Leave => op::check_live_group(table, group_key),
            },
            op::put_new(table, to_item(&membership, &membership.keys())?),
            op::put(table, event.item()?),
        ];
        match transact(&self.store, ops).await? {
            Ok(()) => Ok((membership, Added::Created)),
            Err(c) if c.failed(0) => Err(DirectoryError::not_found("user", user)),
            Err(c) if c.failed(1) => Err(self.missing_or_claimed(group).await),
            Err(_) => {
                let existing = self
                    .store
                    .get::<Membership>(&keys::group(group), &keys::member(user))
                    .await?
                    .unwrap_or(membership);
                Ok((existing, Added::AlreadyMember))
            }
        }
    }

    /// One TransactWriteItems: the membership, which must exist, and its change event. `batch`:
    /// how many members the one request removes (a SCIM PATCH of many), for deletion thresholds.
    pub async fn remove_member(
        &self,
        group: &GroupId,
        user: &UserId,
        version: GroupVersion,
        batch: usize,
    ) -> Result<(), DirectoryError> {
        let table = &self.store.table;
        let event = ChangeEvent::new(ChangeKind::MemberRemoved, user, Some(group), None);
        let event = if batch > 1 { event.in_batch(batch) } else { event };
        let mut ops = vec![
            op::delete_existing(table, key(keys::group(group), keys::member(user))),
            op::put(table, event.item()?),
        ];
        if version == GroupVersion::Bump {
            ops.push(op::touch(table, key(keys::group(group), PROFILE), &event.at));
        }
        match transact(&self.store, ops).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(DirectoryError::NotFound {
                resource: "membership",
                id: format!("{group}/{user}"),
            }),
        }
    }

    /// Members of a group: one Query (plus one GetItem when the first page is empty, to tell an
    /// empty group from a missing one).
    pub async fn list_members(
        &self,
        group: &GroupId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Membership>, DirectoryError> {
        let pk = keys::group(group);
        let listing = Listing {
            index: None,
            partition: &pk,
            sk_prefix: Some(MEMBER_PREFIX),
        };
        let page = self.store.query_page(&listing, limit, cursor).await?;
        if page.items.is_empty() && cursor.is_none() {
            self.get_group(group).await?;
        }
        Ok(page)
    }

    /// Groups of a user: one Query on GSI2 (plus one GetItem when the first page is empty).
    pub async fn list_user_groups(
        &self,
        user: &UserId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Membership>, DirectoryError> {
        let pk = keys::user(user);
        let listing = Listing {
            index: Some(GSI2),
            partition: &pk,
            sk_prefix: Some(GROUP_PREFIX),
        };
        let page = self.store.query_page(&listing, limit, cursor).await?;
        if page.items.is_empty() && cursor.is_none() {
            self.get_user(user).await?;
        }
        Ok(page)
    }
}

/// Whole-membership reads for ingress paths (SCIM groups with their members).
impl Directory {
    /// Every member of a group (the members' keys only, page by page).
    pub async fn member_ids(&self, group: &GroupId) -> Result<Vec<UserId>, DirectoryError> {
        let pk = keys::group(group);
        let listing = Listing {
            index: None,
            partition: &pk,
            sk_prefix: Some(MEMBER_PREFIX),
        };
        let keys = self.store.query_keys(&listing).await?;
        Ok(keys
            .iter()
            .filter_map(|k| crate::store::item::string_attr(k, crate::resources::SK))
            .filter_map(|sk| sk.strip_prefix(MEMBER_PREFIX).and_then(UserId::parse))
            .collect())
    }

    /// The ids among `users` that exist: BatchGetItem, 100 keys a call.
    pub async fn existing_users(&self, users: &[UserId]) -> Result<Vec<UserId>, DirectoryError> {
        let keys: Vec<_> = users.iter().map(|u| key(keys::user(u), PROFILE)).collect();
        let found = self.store.existing(keys).await?;
        Ok(users
            .iter()
            .filter(|u| found.contains(&keys::user(u)))
            .cloned()
            .collect())
    }
}
