//! Admin routes of outbound provisioning: authorization and event configs, preview, the
//! provisioning log and the dead-letter redrive.

use lambda_http::Request;

use super::request::{json_body, paging, path_id, precondition};
use super::response::{json, no_content, resource};
use super::routes::Route;
use super::{AdminApi, ApiError, Reply};
use crate::connector::auth_config::AuthInput;
use crate::directory::change::ChangeKind;
use crate::directory::replay;
use crate::ids::{AppId, AuthId, UserId};
use crate::import::config::ImportInput;
use crate::import::job::Trigger;
use crate::outbound::event_config::{EventInput, kind_name, parse_kind};
use crate::outbound::{dlq, log, preview};

/// Most messages one redrive call moves.
const MAX_REDRIVE: usize = 1000;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RunInput {
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReplayInput {
    since: String,
    until: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RedriveInput {
    app_id: Option<AppId>,
    limit: Option<usize>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImportRedriveInput {
    limit: Option<usize>,
}

/// A redrive's message limit: 100 by default.
fn redrive_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(100);
    if limit == 0 || limit > MAX_REDRIVE {
        return Err(ApiError::bad_field(
            "limit",
            format!("must be from 1 to {MAX_REDRIVE}"),
        ));
    }
    Ok(limit)
}

fn kind(raw: &str) -> Result<crate::directory::change::ChangeKind, ApiError> {
    parse_kind(raw).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no event kind {raw}; kinds are user_created, user_updated, user_deactivated, \
             user_deleted, member_added, member_removed"
        ))
    })
}

