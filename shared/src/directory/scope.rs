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

use super::policies::Policy;
use crate::ids::{AppId, GroupId, PolicyId};
use crate::store::item::{Keys, from_item, key, to_item};
use crate::store::transaction::op;
use crate::store::{Listing, Store, StoreError};

const PARTITION: &str = "CONFIG";
const VERSION: &str = "VERSION";
const GRANT_PREFIX: &str = "GRANT#";
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

/// What a policy write adds to its transaction: its grant put or deleted, and the bump.
pub fn policy_writes(
    table: &str,
    before: Option<&Policy>,
    after: Option<&Policy>,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut ops = vec![bump(table)];
    match (before, after) {
        (_, Some(policy)) => {
            let grant = Grant {
                policy_id: policy.id.clone(),
                app_id: policy.app_id.clone(),
                group_id: policy.group_id.clone(),
            };
            ops.push(op::put(table, to_item(&grant, &Grant::keys(&policy.id))?));
        }
        (Some(policy), None) => ops.push(op::delete(table, Grant::keys(&policy.id).primary())),
        (None, None) => {}
    }
    Ok(ops)
}

#[derive(Deserialize)]
struct Version {
    #[serde(default)]
    version: u64,
}

/// The configuration version (0 before the first configuration write): one strongly consistent
/// GetItem.
pub async fn version(store: &Store) -> Result<u64, StoreError> {
    Ok(store
        .get::<Version>(PARTITION, VERSION)
        .await?
        .map_or(0, |v| v.version))
}

/// Every grant: one strongly consistent Query (a page per MB, some ten thousand grants).
pub async fn grants(store: &Store) -> Result<Vec<Grant>, StoreError> {
    let listing = Listing {
        index: None,
        partition: PARTITION,
        sk_prefix: Some(GRANT_PREFIX),
    };
    let items = store.query_items(&listing).await?;
    if items.len() > MAX_GRANTS {
        return Err(StoreError::Other(format!(
            "more than {MAX_GRANTS} app login policies"
        )));
    }
    items.into_iter().map(from_item).collect()
}
