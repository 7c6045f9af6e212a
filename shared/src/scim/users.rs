//! The `/Users` endpoints.

use lambda_http::{Body, Request, Response};
use serde_json::Value;

use super::filter::{self, Indexed};
use super::list::{ListParams, project};
use super::user_resource::{self, render};
use super::{Context, Reply, ScimApi, ScimError, ScimType, respond};
use super::{ownership, patch};
use crate::directory::users::User;
use crate::directory::{Precondition, found};
use crate::ids::UserId;
use crate::timestamp;

/// Filters no index answers are evaluated over at most this many users; beyond it the request is
/// refused with `tooMany` rather than reading the whole directory.
pub const MAX_SCAN: usize = 10_000;
const SCAN_PAGE: u32 = 1_000;

impl ScimApi {
    pub(super) async fn list_users(&self, ctx: &Context, params: &ListParams) -> Reply {
        let dir = &self.directory;
        let indexed = params.filter.as_ref().and_then(filter::indexed);
        if let (Some(cursor), None) = (&params.cursor, &indexed) {
            // RFC 9865: one Query on the userName listing per page, whatever the directory's size.
            params.check_cursor_order("userName")?;
            let page = dir
                .list_users(
                    params.count.max(1) as u32,
                    Some(cursor.as_str()).filter(|c| !c.is_empty()),
                )
                .await
                .map_err(super::list::cursor_error)?;
            let rendered = page.items.iter().map(|u| render_user(u, ctx)).collect();
            return super::json(200, &params.respond_page(rendered, page.next_cursor));
        }
        let users: Vec<User> = match indexed {
            Some(Indexed::Id(id)) => match UserId::parse(&id) {
                Some(id) => found(dir.get_user(&id).await)?.into_iter().collect(),
                None => Vec::new(),
            },
            Some(Indexed::UserName(name)) => dir.find_user_by_user_name(&name).await?.into_iter().collect(),
            // Every user of this source with that externalId (it need not be unique).
            Some(Indexed::ExternalId(ext)) => {
                dir.find_users_by_external_id(&ctx.app, &ext, MAX_SCAN as u32)
                    .await?
            }
            // Users have a displayName, but no index on it: evaluate over the listing.
            Some(Indexed::DisplayName(_)) => {
                dir.scan_users(MAX_SCAN, SCAN_PAGE).await?.ok_or_else(too_many)?
            }
            None => dir.scan_users(MAX_SCAN, SCAN_PAGE).await?.ok_or_else(too_many)?,
        };
        let rendered = users.iter().map(|u| render_user(u, ctx)).collect();
        super::json(200, &params.respond(rendered)?)
    }

    pub(super) async fn create_user(&self, ctx: &Context, body: &Value) -> Reply {
        let input = parse_user(body, ctx)?;
        let mut user = User::blank(timestamp::now());
        input.apply(&mut user, &ctx.app);
        let user = self.directory.insert_user(user).await?;
        let rendered = render_user(&user, ctx);
        let location = format!("{}/Users/{}", ctx.base, user.id);
        respond(201, &rendered, Some(&location))
    }

