//! Storage of an outbound app's authorization and event configs: items in the app's partition
//! (`APP#<id>`), secrets in Secrets Manager. One Query reads an app with all its configs.

use std::collections::HashMap;

use super::auth_config::{AUTH_PREFIX, AuthConfig, AuthInput, AuthSecret};
use super::event_config::{EVENT_PREFIX, EventConfig, EventInput, event_keys, kind_name};
use crate::directory::apps::{App, AppKind};
use crate::directory::change::ChangeKind;
use crate::directory::{Directory, DirectoryError, Precondition, scope};
use crate::ids::{AppId, AuthId};
use crate::secrets::{self, SecretError};
use crate::store::item::{Item, from_item, key, string_attr, to_item};
use crate::store::keys::{self, PROFILE};
use crate::store::transaction::{op, transact};
use crate::store::{Listing, Store, StoreError};
use crate::timestamp;

/// An outbound app with everything the dispatcher needs to call it.
#[derive(Debug, Clone)]
pub struct AppSetup {
    pub app: App,
    pub auths: HashMap<AuthId, AuthConfig>,
    pub events: HashMap<ChangeKind, EventConfig>,
    pub imports: HashMap<String, crate::import::config::ImportConfig>,
    /// Keys of the app's other items (import run locks, SCIM token digests), deleted with it.
    pub others: Vec<Item>,
}

impl AppSetup {
    /// Whether the app has an enabled event config for `kind`.
    pub fn enabled(&self, kind: ChangeKind) -> bool {
        self.events.get(&kind).is_some_and(|e| e.enabled)
    }
}

/// Authorization secrets of one process: read from Secrets Manager once per config version, for
/// every message after (the dispatcher's calls, the importer's pages).
#[derive(Debug, Default)]
pub struct SecretCache {
    loaded: tokio::sync::Mutex<HashMap<(String, u64), AuthSecret>>,
}

impl SecretCache {
    pub async fn get(&self, configs: &Configs, auth: &AuthConfig) -> Result<AuthSecret, SecretError> {
        let key = (auth.secret_name.clone(), auth.version);
        let mut loaded = self.loaded.lock().await;
        if let Some(secret) = loaded.get(&key) {
            return Ok(secret.clone());
        }
        let secret = configs.read_secret(auth).await?;
        loaded.insert(key, secret.clone());
        Ok(secret)
    }
}

/// An event config as saved.
#[derive(Debug, Clone)]
pub struct SavedEvent {
    pub config: EventConfig,
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl From<StoreError> for ConfigError {
    fn from(e: StoreError) -> Self {
        ConfigError::Directory(e.into())
    }
}

#[derive(Debug, Clone)]
pub struct Configs {
    pub store: Store,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub secrets_prefix: String,
}

impl Configs {
    pub fn new(
        store: Store,
        secrets: aws_sdk_secretsmanager::Client,
        secrets_prefix: impl Into<String>,
    ) -> Self {
        Configs {
            store,
            secrets,
            secrets_prefix: secrets_prefix.into(),
        }
    }

    fn directory(&self) -> Directory {
        Directory::new(self.store.clone())
    }

    /// The app, which must be a custom provisioning app.
    pub(crate) async fn outbound_app(&self, id: &AppId) -> Result<App, DirectoryError> {
        let app = self.directory().get_app(id).await?;
        if app.kind != AppKind::CustomProvisioning {
            return Err(DirectoryError::conflict(
                "kind",
                "authorization and event configs belong to custom_provisioning apps",
            ));
        }
        Ok(app)
    }

    fn secret_name(&self, app: &AppId, auth: &AuthId) -> String {
        format!("{}/apps/{app}/auth/{auth}", self.secrets_prefix)
    }

