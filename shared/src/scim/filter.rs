//! SCIM filters (RFC 7644 3.4.2.2): parsed by the `scim_v2` crate, evaluated here against a
//! resource's SCIM JSON, with attribute names matched case-insensitively and string comparisons
//! case-insensitive unless the schema makes the attribute case-exact.

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};
use serde_json::Value;

use super::error::{ScimError, ScimType};
use super::schema::{ENTERPRISE_USER, USER, user_case_exact};
use super::user_resource::member;

pub fn parse(raw: &str) -> Result<Filter, ScimError> {
    raw.parse::<Filter>()
        .map_err(|e| ScimError::bad(ScimType::InvalidFilter, format!("invalid filter {raw:?}: {e}")))
}

pub fn matches(filter: &Filter, resource: &Value) -> bool {
    match filter {
        Filter::Attr(exp) => attr_exp(exp, resource, None),
        Filter::ValuePath(vp) => elements_at(resource, &vp.attr)
            .iter()
            .any(|element| val_filter(&vp.filter, element, &vp.attr)),
        Filter::Not(inner) => !matches(inner, resource),
        Filter::And(operands) => operands.as_slice().iter().all(|f| matches(f, resource)),
        Filter::Or(operands) => operands.as_slice().iter().any(|f| matches(f, resource)),
    }
}

/// A filter inside `attr[...]`, evaluated against one element of the multi-valued attribute.
pub fn val_filter(filter: &ValFilter, element: &Value, parent: &AttrPath) -> bool {
    match filter {
        ValFilter::Attr(exp) => attr_exp(exp, element, Some(parent)),
        ValFilter::Not(inner) => !val_filter(inner, element, parent),
        ValFilter::And(ops) => ops.as_slice().iter().all(|f| val_filter(f, element, parent)),
        ValFilter::Or(ops) => ops.as_slice().iter().any(|f| val_filter(f, element, parent)),
    }
}

fn attr_exp(exp: &AttrExp, target: &Value, parent: Option<&AttrPath>) -> bool {
    let (path, found) = match exp {
        AttrExp::Present(path) | AttrExp::Comparison(path, _, _) => (path, lookup(target, path, parent)),
    };
    match exp {
        AttrExp::Present(_) => found.iter().any(|v| present(v)),
        AttrExp::Comparison(_, op, value) => {
            let case_exact = match parent {
                Some(p) => user_case_exact(p.uri.as_deref(), &p.name, Some(&path.name)),
                None => user_case_exact(path.uri.as_deref(), &path.name, path.sub_attr.as_deref()),
            };
            match op {
                CompareOp::Ne => !found
                    .iter()
                    .any(|v| compare(v, &CompareOp::Eq, value, case_exact)),
                _ => found.iter().any(|v| compare(v, op, value, case_exact)),
            }
        }
    }
}

fn lookup<'a>(target: &'a Value, path: &AttrPath, parent: Option<&AttrPath>) -> Vec<&'a Value> {
    if parent.is_some() {
        // Inside a value path the names are sub-attributes of the element.
        let Value::Object(o) = target else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(v) = member(o, &path.name) {
            match &path.sub_attr {
                Some(sub) => flatten_into(v, Some(sub), &mut out),
                None => flatten_into(v, None, &mut out),
            }
        }
        return out;
    }
    values_at(target, path)
}

/// The elements of a (multi-valued, complex) attribute, as objects.
fn elements_at<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let whole = AttrPath {
        uri: path.uri.clone(),
        name: path.name.clone(),
        sub_attr: None,
    };
    match attribute(resource, &whole) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(value) => vec![value],
        None => Vec::new(),
    }
}

/// Every value at `path` in a resource, arrays flattened.
pub fn values_at<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let mut out = Vec::new();
    if let Some(value) = attribute(resource, path) {
        flatten_into(value, path.sub_attr.as_deref(), &mut out);
    }
    out
}