    pub(super) async fn get_user(&self, ctx: &Context, raw: &str, req: &Request) -> Reply {
        let user = self.directory.get_user(&user_id(raw)?).await?;
        let rendered = render_user(&user, ctx);
        let etag = crate::directory::version::etag(user.version);
        if req
            .headers()
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == etag)
        {
            return Response::builder()
                .status(304)
                .header("etag", etag)
                .body(Body::Empty)
                .map_err(|e| ScimError::new(500, None, e.to_string()));
        }
        let params = ListParams::from_query(&super::query(req))?;
        respond(
            200,
            &project(rendered, &params.attributes, &params.excluded),
            None,
        )
    }

    pub(super) async fn replace_user(
        &self,
        ctx: &Context,
        raw: &str,
        body: &Value,
        precondition: Precondition,
    ) -> Reply {
        let id = user_id(raw)?;
        if let Some(sent) = body.get("id").and_then(Value::as_str)
            && sent != id.as_str()
        {
            return Err(ScimError::bad(ScimType::Mutability, "id is immutable"));
        }
        let input = parse_user(body, ctx)?;
        let user = self
            .owned_write(ctx, |released| {
                let (id, input) = (&id, &input);
                async move {
                    self.directory
                        .change_user(id, precondition, |user| {
                            ownership::may_write(
                                ctx,
                                "user",
                                user.source_app_id.as_ref(),
                                released.as_ref(),
                            )?;
                            input.clone().apply(user, &ctx.app);
                            Ok::<_, ScimError>(())
                        })
                        .await
                }
            })
            .await?;
        self.after_change(ctx, user).await
    }

    /// PATCH: the operations apply to the user's SCIM representation, which then goes through the
    /// same mapping as a PUT. A PATCH that changes nothing writes nothing and keeps the version.
    pub(super) async fn patch_user(
        &self,
        ctx: &Context,
        raw: &str,
        body: &Value,
        precondition: Precondition,
    ) -> Reply {
        let id = user_id(raw)?;
        let operations = patch::parse(body)?;
        let user = self
            .owned_write(ctx, |released| {
                let (id, operations) = (&id, &operations);
                async move {
                    self.directory
                        .change_user(id, precondition, |user| {
                            ownership::may_write(
                                ctx,
                                "user",
                                user.source_app_id.as_ref(),
                                released.as_ref(),
                            )?;
                            let mut resource = render_user(user, ctx);
                            patch::apply(&mut resource, operations)?;
                            parse_user(&resource, ctx)?.apply(user, &ctx.app);
                            Ok::<_, ScimError>(())
                        })
                        .await
                }
            })
            .await?;
        self.after_change(ctx, user).await
    }

    /// With the app's "delete users the source deactivates" option, a deactivated user is deleted
    /// (the caller gets 204); otherwise the stored user is returned.
    async fn after_change(&self, ctx: &Context, user: User) -> Reply {
        if !user.active && self.settings(&ctx.app).await?.delete_on_deactivate {
            found(
                self.directory
                    .delete_user(&user.id, Precondition::Version(user.version))
                    .await,
            )?;
            return Response::builder()
                .status(204)
                .body(Body::Empty)
                .map_err(|e| ScimError::new(500, None, e.to_string()));
        }
        respond(200, &render_user(&user, ctx), None)
    }

    pub(super) async fn delete_user(&self, ctx: &Context, raw: &str, precondition: Precondition) -> Reply {
        let id = user_id(raw)?;
        // Deleted only as read and checked: a write meanwhile (a change of owner) means a fresh
        // look, or a 412 when the caller named a version.
        let mut attempts = 0;
        let mut released = None;
        loop {
            let user = self.directory.get_user(&id).await?;
            if let Err(e) = ownership::may_write(ctx, "user", user.source_app_id.as_ref(), released.as_ref())
            {
                match self.released_owner(ctx, &e).await? {
                    Some(owner) if released.is_none() => {
                        released = Some(owner);
                        continue;
                    }
                    _ => return Err(e),
                }
            }
            let version = match precondition {
                Precondition::Any => Precondition::Version(user.version),
                given => given,
            };
            match self.directory.delete_user(&id, version).await {
                Err(crate::directory::DirectoryError::PreconditionFailed { .. })
                    if precondition == Precondition::Any && attempts < 3 =>
                {
                    attempts += 1;
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        Response::builder()
            .status(204)
            .body(Body::Empty)
            .map_err(|e| ScimError::new(500, None, e.to_string()))
    }
}

/// The built-in mapping, then the app's own entries.
fn render_user(user: &User, ctx: &Context) -> Value {
    let mut resource = render(user, &ctx.app, &ctx.base);
    // With the email mapped elsewhere, the stored list is shown as it is; the mapping then puts
    // the directory's email at its path.
    if ctx.settings.mapping.maps_user("email")
        && let Some(list) = user.attributes.get("emails")
    {
        resource["emails"] = list.clone();
    }
    ctx.settings.mapping.outbound_user(user, &mut resource);
    resource
}

fn parse_user(body: &Value, ctx: &Context) -> Result<user_resource::UserInput, ScimError> {
    let mut input = user_resource::parse(body)?;
    ctx.settings.mapping.inbound_user(body, &mut input)?;
    Ok(input)
}

fn too_many() -> ScimError {
    ScimError::bad(
        ScimType::TooMany,
        format!(
            "more than {MAX_SCAN} users: filter on userName, externalId or id with eq, which an index answers"
        ),
    )
}

fn user_id(raw: &str) -> Result<UserId, ScimError> {
    UserId::parse(raw).ok_or_else(|| ScimError::not_found(format!("user {raw} not found")))
}