    /// The app and all its configs: one Query.
    pub async fn setup(&self, id: &AppId) -> Result<Option<AppSetup>, StoreError> {
        let pk = keys::app(id);
        let items = self
            .store
            .query_items(&Listing {
                index: None,
                partition: &pk,
                sk_prefix: None,
            })
            .await?;
        let mut app = None;
        let mut auths = HashMap::new();
        let mut events = HashMap::new();
        let mut imports = HashMap::new();
        let mut others = Vec::new();
        for item in items {
            let sk = string_attr(&item, crate::resources::SK).unwrap_or_default();
            if sk == PROFILE {
                app = Some(from_item::<App>(item)?);
            } else if sk.starts_with(AUTH_PREFIX) {
                let auth: AuthConfig = from_item(item)?;
                auths.insert(auth.id.clone(), auth);
            } else if sk.starts_with(EVENT_PREFIX) {
                let event: EventConfig = from_item(item)?;
                events.insert(event.kind, event);
            } else if sk.starts_with(crate::import::config::IMPORT_PREFIX) {
                let import: crate::import::config::ImportConfig = from_item(item)?;
                imports.insert(import.id.clone(), import);
            } else if sk.starts_with("RUN#") || sk == "SCIM_TOKEN" {
                others.push(key(pk.clone(), sk));
            }
        }
        Ok(app.map(|app| AppSetup {
            app,
            auths,
            events,
            imports,
            others,
        }))
    }

    pub async fn read_secret(&self, auth: &AuthConfig) -> Result<AuthSecret, SecretError> {
        let raw = secrets::read_secret(&self.secrets, &auth.secret_name).await?;
        serde_json::from_str(&raw).map_err(|_| SecretError::Unreadable {
            id: auth.secret_name.clone(),
            reason: "not an authorization secret document".into(),
        })
    }

    async fn write_secret(&self, name: &str, secret: &AuthSecret) -> Result<(), SecretError> {
        let value = serde_json::to_string(secret).unwrap_or_default();
        secrets::put_secret(&self.secrets, name, &value).await
    }

    pub async fn create_auth(&self, app: &AppId, input: AuthInput) -> Result<AuthConfig, ConfigError> {
        self.outbound_app(app).await?;
        let (name, settings, secret) = input.split()?;
        let Some(secret) = secret else {
            return Err(DirectoryError::invalid(
                "secret",
                "the secret part (clientSecret, token, or a custom request's headers/body) is required",
            )
            .into());
        };
        let id = AuthId::generate();
        let now = timestamp::now();
        let config = AuthConfig {
            secret_name: self.secret_name(app, &id),
            id,
            app_id: app.clone(),
            name,
            settings,
            version: 1,
            created: now.clone(),
            last_modified: now,
        };
        // The secret first: a config never points at a secret that isn't there.
        self.write_secret(&config.secret_name, &secret).await?;
        let table = &self.store.table;
        let ops = vec![
            op::put_new(table, to_item(&config, &config.keys())?),
            op::check_exists(table, key(keys::app(app), PROFILE)),
            scope::bump(table),
        ];
        if transact(&self.store, ops).await?.is_err() {
            let _ = secrets::delete_secret(&self.secrets, &config.secret_name).await;
            return Err(DirectoryError::not_found("app", app).into());
        }
        Ok(config)
    }

    pub async fn list_auths(&self, app: &AppId) -> Result<Vec<AuthConfig>, ConfigError> {
        let setup = self
            .setup(app)
            .await?
            .ok_or_else(|| DirectoryError::not_found("app", app))?;
        let mut auths: Vec<AuthConfig> = setup.auths.into_values().collect();
        auths.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(auths)
    }

    pub async fn get_auth(&self, app: &AppId, id: &AuthId) -> Result<AuthConfig, ConfigError> {
        self.store
            .get(&keys::app(app), &format!("{AUTH_PREFIX}{id}"))
            .await?
            .ok_or_else(|| DirectoryError::not_found("authorization config", id).into())
    }

