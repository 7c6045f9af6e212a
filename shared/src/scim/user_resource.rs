//! The SCIM User resource and the directory user: how one maps onto the other.
//!
//! | SCIM | directory |
//! | --- | --- |
//! | `userName` | `userName` |
//! | `name.givenName`, `name.familyName` | `givenName`, `familyName` |
//! | `displayName` | `displayName` |
//! | `emails` (primary, else `type eq "work"`, else first) `.value` | `email` |
//! | `active` | `active` |
//! | `externalId` | `externalId` (per source app) |
//! | every other core and enterprise attribute | `attributes.<scim name>` (the whole `emails` list too; `name.middleName` as `middleName`; enterprise `manager.value` as `manager`) |

use serde_json::{Map, Value, json};

use super::error::{ScimError, ScimType};
use super::schema::{ENTERPRISE_USER, USER};
use crate::directory::users::User;
use crate::directory::validate;
use crate::ids::AppId;

/// Single-valued core attributes kept in `attributes` under their own names.
const CORE_EXTRAS: &[&str] = &[
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
];
/// Multi-valued core attributes kept whole in `attributes`.
const MULTI: &[&str] = &[
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
];
/// `name` sub-attributes beyond given and family name, and their directory names.
const NAME_EXTRAS: &[(&str, &str)] = &[
    ("formatted", "formattedName"),
    ("middleName", "middleName"),
    ("honorificPrefix", "honorificPrefix"),
    ("honorificSuffix", "honorificSuffix"),
];
/// Enterprise extension attributes (strings), plus `manager`.
const ENTERPRISE: &[&str] = &[
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
];

/// Set when the SCIM source sent no `active`.
const ACTIVE_OMITTED: &str = "scimActiveOmitted";

/// Every directory attribute this mapping owns: a SCIM PUT replaces exactly these.
pub fn owned_attribute_keys() -> impl Iterator<Item = &'static str> {
    CORE_EXTRAS
        .iter()
        .chain(MULTI)
        .copied()
        .chain(NAME_EXTRAS.iter().map(|(_, d)| *d))
        .chain(ENTERPRISE.iter().copied())
        .chain(["manager", "managerRef", ACTIVE_OMITTED])
}

/// The directory attribute the built-in mapping keeps a plain SCIM attribute path under
/// (`title` -> `title`, the enterprise `department` -> `department`), if any.
pub fn default_attribute_key(path: &str) -> Option<&'static str> {
    let name = path.rsplit(':').next()?;
    if name.contains('.') || name.contains('[') || name.eq_ignore_ascii_case("emails") {
        return None;
    }
    owned_attribute_keys()
        .find(|k| k.eq_ignore_ascii_case(name) && *k != ACTIVE_OMITTED && *k != "managerRef")
}

/// A validated SCIM User body, in directory terms.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInput {
    pub user_name: String,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    /// `None` when the body has no `active`: the user is active, and SCIM shows no `active`.
    pub active: Option<bool>,
    pub external_id: Option<String>,
    pub attributes: Map<String, Value>,
}

/// Case-insensitive member lookup; `null` counts as absent (RFC 7643 2.5).
pub fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_null())
        .map(|(_, v)| v)
}

fn string(object: &Map<String, Value>, name: &str, path: &str) -> Result<Option<String>, ScimError> {
    match member(object, name) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(validate::optional_text(path, s)?)),
        Some(other) => Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("{path} must be a string, not {other}"),
        )),
    }
}

/// Booleans, leniently: Entra ID sends `"True"`/`"False"` strings.
pub fn boolean(value: &Value, path: &str) -> Result<bool, ScimError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("{path} must be a boolean, not {other}"),
        )),
    }
}

fn multi_valued(object: &Map<String, Value>, name: &str) -> Result<Option<Vec<Value>>, ScimError> {
    let items = match member(object, name) {
        None => return Ok(None),
        Some(Value::Array(items)) => items.clone(),
        // A single object where a list is expected: some clients do this; take it as a list of one.
        Some(Value::Object(o)) => vec![Value::Object(o.clone())],
        Some(other) => {
            return Err(ScimError::bad(
                ScimType::InvalidValue,
                format!("{name} must be a list, not {other}"),
            ));
        }
    };
    let mut cleaned = Vec::new();
    for item in items {
        match item {
            Value::Object(o) => {
                let mut o: Map<String, Value> = o.into_iter().filter(|(_, v)| !v.is_null()).collect();
                if let Some(primary) = o.get("primary").cloned() {
                    o.insert(
                        "primary".into(),
                        Value::Bool(boolean(&primary, &format!("{name}.primary"))?),
                    );
                }
                if !o.is_empty() {
                    cleaned.push(Value::Object(o));
                }
            }
            Value::Null => {}
            other => {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("{name} items must be objects, not {other}"),
                ));
            }
        }
    }
    Ok((!cleaned.is_empty()).then_some(cleaned))
}

