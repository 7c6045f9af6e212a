//! The `/Groups` endpoints. A SCIM group is a directory group; its `members` are the same
//! memberships the admin API shows (`displayName` maps to the group's name).

use std::collections::{BTreeSet, HashSet};

use futures::{StreamExt, TryStreamExt};
use lambda_http::{Body, Request, Response};
use scim_v2::filter::{AttrExp, CompValue, CompareOp, PatchPath, ValFilter};
use serde_json::{Map, Value, json};

use super::filter::{self, Indexed};
use super::list::{ListParams, project};
use super::ownership;
use super::patch::{self, OpKind, Operation};
use super::schema::GROUP;
use super::user_resource::member;
use super::{Context, Reply, ScimApi, ScimError, ScimType, respond};
use crate::directory::DirectoryError;
use crate::directory::groups::Group;
use crate::directory::memberships::{Added, GroupVersion};
use crate::directory::{Precondition, found, validate};
use crate::ids::{GroupId, UserId};
use crate::timestamp;

/// Groups beyond this are not listed without an indexed filter (400 tooMany).
pub const MAX_SCAN: usize = 10_000;
/// Membership writes in flight at once for one request.
const MEMBER_WRITES: usize = 8;

#[derive(Debug, Clone)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Option<Vec<UserId>>,
}

fn member_ids(value: &Value) -> Result<Vec<UserId>, ScimError> {
    let items = match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        single => vec![single.clone()],
    };
    items
        .iter()
        .map(|item| {
            let raw = match item {
                Value::Object(o) => member(o, "value").and_then(Value::as_str),
                Value::String(s) => Some(s.as_str()),
                _ => None,
            };
            raw.and_then(UserId::parse).ok_or_else(|| {
                ScimError::bad(ScimType::InvalidValue, format!("member {item} is not a user id"))
            })
        })
        .collect()
}

pub fn parse(body: &Value) -> Result<GroupInput, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "a Group must be a JSON object",
        ));
    };
    let display_name = match member(body, "displayName") {
        Some(Value::String(s)) => validate::name("displayName", s)?,
        Some(other) => {
            return Err(ScimError::bad(
                ScimType::InvalidValue,
                format!("displayName must be a string, not {other}"),
            ));
        }
        None => return Err(ScimError::bad(ScimType::InvalidValue, "displayName is required")),
    };
    let external_id = match member(body, "externalId") {
        Some(Value::String(s)) if !s.is_empty() => Some(validate::optional_text("externalId", s)?),
        Some(Value::String(_)) | None => None,
        Some(other) => {
            return Err(ScimError::bad(
                ScimType::InvalidValue,
                format!("externalId must be a string, not {other}"),
            ));
        }
    };
    let members = member(body, "members").map(member_ids).transpose()?;
    Ok(GroupInput {
        display_name,
        external_id,
        members,
    })
}

/// The built-in mapping, then the app's own entries.
fn parse_group(body: &Value, ctx: &Context) -> Result<GroupInput, ScimError> {
    let mut input = parse(body)?;
    if let Some(name) = ctx.settings.mapping.inbound_group_name(body) {
        input.display_name = validate::name("displayName", &name)?;
    }
    Ok(input)
}

pub fn render(group: &Group, members: Option<&[UserId]>, ctx: &Context) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([GROUP]));
    out.insert("id".into(), json!(group.id));
    if group.source_app_id.as_ref() == Some(&ctx.app)
        && let Some(external) = &group.external_id
    {
        out.insert("externalId".into(), json!(external));
    }
    out.insert("displayName".into(), json!(group.name));
    let mut out = Value::Object(out);
    ctx.settings.mapping.outbound_group(&group.name, &mut out);
    let Value::Object(mut out) = out else { return out };
    if let Some(members) = members {
        let list: Vec<Value> = members
            .iter()
            .map(|m| json!({ "value": m, "$ref": format!("{}/Users/{m}", ctx.base), "type": "User" }))
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": group.created,
            "lastModified": group.last_modified,
            "location": format!("{}/Groups/{}", ctx.base, group.id),
            "version": crate::directory::version::etag(group.version),
        }),
    );
    Value::Object(out)
}

