//! Event configs: what request a custom provisioning app receives for each kind of change (seed
//! 000 section 6, extended to deactivation, deletion and group membership).

use serde::{Deserialize, Serialize};

use crate::connector::request::RequestTemplate;
use crate::connector::template;
use crate::directory::DirectoryError;
use crate::directory::change::ChangeKind;
use crate::ids::{AppId, AuthId};
use crate::json_path;
use crate::store::item::Keys;
use crate::store::keys;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventConfig {
    pub app_id: AppId,
    pub kind: ChangeKind,
    pub enabled: bool,
    pub request: RequestTemplate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_id: Option<AuthId>,
    /// user_created: dotted path of the new account's id in the app's response; stored and
    /// available to later events as `@ExternalUserId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id_path: Option<String>,
    /// user_created: look for an account the app already has before creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<Lookup>,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
}

pub const EVENT_PREFIX: &str = "EVENT#";

pub fn kind_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::UserCreated => "user_created",
        ChangeKind::UserUpdated => "user_updated",
        ChangeKind::UserDeactivated => "user_deactivated",
        ChangeKind::UserDeleted => "user_deleted",
        ChangeKind::MemberAdded => "member_added",
        ChangeKind::MemberRemoved => "member_removed",
        // Not an event config kind: the dispatcher reconciles and fires the kinds above.
        ChangeKind::ScopeChanged => "scope_changed",
        ChangeKind::GroupRenamed => "group_renamed",
        ChangeKind::GroupDeleted => "group_deleted",
    }
}

pub const KINDS: [ChangeKind; 6] = [
    ChangeKind::UserCreated,
    ChangeKind::UserUpdated,
    ChangeKind::UserDeactivated,
    ChangeKind::UserDeleted,
    ChangeKind::MemberAdded,
    ChangeKind::MemberRemoved,
];

pub fn parse_kind(raw: &str) -> Option<ChangeKind> {
    KINDS.into_iter().find(|k| kind_name(*k) == raw)
}

pub fn event_keys(app: &AppId, kind: ChangeKind) -> Keys {
    Keys::new(keys::app(app), format!("{EVENT_PREFIX}{}", kind_name(kind)))
}

impl EventConfig {
    pub fn keys(&self) -> Keys {
        event_keys(&self.app_id, self.kind)
    }
}

/// A search for an existing account (seed: "links an existing account matched by a configured
/// attribute"), e.g. `GET /users?email=@email`. An id found at `externalIdPath` links the user to
/// that account, which then gets the user_updated call; a 404 or no id means create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Lookup {
    pub request: RequestTemplate,
    /// Where the found account's id is, such as `data.0.id`.
    pub external_id_path: String,
}

/// What a caller PUTs at `/admin/apps/{id}/event-configs/{kind}`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventInput {
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub request: RequestTemplate,
    #[serde(default)]
    pub auth_id: Option<AuthId>,
    #[serde(default)]
    pub external_id_path: Option<String>,
    #[serde(default)]
    pub lookup: Option<Lookup>,
}

fn enabled_by_default() -> bool {
    true
}

impl EventInput {
    /// Checks the templates against the placeholders `kind` can resolve, and the response path.
    pub fn validate(&self, kind: ChangeKind) -> Result<(), DirectoryError> {
        self.request
            .validate("request", |name| template::check_placeholder(name, kind))?;
        if let Some(lookup) = &self.lookup {
            if kind != ChangeKind::UserCreated {
                return Err(DirectoryError::invalid(
                    "lookup",
                    "applies to user_created only: it finds an account instead of creating one",
                ));
            }
            lookup
                .request
                .validate("lookup.request", |name| template::check_placeholder(name, kind))?;
            json_path::validate(&lookup.external_id_path)
                .map_err(|e| DirectoryError::invalid("lookup.externalIdPath", e))?;
        }
        match (&self.external_id_path, kind) {
            (Some(path), ChangeKind::UserCreated) => {
                json_path::validate(path).map_err(|e| DirectoryError::invalid("externalIdPath", e))
            }
            (Some(_), _) => Err(DirectoryError::invalid(
                "externalIdPath",
                "applies to user_created only: the id is stored when the account is created",
            )),
            (None, _) => Ok(()),
        }
    }
}

/// The default response path of the new account's id.
pub const DEFAULT_EXTERNAL_ID_PATH: &str = "id";
