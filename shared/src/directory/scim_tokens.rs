//! Per-app SCIM bearer tokens: issued and rotated with their app. A token is 256 random bits
//! shown once; only its SHA-256 digest is stored (in the app's partition), so neither the table
//! nor a backup holds a usable token. Rotation keeps the previous token valid for an overlap, so
//! the SCIM client can be reconfigured without an outage. The SCIM API verifies them
//! (`scim::token`).

use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Directory, DirectoryError};
use crate::ids::AppId;
use crate::secrets::hex;
use crate::store::StoreError;
use crate::store::item::{Item, Keys, key, to_item};
use crate::store::keys;
use crate::store::transaction::{op, transact};

pub const SCIM_TOKEN_SK: &str = "SCIM_TOKEN";

/// The stored digests of an app's tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub current: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Unix seconds until which `previous` is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_valid_until: Option<i64>,
}

/// A token as handed to the admin, once.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    pub token: String,
    /// When the token it replaced stops working (RFC 3339), if there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_token_valid_until: Option<String>,
}

pub(crate) fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub(crate) fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no system randomness: {e}"));
    format!(
        "scim_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub(crate) fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl TokenRecord {
    /// Constant-time: both stored digests are compared whatever the first comparison gave.
    pub fn accepts(&self, presented: &str, now: i64) -> bool {
        let presented = digest(presented);
        let current = unhex(&self.current)
            .map(|d| d.ct_eq(&presented))
            .unwrap_or(0.into());
        let previous_valid = self.previous_valid_until.is_some_and(|until| now < until);
        let previous = self
            .previous
            .as_deref()
            .and_then(unhex)
            .map(|d| d.ct_eq(&presented))
            .unwrap_or(0.into());
        bool::from(current) || (previous_valid && bool::from(previous))
    }
}

pub(crate) fn token_key(app: &AppId) -> Item {
    key(keys::app(app), SCIM_TOKEN_SK)
}

/// A fresh token and the item that stores its digest (for the create-app transaction).
pub fn first_token(app: &AppId) -> Result<(String, Item), StoreError> {
    let token = new_token();
    let record = TokenRecord {
        current: hex(&digest(&token)),
        previous: None,
        previous_valid_until: None,
    };
    let item = to_item(&record, &Keys::new(keys::app(app), SCIM_TOKEN_SK))?;
    Ok((token, item))
}

impl Directory {
    /// Issues a new token for an app (a SCIM client: [`Directory::rotate_scim_token`] checks);
    /// the previous one keeps working for `overlap`.
    pub(super) async fn replace_scim_token(
        &self,
        app: &AppId,
        overlap: Duration,
    ) -> Result<IssuedToken, DirectoryError> {
        let existing: Option<TokenRecord> = self.store.get(&keys::app(app), SCIM_TOKEN_SK).await?;
        let token = new_token();
        let until = now_unix() + i64::try_from(overlap.as_secs()).unwrap_or(i64::MAX / 2);
        let record = TokenRecord {
            current: hex(&digest(&token)),
            previous: existing.as_ref().map(|r| r.current.clone()),
            previous_valid_until: existing.as_ref().map(|_| until),
        };
        let item = to_item(&record, &Keys::new(keys::app(app), SCIM_TOKEN_SK))?;
        // In one transaction with a check that the app still exists (a token never outlives its
        // app), and only over the record read: of two concurrent rotations one wins, the other
        // is told so, and no caller holds a token that was overwritten before it was ever used.
        let table = &self.store.table;
        let put = match &existing {
            Some(read) => op::put_if(table, item, "#c = :c", "current", &read.current),
            None => op::put_new(table, item),
        };
        let ops = vec![op::check_exists(table, key(keys::app(app), keys::PROFILE)), put];
        match transact(&self.store, ops).await? {
            Ok(()) => {}
            Err(c) if c.failed(0) => return Err(DirectoryError::not_found("app", app)),
            Err(_) => {
                return Err(DirectoryError::conflict(
                    "token",
                    "the token was rotated by another request meanwhile; use that token, or rotate again",
                ));
            }
        }
        let previous_token_valid_until = existing.map(|_| {
            time::OffsetDateTime::from_unix_timestamp(until)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_default()
        });
        Ok(IssuedToken {
            token,
            previous_token_valid_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_current_and_previous_within_overlap() {
        let (a, b) = (new_token(), new_token());
        assert!(a.len() > 40 && a != b);
        let record = TokenRecord {
            current: hex(&digest(&b)),
            previous: Some(hex(&digest(&a))),
            previous_valid_until: Some(100),
        };
        assert!(record.accepts(&b, 50));
        assert!(record.accepts(&a, 50));
        assert!(!record.accepts(&a, 100));
        assert!(!record.accepts("scim_guess", 50));
        assert!(!record.accepts("", 50));
    }
}
