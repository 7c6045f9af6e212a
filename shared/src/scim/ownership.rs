//! Which SCIM source may change which user or group.
//!
//! Every user and group records the source that owns it (`sourceAppId`): the SCIM client app that
//! created it, the app whose import brought it in, or none (created through the admin API). A
//! SCIM source changes and deletes only what it owns, plus what no source owns when the
//! administrator allowed that app to adopt (`adoptUnowned`); its first write then makes it the
//! owner. Anything else is refused with 403 and changes nothing, whatever the request would have
//! done (a replace, a PATCH, a deactivation its `deleteOnDeactivate` would turn into a delete).
//!
//! Reads are not restricted: a source must find users it may adopt, and a `userName` that is
//! taken answers 409 on create whatever the reads show.

use super::{Context, ScimError};
use crate::ids::AppId;

/// Whether the request's source may write a resource owned by `owner`.
pub fn may_write(ctx: &Context, resource: &str, owner: Option<&AppId>) -> Result<(), ScimError> {
    match owner {
        Some(owner) if owner == &ctx.app => Ok(()),
        None if ctx.settings.adopt_unowned => Ok(()),
        None => Err(ScimError::new(
            403,
            None,
            format!(
                "this {resource} is managed in the directory, not by this source; an administrator can let this app adopt such {resource}s (adoptUnowned)"
            ),
        )),
        Some(_) => Err(ScimError::new(
            403,
            None,
            format!("this {resource} belongs to another source; only that source may change or delete it"),
        )),
    }
}
