//! Links: a user's account in an outbound app. The link is the dispatcher's memory of what the
//! app has been told: whether the account exists, its id there, the user version last pushed and
//! the groups pushed. Every event is reconciled against it, so a duplicated, late or reordered
//! event never creates a second account or pushes stale data.

use serde::{Deserialize, Serialize};

use crate::ids::{AppId, GroupId, UserId};
use crate::store::item::Keys;
use crate::store::keys;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// A create is in flight: claimed by one dispatcher so no other creates the account too.
    Creating,
    Active,
    Deactivated,
    /// The create failed for good (a 4xx, or retries exhausted): no account. Parked until the
    /// user changes or an operator redrives.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub user_id: UserId,
    pub app_id: AppId,
    pub state: LinkState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The user version the app last received.
    pub user_version: u64,
    /// Groups the app has been told the user is in.
    #[serde(default)]
    pub groups: Vec<GroupId>,
    /// The user as last sent: deletes render against it once the user is gone.
    #[serde(default)]
    pub snapshot: serde_json::Value,
    /// The change event whose dispatch holds a create claim: its retries may resume the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// The user version at which a call failed for good: the app is left alone until the user
    /// changes past it, or the failed message is redriven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked: Option<u64>,
    /// A SCIM app's version of the account as last answered (`meta.version`, its ETag): sent as
    /// If-Match when the app announces ETags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Optimistic locking between concurrent dispatchers.
    pub version: u64,
    pub last_modified: String,
}

pub const LINK_PREFIX: &str = "LINK#";

/// How long a create claim protects an in-flight create before another dispatcher may take over
/// (longer than the dispatcher's request timeout, so a live claim is never stolen).
pub const CLAIM_LEASE_SECS: i64 = 120;

impl Link {
    pub fn keys(&self) -> Keys {
        let keys = Keys::new(keys::user(&self.user_id), format!("{LINK_PREFIX}{}", self.app_id));
        match &self.external_id {
            // The import finds a user by the id an app knows it by through this index.
            Some(external) => keys.gsi3(
                format!("LINK#{}#{external}", self.app_id),
                keys::user(&self.user_id),
            ),
            None => keys,
        }
    }

    pub fn claim_is_stale(&self) -> bool {
        self.claim_is_stale_at(time::OffsetDateTime::now_utc())
    }

    /// Whether the claim's lease has run out at `now`.
    pub fn claim_is_stale_at(&self, now: time::OffsetDateTime) -> bool {
        let modified = time::OffsetDateTime::parse(
            &self.last_modified,
            &time::format_description::well_known::Rfc3339,
        );
        modified.is_ok_and(|m| (now - m).whole_seconds() > CLAIM_LEASE_SECS)
    }
}
