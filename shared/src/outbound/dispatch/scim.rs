//! The steps of a SCIM target (issue 17): the create (a lookup by userName, then externalId, that
//! links an account the target has, else a POST) and the request of every later step, from the
//! pure builders of `outbound::scim_target`.

use super::steps::{Lookup, MemberChange, NotSent, ScimCall, ScimStop};
use super::*;
use crate::connector::request::Rendered;
use crate::directory::scim_target::{ScimTarget, Supports};
use crate::outbound::group_link::{self, GroupLink};
use crate::outbound::scim_target::{self, Found};

/// Where a member change's group stands at the target.
enum TargetGroup {
    Id(String),
    /// Not pushed (nor to be, for a removal), or deleted from the directory meanwhile.
    Absent,
    Stop(AppResult),
}

/// Why a SCIM target's discovery did not give what it supports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The service asked for an authorization (none configured) or refused the one sent.
    #[error("the service refused the call (HTTP {0}): check the authorization")]
    Unauthorized(u16),
    /// The service can't be provisioned as configured.
    #[error("{0}")]
    CannotWork(String),
    #[error(
        "authorization config {0} does not exist (an app's authorization configs are added after the app)"
    )]
    NoSuchAuth(String),
    #[error("{0}")]
    Store(String),
}

impl Dispatcher {
    /// Asks a SCIM target what it supports (its ServiceProviderConfig and ResourceTypes), with
    /// the authorization `target` names. Nothing is stored.
    pub async fn discover_scim(&self, app: &AppId, target: &ScimTarget) -> Result<Supports, DiscoveryError> {
        let auth = match &target.auth_id {
            Some(id) => {
                let auth = self.configs.get_auth(app, id).await.map_err(|e| match e {
                    crate::connector::configs::ConfigError::Directory(
                        crate::directory::DirectoryError::NotFound { .. },
                    ) => DiscoveryError::NoSuchAuth(id.to_string()),
                    other => DiscoveryError::Store(other.to_string()),
                })?;
                let secret = self
                    .secrets
                    .get(&self.configs, &auth)
                    .await
                    .map_err(|e| DiscoveryError::Store(e.to_string()))?;
                Some((auth, secret))
            }
            None => None,
        };
        let mut answers = Vec::new();
        for (i, request) in scim_target::discovery(target).into_iter().enumerate() {
            let delivery = self
                .sender
                .send(&request, auth.as_ref().map(|(a, s)| (a, s)))
                .await;
            match (delivery.status, &delivery.verdict) {
                (_, Verdict::Done) => answers.push(delivery.body),
                (Some(s @ (401 | 403)), _) => return Err(DiscoveryError::Unauthorized(s)),
                // ResourceTypes is optional for a client to read.
                _ if i == 1 => answers.push(None),
                (_, Verdict::Retry { reason, .. } | Verdict::Permanent { reason }) => {
                    return Err(DiscoveryError::CannotWork(format!(
                        "GET {}/ServiceProviderConfig: {reason}",
                        target.base_url
                    )));
                }
            }
        }
        scim_target::supports(
            answers.first().and_then(Option::as_ref),
            answers.get(1).and_then(Option::as_ref),
            crate::timestamp::now(),
        )
        .map_err(DiscoveryError::CannotWork)
    }

