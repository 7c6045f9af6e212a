//! Dotted key paths into JSON documents: `access_token`, `data.token`, `users.data`,
//! `items.0.id`. This is the form the seed's forms use for response keys (token key, users key,
//! next page key, external id). A JSONPath crate (`serde_json_path`, RFC 9535) would take
//! `$.data.token` and answer node lists; these paths name exactly one value, so one walk is all a
//! lookup needs and there is no syntax to translate.

use serde_json::Value;

/// The value at `path` (segments separated by `.`, array elements by index); `None` when absent.
/// An empty path is the document itself.
pub fn lookup<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(document);
    }
    path.split('.').try_fold(document, |node, segment| match node {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Checks a configured path: no empty segments, no whitespace.
pub fn validate(path: &str) -> Result<(), String> {
    if path
        .split('.')
        .any(|s| s.is_empty() || s.chars().any(char::is_whitespace))
    {
        return Err(format!(
            "`{path}` is not a dotted key path such as `data.token` or `items.0.id`"
        ));
    }
    Ok(())
}

/// A scalar as text: strings as they are, numbers and booleans in JSON form; `None` for null,
/// objects and arrays.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_objects_and_arrays() {
        let doc = json!({ "data": { "token": "t", "items": [{ "id": 7 }] } });
        assert_eq!(lookup(&doc, "data.token"), Some(&json!("t")));
        assert_eq!(lookup(&doc, "data.items.0.id"), Some(&json!(7)));
        assert_eq!(lookup(&doc, "data.items.1.id"), None);
        assert_eq!(lookup(&doc, "data.missing"), None);
        assert_eq!(lookup(&doc, ""), Some(&doc));
    }

    #[test]
    fn validates_paths() {
        assert!(validate("users.data").is_ok());
        assert!(validate("users..data").is_err());
        assert!(validate("").is_err());
        assert!(validate("a b").is_err());
    }
}