/// Whether a response must carry members: not when the caller excluded them or asked only for
/// other attributes (each group's members cost a Query).
fn wants_members(params: &ListParams) -> bool {
    let named = |list: &[String]| {
        list.iter()
            .any(|a| a.eq_ignore_ascii_case("members") || a.to_ascii_lowercase().starts_with("members."))
    };
    !named(&params.excluded) && (params.attributes.is_empty() || named(&params.attributes))
}

/// Membership changes a PATCH asks for, in order.
#[derive(Debug, Default)]
struct MemberPlan {
    /// Set by `replace members` or `remove members` without a value: the whole list changes.
    whole: Option<Vec<(bool, Vec<UserId>)>>,
    add: BTreeSet<UserId>,
    remove: BTreeSet<UserId>,
}

impl MemberPlan {
    fn add(&mut self, ids: Vec<UserId>) {
        match &mut self.whole {
            Some(steps) => steps.push((true, ids)),
            None => ids.into_iter().for_each(|id| {
                self.remove.remove(&id);
                self.add.insert(id);
            }),
        }
    }

    fn remove(&mut self, ids: Vec<UserId>) {
        match &mut self.whole {
            Some(steps) => steps.push((false, ids)),
            None => ids.into_iter().for_each(|id| {
                self.add.remove(&id);
                self.remove.insert(id);
            }),
        }
    }

    /// From here on the operations act on the whole list: start from `replacement`, after the
    /// adds and removes so far.
    fn replace(&mut self, replacement: Vec<UserId>) {
        self.whole = Some(vec![(true, replacement)]);
        self.add.clear();
        self.remove.clear();
    }

    fn is_empty(&self) -> bool {
        self.whole.is_none() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// `members[value eq "a" or value eq "b"]` -> the ids.
fn filter_ids(filter: &ValFilter) -> Option<Vec<UserId>> {
    match filter {
        ValFilter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(v)))
            if path.name.eq_ignore_ascii_case("value") =>
        {
            UserId::parse(v).map(|id| vec![id]).or(Some(Vec::new()))
        }
        ValFilter::Or(ops) => {
            let mut ids = Vec::new();
            for op in ops.as_slice() {
                ids.extend(filter_ids(op)?);
            }
            Some(ids)
        }
        _ => None,
    }
}

impl ScimApi {
    pub(super) async fn list_groups(&self, ctx: &Context, params: &ListParams) -> Reply {
        let dir = &self.directory;
        let indexed = params.filter.as_ref().and_then(filter::indexed);
        let cursor_paged = params.cursor.is_some() && indexed.is_none();
        let mut next_cursor = None;
        let groups: Vec<Group> = match indexed {
            // RFC 9865: one Query on the name listing per page.
            _ if cursor_paged => {
                params.check_cursor_order("displayName")?;
                let cursor = params.cursor.as_deref().filter(|c| !c.is_empty());
                let page = dir
                    .list_groups(params.count.max(1) as u32, cursor)
                    .await
                    .map_err(super::list::cursor_error)?;
                next_cursor = page.next_cursor;
                page.items
            }
            Some(Indexed::Id(id)) => match GroupId::parse(&id) {
                Some(id) => found(dir.get_group(&id).await)?.into_iter().collect(),
                None => Vec::new(),
            },
            Some(Indexed::DisplayName(name)) => dir.find_group_by_name(&name).await?.into_iter().collect(),
            Some(Indexed::ExternalId(ext)) => {
                dir.find_groups_by_external_id(&ctx.app, &ext, MAX_SCAN as u32)
                    .await?
            }
            Some(Indexed::UserName(_)) => Vec::new(),
            None => dir.scan_groups(MAX_SCAN, 1_000).await?.ok_or_else(|| {
                ScimError::bad(
                    ScimType::TooMany,
                    format!("more than {MAX_SCAN} groups: filter on displayName, externalId or id"),
                )
            })?,
        };
        // Members are needed to evaluate a filter on them, or to return them.
        let filter_uses_members = params
            .filter
            .as_ref()
            .is_some_and(|f| f.to_string().to_ascii_lowercase().contains("members"));
        let load_members = filter_uses_members || wants_members(params);
        let rendered: Vec<Value> = futures::stream::iter(groups)
            .map(|group| async move {
                let members = if load_members {
                    Some(self.directory.member_ids(&group.id).await?)
                } else {
                    None
                };
                Ok::<_, ScimError>(render(&group, members.as_deref(), ctx))
            })
            .buffered(MEMBER_WRITES)
            .try_collect()
            .await?;
        if cursor_paged {
            return super::json(200, &params.respond_page(rendered, next_cursor));
        }
        super::json(200, &params.respond(rendered)?)
    }

