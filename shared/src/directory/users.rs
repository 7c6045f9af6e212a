//! Users: the people the directory provisions.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::change::{ChangeEvent, ChangeKind};
use super::record::Record;
use super::{Directory, DirectoryError, Precondition, nullable, validate};
use crate::ids::{AppId, UserId};
use crate::resources::GSI1;
use crate::store::item::Keys;
use crate::store::keys::{self, GROUP_PREFIX, LIST_USERS, PROFILE, Unique, fold};
use crate::store::{Listing, Page};
use crate::timestamp;

/// The user attributes a caller sets (besides `attributes.<name>`), by their JSON names: what SCIM
/// mappings may target and templates may name.
pub const USER_ATTRIBUTES: &[&str] = &[
    "userName",
    "email",
    "givenName",
    "familyName",
    "displayName",
    "active",
    "externalId",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub user_name: String,
    /// The primary email; shared by other users unless the directory makes emails unique
    /// (`uniqueEmail`, compared case-insensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub active: bool,
    /// The id the source app (the SCIM client that manages this user) knows it by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_app_id: Option<AppId>,
    /// Free extra attributes (department, employeeNumber, ...), any JSON values.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
}

impl User {
    /// A new user with a fresh id and nothing else set yet, for ingress paths that fill it in.
    pub fn blank(now: String) -> Self {
        User {
            id: UserId::generate(),
            user_name: String::new(),
            email: None,
            given_name: None,
            family_name: None,
            display_name: None,
            active: true,
            external_id: None,
            source_app_id: None,
            attributes: Map::new(),
            version: 1,
            created: now.clone(),
            last_modified: now,
        }
    }
}

impl Record for User {
    const RESOURCE: &'static str = "user";
    const CARRIES_ITS_EVENT: bool = true;

    fn id_str(&self) -> &str {
        self.id.as_str()
    }

