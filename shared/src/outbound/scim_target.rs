//! What a SCIM target app is sent (issue 17), with no I/O: the SCIM User resource of a directory
//! user (the ingress's own mapping, read the other way), the requests of each provisioning step,
//! and the PATCH operations that carry only what changed since the link's snapshot (what the
//! target was last sent).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::event_config::EventConfig;
use crate::connector::request::{HttpMethod, Rendered, RenderedBody, RequestTemplate};
use crate::connector::template::url_value;
use crate::directory::apps::App;
use crate::directory::change::ChangeKind;
use crate::directory::scim_target::{ScimTarget, Supports};
use crate::directory::users::User;
use crate::scim::schema::{ENTERPRISE_USER, USER};

pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The steps a SCIM target takes, as the dispatcher's event configs: what the reconcile decides
/// with and which authorization each call carries. Their requests only describe the calls (for
/// the API's listing); the SCIM requests themselves are built here, per step.
pub fn event_configs(app: &App, target: &ScimTarget) -> HashMap<ChangeKind, EventConfig> {
    let users = format!("{}/Users", target.base_url);
    let one = format!("{users}/@ExternalUserId");
    let groups = format!("{}/Groups/@group.id", target.base_url);
    // Members are pushed as PATCH add and remove only (a PUT of a group would drop the members
    // the target added itself), so only to a service with PATCH and Groups.
    let push_groups = target.supports.as_ref().is_none_or(|s| s.patch && s.groups);
    let mut kinds = vec![
        (ChangeKind::UserCreated, HttpMethod::Post, &users),
        (ChangeKind::UserUpdated, HttpMethod::Patch, &one),
        (ChangeKind::UserDeactivated, HttpMethod::Patch, &one),
        (ChangeKind::UserDeleted, HttpMethod::Delete, &one),
    ];
    if push_groups {
        kinds.push((ChangeKind::MemberAdded, HttpMethod::Patch, &groups));
        kinds.push((ChangeKind::MemberRemoved, HttpMethod::Patch, &groups));
        // A group's own changes: they carry the same authorization.
        kinds.push((ChangeKind::GroupRenamed, HttpMethod::Patch, &groups));
        kinds.push((ChangeKind::GroupDeleted, HttpMethod::Delete, &groups));
    }
    kinds
        .into_iter()
        .map(|(kind, method, url)| {
            let config = EventConfig {
                app_id: app.id.clone(),
                kind,
                enabled: true,
                request: RequestTemplate {
                    method,
                    url: url.clone(),
                    headers: Default::default(),
                    body: None,
                    body_format: Default::default(),
                },
                auth_id: target.auth_id.clone(),
                external_id_path: Some("id".into()),
                lookup: None,
                version: app.version,
                created: app.created.clone(),
                last_modified: app.last_modified.clone(),
            };
            (kind, config)
        })
        .collect()
}
/// What a target's account is found by when a user enters its scope, in order: the directory
/// id an earlier link sent, then the userName.
pub const LOOKUPS: [&str; 2] = ["externalId", "userName"];
/// Attributes a source app grants (roles, entitlements, certificates), not sent by default.
const SOURCE_GRANTS: &[&str] = &["roles", "entitlements", "x509Certificates"];
/// Longest account id taken from a target (an id is stored in the link and put in URLs).
const MAX_ACCOUNT_ID: usize = 1024;

