//! Request templates with `@attribute` placeholders (seed 000, "Attribute mapping in event
//! configs").
//!
//! Templates are rendered over `serde_json::Value` trees, never by pasting text into JSON, so
//! every value is escaped by the serializer:
//! - in a JSON body, a string that is exactly one placeholder becomes the attribute's JSON value
//!   (a number stays a number, `active` stays a boolean, a missing attribute is `null`); a
//!   placeholder inside longer text is replaced by the value's text;
//! - in a URL, values are percent-encoded, so an id with `/` or `?` can't change the path;
//! - in headers and form fields, values are inserted as text (CR and LF refused).
//!
//! `@@` is a literal `@`. Placeholder names are letters, digits and `_`, with `.` between
//! segments for nested attributes (`@attributes.department`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use crate::directory::change::ChangeKind;
use crate::directory::users::USER_ATTRIBUTES;
use crate::json_path;

/// One piece of a template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(std::borrow::Cow<'a, str>),
    Placeholder(&'a str),
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits a template string into text and placeholders.
pub fn parse(template: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let mut text = String::new();
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < template.len() {
        let c = template[i..].chars().next().unwrap_or('\0');
        if c != '@' {
            text.push(c);
            i += c.len_utf8();
            continue;
        }
        if bytes.get(i + 1) == Some(&b'@') {
            text.push('@');
            i += 2;
            continue;
        }
        // A name: runs of name characters joined by single dots.
        let start = i + 1;
        let name_char_at = |j: usize| bytes.get(j).is_some_and(|b| is_name_char(*b as char));
        let mut end = start;
        while name_char_at(end) {
            end += 1;
            if bytes.get(end) == Some(&b'.') && end > start && name_char_at(end + 1) {
                end += 1;
            }
        }
        if end == start {
            // A lone `@` (followed by a space or punctuation) is text.
            text.push('@');
            i += 1;
            continue;
        }
        if !text.is_empty() {
            segments.push(Segment::Text(std::mem::take(&mut text).into()));
        }
        segments.push(Segment::Placeholder(&template[start..end]));
        i = end;
    }
    if !text.is_empty() {
        segments.push(Segment::Text(text.into()));
    }
    segments
}

/// Whether every placeholder of a URL template comes after its origin (scheme, host, port): the
/// text before the first placeholder must hold `scheme://authority` and the `/`, `?` or `#` that
/// ends it. Otherwise a value (a SCIM-pushed attribute, say) would choose who receives the
/// request and its credentials.
pub fn origin_is_fixed(url: &str) -> bool {
    let mut literal = String::new();
    for segment in parse(url) {
        match segment {
            Segment::Text(text) => literal.push_str(&text),
            Segment::Placeholder(_) => {
                let Some((scheme, rest)) = literal.split_once("://") else {
                    return false;
                };
                let scheme_ok = !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
                return scheme_ok
                    && rest
                        .find(['/', '?', '#'])
                        .is_some_and(|end| end > 0 && !rest[..end].contains('@'));
            }
        }
    }
    true
}

/// The placeholders a template string uses.
pub fn placeholders(template: &str) -> Vec<&str> {
    parse(template)
        .into_iter()
        .filter_map(|s| match s {
            Segment::Placeholder(name) => Some(name),
            Segment::Text(_) => None,
        })
        .collect()
}

/// Every placeholder in the strings of a JSON template (keys stay literal).
pub fn json_placeholders(template: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk_strings(template, &mut |s| {
        found.extend(placeholders(s).into_iter().map(str::to_string))
    });
    found
}

fn walk_strings(value: &Value, visit: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => visit(s),
        Value::Array(items) => items.iter().for_each(|v| walk_strings(v, visit)),
        Value::Object(map) => map.values().for_each(|v| walk_strings(v, visit)),
        _ => {}
    }
}

/// What a template may name besides the attributes a caller sets: the directory's own fields.
pub const READ_ONLY_FIELDS: [&str; 3] = ["id", "created", "lastModified"];

/// The placeholders an event config of `kind` can use, as an administrator writes them (the
/// console lists them beside the request editor); each passes [`check_placeholder`].
pub fn available(kind: ChangeKind) -> Vec<String> {
    let mut names: Vec<String> = [USER_ATTRIBUTES, &READ_ONLY_FIELDS]
        .concat()
        .iter()
        .map(|n| format!("@{n}"))
        .collect();
    names.push("@attributes.<name>".into());
    if kind != ChangeKind::UserCreated {
        names.push("@ExternalUserId".into());
    }
    if matches!(kind, ChangeKind::MemberAdded | ChangeKind::MemberRemoved) {
        names.extend(["@group.id".into(), "@group.name".into()]);
    }
    names
}

/// Whether `name` can be resolved for events of `kind`; the error says why not.
pub fn check_placeholder(name: &str, kind: ChangeKind) -> Result<(), String> {
    if name == "ExternalUserId" {
        return if kind == ChangeKind::UserCreated {
            Err("@ExternalUserId is not known yet when the user is created".into())
        } else {
            Ok(())
        };
    }
    if let Some(field) = name.strip_prefix("group.") {
        return match (kind, field) {
            (ChangeKind::MemberAdded | ChangeKind::MemberRemoved, "id" | "name") => Ok(()),
            (ChangeKind::MemberAdded | ChangeKind::MemberRemoved, _) => Err(format!(
                "unknown placeholder @{name}: groups have @group.id and @group.name"
            )),
            _ => Err(format!(
                "@{name} exists only in member_added and member_removed events"
            )),
        };
    }
    if USER_ATTRIBUTES.contains(&name)
        || READ_ONLY_FIELDS.contains(&name)
        || name.strip_prefix("attributes.").is_some_and(|r| !r.is_empty())
    {
        return Ok(());
    }
    Err(format!(
        "unknown placeholder @{name}: use a user attribute ({}), @attributes.<name>, @ExternalUserId \
         or @group.id/@group.name; write @@ for a literal @",
        [USER_ATTRIBUTES, &READ_ONLY_FIELDS].concat().join(", ")
    ))
}

