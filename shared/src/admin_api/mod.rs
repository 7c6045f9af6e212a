//! The admin REST API: authentication, routing, and the mapping of directory results to HTTP.
//! The `admin-api` function crate only feeds it Lambda events.

pub mod openapi;
mod outbound;
pub mod problem;
pub mod request;
pub mod response;
pub mod routes;

use std::time::Instant;

use lambda_http::{Body, Request, Response};

use crate::aws::AwsClients;
use crate::config::Config;
use crate::directory::memberships::{Added, GroupVersion};
use crate::directory::{Directory, apps, groups, policies, settings, users};
use crate::ids::{AppId, GroupId, PolicyId, UserId};
use crate::secrets::AdminKeys;
use crate::store::Store;
pub use problem::ApiError;
use request::{json_body, paging, path_id, precondition, query_param};
use response::{json, no_content, resource};
use routes::Route;

pub struct AdminApi {
    pub directory: Directory,
    pub configs: crate::connector::configs::Configs,
    pub importer: crate::import::importer::Importer,
    keys: AdminKeys,
    queues: Queues,
}

/// The dispatch queues, for the redrive call.
struct Queues {
    sqs: aws_sdk_sqs::Client,
    dispatch: Option<String>,
    dispatch_dlq: Option<String>,
}

type Reply = Result<Response<Body>, ApiError>;

/// How long a rotated-out SCIM token keeps working, unless the rotation says otherwise.
const DEFAULT_TOKEN_OVERLAP_SECS: u64 = 24 * 3600;
const MAX_TOKEN_OVERLAP_SECS: u64 = 30 * 24 * 3600;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ScimTokenRotation {
    overlap_seconds: Option<u64>,
}

impl AdminApi {
    pub fn new(clients: &AwsClients, config: &Config) -> Self {
        let store = Store::new(clients.dynamodb.clone(), &config.table);
        let relay = crate::directory::relay::Relay::configured(clients, config);
        AdminApi {
            directory: Directory::new(store.clone()).with_relay(relay),
            configs: crate::connector::configs::Configs::new(
                store,
                clients.secrets.clone(),
                &config.secrets_prefix,
            ),
            importer: crate::import::importer::Importer::new(
                clients,
                config,
                crate::import::importer::Settings::default(),
            ),
            keys: AdminKeys::new(clients.secrets.clone(), &config.admin_keys_secret),
            queues: Queues {
                sqs: clients.sqs.clone(),
                dispatch: config.dispatch_queue_url.clone(),
                dispatch_dlq: config.dispatch_dlq_url.clone(),
            },
        }
    }