/// The attribute `path` names (its sub-attribute aside), core or enterprise.
fn attribute<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    let Value::Object(root) = resource else {
        return None;
    };
    let base = match path.uri.as_deref() {
        None => Some(root),
        Some(uri) if uri.eq_ignore_ascii_case(USER) => Some(root),
        Some(uri) if uri.eq_ignore_ascii_case(ENTERPRISE_USER) => match member(root, ENTERPRISE_USER) {
            Some(Value::Object(ext)) => Some(ext),
            _ => None,
        },
        Some(_) => None,
    };
    let base = base?;
    member(base, &path.name).or_else(|| {
        // An unqualified enterprise attribute (`department eq "x"`).
        if path.uri.is_none() {
            match member(root, ENTERPRISE_USER) {
                Some(Value::Object(ext)) => member(ext, &path.name),
                _ => None,
            }
        } else {
            None
        }
    })
}

fn flatten_into<'a>(value: &'a Value, sub: Option<&str>, out: &mut Vec<&'a Value>) {
    match (value, sub) {
        (Value::Array(items), _) => items.iter().for_each(|i| flatten_into(i, sub, out)),
        (Value::Object(o), Some(sub)) => {
            if let Some(v) = member(o, sub) {
                flatten_into(v, None, out);
            }
        }
        // `emails eq "x"` compares against the `value` sub-attribute (RFC 7644 3.4.2.2).
        (Value::Object(o), None) => match member(o, "value") {
            Some(v) => out.push(v),
            None => out.push(value),
        },
        (v, None) => out.push(v),
        (_, Some(_)) => {}
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(value: &Value, op: &CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    use std::cmp::Ordering;
    match (value, expected) {
        (Value::String(actual), CompValue::Str(wanted)) => {
            let (a, w) = if case_exact {
                (actual.clone(), wanted.clone())
            } else {
                (actual.to_lowercase(), wanted.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == w,
                CompareOp::Ne => a != w,
                CompareOp::Co => a.contains(&w),
                CompareOp::Sw => a.starts_with(&w),
                CompareOp::Ew => a.ends_with(&w),
                CompareOp::Gt => a > w,
                CompareOp::Ge => a >= w,
                CompareOp::Lt => a < w,
                CompareOp::Le => a <= w,
            }
        }
        (Value::Bool(actual), CompValue::True | CompValue::False) => {
            let wanted = matches!(expected, CompValue::True);
            match op {
                CompareOp::Eq => *actual == wanted,
                CompareOp::Ne => *actual != wanted,
                _ => false,
            }
        }
        // Booleans sent as strings ("True") by some clients, compared as booleans.
        (Value::String(actual), CompValue::True | CompValue::False) => {
            let wanted = matches!(expected, CompValue::True);
            let actual = actual.eq_ignore_ascii_case("true");
            matches!(op, CompareOp::Eq) && actual == wanted
        }
        (Value::Number(actual), CompValue::Number(wanted)) => {
            let (Some(a), Some(w)) = (actual.as_f64(), wanted.as_f64()) else {
                return false;
            };
            let ordering = a.partial_cmp(&w);
            match op {
                CompareOp::Eq => ordering == Some(Ordering::Equal),
                CompareOp::Ne => ordering != Some(Ordering::Equal),
                CompareOp::Gt => ordering == Some(Ordering::Greater),
                CompareOp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
                CompareOp::Lt => ordering == Some(Ordering::Less),
                CompareOp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                _ => false,
            }
        }
        (Value::Null, CompValue::Null) => matches!(op, CompareOp::Eq),
        _ => false,
    }
}

/// When a filter is a single equality on an attribute an index answers, which one and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indexed {
    Id(String),
    UserName(String),
    DisplayName(String),
    ExternalId(String),
}

/// An `and` uses the first of its operands an index answers: the others are evaluated on what
/// that lookup returns (`id eq "g" and members[value eq "u"]`, as Entra ID asks).
pub fn indexed(filter: &Filter) -> Option<Indexed> {
    if let Filter::And(operands) = filter {
        return operands.as_slice().iter().find_map(indexed);
    }
    let Filter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(value))) = filter else {
        return None;
    };
    if path.sub_attr.is_some() || path.uri.as_deref().is_some_and(|u| !u.eq_ignore_ascii_case(USER)) {
        return None;
    }
    let name = path.name.as_str();
    if name.eq_ignore_ascii_case("id") {
        Some(Indexed::Id(value.clone()))
    } else if name.eq_ignore_ascii_case("userName") {
        Some(Indexed::UserName(value.clone()))
    } else if name.eq_ignore_ascii_case("displayName") {
        Some(Indexed::DisplayName(value.clone()))
    } else if name.eq_ignore_ascii_case("externalId") {
        Some(Indexed::ExternalId(value.clone()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [USER, ENTERPRISE_USER],
            "id": "2819c223", "externalId": "Ext-1", "userName": "Bjensen", "active": true,
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "emails": [
                { "value": "bjensen@example.com", "type": "work", "primary": true },
                { "value": "babs@jensen.org", "type": "home" }
            ],
            ENTERPRISE_USER: { "department": "Tour Operations", "manager": { "value": "26118915" } },
            "meta": { "created": "2026-01-01T00:00:00Z" }
        })
    }

    fn check(filter: &str) -> bool {
        matches(&parse(filter).expect(filter), &user())
    }

    #[test]
    fn evaluates_the_rfc_examples() {
        assert!(check(r#"userName eq "bjensen""#));
        assert!(check(r#"UserName Eq "BJENSEN""#));
        assert!(!check(r#"externalId eq "ext-1""#), "externalId is case-exact");
        assert!(check(r#"externalId eq "Ext-1""#));
        assert!(check(r#"name.familyName co "ens""#));
        assert!(check(r#"userName sw "bj""#));
        assert!(check(r#"emails[type eq "work" and value co "@example.com"]"#));
        assert!(check(r#"emails[type eq "work" and primary eq true]"#));
        assert!(!check(r#"emails[type eq "home" and primary eq true]"#));
        assert!(check(r#"emails co "jensen.org""#));
        assert!(check(r#"emails.type eq "home""#));
        assert!(check(r#"title pr or userName pr"#));
        assert!(!check(r#"title pr"#));
        assert!(check(r#"not (userName eq "x")"#));
        assert!(check(r#"meta.created gt "2025-12-31T00:00:00Z""#));
        assert!(check(
            r#"active eq true and (userName eq "x" or name.givenName eq "barbara")"#
        ));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#
        ));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#
        ));
        assert!(check(r#"userName ne "x""#));
        assert!(!check(r#"emails.type ne "home""#));
    }

    #[test]
    fn plans_indexed_lookups() {
        let plan = |f: &str| indexed(&parse(f).expect(f));
        assert_eq!(plan(r#"userName eq "a""#), Some(Indexed::UserName("a".into())));
        assert_eq!(
            plan(r#"externalId eq "a""#),
            Some(Indexed::ExternalId("a".into()))
        );
        assert_eq!(plan(r#"id eq "a""#), Some(Indexed::Id("a".into())));
        assert_eq!(plan(r#"userName co "a""#), None);
        assert_eq!(
            plan(r#"userName eq "a" and active eq true"#),
            Some(Indexed::UserName("a".into()))
        );
        assert_eq!(
            plan(r#"active eq true and id eq "g""#),
            Some(Indexed::Id("g".into()))
        );
        assert_eq!(plan(r#"userName eq "a" or active eq true"#), None);
    }

    #[test]
    fn bad_filters_are_invalid_filter_errors() {
        for raw in ["userName eq", "(", "userName zz \"x\"", "emails[type eq \"work\""] {
            let err = parse(raw).expect_err(raw);
            assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidFilter)));
        }
    }
}
