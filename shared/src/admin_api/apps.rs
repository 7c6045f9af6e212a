//! Admin routes of apps: create (a SCIM client's token shown once), list, read, change, delete
//! (with its configs and their secrets), and SCIM token rotation.

use lambda_http::Request;

use super::request;
use super::request::{json_body, paging, path_id, precondition};
use super::response::{json, no_content, resource};
use super::routes::Route;
use super::{AdminApi, ApiError, Reply};
use crate::directory::apps;
use crate::ids::AppId;

/// How long a rotated-out SCIM token keeps working, unless the rotation says otherwise.
const DEFAULT_TOKEN_OVERLAP_SECS: u64 = 24 * 3600;
const MAX_TOKEN_OVERLAP_SECS: u64 = 30 * 24 * 3600;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ScimTokenRotation {
    overlap_seconds: Option<u64>,
}

impl AdminApi {
    pub(super) async fn apps(&self, route: Route<'_>, req: &Request) -> Reply {
        let dir = &self.directory;
        match (route, req.method().as_str()) {
            (Route::Apps, "POST") => {
                let new = json_body::<apps::NewApp>(req)?;
                // A SCIM target is asked what it supports first: one that can't work is refused.
                let supports = match (&new.kind, &new.scim_target) {
                    (apps::AppKind::ScimTarget, Some(input)) => {
                        let candidate = input.clone().into_target(None)?;
                        // Boxed: the discovery's calls would swell this handler's frame.
                        Box::pin(self.discover(&AppId::generate(), &candidate)).await?
                    }
                    _ => None,
                };
                let (mut app, token) = dir.create_app(new).await?;
                if let (Some(supports), Some(target)) = (supports, &app.scim_target) {
                    app = dir
                        .set_scim_supports(&app.id, &target.base_url.clone(), supports)
                        .await?;
                }
                // A SCIM app the service answered can create accounts at once (a custom app once
                // its user_created config is on; one whose service wants an authorization not
                // given yet, once its connection has one): every user is in an all-users app's
                // scope.
                if app.scope == apps::AppScope::AllUsers
                    && app.scim_target.as_ref().is_some_and(|t| t.supports.is_some())
                {
                    self.rescope_all_users(&app.id, false).await?;
                }
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
                        let patch = json_body::<apps::AppPatch>(req)?;
                        let supports = match &patch.scim_target {
                            Some(input) => {
                                let current = dir.get_app(&id).await?;
                                if current.kind != apps::AppKind::ScimTarget {
                                    return Err(crate::directory::DirectoryError::invalid(
                                        "scimTarget",
                                        "applies to scim_target apps only",
                                    )
                                    .into());
                                }
                                // A stale If-Match is refused before any call to the service.
                                precondition(req)?.check(current.version)?;
                                let candidate = input.clone().into_target(current.scim_target.as_ref())?;
                                Box::pin(self.discover(&id, &candidate)).await?
                            }
                            None => None,
                        };
                        let app = dir.update_app(&id, &patch, precondition(req)?).await?;
                        // Every user may have entered or left the app's scope: on every PATCH
                        // that names the scope, not only on a change, so that a PATCH retried
                        // after the run failed to start still starts it (and no read of the old
                        // scope races the write). Or an all-users SCIM app's service answered its
                        // (new) connection.
                        let connected = supports.is_some() && app.scope == apps::AppScope::AllUsers;
                        let rescope = patch.scope.is_some() || connected;
                        let app = match (supports, &app.scim_target) {
                            (Some(supports), Some(target)) => {
                                dir.set_scim_supports(&id, &target.base_url.clone(), supports)
                                    .await?
                            }
                            _ => app,
                        };
                        if rescope {
                            self.rescope_all_users(&id, app.scope == apps::AppScope::Assigned)
                                .await?;
                        }
                        app
                    }
                    "DELETE" => {
                        let (configs, secrets) = self.configs.app_dependents(&id).await?;
                        dir.delete_app(&id, precondition(req)?, configs).await?;
                        if let Err(e) = crate::outbound::deletion_guard::forget(&dir.store, &id).await {
                            tracing::warn!(error = %e, "held deprovisions of a deleted app left behind");
                        }
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
                let mut body = serde_json::to_value(&app).map_err(|e| ApiError::Internal(e.to_string()))?;
                if app.kind == apps::AppKind::ScimClient {
                    // Where its SCIM client sends requests (the token is shown only when issued).
                    body["scim"] = serde_json::json!({ "baseUrl": crate::scim::base_url(req, &app.id) });
                }
                resource(200, &body, app.version, None)
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
            (route, _) => Err(ApiError::NotFound(format!("no route {}", route.template()))),
        }
    }
}
