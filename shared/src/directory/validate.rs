//! Field rules shared by every resource: trimmed, bounded, printable.

use super::DirectoryError;

pub const MAX_NAME_LEN: usize = 256;
pub const MAX_EMAIL_LEN: usize = 254;
pub const MAX_ATTRIBUTES: usize = 64;
pub const MAX_ATTRIBUTE_KEY_LEN: usize = 128;

/// A required, non-empty, single-line text of at most [`MAX_NAME_LEN`] characters; returns it trimmed.
pub fn name(field: &str, value: &str) -> Result<String, DirectoryError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(DirectoryError::invalid(field, "must not be empty"));
    }
    optional_text(field, value)
}

/// Text that may be empty, with the same bounds as [`name`].
pub fn optional_text(field: &str, value: &str) -> Result<String, DirectoryError> {
    let value = value.trim();
    if value.chars().count() > MAX_NAME_LEN {
        return Err(DirectoryError::invalid(
            field,
            format!("longer than {MAX_NAME_LEN} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(DirectoryError::invalid(field, "contains control characters"));
    }
    Ok(value.to_string())
}

pub fn optional(field: &str, value: Option<String>) -> Result<Option<String>, DirectoryError> {
    value.map(|v| optional_text(field, &v)).transpose()
}

/// An address with one `@`, a local part and a dotless-or-dotted domain, no spaces.
pub fn email(field: &str, value: &str) -> Result<String, DirectoryError> {
    let value = value.trim();
    let valid = value.len() <= MAX_EMAIL_LEN
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(value.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@')
                && !domain.starts_with('.') && !domain.ends_with('.'));
    if valid {
        Ok(value.to_string())
    } else {
        Err(DirectoryError::invalid(field, "is not an email address"))
    }
}

/// An email value as a SCIM source sent it: RFC 7643 says values SHOULD follow RFC 5321, not
/// MUST, and sources send what their users typed. Any non-empty single-line text, bounded; the
/// admin API keeps [`email`].
pub fn source_email(field: &str, value: &str) -> Result<String, DirectoryError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(DirectoryError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > MAX_NAME_LEN || value.chars().any(char::is_control) {
        return Err(DirectoryError::invalid(
            field,
            format!("must be a single line of at most {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(value.to_string())
}

/// Free extra attributes: bounded count, sane keys.
pub fn attributes(
    field: &str,
    attributes: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), DirectoryError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(DirectoryError::invalid(
            field,
            format!("more than {MAX_ATTRIBUTES} attributes"),
        ));
    }
    for key in attributes.keys() {
        let ok = !key.is_empty()
            && key.len() <= MAX_ATTRIBUTE_KEY_LEN
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        if !ok {
            return Err(DirectoryError::invalid(
                format!("{field}.{key}"),
                "attribute names are 1-128 characters of letters, digits, '_', '-', '.', ':'",
            ));
        }
    }
    for (key, value) in attributes {
        nested(value, 1).map_err(|e| DirectoryError::invalid(format!("{field}.{key}"), e))?;
    }
    Ok(())
}

/// Deepest nesting kept in an attribute value (DynamoDB allows 32 levels in all).
pub const MAX_VALUE_DEPTH: usize = 8;

/// A stored value: objects with non-empty member names (DynamoDB refuses empty map keys),
/// nested at most [`MAX_VALUE_DEPTH`] deep.
fn nested(value: &serde_json::Value, depth: usize) -> Result<(), String> {
    if depth > MAX_VALUE_DEPTH {
        return Err(format!("is nested deeper than {MAX_VALUE_DEPTH} levels"));
    }
    match value {
        serde_json::Value::Object(map) => {
            if map.keys().any(String::is_empty) {
                return Err("has a member with an empty name".into());
            }
            map.values().try_for_each(|v| nested(v, depth + 1))
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(|v| nested(v, depth + 1)),
        serde_json::Value::Number(n) => match n.as_f64() {
            // DynamoDB numbers: magnitudes from 1e-130 to below 1e126.
            Some(f) if f != 0.0 && !(1e-130..1e126).contains(&f.abs()) => Err(format!(
                "holds {n}, outside the range of storable numbers (1e-130 to 1e126)"
            )),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(email("email", "a@b.c").is_ok());
        assert!(email("email", "a b@c").is_err());
        assert!(email("email", "@c").is_err());
        assert!(email("email", "a@").is_err());
        assert!(email("email", "a@b@c").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(name("n", "  ann ").ok().as_deref(), Some("ann"));
        assert!(name("n", "  ").is_err());
        assert!(name("n", "a\u{7}").is_err());
        assert!(name("n", &"x".repeat(257)).is_err());
    }
}
