//! SCIM PATCH (RFC 7644 3.5.2), applied to a resource's SCIM JSON. The result goes through the
//! same parsing as a PUT body, so PATCH and PUT can't disagree about what a resource means.
//!
//! Besides the RFC, the forms real clients send are accepted: op names in any case (`"Replace"`);
//! no path with a value object whose keys are dotted paths (`"name.givenName"`) or extension URNs;
//! booleans as `"True"`/`"False"` (left to the parser); a replace or add on
//! `emails[type eq "work"].value` when no such email exists yet (the element is created from the
//! filter's equalities); member removal with `path: "members"` and a value list; multi-valued adds
//! that never duplicate.

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, PatchPath, ValFilter};
use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::filter::val_filter;
use super::schema::{ENTERPRISE_USER, USER};
use super::user_resource::member;

pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub kind: OpKind,
    pub path: Option<PatchPath>,
    pub raw_path: Option<String>,
    pub value: Option<Value>,
}

/// Parses and checks a PatchOp body before anything is read or written.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "a PatchOp must be a JSON object",
        ));
    };
    let Some(Value::Array(ops)) = member(body, "Operations") else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "a PatchOp needs an Operations list",
        ));
    };
    if ops.is_empty() {
        return Err(ScimError::bad(ScimType::InvalidSyntax, "Operations is empty"));
    }
    ops.iter().map(parse_operation).collect()
}

fn parse_operation(op: &Value) -> Result<Operation, ScimError> {
    let Value::Object(op) = op else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "each operation must be an object",
        ));
    };
    let kind = match member(op, "op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("add") => OpKind::Add,
        Some("replace") => OpKind::Replace,
        Some("remove") => OpKind::Remove,
        other => {
            return Err(ScimError::bad(
                ScimType::InvalidSyntax,
                format!("op must be add, replace or remove, not {other:?}"),
            ));
        }
    };
    let raw_path = match member(op, "path") {
        None => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(p.trim().to_string()),
        Some(_) => return Err(ScimError::bad(ScimType::InvalidPath, "path must be a string")),
    };
    let path = raw_path.as_deref().map(parse_path).transpose()?;
    let value = member(op, "value").cloned();
    if kind != OpKind::Remove && value.is_none() {
        return Err(ScimError::bad(
            ScimType::InvalidValue,
            "add and replace need a value",
        ));
    }
    if kind == OpKind::Remove && path.is_none() {
        return Err(ScimError::bad(ScimType::NoTarget, "remove needs a path"));
    }
    if let Some(PatchPath::Attr(a) | PatchPath::Value(scim_v2::filter::PatchValuePath { attr: a, .. })) =
        &path
        && a.uri.is_none()
        && ["id", "meta", "schemas"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&a.name))
    {
        return Err(ScimError::bad(
            ScimType::Mutability,
            format!("{} is read-only", a.name),
        ));
    }
    Ok(Operation {
        kind,
        path,
        raw_path,
        value,
    })
}

fn parse_path(raw: &str) -> Result<PatchPath, ScimError> {
    raw.parse::<PatchPath>()
        .map_err(|e| ScimError::bad(ScimType::InvalidPath, format!("invalid path {raw:?}: {e}")))
}

/// Applies the operations in order to `resource`.
pub fn apply(resource: &mut Value, operations: &[Operation]) -> Result<(), ScimError> {
    for op in operations {
        match &op.path {
            None => apply_pathless(resource, op)?,
            Some(path) => apply_path(resource, op.kind, path, op.value.as_ref(), op.raw_path.as_deref())?,
        }
    }
    Ok(())
}

