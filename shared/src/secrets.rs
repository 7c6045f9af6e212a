//! Secrets Manager access. Secrets are fetched once per cold start and kept in memory; they are
//! never logged, stored in DynamoDB or echoed in errors.

use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::RwLock;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The error names the secret, never its value.
    #[error("secret {id} could not be read: {reason}")]
    Unreadable { id: String, reason: String },
}

pub async fn read_secret(client: &aws_sdk_secretsmanager::Client, id: &str) -> Result<String, SecretError> {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| SecretError::Unreadable {
            id: id.to_string(),
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    out.secret_string.ok_or_else(|| SecretError::Unreadable {
        id: id.to_string(),
        reason: "no SecretString".into(),
    })
}

/// The admin API's bearer keys: `{"keys": ["...", "..."]}` in one secret, so a key can be rotated
/// by adding the new one, moving callers, then removing the old one.
#[derive(Debug)]
pub struct AdminKeys {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    loaded: RwLock<Option<Loaded>>,
    /// How long a loaded key list is trusted, match or not: a key removed from the secret stops
    /// working within this time on every warm instance.
    max_age: Duration,
}

#[derive(Debug)]
struct Loaded {
    digests: Vec<[u8; 32]>,
    at: Instant,
}

/// `{"keys": [..]}`; a single `"key"` is accepted too, as CloudFormation's generated secret has it.
#[derive(Deserialize)]
struct KeysDocument {
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    key: Option<String>,
}

/// A key that is not in the cache triggers at most one re-read per this interval, so a key added
/// by rotation works without a cold start and bad keys can't hammer Secrets Manager.
const REFRESH_AFTER: Duration = Duration::from_secs(30);
/// The key list is re-read at least this often, so a revoked key dies within it.
pub const ADMIN_KEYS_MAX_AGE: Duration = Duration::from_secs(60);

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl AdminKeys {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        AdminKeys {
            client,
            secret_id: secret_id.into(),
            loaded: RwLock::new(None),
            max_age: ADMIN_KEYS_MAX_AGE,
        }
    }

    /// A shorter trust window (tests of revocation).
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// True when `presented` is one of the keys. Compares fixed-length digests in constant time
    /// and checks every key, so timing tells nothing about how close a guess was.
    pub async fn verify(&self, presented: &str) -> Result<bool, SecretError> {
        Ok(self.digest_of(presented).await?.is_some())
    }

    /// The digest of `presented` when it is one of the keys (what a console session is signed
    /// with), found as [`AdminKeys::verify`] finds it.
    pub async fn digest_of(&self, presented: &str) -> Result<Option<[u8; 32]>, SecretError> {
        let presented = digest(presented);
        self.lookup(|l| matches(&l.digests, &presented).then_some(presented))
            .await
    }

    /// The digest of the key whose [`key_fingerprint`] is `fingerprint`, while that key is one of
    /// the keys.
    pub async fn by_fingerprint(&self, fingerprint: &str) -> Result<Option<[u8; 32]>, SecretError> {
        self.lookup(|l| {
            l.digests
                .iter()
                .find(|d| key_fingerprint(d) == fingerprint)
                .copied()
        })
        .await
    }

    /// `find` in the loaded key list, re-read when older than `max_age`, or on a miss when older
    /// than the refresh interval.
    async fn lookup(
        &self,
        find: impl Fn(&Loaded) -> Option<[u8; 32]>,
    ) -> Result<Option<[u8; 32]>, SecretError> {
        let refresh_miss = REFRESH_AFTER.min(self.max_age);
        {
            let loaded = self.loaded.read().await;
            match loaded.as_ref() {
                Some(l) if l.at.elapsed() >= self.max_age => {}
                Some(l) => match find(l) {
                    Some(found) => return Ok(Some(found)),
                    None if l.at.elapsed() < refresh_miss => return Ok(None),
                    None => {}
                },
                None => {}
            }
        }
        let mut loaded = self.loaded.write().await;
        let expired = |l: &Loaded| {
            l.at.elapsed() >= self.max_age || (l.at.elapsed() >= refresh_miss && find(l).is_none())
        };
        if loaded.as_ref().is_none_or(expired) {
            *loaded = Some(self.load().await?);
        }
        Ok(loaded.as_ref().and_then(find))
    }

    async fn load(&self) -> Result<Loaded, SecretError> {
        let raw = read_secret(&self.client, &self.secret_id).await?;
        let document: KeysDocument = serde_json::from_str(&raw).map_err(|_| SecretError::Unreadable {
            id: self.secret_id.clone(),
            reason: "not a JSON object {\"keys\": [..]}".into(),
        })?;
        let digests = document
            .keys
            .iter()
            .chain(document.key.iter())
            .filter(|k| !k.is_empty())
            .map(|k| digest(k))
            .collect();
        Ok(Loaded {
            digests,
            at: Instant::now(),
        })
    }
}

/// The first 8 bytes of a key digest's own SHA-256, in hex: names an admin key (in a console
/// session) without revealing anything that would help to guess it.
pub fn key_fingerprint(key_digest: &[u8; 32]) -> String {
    hex(&Sha256::digest(key_digest)[..8])
}

/// Lower-case hex of a digest (token digests stored, fingerprints, item keys).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn matches(digests: &[[u8; 32]], presented: &[u8; 32]) -> bool {
    digests
        .iter()
        .fold(subtle::Choice::from(0), |found, d| found | d.ct_eq(presented))
        .into()
}

/// A new random key: 256 bits, URL-safe base64.
pub fn generate_key() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no system randomness: {e}"));
    format!(
        "pk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Creates the secret, or stores a new value in it when it exists.
pub async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<(), SecretError> {
    let unreadable = |e: String| SecretError::Unreadable {
        id: name.to_string(),
        reason: e,
    };
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| unreadable(aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string()))
        }
        Err(e) => Err(unreadable(
            aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        )),
    }
}

/// Deletes a secret at once (no recovery window: its owner is gone). A missing secret is fine.
pub async fn delete_secret(client: &aws_sdk_secretsmanager::Client, name: &str) -> Result<(), SecretError> {
    match client
        .delete_secret()
        .secret_id(name)
        .force_delete_without_recovery(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(SecretError::Unreadable {
            id: name.to_string(),
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        }),
    }
}
