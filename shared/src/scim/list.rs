//! Query parameters of SCIM list and search requests (RFC 7644 3.4.2, 3.4.3, 3.9): paging,
//! sorting, and the `attributes` / `excludedAttributes` projection.

use std::collections::HashMap;

use scim_v2::filter::Filter;
use serde_json::{Map, Value, json};

use super::error::{ScimError, ScimType};
use super::filter;
use super::schema::{ENTERPRISE_USER, LIST_RESPONSE, USER};
use super::user_resource::member;

pub use super::protocol::{DEFAULT_COUNT, MAX_COUNT};

#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<Filter>,
    pub start_index: usize,
    pub count: usize,
    pub sort_by: Option<String>,
    pub descending: bool,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
    /// RFC 9865 cursor paging: `Some("")` asks for the first page, `Some(c)` for the page after
    /// the one that answered `nextCursor: c`; `None` pages by `startIndex`.
    pub cursor: Option<String>,
}

/// The parameters as a request gave them, before checks and defaults.
struct Raw<'a> {
    filter: Option<&'a str>,
    start_index: Option<i64>,
    count: Option<i64>,
    sort_by: Option<&'a str>,
    sort_order: Option<&'a str>,
    attributes: Vec<String>,
    excluded: Vec<String>,
    cursor: Option<String>,
}

fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn integer(raw: &str, name: &str) -> Result<i64, ScimError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::bad(ScimType::InvalidValue, format!("{name} must be an integer")))
}

