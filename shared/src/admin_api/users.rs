//! Admin routes of users: create, list, read, change, delete, and a user's groups.

use lambda_http::Request;

use super::request::{json_body, paging, path_id, precondition, query_param};
use super::response::{json, no_content, resource};
use super::routes::Route;
use super::{AdminApi, ApiError, Reply};
use crate::directory::users;
use crate::ids::UserId;

impl AdminApi {
    pub(super) async fn users(&self, route: Route<'_>, req: &Request) -> Reply {
        let dir = &self.directory;
        match (route, req.method().as_str()) {
            (Route::Users, "POST") => {
                let user = dir.create_user(json_body::<users::NewUser>(req)?).await?;
                resource(
                    201,
                    &user,
                    user.version,
                    Some(format!("/admin/users/{}", user.id)),
                )
            }
            (Route::Users, "GET") => {
                let (limit, cursor) = paging(req)?;
                let cursor = cursor.as_deref();
                // One search at a time: `userName` (a prefix) or `email` (exact).
                let page = match (query_param(req, "userName"), query_param(req, "email")) {
                    (Some(_), Some(_)) => {
                        return Err(ApiError::bad_field(
                            "email",
                            "search by userName or by email, not both",
                        ));
                    }
                    (Some(prefix), None) => dir.search_users_by_user_name(&prefix, limit, cursor).await?,
                    (None, Some(email)) => dir.search_users_by_email(&email, limit, cursor).await?,
                    (None, None) => dir.list_users(limit, cursor).await?,
                };
                json(200, &page)
            }
            (Route::Users, _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
            (Route::User(raw), m) => {
                let id = path_id(raw, "user", UserId::parse)?;
                let user = match m {
                    "GET" => dir.get_user(&id).await?,
                    "PATCH" => {
                        dir.update_user(&id, &json_body::<users::UserPatch>(req)?, precondition(req)?)
                            .await?
                    }
                    "DELETE" => {
                        dir.delete_user(&id, precondition(req)?).await?;
                        return no_content();
                    }
                    _ => {
                        return Err(ApiError::MethodNotAllowed {
                            allow: "GET, PATCH, DELETE",
                        });
                    }
                };
                resource(200, &user, user.version, None)
            }
            (Route::UserGroups(raw), "GET") => {
                let id = path_id(raw, "user", UserId::parse)?;
                let (limit, cursor) = paging(req)?;
                json(200, &dir.list_user_groups(&id, limit, cursor.as_deref()).await?)
            }
            (Route::UserGroups(_), _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            (route, _) => Err(ApiError::NotFound(format!("no route {}", route.template()))),
        }
    }
}
