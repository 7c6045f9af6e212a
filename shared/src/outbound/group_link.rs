//! Group links: a directory group pushed to a SCIM target app (issue 17.3), and the id the
//! target knows it by. One item per app and group (`SCIMGROUP#<appId>#<groupId>` / `PROFILE`),
//! claimed while the group is being found or created there, so two dispatchers pushing members
//! of one new group create it once.

use serde::{Deserialize, Serialize};

use crate::ids::{AppId, GroupId};
use crate::store::item::Keys;
use crate::store::keys::PROFILE;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupLink {
    pub app_id: AppId,
    pub group_id: GroupId,
    /// The group's id at the target; absent while claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// The name the target was last given or found with: a rename sends the new one. Unknown
    /// (absent) for a group found by the id Provisio created it with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether Provisio created the group there: only such a group is deleted there when the
    /// directory's is. A group of the service's own, found by its name, stays.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created: bool,
    pub version: u64,
    pub last_modified: String,
}

/// How long a claim holds before another dispatcher may take it over (longer than two calls'
/// timeouts).
pub const CLAIM_LEASE_SECS: i64 = 120;

impl GroupLink {
    pub fn keys(&self) -> Keys {
        Keys::new(pk(&self.app_id, &self.group_id), PROFILE)
    }

    /// Whether a claim (no target id yet) is older than its lease at `now`.
    pub fn claim_is_stale_at(&self, now: time::OffsetDateTime) -> bool {
        time::OffsetDateTime::parse(
            &self.last_modified,
            &time::format_description::well_known::Rfc3339,
        )
        .map_or(true, |at| (now - at).whole_seconds() > CLAIM_LEASE_SECS)
    }
}

pub fn pk(app: &AppId, group: &GroupId) -> String {
    format!("SCIMGROUP#{app}#{group}")
}