/// add/replace without a path: each member of the value object is an attribute (or a dotted path,
/// or an extension URN with an object of its attributes).
fn apply_pathless(resource: &mut Value, op: &Operation) -> Result<(), ScimError> {
    let Some(Value::Object(values)) = &op.value else {
        return Err(ScimError::bad(
            ScimType::InvalidValue,
            "without a path, the value must be an object",
        ));
    };
    for (key, value) in values {
        if key.eq_ignore_ascii_case(ENTERPRISE_USER) || key.eq_ignore_ascii_case(USER) {
            let Value::Object(inner) = value else {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("{key} must be an object"),
                ));
            };
            let uri = if key.eq_ignore_ascii_case(USER) {
                USER
            } else {
                ENTERPRISE_USER
            };
            for (name, v) in inner {
                let path = parse_path(&format!("{uri}:{name}"))?;
                apply_path(resource, op.kind, &path, Some(v), Some(name))?;
            }
            continue;
        }
        if ["id", "meta", "schemas"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(key))
        {
            // Read-only members of a whole-resource value are ignored, as in a PUT body.
            continue;
        }
        let path = parse_path(key)?;
        apply_path(resource, op.kind, &path, Some(value), Some(key))?;
    }
    Ok(())
}

/// The object an attribute path lives in: the resource or its enterprise extension.
fn container<'a>(
    resource: &'a mut Value,
    attr: &AttrPath,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, ScimError> {
    let Value::Object(root) = resource else {
        return Err(ScimError::new(500, None, "resource is not an object"));
    };
    // An unqualified enterprise attribute (`"path": "manager"`, as Entra ID sends it) lives in the
    // extension.
    let unqualified_enterprise = attr.uri.is_none()
        && super::schema::find(super::schema::USER_ATTRIBUTES, &attr.name).is_none()
        && super::schema::find(super::schema::ENTERPRISE_ATTRIBUTES, &attr.name).is_some();
    let uri = if unqualified_enterprise {
        Some(ENTERPRISE_USER)
    } else {
        attr.uri.as_deref()
    };
    match uri {
        None => Ok(Some(root)),
        Some(u) if u.eq_ignore_ascii_case(USER) => Ok(Some(root)),
        Some(u) if u.eq_ignore_ascii_case(ENTERPRISE_USER) => {
            let key = root
                .keys()
                .find(|k| k.eq_ignore_ascii_case(ENTERPRISE_USER))
                .cloned();
            match key {
                Some(k) => Ok(root.get_mut(&k).and_then(Value::as_object_mut)),
                None if create => {
                    root.insert(ENTERPRISE_USER.to_string(), Value::Object(Map::new()));
                    Ok(root.get_mut(ENTERPRISE_USER).and_then(Value::as_object_mut))
                }
                None => Ok(None),
            }
        }
        Some(other) => Err(ScimError::bad(
            ScimType::InvalidPath,
            format!("unknown schema {other}"),
        )),
    }
}

