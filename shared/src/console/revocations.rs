//! Sessions ended by signing out. Sessions are not stored, so signing out records the ended one:
//! `CONSOLE#SIGNED_OUT` / `<SHA-256 of its nonce>`, until its expiry (the item's TTL). A copied
//! cookie then fails like an expired one. One consistent GetItem per cookie-authenticated request.

use sha2::{Digest, Sha256};

use super::session::Session;
use crate::store::item::{key, n};
use crate::store::{Store, StoreError};

const PARTITION: &str = "CONSOLE#SIGNED_OUT";

fn sort_key(session: &Session) -> String {
    crate::secrets::hex(&Sha256::digest(session.nonce().as_bytes()))
}

/// Records that `session` ended.
pub async fn revoke(store: &Store, session: &Session) -> Result<(), StoreError> {
    let mut item = key(PARTITION, sort_key(session));
    item.insert("ttl".into(), n(u64::try_from(session.expires).unwrap_or(0)));
    store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("PutItem", e))?;
    Ok(())
}

/// Whether `session` was signed out.
pub async fn is_revoked(store: &Store, session: &Session) -> Result<bool, StoreError> {
    Ok(store.get_item(key(PARTITION, sort_key(session))).await?.is_some())
}
