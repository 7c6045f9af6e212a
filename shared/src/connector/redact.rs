//! Redaction of credentials from text that came back from an app or a token endpoint. An app may
//! echo what it received (an `Authorization` header, a posted client secret) in an error body;
//! that text goes on to the provisioning log, dead-letter attributes, tracing and import reports.
//! It is redacted once, where it enters (the sender), so that every sink gets clean text.

use base64::Engine;

use super::auth_config::{AuthConfig, AuthSecret, AuthSettings};

pub const REDACTED: &str = "[redacted]";
/// Shorter strings are not searched for: a 1-3 character "secret" would mangle every text, and
/// is not one.
const MIN_NEEDLE: usize = 4;

/// The strings to hide for one authorization.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    /// The secret's values, their Basic forms (plain and form-encoded, RFC 6749 section 2.3.1) and
    /// the header value actually sent (a fetched token among them), with the token alone.
    pub fn for_auth(config: &AuthConfig, secret: &AuthSecret, sent: Option<&str>) -> Self {
        let mut r = Redactor::default();
        for value in secret.values() {
            r.add(value);
        }
        let client_id = match &config.settings {
            AuthSettings::Basic { client_id } | AuthSettings::Oauth2 { client_id, .. } => Some(client_id),
            _ => None,
        };
        if let (Some(id), Some(secret)) = (client_id, secret.client_secret.as_deref()) {
            let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
            let form = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            r.add(b64(format!("{id}:{secret}")));
            r.add(b64(format!("{}:{}", form(id), form(secret))));
            r.add(form(secret));
        }
        if let Some(value) = sent {
            r.add(value.to_string());
            if let Some((_, token)) = value.split_once(' ') {
                r.add(token.to_string());
            }
        }
        r
    }

    pub fn add(&mut self, needle: String) {
        if needle.len() >= MIN_NEEDLE && !self.needles.contains(&needle) {
            self.needles.push(needle);
            // Longest first: a secret inside a longer form of it must not leave the rest behind.
            self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        }
    }

    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_string();
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), REDACTED);
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_values_and_their_forms_longest_first() {
        let mut r = Redactor::default();
        r.add("abc".into()); // too short to search for
        r.add("s3cret".into());
        r.add("Bearer s3cret-token".into());
        assert_eq!(
            r.apply("got Bearer s3cret-token and s3cret, abc"),
            "got [redacted] and [redacted], abc"
        );
    }
}