    /// Handles one request; every outcome, errors included, is an HTTP response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        // The API's description is public; everything else needs an admin key.
        let public = req.uri().path() == Route::OpenApi.template();
        let response = match if public {
            Ok(())
        } else {
            self.authorize(&req).await
        } {
            Ok(()) => self.dispatch(&req).await,
            Err(e) => Err(e),
        }
        .unwrap_or_else(ApiError::into_response);
        tracing::info!(
            method,
            path,
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "admin request"
        );
        response
    }

    async fn authorize(&self, req: &Request) -> Result<(), ApiError> {
        let presented = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        if self.keys.verify(presented).await? {
            Ok(())
        } else {
            Err(ApiError::Unauthorized)
        }
    }

    async fn dispatch(&self, req: &Request) -> Reply {
        if request::body_bytes(req).len() > request::MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: request::MAX_BODY_BYTES,
            });
        }
        let path = req.uri().path();
        let route = routes::route(path).ok_or_else(|| ApiError::NotFound(format!("no route {path}")))?;
        let method = req.method().as_str();
        let dir = &self.directory;
        match (route, method) {
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
                json(200, &dir.list_users(limit, cursor.as_deref()).await?)
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
                        dir.remove_member(&group, &user, GroupVersion::Bump).await?;
                        no_content()
                    }
                    _ => Err(ApiError::MethodNotAllowed { allow: "PUT, DELETE" }),
                }
            }
            (Route::Apps, "POST") => {
                let (app, token) = dir.create_app(json_body::<apps::NewApp>(req)?).await?;
                let mut body = serde_json::to_value(&app).map_err(|e| ApiError::Internal(e.to_string()))?;
                if let Some(token) = token {
                    // Shown once: only the token's digest is stored.
                    body["scim"] =
                        serde_json::json!({ "baseUrl": crate::scim::base_url(req, &app.id), "token": token });
                }
                resource(201, &body, app.version, Some(format!("/admin/apps/{}", app.id)))
            }
            (Route::Apps, "GET") => {
                let (limit, cursor) = paging(req)?;
                json(200, &dir.list_apps(limit, cursor.as_deref()).await?)
            }
            (Route::Apps, _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
            (Route::App(raw), m) => {
                let id = path_id(raw, "app", AppId::parse)?;
                let app = match m {
                    "GET" => dir.get_app(&id).await?,
                    "PATCH" => {
                        dir.update_app(&id, &json_body::<apps::AppPatch>(req)?, precondition(req)?)
                            .await?
                    }
                    "DELETE" => {
                        let (configs, secrets) = self.configs.app_dependents(&id).await?;
                        dir.delete_app(&id, precondition(req)?, configs).await?;
                        for name in secrets {
                            if let Err(e) = crate::secrets::delete_secret(&self.configs.secrets, &name).await
                            {
                                tracing::warn!(error = %e, "secret of a deleted app left behind");
                            }
                        }
                        return no_content();
                    }
                    _ => {
                        return Err(ApiError::MethodNotAllowed {
                            allow: "GET, PATCH, DELETE",
                        });
                    }
                };
                resource(200, &app, app.version, None)
            }
            (Route::ScimToken(raw), "POST") => {
                let id = path_id(raw, "app", AppId::parse)?;
                let rotation: ScimTokenRotation = if request::body_bytes(req).is_empty() {
                    ScimTokenRotation::default()
                } else {
                    json_body(req)?
                };
                let overlap = rotation.overlap_seconds.unwrap_or(DEFAULT_TOKEN_OVERLAP_SECS);
                if overlap > MAX_TOKEN_OVERLAP_SECS {
                    return Err(ApiError::bad_field(
                        "overlapSeconds",
                        format!("at most {MAX_TOKEN_OVERLAP_SECS}"),
                    ));
                }
                let issued = dir
                    .rotate_scim_token(&id, std::time::Duration::from_secs(overlap))
                    .await?;
                let mut body =
                    serde_json::to_value(&issued).map_err(|e| ApiError::Internal(e.to_string()))?;
                body["baseUrl"] = serde_json::json!(crate::scim::base_url(req, &id));
                json(201, &body)
            }
            (Route::ScimToken(_), _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
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
            (Route::Settings, "GET") => json(200, &dir.settings().await?),
            (Route::Settings, "PATCH") => {
                let patch: settings::SettingsPatch = json_body(req)?;
                json(200, &dir.update_settings(&patch).await?)
            }
            (Route::Settings, _) => Err(ApiError::MethodNotAllowed { allow: "GET, PATCH" }),
            (Route::OpenApi, "GET") => json(200, &openapi::document()),
            (Route::OpenApi, _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            (
                route @ (Route::AuthConfigs(_)
                | Route::AuthConfig(..)
                | Route::EventConfigs(_)
                | Route::EventConfig(..)
                | Route::EventPreview(..)
                | Route::AppLog(_)
                | Route::UserLog(_)
                | Route::Redrive
                | Route::ImportConfigs(_)
                | Route::ImportConfig(..)
                | Route::ImportRuns(..)
                | Route::AppJobs(_)
                | Route::Job(_)),
                _,
            ) => self.outbound(route, req).await,
        }
    }
}