impl ListParams {
    /// From `?filter=...&startIndex=...` (names case-insensitive).
    pub fn from_query(query: &HashMap<String, String>) -> Result<Self, ScimError> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        Self::build(Raw {
            filter: get("filter"),
            start_index: get("startIndex").map(|v| integer(v, "startIndex")).transpose()?,
            count: get("count").map(|v| integer(v, "count")).transpose()?,
            sort_by: get("sortBy"),
            sort_order: get("sortOrder"),
            attributes: get("attributes").map(split_list).unwrap_or_default(),
            excluded: get("excludedAttributes").map(split_list).unwrap_or_default(),
            cursor: get("cursor").map(str::to_string),
        })
    }

    /// From a `POST .search` body (RFC 7644 3.4.3).
    pub fn from_search(body: &Value) -> Result<Self, ScimError> {
        let Value::Object(o) = body else {
            return Err(ScimError::bad(
                ScimType::InvalidSyntax,
                "a SearchRequest must be a JSON object",
            ));
        };
        let text = |name: &str| -> Result<Option<&str>, ScimError> {
            match member(o, name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("{name} must be a string"),
                )),
            }
        };
        let number = |name: &str| -> Result<Option<i64>, ScimError> {
            match member(o, name) {
                None => Ok(None),
                Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                    ScimError::bad(ScimType::InvalidValue, format!("{name} must be an integer"))
                }),
                Some(Value::String(s)) => integer(s, name).map(Some),
                Some(_) => Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("{name} must be an integer"),
                )),
            }
        };
        let names = |name: &str| -> Result<Vec<String>, ScimError> {
            match member(o, name) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => Ok(items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()),
                Some(Value::String(s)) => Ok(split_list(s)),
                Some(_) => Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("{name} must be a list of strings"),
                )),
            }
        };
        Self::build(Raw {
            filter: text("filter")?,
            start_index: number("startIndex")?,
            count: number("count")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
            attributes: names("attributes")?,
            excluded: names("excludedAttributes")?,
            cursor: text("cursor")?.map(str::to_string),
        })
    }

    fn build(raw: Raw<'_>) -> Result<Self, ScimError> {
        let Raw {
            filter,
            start_index,
            count,
            sort_by,
            sort_order,
            attributes,
            excluded,
            cursor,
        } = raw;
        if let Some(c) = &cursor
            && !c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Err(ScimError::bad(
                ScimType::InvalidCursor,
                "not a cursor this server issued",
            ));
        }
        if cursor.is_some() && count.is_some_and(|c| c < 1 || c > MAX_COUNT as i64) {
            return Err(ScimError::bad(
                ScimType::InvalidCount,
                format!("count must be between 1 and {MAX_COUNT}"),
            ));
        }
        let descending = match sort_order {
            None => false,
            Some(o) if o.eq_ignore_ascii_case("ascending") => false,
            Some(o) if o.eq_ignore_ascii_case("descending") => true,
            Some(o) => {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("sortOrder {o:?} is not ascending or descending"),
                ));
            }
        };
        Ok(ListParams {
            filter: filter
                .filter(|f| !f.trim().is_empty())
                .map(filter::parse)
                .transpose()?,
            // RFC 7644 3.4.2.4: below 1 is 1; a negative count is 0; above the maximum is the maximum.
            start_index: usize::try_from(start_index.unwrap_or(1).max(1)).unwrap_or(1),
            count: usize::try_from(count.unwrap_or(DEFAULT_COUNT as i64).clamp(0, MAX_COUNT as i64))
                .unwrap_or(0),
            sort_by: sort_by.map(str::to_string),
            descending,
            attributes,
            excluded,
            cursor,
        })
    }

    /// With a cursor, results come in the listing's own order (`natural`, ascending): the only
    /// order one Query per page can give.
    pub fn check_cursor_order(&self, natural: &str) -> Result<(), ScimError> {
        let other = self
            .sort_by
            .as_ref()
            .is_some_and(|s| !s.eq_ignore_ascii_case(natural));
        if self.cursor.is_some() && (other || self.descending) {
            return Err(ScimError::bad(
                ScimType::InvalidValue,
                format!("with a cursor, results come in ascending {natural} order: sortBy {natural} or none"),
            ));
        }
        Ok(())
    }

    /// One cursor page (RFC 9865): filtered and projected; `nextCursor` unless it is the last.
    /// `totalResults` is left out (RFC 9865 2: a provider that can't count cheaply may), since
    /// counting would read the whole listing.
    pub fn respond_page(&self, resources: Vec<Value>, next: Option<String>) -> Value {
        let page: Vec<Value> = resources
            .into_iter()
            .filter(|r| self.filter.as_ref().is_none_or(|f| filter::matches(f, r)))
            .map(|r| project(r, &self.attributes, &self.excluded))
            .collect();
        let mut body = json!({
            "schemas": [LIST_RESPONSE],
            "itemsPerPage": page.len(),
            "Resources": page,
        });
        if let Some(next) = next {
            body["nextCursor"] = json!(next);
        }
        body
    }

    /// Filters, sorts, pages and projects rendered resources into a ListResponse.
    pub fn respond(&self, resources: Vec<Value>) -> Result<Value, ScimError> {
        let mut matched: Vec<Value> = match &self.filter {
            Some(f) => resources.into_iter().filter(|r| filter::matches(f, r)).collect(),
            None => resources,
        };
        if let Some(sort_by) = &self.sort_by {
            let path: scim_v2::filter::AttrPath = format!("{sort_by} pr")
                .parse::<Filter>()
                .ok()
                .and_then(|f| match f {
                    Filter::Attr(scim_v2::filter::AttrExp::Present(p)) => Some(p),
                    _ => None,
                })
                .ok_or_else(|| {
                    ScimError::bad(
                        ScimType::InvalidValue,
                        format!("sortBy {sort_by:?} is not an attribute"),
                    )
                })?;
            let key = |r: &Value| {
                filter::values_at(r, &path).first().map(|v| match v {
                    Value::String(s) => s.to_lowercase(),
                    other => other.to_string(),
                })
            };
            // Resources without the attribute sort last either way (RFC 7644 3.4.2.3).
            matched.sort_by(|a, b| match (key(a), key(b)) {
                (Some(x), Some(y)) if self.descending => y.cmp(&x),
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
        }
        let total = matched.len();
        let page: Vec<Value> = matched
            .into_iter()
            .skip(self.start_index - 1)
            .take(self.count)
            .map(|r| project(r, &self.attributes, &self.excluded))
            .collect();
        Ok(json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": total,
            "startIndex": self.start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        }))
    }
}

