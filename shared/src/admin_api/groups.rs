//! Admin routes of groups and their members.

use lambda_http::Request;

use super::request::{json_body, paging, path_id, precondition};
use super::response::{json, no_content, resource};
use super::routes::Route;
use super::{AdminApi, ApiError, Reply};
use crate::directory::groups;
use crate::directory::memberships::{Added, GroupVersion};
use crate::ids::{GroupId, UserId};

impl AdminApi {
    pub(super) async fn groups(&self, route: Route<'_>, req: &Request) -> Reply {
        let dir = &self.directory;
        match (route, req.method().as_str()) {
            (Route::Groups, "POST") => {
                let group = dir.create_group(json_body::<groups::NewGroup>(req)?).await?;
                resource(
                    201,
                    &group,
                    group.version,
                    Some(format!("/admin/groups/{}", group.id)),
                )
            }
            (Route::Groups, "GET") => {
                let (limit, cursor) = paging(req)?;
                json(200, &dir.list_groups(limit, cursor.as_deref()).await?)
            }
            (Route::Groups, _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
            (Route::Group(raw), m) => {
                let id = path_id(raw, "group", GroupId::parse)?;
                let group = match m {
                    "GET" => dir.get_group(&id).await?,
                    "PATCH" => {
                        dir.update_group(&id, &json_body::<groups::GroupPatch>(req)?, precondition(req)?)
                            .await?
                    }
                    "DELETE" => {
                        dir.delete_group(&id, precondition(req)?).await?;
                        return no_content();
                    }
                    _ => {
                        return Err(ApiError::MethodNotAllowed {
                            allow: "GET, PATCH, DELETE",
                        });
                    }
                };
                resource(200, &group, group.version, None)
            }
            (Route::GroupMembers(raw), "GET") => {
                let id = path_id(raw, "group", GroupId::parse)?;
                let (limit, cursor) = paging(req)?;
                json(200, &dir.list_members(&id, limit, cursor.as_deref()).await?)
            }
            (Route::GroupMembers(_), _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            (Route::GroupMember(group, user), m) => {
                let group = path_id(group, "group", GroupId::parse)?;
                let user = path_id(user, "user", UserId::parse)?;
                match m {
                    "PUT" => {
                        let (membership, added) = dir.add_member(&group, &user, GroupVersion::Bump).await?;
                        json(if added == Added::Created { 201 } else { 200 }, &membership)
                    }
                    "DELETE" => {
                        dir.remove_member(&group, &user, GroupVersion::Bump, 1).await?;
                        no_content()
                    }
                    _ => Err(ApiError::MethodNotAllowed { allow: "PUT, DELETE" }),
                }
            }
            (route, _) => Err(ApiError::NotFound(format!("no route {}", route.template()))),
        }
    }
}