/// The SCIM User resource `app` gets for `user`: userName, name, displayName, emails, active,
/// the other core and enterprise attributes the directory keeps, `externalId` the directory
/// user's id, then the app's mapping entries on top. No `id` and `meta` (the target's own) and
/// no enterprise `manager` (its value would be a directory id, which the target doesn't know).
pub fn resource(user: &User, app: &App) -> Value {
    let mut out = crate::scim::user_resource::render(user, &app.id, "");
    if let Value::Object(o) = &mut out {
        o.remove("id");
        o.remove("meta");
        // A source's grants are its own: they reach a target only through a mapping entry.
        for grant in SOURCE_GRANTS {
            o.remove(*grant);
        }
        o.insert("externalId".into(), json!(user.id));
        // The ingress may leave `active` out for a source that never sent it; a target is told.
        o.insert("active".into(), json!(user.active));
        let empty = match o.get_mut(ENTERPRISE_USER) {
            Some(Value::Object(ext)) => {
                ext.remove("manager");
                ext.is_empty()
            }
            _ => false,
        };
        if empty {
            o.remove(ENTERPRISE_USER);
            o.insert("schemas".into(), json!([USER]));
        }
    }
    if let Some(mapping) = &app.scim_mapping {
        mapping.outbound_user(user, &mut out);
    }
    out
}

/// The resource a link's snapshot (the user as last sent) stood for; empty when the link has
/// none (an account found by a lookup: everything is sent).
pub fn sent_before(snapshot: &Value, app: &App) -> Value {
    match serde_json::from_value::<User>(snapshot.clone()) {
        Ok(user) => resource(&user, app),
        Err(_) => Value::Object(Map::new()),
    }
}

/// Attributes that are the target's or the envelope's, never compared.
const NOT_COMPARED: &[&str] = &["schemas", "id", "meta"];

/// PATCH operations that turn `old` into `new`: per attribute, and per sub-attribute of `name`
/// and of schema extensions (a changed given name is one `replace` of `name.givenName`);
/// multi-valued attributes are replaced whole. Empty when nothing the target is sent changed.
pub fn patch_operations(old: &Value, new: &Value) -> Vec<Value> {
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut ops = Vec::new();
    for key in keys {
        if NOT_COMPARED.contains(&key.as_str()) {
            continue;
        }
        let (before, after) = (old.get(key), new.get(key));
        if before == after {
            continue;
        }
        let extension = key.starts_with("urn:");
        let complex = key == "name" || extension;
        match (before, after) {
            (b, Some(Value::Object(a))) if complex => {
                let b = b.and_then(Value::as_object).unwrap_or(&empty);
                let sep = if extension { ":" } else { "." };
                let mut subs: Vec<&String> = b.keys().chain(a.keys()).collect();
                subs.sort();
                subs.dedup();
                for sub in subs {
                    let path = format!("{key}{sep}{sub}");
                    match (b.get(sub), a.get(sub)) {
                        (x, y) if x == y => {}
                        (_, Some(v)) => ops.push(op("replace", &path, Some(v))),
                        (Some(_), None) => ops.push(op("remove", &path, None)),
                        (None, None) => {}
                    }
                }
            }
            (Some(Value::Object(b)), None) if extension => {
                // `remove` of a schema URN would read as an attribute `User` of schema
                // `...:2.0`: its sub-attributes go one by one.
                for sub in b.keys() {
                    ops.push(op("remove", &format!("{key}:{sub}"), None));
                }
            }
            (_, Some(v)) => ops.push(op("replace", key, Some(v))),
            (Some(_), None) => ops.push(op("remove", key, None)),
            (None, None) => {}
        }
    }
    ops
}

fn op(kind: &str, path: &str, value: Option<&Value>) -> Value {
    match value {
        Some(v) => json!({ "op": kind, "path": path, "value": v }),
        None => json!({ "op": kind, "path": path }),
    }
}

fn request(method: HttpMethod, url: String, body: Option<Value>) -> Rendered {
    Rendered {
        method,
        url,
        headers: vec![("accept".into(), "application/scim+json, application/json".into())],
        body: body.map(RenderedBody::Json),
    }
}

fn user_url(target: &ScimTarget, account: &str) -> String {
    format!("{}/Users/{}", target.base_url, url_value(account))
}

/// A search for the account whose `attribute` is `value`.
pub fn lookup(target: &ScimTarget, attribute: &str, value: &str) -> Rendered {
    request(
        HttpMethod::Get,
        format!(
            "{}/Users?filter={}",
            target.base_url,
            url_value(&eq_filter(attribute, value))
        ),
        None,
    )
}

