//! Verifying SCIM bearer tokens at the SCIM API's door: the app's token record (issued by
//! `directory::scim_tokens`) cached per instance for a short while, so a sync burst costs no
//! DynamoDB read per request.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::directory::scim_tokens::{SCIM_TOKEN_SK, TokenRecord, now_unix, token_key};
use crate::ids::AppId;
use crate::store::item::Item;
use crate::store::keys;
use crate::store::{Store, StoreError};

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
    fn only_tokens_shaped_like_issued_ones_are_well_formed() {
        let token = crate::directory::scim_tokens::new_token();
        assert!(well_formed(&token) && !well_formed("scim_guess") && !well_formed(&format!("{token}x")));
    }
}