/// One name of an `attributes` list: `[urn:]name[.sub]`.
fn split_name(raw: &str) -> (Option<String>, String, Option<String>) {
    let (uri, rest) = if raw.to_ascii_lowercase().starts_with("urn:") {
        match raw.rsplit_once(':') {
            Some((uri, rest)) if !rest.is_empty() => {
                // `urn:...:enterprise:2.0:User` alone names the whole extension.
                if raw.eq_ignore_ascii_case(ENTERPRISE_USER) || raw.eq_ignore_ascii_case(USER) {
                    return (Some(raw.to_string()), String::new(), None);
                }
                (Some(uri.to_string()), rest)
            }
            _ => (None, raw),
        }
    } else {
        (None, raw)
    };
    match rest.split_once('.') {
        Some((name, sub)) => (uri, name.to_string(), Some(sub.to_string())),
        None => (uri, rest.to_string(), None),
    }
}

const ALWAYS: &[&str] = &["id", "schemas"];

/// Applies `attributes` (keep only these, plus those always returned) or `excludedAttributes`.
pub fn project(resource: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Value::Object(mut object) = resource else {
        return resource;
    };
    if !attributes.is_empty() {
        let mut kept = Map::new();
        for (key, value) in &object {
            if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(key)) {
                kept.insert(key.clone(), value.clone());
            }
        }
        for raw in attributes {
            let (uri, name, sub) = split_name(raw);
            let is_ext = uri
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(ENTERPRISE_USER));
            let (source, target_key) = if is_ext {
                match object
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(ENTERPRISE_USER))
                {
                    Some((k, Value::Object(ext))) => (ext.clone(), Some(k.clone())),
                    _ => continue,
                }
            } else {
                (object.clone(), None)
            };
            if name.is_empty() {
                if let Some(k) = target_key {
                    kept.insert(k, Value::Object(source));
                }
                continue;
            }
            let Some((key, value)) = source.iter().find(|(k, _)| k.eq_ignore_ascii_case(&name)) else {
                continue;
            };
            let picked = match &sub {
                None => value.clone(),
                Some(sub) => pick_sub(value, sub),
            };
            let destination = match &target_key {
                Some(ext_key) => kept
                    .entry(ext_key.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut(),
                None => Some(&mut kept),
            };
            if let Some(destination) = destination {
                merge(destination, key, picked);
            }
        }
        object = kept;
    }
    for raw in excluded {
        let (uri, name, sub) = split_name(raw);
        if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(&name)) && uri.is_none() {
            continue;
        }
        let is_ext = uri
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(ENTERPRISE_USER));
        if is_ext && name.is_empty() {
            object.retain(|k, _| !k.eq_ignore_ascii_case(ENTERPRISE_USER));
            continue;
        }
        let target = if is_ext {
            object
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(ENTERPRISE_USER))
                .and_then(|(_, v)| v.as_object_mut())
        } else {
            Some(&mut object)
        };
        let Some(target) = target else { continue };
        match sub {
            None => target.retain(|k, _| !k.eq_ignore_ascii_case(&name)),
            Some(sub) => {
                if let Some((_, value)) = target.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(&name)) {
                    drop_sub(value, &sub);
                }
            }
        }
    }
    Value::Object(object)
}

fn pick_sub(value: &Value, sub: &str) -> Value {
    match value {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(sub))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|i| pick_sub(i, sub)).collect()),
        other => other.clone(),
    }
}

