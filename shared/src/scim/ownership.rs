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

use super::{Context, ScimApi, ScimError};
use crate::directory::DirectoryError;
use crate::ids::AppId;

/// Whether the request's source may write a resource owned by `owner`. `released`: an owner
/// found to be a deleted app, whose resources count as unowned.
pub fn may_write(
    ctx: &Context,
    resource: &str,
    owner: Option<&AppId>,
    released: Option<&AppId>,
) -> Result<(), ScimError> {
    let owner = owner.filter(|o| Some(*o) != released);
    match owner {
        Some(owner) if owner == &ctx.app => Ok(()),
        None if ctx.settings.adopt_unowned => Ok(()),
        None => Err(ScimError::new(
            403,
            None,
            format!(
                "this {resource} is managed in the directory (or by a source since deleted), not by this source; an administrator can let this app adopt such {resource}s (adoptUnowned)"
            ),
        )),
        Some(owner) => Err(ScimError {
            owner: Some(owner.clone()),
            ..ScimError::new(
                403,
                None,
                format!(
                    "this {resource} belongs to another source; only that source may change or delete it"
                ),
            )
        }),
    }
}

impl ScimApi {
    /// Runs `write`, which checks ownership with [`may_write`] given the owner to treat as
    /// released; when refused for a deleted source's resource that this source may adopt, runs it
    /// once more with that owner released.
    pub(super) async fn owned_write<T, Fut>(
        &self,
        ctx: &Context,
        write: impl Fn(Option<AppId>) -> Fut,
    ) -> Result<T, ScimError>
    where
        Fut: std::future::Future<Output = Result<T, ScimError>>,
    {
        match write(None).await {
            Err(refused) => match self.released_owner(ctx, &refused).await? {
                Some(owner) => write(Some(owner)).await,
                None => Err(refused),
            },
            done => done,
        }
    }

    /// After a write refused for another source's resource: that source, if it is a deleted app
    /// and this source may adopt (its resources are unowned now). One GetItem, on refusals only.
    pub(super) async fn released_owner(
        &self,
        ctx: &Context,
        refused: &ScimError,
    ) -> Result<Option<AppId>, ScimError> {
        let Some(owner) = refused.owner.as_ref().filter(|_| ctx.settings.adopt_unowned) else {
            return Ok(None);
        };
        match self.directory.get_app(owner).await {
            Err(DirectoryError::NotFound { .. }) => Ok(Some(owner.clone())),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(None),
        }
    }
}