/// `attribute eq "value"`, the value's quotes and backslashes escaped.
fn eq_filter(attribute: &str, value: &str) -> String {
    let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{attribute} eq \"{quoted}\"")
}

/// What a lookup's answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    One(String),
    None,
    /// More than one account matches: linking any of them would be a guess.
    Many(u64),
}

/// A member of a SCIM object by name, case-insensitively (RFC 7643 2.1).
fn member<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value
        .as_object()
        .and_then(|o| crate::scim::user_resource::member(o, name))
}

/// Reads a lookup's ListResponse for `attribute eq value`: only the resources that do match
/// count (a service that ignores a filter it can't apply answers with others).
pub fn found(body: Option<&Value>, attribute: &str, value: &str) -> Found {
    let resources = body
        .and_then(|b| member(b, "Resources"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let matching: Vec<String> = resources
        .iter()
        .filter(|r| match member(r, attribute).and_then(Value::as_str) {
            // userName and displayName are case-insensitive (RFC 7643 4.1.1, 4.2); ids are
            // compared exactly.
            Some(v) if matches!(attribute, "userName" | "displayName") => v.eq_ignore_ascii_case(value),
            Some(v) => v == value,
            None => false,
        })
        .filter_map(|r| member(r, "id").and_then(account_id))
        .collect();
    match matching.as_slice() {
        [] => Found::None,
        [one] => Found::One(one.clone()),
        many => Found::Many(many.len() as u64),
    }
}

/// The externalId a looked-up account already carries, when it is not `ours`: the account is
/// another identity's, and linking would take it over.
pub fn claimed_by_another(body: Option<&Value>, account: &str, ours: &str) -> Option<String> {
    body.and_then(|b| member(b, "Resources"))
        .and_then(Value::as_array)?
        .iter()
        .find(|r| member(r, "id").and_then(account_id).as_deref() == Some(account))
        .and_then(|r| member(r, "externalId"))
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty() && *e != ours)
        .map(str::to_string)
}

/// An account id as a target gives it (a string, or a number some services use); none when it
/// is empty, too long or has control characters.
pub fn account_id(value: &Value) -> Option<String> {
    let id = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!id.is_empty() && id.len() <= MAX_ACCOUNT_ID && !id.chars().any(char::is_control)).then_some(id)
}

pub fn create(target: &ScimTarget, resource: &Value) -> Rendered {
    request(
        HttpMethod::Post,
        format!("{}/Users", target.base_url),
        Some(resource.clone()),
    )
}

/// A change of the account from `old` to `new`: a PATCH of what differs, or a PUT of the whole
/// resource when the target said it has no PATCH. `None` when nothing it is sent changed.
pub fn update(target: &ScimTarget, account: &str, old: &Value, new: &Value) -> Option<Rendered> {
    let ops = patch_operations(old, new);
    if ops.is_empty() {
        return None;
    }
    Some(replace_or_patch(target, account, new, ops))
}

/// `active: false`, with whatever else changed in the same version (the link then remembers
/// all of it).
pub fn deactivate(target: &ScimTarget, account: &str, old: &Value, new: &Value) -> Rendered {
    let mut inactive = new.clone();
    inactive["active"] = json!(false);
    let mut ops = patch_operations(old, &inactive);
    if !ops.iter().any(|o| o["path"] == "active") {
        ops.push(op("replace", "active", Some(&json!(false))));
    }
    replace_or_patch(target, account, &inactive, ops)
}

fn replace_or_patch(target: &ScimTarget, account: &str, whole: &Value, ops: Vec<Value>) -> Rendered {
    let patch = target.supports.as_ref().is_none_or(|s| s.patch);
    if patch {
        request(
            HttpMethod::Patch,
            user_url(target, account),
            Some(json!({ "schemas": [PATCH_OP], "Operations": ops })),
        )
    } else {
        let mut whole = whole.clone();
        whole["id"] = json!(account);
        request(HttpMethod::Put, user_url(target, account), Some(whole))
    }
}

