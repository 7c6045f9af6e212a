//! Groups: sets of users; app login policies grant apps to groups.

use serde::{Deserialize, Serialize};

use super::change::{ChangeEvent, ChangeKind};
use super::record::{MAX_TRANSACTION_ITEMS, Record};
use super::{Directory, DirectoryError, Precondition, nullable, validate};
use crate::ids::{AppId, GroupId};
use crate::resources::{GSI1, GSI2};
use crate::store::item::{Keys, key};
use crate::store::keys::{self, LIST_GROUPS, POLICY_PREFIX, PROFILE, Unique, fold};
use crate::store::transaction::{op, transact};
use crate::store::{Listing, Page};
use crate::timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: GroupId,
    /// Unique case-insensitively.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The id the source app (the SCIM client that manages this group) knows it by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_app_id: Option<AppId>,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
}

impl Group {
    /// Marks the group changed although none of its own fields did (its members are about to
    /// change): the write that follows moves its version and stamps the time.
    pub fn touch(&mut self) {
        self.last_modified.clear();
    }
}

impl Record for Group {
    const RESOURCE: &'static str = "group";

    fn id_str(&self) -> &str {
        self.id.as_str()
    }

    fn keys(&self) -> Keys {
        let keys = Keys::new(keys::group(&self.id), PROFILE).gsi1(LIST_GROUPS, fold(&self.name));
        match (&self.source_app_id, &self.external_id) {
            (Some(app), Some(external)) => {
                keys.gsi3(keys::external_lookup(app, external), keys::group(&self.id))
            }
            _ => keys,
        }
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn stamp(&mut self, version: u64, modified: String) {
        self.version = version;
        self.last_modified = modified;
    }

    /// Apps that were given the group (SCIM apps) rename or delete it; a new group is given to
    /// an app with its first member, so its creation is no event.
    fn change_event(before: Option<&Self>, after: Option<&Self>) -> Option<ChangeEvent> {
        match (before, after) {
            (Some(old), Some(new)) if old.name != new.name => {
                Some(ChangeEvent::about_group(ChangeKind::GroupRenamed, &new.id))
            }
            (Some(old), None) => Some(ChangeEvent::about_group(ChangeKind::GroupDeleted, &old.id)),
            _ => None,
        }
    }

    fn unique_values(&self) -> Vec<(Unique, String)> {
        // Not the externalId: RFC 7643 gives it no uniqueness.
        vec![(Unique::GroupName, self.name.clone())]
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewGroup {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupPatch {
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub description: Option<Option<String>>,
}

impl GroupPatch {
    pub fn apply(&self, group: &mut Group) -> Result<(), DirectoryError> {
        match &self.name {
            Some(Some(name)) => group.name = validate::name("name", name)?,
            Some(None) => return Err(DirectoryError::invalid("name", "must not be null")),
            None => {}
        }
        let description = self
            .description
            .clone()
            .map(|d| validate::optional("description", d))
            .transpose()?;
        nullable::apply(&mut group.description, description);
        Ok(())
    }
}

impl Directory {
    /// One TransactWriteItems: the group and its name guard.
    pub async fn create_group(&self, new: NewGroup) -> Result<Group, DirectoryError> {
        let now = timestamp::now();
        let group = Group {
            id: GroupId::generate(),
            name: validate::name("name", &new.name)?,
            description: validate::optional("description", new.description)?,
            external_id: None,
            source_app_id: None,
            version: 1,
            created: now.clone(),
            last_modified: now,
        };
        self.create_record(&group, Vec::new()).await?;
        Ok(group)
    }

    pub async fn get_group(&self, id: &GroupId) -> Result<Group, DirectoryError> {
        self.get_record(&keys::group(id), id.as_str()).await
    }

    pub async fn list_groups(&self, limit: u32, cursor: Option<&str>) -> Result<Page<Group>, DirectoryError> {
        let listing = Listing {
            index: Some(GSI1),
            partition: LIST_GROUPS,
            sk_prefix: None,
        };
        self.list_records(listing, limit, cursor).await
    }

    pub async fn update_group(
        &self,
        id: &GroupId,
        patch: &GroupPatch,
        precondition: Precondition,
    ) -> Result<Group, DirectoryError> {
        self.update_record(
            &keys::group(id),
            id.as_str(),
            precondition,
            |group: &mut Group| patch.apply(group).map(|()| Vec::new()),
        )
        .await
    }

    /// Deletes the group and its memberships. A group that an app login policy uses is kept (409):
    /// deleting it would silently revoke the app for its members.
    pub async fn delete_group(
        &self,
        id: &GroupId,
        precondition: Precondition,
    ) -> Result<Group, DirectoryError> {
        let pk = keys::group(id);
        let policies = Listing {
            index: Some(GSI2),
            partition: &pk,
            sk_prefix: Some(POLICY_PREFIX),
        };
        let used_by = self
            .store
            .query_page::<super::policies::Policy>(&policies, 1, None)
            .await?;
        if let Some(policy) = used_by.items.first() {
            return Err(DirectoryError::conflict(
                "id",
                format!(
                    "group is used by app login policy {}; delete the policy first",
                    policy.id
                ),
            ));
        }
        // Each membership goes in one transaction with its member_removed event: the stream
        // delivers the event within a second, so it must not exist before the membership is gone
        // (the dispatcher would find the member still in, do nothing, and the removal would never
        // be sent). A group with members is first claimed for deletion by one conditional write
        // at the version checked, so a stale If-Match gets its 412 before anything is deleted;
        // from then on the delete goes to its end whatever else changes the group meanwhile.
        let table = &self.store.table;
        for _ in 0..super::version::UPDATE_ATTEMPTS {
            // One read: the group, and whether a delete that broke off after its claim left it
            // marked (the next delete finishes it, whatever its If-Match: the group is going).
            let item = self
                .store
                .get_item(key(&pk, PROFILE))
                .await?
                .ok_or_else(|| DirectoryError::not_found(Group::RESOURCE, id))?;
            let claimed = item.contains_key(keys::DELETING_ATTR);
            let current: Group = crate::store::item::from_item(item)?;
            if !claimed {
                precondition.check(current.version)?;
            }
            if !claimed && self.member_ids(id).await?.is_empty() {
                match self
                    .delete_record(
                        &pk,
                        id.as_str(),
                        Precondition::Version(current.version),
                        Vec::new(),
                    )
                    .await
                {
                    Err(DirectoryError::PreconditionFailed { .. }) => continue,
                    other => return other,
                }
            }
            if !claimed && !self.claim_for_deletion(&pk, current.version).await? {
                continue;
            }
            // No member can be added once claimed; members that came just before are met by the
            // next listing (eventually consistent: a bounded number of rounds).
            for _ in 0..1000 {
                let members = self.member_ids(id).await?;
                if members.is_empty() {
                    break;
                }
                for chunk in members.chunks(MEMBERS_PER_TRANSACTION) {
                    let mut ops = Vec::new();
                    for user in chunk {
                        let event = ChangeEvent::new(ChangeKind::MemberRemoved, user, Some(id), None);
                        ops.push(op::delete(table, key(&pk, keys::member(user))));
                        ops.push(op::put(table, event.item()?));
                    }
                    // A member removed meanwhile fails nothing: deletes of absent items succeed.
                    let _ = transact(&self.store, ops).await?;
                }
            }
            return self
                .delete_record(&pk, id.as_str(), Precondition::Any, Vec::new())
                .await;
        }
        Err(DirectoryError::Store(crate::store::StoreError::Unavailable(
            format!("group {id}: too many concurrent updates, try again"),
        )))
    }
}

/// Lookups and whole-group writes for ingress paths (SCIM).
impl Directory {
    /// The group named `name` (case-insensitively): one Query on GSI1.
    pub async fn find_group_by_name(&self, name: &str) -> Result<Option<Group>, DirectoryError> {
        Ok(self.store.query_exact(GSI1, LIST_GROUPS, &fold(name)).await?)
    }

    /// The groups that `app` knows as `external_id` (case-exact; it need not be unique): one
    /// Query on GSI3, up to `limit`.
    pub async fn find_groups_by_external_id(
        &self,
        app: &AppId,
        external_id: &str,
        limit: u32,
    ) -> Result<Vec<Group>, DirectoryError> {
        let pk = keys::external_lookup(app, external_id);
        let listing = Listing {
            index: Some(crate::resources::GSI3),
            partition: &pk,
            sk_prefix: Some(keys::GROUP_PREFIX),
        };
        Ok(self.store.query_page::<Group>(&listing, limit, None).await?.items)
    }

    /// Up to `cap` groups in name order; `None` when there are more.
    pub async fn scan_groups(&self, cap: usize, page: u32) -> Result<Option<Vec<Group>>, DirectoryError> {
        let listing = Listing {
            index: Some(GSI1),
            partition: LIST_GROUPS,
            sk_prefix: None,
        };
        Ok(self.store.query_all(&listing, cap, page).await?)
    }

    /// Stores a fully built new group with its guards.
    pub async fn insert_group(&self, group: Group) -> Result<Group, DirectoryError> {
        self.create_record(&group, Vec::new()).await?;
        Ok(group)
    }

    /// Applies `change` with the usual locking, retries and guard handling.
    pub async fn change_group<E: From<DirectoryError>>(
        &self,
        id: &GroupId,
        precondition: Precondition,
        change: impl Fn(&mut Group) -> Result<(), E>,
    ) -> Result<Group, E> {
        self.update_record(
            &keys::group(id),
            id.as_str(),
            precondition,
            |group: &mut Group| {
                change(group)?;
                Ok(Vec::new())
            },
        )
        .await
    }
}

/// A membership delete and its event fill a transaction.
const MEMBERS_PER_TRANSACTION: usize = MAX_TRANSACTION_ITEMS / 2;

impl Directory {
    /// Why a write that needed a live group failed: the group is gone, or a delete has claimed
    /// it (one read, on the failure path only).
    pub(crate) async fn missing_or_claimed(&self, id: &GroupId) -> DirectoryError {
        match self
            .get_unclaimed_record::<Group>(&keys::group(id), id.as_str())
            .await
        {
            Err(e) => e,
            // Live again by the time of the read (deleted and made anew): gone, as it was.
            Ok(_) => DirectoryError::not_found(Group::RESOURCE, id),
        }
    }

    /// Marks a group as being deleted and moves its version on, if it is still at `version`.
    async fn claim_for_deletion(&self, pk: &str, version: u64) -> Result<bool, DirectoryError> {
        let claim = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(key(pk, PROFILE)))
            .update_expression("SET #d = :yes, #m = :now ADD #v :one")
            .condition_expression("#v = :v")
            .expression_attribute_names("#d", keys::DELETING_ATTR)
            .expression_attribute_names("#m", "lastModified")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":yes", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .expression_attribute_values(":now", crate::store::item::s(timestamp::now()))
            .expression_attribute_values(":one", crate::store::item::n(1))
            .expression_attribute_values(":v", crate::store::item::n(version))
            .build()
            .map_err(|e| crate::store::StoreError::Other(e.to_string()))?;
        let write = aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .update(claim)
            .build();
        Ok(transact(&self.store, vec![write]).await?.is_ok())
    }
}

impl Directory {
    /// Writes one change event per member of a group to the outbox (a change that concerns a
    /// whole group's members: a policy that grants through it). A change that may take access
    /// away marks its events as one batch of the members' number, for deletion thresholds.
    pub(crate) async fn announce_members(
        &self,
        group: &GroupId,
        members: &[crate::ids::UserId],
        kind: ChangeKind,
        revokes: bool,
    ) -> Result<(), DirectoryError> {
        let events: Vec<ChangeEvent> = members
            .iter()
            .map(|user| {
                let event = ChangeEvent::new(kind, user, Some(group), None);
                if revokes {
                    event.in_batch(members.len())
                } else {
                    event
                }
            })
            .collect();
        let items = events
            .iter()
            .map(ChangeEvent::item)
            .collect::<Result<Vec<_>, _>>()?;
        self.store.batch_put(items).await?;
        Ok(())
    }

    /// Tells the dispatcher that the members of every group an app's policies name may have
    /// something new to send it (its user-created config was switched on).
    pub async fn rescope_app(&self, app: &AppId) -> Result<(), DirectoryError> {
        // The grants, read strongly: the policies' index may not show one created a moment ago.
        let grants = super::scope::grants(&self.store).await?;
        let groups: std::collections::BTreeSet<&GroupId> = grants
            .iter()
            .filter(|g| &g.app_id == app)
            .map(|g| &g.group_id)
            .collect();
        let groups: Vec<&GroupId> = groups.into_iter().collect();
        self.rescope(&groups, false).await
    }

    /// Tells the dispatcher that the members of `groups` may have gained apps, or with `revokes`
    /// lost some (a policy deleted or moved away).
    pub(crate) async fn rescope(&self, groups: &[&GroupId], revokes: bool) -> Result<(), DirectoryError> {
        for group in groups {
            let members = self.member_ids(group).await?;
            self.announce_members(group, &members, ChangeKind::ScopeChanged, revokes)
                .await?;
        }
        Ok(())
    }
}