    pub(super) async fn create_group(&self, ctx: &Context, body: &Value) -> Reply {
        let input = parse_group(body, ctx)?;
        let members = input.members.clone().unwrap_or_default();
        self.check_users_exist(&members).await?;
        let now = timestamp::now();
        let group = Group {
            id: GroupId::generate(),
            name: input.display_name,
            description: None,
            source_app_id: Some(ctx.app.clone()),
            external_id: input.external_id,
            version: 1,
            created: now.clone(),
            last_modified: now,
        };
        let group = self.directory.insert_group(group).await?;
        self.apply_members(&group.id, &members, &[], false).await?;
        let location = format!("{}/Groups/{}", ctx.base, group.id);
        respond(201, &render(&group, Some(&members), ctx), Some(&location))
    }

    pub(super) async fn get_group(&self, ctx: &Context, raw: &str, req: &Request) -> Reply {
        let group = self.directory.get_group(&group_id(raw)?).await?;
        let params = ListParams::from_query(&super::query(req))?;
        let members = if wants_members(&params) {
            Some(self.directory.member_ids(&group.id).await?)
        } else {
            None
        };
        let rendered = render(&group, members.as_deref(), ctx);
        respond(
            200,
            &project(rendered, &params.attributes, &params.excluded),
            None,
        )
    }

    pub(super) async fn replace_group(
        &self,
        ctx: &Context,
        raw: &str,
        body: &Value,
        precondition: Precondition,
    ) -> Reply {
        let id = group_id(raw)?;
        let input = parse_group(body, ctx)?;
        let desired = input.members.clone().unwrap_or_default();
        self.check_users_exist(&desired).await?;
        let current = self.directory.member_ids(&id).await?;
        let (add, remove) = diff(&current, &desired);
        // Members are part of the group: a change of them moves its version. Under If-Match, in
        // the conditional write that checks it, before they are written; without, once after
        // (concurrent member PATCHes must not fight over the group item's version).
        let members_change = !add.is_empty() || !remove.is_empty();
        let claim = members_change && precondition != Precondition::Any;
        let mut group = self
            .owned_write(ctx, |released| {
                let (id, input) = (&id, &input);
                async move {
                    self.directory
                        .change_group(id, precondition, |group| {
                            ownership::may_write(
                                ctx,
                                "group",
                                group.source_app_id.as_ref(),
                                released.as_ref(),
                            )?;
                            group.name = input.display_name.clone();
                            // Owned by this source from now on (created or adopted), with its
                            // externalId.
                            group.source_app_id = Some(ctx.app.clone());
                            group.external_id = input.external_id.clone();
                            if claim {
                                group.touch();
                            }
                            Ok::<_, ScimError>(())
                        })
                        .await
                }
            })
            .await?;
        if self.apply_members(&id, &add, &remove, !claim).await? {
            group.version += 1;
        }
        respond(200, &render(&group, Some(&desired), ctx), None)
    }

