//! Key values of every item type. See docs/ARCHITECTURE.md for the table layout.

use crate::ids::{AppId, GroupId, PolicyId, UserId};

pub const PROFILE: &str = "PROFILE";
pub const UNIQUE: &str = "UNIQUE";

/// The attribute holding an item's change event (a map; `directory::change`): the pipe's filter
/// passes the stream records whose new image has it, and its template sends only it. A write of
/// the item that announces nothing leaves it out (a whole item written) or removes it (an update).
/// Users carry theirs; other changes are outbox items holding it.
pub const EVENT_ATTR: &str = "changeEvent";
/// Set on a group's item by the delete that is removing its members (the delete's claim): no
/// member joins it and no whole-record write replaces it from then on.
pub const DELETING_ATTR: &str = "deleting";

/// Partition values of GSI1 listings.
pub const LIST_USERS: &str = "USER";
pub const LIST_GROUPS: &str = "GROUP";
pub const LIST_APPS: &str = "APP";
pub const LIST_POLICIES: &str = "POLICY";

pub fn user(id: &UserId) -> String {
    format!("USER#{id}")
}

pub fn group(id: &GroupId) -> String {
    format!("GROUP#{id}")
}

pub fn app(id: &AppId) -> String {
    format!("APP#{id}")
}

pub fn policy(id: &PolicyId) -> String {
    format!("POLICY#{id}")
}

pub const MEMBER_PREFIX: &str = "MEMBER#";

pub fn member(id: &UserId) -> String {
    format!("{MEMBER_PREFIX}{id}")
}

/// A uniqueness guard: one item per taken value, written in the same transaction as its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    UserName,
    Email,
    GroupName,
    /// The importer's matching key: the id of the account in the source app that an import
    /// brought in, `<appId>#<accountId>`, case-exact; unique per app, so each account is one
    /// user. Written by the importer only. Not a SCIM `externalId`: RFC 7643 gives that no
    /// uniqueness, so SCIM writes none. (Its key keeps the name `externalId` it had when both
    /// were one, so earlier tables keep working.)
    ImportKey,
}

impl Unique {
    /// The field a conflict on this guard is reported against.
    pub fn field(self) -> &'static str {
        match self {
            Unique::UserName => "userName",
            Unique::Email => "email",
            Unique::GroupName => "name",
            Unique::ImportKey => "externalId",
        }
    }

    /// Whether two values are the same: case-insensitively, except external ids (RFC 7643 makes
    /// `externalId` case-exact).
    pub fn same(self, a: &str, b: &str) -> bool {
        match self {
            Unique::ImportKey => a == b,
            _ => fold(a) == fold(b),
        }
    }

    pub fn key(self, value: &str) -> String {
        let kind = match self {
            Unique::UserName => "userName",
            Unique::Email => "email",
            Unique::GroupName => "groupName",
            Unique::ImportKey => return format!("UNIQUE#externalId#{value}"),
        };
        format!("UNIQUE#{kind}#{}", fold(value))
    }
}

/// Case folding for case-insensitive uniqueness and lookups.
pub fn fold(value: &str) -> String {
    value.trim().to_lowercase()
}

pub fn email_lookup(email: &str) -> String {
    format!("EMAIL#{}", fold(email))
}

/// GSI1 sort key of a policy: policies of one app sit together.
pub fn policy_listing(app: &AppId, id: &PolicyId) -> String {
    format!("APP#{app}#{id}")
}

pub fn policy_listing_prefix(app: &AppId) -> String {
    format!("APP#{app}#")
}

pub const POLICY_PREFIX: &str = "POLICY#";
pub const USER_PREFIX: &str = "USER#";
pub const GROUP_PREFIX: &str = "GROUP#";

/// GSI3 partition of a user that a source app knows by `external_id`.
pub fn external_lookup(app: &AppId, external_id: &str) -> String {
    format!("EXT#{app}#{external_id}")
}