pub fn delete(target: &ScimTarget, account: &str) -> Rendered {
    request(HttpMethod::Delete, user_url(target, account), None)
}

/// A search for the target's group whose `attribute` is `value` (its externalId: the directory
/// group id Provisio created it with; or its name).
pub fn group_lookup(target: &ScimTarget, attribute: &str, value: &str) -> Rendered {
    request(
        HttpMethod::Get,
        format!(
            "{}/Groups?filter={}",
            target.base_url,
            url_value(&eq_filter(attribute, value))
        ),
        None,
    )
}

/// A new group at the target, empty: members are added one PATCH at a time.
pub fn group_create(target: &ScimTarget, name: &str, id: &str) -> Rendered {
    request(
        HttpMethod::Post,
        format!("{}/Groups", target.base_url),
        Some(json!({ "schemas": [GROUP_SCHEMA], "displayName": name, "externalId": id })),
    )
}

/// Adds or removes one member.
pub fn membership(target: &ScimTarget, group: &str, account: &str, add: bool) -> Rendered {
    memberships(target, group, &[account], add)
}

/// Adds `accounts` as members (one operation with every value), or removes them (one operation
/// each, by a value filter): never a replace of the member list, which would drop members the
/// target added itself.
pub fn memberships(target: &ScimTarget, group: &str, accounts: &[&str], add: bool) -> Rendered {
    let operations: Vec<Value> = if add {
        let values: Vec<Value> = accounts.iter().map(|a| json!({ "value": a })).collect();
        vec![json!({ "op": "add", "path": "members", "value": values })]
    } else {
        accounts
            .iter()
            .map(|a| json!({ "op": "remove", "path": format!("members[{}]", eq_filter("value", a)) }))
            .collect()
    };
    request(
        HttpMethod::Patch,
        group_url(target, group),
        Some(json!({ "schemas": [PATCH_OP], "Operations": operations })),
    )
}

/// The account's version in an answer (`meta.version`, RFC 7644 section 3.14: the ETag), when it
/// can go in a header: at most 256 printable ASCII characters.
pub fn version_of(body: Option<&Value>) -> Option<String> {
    let version = body?.pointer("/meta/version")?.as_str()?;
    let fits = !version.is_empty()
        && version.len() <= 256
        && version.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    fits.then(|| version.to_string())
}

/// `request` made conditional on the account's version `etag` (If-Match).
pub fn if_match(mut request: Rendered, etag: &str) -> Rendered {
    request
        .headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("if-match"));
    request.headers.push(("if-match".into(), etag.to_string()));
    request
}

/// The account as the service has it now (for its version, after a 412).
pub fn fetch(target: &ScimTarget, account: &str) -> Rendered {
    request(HttpMethod::Get, user_url(target, account), None)
}

fn group_url(target: &ScimTarget, group: &str) -> String {
    format!("{}/Groups/{}", target.base_url, url_value(group))
}

/// The group's new name: one PATCH of `displayName` (a PUT would replace the member list).
pub fn group_rename(target: &ScimTarget, group: &str, name: &str) -> Rendered {
    let operation = json!({ "op": "replace", "path": "displayName", "value": name });
    request(
        HttpMethod::Patch,
        group_url(target, group),
        Some(json!({ "schemas": [PATCH_OP], "Operations": [operation] })),
    )
}

/// Deletes a group Provisio created there.
pub fn group_delete(target: &ScimTarget, group: &str) -> Rendered {
    request(HttpMethod::Delete, group_url(target, group), None)
}

/// The discovery requests: `ServiceProviderConfig`, then `ResourceTypes`.
pub fn discovery(target: &ScimTarget) -> [Rendered; 2] {
    ["ServiceProviderConfig", "ResourceTypes"]
        .map(|endpoint| request(HttpMethod::Get, format!("{}/{endpoint}", target.base_url), None))
}