impl AdminApi {
    pub(super) async fn outbound(&self, route: Route<'_>, req: &Request) -> Reply {
        let method = req.method().as_str();
        let configs = &self.configs;
        let app_id = |raw: &str| path_id(raw, "app", AppId::parse);
        match (route, method) {
            (Route::AuthConfigs(app), "GET") => {
                let auths = configs.list_auths(&app_id(app)?).await?;
                let items: Vec<_> = auths.iter().map(|a| a.view()).collect();
                json(200, &serde_json::json!({ "items": items }))
            }
            (Route::AuthConfigs(app), "POST") => {
                let app = app_id(app)?;
                let auth = configs.create_auth(&app, json_body::<AuthInput>(req)?).await?;
                resource(
                    201,
                    &auth.view(),
                    auth.version,
                    Some(format!("/admin/apps/{app}/auth-configs/{}", auth.id)),
                )
            }
            (Route::AuthConfigs(_), _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
            (Route::AuthConfig(app, id), m) => {
                let app = app_id(app)?;
                let id = path_id(id, "authorization config", AuthId::parse)?;
                let auth = match m {
                    "GET" => configs.get_auth(&app, &id).await?,
                    "PUT" => {
                        configs
                            .replace_auth(&app, &id, json_body::<AuthInput>(req)?, precondition(req)?)
                            .await?
                    }
                    "DELETE" => {
                        configs.delete_auth(&app, &id, precondition(req)?).await?;
                        return no_content();
                    }
                    _ => {
                        return Err(ApiError::MethodNotAllowed {
                            allow: "GET, PUT, DELETE",
                        });
                    }
                };
                resource(200, &auth.view(), auth.version, None)
            }
            (Route::EventConfigs(app), "GET") => {
                let events = configs.list_events(&app_id(app)?).await?;
                // What each event's templates may use, for the console's request editor.
                let placeholders: serde_json::Map<String, serde_json::Value> =
                    crate::outbound::event_config::KINDS
                        .iter()
                        .map(|k| {
                            (
                                kind_name(*k).to_string(),
                                serde_json::json!(crate::connector::template::available(*k)),
                            )
                        })
                        .collect();
                json(
                    200,
                    &serde_json::json!({ "items": events, "placeholders": placeholders }),
                )
            }
            (Route::EventConfigs(_), _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            (Route::EventConfig(app, raw), m) => {
                let app = app_id(app)?;
                let kind = kind(raw)?;
                match m {
                    "GET" => {
                        let event = configs.get_event(&app, kind).await?;
                        resource(200, &event, event.version, None)
                    }
                    "PUT" => {
                        let saved = configs
                            .put_event(&app, kind, json_body::<EventInput>(req)?, precondition(req)?)
                            .await?;
                        if saved.config.enabled && kind == ChangeKind::UserCreated {
                            // Users already in the app's scope may have been skipped until now:
                            // they get their accounts without waiting for a change of their own.
                            // On every such PUT, not only on the switch, so that a retried PUT
                            // (after a failure here) still re-scopes.
                            self.directory.rescope_app(&app).await?;
                            let all_users = self.directory.get_app(&app).await?.scope
                                == crate::directory::apps::AppScope::AllUsers;
                            if all_users {
                                self.rescope_all_users(&app, false).await?;
                            }
                        }
                        let location = format!("/admin/apps/{app}/event-configs/{}", kind_name(kind));
                        let event = saved.config;
                        resource(
                            if saved.created { 201 } else { 200 },
                            &event,
                            event.version,
                            Some(location),
                        )
                    }
                    "DELETE" => {
                        configs.delete_event(&app, kind, precondition(req)?).await?;
                        no_content()
                    }
                    _ => Err(ApiError::MethodNotAllowed {
                        allow: "GET, PUT, DELETE",
                    }),
                }
            }
            (Route::EventPreview(app, raw), "POST") => {
                let app = app_id(app)?;
                let kind = kind(raw)?;
                let input = json_body::<preview::PreviewInput>(req)?;
                json(
                    200,
                    &preview::preview(configs, &self.directory, &app, kind, &input).await?,
                )
            }
            (Route::EventPreview(..), _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (Route::AppLog(app), "GET") => {
                let app = app_id(app)?;
                self.directory.get_app(&app).await?;
                let (limit, cursor) = paging(req)?;
                let page = log::list_for_app(&self.directory.store, &app, limit, cursor.as_deref())
                    .await
                    .map_err(crate::directory::DirectoryError::from)?;
                json(200, &page)
            }
            (Route::UserLog(user), "GET") => {
                let user = path_id(user, "user", UserId::parse)?;
                let (limit, cursor) = paging(req)?;
                let page = log::list_for_user(&self.directory.store, &user, limit, cursor.as_deref())
                    .await
                    .map_err(crate::directory::DirectoryError::from)?;
                json(200, &page)
            }
            (Route::AppLog(_) | Route::UserLog(_), _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            (Route::Redrive, "POST") => {
                let input: RedriveInput = if super::request::body_bytes(req).is_empty() {
                    RedriveInput::default()
                } else {
                    json_body(req)?
                };
                let limit = redrive_limit(input.limit)?;
                let (Some(dlq_url), Some(queue_url)) = (&self.queues.dispatch_dlq, &self.queues.dispatch)
                else {
                    return Err(ApiError::Unavailable(
                        "the dispatch queues are not configured".into(),
                    ));
                };
                let moved = dlq::redrive(&self.queues.sqs, dlq_url, queue_url, input.app_id.as_ref(), limit)
                    .await
                    .map_err(ApiError::Unavailable)?;
                json(200, &moved)
            }
            (Route::Redrive, _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (Route::ImportRedrive, "POST") => {
                let input: ImportRedriveInput = if super::request::body_bytes(req).is_empty() {
                    ImportRedriveInput::default()
                } else {
                    json_body(req)?
                };
                let limit = redrive_limit(input.limit)?;
                let (Some(dlq_url), Some(queue_url)) = (&self.queues.import_dlq, &self.queues.import) else {
                    return Err(ApiError::Unavailable(
                        "the import queues are not configured".into(),
                    ));
                };
                let moved = dlq::redrive(&self.queues.sqs, dlq_url, queue_url, None, limit)
                    .await
                    .map_err(ApiError::Unavailable)?;
                json(200, &moved)
            }
            (Route::ImportRedrive, _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (Route::Replay, "POST") => {
                let input: ReplayInput = json_body(req)?;
                let window = replay::Window::parse(&input.since, input.until.as_deref())?;
                let Some(queue_url) = &self.queues.dispatch else {
                    return Err(ApiError::Unavailable(
                        "the dispatch queue is not configured".into(),
                    ));
                };
                let replayed = replay::replay(
                    &self.directory.store,
                    &self.queues.sqs,
                    queue_url,
                    &window,
                    input.cursor.as_deref(),
                    replay::MAX_PER_CALL,
                )
                .await?;
                json(200, &replayed)
            }
            (Route::Replay, _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (Route::ImportConfigs(app), "GET") => {
                let imports = configs.list_imports(&app_id(app)?).await?;
                json(200, &serde_json::json!({ "items": imports }))
            }
            (Route::ImportConfigs(app), "POST") => {
                let app = app_id(app)?;
                let import = configs
                    .put_import(
                        &app,
                        None,
                        json_body::<ImportInput>(req)?,
                        crate::directory::Precondition::Any,
                    )
                    .await?;
                let location = format!("/admin/apps/{app}/import-configs/{}", import.id);
                resource(201, &import, import.version, Some(location))
            }
            (Route::ImportConfigs(_), _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
            (Route::ImportConfig(app, id), m) => {
                let app = app_id(app)?;
                let import = match m {
                    "GET" => configs.get_import(&app, id).await?,
                    "PUT" => {
                        configs
                            .put_import(&app, Some(id), json_body::<ImportInput>(req)?, precondition(req)?)
                            .await?
                    }
                    "DELETE" => {
                        configs.delete_import(&app, id, precondition(req)?).await?;
                        return no_content();
                    }
                    _ => {
                        return Err(ApiError::MethodNotAllowed {
                            allow: "GET, PUT, DELETE",
                        });
                    }
                };
                resource(200, &import, import.version, None)
            }
            (Route::ImportRuns(app, id), "POST") => {
                let app = app_id(app)?;
                let input: RunInput = if super::request::body_bytes(req).is_empty() {
                    RunInput::default()
                } else {
                    json_body(req)?
                };
                let job = self
                    .importer
                    .start(&app, id, input.dry_run, Trigger::Manual, None)
                    .await?;
                resource(202, &job, job.version, Some(format!("/admin/jobs/{}", job.id)))
            }
            (Route::ImportRuns(..), _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (Route::AppJobs(app), "GET") => {
                let app = app_id(app)?;
                self.directory.get_app(&app).await?;
                let (limit, cursor) = paging(req)?;
                json(
                    200,
                    &self.importer.list_jobs(&app, limit, cursor.as_deref()).await?,
                )
            }
            (Route::Job(id), "GET") => {
                let job = self.importer.report(id).await?;
                resource(200, &job, job.version, None)
            }
            (Route::AppJobs(_) | Route::Job(_), _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            _ => Err(ApiError::NotFound(format!("no route {}", req.uri().path()))),
        }
    }
}
