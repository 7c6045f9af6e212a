//! Storage of an app's authorization configs: items in the app's partition (`APP#<id>` /
//! `AUTH#<authId>`), their secrets in Secrets Manager, read once per config version by each
//! process. The configs that use them (outbound event configs, import configs) are stored by their
//! own layers, beside them in the partition, through [`Configs::save`].

use std::collections::HashMap;

use super::auth_config::{AUTH_PREFIX, AuthConfig, AuthInput, AuthSecret};
use crate::directory::apps::{App, AppKind};
use crate::directory::{Directory, DirectoryError, Precondition, scope};
use crate::ids::{AppId, AuthId};
use crate::secrets::{self, SecretError};
use crate::store::item::{Item, from_item, key, string_attr, to_item};
use crate::store::keys::{self, PROFILE};
use crate::store::transaction::{op, transact};
use crate::store::{Listing, Store, StoreError};
use crate::timestamp;

/// An app with its authorization configs and the rest of its partition, raw.
#[derive(Debug, Clone)]
pub struct AppItems {
    pub app: App,
    pub auths: HashMap<AuthId, AuthConfig>,
    pub others: Vec<Item>,
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
        if !app.kind.is_outbound() {
            return Err(DirectoryError::conflict(
                "kind",
                "authorization configs belong to custom_provisioning and scim_target apps",
            ));
        }
        Ok(app)
    }

    /// An app whose calls are templates: event and import configs belong to it.
    pub(crate) async fn custom_app(&self, id: &AppId) -> Result<App, DirectoryError> {
        let app = self.directory().get_app(id).await?;
        if app.kind != AppKind::CustomProvisioning {
            return Err(DirectoryError::conflict(
                "kind",
                "event and import configs belong to custom_provisioning apps (a scim_target app's calls are SCIM's)",
            ));
        }
        Ok(app)
    }

    fn secret_name(&self, app: &AppId, auth: &AuthId) -> String {
        format!("{}/apps/{app}/auth/{auth}", self.secrets_prefix)
    }

    /// The app, its authorization configs and every other item of its partition (the configs
    /// of the layers above: event configs, import configs, run locks, SCIM token digests): one
    /// Query.
    pub async fn app_items(&self, id: &AppId) -> Result<Option<AppItems>, StoreError> {
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
        let mut others = Vec::new();
        for item in items {
            let sk = string_attr(&item, crate::resources::SK).unwrap_or_default();
            if sk == PROFILE {
                app = Some(from_item::<App>(item)?);
            } else if sk.starts_with(AUTH_PREFIX) {
                let auth: AuthConfig = from_item(item)?;
                auths.insert(auth.id.clone(), auth);
            } else {
                others.push(item);
            }
        }
        Ok(app.map(|app| AppItems { app, auths, others }))
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
        let items = self
            .app_items(app)
            .await?
            .ok_or_else(|| DirectoryError::not_found("app", app))?;
        let mut auths: Vec<AuthConfig> = items.auths.into_values().collect();
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

    /// Deletes a config that no other config of the app uses (409 naming that config otherwise).
    pub async fn delete_auth(
        &self,
        app: &AppId,
        id: &AuthId,
        precondition: Precondition,
    ) -> Result<(), ConfigError> {
        let items = self
            .app_items(app)
            .await?
            .ok_or_else(|| DirectoryError::not_found("app", app))?;
        let current = items
            .auths
            .get(id)
            .ok_or_else(|| DirectoryError::not_found("authorization config", id))?;
        precondition.check(current.version)?;
        if items
            .app
            .scim_target
            .as_ref()
            .is_some_and(|t| t.auth_id.as_ref() == Some(id))
        {
            return Err(DirectoryError::conflict(
                "id",
                "the app's SCIM connection uses this authorization: choose another there first",
            )
            .into());
        }
        // Any config of the app (event, import) that names it.
        if let Some(user) = items
            .others
            .iter()
            .find(|item| string_attr(item, "authId").as_deref() == Some(id.as_str()))
        {
            let sk = string_attr(user, crate::resources::SK).unwrap_or_default();
            let (kind, name) = sk.split_once('#').unwrap_or(("a", &sk));
            return Err(DirectoryError::conflict(
                "id",
                format!(
                    "the {} config {name} uses this authorization; change it first",
                    kind.to_lowercase()
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

    /// Keys of every config item of an app (deleted with it) and the secrets to delete after.
    pub async fn app_dependents(&self, app: &AppId) -> Result<(Vec<Item>, Vec<String>), StoreError> {
        let Some(items) = self.app_items(app).await? else {
            return Ok((Vec::new(), Vec::new()));
        };
        let mut keys: Vec<Item> = items.auths.values().map(|a| a.keys().primary()).collect();
        let pk = crate::store::keys::app(app);
        keys.extend(
            items
                .others
                .iter()
                .filter_map(|item| string_attr(item, crate::resources::SK))
                .map(|sk| key(pk.clone(), sk)),
        );
        Ok((keys, items.auths.into_values().map(|a| a.secret_name).collect()))
    }
}
