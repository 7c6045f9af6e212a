//! A group's own change (renamed, deleted) reaching the SCIM apps it was pushed to (issue 17.3):
//! the group link says which apps have it, under which id and name. State decides, as for users:
//! the group as stored now against what the link says the app was given, so a duplicate or late
//! event finds nothing to do.

use super::*;
use crate::directory::apps::{App, AppKind};
use crate::outbound::group_link::{self, GroupLink};
use crate::outbound::scim_target;

/// What an app that has the group is sent about it now.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum GroupStep {
    Rename { target_id: String, name: String },
    Delete { target_id: String },
}

/// The step for a group link, from the group as stored now (`None`: deleted).
pub(super) fn group_step(link: &GroupLink, group: Option<&Group>) -> Option<GroupStep> {
    let target_id = link.target_id.clone()?;
    match group {
        Some(group) if link.name.as_deref() != Some(group.name.as_str()) => Some(GroupStep::Rename {
            target_id,
            name: group.name.clone(),
        }),
        Some(_) => None,
        // A group of the service's own stays there: Provisio only stops pushing to it.
        None if link.created => Some(GroupStep::Delete { target_id }),
        None => None,
    }
}

impl Dispatcher {
    /// Sends a group's rename or delete to every SCIM app that has the group. `Some(delay)` asks
    /// for a retry.
    pub(super) async fn group_change(
        &self,
        message: &DispatchMessage,
        attempt: u32,
    ) -> Result<Option<Duration>, DispatchError> {
        let event = &message.event;
        let Some(group_id) = &event.group_id else {
            return Ok(None);
        };
        let group: Option<Group> = self.store.get(&keys::group(group_id), PROFILE).await?;
        // A group's change has no profile to resend.
        let try_ = Attempt {
            resend: false,
            ..Attempt::of(message, attempt)
        };
        let mut retry: Option<Duration> = None;
        let mut wait: Option<Duration> = None;
        for app in self.scim_apps().await? {
            if message.app_id.as_ref().is_some_and(|only| only != &app) {
                continue;
            }
            let Some(setup) = self.setup(&app).await? else {
                continue;
            };
            let link: Option<GroupLink> = self.store.get(&group_link::pk(&app, group_id), PROFILE).await?;
            let Some(link) = link else { continue };
            if link.target_id.is_none() && !link.claim_is_stale_at(time::OffsetDateTime::now_utc()) {
                // Being created there under the name read before this change: look again.
                wait = Some(Duration::from_secs(2));
                continue;
            }
            let Some(step) = group_step(&link, group.as_ref()) else {
                continue;
            };
            let result = Box::pin(self.send_group_change(&setup, &link, step, &try_)).await?;
            if let Some(delay) = Box::pin(self.retry_or_give_up(message, &app, attempt, result)).await? {
                retry = Some(retry.map_or(delay, |d| d.max(delay)));
            }
        }
        if let (None, Some(after)) = (retry, wait) {
            // A fresh copy, delayed: waiting for a claim uses up no attempt.
            self.requeue(message, after).await?;
        }
        Ok(retry)
    }

    /// The outbound SCIM apps (a handful: one Query of the app listing).
    async fn scim_apps(&self) -> Result<Vec<AppId>, StoreError> {
        let listing = Listing {
            index: Some(crate::resources::GSI1),
            partition: keys::LIST_APPS,
            sk_prefix: None,
        };
        let apps = self
            .store
            .query_all::<App>(&listing, 10_000, 1000)
            .await
            .map_err(|e| StoreError::Other(e.to_string()))?
            .unwrap_or_default();
        Ok(apps
            .into_iter()
            .filter(|a| a.kind == AppKind::ScimTarget)
            .map(|a| a.id)
            .collect())
    }

