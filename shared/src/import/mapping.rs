//! A source record mapped to directory user fields, or the reason it can't be.

use serde_json::{Map, Value};

use super::config::ImportMapping;
use crate::directory::validate;
use crate::json_path;

/// What a record says about a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub external_id: String,
    pub email: String,
    pub user_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub active: Option<bool>,
    pub attributes: Map<String, Value>,
}

fn text(record: &Value, path: &str, field: &str) -> Result<Option<String>, String> {
    match json_path::lookup(record, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v @ (Value::String(_) | Value::Number(_))) => {
            let text = json_path::scalar_text(v).unwrap_or_default();
            validate::optional_text(field, &text)
                .map(Some)
                .map_err(|e| format!("invalid value: {e}"))
        }
        Some(other) => Err(format!("invalid value: {field} at `{path}` is {}", kind(other))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl ImportMapping {
    /// The record's external id as a mapped record has it (trimmed, checked), if it has one: a
    /// record that fails on another field is still known by it.
    pub fn external_id_of(&self, record: &Value) -> Option<String> {
        text(record, &self.external_id, "externalId").ok().flatten()
    }

    pub fn apply(&self, record: &Value) -> Result<Mapped, String> {
        let optional = |path: &Option<String>, field: &str| match path {
            Some(p) => text(record, p, field),
            None => Ok(None),
        };
        let external_id = text(record, &self.external_id, "externalId")?
            .ok_or_else(|| format!("missing external id at `{}`", self.external_id))?;
        let email = text(record, &self.email, "email")?
            .ok_or_else(|| format!("missing email at `{}`", self.email))?;
        let email = validate::email("email", &email).map_err(|e| format!("invalid value: {e}"))?;
        let active = match self.active.as_ref().and_then(|p| json_path::lookup(record, p)) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
            Some(other) => return Err(format!("invalid value: active is {}", kind(other))),
        };
        let mut attributes = Map::new();
        for (name, path) in &self.attributes {
            if let Some(value) = json_path::lookup(record, path).filter(|v| !v.is_null()) {
                attributes.insert(name.clone(), value.clone());
            }
        }
        Ok(Mapped {
            user_name: optional(&self.user_name, "userName")?,
            given_name: optional(&self.given_name, "givenName")?,
            family_name: optional(&self.family_name, "familyName")?,
            display_name: optional(&self.display_name, "displayName")?,
            external_id,
            email,
            active,
            attributes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping() -> ImportMapping {
        serde_json::from_value(
            json!({ "externalId": "id", "email": "contact.email", "givenName": "name.first",
                                       "active": "enabled", "attributes": { "department": "org.dept" } }),
        )
        .unwrap()
    }

    #[test]
    fn maps_nested_paths_and_reports_reasons() {
        let mapped = mapping()
            .apply(
                &json!({ "id": 42, "contact": { "email": "a@b.io" }, "name": { "first": "Ann" },
                            "enabled": "false", "org": { "dept": "R&D" } }),
            )
            .unwrap();
        assert_eq!(mapped.external_id, "42");
        assert_eq!(mapped.given_name.as_deref(), Some("Ann"));
        assert_eq!(mapped.active, Some(false));
        assert_eq!(mapped.attributes["department"], "R&D");
        let missing = mapping().apply(&json!({ "id": 1 })).unwrap_err();
        assert!(missing.starts_with("missing email"), "{missing}");
        let invalid = mapping()
            .apply(&json!({ "id": 1, "contact": { "email": "nope" } }))
            .unwrap_err();
        assert!(invalid.starts_with("invalid value"), "{invalid}");
        let wrong = mapping()
            .apply(&json!({ "id": 1, "contact": { "email": "a@b.io" }, "name": { "first": [1] } }))
            .unwrap_err();
        assert!(wrong.contains("givenName") && wrong.contains("a list"), "{wrong}");
    }
}
