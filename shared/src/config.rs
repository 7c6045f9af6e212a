//! Configuration read once at cold start.

use crate::resources::{self, Queue, env};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table: String,
    pub dispatch_queue_url: Option<String>,
    pub import_queue_url: Option<String>,
    /// Secret id (name or ARN) holding the admin keys.
    pub admin_keys_secret: String,
    /// Where the dispatcher sends permanent failures, with the reason as message attributes.
    pub dispatch_dlq_url: Option<String>,
    /// Where import page messages go after their last delivery (the admin API's redrive reads it).
    pub import_dlq_url: Option<String>,
    /// Prefix of the secret names of authorization configs.
    pub secrets_prefix: String,
}

impl Config {
    /// Reads the environment; absent variables fall back to the local names.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Config {
            table: lookup(env::TABLE).unwrap_or_else(|| resources::DEFAULT_TABLE.to_string()),
            dispatch_queue_url: lookup(Queue::Dispatch.url_env()),
            import_queue_url: lookup(Queue::Import.url_env()),
            admin_keys_secret: lookup(env::ADMIN_KEYS_SECRET)
                .unwrap_or_else(|| resources::secret::ADMIN_KEYS.to_string()),
            dispatch_dlq_url: lookup(env::DISPATCH_DLQ_URL),
            import_dlq_url: lookup(env::IMPORT_DLQ_URL),
            secrets_prefix: lookup(env::SECRETS_PREFIX)
                .unwrap_or_else(|| resources::secret::DEFAULT_PREFIX.to_string()),
        }
    }

    /// The configuration as the environment variables that carry it (what `devstack bootstrap`
    /// prints for `make dev`).
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            (env::TABLE, self.table.clone()),
            (env::ADMIN_KEYS_SECRET, self.admin_keys_secret.clone()),
            (env::SECRETS_PREFIX, self.secrets_prefix.clone()),
        ];
        for (name, value) in [
            (env::DISPATCH_QUEUE_URL, &self.dispatch_queue_url),
            (env::IMPORT_QUEUE_URL, &self.import_queue_url),
            (env::DISPATCH_DLQ_URL, &self.dispatch_dlq_url),
            (env::IMPORT_DLQ_URL, &self.import_dlq_url),
        ] {
            if let Some(value) = value {
                vars.push((name, value.clone()));
            }
        }
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_local_names() {
        let config = Config::from_lookup(|_| None);
        assert_eq!(config.table, "provisio");
        assert_eq!(config.admin_keys_secret, "provisio/admin-keys");
        assert_eq!(config.dispatch_queue_url, None);
    }

    #[test]
    fn environment_overrides() {
        let config = Config::from_lookup(|name| match name {
            "PROVISIO_TABLE" => Some("t1".into()),
            "PROVISIO_IMPORT_QUEUE_URL" => Some("http://q".into()),
            _ => None,
        });
        assert_eq!(config.table, "t1");
        assert_eq!(config.import_queue_url.as_deref(), Some("http://q"));
    }
}