/// The primary email: the one marked primary, else the work one, else the first.
pub fn primary_email(emails: &[Value]) -> Option<String> {
    let value = |e: &Value| e.get("value").and_then(Value::as_str).map(str::to_string);
    emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| {
            emails.iter().find(|e| {
                e.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("work"))
            })
        })
        .or_else(|| emails.first())
        .and_then(value)
}

/// The enterprise extension object, wherever the client put it.
fn enterprise(body: &Map<String, Value>) -> Map<String, Value> {
    let mut ext = match member(body, ENTERPRISE_USER) {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    // `urn:...:enterprise:2.0:User:department` at the top level.
    let prefix = format!("{ENTERPRISE_USER}:");
    for (key, value) in body {
        if key.len() > prefix.len()
            && key
                .get(..prefix.len())
                .is_some_and(|k| k.eq_ignore_ascii_case(&prefix))
            && !value.is_null()
        {
            ext.insert(key[prefix.len()..].to_string(), value.clone());
        }
    }
    ext
}

pub fn parse(body: &Value) -> Result<UserInput, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "a User must be a JSON object",
        ));
    };
    let user_name = string(body, "userName", "userName")?
        .ok_or_else(|| ScimError::bad(ScimType::InvalidValue, "userName is required"))?;
    let name = match member(body, "name") {
        Some(Value::Object(o)) => o.clone(),
        Some(other) => {
            return Err(ScimError::bad(
                ScimType::InvalidValue,
                format!("name must be an object, not {other}"),
            ));
        }
        None => Map::new(),
    };
    let mut attributes = Map::new();
    for key in CORE_EXTRAS {
        if let Some(v) = string(body, key, key)? {
            attributes.insert((*key).into(), Value::String(v));
        }
    }
    for key in MULTI {
        if let Some(items) = multi_valued(body, key)? {
            attributes.insert((*key).into(), Value::Array(items));
        }
    }
    for (scim, directory) in NAME_EXTRAS {
        if let Some(v) = string(&name, scim, &format!("name.{scim}"))? {
            attributes.insert((*directory).into(), Value::String(v));
        }
    }
    let ext = enterprise(body);
    for key in ENTERPRISE {
        if let Some(v) = string(&ext, key, key)? {
            attributes.insert((*key).into(), Value::String(v));
        }
    }
    let manager = match member(&ext, "manager") {
        Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
        Some(Value::Object(o)) => string(o, "value", "manager.value")?,
        // Entra ID: `[{"$ref": null, "value": "<id>"}]`.
        Some(Value::Array(items)) => match items.first() {
            Some(Value::Object(o)) => string(o, "value", "manager.value")?,
            Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
            _ => None,
        },
        Some(Value::String(_)) | None => None,
        Some(other) => {
            return Err(ScimError::bad(
                ScimType::InvalidValue,
                format!("manager must be an object, not {other}"),
            ));
        }
    };
    if let Some(manager) = manager {
        attributes.insert("manager".into(), Value::String(manager));
        // A `$ref` the client gave is kept; otherwise the reference is this server's URL.
        let reference = match member(&ext, "manager") {
            Some(Value::Object(o)) => string(o, "$ref", "manager.$ref")?,
            _ => None,
        };
        if let Some(reference) = reference {
            attributes.insert("managerRef".into(), Value::String(reference));
        }
    }
    let email = attributes
        .get("emails")
        .and_then(Value::as_array)
        .and_then(|emails| primary_email(emails))
        .map(|e| validate::source_email("emails.value", &e))
        .transpose()?;
    Ok(UserInput {
        user_name: validate::name("userName", &user_name)?,
        email,
        given_name: string(&name, "givenName", "name.givenName")?,
        family_name: string(&name, "familyName", "name.familyName")?,
        display_name: string(body, "displayName", "displayName")?,
        active: member(body, "active").map(|v| boolean(v, "active")).transpose()?,
        external_id: string(body, "externalId", "externalId")?,
        attributes,
    })
}

