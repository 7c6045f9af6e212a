//! Optimistic locking: every stored resource has a `version`, exposed as the ETag `W/"<version>"`.

/// The caller's `If-Match`, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No If-Match (or `*`): apply to whatever is stored.
    Any,
    /// Apply only if the stored version is this one.
    Version(u64),
}

impl Precondition {
    /// Parses an If-Match header value: `W/"3"`, `"3"` or `*`. `None` for anything else.
    pub fn parse_if_match(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw == "*" {
            return Some(Precondition::Any);
        }
        let tag = raw.strip_prefix("W/").unwrap_or(raw);
        let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
        inner.parse().ok().map(Precondition::Version)
    }

    pub fn check(self, current: u64) -> Result<(), super::DirectoryError> {
        match self {
            Precondition::Version(expected) if expected != current => {
                Err(super::DirectoryError::PreconditionFailed { expected, current })
            }
            _ => Ok(()),
        }
    }
}

pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Attempts of a read-modify-write that loses a race to a concurrent writer without If-Match.
pub const UPDATE_ATTEMPTS: u32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etags() {
        assert_eq!(
            Precondition::parse_if_match("W/\"3\""),
            Some(Precondition::Version(3))
        );
        assert_eq!(
            Precondition::parse_if_match("\"12\""),
            Some(Precondition::Version(12))
        );
        assert_eq!(Precondition::parse_if_match("*"), Some(Precondition::Any));
        assert_eq!(Precondition::parse_if_match("3"), None);
        assert_eq!(Precondition::parse_if_match("W/\"x\""), None);
        assert_eq!(etag(7), "W/\"7\"");
    }
}