    /// Replaces a config; secret fields left out keep the stored secret when the type is unchanged.
    pub async fn replace_auth(
        &self,
        app: &AppId,
        id: &AuthId,
        input: AuthInput,
        precondition: Precondition,
    ) -> Result<AuthConfig, ConfigError> {
        let current = self.get_auth(app, id).await?;
        precondition.check(current.version)?;
        let (name, settings, secret) = input.split()?;
        if secret.is_none() && settings.type_name() != current.settings.type_name() {
            return Err(DirectoryError::invalid(
                "type",
                "changing the type needs the new type's secret fields",
            )
            .into());
        }
        let version = current.version + 1;
        // A new secret goes under a name of its own, and the config points at it only if the
        // config is still the version read: a replace that loses the race leaves the live
        // secret alone (and removes what it wrote).
        let secret_name = match &secret {
            Some(_) => format!(
                "{}/v{version}-{}",
                self.secret_name(app, id),
                uuid::Uuid::now_v7().simple()
            ),
            None => current.secret_name.clone(),
        };
        let next = AuthConfig {
            name,
            settings,
            version,
            secret_name,
            last_modified: timestamp::now(),
            ..current.clone()
        };
        if let Some(secret) = &secret {
            self.write_secret(&next.secret_name, secret).await?;
        }
        let ops = vec![
            op::put_if_version(&self.store.table, to_item(&next, &next.keys())?, current.version),
            scope::bump(&self.store.table),
        ];
        let stored = transact(&self.store, ops).await?;
        if secret.is_some() {
            let unused = if stored.is_ok() {
                &current.secret_name
            } else {
                &next.secret_name
            };
            if let Err(e) = secrets::delete_secret(&self.secrets, unused).await {
                tracing::warn!(secret = %unused, error = %e, "an unused authorization secret was not deleted");
            }
        }
        if stored.is_err() {
            let stored = self.get_auth(app, id).await?;
            return Err(DirectoryError::PreconditionFailed {
                expected: current.version,
                current: stored.version,
            }
            .into());
        }
        Ok(next)
    }

    /// Deletes a config that no event config uses (409 naming the event otherwise).
    pub async fn delete_auth(
        &self,
        app: &AppId,
        id: &AuthId,
        precondition: Precondition,
    ) -> Result<(), ConfigError> {
        let setup = self
            .setup(app)
            .await?
            .ok_or_else(|| DirectoryError::not_found("app", app))?;
        let current = setup
            .auths
            .get(id)
            .ok_or_else(|| DirectoryError::not_found("authorization config", id))?;
        precondition.check(current.version)?;
        if let Some(import) = setup.imports.values().find(|i| i.auth_id.as_ref() == Some(id)) {
            return Err(DirectoryError::conflict(
                "id",
                format!(
                    "import config {} uses this authorization; change it first",
                    import.id
                ),
            )
            .into());
        }
        if let Some(event) = setup.events.values().find(|e| e.auth_id.as_ref() == Some(id)) {
            return Err(DirectoryError::conflict(
                "id",
                format!(
                    "the {} event config uses this authorization; change it first",
                    kind_name(event.kind)
                ),
            )
            .into());
        }
        let ops = vec![
            op::delete_if_version(&self.store.table, current.keys().primary(), current.version),
            scope::bump(&self.store.table),
        ];
        if transact(&self.store, ops).await?.is_err() {
            return Err(DirectoryError::PreconditionFailed {
                expected: current.version,
                current: current.version + 1,
            }
            .into());
        }
        secrets::delete_secret(&self.secrets, &current.secret_name).await?;
        Ok(())
    }

