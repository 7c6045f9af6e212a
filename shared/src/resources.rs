//! The one place that names the AWS resources: table, key attributes, indexes, queues, secrets and
//! the environment variables that carry them. The bootstrap, the functions and the test that checks
//! `infra/template.yaml` all read from here.

/// Partition and sort key attribute names of the single table.
pub const PK: &str = "pk";
pub const SK: &str = "sk";

/// A global secondary index: overloaded keys, every item type chooses what it puts in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub pk: &'static str,
    pub sk: &'static str,
}

/// Listings and exact lookups by a natural key: `USER` + lowercased userName, `GROUP` + lowercased
/// name, `APP` + name, `POLICY` + app.
pub const GSI1: Index = Index {
    name: "gsi1",
    pk: "gsi1pk",
    sk: "gsi1sk",
};

/// Inverted relations: groups of a user, policies of a group, user by email.
pub const GSI2: Index = Index {
    name: "gsi2",
    pk: "gsi2pk",
    sk: "gsi2sk",
};

/// External ids: a user by the id a source app (a SCIM client) knows it by.
pub const GSI3: Index = Index {
    name: "gsi3",
    pk: "gsi3pk",
    sk: "gsi3sk",
};

pub const INDEXES: [Index; 3] = [GSI1, GSI2, GSI3];

/// DynamoDB TTL attribute: outbox events expire by it.
pub const TTL: &str = "ttl";

/// Table name used locally and as the default when `PROVISIO_TABLE` is not set.
pub const DEFAULT_TABLE: &str = "provisio";

/// Every key attribute the table declares (all strings).
pub fn key_attributes() -> Vec<&'static str> {
    let mut names = vec![PK, SK];
    for index in INDEXES {
        names.push(index.pk);
        names.push(index.sk);
    }
    names
}

/// The SQS queues, each with a dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Change events on their way to outbound provisioning (dispatcher function).
    Dispatch,
    /// One message per import page (importer function).
    Import,
}

impl Queue {
    pub const ALL: [Queue; 2] = [Queue::Dispatch, Queue::Import];

    /// Base name; deployed queues are prefixed with the stack name, local ones with `provisio-`.
    pub fn base_name(self) -> &'static str {
        match self {
            Queue::Dispatch => "dispatch",
            Queue::Import => "import",
        }
    }

    pub fn dlq_base_name(self) -> &'static str {
        match self {
            Queue::Dispatch => "dispatch-dlq",
            Queue::Import => "import-dlq",
        }
    }

    /// Logical id of the queue in `infra/template.yaml`.
    pub fn logical_id(self) -> &'static str {
        match self {
            Queue::Dispatch => "DispatchQueue",
            Queue::Import => "ImportQueue",
        }
    }

    pub fn dlq_logical_id(self) -> &'static str {
        match self {
            Queue::Dispatch => "DispatchDeadLetterQueue",
            Queue::Import => "ImportDeadLetterQueue",
        }
    }

    /// Environment variable that carries the queue URL to the functions.
    pub fn url_env(self) -> &'static str {
        match self {
            Queue::Dispatch => env::DISPATCH_QUEUE_URL,
            Queue::Import => env::IMPORT_QUEUE_URL,
        }
    }

    /// Deliveries before a message moves to the dead-letter queue.
    pub fn max_receive_count(self) -> u32 {
        5
    }

    /// Seconds a received message stays invisible; also the function timeout's upper bound.
    pub fn visibility_timeout_secs(self) -> u32 {
        match self {
            Queue::Dispatch => 60,
            Queue::Import => 180,
        }
    }

    /// Messages handed to one invocation.
    pub fn batch_size(self) -> u32 {
        match self {
            Queue::Dispatch => 10,
            Queue::Import => 1,
        }
    }

    /// Local queue name for a prefix (`provisio` for `make dev`, a unique one per test).
    pub fn local_name(self, prefix: &str) -> String {
        format!("{prefix}-{}", self.base_name())
    }

    pub fn local_dlq_name(self, prefix: &str) -> String {
        format!("{prefix}-{}", self.dlq_base_name())
    }
}

/// Names of secrets in Secrets Manager.
pub mod secret {
    /// JSON `{"keys": ["..."]}`: the admin API's bearer keys.
    pub const ADMIN_KEYS: &str = "provisio/admin-keys";
    /// Default prefix of the secrets of authorization configs:
    /// `<prefix>/apps/<appId>/auth/<authId>`.
    pub const DEFAULT_PREFIX: &str = "provisio";
}

/// Environment variables read by [`crate::config::Config::from_env`].
pub mod env {
    pub const TABLE: &str = "PROVISIO_TABLE";
    pub const DISPATCH_QUEUE_URL: &str = "PROVISIO_DISPATCH_QUEUE_URL";
    pub const IMPORT_QUEUE_URL: &str = "PROVISIO_IMPORT_QUEUE_URL";
    pub const ADMIN_KEYS_SECRET: &str = "PROVISIO_ADMIN_KEYS_SECRET";
    pub const DISPATCH_DLQ_URL: &str = "PROVISIO_DISPATCH_DLQ_URL";
    pub const IMPORT_DLQ_URL: &str = "PROVISIO_IMPORT_DLQ_URL";
    /// Names of the secrets Provisio creates (auth configs) start with this.
    pub const SECRETS_PREFIX: &str = "PROVISIO_SECRETS_PREFIX";
    /// Optional tuning of the dispatcher (seconds; defaults in `outbound::dispatch::Settings`):
    /// the first retry delay.
    pub const RETRY_BASE_SECS: &str = "PROVISIO_RETRY_BASE_SECS";
    /// Every variable the template must set on each function.
    pub const ALL: [&str; 7] = [
        TABLE,
        DISPATCH_QUEUE_URL,
        IMPORT_QUEUE_URL,
        ADMIN_KEYS_SECRET,
        DISPATCH_DLQ_URL,
        IMPORT_DLQ_URL,
        SECRETS_PREFIX,
    ];
}