    /// The request of a step after the create (a member change pushes the group first, when the
    /// target doesn't have it yet); `Ok(None)` when there is nothing to send.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn scim_step(
        &self,
        setup: &AppSetup,
        target: &ScimTarget,
        kind: ChangeKind,
        link: &Link,
        user: &Value,
        group: Option<&GroupId>,
        attempt: &Attempt<'_>,
    ) -> Result<Result<Option<ScimCall>, ScimStop>, StoreError> {
        let (ChangeKind::MemberAdded | ChangeKind::MemberRemoved, Some(group)) = (kind, group) else {
            return Ok(
                Self::scim_request(setup, target, kind, link, user, attempt.resend)
                    .map(|r| r.map(ScimCall::Request))
                    .map_err(ScimStop::NotSent),
            );
        };
        let Some(account) = link.external_id.as_deref() else {
            return Ok(Err(ScimStop::NotSent(NotSent::NoAccountId)));
        };
        let add = kind == ChangeKind::MemberAdded;
        Ok(
            match Box::pin(self.scim_group(setup, target, group, add, attempt)).await? {
                TargetGroup::Id(id) => Ok(Some(ScimCall::Member(MemberChange {
                    group: id,
                    account: account.to_string(),
                    add,
                }))),
                // Never pushed: there is no membership at the target to remove.
                TargetGroup::Absent => Ok(None),
                TargetGroup::Stop(result) => Err(ScimStop::Result(result)),
            },
        )
    }

    /// The target's id of `group`: as linked, or found by its name, or created (only to add a
    /// member), under a claim so one group is created once.
    async fn scim_group(
        &self,
        setup: &AppSetup,
        target: &ScimTarget,
        group: &GroupId,
        create: bool,
        attempt: &Attempt<'_>,
    ) -> Result<TargetGroup, StoreError> {
        let table = &self.store.table;
        let current: Option<GroupLink> = self
            .store
            .get(&group_link::pk(&setup.app.id, group), PROFILE)
            .await?;
        if let Some(id) = current.as_ref().and_then(|l| l.target_id.clone()) {
            return Ok(TargetGroup::Id(id));
        }
        if !create {
            return Ok(TargetGroup::Absent);
        }
        if current
            .as_ref()
            .is_some_and(|l| !l.claim_is_stale_at(time::OffsetDateTime::now_utc()))
        {
            return Ok(TargetGroup::Stop(AppResult::Wait(Duration::from_secs(2))));
        }
        let claim = GroupLink {
            app_id: setup.app.id.clone(),
            group_id: group.clone(),
            target_id: None,
            name: None,
            created: false,
            version: current.as_ref().map_or(1, |c| c.version + 1),
            last_modified: crate::timestamp::now(),
        };
        let item = to_item(&claim, &claim.keys())?;
        let put = match &current {
            None => op::put_new(table, item),
            Some(c) => op::put_if_version(table, item, c.version),
        };
        if transact(&self.store, vec![put]).await?.is_err() {
            return Ok(TargetGroup::Stop(AppResult::Wait(Duration::from_secs(2))));
        }
        let stored: Option<Group> = self.store.get(&keys::group(group), PROFILE).await?;
        let Some(name) = stored.map(|g| g.name) else {
            self.release_group(&claim).await?;
            return Ok(TargetGroup::Absent);
        };
        let kind = ChangeKind::MemberAdded;
        let mut found = None;
        if target.supports.as_ref().is_none_or(|s| s.filter) {
            // By the id Provisio created it with first (a create whose answer was lost, a group
            // renamed since), then by name.
            for (attribute, value) in [("externalId", group.as_str()), ("displayName", name.as_str())] {
                let request = scim_target::group_lookup(target, attribute, value);
                match self
                    .group_call(setup, kind, request, &claim, true, attempt)
                    .await?
                {
                    Err(result) => return Ok(TargetGroup::Stop(result)),
                    Ok((delivery, entry)) => {
                        match scim_target::found(delivery.body.as_ref(), attribute, value) {
                            Found::One(id) => {
                                // Found by the id it was created with: Provisio's own, under a
                                // name it may not have now.
                                let ours = attribute == "externalId";
                                let known = (!ours).then(|| name.clone());
                                found = Some((id, entry, known, ours));
                                break;
                            }
                            Found::None => {}
                            Found::Many(n) => {
                                let mut entry = entry;
                                let reason = format!(
                                    "{n} groups of the app match {attribute} {value:?}; none is linked"
                                );
                                entry.outcome = Outcome::Failed;
                                entry.error = Some(reason.clone());
                                self.release_group(&claim).await?;
                                self.store.batch_put(vec![entry.item()?]).await?;
                                return Ok(TargetGroup::Stop(AppResult::Failed { reason }));
                            }
                        }
                    }
                }
            }
        }
        let (id, entry, sent_name, created) = match found {
            Some(found) => found,
            None => {
                let request = scim_target::group_create(target, &name, group.as_str());
                let (delivery, mut entry) = match self
                    .group_call(setup, kind, request, &claim, false, attempt)
                    .await?
                {
                    Err(result) => return Ok(TargetGroup::Stop(result)),
                    Ok(pair) => pair,
                };
                match delivery
                    .body
                    .as_ref()
                    .and_then(|b| b.get("id"))
                    .and_then(scim_target::account_id)
                {
                    Some(id) => (id, entry, Some(name.clone()), true),
                    None => {
                        let reason = "the group was created, but the answer has no `id`".to_string();
                        entry.outcome = Outcome::Failed;
                        entry.error = Some(reason.clone());
                        self.release_group(&claim).await?;
                        self.store.batch_put(vec![entry.item()?]).await?;
                        return Ok(TargetGroup::Stop(AppResult::Failed { reason }));
                    }
                }
            }
        };
        let linked = GroupLink {
            target_id: Some(id.clone()),
            name: sent_name,
            created,
            version: claim.version + 1,
            last_modified: crate::timestamp::now(),
            ..claim.clone()
        };
        let ops = vec![
            op::put_if_version(table, to_item(&linked, &linked.keys())?, claim.version),
            op::put(table, entry.item()?),
        ];
        if transact(&self.store, ops).await?.is_err() {
            return Ok(TargetGroup::Stop(AppResult::Wait(Duration::from_secs(1))));
        }
        Ok(TargetGroup::Id(id))
    }

    /// One call of a group push; one that did not succeed releases the claim and is logged (a
    /// `lookup` the service can't answer, 400, 404 or 501, finds nothing instead).
    async fn group_call(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
        request: Rendered,
        claim: &GroupLink,
        lookup: bool,
        attempt: &Attempt<'_>,
    ) -> Result<Result<(Delivery, LogEntry), AppResult>, StoreError> {
        let (delivery, entry) = match self.send_rendered(setup, kind, request, attempt).await {
            Ok(pair) => pair,
            Err(not_sent) => {
                self.release_group(claim).await?;
                return Ok(Err(AppResult::Failed {
                    reason: not_sent.to_string(),
                }));
            }
        };
        if lookup && matches!(delivery.status, Some(400 | 404 | 501)) {
            return Ok(Ok((delivery, entry)));
        }
        if delivery.verdict != Verdict::Done {
            self.release_group(claim).await?;
            self.store.batch_put(vec![entry.item()?]).await?;
            return Ok(Err(self.result(delivery.verdict, attempt)));
        }
        Ok(Ok((delivery, entry)))
    }

    /// Forgets the target's id of `group` (the service answered 404 for it: deleted there), so
    /// the next member change finds or creates the group again.
    pub(super) async fn forget_group(&self, app: &AppId, group: &GroupId) -> Result<(), StoreError> {
        let current: Option<GroupLink> = self.store.get(&group_link::pk(app, group), PROFILE).await?;
        if let Some(link) = current {
            self.release_group(&link).await?;
        }
        Ok(())
    }

    async fn release_group(&self, claim: &GroupLink) -> Result<(), StoreError> {
        let op = op::delete_if_version(&self.store.table, claim.keys().primary(), claim.version);
        let _ = transact(&self.store, vec![op]).await?;
        Ok(())
    }

    /// The request of a step after the create; `None` when nothing the target is sent changed.
    pub(super) fn scim_request(
        setup: &AppSetup,
        target: &ScimTarget,
        kind: ChangeKind,
        link: &Link,
        user: &Value,
        resend: bool,
    ) -> Result<Option<Rendered>, NotSent> {
        let account = link.external_id.as_deref().ok_or(NotSent::NoAccountId)?;
        // A full reconcile sends everything again (after a mapping change, to repair drift).
        let before = if resend {
            Value::Object(Default::default())
        } else {
            scim_target::sent_before(&link.snapshot, &setup.app)
        };
        let now = match serde_json::from_value::<User>(user.clone()) {
            Ok(user) => scim_target::resource(&user, &setup.app),
            Err(_) => before.clone(),
        };
        let request = match kind {
            ChangeKind::UserUpdated => scim_target::update(target, account, &before, &now),
            ChangeKind::UserDeactivated => Some(scim_target::deactivate(target, account, &before, &now)),
            ChangeKind::UserDeleted => Some(scim_target::delete(target, account)),
            other => return Err(NotSent::NoConfig(other)),
        };
        let etags = target.announces_etags();
        Ok(match (request, &link.etag) {
            (Some(request), Some(etag)) if etags => Some(scim_target::if_match(request, etag)),
            (request, _) => request,
        })
    }

    /// Sends a change of the user's account. A service that announces ETags and answers 412 (the
    /// account changed there since the version the link knows) or 428 (If-Match required) gets
    /// the account read for its version and the change once more with it: the directory decides
    /// what the account holds.
    pub(super) async fn send_scim_change(
        &self,
        setup: &AppSetup,
        target: &ScimTarget,
        kind: ChangeKind,
        link: &Link,
        request: Rendered,
        attempt: &Attempt<'_>,
    ) -> Result<(Delivery, LogEntry), NotSent> {
        let retry = request.clone();
        let (first, first_entry) = Box::pin(self.send_rendered(setup, kind, request, attempt)).await?;
        let etags = target.announces_etags();
        let (Some(412 | 428), true, Some(account)) = (first.status, etags, link.external_id.as_deref())
        else {
            return Ok((first, first_entry));
        };
        let (current, current_entry) =
            Box::pin(self.send_rendered(setup, kind, scim_target::fetch(target, account), attempt)).await?;
        // Every call is on record; the last one is the caller's to store.
        if current.verdict != Verdict::Done {
            // Not read (retried later), or gone there (a delete is done, a change fails).
            Box::pin(self.log_entries(&[&first_entry])).await;
            return Ok((current, current_entry));
        }
        match scim_target::version_of(current.body.as_ref()) {
            Some(etag) => {
                Box::pin(self.log_entries(&[&first_entry, &current_entry])).await;
                Box::pin(self.send_rendered(setup, kind, scim_target::if_match(retry, &etag), attempt)).await
            }
            None => {
                Box::pin(self.log_entries(&[&current_entry])).await;
                Ok((first, first_entry))
            }
        }
    }

    /// Stores log entries of calls made on the way to the one the caller records (best effort:
    /// they are a record, not state).
    async fn log_entries(&self, entries: &[&LogEntry]) {
        let items: Result<Vec<_>, _> = entries.iter().map(|e| e.item()).collect();
        if let Ok(items) = items {
            let _ = Box::pin(self.store.batch_put(items)).await;
        }
    }

    /// Links the account the target already has for the user (found by userName, then by
    /// externalId, when the target filters) at user version 0, so the update that follows sends
    /// everything; else creates it. `Err` carries what to report when neither happened.
    pub(super) async fn scim_create(
        &self,
        setup: &AppSetup,
        target: &ScimTarget,
        user: &User,
        claim: Link,
        snapshot: &Value,
        attempt: &Attempt<'_>,
    ) -> Result<Result<Link, AppResult>, StoreError> {
        // Searched by the values the target is sent (a mapping may move them).
        let resource = scim_target::resource(user, &setup.app);
        if target.supports.as_ref().is_none_or(|s| s.filter) {
            for attribute in scim_target::LOOKUPS {
                let Some(value) = resource.get(attribute).and_then(Value::as_str) else {
                    continue;
                };
                let ours = user.id.as_str();
                match self
                    .scim_lookup(setup, target, (attribute, value), ours, &claim, attempt)
                    .await?
                {
                    Lookup::Found(id) => {
                        let (link, entry) = id;
                        return Ok(Ok(self
                            .activate(claim, Some(link), 0, &Value::Null, &entry)
                            .await?));
                    }
                    Lookup::Stopped(result) => return Ok(Err(result)),
                    Lookup::Absent => {}
                }
            }
        }
        let request = scim_target::create(target, &resource);
        let sent = self
            .send_rendered(setup, ChangeKind::UserCreated, request, attempt)
            .await;
        let (delivery, mut entry) = match self.claimed_call(&claim, sent, attempt).await? {
            Ok(pair) => pair,
            Err(result) => return Ok(Err(result)),
        };
        let Some(account) = delivery
            .body
            .as_ref()
            .and_then(|b| b.get("id"))
            .and_then(scim_target::account_id)
        else {
            // Nothing to address it by: parked; a redrive finds it by its externalId.
            let reason = "created, but the answer has no usable `id`".to_string();
            entry.outcome = Outcome::Failed;
            entry.error = Some(reason.clone());
            self.park_claim(&claim, Some(&entry)).await?;
            return Ok(Err(AppResult::Failed { reason }));
        };
        let claim = Link {
            etag: scim_target::version_of(delivery.body.as_ref()),
            ..claim
        };
        let created = self
            .activate(claim.clone(), Some(account), claim.user_version, snapshot, &entry)
            .await?;
        Ok(Ok(created))
    }

    /// One lookup of `attribute eq value`: the account found (with the entry that found it),
    /// none (also when the service can't search by it: 400, 404, 501), or the search did not go
    /// through (the claim parked or kept for the retry). An account that carries another
    /// identity's externalId (not `ours`) is not taken over.
    async fn scim_lookup(
        &self,
        setup: &AppSetup,
        target: &ScimTarget,
        (attribute, value): (&str, &str),
        ours: &str,
        claim: &Link,
        attempt: &Attempt<'_>,
    ) -> Result<Lookup<(String, LogEntry)>, StoreError> {
        let request = scim_target::lookup(target, attribute, value);
        let (delivery, mut entry) = match self
            .send_rendered(setup, ChangeKind::UserCreated, request, attempt)
            .await
        {
            Ok(pair) => pair,
            Err(not_sent) => {
                self.park_claim(claim, None).await?;
                return Ok(Lookup::Stopped(AppResult::Failed {
                    reason: not_sent.to_string(),
                }));
            }
        };
        if delivery.verdict != Verdict::Done {
            if matches!(delivery.status, Some(400 | 404 | 501)) {
                return Ok(Lookup::Absent);
            }
            return Ok(Lookup::Stopped(
                self.stop_claim(claim, delivery.verdict, entry, attempt).await?,
            ));
        }
        let body = delivery.body.as_ref();
        let refuse = |entry: &mut LogEntry, reason: String| {
            entry.outcome = Outcome::Failed;
            entry.error = Some(reason.clone());
            reason
        };
        Ok(match scim_target::found(body, attribute, value) {
            Found::One(id) => match scim_target::claimed_by_another(body, &id, ours) {
                None => Lookup::Found((id, entry)),
                Some(theirs) => {
                    let reason = refuse(
                        &mut entry,
                        format!(
                            "the app's account {id} ({attribute} {value:?}) belongs to externalId {theirs:?}: not taken over"
                        ),
                    );
                    self.park_claim(claim, Some(&entry)).await?;
                    Lookup::Stopped(AppResult::Failed { reason })
                }
            },
            Found::None => Lookup::Absent,
            Found::Many(n) => {
                // Linking any of them would be a guess, and creating one more a duplicate.
                let reason = refuse(
                    &mut entry,
                    format!("{n} accounts of the app match {attribute} {value:?}; none is linked"),
                );
                self.park_claim(claim, Some(&entry)).await?;
                Lookup::Stopped(AppResult::Failed { reason })
            }
        })
    }
}