/// The existing key matching `name` case-insensitively, or `name`.
fn key_for(object: &Map<String, Value>, name: &str) -> String {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn is_multi(name: &str, existing: Option<&Value>) -> bool {
    matches!(existing, Some(Value::Array(_)))
        || super::schema::find(super::schema::USER_ATTRIBUTES, name).is_some_and(|a| a.multi)
        || name.eq_ignore_ascii_case("members")
}

/// The extension URN itself as a path (`urn:...:enterprise:2.0:User`): the parser reads its last
/// segment as an attribute name.
fn names_whole_extension(path: &PatchPath) -> bool {
    match path {
        PatchPath::Attr(a) => {
            a.sub_attr.is_none()
                && a.uri
                    .as_deref()
                    .is_some_and(|u| format!("{u}:{}", a.name).eq_ignore_ascii_case(ENTERPRISE_USER))
        }
        PatchPath::Value(_) => false,
    }
}

fn apply_path(
    resource: &mut Value,
    kind: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    raw: Option<&str>,
) -> Result<(), ScimError> {
    let raw = raw.unwrap_or("");
    if names_whole_extension(path) {
        let Value::Object(root) = resource else {
            return Ok(());
        };
        let key = key_for(root, ENTERPRISE_USER);
        match (kind, value) {
            (OpKind::Remove, _) => {
                root.remove(&key);
            }
            (_, Some(Value::Object(values))) => {
                let ext = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
                if !ext.is_object() {
                    *ext = Value::Object(Map::new());
                }
                if let Value::Object(ext) = ext {
                    for (k, v) in values {
                        let k = key_for(ext, k);
                        ext.insert(k, v.clone());
                    }
                }
            }
            _ => {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("{ENTERPRISE_USER} takes an object"),
                ));
            }
        }
        return Ok(());
    }
    match path {
        PatchPath::Attr(attr) => {
            let Some(object) = container(resource, attr, kind != OpKind::Remove)? else {
                return Ok(());
            };
            let key = key_for(object, &attr.name);
            match (&attr.sub_attr, kind) {
                (None, OpKind::Remove) => match value {
                    // `remove members` with a value list: remove just those (Entra ID's form).
                    Some(Value::Array(items)) if is_multi(&attr.name, object.get(&key)) => {
                        if let Some(Value::Array(existing)) = object.get_mut(&key) {
                            existing.retain(|e| !items.iter().any(|i| same_element(e, i)));
                        }
                    }
                    _ => {
                        object.remove(&key);
                    }
                },
                (None, OpKind::Add) if is_multi(&attr.name, object.get(&key)) => {
                    let incoming = match value {
                        Some(Value::Array(items)) => items.clone(),
                        Some(v) => vec![v.clone()],
                        None => Vec::new(),
                    };
                    let list = object.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                    if !list.is_array() {
                        *list = Value::Array(Vec::new());
                    }
                    if let Value::Array(existing) = list {
                        for item in incoming {
                            add_element(existing, item);
                        }
                    }
                }
                (None, OpKind::Add | OpKind::Replace) => {
                    let value = value.cloned().unwrap_or(Value::Null);
                    match (object.get_mut(&key), value) {
                        // A complex attribute: the given sub-attributes replace, the rest stay.
                        (Some(Value::Object(existing)), Value::Object(new)) => {
                            for (k, v) in new {
                                let k = key_for(existing, &k);
                                existing.insert(k, v);
                            }
                        }
                        (_, value) => {
                            object.insert(key, value);
                        }
                    }
                }
                (Some(sub), kind) => {
                    let target = object.entry(key).or_insert_with(|| Value::Object(Map::new()));
                    set_sub(target, sub, kind, value);
                }
            }
            Ok(())
        }
        PatchPath::Value(vp) => {
            let Some(object) = container(resource, &vp.attr, kind != OpKind::Remove)? else {
                return Ok(());
            };
            let key = key_for(object, &vp.attr.name);
            let list = object
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(vec![list.clone()]);
            }
            let Value::Array(elements) = list else {
                return Ok(());
            };
            let matching: Vec<usize> = (0..elements.len())
                .filter(|i| val_filter(&vp.filter, &elements[*i], &vp.attr))
                .collect();
            match kind {
                OpKind::Remove => {
                    match &vp.sub_attr {
                        Some(sub) => matching
                            .iter()
                            .for_each(|i| set_sub(&mut elements[*i], sub, OpKind::Remove, None)),
                        None => {
                            let mut i = 0;
                            elements.retain(|_| {
                                let keep = !matching.contains(&i);
                                i += 1;
                                keep
                            });
                        }
                    }
                    if elements.is_empty() {
                        object.remove(&key);
                    }
                }
                OpKind::Add | OpKind::Replace if matching.is_empty() => {
                    // No such element yet: build it from the filter's equalities (Entra ID sends
                    // `replace emails[type eq "work"].value` for a user without a work email).
                    let Some(mut element) = element_from_filter(&vp.filter) else {
                        return Err(ScimError::bad(
                            ScimType::NoTarget,
                            format!("{raw} matches no value"),
                        ));
                    };
                    match &vp.sub_attr {
                        Some(sub) => set_sub(&mut element, sub, OpKind::Replace, value),
                        None => merge_into(&mut element, value),
                    }
                    elements.push(element);
                }
                OpKind::Add | OpKind::Replace => {
                    for i in matching {
                        match &vp.sub_attr {
                            Some(sub) => set_sub(&mut elements[i], sub, OpKind::Replace, value),
                            None if kind == OpKind::Replace => match value {
                                Some(v @ Value::Object(_)) => elements[i] = v.clone(),
                                other => merge_into(&mut elements[i], other),
                            },
                            None => merge_into(&mut elements[i], value),
                        }
                    }
                }
            }
            Ok(())
        }
    }
}