    /// One rename or delete at the app; the link follows what the app now has, in one
    /// transaction with the log entry.
    async fn send_group_change(
        &self,
        setup: &AppSetup,
        link: &GroupLink,
        step: GroupStep,
        attempt: &Attempt<'_>,
    ) -> Result<AppResult, StoreError> {
        let Some(target) = &setup.app.scim_target else {
            return Ok(AppResult::Done);
        };
        let (request, kind) = match &step {
            GroupStep::Rename { target_id, name } => (
                scim_target::group_rename(target, target_id, name),
                ChangeKind::GroupRenamed,
            ),
            GroupStep::Delete { target_id } => (
                scim_target::group_delete(target, target_id),
                ChangeKind::GroupDeleted,
            ),
        };
        let (delivery, entry) = match self.send_rendered(setup, kind, request, attempt).await {
            Ok(pair) => pair,
            Err(not_sent) => {
                return Ok(AppResult::Failed {
                    reason: not_sent.to_string(),
                });
            }
        };
        let table = &self.store.table;
        let gone = matches!(delivery.status, Some(404 | 410));
        let next = match (&step, gone, &delivery.verdict) {
            // Renamed there: the link remembers the name.
            (GroupStep::Rename { name, .. }, false, Verdict::Done) => Some(Some(GroupLink {
                name: Some(name.clone()),
                version: link.version + 1,
                last_modified: crate::timestamp::now(),
                ..link.clone()
            })),
            // Deleted, or not there (any more): the link goes. A renamed group the service
            // deleted is found or created again with the next member added.
            (_, true, _) | (GroupStep::Delete { .. }, _, Verdict::Done) => Some(None),
            _ => None,
        };
        let Some(next) = next else {
            self.store.batch_put(vec![entry.item()?]).await?;
            return Ok(self.result(delivery.verdict, attempt));
        };
        let write = match next {
            Some(next) => op::put_if_version(table, to_item(&next, &next.keys())?, link.version),
            None => op::delete_if_version(table, link.keys().primary(), link.version),
        };
        let entry = match gone {
            true => LogEntry {
                reason: Some("the app no longer has the group: forgotten".into()),
                ..entry
            },
            false => entry,
        };
        if transact(&self.store, vec![write, op::put(table, entry.item()?)])
            .await?
            .is_err()
        {
            // The link moved meanwhile (another rename's dispatch, a member push that found the
            // group gone): what the app was last sent is not known. Forget the name sent, and
            // look again: a name not known is sent.
            if let Some(current) = self
                .store
                .get::<GroupLink>(&group_link::pk(&link.app_id, &link.group_id), PROFILE)
                .await?
                .filter(|c| c.target_id.is_some() && c.name.is_some())
            {
                let unknown = GroupLink {
                    name: None,
                    version: current.version + 1,
                    last_modified: crate::timestamp::now(),
                    ..current.clone()
                };
                let write = op::put_if_version(table, to_item(&unknown, &unknown.keys())?, current.version);
                let _ = transact(&self.store, vec![write]).await?;
            }
            self.store.batch_put(vec![entry.item()?]).await?;
            return Ok(AppResult::Retry {
                after: Some(Duration::from_secs(1)),
                reason: "the group link changed meanwhile; looked at again".into(),
            });
        }
        Ok(AppResult::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: Option<&str>, created: bool) -> GroupLink {
        GroupLink {
            app_id: AppId::generate(),
            group_id: GroupId::generate(),
            target_id: Some("t1".into()),
            name: name.map(String::from),
            created,
            version: 3,
            last_modified: "2026-11-30T00:00:00Z".into(),
        }
    }

    fn group(name: &str) -> Group {
        Group {
            id: GroupId::generate(),
            name: name.into(),
            description: None,
            external_id: None,
            source_app_id: None,
            version: 2,
            created: "2026-11-30T00:00:00Z".into(),
            last_modified: "2026-11-30T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_rename_is_sent_once_and_only_groups_provisio_created_are_deleted() {
        let rename = GroupStep::Rename {
            target_id: "t1".into(),
            name: "Ops".into(),
        };
        assert_eq!(
            group_step(&link(Some("Dev"), false), Some(&group("Ops"))),
            Some(rename.clone())
        );
        // A name not known (found by the id it was created with) is sent.
        assert_eq!(group_step(&link(None, true), Some(&group("Ops"))), Some(rename));
        assert_eq!(group_step(&link(Some("Ops"), true), Some(&group("Ops"))), None);
        assert_eq!(
            group_step(&link(Some("Ops"), true), None),
            Some(GroupStep::Delete {
                target_id: "t1".into()
            })
        );
        assert_eq!(group_step(&link(Some("Ops"), false), None), None);
        // Claimed, not yet created there: nothing to address.
        let claimed = GroupLink {
            target_id: None,
            ..link(Some("Dev"), true)
        };
        assert_eq!(group_step(&claimed, None), None);
    }
}
