//! Users: the people the directory provisions.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::record::Record;
use super::{Directory, DirectoryError, Precondition, nullable, validate};
use crate::ids::UserId;
use crate::resources::GSI1;
use crate::store::item::Keys;
use crate::store::keys::{self, GROUP_PREFIX, LIST_USERS, PROFILE, Unique, fold};
use crate::store::{Listing, Page};
use crate::timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub user_name: String,
    /// The primary email; unique case-insensitively when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub active: bool,
    /// Free extra attributes (department, employeeNumber, ...), any JSON values.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
}

impl Record for User {
    const RESOURCE: &'static str = "user";

    fn id_str(&self) -> &str {
        self.id.as_str()
    }

    fn keys(&self) -> Keys {
        let keys = Keys::new(keys::user(&self.id), PROFILE).gsi1(LIST_USERS, fold(&self.user_name));
        match &self.email {
            Some(email) => keys.gsi2(keys::email_lookup(email), keys::user(&self.id)),
            None => keys,
        }
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn stamp(&mut self, version: u64, modified: String) {
        self.version = version;
        self.last_modified = modified;
    }

    fn unique_values(&self) -> Vec<(Unique, String)> {
        let mut values = vec![(Unique::UserName, self.user_name.clone())];
        if let Some(email) = &self.email {
            values.push((Unique::Email, email.clone()));
        }
        values
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
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
            attributes: self.attributes,
            version: 1,
            created: now.clone(),
            last_modified: now,
        })
    }
}

/// A partial update: absent fields stay, `null` clears an optional field, `attributes` merges
/// (a `null` value removes that attribute).
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// One TransactWriteItems: the user and its userName (and email) guards.
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
