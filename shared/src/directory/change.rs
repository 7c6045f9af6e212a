//! Change events: every directory change that outbound provisioning cares about writes one event
//! in the same DynamoDB write as the change itself, so a stored change is never lost and never
//! announced without being stored (DESIGN invariant 1). A user's event rides on the user's item
//! (attribute [`EVENT_ATTR`], the user written whole); the others (a deletion, a membership, a
//! policy's re-scoping, a group's own change) are outbox items of their own. The table's
//! stream carries each item written with an event to the dispatch queue
//! ([`super::change_stream`]); nothing in the request path sends it.
//!
//! Events are notifications, not snapshots: they name the user (and group) that changed, and the
//! dispatcher reads the current state when it acts. A duplicated or reordered event therefore
//! can't push stale data.

use serde::{Deserialize, Serialize};

use crate::ids::{AppId, GroupId, UserId};
use crate::store::StoreError;
use crate::store::item::{Item, Keys, from_item, to_item};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    UserCreated,
    UserUpdated,
    /// `active` went from true to false.
    UserDeactivated,
    UserDeleted,
    MemberAdded,
    MemberRemoved,
    /// An app login policy granting access through one of the user's groups was created, moved
    /// or deleted: the user's apps may have changed.
    ScopeChanged,
    /// A group's name changed: apps it was pushed to (SCIM apps) rename it. No user.
    GroupRenamed,
    /// A group was deleted: apps it was pushed to delete the group they were given. No user.
    GroupDeleted,
}

impl ChangeKind {
    /// Whether the event is about a group itself rather than one user.
    pub fn is_group_change(self) -> bool {
        matches!(self, ChangeKind::GroupRenamed | ChangeKind::GroupDeleted)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    pub id: String,
    pub kind: ChangeKind,
    /// The user concerned; absent only for the group kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<GroupId>,
    /// The user's version after the change (user events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_version: Option<u64>,
    /// How many users the one directory change behind this event concerns (a policy deleted or
    /// moved re-scopes a whole group): a deletion threshold holds such a change at once when it
    /// is larger than the threshold, before any of it reaches an app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// The app the change came from (an import of its users): the dispatcher does not send it
    /// back there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<AppId>,
    pub at: String,
}

/// Partition keys of outbox items start with this.
pub const OUTBOX_PREFIX: &str = "OUTBOX#";

pub use crate::store::keys::EVENT_ATTR;

/// Outbox partitions: events spread over this many, so no partition gets hot and a replay can
/// read them in parallel.
pub const OUTBOX_SHARDS: u32 = 16;
/// Events stay this long after the stream delivered them (in a second, normally): beyond the
/// stream's 24-hour retention, so a longer outage can be replayed ([`super::replay`]).
pub const OUTBOX_TTL_SECS: i64 = 7 * 24 * 3600;

#[derive(Serialize)]
struct OutboxItem<'a> {
    #[serde(rename = "changeEvent")]
    event: &'a ChangeEvent,
    /// DynamoDB TTL attribute (Unix seconds).
    ttl: i64,
}

impl ChangeEvent {
    pub fn new(
        kind: ChangeKind,
        user_id: &UserId,
        group_id: Option<&GroupId>,
        user_version: Option<u64>,
    ) -> Self {
        ChangeEvent {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            user_id: Some(user_id.clone()),
            group_id: group_id.cloned(),
            user_version,
            batch: None,
            origin: None,
            at: crate::timestamp::now(),
        }
    }

    /// The event of a change to `group` itself (a group kind).
    pub fn about_group(kind: ChangeKind, group: &GroupId) -> Self {
        ChangeEvent {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            user_id: None,
            group_id: Some(group.clone()),
            user_version: None,
            batch: None,
            origin: None,
            at: crate::timestamp::now(),
        }
    }

    /// The event of a change that `app` made (an import from it).
    pub fn from_app(self, app: &AppId) -> Self {
        ChangeEvent {
            origin: Some(app.clone()),
            ..self
        }
    }

    /// The event as one of `size` that a single directory change wrote.
    pub fn in_batch(self, size: usize) -> Self {
        ChangeEvent {
            batch: Some(u32::try_from(size).unwrap_or(u32::MAX)),
            ..self
        }
    }

    /// Events of one user (or one group, for the group kinds) land in one shard, in time order.
    pub fn shard(&self) -> u32 {
        let subject = match (&self.user_id, &self.group_id) {
            (Some(user), _) => user.as_str(),
            (None, Some(group)) => group.as_str(),
            (None, None) => "",
        };
        let hash = subject
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        hash % OUTBOX_SHARDS
    }

    pub fn keys(&self) -> Keys {
        Keys::new(
            format!("{OUTBOX_PREFIX}{:02}", self.shard()),
            format!("{}#{}", self.at, self.id),
        )
    }

    /// The event's own outbox item.
    pub fn item(&self) -> Result<Item, StoreError> {
        let ttl = time::OffsetDateTime::now_utc().unix_timestamp() + OUTBOX_TTL_SECS;
        to_item(&OutboxItem { event: self, ttl }, &self.keys())
    }

    /// Puts the event on `item`, the item it announces (written whole in the same request).
    pub fn attach(&self, item: &mut Item) -> Result<(), StoreError> {
        let value = serde_dynamo::to_attribute_value(self).map_err(|e| StoreError::Corrupt {
            key: format!("change event {}", self.id),
            detail: e.to_string(),
        })?;
        item.insert(EVENT_ATTR.into(), value);
        Ok(())
    }

    /// The event an item carries: an outbox item, or a user written with one. Outbox
    /// items from before events rode on items hold the event's fields at the top.
    pub fn carried(mut item: Item) -> Result<Self, StoreError> {
        match item.remove(EVENT_ATTR) {
            Some(value) => serde_dynamo::from_attribute_value(value).map_err(|e| StoreError::Corrupt {
                key: EVENT_ATTR.into(),
                detail: e.to_string(),
            }),
            None => from_item(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_reads_back_from_its_outbox_item_from_an_item_it_rides_on_and_from_the_old_layout() {
        let event = ChangeEvent::new(ChangeKind::UserUpdated, &UserId::generate(), None, Some(4)).in_batch(3);
        assert_eq!(ChangeEvent::carried(event.item().unwrap()).unwrap(), event);
        let mut user = crate::store::item::key("USER#u1", "PROFILE");
        event.attach(&mut user).unwrap();
        assert!(matches!(
            user.get(EVENT_ATTR),
            Some(aws_sdk_dynamodb::types::AttributeValue::M(_))
        ));
        assert_eq!(ChangeEvent::carried(user).unwrap(), event);
        let old = to_item(&event, &event.keys()).unwrap();
        assert_eq!(ChangeEvent::carried(old).unwrap(), event);
    }
}