    fn keys(&self) -> Keys {
        let mut keys = Keys::new(keys::user(&self.id), PROFILE).gsi1(LIST_USERS, fold(&self.user_name));
        if let Some(email) = &self.email {
            keys = keys.gsi2(keys::email_lookup(email), keys::user(&self.id));
        }
        if let (Some(app), Some(external)) = (&self.source_app_id, &self.external_id) {
            keys = keys.gsi3(keys::external_lookup(app, external), keys::user(&self.id));
        }
        keys
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn stamp(&mut self, version: u64, modified: String) {
        self.version = version;
        self.last_modified = modified;
    }

    fn change_event(before: Option<&Self>, after: Option<&Self>) -> Option<ChangeEvent> {
        let (kind, user) = match (before, after) {
            (None, Some(user)) => (ChangeKind::UserCreated, user),
            (Some(old), Some(user)) if old.active && !user.active => (ChangeKind::UserDeactivated, user),
            (Some(_), Some(user)) => (ChangeKind::UserUpdated, user),
            (Some(user), None) => (ChangeKind::UserDeleted, user),
            (None, None) => return None,
        };
        let version = after.map(|u| u.version);
        Some(ChangeEvent::new(kind, &user.id, None, version))
    }

    fn unique_values(&self) -> Vec<(Unique, String)> {
        // No email (its holder set, `emails`, makes it unique only when the directory says so)
        // and no externalId: RFC 7643 gives neither uniqueness (an import's own key is the
        // importer's, see `Unique::ImportKey`).
        vec![(Unique::UserName, self.user_name.clone())]
    }

    fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewUser {
    pub user_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

impl NewUser {
    pub fn into_user(self) -> Result<User, DirectoryError> {
        validate::attributes("attributes", &self.attributes)?;
        let now = timestamp::now();
        Ok(User {
            id: UserId::generate(),
            user_name: validate::name("userName", &self.user_name)?,
            email: self.email.map(|e| validate::email("email", &e)).transpose()?,
            given_name: validate::optional("givenName", self.given_name)?,
            family_name: validate::optional("familyName", self.family_name)?,
            display_name: validate::optional("displayName", self.display_name)?,
            active: self.active,
            external_id: None,
            source_app_id: None,
            attributes: self.attributes,
            version: 1,
            created: now.clone(),
            last_modified: now,
        })
    }
}

/// A partial update: absent fields stay, `null` clears an optional field, `attributes` merges
/// (a `null` value removes that attribute).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserPatch {
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub user_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub given_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub family_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    pub active: Option<Option<bool>>,
    #[serde(default)]
    pub attributes: Option<Map<String, Value>>,
}

impl UserPatch {
    pub fn apply(&self, user: &mut User) -> Result<(), DirectoryError> {
        match &self.user_name {
            Some(Some(name)) => user.user_name = validate::name("userName", name)?,
            Some(None) => return Err(DirectoryError::invalid("userName", "must not be null")),
            None => {}
        }
        match &self.active {
            Some(Some(active)) => user.active = *active,
            Some(None) => return Err(DirectoryError::invalid("active", "must not be null")),
            None => {}
        }
        let email = self
            .email
            .clone()
            .map(|e| e.map(|e| validate::email("email", &e)).transpose())
            .transpose()?;
        nullable::apply(&mut user.email, email);
        let text = |field: &str, v: &Option<Option<String>>| {
            v.clone().map(|v| validate::optional(field, v)).transpose()
        };
        nullable::apply(&mut user.given_name, text("givenName", &self.given_name)?);
        nullable::apply(&mut user.family_name, text("familyName", &self.family_name)?);
        nullable::apply(&mut user.display_name, text("displayName", &self.display_name)?);
        if let Some(changes) = &self.attributes {
            for (key, value) in changes {
                if value.is_null() {
                    user.attributes.remove(key);
                } else {
                    user.attributes.insert(key.clone(), value.clone());
                }
            }
            validate::attributes("attributes", &user.attributes)?;
        }
        Ok(())
    }
}

impl Directory {
    /// One TransactWriteItems: the user, its userName guard and its email's holder set.
    pub async fn create_user(&self, new: NewUser) -> Result<User, DirectoryError> {
        let user = new.into_user()?;
        self.create_record(&user, Vec::new()).await?;
        Ok(user)
    }

    /// One GetItem.
    pub async fn get_user(&self, id: &UserId) -> Result<User, DirectoryError> {
        self.get_record(&keys::user(id), id.as_str()).await
    }

    /// One Query on GSI1, in userName order.
    pub async fn list_users(&self, limit: u32, cursor: Option<&str>) -> Result<Page<User>, DirectoryError> {
        let listing = Listing {
            index: Some(GSI1),
            partition: LIST_USERS,
            sk_prefix: None,
        };
        self.list_records(listing, limit, cursor).await
    }

    /// One GetItem and one TransactWriteItems (none when nothing changes).
    pub async fn update_user(
        &self,
        id: &UserId,
        patch: &UserPatch,
        precondition: Precondition,
    ) -> Result<User, DirectoryError> {
        self.update_record(&keys::user(id), id.as_str(), precondition, |user: &mut User| {
            patch.apply(user).map(|()| Vec::new())
        })
        .await
    }

    /// Deletes the user, its guards and its memberships.
    pub async fn delete_user(&self, id: &UserId, precondition: Precondition) -> Result<User, DirectoryError> {
        let pk = keys::user(id);
        let memberships = self
            .store
            .query_keys(&Listing {
                index: Some(crate::resources::GSI2),
                partition: &pk,
                sk_prefix: Some(GROUP_PREFIX),
            })
            .await?;
        self.delete_record(&pk, id.as_str(), precondition, memberships)
            .await
    }
}

/// Searches an administrator makes (the console's user search): a page at a time, one Query.
impl Directory {
    /// Users whose userName starts with `prefix`, case-insensitively, in userName order (GSI1).
    pub async fn search_users_by_user_name(
        &self,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<User>, DirectoryError> {
        let folded = fold(prefix);
        let listing = Listing {
            index: Some(GSI1),
            partition: LIST_USERS,
            sk_prefix: Some(&folded),
        };
        self.list_records(listing, limit, cursor).await
    }

    /// Users whose email is `email`, case-insensitively (GSI2; several when emails need not be
    /// unique).
    pub async fn search_users_by_email(
        &self,
        email: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<User>, DirectoryError> {
        let lookup = keys::email_lookup(email);
        let listing = Listing {
            index: Some(crate::resources::GSI2),
            partition: &lookup,
            sk_prefix: None,
        };
        self.list_records(listing, limit, cursor).await
    }
}

/// Lookups by natural key, as SCIM clients do on every sync: one Query each.
impl Directory {
    /// The user whose userName is `name` (case-insensitively): one Query on GSI1.
    pub async fn find_user_by_user_name(&self, name: &str) -> Result<Option<User>, DirectoryError> {
        Ok(self.store.query_exact(GSI1, LIST_USERS, &fold(name)).await?)
    }

    /// The users that `app` knows as `external_id` (case-exact; it need not be unique): one
    /// Query on GSI3, up to `limit`.
    pub async fn find_users_by_external_id(
        &self,
        app: &AppId,
        external_id: &str,
        limit: u32,
    ) -> Result<Vec<User>, DirectoryError> {
        let pk = keys::external_lookup(app, external_id);
        let listing = Listing {
            index: Some(crate::resources::GSI3),
            partition: &pk,
            sk_prefix: Some(keys::USER_PREFIX),
        };
        Ok(self.store.query_page::<User>(&listing, limit, None).await?.items)
    }

    /// Up to `cap` users in userName order, read in pages of up to `page` (for filters no index
    /// answers). `None` when the directory holds more than `cap` users.
    pub async fn scan_users(&self, cap: usize, page: u32) -> Result<Option<Vec<User>>, DirectoryError> {
        let listing = Listing {
            index: Some(GSI1),
            partition: LIST_USERS,
            sk_prefix: None,
        };
        Ok(self.store.query_all(&listing, cap, page).await?)
    }
}

/// Writes of whole users, for ingress paths (SCIM) that build the user themselves.
impl Directory {
    /// Stores a fully built new user: one TransactWriteItems with its guards.
    pub async fn insert_user(&self, user: User) -> Result<User, DirectoryError> {
        validate::attributes("attributes", &user.attributes)?;
        self.create_record(&user, Vec::new()).await?;
        Ok(user)
    }

    /// Applies `change` with the same locking, retries and guard handling as any update; the
    /// change may fail with the caller's own error type (a SCIM error, say).
    pub async fn change_user<E: From<DirectoryError>>(
        &self,
        id: &UserId,
        precondition: Precondition,
        change: impl Fn(&mut User) -> Result<(), E>,
    ) -> Result<User, E> {
        self.update_record(&keys::user(id), id.as_str(), precondition, |user: &mut User| {
            change(user)?;
            validate::attributes("attributes", &user.attributes)?;
            Ok(Vec::new())
        })
        .await
    }
}
