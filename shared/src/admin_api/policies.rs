//! Admin routes of app login policies (group -> app).

use lambda_http::Request;

use super::request::query_param;
use super::request::{json_body, paging, path_id, precondition};
use super::response::{json, no_content, resource};
use super::routes::Route;
use super::{AdminApi, ApiError, Reply};
use crate::directory::policies;
use crate::ids::{AppId, PolicyId};

impl AdminApi {
    pub(super) async fn policies(&self, route: Route<'_>, req: &Request) -> Reply {
        let dir = &self.directory;
        match (route, req.method().as_str()) {
            (Route::Policies, "POST") => {
                let policy = dir.create_policy(json_body::<policies::NewPolicy>(req)?).await?;
                resource(
                    201,
                    &policy,
                    policy.version,
                    Some(format!("/admin/policies/{}", policy.id)),
                )
            }
            (Route::Policies, "GET") => {
                let (limit, cursor) = paging(req)?;
                let app = match query_param(req, "appId") {
                    Some(raw) => Some(
                        AppId::parse(&raw).ok_or_else(|| ApiError::bad_field("appId", "is not an app id"))?,
                    ),
                    None => None,
                };
                json(
                    200,
                    &dir.list_policies(app.as_ref(), limit, cursor.as_deref()).await?,
                )
            }
            (Route::Policies, _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
            (Route::Policy(raw), m) => {
                let id = path_id(raw, "policy", PolicyId::parse)?;
                let policy = match m {
                    "GET" => dir.get_policy(&id).await?,
                    "PATCH" => {
                        dir.update_policy(&id, &json_body::<policies::PolicyPatch>(req)?, precondition(req)?)
                            .await?
                    }
                    "DELETE" => {
                        dir.delete_policy(&id, precondition(req)?).await?;
                        return no_content();
                    }
                    _ => {
                        return Err(ApiError::MethodNotAllowed {
                            allow: "GET, PATCH, DELETE",
                        });
                    }
                };
                resource(200, &policy, policy.version, None)
            }
            (route, _) => Err(ApiError::NotFound(format!("no route {}", route.template()))),
        }
    }
}