/// What a service's discovery answers say it supports; `Err` when they show it can't be
/// provisioned (not a SCIM service, or no Users).
pub fn supports(
    config: Option<&Value>,
    resource_types: Option<&Value>,
    now: String,
) -> Result<Supports, String> {
    let config = config
        .filter(|c| member(c, "patch").is_some() || member(c, "filter").is_some())
        .ok_or("its ServiceProviderConfig is not one (no `patch` or `filter`): not a SCIM 2.0 service")?;
    let supported = |name: &str| {
        member(config, name)
            .and_then(|f| member(f, "supported"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    // ResourceTypes is optional for a client to read; when it answers, it must have Users. Each
    // type counts by its endpoint's last segment (`/Users`, or a full URL) and by its name.
    let types: Option<Vec<String>> = resource_types
        .and_then(|r| member(r, "Resources").or(Some(r)))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .flat_map(|t| [member(t, "endpoint"), member(t, "name")])
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(|e| e.trim_end_matches('/').rsplit('/').next())
                .map(str::to_ascii_lowercase)
                .collect()
        });
    let has = |name: &str| {
        types
            .as_ref()
            .is_none_or(|t| t.iter().any(|e| e == name || e == &name[..name.len() - 1]))
    };
    if !has("users") {
        return Err("its ResourceTypes has no Users: users can't be provisioned to it".into());
    }
    Ok(Supports {
        patch: supported("patch"),
        filter: supported("filter"),
        etag: supported("etag"),
        groups: has("groups"),
        checked_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_fit_a_header_or_are_not_used() {
        let body = |v: Value| Some(json!({ "meta": { "version": v } }));
        assert_eq!(
            version_of(body(json!("W/\"3\"")).as_ref()).as_deref(),
            Some("W/\"3\"")
        );
        assert_eq!(version_of(body(json!("a\r\nX-Evil: 1")).as_ref()), None);
        assert_eq!(version_of(body(json!("x".repeat(257))).as_ref()), None);
        assert_eq!(version_of(body(json!(3)).as_ref()), None);
        assert_eq!(version_of(None), None);
        let target = ScimTarget {
            base_url: "https://scim.example.com/v2".into(),
            auth_id: None,
            supports: None,
        };
        let once = if_match(if_match(delete(&target, "a"), "W/\"1\""), "W/\"2\"");
        let tags: Vec<&str> = once
            .headers
            .iter()
            .filter(|(n, _)| n == "if-match")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(tags, vec!["W/\"2\""]);
    }

    #[test]
    fn discovery_reads_what_a_service_supports_and_refuses_what_cant_work() {
        let spc = json!({ "patch": { "supported": true }, "filter": { "supported": true, "maxResults": 100 },
                          "etag": { "supported": false } });
        let types = json!({ "Resources": [{ "name": "User", "endpoint": "/Users" }, { "name": "Group", "endpoint": "/Groups" }] });
        let s = supports(Some(&spc), Some(&types), "t".into()).unwrap();
        assert_eq!((s.patch, s.filter, s.etag, s.groups), (true, true, false, true));
        let users_only = json!([{ "name": "User", "endpoint": "https://scim.example.com/v2/Users" }]);
        assert!(
            !supports(Some(&spc), Some(&users_only), "t".into())
                .unwrap()
                .groups
        );
        assert!(
            supports(Some(&spc), None, "t".into()).unwrap().groups,
            "unknown: tried"
        );
        assert!(supports(Some(&json!({ "hello": "world" })), None, "t".into()).is_err());
        assert!(supports(None, None, "t".into()).is_err());
        let groups_only = json!({ "Resources": [{ "name": "Group", "endpoint": "/Groups" }] });
        assert!(supports(Some(&spc), Some(&groups_only), "t".into()).is_err());
    }

    fn target(patch: bool) -> ScimTarget {
        ScimTarget {
            base_url: "https://scim.example.com/v2".into(),
            auth_id: None,
            supports: Some(Supports {
                patch,
                filter: true,
                etag: false,
                groups: true,
                checked_at: "t".into(),
            }),
        }
    }

    #[test]
    fn a_change_is_the_changed_attributes_only() {
        let old = json!({ "schemas": [USER], "userName": "ada", "name": { "givenName": "Ada", "familyName": "L" },
                          "displayName": "Ada", "active": true, "emails": [{ "value": "a@x.io" }] });
        let mut new = old.clone();
        new["name"]["givenName"] = json!("Augusta");
        new["emails"] = json!([{ "value": "ada@x.io" }]);
        new.as_object_mut().unwrap().remove("displayName");
        new[ENTERPRISE_USER] = json!({ "department": "R&D" });
        assert_eq!(
            patch_operations(&old, &new),
            vec![
                json!({ "op": "remove", "path": "displayName" }),
                json!({ "op": "replace", "path": "emails", "value": [{ "value": "ada@x.io" }] }),
                json!({ "op": "replace", "path": "name.givenName", "value": "Augusta" }),
                json!({ "op": "replace", "path": format!("{ENTERPRISE_USER}:department"), "value": "R&D" }),
            ]
        );
        assert!(
            update(&target(true), "1", &old, &old).is_none(),
            "nothing changed, nothing sent"
        );
        // An extension gone: its sub-attributes removed one by one, never the URN itself.
        let mut without = new.clone();
        without.as_object_mut().unwrap().remove(ENTERPRISE_USER);
        assert_eq!(
            patch_operations(&new, &without),
            vec![json!({ "op": "remove", "path": format!("{ENTERPRISE_USER}:department") })]
        );
        // A deactivation carries what changed with it.
        let off = deactivate(&target(true), "1", &old, &new);
        let Some(RenderedBody::Json(body)) = off.body else {
            panic!("a body")
        };
        let ops = body["Operations"].as_array().unwrap();
        assert!(ops.contains(&json!({ "op": "replace", "path": "active", "value": false })));
        assert!(ops.contains(&json!({ "op": "replace", "path": "name.givenName", "value": "Augusta" })));
        let put = update(&target(false), "a/1", &old, &new).unwrap();
        assert_eq!(
            (put.method, put.url.as_str()),
            (HttpMethod::Put, "https://scim.example.com/v2/Users/a%2F1")
        );
    }

    #[test]
    fn lookups_quote_their_value_and_read_exactly_one_matching_account() {
        let r = lookup(&target(true), "userName", r#"o"brien\x"#);
        assert_eq!(
            r.url,
            "https://scim.example.com/v2/Users?filter=userName%20eq%20%22o%5C%22brien%5C%5Cx%22"
        );
        let f = |body: Value| found(Some(&body), "userName", "Ada");
        assert_eq!(f(json!({ "totalResults": 0, "Resources": [] })), Found::None);
        assert_eq!(
            f(json!({ "totalResults": 1, "resources": [{ "ID": 42, "UserName": "ada" }] })),
            Found::One("42".into()),
            "names and userName compared case-insensitively"
        );
        assert_eq!(
            f(json!({ "Resources": [{ "id": "a", "userName": "ada" }, { "id": "b", "userName": "ADA" }] })),
            Found::Many(2)
        );
        // A service that ignored the filter: the admin account it lists is not Ada's.
        assert_eq!(
            f(json!({ "totalResults": 1, "Resources": [{ "id": "root", "userName": "admin" }] })),
            Found::None
        );
        assert_eq!(
            f(json!({ "Resources": [{ "id": "x".repeat(2000), "userName": "ada" }] })),
            Found::None,
            "an id too long"
        );
        assert_eq!(found(None, "userName", "ada"), Found::None);
        let theirs = json!({ "Resources": [{ "id": "7", "userName": "ada", "externalId": "okta-123" }] });
        assert_eq!(
            claimed_by_another(Some(&theirs), "7", "dir-1").as_deref(),
            Some("okta-123")
        );
        assert_eq!(claimed_by_another(Some(&theirs), "7", "okta-123"), None);
    }
}
