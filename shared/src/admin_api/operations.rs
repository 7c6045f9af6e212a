//! Admin routes of provisioning operations: provision on demand, test connection, the deletion
//! threshold's held deprovisions and their decision, and cancelling or resuming an import run.
//! (A handler of its own: in debug builds every route of one big match shares one stack frame.)

use lambda_http::Request;

use super::request::{json_body, paging, path_id};
use super::response::{json, resource};
use super::routes::Route;
use super::{AdminApi, ApiError, Reply};
use crate::ids::{AppId, AuthId, UserId};
use crate::outbound::deletion_guard;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProvisionInput {
    user_id: UserId,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuthTestInput {
    url: Option<String>,
}

impl AdminApi {
    pub(super) async fn operations(&self, route: Route<'_>, req: &Request) -> Reply {
        let method = req.method().as_str();
        let configs = &self.configs;
        let app_id = |raw: &str| path_id(raw, "app", AppId::parse);
        match (route, method) {
            (Route::Provision(app), "POST") => {
                let app = app_id(app)?;
                let input: ProvisionInput = json_body(req)?;
                use crate::outbound::dispatch::on_demand::OnDemandError;
                // Boxed: the dispatcher's future would otherwise enlarge every request's.
                let done = Box::pin(self.dispatcher.provision_now(&app, &input.user_id))
                    .await
                    .map_err(|e| match e {
                        OnDemandError::NotFound(..) => ApiError::NotFound(e.to_string()),
                        OnDemandError::NotCustom => {
                            ApiError::from(crate::directory::DirectoryError::conflict("kind", e.to_string()))
                        }
                        OnDemandError::Store(e) => ApiError::from(e),
                    })?;
                json(200, &done)
            }
            (Route::Provision(_), _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (Route::Reconcile(app), "POST") => {
                let app = self.outbound_app(app).await?;
                let Some(queue_url) = &self.queues.dispatch else {
                    return Err(ApiError::Unavailable(
                        "the dispatch queue is not configured".into(),
                    ));
                };
                let run = crate::outbound::full_reconcile::start(
                    &self.directory.store,
                    &self.queues.sqs,
                    queue_url,
                    &app.id,
                )
                .await
                .map_err(reconcile_refused)?;
                json(202, &run)
            }
            (Route::Reconcile(app), "GET") => {
                let app = self.outbound_app(app).await?;
                match crate::outbound::full_reconcile::latest(&self.directory.store, &app.id).await? {
                    Some(run) => json(200, &run),
                    None => Err(ApiError::NotFound(format!(
                        "app {} has not been reconciled",
                        app.id
                    ))),
                }
            }
            (Route::Reconcile(_), _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
            (Route::Discover(app), "POST") => {
                let app = self.outbound_app(app).await?;
                let Some(target) = &app.scim_target else {
                    return Err(crate::directory::DirectoryError::conflict(
                        "kind",
                        "only scim_target apps have a SCIM service to discover",
                    )
                    .into());
                };
                let supports = self.discover(&app.id, target).await?;
                let supports = supports.ok_or_else(|| {
                    ApiError::bad_field(
                        "scimTarget.authId",
                        "the service asks for an authorization: add one and name it in scimTarget.authId",
                    )
                })?;
                self.directory
                    .set_scim_supports(&app.id, &target.base_url, supports.clone())
                    .await?;
                json(200, &supports)
            }
            (Route::Discover(_), _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (Route::AuthTest(app, id), "POST") => {
                let app = app_id(app)?;
                let id = path_id(id, "authorization config", AuthId::parse)?;
                let input: AuthTestInput = if super::request::body_bytes(req).is_empty() {
                    AuthTestInput::default()
                } else {
                    json_body(req)?
                };
                let auth = configs.get_auth(&app, &id).await?;
                let secret = configs.read_secret(&auth).await?;
                let allowed = self.app_origins(&app, &id).await?;
                let tested = crate::connector::connection_test::test(
                    &self.dispatcher.sender,
                    &auth,
                    &secret,
                    input.url.as_deref(),
                    &allowed,
                )
                .await
                .map_err(|e| ApiError::bad_field("url", e.to_string()))?;
                json(200, &tested)
            }
            (Route::AuthTest(..), _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (Route::HeldDeprovisions(app), "GET") => {
                let app = self.outbound_app(app).await?;
                let (limit, cursor) = paging(req)?;
                let view = deletion_guard::view(
                    &self.directory.store,
                    &app.id,
                    app.deletion_threshold,
                    limit,
                    cursor.as_deref(),
                )
                .await
                .map_err(crate::directory::DirectoryError::from)?;
                json(200, &view)
            }
            (Route::HeldDeprovisions(_), _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            (Route::HeldDecision(app, raw), "POST") => {
                let app = self.outbound_app(app).await?;
                let decision = deletion_guard::Decision::parse(raw).ok_or_else(|| {
                    ApiError::NotFound(format!("no decision {raw}; decisions are approve and reject"))
                })?;
                let Some(queue_url) = &self.queues.dispatch else {
                    return Err(ApiError::Unavailable(
                        "the dispatch queue is not configured".into(),
                    ));
                };
                let decided = deletion_guard::decide(
                    &self.directory.store,
                    &self.queues.sqs,
                    queue_url,
                    &app.id,
                    decision,
                )
                .await
                .map_err(|e| match e {
                    deletion_guard::DecisionError::Store(e) => ApiError::from(e),
                    queue => ApiError::Unavailable(queue.to_string()),
                })?;
                json(200, &decided)
            }
            (Route::HeldDecision(..), _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (Route::JobAction(id, action), "POST") => {
                let job = match action {
                    "cancel" => self.importer.cancel(id).await?,
                    "resume" => self.importer.resume(id).await?,
                    "approve-deactivations" => self.importer.approve_deactivations(id).await?,
                    other => {
                        return Err(ApiError::NotFound(format!(
                            "no action {other}; actions are cancel, resume and approve-deactivations"
                        )));
                    }
                };
                resource(200, &job, job.version, None)
            }
            (Route::JobAction(..), _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            _ => Err(ApiError::NotFound(format!("no route {}", req.uri().path()))),
        }
    }

    /// A SCIM target's discovery, its refusals as errors naming the field: `None` when the service
    /// asks for an authorization and none is configured (not known yet, at creation).
    pub(super) async fn discover(
        &self,
        app: &AppId,
        target: &crate::directory::scim_target::ScimTarget,
    ) -> Result<Option<crate::directory::scim_target::Supports>, ApiError> {
        use crate::outbound::dispatch::DiscoveryError;
        match self.dispatcher.discover_scim(app, target).await {
            Ok(supports) => Ok(Some(supports)),
            Err(DiscoveryError::Unauthorized(_)) if target.auth_id.is_none() => Ok(None),
            Err(e @ (DiscoveryError::Unauthorized(_) | DiscoveryError::NoSuchAuth(_))) => {
                Err(ApiError::bad_field("scimTarget.authId", e.to_string()))
            }
            Err(DiscoveryError::CannotWork(reason)) => Err(ApiError::bad_field("scimTarget.baseUrl", reason)),
            Err(DiscoveryError::Store(reason)) => Err(ApiError::Unavailable(reason)),
        }
    }

    /// The origins the app's event and import configs that use `auth` send to: where its
    /// credentials may go (not where another authorization of the app goes).
    async fn app_origins(&self, app: &AppId, auth: &AuthId) -> Result<Vec<String>, ApiError> {
        use crate::connector::connection_test::origin;
        let mut origins: Vec<String> = Vec::new();
        if let Some(setup) = self.configs.setup(app).await? {
            origins.extend(
                setup
                    .events
                    .values()
                    .filter(|e| e.auth_id.as_ref() == Some(auth))
                    .filter_map(|e| origin(&e.request.url)),
            );
        }
        let imports = self.configs.list_imports(app).await?;
        origins.extend(
            imports
                .iter()
                .filter(|i| i.auth_id.as_ref() == Some(auth))
                .filter_map(|i| origin(&i.request.url)),
        );
        origins.sort();
        origins.dedup();
        Ok(origins)
    }

    /// Every user is looked at again against `app`'s scope (it changed to or from all users, or
    /// an all-users app can create accounts now): a scope-only run of the full reconcile.
    /// `narrows`: users may only have left (back to assigned users): the run's deprovisions are
    /// one change for the deletion threshold.
    pub(super) async fn rescope_all_users(&self, app: &AppId, narrows: bool) -> Result<(), ApiError> {
        let Some(queue_url) = &self.queues.dispatch else {
            return Err(ApiError::Unavailable(
                "the dispatch queue is not configured".into(),
            ));
        };
        crate::outbound::full_reconcile::start_for_scope(
            &self.directory.store,
            &self.queues.sqs,
            queue_url,
            app,
            narrows,
        )
        .await
        .map_err(reconcile_refused)?;
        Ok(())
    }

    /// An app Provisio provisions to (custom provisioning or SCIM): the kinds with outbound calls,
    /// and so a deletion threshold, provision on demand, reconcile and discovery.
    async fn outbound_app(&self, raw: &str) -> Result<crate::directory::apps::App, ApiError> {
        let app = self
            .directory
            .get_app(&path_id(raw, "app", AppId::parse)?)
            .await?;
        if !app.kind.is_outbound() {
            return Err(crate::directory::DirectoryError::conflict(
                "kind",
                "only apps Provisio provisions to (custom_provisioning, scim_target) have this",
            )
            .into());
        }
        Ok(app)
    }
}

/// Why a full reconcile run did not start, as the admin API answers it.
fn reconcile_refused(e: crate::outbound::full_reconcile::StartError) -> ApiError {
    use crate::outbound::full_reconcile::StartError;
    match e {
        StartError::Running => ApiError::from(crate::directory::DirectoryError::conflict(
            "reconcile",
            e.to_string(),
        )),
        StartError::Store(e) => ApiError::from(e),
        StartError::Queue(q) => ApiError::Unavailable(q),
    }
}
