//! The admin REST API: authentication, routing, and the mapping of directory results to HTTP.
//! The `admin-api` function crate only feeds it Lambda events.

mod apps;
mod console;
mod groups;
pub mod openapi;
mod operations;
mod outbound;
mod policies;
pub mod problem;
pub mod request;
pub mod response;
pub mod routes;
mod users;

use std::time::Instant;

use lambda_http::{Body, Request, Response};

use crate::aws::AwsClients;
use crate::config::Config;

use crate::directory::{Directory, settings};
use crate::secrets::AdminKeys;
use crate::store::Store;
pub use problem::ApiError;
use request::json_body;
use response::json;
use routes::Route;

pub struct AdminApi {
    pub directory: Directory,
    pub configs: crate::connector::configs::Configs,
    pub importer: crate::import::importer::Importer,
    /// Provision on demand takes the dispatcher's own steps.
    pub dispatcher: crate::outbound::dispatch::Dispatcher,
    keys: AdminKeys,
    queues: Queues,
}

/// The queues and their dead-letter queues, for the redrive calls.
struct Queues {
    sqs: aws_sdk_sqs::Client,
    dispatch: Option<String>,
    dispatch_dlq: Option<String>,
    import: Option<String>,
    import_dlq: Option<String>,
}

type Reply = Result<Response<Body>, ApiError>;

/// `Cache-Control: no-store` and `nosniff` on a response.
fn private(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert(
        "cache-control",
        lambda_http::http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        "x-content-type-options",
        lambda_http::http::HeaderValue::from_static("nosniff"),
    );
}

/// `GET /admin/summary`: the directory's counts and the dispatch dead-letter queue's depth.
#[derive(serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardSummary {
    #[serde(flatten)]
    pub directory: crate::directory::summary::Summary,
    /// Messages waiting in the dispatch dead-letter queue (absent when none is configured).
    pub dead_letters: Option<u64>,
    /// Apps whose deprovisions the deletion threshold holds (the oldest 20).
    pub held: Vec<crate::outbound::deletion_guard::HeldApp>,
    /// Apps quarantined because their calls kept failing (the oldest 20).
    pub quarantined: Vec<crate::outbound::quarantine::QuarantinedApp>,
}

impl AdminApi {
    pub fn new(clients: &AwsClients, config: &Config) -> Self {
        let store = Store::new(clients.dynamodb.clone(), &config.table);
        AdminApi {
            directory: Directory::new(store.clone()),
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
            dispatcher: crate::outbound::dispatch::Dispatcher::new(
                clients,
                config,
                crate::outbound::dispatch::Settings::from_env(),
            ),
            keys: AdminKeys::new(clients.secrets.clone(), &config.admin_keys_secret),
            queues: Queues {
                sqs: clients.sqs.clone(),
                dispatch: config.dispatch_queue_url.clone(),
                dispatch_dlq: config.dispatch_dlq_url.clone(),
                import: config.import_queue_url.clone(),
                import_dlq: config.import_dlq_url.clone(),
            },
        }
    }

    /// Handles one request; every outcome, errors included, is an HTTP response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let console = path == "/console" || path.starts_with("/console/");
        let mut response = if console {
            self.console(&req).await.unwrap_or_else(console::problem)
        } else {
            // The API's description is public; everything else needs an admin key.
            let public = path == Route::OpenApi.template();
            match if public {
                Ok(())
            } else {
                self.authorize(&req).await
            } {
                Ok(()) => self.dispatch(&req).await,
                Err(e) => Err(e),
            }
            .unwrap_or_else(ApiError::into_response)
        };
        // The directory is personal data, and the session answer holds the CSRF token: no cache
        // keeps them, no browser sniffs them into a page. (The console's files keep their own.)
        if !console || path == "/console/session" {
            private(&mut response);
        }
        tracing::info!(
            method,
            path,
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "{} request",
            if console { "console" } else { "admin" }
        );
        response
    }

    /// An admin key as a bearer token, or a console session with its CSRF token.
    async fn authorize(&self, req: &Request) -> Result<(), ApiError> {
        let presented = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|k| !k.is_empty());
        if let Some(presented) = presented {
            return match self.keys.verify(presented).await? {
                true => Ok(()),
                false => Err(ApiError::Unauthorized),
            };
        }
        match self.session(req).await? {
            Some(session) if console::csrf_passes(req, &session) => Ok(()),
            _ => Err(ApiError::Unauthorized),
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
            (route @ (Route::Users | Route::User(_) | Route::UserGroups(_)), _) => {
                self.users(route, req).await
            }
            (
                route @ (Route::Groups | Route::Group(_) | Route::GroupMembers(_) | Route::GroupMember(..)),
                _,
            ) => self.groups(route, req).await,
            (route @ (Route::Apps | Route::App(_) | Route::ScimToken(_)), _) => {
                Box::pin(self.apps(route, req)).await
            }
            (route @ (Route::Policies | Route::Policy(_)), _) => self.policies(route, req).await,
            (Route::Settings, "GET") => json(200, &dir.settings().await?),
            (Route::Settings, "PATCH") => {
                let patch: settings::SettingsPatch = json_body(req)?;
                json(200, &dir.update_settings(&patch).await?)
            }
            (Route::Settings, _) => Err(ApiError::MethodNotAllowed { allow: "GET, PATCH" }),
            (Route::Summary, "GET") => {
                let directory = dir.summary().await?;
                let dead_letters = match &self.queues.dispatch_dlq {
                    Some(url) => crate::outbound::dlq::depth(&self.queues.sqs, url)
                        .await
                        .map_err(|e| ApiError::Unavailable(e.to_string()))
                        .map(Some)?,
                    None => None,
                };
                let held = crate::outbound::deletion_guard::held_apps(&dir.store, 20)
                    .await
                    .map_err(crate::directory::DirectoryError::from)?;
                let quarantined = crate::outbound::quarantine::quarantined_apps(&dir.store, 20)
                    .await
                    .map_err(crate::directory::DirectoryError::from)?;
                json(
                    200,
                    &DashboardSummary {
                        directory,
                        dead_letters,
                        held,
                        quarantined,
                    },
                )
            }
            (Route::Summary, _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            (Route::OpenApi, "GET") => response::published_json(openapi::PUBLISHED),
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
                | Route::ImportRedrive
                | Route::Replay
                | Route::ImportConfigs(_)
                | Route::ImportConfig(..)
                | Route::ImportRuns(..)
                | Route::AppJobs(_)
                | Route::Job(_)),
                _,
            ) => self.outbound(route, req).await,
            (
                route @ (Route::Provision(_)
                | Route::Reconcile(_)
                | Route::Discover(_)
                | Route::AuthTest(..)
                | Route::HeldDeprovisions(_)
                | Route::HeldDecision(..)
                | Route::JobAction(..)),
                _,
            ) => Box::pin(self.operations(route, req)).await,
        }
    }
}