    pub(super) async fn patch_group(
        &self,
        ctx: &Context,
        raw: &str,
        body: &Value,
        precondition: Precondition,
        req: &Request,
    ) -> Reply {
        let id = group_id(raw)?;
        let operations = patch::parse(body)?;
        let mut name: Option<String> = None;
        let mut external: Option<Option<String>> = None;
        let mut plan = MemberPlan::default();
        for op in &operations {
            self.plan_operation(op, &mut name, &mut external, &mut plan)?;
        }
        let added: Vec<UserId> = match &plan.whole {
            Some(steps) => steps
                .iter()
                .filter(|(add, _)| *add)
                .flat_map(|(_, ids)| ids.clone())
                .collect(),
            None => plan.add.iter().cloned().collect(),
        };
        self.check_users_exist(&added).await?;
        let claim = !plan.is_empty() && precondition != Precondition::Any;
        let mut group = self
            .owned_write(ctx, |released| {
                let (id, name, external) = (&id, &name, &external);
                async move {
                    self.directory
                        .change_group(id, precondition, |group| {
                            ownership::may_write(
                                ctx,
                                "group",
                                group.source_app_id.as_ref(),
                                released.as_ref(),
                            )?;
                            if let Some(name) = name {
                                group.name = name.clone();
                            }
                            // The writer owns it from now on (adopted, if it was unowned).
                            group.source_app_id = Some(ctx.app.clone());
                            if let Some(external) = external {
                                group.external_id = external.clone();
                            }
                            // Member operations move the version (If-Match protects members
                            // too), in the conditional write that checks it, before they apply.
                            if claim {
                                group.touch();
                            }
                            Ok::<_, ScimError>(())
                        })
                        .await
                }
            })
            .await?;
        if !plan.is_empty() {
            let (add, remove) = match plan.whole {
                Some(steps) => {
                    let current = self.directory.member_ids(&id).await?;
                    let mut desired: Vec<UserId> = Vec::new();
                    for (add, ids) in steps {
                        if add {
                            for id in ids {
                                if !desired.contains(&id) {
                                    desired.push(id);
                                }
                            }
                        } else {
                            desired.retain(|d| !ids.contains(d));
                        }
                    }
                    diff(&current, &desired)
                }
                None => (plan.add.into_iter().collect(), plan.remove.into_iter().collect()),
            };
            if self.apply_members(&id, &add, &remove, !claim).await? {
                // Moved by the first member change; under concurrent changes the stored version
                // may be further on, and an If-Match with this one then gets a 412 (never a
                // lost update).
                group.version += 1;
            }
        }
        let params = ListParams::from_query(&super::query(req))?;
        let members = if wants_members(&params) {
            Some(self.directory.member_ids(&id).await?)
        } else {
            None
        };
        let rendered = render(&group, members.as_deref(), ctx);
        respond(
            200,
            &project(rendered, &params.attributes, &params.excluded),
            None,
        )
    }

