//! The configuration the dispatcher decides with (scope grants, app setups, authorization
//! secrets), held per process and dropped when the configuration version moves
//! (`directory::scope`).

use super::*;

/// The configuration as this process last read it: grants (scope) and app setups, loaded when
/// first needed and dropped when the configuration version moves past `version`.
#[derive(Default)]
pub(super) struct ConfigView {
    version: Option<u64>,
    scope: Option<Arc<scope::Scope>>,
    apps: HashMap<AppId, Option<Arc<AppSetup>>>,
}

impl Dispatcher {
    /// Drops the configuration this process holds if the configuration version moved (one
    /// strongly consistent GetItem). An error means the batch must not be decided now.
    pub(super) async fn sync_config(&self) -> Result<(), StoreError> {
        let mut version = scope::version(&self.store).await?;
        if !version.grants_complete() {
            // A table from before grants existed: write them once, before deciding from them.
            let n = scope::backfill(&self.store).await?;
            tracing::info!(grants = n, "grants backfilled from the policies");
            version = scope::version(&self.store).await?;
        }
        let mut view = self.view.lock().await;
        if view.version.is_none_or(|held| held < version.version) {
            *view = ConfigView {
                version: Some(version.version),
                ..ConfigView::default()
            };
        }
        Ok(())
    }

    /// Every app login policy as a grant and the apps whose scope is every user, read strongly
    /// when the view has none.
    pub(super) async fn scope(&self) -> Result<Arc<scope::Scope>, StoreError> {
        let mut view = self.view.lock().await;
        if let Some(scope) = &view.scope {
            return Ok(scope.clone());
        }
        let scope = Arc::new(scope::load(&self.store).await?);
        view.scope = Some(scope.clone());
        Ok(scope)
    }

    pub(super) async fn setup(&self, app: &AppId) -> Result<Option<Arc<AppSetup>>, StoreError> {
        let mut view = self.view.lock().await;
        if let Some(setup) = view.apps.get(app) {
            return Ok(setup.clone());
        }
        let setup = self.configs.setup(app).await?.map(Arc::new);
        view.apps.insert(app.clone(), setup.clone());
        Ok(setup)
    }

    pub(super) async fn secret(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
    ) -> Result<Option<(crate::connector::auth_config::AuthConfig, AuthSecret)>, SecretFailure> {
        let Some(auth_id) = setup.events.get(&kind).and_then(|e| e.auth_id.as_ref()) else {
            return Ok(None);
        };
        let auth = setup
            .auths
            .get(auth_id)
            .ok_or_else(|| SecretFailure::Gone(format!("authorization config {auth_id} is gone")))?;
        // Unreadable is retried: a config replaced a moment ago may have moved its secret, and
        // the next batch reads the new config.
        let secret = self
            .secrets
            .get(&self.configs, auth)
            .await
            .map_err(|e| SecretFailure::Unreadable(e.to_string()))?;
        Ok(Some((auth.clone(), secret)))
    }
}

/// Why an authorization could not be used.
pub(super) enum SecretFailure {
    /// The event config names an authorization config that no longer exists: permanent.
    Gone(String),
    /// Secrets Manager did not give the secret: retried.
    Unreadable(String),
}
