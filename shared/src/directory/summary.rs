//! The directory at a glance (the console's dashboard): how many users, groups and apps, each
//! counted by one bounded Query, so the dashboard costs the same in any directory.

use serde::Serialize;

use super::{Directory, DirectoryError};
use crate::resources::GSI1;
use crate::store::Listing;
use crate::store::keys::{LIST_APPS, LIST_GROUPS, LIST_USERS};
use crate::store::read::Count;

/// Most items counted per kind; beyond it the figure reads "10000+".
pub const COUNT_CAP: u32 = 10_000;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub users: Count,
    pub groups: Count,
    pub apps: Count,
}

impl Directory {
    pub async fn summary(&self) -> Result<Summary, DirectoryError> {
        let listing = |partition| Listing {
            index: Some(GSI1),
            partition,
            sk_prefix: None,
        };
        let (users, groups, apps) = (listing(LIST_USERS), listing(LIST_GROUPS), listing(LIST_APPS));
        let (users, groups, apps) = tokio::try_join!(
            self.store.count(&users, COUNT_CAP),
            self.store.count(&groups, COUNT_CAP),
            self.store.count(&apps, COUNT_CAP)
        )?;
        Ok(Summary { users, groups, apps })
    }
}
