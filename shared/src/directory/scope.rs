//! Who is in an app's scope, read the way the dispatcher must read it: strongly, with a version.
//!
//! The dispatcher decides from configuration that changes rarely and that it reads on every
//! event: the app login policies (which groups give which apps) and each app's setup (its event
//! configs). It keeps both in memory, so it must know when its copy is older than an event it
//! handles: "nothing to send" decided on an older copy consumes the event and loses the user for
//! good (issue 18). So every write that changes either adds one to the configuration version
//! (`CONFIG` / `VERSION`) in its own transaction, and the dispatcher reads that item, strongly,
//! once per batch, after every message of the batch was written: if it moved, the copy goes.
//!
//! Policies are mirrored as grants in one partition (`CONFIG` / `GRANT#<policyId>`), written in the
//! policy's transaction, so that the dispatcher reads them strongly too: the policies' GSI1 listing
//! (what the admin API pages through) is eventually consistent and may miss a policy created a
//! moment ago.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

use crate::ids::{AppId, GroupId, PolicyId};
use crate::resources::GSI1;
use crate::store::item::{Keys, from_item, key, to_item};
use crate::store::keys::{self, LIST_POLICIES, PROFILE};
use crate::store::transaction::{op, transact};
use crate::store::{Listing, Store, StoreError};

const PARTITION: &str = "CONFIG";
const VERSION: &str = "VERSION";
const GRANT_PREFIX: &str = "GRANT#";
/// `CONFIG` / `ALLUSERS#<appId>`: an app whose scope is every user.
const ALL_USERS_PREFIX: &str = "ALLUSERS#";
/// Most grants read; a directory with more policies than this is refused loudly, not truncated.
const MAX_GRANTS: usize = 100_000;

/// One app login policy as scope sees it: members of `group_id` are in `app_id`'s scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub policy_id: PolicyId,
    pub app_id: AppId,
    pub group_id: GroupId,
}

impl Grant {
    fn keys(policy: &PolicyId) -> Keys {
        Keys::new(PARTITION, format!("{GRANT_PREFIX}{policy}"))
    }
}

/// The transaction item that moves the configuration version on.
pub fn bump(table: &str) -> TransactWriteItem {
    op::add(table, key(PARTITION, VERSION), "version", 1)
}

/// What a policy write adds to its transaction: the bump, and its grant (the policy as scope sees
/// it) put or deleted.
pub fn policy_writes(
    table: &str,
    before: Option<&Grant>,
    after: Option<&Grant>,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut ops = vec![bump(table)];
    ops.extend(grant_write(table, before, after)?);
    Ok(ops)
}

/// The grant of a policy as written (`after`), or its removal (deleted: `after` None).
fn grant_write(
    table: &str,
    before: Option<&Grant>,
    after: Option<&Grant>,
) -> Result<Option<TransactWriteItem>, StoreError> {
    Ok(match (before, after) {
        (_, Some(grant)) => Some(op::put(table, to_item(grant, &Grant::keys(&grant.policy_id))?)),
        (Some(grant), None) => Some(op::delete(table, Grant::keys(&grant.policy_id).primary())),
        (None, None) => None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AllUsers {
    app_id: AppId,
}

/// What an app write adds to its transaction for its scope (`(app, all users?)` before and
/// after): the mark of an app provisioned to every user, put or deleted.
pub fn all_users_write(
    table: &str,
    before: Option<(AppId, bool)>,
    after: Option<(AppId, bool)>,
) -> Result<Option<TransactWriteItem>, StoreError> {
    let keys = |app: &AppId| Keys::new(PARTITION, format!("{ALL_USERS_PREFIX}{app}"));
    Ok(match (before, after) {
        (_, Some((app, true))) => Some(op::put(
            table,
            to_item(&AllUsers { app_id: app.clone() }, &keys(&app))?,
        )),
        (Some((app, true)), _) => Some(op::delete(table, keys(&app).primary())),
        _ => None,
    })
}

/// The configuration the dispatcher decides scope with: every grant, and the apps whose scope is
/// every user. One strongly consistent Query of the `CONFIG` partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub grants: Vec<Grant>,
    pub all_users: std::collections::BTreeSet<AppId>,
}

impl Scope {
    /// The apps a user in `groups` is in the scope of (a user that exists).
    pub fn apps_of<'a>(
        &'a self,
        groups: &'a std::collections::BTreeSet<GroupId>,
    ) -> impl Iterator<Item = &'a AppId> {
        self.grants
            .iter()
            .filter(|g| groups.contains(&g.group_id))
            .map(|g| &g.app_id)
            .chain(self.all_users.iter())
    }
}