fn drop_sub(value: &mut Value, sub: &str) {
    match value {
        Value::Object(o) => o.retain(|k, _| !k.eq_ignore_ascii_case(sub)),
        Value::Array(items) => items.iter_mut().for_each(|i| drop_sub(i, sub)),
        _ => {}
    }
}

/// Merges a picked sub-attribute into what is kept already (`name.givenName` + `name.familyName`).
fn merge(destination: &mut Map<String, Value>, key: &str, picked: Value) {
    match (destination.get_mut(key), picked) {
        (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
        (Some(Value::Array(existing)), Value::Array(new)) if existing.len() == new.len() => {
            for (e, n) in existing.iter_mut().zip(new) {
                if let (Value::Object(e), Value::Object(n)) = (e, n) {
                    e.extend(n);
                }
            }
        }
        (_, picked) => {
            destination.insert(key.to_string(), picked);
        }
    }
}

/// A cursor the listing refuses, as RFC 9865's `invalidCursor`.
pub fn cursor_error(e: crate::directory::DirectoryError) -> ScimError {
    match e {
        crate::directory::DirectoryError::Invalid { field, detail } if field == "cursor" => {
            ScimError::bad(ScimType::InvalidCursor, detail)
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Value {
        json!({
            "schemas": [USER], "id": "1", "userName": "a", "displayName": "A",
            "name": { "givenName": "G", "familyName": "F", "middleName": "M" },
            "emails": [{ "value": "a@x.io", "type": "work" }],
            ENTERPRISE_USER: { "department": "D", "costCenter": "C" },
            "meta": { "resourceType": "User" }
        })
    }

    #[test]
    fn attributes_keep_only_what_is_named() {
        let out = project(
            user(),
            &[
                "UserName".into(),
                "name.givenName".into(),
                "name.familyName".into(),
            ],
            &[],
        );
        assert_eq!(
            out,
            json!({ "schemas": [USER], "id": "1", "userName": "a", "name": { "givenName": "G", "familyName": "F" } })
        );
        let out = project(
            user(),
            &["emails.value".into(), format!("{ENTERPRISE_USER}:department")],
            &[],
        );
        assert_eq!(out["emails"], json!([{ "value": "a@x.io" }]));
        assert_eq!(out[ENTERPRISE_USER], json!({ "department": "D" }));
    }

    #[test]
    fn excluded_attributes_drop_what_is_named_but_never_id() {
        let out = project(
            user(),
            &[],
            &[
                "name".into(),
                "id".into(),
                "emails.type".into(),
                ENTERPRISE_USER.into(),
            ],
        );
        assert!(out.get("name").is_none());
        assert_eq!(out["id"], "1");
        assert_eq!(out["emails"], json!([{ "value": "a@x.io" }]));
        assert!(out.get(ENTERPRISE_USER).is_none());
    }

    #[test]
    fn paging_is_one_based_and_clamped() {
        let q = |pairs: &[(&str, &str)]| {
            ListParams::from_query(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let p = q(&[("startIndex", "0"), ("count", "-5")]).unwrap();
        assert_eq!((p.start_index, p.count), (1, 0));
        let p = q(&[("count", "100000")]).unwrap();
        assert_eq!(p.count, MAX_COUNT);
        assert_eq!(
            q(&[("count", "x")]).unwrap_err().scim_type,
            Some(ScimType::InvalidValue)
        );
        let resources: Vec<Value> = (0..5)
            .map(|i| json!({ "id": i.to_string(), "userName": format!("u{i}") }))
            .collect();
        let p = q(&[
            ("startIndex", "2"),
            ("count", "2"),
            ("sortBy", "userName"),
            ("sortOrder", "descending"),
        ])
        .unwrap();
        let out = p.respond(resources).unwrap();
        assert_eq!(out["totalResults"], 5);
        assert_eq!(out["itemsPerPage"], 2);
        assert_eq!(out["startIndex"], 2);
        assert_eq!(out["Resources"][0]["userName"], "u3");
    }
}
