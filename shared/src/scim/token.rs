//! Per-app SCIM bearer tokens. A token is 256 random bits shown once; only its SHA-256 digest is
//! stored (in the app's partition), so neither the table nor a backup holds a usable token.
//! Rotation keeps the previous token valid for an overlap, so the SCIM client can be reconfigured
//! without an outage.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

use crate::directory::apps::AppKind;
use crate::directory::{Directory, DirectoryError};
use crate::ids::AppId;
use crate::store::item::{Item, Keys, key, to_item};
use crate::store::keys;
use crate::store::transaction::{op, transact};
use crate::store::{Store, StoreError};

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

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no system randomness: {e}"));
    format!(
        "scim_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn now_unix() -> i64 {
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

fn token_key(app: &AppId) -> Item {
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
    /// Issues a new token for a SCIM client app; the previous one keeps working for `overlap`.
    pub async fn rotate_scim_token(
        &self,
        app: &AppId,
        overlap: Duration,
    ) -> Result<IssuedToken, DirectoryError> {
        let found = self.get_app(app).await?;
        if found.kind != AppKind::ScimClient {
            return Err(DirectoryError::conflict(
                "kind",
                "only scim_client apps have SCIM tokens",
            ));
        }
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

/// Verifies SCIM bearer tokens, with the app's digests cached per cold start for a short while
/// so a sync burst costs no DynamoDB read per request.
#[derive(Debug)]
pub struct TokenVerifier {
    store: Store,
    cache: Mutex<HashMap<AppId, (Option<TokenRecord>, Instant)>>,
}

/// How long a cached record is trusted; a rotation or app deletion takes effect within this.
const CACHE_FOR: Duration = Duration::from_secs(30);
/// A token that fails against a cached record re-reads the record at most this often.
const RECHECK_AFTER: Duration = Duration::from_secs(2);

impl TokenVerifier {
    pub fn new(store: Store) -> Self {
        TokenVerifier {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn token_key(app: &AppId) -> Item {
        token_key(app)
    }

    pub async fn verify(&self, app: &AppId, presented: &str) -> Result<bool, StoreError> {
        // Not shaped like a token this service issues: no read (a flood of junk costs nothing).
        if !well_formed(presented) {
            return Ok(false);
        }
        let now = now_unix();
        {
            let cache = self.cache.lock().await;
            if let Some((record, at)) = cache.get(app) {
                let age = at.elapsed();
                let accepted = record.as_ref().is_some_and(|r| r.accepts(presented, now));
                if age < CACHE_FOR && (accepted || age < RECHECK_AFTER) {
                    return Ok(accepted);
                }
            }
        }
        // Read without holding the lock: a slow read (or a flood of guesses) never queues the
        // other apps' requests behind it.
        let record: Option<TokenRecord> = self.store.get(&keys::app(app), SCIM_TOKEN_SK).await?;
        let accepted = record.as_ref().is_some_and(|r| r.accepts(presented, now));
        // Only apps that exist are kept: made-up app ids cost their read and nothing else.
        if record.is_some() {
            let mut cache = self.cache.lock().await;
            if cache.len() >= MAX_CACHED_APPS && !cache.contains_key(app) {
                let oldest = cache
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    cache.remove(&oldest);
                }
            }
            cache.insert(app.clone(), (record, Instant::now()));
        } else {
            self.cache.lock().await.remove(app);
        }
        Ok(accepted)
    }

    /// Apps held in the cache (for the bound's test).
    pub async fn cached(&self) -> usize {
        self.cache.lock().await.len()
    }
}

/// Most apps whose token records one instance keeps.
pub const MAX_CACHED_APPS: usize = 1000;

/// `scim_` and 43 URL-safe base64 characters (32 random bytes), as [`new_token`] makes them.
fn well_formed(token: &str) -> bool {
    token.strip_prefix("scim_").is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
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
        assert!(well_formed(&a) && !well_formed("scim_guess") && !well_formed(&format!("{a}x")));
        assert!(!record.accepts("", 50));
    }
}
