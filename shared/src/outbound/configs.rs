//! Storage of a custom provisioning app's event configs (`APP#<id>` / `EVENT#<kind>`), beside its
//! authorization configs (`connector::configs`); the app with both, as the dispatcher uses it.

use std::collections::HashMap;

use super::event_config::{EVENT_PREFIX, EventConfig, EventInput, event_keys, kind_name};
use crate::connector::auth_config::AuthConfig;
use crate::connector::configs::{ConfigError, Configs};
use crate::directory::apps::App;
use crate::directory::change::ChangeKind;
use crate::directory::{DirectoryError, Precondition, scope};
use crate::ids::{AppId, AuthId};
use crate::store::StoreError;
use crate::store::item::{from_item, string_attr, to_item};
use crate::store::transaction::{op, transact};
use crate::timestamp;

/// An outbound app with everything the dispatcher needs to call it.
#[derive(Debug, Clone)]
pub struct AppSetup {
    pub app: App,
    pub auths: HashMap<AuthId, AuthConfig>,
    pub events: HashMap<ChangeKind, EventConfig>,
    /// The kinds with an enabled event config, worked out once when the setup is read (the
    /// dispatcher keeps a setup for as long as the configuration version stays).
    pub enabled_kinds: Vec<ChangeKind>,
}

impl AppSetup {
    /// Whether the app has an enabled event config for `kind`.
    pub fn enabled(&self, kind: ChangeKind) -> bool {
        self.enabled_kinds.contains(&kind)
    }
}

/// An event config as saved.
#[derive(Debug, Clone)]
pub struct SavedEvent {
    pub config: EventConfig,
    pub created: bool,
}

impl Configs {
    /// The app and all its configs: one Query.
    pub async fn setup(&self, id: &AppId) -> Result<Option<AppSetup>, StoreError> {
        let Some(items) = self.app_items(id).await? else {
            return Ok(None);
        };
        let mut events = HashMap::new();
        for item in items.others {
            if string_attr(&item, crate::resources::SK).is_some_and(|sk| sk.starts_with(EVENT_PREFIX)) {
                let event: EventConfig = from_item(item)?;
                events.insert(event.kind, event);
            }
        }
        if let Some(target) = &items.app.scim_target {
            // A SCIM target's steps are SCIM's, not configured one by one.
            events = super::scim_target::event_configs(&items.app, target);
        }
        let enabled_kinds = events.values().filter(|e| e.enabled).map(|e| e.kind).collect();
        Ok(Some(AppSetup {
            app: items.app,
            auths: items.auths,
            events,
            enabled_kinds,
        }))
    }

    /// Creates or replaces the event config of `kind`.
    pub async fn put_event(
        &self,
        app: &AppId,
        kind: ChangeKind,
        input: EventInput,
        precondition: Precondition,
    ) -> Result<SavedEvent, ConfigError> {
        self.custom_app(app).await?;
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
}