fn set_sub(target: &mut Value, sub: &str, kind: OpKind, value: Option<&Value>) {
    match target {
        Value::Array(items) => items.iter_mut().for_each(|i| set_sub(i, sub, kind, value)),
        Value::Object(o) => {
            let key = key_for(o, sub);
            match (kind, value) {
                (OpKind::Remove, _) | (_, None) => {
                    o.remove(&key);
                }
                (_, Some(v)) => {
                    o.insert(key, v.clone());
                }
            }
        }
        other => {
            if kind != OpKind::Remove
                && let Some(v) = value
            {
                let mut o = Map::new();
                o.insert(sub.to_string(), v.clone());
                *other = Value::Object(o);
            }
        }
    }
}

fn merge_into(element: &mut Value, value: Option<&Value>) {
    match (element, value) {
        (Value::Object(e), Some(Value::Object(v))) => {
            for (k, val) in v {
                let k = key_for(e, k);
                e.insert(k, val.clone());
            }
        }
        (e, Some(v)) => *e = v.clone(),
        (_, None) => {}
    }
}

/// `type eq "work" and primary eq true` -> `{"type": "work", "primary": true}`.
fn element_from_filter(filter: &ValFilter) -> Option<Value> {
    let mut out = Map::new();
    fn collect(filter: &ValFilter, out: &mut Map<String, Value>) -> bool {
        match filter {
            ValFilter::Attr(AttrExp::Comparison(path, CompareOp::Eq, value)) if path.sub_attr.is_none() => {
                let v = match value {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::True => Value::Bool(true),
                    CompValue::False => Value::Bool(false),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return false,
                };
                out.insert(path.name.clone(), v);
                true
            }
            ValFilter::And(ops) => ops.as_slice().iter().all(|f| collect(f, out)),
            _ => false,
        }
    }
    collect(filter, &mut out).then_some(Value::Object(out))
}