/// What placeholders resolve against: the user as the admin API shows it, the user's id in the
/// target app, and the group of a membership event.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub user: Value,
    pub external_user_id: Option<String>,
    pub group: Option<Value>,
}

impl Context {
    pub fn resolve(&self, name: &str) -> Value {
        if name == "ExternalUserId" {
            return self.external_user_id.clone().map_or(Value::Null, Value::String);
        }
        if let Some(field) = name.strip_prefix("group.") {
            return self
                .group
                .as_ref()
                .and_then(|g| json_path::lookup(g, field))
                .cloned()
                .unwrap_or(Value::Null);
        }
        json_path::lookup(&self.user, name)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn text(&self, name: &str) -> String {
        match self.resolve(name) {
            Value::Null => String::new(),
            Value::String(s) => s,
            other => json_path::scalar_text(&other).unwrap_or_else(|| other.to_string()),
        }
    }
}

fn render_with(template: &str, ctx: &Context, encode: impl Fn(&str) -> String) -> String {
    parse(template)
        .into_iter()
        .map(|segment| match segment {
            Segment::Text(text) => text.into_owned(),
            Segment::Placeholder(name) => encode(&ctx.text(name)),
        })
        .collect()
}

/// Characters left as they are in a URL value: RFC 3986 unreserved.
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A value for a URL's path segment or query, percent-encoded (RFC 3986 unreserved characters
/// stay).
pub fn url_value(value: &str) -> String {
    utf8_percent_encode(value, URL_VALUE).to_string()
}

/// A URL template: placeholder values percent-encoded.
pub fn render_url(template: &str, ctx: &Context) -> String {
    render_with(template, ctx, url_value)
}

/// A header or form value: placeholder values as text.
pub fn render_text(template: &str, ctx: &Context) -> String {
    render_with(template, ctx, str::to_string)
}

/// A JSON template: an exact placeholder keeps the attribute's JSON type.
pub fn render_json(template: &Value, ctx: &Context) -> Value {
    match template {
        Value::String(s) => match parse(s).as_slice() {
            [Segment::Placeholder(name)] => ctx.resolve(name),
            _ => Value::String(render_text(s, ctx)),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| render_json(v, ctx)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_json(v, ctx)))
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_listed_placeholder_resolves() {
        use crate::directory::change::ChangeKind;
        for kind in crate::outbound::event_config::KINDS {
            for name in super::available(kind) {
                let name = name.trim_start_matches('@').replace("<name>", "level");
                assert_eq!(
                    super::check_placeholder(&name, kind),
                    Ok(()),
                    "{name} in {kind:?}"
                );
            }
        }
        assert!(!super::available(ChangeKind::UserCreated).contains(&"@ExternalUserId".into()));
    }

    use super::*;
    use serde_json::json;

    fn ctx() -> Context {
        Context {
            user: json!({ "id": "u1", "userName": "ann", "email": "ann@example.com", "active": true,
                          "attributes": { "department": "R&D", "level": 3, "tags": ["a"] } }),
            external_user_id: Some("ext/1?x".into()),
            group: Some(json!({ "id": "g1", "name": "Eng" })),
        }
    }

    #[test]
    fn parses_placeholders_and_escapes() {
        assert_eq!(placeholders("@email"), ["email"]);
        assert_eq!(
            placeholders("Hi @givenName @familyName."),
            ["givenName", "familyName"]
        );
        assert_eq!(placeholders("@attributes.department"), ["attributes.department"]);
        assert_eq!(placeholders("a@@b.com"), Vec::<&str>::new());
        assert_eq!(placeholders("x @ y"), Vec::<&str>::new());
        assert_eq!(placeholders("/users/@ExternalUserId/"), ["ExternalUserId"]);
        assert_eq!(render_text("a@@b.com @userName.", &ctx()), "a@b.com ann.");
    }

    #[test]
    fn json_keeps_types_of_exact_placeholders() {
        let template = json!({
            "name": "@userName", "active": "@active", "level": "@attributes.level",
            "tags": "@attributes.tags", "missing": "@givenName", "label": "@userName (@attributes.level)",
            "nested": [{ "dept": "@attributes.department" }], "n": 5
        });
        assert_eq!(
            render_json(&template, &ctx()),
            json!({ "name": "ann", "active": true, "level": 3, "tags": ["a"], "missing": null,
                    "label": "ann (3)", "nested": [{ "dept": "R&D" }], "n": 5 })
        );
    }

    #[test]
    fn urls_percent_encode_values() {
        assert_eq!(
            render_url(
                "https://app.test/users/@ExternalUserId?d=@attributes.department",
                &ctx()
            ),
            "https://app.test/users/ext%2F1%3Fx?d=R%26D"
        );
    }

    #[test]
    fn checks_names_per_event_kind() {
        assert!(check_placeholder("email", ChangeKind::UserCreated).is_ok());
        assert!(check_placeholder("attributes.x.y", ChangeKind::UserUpdated).is_ok());
        assert!(check_placeholder("ExternalUserId", ChangeKind::UserCreated).is_err());
        assert!(check_placeholder("ExternalUserId", ChangeKind::UserUpdated).is_ok());
        assert!(check_placeholder("group.name", ChangeKind::MemberAdded).is_ok());
        assert!(check_placeholder("group.name", ChangeKind::UserUpdated).is_err());
        let err = check_placeholder("emial", ChangeKind::UserCreated).unwrap_err();
        assert!(err.contains("@emial"), "{err}");
    }
}
