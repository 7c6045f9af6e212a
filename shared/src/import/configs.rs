//! Storage of import configs, beside the app's other configs (`APP#<appId>` / `IMPORT#<id>`).

use super::config::{DEFAULT_MAX_ATTEMPTS, DEFAULT_PAGE_LIMIT, IMPORT_PREFIX, ImportConfig, ImportInput};
use crate::connector::configs::{ConfigError, Configs};
use crate::directory::{DirectoryError, Precondition};
use crate::ids::AppId;
use crate::store::item::{from_item, string_attr, to_item};
use crate::store::keys;
use crate::store::transaction::{op, transact};
use crate::timestamp;

impl Configs {
    /// Creates (`id` None) or replaces an import config.
    pub async fn put_import(
        &self,
        app: &AppId,
        id: Option<&str>,
        input: ImportInput,
        precondition: Precondition,
    ) -> Result<ImportConfig, ConfigError> {
        self.custom_app(app).await?;
        input.validate()?;
        let current = match id {
            Some(id) => Some(self.get_import(app, id).await?),
            None => None,
        };
        if let Some(c) = &current {
            precondition.check(c.version)?;
        }
        // Users carry their source app, not the import: with two imports, one run's missing
        // users could be the other's.
        let others = self.list_imports(app).await?;
        let mut others = others.iter().filter(|o| Some(o.id.as_str()) != id);
        if input.deactivate_missing.enabled && others.clone().next().is_some() {
            return Err(DirectoryError::invalid(
                "deactivateMissing.enabled",
                "only an app's one import config can deactivate missing users: the app has another",
            )
            .into());
        }
        if let Some(other) = others.find(|o| o.deactivate_missing.enabled) {
            return Err(DirectoryError::conflict(
                "deactivateMissing",
                format!(
                    "the app's import config {} deactivates missing users, so it must stay the app's only one",
                    other.name
                ),
            )
            .into());
        }
        let now = timestamp::now();
        let config = ImportConfig {
            id: current
                .as_ref()
                .map_or_else(|| uuid::Uuid::now_v7().to_string(), |c| c.id.clone()),
            app_id: app.clone(),
            name: input.name.trim().to_string(),
            request: input.request,
            auth_id: input.auth_id.clone(),
            users_path: input.users_path,
            pagination: input.pagination,
            mapping: input.mapping,
            page_limit: input.page_limit.unwrap_or(DEFAULT_PAGE_LIMIT),
            max_attempts: input.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
            schedule: input.schedule,
            deactivate_missing: input.deactivate_missing,
            version: current.as_ref().map_or(1, |c| c.version + 1),
            created: current.as_ref().map_or(now.clone(), |c| c.created.clone()),
            last_modified: now,
        };
        let item = to_item(&config, &config.keys())?;
        self.save(
            app,
            item,
            current.as_ref().map(|c| c.version),
            input.auth_id.as_ref(),
            ("id", "the import config changed meanwhile; retry"),
        )
        .await?;
        Ok(config)
    }

    pub async fn get_import(&self, app: &AppId, id: &str) -> Result<ImportConfig, ConfigError> {
        self.store
            .get(&keys::app(app), &format!("{IMPORT_PREFIX}{id}"))
            .await?
            .ok_or_else(|| DirectoryError::not_found("import config", id).into())
    }

    pub async fn list_imports(&self, app: &AppId) -> Result<Vec<ImportConfig>, ConfigError> {
        let items = self
            .app_items(app)
            .await?
            .ok_or_else(|| DirectoryError::not_found("app", app))?;
        let mut imports: Vec<ImportConfig> = items
            .others
            .into_iter()
            .filter(|item| {
                string_attr(item, crate::resources::SK).is_some_and(|sk| sk.starts_with(IMPORT_PREFIX))
            })
            .map(from_item)
            .collect::<Result<_, _>>()?;
        imports.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(imports)
    }

    pub async fn delete_import(
        &self,
        app: &AppId,
        id: &str,
        precondition: Precondition,
    ) -> Result<(), ConfigError> {
        let current = self.get_import(app, id).await?;
        precondition.check(current.version)?;
        let table = &self.store.table;
        let ops = vec![
            op::delete_if_version(table, current.keys().primary(), current.version),
            op::delete(table, super::job::run_lock_keys(app, id).primary()),
        ];
        transact(&self.store, ops)
            .await?
            .map_err(|_| DirectoryError::conflict("id", "the import config changed meanwhile; retry"))?;
        Ok(())
    }
}
