//! Console sessions: an admin key is exchanged for a signed, short-lived cookie that no script can
//! read, and every call made with it carries a CSRF token bound to it.
//!
//! Stateless: the cookie is `v1.<key fingerprint>.<expiry>.<nonce>.<mac>`, the MAC an HMAC-SHA256
//! keyed with the digest of the admin key that signed in (the function holds only digests). So a
//! session dies with its key: remove the key from the secret and its sessions fail within the
//! key cache's age. Nothing is stored per session; signing out clears the cookie, and the
//! lifetime bounds a copied cookie.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secrets::key_fingerprint as fingerprint;
use subtle::ConstantTimeEq;

/// The cookie's name over HTTPS: the `__Host-` prefix makes browsers refuse it unless it is
/// Secure, host-only and `Path=/`, so no sibling domain can plant one.
pub const COOKIE: &str = "__Host-provisio_session";
/// Its name on a loopback host (`make dev`, plain HTTP), where a Secure cookie can't be set.
pub const LOCAL_COOKIE: &str = "provisio_session";
/// The header that carries the CSRF token (a custom header: no other site can make a browser
/// send it).
pub const CSRF_HEADER: &str = "x-provisio-csrf";
/// How long a session lasts; signing in again starts a new one.
pub const LIFETIME_SECS: i64 = 30 * 60;

/// A signed-in session, as verified.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub expires: i64,
    nonce: String,
    key: [u8; 32],
}

/// Without the key digest: it signs sessions.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

fn mac(key: &[u8; 32], message: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key size");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().into()
}

impl Session {
    /// A new session for the admin key whose digest is `key`, from `now` (Unix seconds).
    pub fn start(key: [u8; 32], now: i64) -> Session {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).unwrap_or_else(|e| panic!("no system randomness: {e}"));
        Session {
            expires: now + LIFETIME_SECS,
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            key,
        }
    }

    fn payload(&self) -> String {
        format!("v1.{}.{}.{}", fingerprint(&self.key), self.expires, self.nonce)
    }

    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The cookie's value.
    pub fn token(&self) -> String {
        let payload = self.payload();
        let mac = URL_SAFE_NO_PAD.encode(mac(&self.key, &payload));
        format!("{payload}.{mac}")
    }

    /// The CSRF token of this session (what the page sends back in [`CSRF_HEADER`]).
    pub fn csrf(&self) -> String {
        URL_SAFE_NO_PAD.encode(mac(&self.key, &format!("csrf.{}", self.nonce)))
    }

    pub fn csrf_matches(&self, presented: &str) -> bool {
        self.csrf().as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

/// A cookie value taken apart: the key it names, to be looked up before [`Parsed::verify`].
#[derive(Debug)]
pub struct Parsed<'a> {
    pub fingerprint: &'a str,
    expires: i64,
    nonce: &'a str,
    mac: &'a str,
}

pub fn parse(token: &str) -> Option<Parsed<'_>> {
    let mut parts = token.split('.');
    let (version, fingerprint, expires, nonce, mac) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if version != "v1" || parts.next().is_some() || fingerprint.len() != 16 {
        return None;
    }
    Some(Parsed {
        fingerprint,
        expires: expires.parse().ok()?,
        nonce,
        mac,
    })
}

impl Parsed<'_> {
    /// The session, if `key` (the digest the fingerprint named) signed it and it has not expired
    /// at `now`.
    pub fn verify(&self, key: [u8; 32], now: i64) -> Option<Session> {
        let session = Session {
            expires: self.expires,
            nonce: self.nonce.to_string(),
            key,
        };
        let expected = URL_SAFE_NO_PAD.encode(mac(&key, &session.payload()));
        let signed: bool = expected.as_bytes().ct_eq(self.mac.as_bytes()).into();
        (signed && fingerprint(&key) == self.fingerprint && now < self.expires).then_some(session)
    }
}

/// The session cookie of a request's `Cookie` header(s), if any: the `__Host-` one, or on a loopback
/// host (`secure` false) the plain one.
pub fn cookie<'a>(headers: impl Iterator<Item = &'a str>, secure: bool) -> Option<&'a str> {
    let name = if secure { COOKIE } else { LOCAL_COOKIE };
    headers
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// Whether a request's `Host` is this machine (then the cookie can't be `Secure`: `make dev`
/// serves plain HTTP).
pub fn is_loopback(host: &str) -> bool {
    crate::url_policy::is_loopback_host(host)
}

/// The `Set-Cookie` value that stores `token` (or clears the cookie when `None`).
pub fn set_cookie(token: Option<&str>, secure: bool) -> String {
    let (value, age) = match token {
        Some(t) => (t, LIFETIME_SECS),
        None => ("", 0),
    };
    let (name, secure) = if secure {
        (COOKIE, "; Secure")
    } else {
        (LOCAL_COOKIE, "")
    };
    format!("{name}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_session_verifies_until_it_expires() {
        let session = Session::start(KEY, 1_000);
        let token = session.token();
        let parsed = parse(&token).expect("parses");
        assert_eq!(parsed.fingerprint, fingerprint(&KEY));
        assert_eq!(parsed.verify(KEY, 1_001), Some(session.clone()));
        assert_eq!(parsed.verify(KEY, 1_000 + LIFETIME_SECS), None, "expired");
        assert!(session.csrf_matches(&session.csrf()));
        assert!(!session.csrf_matches(""));
    }

    #[test]
    fn a_forged_or_foreign_session_is_refused() {
        let token = Session::start(KEY, 1_000).token();
        assert_eq!(parse(&token).unwrap().verify([8; 32], 1_001), None, "another key");
        // A later expiry written by hand breaks the MAC.
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        parts[2] = "99999999999".into();
        let forged = parts.join(".");
        assert_eq!(parse(&forged).unwrap().verify(KEY, 1_001), None);
        for bad in [
            "",
            "v1",
            "v2.0011223344556677.1.n.m",
            "v1.00.1.n.m",
            "v1.0011223344556677.x.n.m",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        // Another session's CSRF token does not pass.
        let (a, b) = (Session::start(KEY, 1), Session::start(KEY, 1));
        assert!(!a.csrf_matches(&b.csrf()));
    }

    #[test]
    fn cookies_are_found_and_written_strictly() {
        assert_eq!(
            cookie(["a=1; provisio_session=t.x; b=2"].into_iter(), false),
            Some("t.x")
        );
        assert_eq!(
            cookie(["a=1", "provisio_session=v"].into_iter(), false),
            Some("v")
        );
        assert_eq!(cookie(["provisio_sessionx=v"].into_iter(), false), None);
        // Over HTTPS only the __Host- cookie counts: a plain one may have been planted.
        assert_eq!(cookie(["provisio_session=v"].into_iter(), true), None);
        assert_eq!(cookie(["__Host-provisio_session=w"].into_iter(), true), Some("w"));
        assert!(set_cookie(Some("t"), true).starts_with("__Host-provisio_session=t;"));
        assert!(!format!("{:?}", Session::start(KEY, 1)).contains("key"));
        let set = set_cookie(Some("t"), true);
        for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=1800"] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set_cookie(Some("t"), false).contains("Secure"));
        assert!(set_cookie(None, true).contains("Max-Age=0"));
        assert!(is_loopback("127.0.0.1:9000") && is_loopback("localhost") && is_loopback("[::1]:80"));
        assert!(
            !is_loopback("abc.execute-api.us-east-1.amazonaws.com") && !is_loopback("localhost.evil.com")
        );
    }
}