impl UserInput {
    /// Replaces everything SCIM manages on `user` (PUT semantics); attributes the admin API set
    /// outside the SCIM mapping stay.
    pub fn apply(self, user: &mut User, app: &AppId) {
        user.user_name = self.user_name;
        user.email = self.email;
        user.given_name = self.given_name;
        user.family_name = self.family_name;
        user.display_name = self.display_name;
        user.active = self.active.unwrap_or(true);
        // The writer owns the user from now on (it created it, or adopted it: the caller checked
        // `ownership::may_write`), and the externalId is that source's.
        user.source_app_id = Some(app.clone());
        user.external_id = self.external_id;
        for key in owned_attribute_keys() {
            user.attributes.remove(key);
        }
        user.attributes.extend(self.attributes);
        if self.active.is_none() {
            user.attributes.insert(ACTIVE_OMITTED.into(), Value::Bool(true));
        }
    }
}

/// The SCIM representation of a user, as `app` sees it.
pub fn render(user: &User, app: &AppId, base: &str) -> Value {
    let attrs = &user.attributes;
    let mut out = Map::new();
    let mut schemas = vec![json!(USER)];
    out.insert("id".into(), json!(user.id));
    if user.source_app_id.as_ref() == Some(app)
        && let Some(external) = &user.external_id
    {
        out.insert("externalId".into(), json!(external));
    }
    out.insert("userName".into(), json!(user.user_name));
    let mut name = Map::new();
    if let Some(v) = &user.given_name {
        name.insert("givenName".into(), json!(v));
    }
    if let Some(v) = &user.family_name {
        name.insert("familyName".into(), json!(v));
    }
    for (scim, directory) in NAME_EXTRAS {
        if let Some(v) = attrs.get(*directory) {
            name.insert((*scim).into(), v.clone());
        }
    }
    if !name.is_empty() {
        out.insert("name".into(), Value::Object(name));
    }
    if let Some(v) = &user.display_name {
        out.insert("displayName".into(), json!(v));
    }
    for key in CORE_EXTRAS {
        if let Some(v) = attrs.get(*key) {
            out.insert((*key).into(), v.clone());
        }
    }
    // `active` is optional in SCIM; a user whose source never set it (or removed it) is active
    // in the directory and shows no `active`.
    if !(user.active && attrs.get(ACTIVE_OMITTED) == Some(&Value::Bool(true))) {
        out.insert("active".into(), json!(user.active));
    }
    for key in MULTI {
        if *key == "emails" {
            if let Some(emails) = render_emails(user) {
                out.insert("emails".into(), emails);
            }
        } else if let Some(v) = attrs.get(*key) {
            out.insert((*key).into(), v.clone());
        }
    }
    let mut ext = Map::new();
    for key in ENTERPRISE {
        if let Some(v) = attrs.get(*key) {
            ext.insert((*key).into(), v.clone());
        }
    }
    if let Some(manager) = attrs.get("manager").and_then(Value::as_str) {
        ext.insert(
            "manager".into(),
            json!({
                "value": manager,
                "$ref": attrs
                    .get("managerRef")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("{base}/Users/{manager}"), str::to_string),
            }),
        );
    }
    if !ext.is_empty() {
        schemas.push(json!(ENTERPRISE_USER));
        out.insert(ENTERPRISE_USER.into(), Value::Object(ext));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": user.created,
            "lastModified": user.last_modified,
            "location": format!("{base}/Users/{}", user.id),
            "version": crate::directory::version::etag(user.version),
        }),
    );
    Value::Object(out)
}

/// The stored list with its primary entry kept equal to the directory's email (which the admin
/// API may have changed since), or a single work email.
fn render_emails(user: &User) -> Option<Value> {
    let email = user.email.as_ref()?;
    let mut emails = user
        .attributes
        .get("emails")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if primary_email(&emails).as_ref() != Some(email) {
        let primary = emails
            .iter()
            .position(|e| e.get("primary") == Some(&Value::Bool(true)));
        match primary {
            Some(i) => emails[i]["value"] = json!(email),
            None => emails.insert(0, json!({ "value": email, "type": "work", "primary": true })),
        }
    }
    Some(Value::Array(emails))
}
