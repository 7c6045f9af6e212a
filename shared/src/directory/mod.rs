//! The directory: users, groups, membership, apps and app login policies, kept in the single
//! table. Each operation costs a fixed number of DynamoDB requests, whatever the directory's size
//! (see docs/ARCHITECTURE.md for the table of access patterns).

pub mod apps;
pub mod change;
pub mod change_stream;
pub mod emails;
pub mod error;
pub mod groups;
pub mod memberships;
pub mod nullable;
pub mod policies;
pub mod record;
pub mod replay;
pub mod scim_mapping;
pub mod scim_target;
pub mod scim_tokens;
pub mod scope;
pub mod settings;
pub mod summary;
pub mod users;
pub mod validate;
pub mod version;

pub use error::{DirectoryError, found};
pub use version::Precondition;

use crate::store::Store;

/// Page size bounds of every listing.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;

#[derive(Debug, Clone)]
pub struct Directory {
    pub store: Store,
    /// Whether emails are unique, as last read and when ([`emails`]).
    email_rule: emails::RuleCache,
}

impl Directory {
    pub fn new(store: Store) -> Self {
        Directory {
            store,
            email_rule: Default::default(),
        }
    }
}