    fn plan_operation(
        &self,
        op: &Operation,
        name: &mut Option<String>,
        external: &mut Option<Option<String>>,
        plan: &mut MemberPlan,
    ) -> Result<(), ScimError> {
        let attribute = |key: &str,
                         value: Option<&Value>,
                         kind: OpKind,
                         plan: &mut MemberPlan,
                         name: &mut Option<String>,
                         external: &mut Option<Option<String>>|
         -> Result<(), ScimError> {
            if key.eq_ignore_ascii_case("displayName") {
                match (kind, value) {
                    (OpKind::Remove, _) => {
                        return Err(ScimError::bad(ScimType::InvalidValue, "displayName is required"));
                    }
                    (_, Some(Value::String(s))) => *name = Some(validate::name("displayName", s)?),
                    _ => {
                        return Err(ScimError::bad(
                            ScimType::InvalidValue,
                            "displayName must be a string",
                        ));
                    }
                }
            } else if key.eq_ignore_ascii_case("externalId") {
                *external = Some(match (kind, value) {
                    (OpKind::Remove, _) | (_, Some(Value::Null)) => None,
                    (_, Some(Value::String(s))) => Some(s.clone()),
                    _ => {
                        return Err(ScimError::bad(
                            ScimType::InvalidValue,
                            "externalId must be a string",
                        ));
                    }
                });
            } else if key.eq_ignore_ascii_case("members") {
                match (kind, value) {
                    (OpKind::Add, Some(v)) => plan.add(member_ids(v)?),
                    (OpKind::Replace, Some(v)) => plan.replace(member_ids(v)?),
                    (OpKind::Remove, Some(v)) => plan.remove(member_ids(v)?),
                    // RFC 7644 3.5.2.2: `remove` of `members` with neither value nor filter
                    // removes them all. Only this explicit form ever empties a group.
                    (OpKind::Remove, None) => plan.replace(Vec::new()),
                    (_, None) => return Err(ScimError::bad(ScimType::InvalidValue, "members needs a value")),
                }
            } else if !["id", "meta", "schemas"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(key))
            {
                return Err(ScimError::bad(
                    ScimType::InvalidPath,
                    format!("{key} is not a Group attribute"),
                ));
            }
            Ok(())
        };
        match &op.path {
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::bad(
                        ScimType::InvalidValue,
                        "without a path, the value must be an object",
                    ));
                };
                for (key, value) in values {
                    attribute(key, Some(value), op.kind, plan, name, external)?;
                }
            }
            Some(PatchPath::Attr(attr)) if attr.sub_attr.is_none() => {
                attribute(&attr.name, op.value.as_ref(), op.kind, plan, name, external)?;
            }
            Some(PatchPath::Value(vp))
                if vp.attr.name.eq_ignore_ascii_case("members") && op.kind == OpKind::Remove =>
            {
                let ids = filter_ids(&vp.filter).ok_or_else(|| {
                    ScimError::bad(
                        ScimType::InvalidFilter,
                        "members can be selected by value eq only",
                    )
                })?;
                plan.remove(ids);
            }
            Some(_) => {
                return Err(ScimError::bad(
                    ScimType::InvalidPath,
                    format!(
                        "unsupported path {:?} for a Group",
                        op.raw_path.as_deref().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(super) async fn delete_group(&self, ctx: &Context, raw: &str, precondition: Precondition) -> Reply {
        let id = group_id(raw)?;
        let group = self.directory.get_group(&id).await?;
        if let Err(e) = ownership::may_write(ctx, "group", group.source_app_id.as_ref(), None)
            && self.released_owner(ctx, &e).await?.is_none()
        {
            return Err(e);
        }
        // Deleted only at the version checked (a 412 if it changed owner meanwhile).
        let precondition = match precondition {
            Precondition::Any => Precondition::Version(group.version),
            given => given,
        };
        self.directory.delete_group(&id, precondition).await?;
        Response::builder()
            .status(204)
            .body(Body::Empty)
            .map_err(|e| ScimError::new(500, None, e.to_string()))
    }

    async fn check_users_exist(&self, users: &[UserId]) -> Result<(), ScimError> {
        if users.is_empty() {
            return Ok(());
        }
        let existing: HashSet<UserId> = self.directory.existing_users(users).await?.into_iter().collect();
        match users.iter().find(|u| !existing.contains(*u)) {
            Some(missing) => Err(ScimError::bad(
                ScimType::InvalidValue,
                format!("member {missing} is not a user"),
            )),
            None => Ok(()),
        }
    }

    /// Adds and removes memberships, a few at a time; adds and removes are idempotent.
    /// Writes the member changes. With `bump`, the first change that goes through also moves
    /// the group's version, in its own transaction (no extra request); returns whether one did.
    async fn apply_members(
        &self,
        group: &GroupId,
        add: &[UserId],
        remove: &[UserId],
        bump: bool,
    ) -> Result<bool, ScimError> {
        let mut bumped = false;
        let removals = remove.len();
        let (mut add, mut remove) = (add.to_vec(), remove.to_vec());
        // The first change, alone, carries the version (and so never races the others for it).
        while bump && !bumped && !(add.is_empty() && remove.is_empty()) {
            if let Some(user) = add.pop() {
                let (_, added) = self
                    .directory
                    .add_member(group, &user, GroupVersion::Bump)
                    .await?;
                bumped = added == Added::Created;
            } else if let Some(user) = remove.pop() {
                match self
                    .directory
                    .remove_member(group, &user, GroupVersion::Bump, removals)
                    .await
                {
                    Ok(()) => bumped = true,
                    Err(DirectoryError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        // Owned ids and a cloned directory handle keep the futures 'static-friendly for the
        // runtime's Send bound.
        let directory = self.directory.clone();
        futures::stream::iter(add)
            .map(|user| {
                let (directory, group) = (directory.clone(), group.clone());
                async move {
                    directory
                        .add_member(&group, &user, GroupVersion::Leave)
                        .await
                        .map(|_| ())
                }
            })
            .buffer_unordered(MEMBER_WRITES)
            .try_collect::<Vec<()>>()
            .await?;
        futures::stream::iter(remove)
            .map(|user| {
                let (directory, group) = (directory.clone(), group.clone());
                async move {
                    found(
                        directory
                            .remove_member(&group, &user, GroupVersion::Leave, removals)
                            .await,
                    )
                    .map(|_| ())
                }
            })
            .buffer_unordered(MEMBER_WRITES)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(bumped)
    }
}

fn diff(current: &[UserId], desired: &[UserId]) -> (Vec<UserId>, Vec<UserId>) {
    let add = desired.iter().filter(|d| !current.contains(d)).cloned().collect();
    let remove = current.iter().filter(|c| !desired.contains(c)).cloned().collect();
    (add, remove)
}

fn group_id(raw: &str) -> Result<GroupId, ScimError> {
    GroupId::parse(raw).ok_or_else(|| ScimError::not_found(format!("group {raw} not found")))
}
