//! Directory-wide settings, one item (`CONFIG` / `SETTINGS`). Today one: whether emails are
//! unique. RFC 7643 gives `emails` no uniqueness and Okta, authentik and Entra ID accept two users
//! with one address, so it is off by default; Keycloak makes it a realm switch, and so does this.
//!
//! Switching it on stores "on" first, so every write from then on follows it, waits until every
//! writer has read it ([`emails::SWITCH_GRACE`]), then reads the holder set of every user's address
//! (the users listing, then BatchGetItem, 100 addresses a call). If any address has two holders the
//! switch is undone and refused with the list. A user written in the moment before the switch may
//! not be in the users listing yet (GSI1 is eventually consistent); its address is missed only if
//! every other holder of it was written in that moment too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::emails::{self, EmailRule};
use super::users::User;
use super::{Directory, DirectoryError};
use crate::resources::GSI1;
use crate::store::item::{Keys, to_item};
use crate::store::keys::{LIST_USERS, fold};
use crate::store::{Listing, StoreError};

const PARTITION: &str = "CONFIG";
const SETTINGS: &str = "SETTINGS";
/// Addresses named in the refusal; the count says how many more.
const MAX_LISTED: usize = 20;

/// The settings as the admin API shows them.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectorySettings {
    /// Whether two users may not share an email (compared case-insensitively). Off by default.
    pub unique_email: bool,
    pub version: u64,
}

/// A change of the settings: absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SettingsPatch {
    #[serde(default)]
    pub unique_email: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredSettings {
    #[serde(default)]
    unique_email: bool,
    #[serde(default)]
    version: u64,
}

impl StoredSettings {
    pub(crate) fn rule(&self) -> EmailRule {
        EmailRule {
            unique: self.unique_email,
        }
    }

    fn shown(&self) -> DirectorySettings {
        DirectorySettings {
            unique_email: self.unique_email,
            version: self.version,
        }
    }
}

impl Directory {
    pub(crate) async fn stored_settings(&self) -> Result<StoredSettings, StoreError> {
        Ok(self.store.get(PARTITION, SETTINGS).await?.unwrap_or_default())
    }

    /// One GetItem.
    pub async fn settings(&self) -> Result<DirectorySettings, DirectoryError> {
        Ok(self.stored_settings().await?.shown())
    }

    /// Writes the settings if they are still at `version` (the item's absence is version 0).
    async fn put_settings(&self, next: &StoredSettings, version: u64) -> Result<bool, StoreError> {
        let item = to_item(next, &Keys::new(PARTITION, SETTINGS))?;
        let result = self
            .store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", crate::store::item::n(version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                            _
                        )
                    )
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::from_sdk("PutItem", e)),
        }
    }

    /// Changes the settings. Switching unique emails on checks every user first and is refused
    /// (409 naming `uniqueEmail`, with the shared addresses) when two users share one.
    pub async fn update_settings(&self, patch: &SettingsPatch) -> Result<DirectorySettings, DirectoryError> {
        let current = self.stored_settings().await?;
        let Some(unique) = patch.unique_email.filter(|u| *u != current.unique_email) else {
            return Ok(current.shown());
        };
        let concurrent = || {
            DirectoryError::conflict(
                "uniqueEmail",
                "the settings were changed at the same time; read them and try again",
            )
        };
        let next = StoredSettings {
            unique_email: unique,
            version: current.version + 1,
        };
        if !self.put_settings(&next, current.version).await? {
            return Err(concurrent());
        }
        if !unique {
            return Ok(next.shown());
        }
        tokio::time::sleep(emails::SWITCH_GRACE).await;
        let undone = StoredSettings {
            unique_email: false,
            version: next.version + 1,
        };
        // A check that can't finish must not leave "on" unchecked: undone, and the error told.
        let shared = match self.shared_emails().await {
            Ok(shared) => shared,
            Err(e) => {
                self.put_settings(&undone, next.version).await?;
                return Err(e.into());
            }
        };
        if shared.is_empty() {
            return Ok(next.shown());
        }
        self.put_settings(&undone, next.version).await?;
        Err(DirectoryError::conflict("uniqueEmail", describe(&shared)))
    }

    /// The addresses that more than one user holds, with their holders.
    async fn shared_emails(&self) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let listing = Listing {
            index: Some(GSI1),
            partition: LIST_USERS,
            sk_prefix: None,
        };
        // Every address's holders: what its set names, and every listed user that has it (a user
        // missing from its set still counts), across all pages.
        let mut holders: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .store
                .query_page::<User>(&listing, 1000, cursor.as_deref())
                .await
                .map_err(|e| StoreError::Other(e.to_string()))?;
            let sets = self
                .email_holders(page.items.iter().filter_map(|u| u.email.as_deref()))
                .await?;
            for user in &page.items {
                let Some(email) = user.email.as_deref() else {
                    continue;
                };
                let ids = holders.entry(fold(email)).or_default();
                for id in sets
                    .get(&fold(email))
                    .into_iter()
                    .flatten()
                    .chain([&user.id.to_string()])
                {
                    if !ids.contains(id) {
                        ids.push(id.clone());
                    }
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(holders
            .into_iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(email, mut ids)| {
                ids.sort();
                (email, ids)
            })
            .collect())
    }
}

fn describe(shared: &BTreeMap<String, Vec<String>>) -> String {
    let listed: Vec<String> = shared
        .iter()
        .take(MAX_LISTED)
        .map(|(email, users)| format!("{email} (users {})", users.join(", ")))
        .collect();
    let more = shared.len().saturating_sub(MAX_LISTED);
    format!(
        "can't be switched on: {} email{} held by more than one user: {}{}",
        shared.len(),
        if shared.len() == 1 { " is" } else { "s are" },
        listed.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_lists_the_shared_addresses_and_counts_the_rest() {
        let mut shared = BTreeMap::new();
        shared.insert("a@x.test".to_string(), vec!["u1".to_string(), "u2".to_string()]);
        assert_eq!(
            describe(&shared),
            "can't be switched on: 1 email is held by more than one user: a@x.test (users u1, u2)"
        );
        for i in 0..25 {
            shared.insert(format!("m{i:02}@x.test"), vec!["a".into(), "b".into()]);
        }
        let text = describe(&shared);
        assert!(
            text.starts_with("can't be switched on: 26 emails are held"),
            "{text}"
        );
        assert!(text.ends_with("; and 6 more"), "{text}");
    }
}