    /// Creates or replaces the event config of `kind`.
    pub async fn put_event(
        &self,
        app: &AppId,
        kind: ChangeKind,
        input: EventInput,
        precondition: Precondition,
    ) -> Result<SavedEvent, ConfigError> {
        self.outbound_app(app).await?;
        input.validate(kind)?;
        let keys = event_keys(app, kind);
        let current: Option<EventConfig> = self.store.get(&keys.pk, &keys.sk).await?;
        match (&current, precondition) {
            (Some(c), p) => p.check(c.version)?,
            (None, Precondition::Any) => {}
            (None, _) => return Err(DirectoryError::not_found("event config", kind_name(kind)).into()),
        }
        let now = timestamp::now();
        let config = EventConfig {
            app_id: app.clone(),
            kind,
            enabled: input.enabled,
            request: input.request,
            auth_id: input.auth_id.clone(),
            external_id_path: input.external_id_path,
            lookup: input.lookup,
            version: current.as_ref().map_or(1, |c| c.version + 1),
            created: current.as_ref().map_or(now.clone(), |c| c.created.clone()),
            last_modified: now,
        };
        let item = to_item(&config, &keys)?;
        self.save(
            app,
            item,
            current.as_ref().map(|c| c.version),
            input.auth_id.as_ref(),
            ("kind", "the event config changed meanwhile; retry"),
        )
        .await?;
        Ok(SavedEvent {
            created: current.is_none(),
            config,
        })
    }

    /// Writes a config item: new (`current` None) or replacing that version, with the
    /// authorization config it uses checked in the same transaction. `conflict` is the field and
    /// the detail of a lost race.
    pub(crate) async fn save(
        &self,
        app: &AppId,
        item: Item,
        current: Option<u64>,
        auth: Option<&AuthId>,
        conflict: (&str, &str),
    ) -> Result<(), ConfigError> {
        let table = &self.store.table;
        let mut ops = vec![match current {
            Some(version) => op::put_if_version(table, item, version),
            None => op::put_new(table, item),
        }];
        if let Some(auth) = auth {
            ops.push(op::check_exists(
                table,
                key(keys::app(app), format!("{AUTH_PREFIX}{auth}")),
            ));
        }
        // Last, so the slots above keep their indexes.
        ops.push(scope::bump(table));
        match transact(&self.store, ops).await? {
            Ok(()) => Ok(()),
            Err(c) if c.failed(1) => {
                Err(DirectoryError::invalid("authId", "is not an authorization config of this app").into())
            }
            Err(_) => Err(DirectoryError::conflict(conflict.0, conflict.1).into()),
        }
    }

    pub async fn get_event(&self, app: &AppId, kind: ChangeKind) -> Result<EventConfig, ConfigError> {
        let keys = event_keys(app, kind);
        self.store
            .get(&keys.pk, &keys.sk)
            .await?
            .ok_or_else(|| DirectoryError::not_found("event config", kind_name(kind)).into())
    }

    pub async fn list_events(&self, app: &AppId) -> Result<Vec<EventConfig>, ConfigError> {
        let setup = self
            .setup(app)
            .await?
            .ok_or_else(|| DirectoryError::not_found("app", app))?;
        let mut events: Vec<EventConfig> = setup.events.into_values().collect();
        events.sort_by_key(|e| super::event_config::KINDS.iter().position(|k| *k == e.kind));
        Ok(events)
    }

    pub async fn delete_event(
        &self,
        app: &AppId,
        kind: ChangeKind,
        precondition: Precondition,
    ) -> Result<(), ConfigError> {
        let current = self.get_event(app, kind).await?;
        precondition.check(current.version)?;
        let ops = vec![
            op::delete_if_version(&self.store.table, current.keys().primary(), current.version),
            scope::bump(&self.store.table),
        ];
        transact(&self.store, ops)
            .await?
            .map_err(|_| DirectoryError::conflict("kind", "the event config changed meanwhile; retry"))?;
        Ok(())
    }

    /// Keys of every config item of an app (deleted with the app) and the secrets to delete after.
    pub async fn app_dependents(&self, app: &AppId) -> Result<(Vec<Item>, Vec<String>), StoreError> {
        let Some(setup) = self.setup(app).await? else {
            return Ok((Vec::new(), Vec::new()));
        };
        let mut keys: Vec<Item> = setup.auths.values().map(|a| a.keys().primary()).collect();
        keys.extend(setup.events.values().map(|e| e.keys().primary()));
        keys.extend(setup.imports.values().map(|i| i.keys().primary()));
        keys.extend(setup.others.iter().cloned());
        Ok((keys, setup.auths.into_values().map(|a| a.secret_name).collect()))
    }
}
