//! Per-app attribute mapping (seed 004, "Attributes Mapping"): which SCIM attribute feeds which
//! directory attribute, for Users and for Groups. The built-in mapping (user_resource.rs) always
//! applies; an app's entries are applied on top of it, in both directions: a request's value at
//! the SCIM path is stored in the directory attribute, and responses show the directory attribute
//! at the SCIM path.
//!
//! ```json
//! {"users": [{"scim": "emails[type eq \"home\"].value", "directory": "email"},
//!            {"scim": "title", "directory": "attributes.jobTitle"}],
//!  "groups": [{"scim": "displayName", "directory": "name"}]}
//! ```

use scim_v2::filter::PatchPath;
use serde_json::Value;

use super::error::ScimError;
use super::filter::val_filter;
use super::patch::{self, OpKind, Operation};
use super::user_resource::{UserInput, boolean, member};
pub use crate::directory::scim_mapping::{
    GROUP_TARGETS, MAX_ENTRIES, MappingEntry, ScimMapping, USER_TARGETS,
};
use crate::directory::users::User;

impl ScimMapping {
    /// Request -> directory: the value at each entry's SCIM path goes to its target.
    pub fn inbound_user(&self, body: &Value, input: &mut UserInput) -> Result<(), ScimError> {
        for entry in &self.users {
            let value = read(body, &entry.scim);
            let text = || -> Result<Option<String>, ScimError> {
                match &value {
                    None => Ok(None),
                    Some(Value::String(s)) if s.is_empty() => Ok(None),
                    Some(Value::String(s)) => {
                        Ok(Some(crate::directory::validate::optional_text(&entry.scim, s)?))
                    }
                    Some(other) => Ok(Some(other.to_string())),
                }
            };
            match entry.directory.as_str() {
                "userName" => {
                    if let Some(name) = text()? {
                        input.user_name = crate::directory::validate::name(&entry.scim, &name)?;
                    }
                }
                "email" => {
                    input.email = text()?
                        .map(|e| crate::directory::validate::source_email(&entry.scim, &e))
                        .transpose()?;
                }
                "givenName" => input.given_name = text()?,
                "familyName" => input.family_name = text()?,
                "displayName" => input.display_name = text()?,
                "externalId" => input.external_id = text()?,
                "active" => input.active = value.as_ref().map(|v| boolean(v, &entry.scim)).transpose()?,
                target => {
                    if let Some(name) = target.strip_prefix("attributes.") {
                        match value {
                            Some(v) => input.attributes.insert(name.to_string(), v),
                            None => input.attributes.remove(name),
                        };
                    }
                }
            }
            // The entry moves the attribute: the built-in copy under its SCIM name goes.
            if let Some(key) = super::user_resource::default_attribute_key(&entry.scim)
                && entry.directory != format!("attributes.{key}")
            {
                input.attributes.remove(key);
            }
        }
        Ok(())
    }

    /// Whether an entry feeds this directory attribute.
    pub fn maps_user(&self, target: &str) -> bool {
        self.users.iter().any(|e| e.directory == target)
    }

    /// Directory -> response: each target's value is shown at its SCIM path.
    pub fn outbound_user(&self, user: &User, resource: &mut Value) {
        for entry in &self.users {
            let value = match entry.directory.as_str() {
                "userName" => Some(Value::String(user.user_name.clone())),
                "email" => user.email.clone().map(Value::String),
                "givenName" => user.given_name.clone().map(Value::String),
                "familyName" => user.family_name.clone().map(Value::String),
                "displayName" => user.display_name.clone().map(Value::String),
                "externalId" => user.external_id.clone().map(Value::String),
                "active" => Some(Value::Bool(user.active)),
                target => target
                    .strip_prefix("attributes.")
                    .and_then(|a| user.attributes.get(a).cloned()),
            };
            write(resource, &entry.scim, value);
        }
    }

    /// The group name from a request, if an entry maps one.
    pub fn inbound_group_name(&self, body: &Value) -> Option<String> {
        self.groups
            .iter()
            .filter(|e| e.directory == "name")
            .find_map(|e| read(body, &e.scim).and_then(|v| v.as_str().map(str::to_string)))
    }

    pub fn outbound_group(&self, name: &str, resource: &mut Value) {
        for entry in self.groups.iter().filter(|e| e.directory == "name") {
            write(resource, &entry.scim, Some(Value::String(name.to_string())));
        }
    }
}

/// The value at a SCIM path in a resource (the first match of a value path).
pub fn read(resource: &Value, raw: &str) -> Option<Value> {
    let path = raw.parse::<PatchPath>().ok()?;
    let (attr, filter, sub) = match &path {
        PatchPath::Attr(a) => (a, None, a.sub_attr.clone()),
        PatchPath::Value(vp) => (&vp.attr, Some(&vp.filter), vp.sub_attr.clone()),
    };
    let Value::Object(root) = resource else {
        return None;
    };
    let base = match attr.uri.as_deref() {
        Some(uri)
            if !uri.eq_ignore_ascii_case(super::schema::USER)
                && !uri.eq_ignore_ascii_case(super::schema::GROUP) =>
        {
            member(root, uri)?.as_object()?
        }
        _ => root,
    };
    let value = member(base, &attr.name)?;
    let value = match (filter, value) {
        (Some(f), Value::Array(items)) => items.iter().find(|e| val_filter(f, e, attr))?,
        (Some(_), _) => return None,
        (None, v) => v,
    };
    match sub {
        Some(sub) => value.as_object().and_then(|o| member(o, &sub)).cloned(),
        None => Some(value.clone()),
    }
}

/// Sets (or, for `None`, removes) the value at a SCIM path, with PATCH semantics.
fn write(resource: &mut Value, raw: &str, value: Option<Value>) {
    let Ok(path) = raw.parse::<PatchPath>() else {
        return;
    };
    let kind = if value.is_some() {
        OpKind::Replace
    } else {
        OpKind::Remove
    };
    let op = Operation {
        kind,
        path: Some(path),
        raw_path: Some(raw.to_string()),
        value,
    };
    // A path the resource can't take (a remove with no target) changes nothing.
    let _ = patch::apply(resource, std::slice::from_ref(&op));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::DirectoryError;
    use serde_json::json;

    fn mapping(users: Value) -> ScimMapping {
        serde_json::from_value(json!({ "users": users })).unwrap()
    }

    #[test]
    fn reads_paths() {
        let user = json!({ "emails": [{ "type": "work", "value": "w@x.io" }, { "type": "home", "value": "h@x.io" }],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": "D" }, "title": "T" });
        assert_eq!(
            read(&user, r#"emails[type eq "home"].value"#),
            Some(json!("h@x.io"))
        );
        assert_eq!(
            read(
                &user,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
            ),
            Some(json!("D"))
        );
        assert_eq!(read(&user, "Title"), Some(json!("T")));
        assert_eq!(read(&user, "nickName"), None);
    }

    #[test]
    fn validation_names_the_entry() {
        let bad_path = mapping(json!([{ "scim": "emails[type eq", "directory": "email" }]));
        assert!(
            matches!(bad_path.validate(), Err(DirectoryError::Invalid { field, .. }) if field == "scimMapping.users[0].scim")
        );
        let bad_target = mapping(json!([{ "scim": "title", "directory": "password" }]));
        assert!(
            matches!(bad_target.validate(), Err(DirectoryError::Invalid { field, .. }) if field == "scimMapping.users[0].directory")
        );
        assert!(
            mapping(json!([{ "scim": "title", "directory": "attributes.jobTitle" }]))
                .validate()
                .is_ok()
        );
    }
}