/// Two values of a multi-valued attribute are the same element when their `value`s are equal
/// (or, without a `value`, when they are equal as a whole).
fn same_element(a: &Value, b: &Value) -> bool {
    let value = |v: &Value| match v {
        Value::Object(o) => member(o, "value").cloned(),
        other => Some(other.clone()),
    };
    match (value(a), value(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Adds without duplicating; an element marked primary makes the others non-primary.
fn add_element(existing: &mut Vec<Value>, item: Value) {
    let primary = item.get("primary").is_some_and(|p| {
        p == &Value::Bool(true) || p.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
    });
    if primary {
        for e in existing.iter_mut() {
            if let Value::Object(o) = e {
                o.remove("primary");
            }
        }
    }
    match existing.iter_mut().find(|e| same_element(e, &item)) {
        Some(found) => merge_into(found, Some(&item)),
        None => existing.push(item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(resource: Value, body: Value) -> Result<Value, ScimError> {
        let ops = parse(&body)?;
        let mut resource = resource;
        apply(&mut resource, &ops)?;
        Ok(resource)
    }

    fn ops(list: Value) -> Value {
        json!({ "schemas": [PATCH_OP], "Operations": list })
    }

    #[test]
    fn entra_id_forms() {
        let user = json!({ "userName": "a", "active": true, "emails": [{ "value": "a@x.io", "type": "work", "primary": true }] });
        let out = run(
            user.clone(),
            ops(json!([
                { "op": "Replace", "path": "active", "value": "False" },
                { "op": "Add", "path": "emails[type eq \"work\"].value", "value": "new@x.io" },
                { "op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555" },
                { "op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-1" },
                { "op": "Add", "path": "name.givenName", "value": "Ann" }
            ])),
        )
        .unwrap();
        assert_eq!(out["active"], "False");
        assert_eq!(
            out["emails"],
            json!([{ "value": "new@x.io", "type": "work", "primary": true }])
        );
        assert_eq!(out["phoneNumbers"], json!([{ "type": "mobile", "value": "555" }]));
        assert_eq!(out[ENTERPRISE_USER]["manager"], "m-1");
        assert_eq!(out["name"]["givenName"], "Ann");
        let out = run(
            out,
            ops(json!([{ "op": "add", "path": ENTERPRISE_USER, "value": { "costCenter": "C1" } }])),
        )
        .unwrap();
        assert_eq!(
            out[ENTERPRISE_USER],
            json!({ "manager": "m-1", "costCenter": "C1" })
        );
        let out = run(out, ops(json!([{ "op": "remove", "path": ENTERPRISE_USER }]))).unwrap();
        assert!(out.get(ENTERPRISE_USER).is_none());
    }

    #[test]
    fn okta_and_pathless_forms() {
        let user = json!({ "userName": "a", "name": { "givenName": "A", "familyName": "B" } });
        let out = run(
            user,
            ops(json!([
                { "op": "replace", "value": { "name.givenName": "Z", "DisplayName": "Zed",
                  ENTERPRISE_USER: { "department": "D" }, "id": "ignored" } },
                { "op": "add", "value": { "emails": [{ "value": "z@x.io", "type": "work" }] } },
                { "op": "add", "path": "emails", "value": [{ "value": "z@x.io", "type": "work" }] }
            ])),
        )
        .unwrap();
        assert_eq!(out["name"], json!({ "givenName": "Z", "familyName": "B" }));
        assert_eq!(out["DisplayName"], "Zed");
        assert_eq!(out[ENTERPRISE_USER]["department"], "D");
        assert_eq!(out["emails"].as_array().unwrap().len(), 1, "adds never duplicate");
        assert!(out.get("id").is_none());
    }

    #[test]
    fn removals() {
        let user = json!({ "userName": "a", "title": "T",
            "emails": [{ "value": "a@x.io", "type": "work" }, { "value": "b@x.io", "type": "home" }],
            "members": [{ "value": "1" }, { "value": "2" }, { "value": "3" }] });
        let out = run(
            user,
            ops(json!([
                { "op": "remove", "path": "title" },
                { "op": "remove", "path": "emails[type eq \"home\"]" },
                { "op": "remove", "path": "members", "value": [{ "value": "2" }] },
                { "op": "remove", "path": "members[value eq \"3\"]" },
                { "op": "remove", "path": "nickName" }
            ])),
        )
        .unwrap();
        assert!(out.get("title").is_none());
        assert_eq!(out["emails"], json!([{ "value": "a@x.io", "type": "work" }]));
        assert_eq!(out["members"], json!([{ "value": "1" }]));
    }

    #[test]
    fn errors_carry_the_right_scim_type() {
        let user = json!({ "userName": "a" });
        let kind = |body: Value| run(user.clone(), body).unwrap_err().scim_type;
        assert_eq!(kind(json!({ "Operations": "x" })), Some(ScimType::InvalidSyntax));
        assert_eq!(
            kind(ops(json!([{ "op": "move", "path": "a" }]))),
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(
            kind(ops(
                json!([{ "op": "add", "path": "emails[type eq", "value": 1 }])
            )),
            Some(ScimType::InvalidPath)
        );
        assert_eq!(kind(ops(json!([{ "op": "remove" }]))), Some(ScimType::NoTarget));
        assert_eq!(
            kind(ops(json!([{ "op": "replace", "path": "id", "value": "x" }]))),
            Some(ScimType::Mutability)
        );
        assert_eq!(
            kind(ops(json!([{ "op": "add", "path": "title" }]))),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            kind(ops(
                json!([{ "op": "replace", "path": "emails[type co \"w\"]", "value": { "value": "x@y.z" } }])
            )),
            Some(ScimType::NoTarget)
        );
    }
}
