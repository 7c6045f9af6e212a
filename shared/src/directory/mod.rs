//! The directory: users, groups, membership, apps and app login policies, kept in the single
//! table. Each operation costs a fixed number of DynamoDB requests, whatever the directory's size
//! (see docs/ARCHITECTURE.md for the table of access patterns).

pub mod apps;
pub mod change;
pub mod emails;
pub mod error;
pub mod groups;
pub mod memberships;
pub mod nullable;
pub mod policies;
pub mod record;
pub mod relay;
pub mod scim_mapping;
pub mod scim_tokens;
pub mod scope;
pub mod settings;
pub mod users;
pub mod validate;
pub mod version;

pub use error::{DirectoryError, found};
pub use version::Precondition;

use crate::store::Store;

/// Most events a request relays itself; more wait in the outbox for the sweeper.
pub const RELAY_INLINE_MAX: usize = 500;

/// Page size bounds of every listing.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;

#[derive(Debug, Clone)]
pub struct Directory {
    pub store: Store,
    /// Sends committed change events on to the dispatch queue; without one (or when sending
    /// fails) they wait in the outbox for the sweeper.
    pub relay: Option<crate::directory::relay::Relay>,
    /// Whether emails are unique, as last read and when ([`emails`]).
    email_rule: emails::RuleCache,
}

impl Directory {
    pub fn new(store: Store) -> Self {
        Directory {
            store,
            relay: None,
            email_rule: Default::default(),
        }
    }

    pub fn with_relay(mut self, relay: Option<crate::directory::relay::Relay>) -> Self {
        self.relay = relay;
        self
    }

    /// Hands committed events to the relay. A failure is logged, not returned: the change is
    /// stored and its events are in the outbox, where the sweeper finds them.
    pub(crate) async fn published(&self, events: &[change::ChangeEvent]) {
        let Some(relay) = &self.relay else { return };
        if events.is_empty() {
            return;
        }
        if events.len() > RELAY_INLINE_MAX {
            // A whole large group (a policy on it, its deletion): relaying in the request could
            // outlast API Gateway's 29 s; the sweeper sends them within a minute or two.
            tracing::info!(count = events.len(), "events left to the sweeper");
            return;
        }
        if let Err(e) = relay.publish(&self.store, events).await {
            tracing::warn!(error = %e, count = events.len(), "relay failed; the sweeper will send these events");
        }
    }
}