/// Grants and the all-users apps: one strongly consistent Query (a page per MB).
pub async fn load(store: &Store) -> Result<Scope, StoreError> {
    let listing = Listing {
        index: None,
        partition: PARTITION,
        sk_prefix: None,
    };
    let items = store.query_items(&listing).await?;
    if items.len() > MAX_GRANTS {
        return Err(StoreError::Other(format!(
            "more than {MAX_GRANTS} app login policies"
        )));
    }
    let mut scope = Scope::default();
    for item in items {
        let sk = crate::store::item::string_attr(&item, crate::resources::SK).unwrap_or_default();
        if sk.starts_with(GRANT_PREFIX) {
            scope.grants.push(from_item(item)?);
        } else if sk.starts_with(ALL_USERS_PREFIX) {
            scope.all_users.insert(from_item::<AllUsers>(item)?.app_id);
        }
    }
    Ok(scope)
}

/// A stored policy as the backfill reads it (the policy item's own fields).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredPolicy {
    id: PolicyId,
    app_id: AppId,
    group_id: GroupId,
    version: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Version {
    /// 0 before the first configuration write.
    #[serde(default)]
    pub version: u64,
    /// Set once every policy has its grant (tables from before grants existed are backfilled).
    #[serde(default)]
    grants: u8,
}

impl Version {
    pub fn grants_complete(&self) -> bool {
        self.grants >= 1
    }
}

/// The configuration version: one strongly consistent GetItem.
pub async fn version(store: &Store) -> Result<Version, StoreError> {
    Ok(store
        .get::<Version>(PARTITION, VERSION)
        .await?
        .unwrap_or_default())
}

/// Writes the grant of every policy stored before grants existed (a table of an earlier release),
/// then marks the version item complete and moves it on. Idempotent, and safe against policy
/// writes meanwhile: a grant is put only while its policy still has the version listed (a policy
/// written since put its own grant; one deleted since gets none). The dispatcher runs it when the
/// mark is missing, before it decides anything from grants.
pub async fn backfill(store: &Store) -> Result<usize, StoreError> {
    let listing = Listing {
        index: Some(GSI1),
        partition: LIST_POLICIES,
        sk_prefix: None,
    };
    let policies: Vec<StoredPolicy> = store
        .query_all(&listing, MAX_GRANTS, 1000)
        .await
        .map_err(|e| StoreError::Other(e.to_string()))?
        .ok_or_else(|| StoreError::Other(format!("more than {MAX_GRANTS} app login policies")))?;
    let table = &store.table;
    let mut written = 0;
    for policy in &policies {
        // The bump comes once, at the end.
        let grant = Grant {
            policy_id: policy.id.clone(),
            app_id: policy.app_id.clone(),
            group_id: policy.group_id.clone(),
        };
        let mut ops: Vec<TransactWriteItem> = grant_write(table, None, Some(&grant))?.into_iter().collect();
        ops.push(op::check_version(
            table,
            key(keys::policy(&policy.id), PROFILE),
            policy.version,
        ));
        if transact(store, ops).await?.is_ok() {
            written += 1;
        }
    }
    store
        .client
        .update_item()
        .table_name(table)
        .set_key(Some(key(PARTITION, VERSION)))
        .update_expression("SET grants = :one ADD version :one")
        .expression_attribute_values(":one", crate::store::item::n(1))
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
    Ok(written)
}

/// Every grant: one strongly consistent Query (a page per MB, some ten thousand grants).
pub async fn grants(store: &Store) -> Result<Vec<Grant>, StoreError> {
    Ok(load(store).await?.grants)
}
