//! Taking a reconcile's steps: the calls to the app (rendered, authorized, logged) and the link
//! writes that record what the app was told, for the decisions of `outbound::reconcile`.

use super::config_view::SecretFailure;
use super::user_state::UserState;
use super::*;

impl Dispatcher {
    /// Brings one app in line with the user's state: asks [`reconcile::next_step`] what to do,
    /// does it (a call, a link write), and asks again with the link as stored. Every way out that
    /// calls nothing for a user the app is concerned with says why ([`AppResult::Skipped`], or a
    /// skip logged with the link write in [`Dispatcher::fire_and_store`]).
    pub(super) async fn reconcile(
        &self,
        setup: &AppSetup,
        state: &UserState,
        in_scope: bool,
        attempt: &Attempt<'_>,
    ) -> Result<AppResult, StoreError> {
        let mut link = state.links.get(&setup.app.id).cloned();
        // A SCIM target gets the groups that give it its users (its policies' groups), not every
        // group a user is in.
        let pushed: BTreeSet<GroupId>;
        let groups = if setup.app.scim_target.is_some() {
            let scope = self.scope().await?;
            pushed = state
                .groups
                .iter()
                .filter(|g| {
                    scope
                        .grants
                        .iter()
                        .any(|gr| gr.app_id == setup.app.id && &gr.group_id == *g)
                })
                .cloned()
                .collect();
            &pushed
        } else {
            &state.groups
        };
        if attempt.resend && setup.app.scim_target.is_some() {
            // A full reconcile pushes every membership again (a SCIM add of a member the group
            // has changes nothing; one the service lost comes back), and removes the stale ones.
            if let Some(l) = link.as_mut() {
                l.groups.retain(|g| !groups.contains(g));
            }
        }
        let snapshot = |fallback: &Link| match &state.user {
            Some(user) => serde_json::to_value(user).unwrap_or(Value::Null),
            None => fallback.snapshot.clone(),
        };
        // Each step moves the link on (a create, a profile change, one group): bounded by them.
        let most_steps = 4 + groups.len() + link.as_ref().map_or(0, |l| l.groups.len());
        for acted in std::iter::once(false)
            .chain(std::iter::repeat(true))
            .take(most_steps)
        {
            let step = reconcile::next_step(&reconcile::Situation {
                link: link.as_ref(),
                user: state.user.as_ref(),
                in_scope,
                groups,
                enabled: &setup.enabled_kinds,
                deprovision: setup.app.deprovision,
                event: attempt.event.kind,
                event_id: &attempt.event.id,
                forced: attempt.forced,
                resend: attempt.resend,
                acted,
                now: time::OffsetDateTime::now_utc(),
            });
            match step {
                Step::Done => return Ok(AppResult::Done),
                Step::Skip { event, reason } => return Ok(AppResult::Skipped { event, reason }),
                Step::Wait(after) => return Ok(AppResult::Wait(after)),
                Step::Deprovision { kind, next } => {
                    let Some(current) = link else {
                        return Ok(AppResult::Done);
                    };
                    if let Some(sent) = kind.filter(|k| setup.enabled(*k))
                        // Boxed: the reconcile's own future stays small (it is nested in every caller's).
                        && Box::pin(self.held(setup, sent, &current, attempt)).await?
                    {
                        return Ok(AppResult::Held);
                    }
                    let snapshot = snapshot(&current);
                    return Box::pin(
                        self.fire_and_store(setup, kind, &current, next, snapshot, None, attempt),
                    )
                    .await;
                }
                Step::Create => {
                    let Some(user) = &state.user else {
                        return Ok(AppResult::Done);
                    };
                    if link.is_none()
                        && let Some(adopted) = self.adopt_source_account(setup, user, attempt).await?
                    {
                        link = Some(adopted);
                        continue;
                    }
                    let snapshot = serde_json::to_value(user).unwrap_or(Value::Null);
                    match Box::pin(self.create(setup, user, link.as_ref(), &snapshot, attempt)).await? {
                        Ok(created) => link = Some(created),
                        Err(result) => return Ok(result),
                    }
                }
                Step::Advance { kind, next, group } => {
                    let Some(current) = link else {
                        return Ok(AppResult::Done);
                    };
                    if group.is_none() && Self::echoes(setup, &current, state.user.as_ref(), attempt) {
                        // The app made this change itself: remember the version, send nothing.
                        let next = Link {
                            last_modified: crate::timestamp::now(),
                            version: current.version + 1,
                            ..next
                        };
                        let entry = skip_entry(&setup.app.id, attempt, kind, Skip::FromThisApp);
                        let ops = vec![
                            op::put_if_version(
                                &self.store.table,
                                to_item(&next, &next.keys())?,
                                current.version,
                            ),
                            op::put(&self.store.table, entry.item()?),
                        ];
                        if transact(&self.store, ops).await?.is_err() {
                            return Ok(AppResult::Wait(Duration::from_secs(1)));
                        }
                        link = Some(next);
                        continue;
                    }
                    // A user deactivated in the directory is a deprovision too (a source that
                    // deactivates everyone by mistake).
                    if kind == ChangeKind::UserDeactivated
                        && setup.enabled(kind)
                        && Box::pin(self.held(setup, kind, &current, attempt)).await?
                    {
                        return Ok(AppResult::Held);
                    }
                    let snapshot = snapshot(&current);
                    match Box::pin(self.advance(
                        setup,
                        kind,
                        &current,
                        next,
                        &snapshot,
                        group.as_ref(),
                        attempt,
                    ))
                    .await?
                    {
                        Ok(stored) => link = Some(stored),
                        Err(result) => return Ok(result),
                    }
                }
            }
        }
        Ok(AppResult::Retry {
            after: None,
            reason: "the reconcile did not settle; tried again".into(),
        })
    }

    /// Whether the profile change about to be sent is the app's own (an import from it) and
    /// nothing else: the event came from this app, is the user's latest version, and the app
    /// had every version before it. Otherwise what the app lacks is sent, the import's part too.
    fn echoes(setup: &AppSetup, link: &Link, user: Option<&User>, attempt: &Attempt<'_>) -> bool {
        let event = attempt.event;
        let app = &setup.app.id;
        event.origin.as_ref() == Some(app)
            // The import read the very account the link is to (not another one it matched).
            && user.is_some_and(|u| {
                Some(u.version) == event.user_version
                    && u.source_app_id.as_ref() == Some(app)
                    && u.external_id.is_some()
                    && u.external_id == link.external_id
            })
            && event.user_version == Some(link.user_version + 1)
    }

    /// A user imported from this app, without a link to it: linked to the account the import
    /// read (the user's external id there) rather than created a second time.
    async fn adopt_source_account(
        &self,
        setup: &AppSetup,
        user: &User,
        attempt: &Attempt<'_>,
    ) -> Result<Option<Link>, StoreError> {
        let (Some(source), Some(account)) = (&user.source_app_id, &user.external_id) else {
            return Ok(None);
        };
        let has_lookup = setup
            .events
            .get(&ChangeKind::UserCreated)
            .is_some_and(|c| c.lookup.is_some());
        // With a lookup configured, the create asks the app, which knows better (the account
        // may have been deleted there since the import).
        if source != &setup.app.id || has_lookup {
            return Ok(None);
        }
        let linked = Link {
            user_id: user.id.clone(),
            app_id: setup.app.id.clone(),
            state: if user.active {
                LinkState::Active
            } else {
                LinkState::Deactivated
            },
            external_id: Some(account.clone()),
            // At version 0, like a lookup's link: the update that follows sends what the
            // directory has changed since the import.
            user_version: 0,
            groups: Vec::new(),
            snapshot: serde_json::to_value(user).unwrap_or(Value::Null),
            claimed_by: None,
            parked: None,
            etag: None,
            version: 1,
            last_modified: crate::timestamp::now(),
        };
        let entry = skip_entry(
            &setup.app.id,
            attempt,
            ChangeKind::UserCreated,
            Skip::ImportedFromThisApp,
        );
        let ops = vec![
            op::put_new(&self.store.table, to_item(&linked, &linked.keys())?),
            op::put(&self.store.table, entry.item()?),
        ];
        Ok(match transact(&self.store, ops).await? {
            Ok(()) => Some(linked),
            // Another dispatch linked or claimed it first: its outcome decides.
            Err(_) => None,
        })
    }

    /// Asks the app's deletion threshold about a deprovision that is about to be sent; `true`
    /// when it was held instead (and recorded as such).
    async fn held(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
        link: &Link,
        attempt: &Attempt<'_>,
    ) -> Result<bool, StoreError> {
        let threshold = &setup.app.deletion_threshold;
        // Every delivery counts, retries too: an error before the count must not let one
        // through uncounted, and over-counting errs on the side of holding.
        if !threshold.enabled || attempt.approved {
            return Ok(false);
        }
        let batch = attempt.event.batch.unwrap_or(1);
        for _ in 0..3 {
            let now = time::OffsetDateTime::now_utc();
            let verdict = deletion_guard::reserve(&self.store, &setup.app.id, threshold, batch, now).await?;
            let deletion_guard::Verdict::Hold(reason) = verdict else {
                return Ok(false);
            };
            let held = Self::held_item(setup, kind, link, attempt);
            if deletion_guard::hold(&self.store, &held, &reason, attempt.number).await?
                == deletion_guard::Held::Recorded
            {
                return Ok(true);
            }
        }
        Err(StoreError::Unavailable(
            "the deletion threshold's hold changed three times; tried again".into(),
        ))
    }

    fn held_item(
        setup: &AppSetup,
        kind: ChangeKind,
        link: &Link,
        attempt: &Attempt<'_>,
    ) -> deletion_guard::HeldDeprovision {
        deletion_guard::HeldDeprovision {
            app_id: setup.app.id.clone(),
            user_id: link.user_id.clone(),
            user_name: link
                .snapshot
                .get("userName")
                .and_then(Value::as_str)
                .map(str::to_string),
            kind,
            at: crate::timestamp::now(),
            event: attempt.event.clone(),
        }
    }

    /// One step of a reconcile: fires `kind` and stores `next`. `Ok` is the link as now stored,
    /// for the next step; `Err` what to report when the step did not go through.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn advance(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
        current: &Link,
        next: Link,
        snapshot: &Value,
        group: Option<&GroupId>,
        attempt: &Attempt<'_>,
    ) -> Result<Result<Link, AppResult>, StoreError> {
        let result = self
            .fire_and_store(
                setup,
                Some(kind),
                current,
                Some(next.clone()),
                snapshot.clone(),
                group,
                attempt,
            )
            .await?;
        Ok(match result {
            AppResult::Done => Ok(Link {
                version: current.version + 1,
                ..next
            }),
            other => Err(other),
        })
    }

    /// Claims the link, calls the create endpoint, stores the account id with the log entry.
    /// `Err` carries what to report when the create did not happen. A create that will be
    /// retried keeps its claim, so no other event's dispatch creates the account meanwhile.
    pub(super) async fn create(
        &self,
        setup: &AppSetup,
        user: &User,
        previous: Option<&Link>,
        snapshot: &Value,
        attempt: &Attempt<'_>,
    ) -> Result<Result<Link, AppResult>, StoreError> {
        let table = &self.store.table;
        let claim = Link {
            user_id: user.id.clone(),
            app_id: setup.app.id.clone(),
            state: LinkState::Creating,
            external_id: None,
            user_version: user.version,
            groups: Vec::new(),
            snapshot: Value::Null,
            claimed_by: Some(attempt.event.id.clone()),
            parked: None,
            etag: None,
            version: previous.map_or(1, |s| s.version + 1),
            last_modified: crate::timestamp::now(),
        };
        let item = to_item(&claim, &claim.keys())?;
        let put = match previous {
            None => op::put_new(table, item),
            Some(s) => op::put_if_version(table, item, s.version),
        };
        if transact(&self.store, vec![put]).await?.is_err() {
            // Another dispatch got there first; its outcome decides.
            return Ok(Err(AppResult::Wait(Duration::from_secs(2))));
        }
        if let Some(target) = &setup.app.scim_target {
            return Box::pin(self.scim_create(setup, target, user, claim, snapshot, attempt)).await;
        }
        let ctx = Context {
            user: snapshot.clone(),
            external_user_id: None,
            group: None,
        };
        let config = &setup.events[&ChangeKind::UserCreated];
        if let Some(lookup) = &config.lookup {
            match self
                .lookup(setup, lookup, &ctx, &claim, snapshot, attempt)
                .await?
            {
                Lookup::Found(linked) => return Ok(Ok(linked)),
                Lookup::Stopped(result) => return Ok(Err(result)),
                Lookup::Absent => {}
            }
        }
        let sent = self.call(setup, ChangeKind::UserCreated, &ctx, attempt).await;
        let (delivery, entry) = match self.claimed_call(&claim, sent, attempt).await? {
            Ok(pair) => pair,
            Err(result) => return Ok(Err(result)),
        };
        let path = config
            .external_id_path
            .as_deref()
            .unwrap_or(DEFAULT_EXTERNAL_ID_PATH);
        let external_id = delivery
            .body
            .as_ref()
            .and_then(|b| json_path::lookup(b, path))
            .and_then(json_path::scalar_text);
        let mut entry = entry;
        if external_id.is_none() {
            entry.error = Some(format!("created, but the response has no id at `{path}`"));
        }
        let created = self
            .activate(claim.clone(), external_id, claim.user_version, snapshot, &entry)
            .await?;
        Ok(Ok(created))
    }

    /// The claim becomes an active link to the app's account; then the log entry is stored.
    pub(super) async fn activate(
        &self,
        claim: Link,
        external_id: Option<String>,
        user_version: u64,
        snapshot: &Value,
        entry: &LogEntry,
    ) -> Result<Link, StoreError> {
        let table = &self.store.table;
        let active = Link {
            state: LinkState::Active,
            external_id,
            user_version,
            snapshot: snapshot.clone(),
            claimed_by: None,
            version: claim.version + 1,
            last_modified: crate::timestamp::now(),
            ..claim.clone()
        };
        let write = op::put_if_version(table, to_item(&active, &active.keys())?, claim.version);
        Box::pin(self.write_link(write, entry))
            .await?
            .map_err(|_| StoreError::Other("the create claim was taken over".into()))?;
        Ok(active)
    }

    /// A link write, then, if it was made, its log entry: the entry is a record of the call, not
    /// state that must move with the link, so it goes in a plain write of its own (in the link's
    /// transaction both items would be billed twice). A crash between the two loses the entry,
    /// never the link.
    pub(super) async fn write_link(
        &self,
        write: aws_sdk_dynamodb::types::TransactWriteItem,
        entry: &LogEntry,
    ) -> Result<Result<(), crate::store::transaction::Cancelled>, StoreError> {
        // Boxed: these SDK futures would swell every caller's frame (debug builds' stacks).
        let written = Box::pin(transact(&self.store, vec![write])).await?;
        // The entry records a call made (or a decision), whether or not the link moved.
        Box::pin(self.store.batch_put(vec![entry.item()?])).await?;
        Ok(written)
    }

    /// Searches the app for the user's account: found and linked (at user version 0, so the
    /// update that follows brings the account up to date), absent (create it), or the search
    /// failed.
    pub(super) async fn lookup(
        &self,
        setup: &AppSetup,
        lookup: &crate::outbound::event_config::Lookup,
        ctx: &Context,
        claim: &Link,
        snapshot: &Value,
        attempt: &Attempt<'_>,
    ) -> Result<Lookup, StoreError> {
        let (delivery, entry) = match self
            .send(setup, ChangeKind::UserCreated, &lookup.request, ctx, attempt)
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
        let found = match (&delivery.verdict, delivery.status) {
            (_, Some(404)) => None,
            (Verdict::Done, _) => delivery
                .body
                .as_ref()
                .and_then(|b| json_path::lookup(b, &lookup.external_id_path))
                .and_then(json_path::scalar_text),
            (verdict, _) => {
                return Ok(Lookup::Stopped(
                    self.stop_claim(claim, verdict.clone(), entry, attempt).await?,
                ));
            }
        };
        let Some(external_id) = found else {
            return Ok(Lookup::Absent);
        };
        let linked = self
            .activate(claim.clone(), Some(external_id), 0, snapshot, &entry)
            .await?;
        Ok(Lookup::Found(linked))
    }

    /// A create step's call under `claim`: `Ok` with its answer when it succeeded; else the
    /// claim is parked (not sent, or a failure) or kept for the retry, and `Err` says what to
    /// report.
    pub(super) async fn claimed_call(
        &self,
        claim: &Link,
        sent: Result<(Delivery, LogEntry), NotSent>,
        attempt: &Attempt<'_>,
    ) -> Result<Result<(Delivery, LogEntry), AppResult>, StoreError> {
        let (delivery, entry) = match sent {
            Ok(pair) => pair,
            Err(not_sent) => {
                self.park_claim(claim, None).await?;
                return Ok(Err(AppResult::Failed {
                    reason: not_sent.to_string(),
                }));
            }
        };
        if delivery.verdict != Verdict::Done {
            return Ok(Err(self
                .stop_claim(claim, delivery.verdict, entry, attempt)
                .await?));
        }
        Ok(Ok((delivery, entry)))
    }

    /// A create step's call that did not succeed: a failure parks the claim with its entry, a
    /// retry keeps the claim and logs the attempt.
    pub(super) async fn stop_claim(
        &self,
        claim: &Link,
        verdict: Verdict,
        entry: LogEntry,
        attempt: &Attempt<'_>,
    ) -> Result<AppResult, StoreError> {
        let result = self.result(verdict, attempt);
        if matches!(result, AppResult::Failed { .. }) {
            self.park_claim(claim, Some(&entry)).await?;
        } else {
            self.store.batch_put(vec![entry.item()?]).await?;
        }
        Ok(result)
    }

    /// A create that failed for good: the claim becomes a parked failure.
    pub(super) async fn park_claim(&self, claim: &Link, entry: Option<&LogEntry>) -> Result<(), StoreError> {
        let table = &self.store.table;
        let failed = Link {
            state: LinkState::Failed,
            claimed_by: None,
            parked: Some(claim.user_version),
            version: claim.version + 1,
            last_modified: crate::timestamp::now(),
            ..claim.clone()
        };
        let mut ops = vec![op::put_if_version(
            table,
            to_item(&failed, &failed.keys())?,
            claim.version,
        )];
        if let Some(entry) = entry {
            ops.push(op::put(table, entry.item()?));
        }
        let _ = transact(&self.store, ops).await?;
        Ok(())
    }

    /// Fires `kind` (when the app has an enabled config for it) and stores `next` (or deletes the
    /// link when `None`) if the call succeeded; the log entry after it, in every case.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fire_and_store(
        &self,
        setup: &AppSetup,
        kind: Option<ChangeKind>,
        link: &Link,
        next: Option<Link>,
        snapshot: Value,
        group: Option<&GroupId>,
        attempt: &Attempt<'_>,
    ) -> Result<AppResult, StoreError> {
        let table = &self.store.table;
        let requested = kind;
        // An event the app has no (enabled) config for is not sent; the link still moves on.
        let kind = kind.filter(|k| setup.enabled(*k));
        let write = |next: &Option<Link>| -> Result<_, StoreError> {
            Ok(match next {
                Some(n) => {
                    let stored = Link {
                        version: link.version + 1,
                        last_modified: crate::timestamp::now(),
                        ..n.clone()
                    };
                    op::put_if_version(table, to_item(&stored, &stored.keys())?, link.version)
                }
                None => op::delete_if_version(table, link.keys().primary(), link.version),
            })
        };
        let Some(kind) = kind else {
            // Nothing to tell the app; remember the state all the same, and say why.
            let skip = match requested {
                Some(k) => skip_entry(&setup.app.id, attempt, k, Skip::NotConfigured(k)),
                None => skip_entry(&setup.app.id, attempt, attempt.event.kind, Skip::NoAccount),
            };
            Box::pin(self.write_link(write(&next)?, &skip))
                .await?
                .map_err(|_| StoreError::Other("link changed meanwhile".into()))?;
            return Ok(AppResult::Done);
        };
        // Only templates render the group; a SCIM app's member change reads its group link.
        let group_value = match group {
            Some(g) if setup.app.scim_target.is_none() => Some(self.group_value(g).await?),
            _ => None,
        };
        let ctx = Context {
            user: snapshot,
            external_user_id: link.external_id.clone(),
            group: group_value,
        };
        // Whether the call was about the user's account (its answer carries the account's version).
        let mut user_call = false;
        let sent = match &setup.app.scim_target {
            Some(target) => {
                match Box::pin(self.scim_step(setup, target, kind, link, &ctx.user, group, attempt)).await? {
                    Err(ScimStop::Result(result)) => return Ok(result),
                    Err(ScimStop::NotSent(not_sent)) => Err(not_sent),
                    Ok(Some(ScimCall::Request(request))) => {
                        user_call = true;
                        Box::pin(self.send_scim_change(setup, target, kind, link, request, attempt)).await
                    }
                    Ok(Some(ScimCall::Member(change))) => {
                        Box::pin(self.send_member(setup, target, kind, change, attempt)).await
                    }
                    Ok(None) => {
                        // Nothing the target is sent changed: remember the state, say so.
                        let skip = skip_entry(&setup.app.id, attempt, kind, Skip::UpToDate);
                        return match Box::pin(self.write_link(write(&next)?, &skip)).await? {
                            Ok(()) => Ok(AppResult::Done),
                            Err(_) => Ok(AppResult::Wait(Duration::from_secs(1))),
                        };
                    }
                }
            }
            None => self.call(setup, kind, &ctx, attempt).await,
        };
        let (delivery, entry) = match sent {
            Ok(pair) => pair,
            Err(not_sent) => {
                return Ok(AppResult::Failed {
                    reason: not_sent.to_string(),
                });
            }
        };
        // A delete of an account the app no longer has is done (for a SCIM target, a member
        // removal from a group it no longer has too).
        let gone = matches!(delivery.status, Some(404 | 410))
            && (kind == ChangeKind::UserDeleted
                || (kind == ChangeKind::MemberRemoved && setup.app.scim_target.is_some()));
        if delivery.verdict == Verdict::Done || gone {
            let next = match next {
                Some(n) if user_call => Some(Link {
                    etag: crate::outbound::scim_target::version_of(delivery.body.as_ref()),
                    ..n
                }),
                other => other,
            };
            return match Box::pin(self.write_link(write(&next)?, &entry)).await? {
                Ok(()) => Ok(AppResult::Done),
                Err(_) => Ok(AppResult::Wait(Duration::from_secs(1))),
            };
        }
        if kind == ChangeKind::MemberAdded
            && delivery.status == Some(404)
            && setup.app.scim_target.is_some()
            && let Some(group) = group
        {
            // The service no longer has the group: found or created again on the retry.
            self.forget_group(&setup.app.id, group).await?;
            self.store.batch_put(vec![entry.item()?]).await?;
            return Ok(AppResult::Retry {
                after: None,
                reason: "the app no longer has the group; it is found or created again".into(),
            });
        }
        let result = self.result(delivery.verdict, attempt);
        if matches!(result, AppResult::Failed { .. }) {
            // Parked at this version: later events of the same state leave the app alone.
            let parked = Link {
                parked: Some(link.user_version.max(snapshot_version(&ctx.user))),
                ..link.clone()
            };
            let _ = Box::pin(self.write_link(write(&Some(parked))?, &entry)).await?;
        } else {
            self.store.batch_put(vec![entry.item()?]).await?;
        }
        Ok(result)
    }

    /// A retryable verdict on the last attempt is a failure.
    pub(super) fn result(&self, verdict: Verdict, attempt: &Attempt<'_>) -> AppResult {
        match verdict {
            Verdict::Done => AppResult::Done,
            Verdict::Retry { reason, .. } if attempt.number >= self.settings.max_attempts => {
                AppResult::Failed {
                    reason: format!("gave up after {} attempts: {reason}", attempt.number),
                }
            }
            Verdict::Retry { after, reason } => AppResult::Retry { after, reason },
            Verdict::Permanent { reason } => AppResult::Failed { reason },
        }
    }

    /// Renders and sends the event config of `kind`; the log entry describes the attempt. `Err`
    /// when the config can't be used at all (its authorization or secret is missing).
    pub(super) async fn call(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
        ctx: &Context,
        attempt: &Attempt<'_>,
    ) -> Result<(Delivery, LogEntry), NotSent> {
        let config = setup.events.get(&kind).ok_or(NotSent::NoConfig(kind))?;
        self.send(setup, kind, &config.request, ctx, attempt).await
    }

    /// Renders `request` with the authorization of `kind`'s config and sends it.
    pub(super) async fn send(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
        request: &crate::connector::request::RequestTemplate,
        ctx: &Context,
        attempt: &Attempt<'_>,
    ) -> Result<(Delivery, LogEntry), NotSent> {
        if !crate::connector::template::origin_is_fixed(&request.url) {
            // A config saved before the rule: a value must not choose where credentials go.
            return Err(NotSent::HostFromPlaceholder);
        }
        self.send_rendered(setup, kind, request.render(ctx), attempt)
            .await
    }

    /// Sends a request ready to go with the authorization of `kind`'s config (its rate limit
    /// slot, the log entry, the metrics, the on-demand record).
    pub(super) async fn send_rendered(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
        rendered: crate::connector::request::Rendered,
        attempt: &Attempt<'_>,
    ) -> Result<(Delivery, LogEntry), NotSent> {
        // No slot of the app's rate limit within the wait (or the counter unreadable): nothing
        // is sent and the message comes back; the log says so like any retry.
        let no_slot = match setup.app.rate_limit {
            Some(limit) => !matches!(
                crate::outbound::rate_limit::acquire(&self.store, &setup.app.id, limit).await,
                Ok(true)
            ),
            None => false,
        };
        let mut shown_auth = None;
        let delivery = if no_slot {
            Delivery::unsent_retry(format!(
                "not sent: the app's rate limit ({} a second) had no slot",
                setup.app.rate_limit.unwrap_or_default()
            ))
        } else {
            match self.secret(setup, kind).await {
                Ok(auth) => {
                    shown_auth = auth.as_ref().map(|(c, _)| c.settings.clone());
                    let delivery = self
                        .sender
                        .send(&rendered, auth.as_ref().map(|(c, s)| (c, s)))
                        .await;
                    if matches!(delivery.verdict, Verdict::Retry { .. }) {
                        // The app's own trouble (not ours): what a quarantine counts.
                        attempt
                            .troubled
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    delivery
                }
                Err(SecretFailure::Gone(reason)) => return Err(NotSent::AuthorizationGone(reason)),
                Err(SecretFailure::Unreadable(reason)) => {
                    Delivery::unsent_retry(format!("authorization secret unreadable: {reason}"))
                }
            }
        };
        let entry = self.log_entry(setup, kind, &rendered, &delivery, attempt);
        if delivery.verdict == Verdict::Done {
            attempt
                .answered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if no_slot {
            // No call was made: nothing to count or show.
            return Ok((delivery, entry));
        }
        crate::metrics::call(
            setup.app.id.as_str(),
            entry.outcome.name(),
            delivery.status,
            entry.latency_ms,
        );
        if let Some(record) = attempt.record {
            let exchange = super::on_demand::Exchange {
                event: kind,
                request: crate::outbound::preview::shown(&rendered, shown_auth.as_ref()),
                status: delivery.status,
                latency_ms: entry.latency_ms,
                outcome: entry.outcome,
                response: delivery.response.as_deref().map(log::excerpt),
                error: entry.error.clone(),
            };
            record.lock().unwrap_or_else(|e| e.into_inner()).push(exchange);
        }
        Ok((delivery, entry))
    }

    /// The log entry of a call of `rendered` that `delivery` answered.
    pub(super) fn log_entry(
        &self,
        setup: &AppSetup,
        kind: ChangeKind,
        rendered: &crate::connector::request::Rendered,
        delivery: &Delivery,
        attempt: &Attempt<'_>,
    ) -> LogEntry {
        let (outcome, error) = match &delivery.verdict {
            Verdict::Done => (Outcome::Succeeded, None),
            Verdict::Retry { reason, .. } if attempt.number < self.settings.max_attempts => {
                (Outcome::Retrying, Some(reason.clone()))
            }
            Verdict::Retry { reason, .. } | Verdict::Permanent { reason } => {
                (Outcome::Failed, Some(reason.clone()))
            }
        };
        LogEntry {
            id: uuid::Uuid::now_v7().to_string(),
            at: crate::timestamp::now(),
            app_id: setup.app.id.clone(),
            user_id: attempt.event.user_id.clone(),
            group_id: attempt
                .event
                .group_id
                .clone()
                .filter(|_| attempt.event.kind.is_group_change()),
            event: kind,
            method: format!("{:?}", rendered.method).to_uppercase(),
            url: rendered.url.split('?').next().unwrap_or_default().to_string(),
            status: delivery.status,
            latency_ms: u64::try_from(delivery.latency.as_millis()).unwrap_or(u64::MAX),
            outcome,
            attempt: attempt.number,
            error: error.as_deref().map(log::excerpt),
            reason: None,
            batch: None,
        }
    }
}

/// What a search for the user's account in the app came to (`T`: the account as found).
pub(super) enum Lookup<T = Link> {
    Found(T),
    Absent,
    /// The search did not go through: report this.
    Stopped(AppResult),
}

/// What a SCIM target's step after the create sends: a request, or a member change (batched
/// with other users').
pub(super) enum ScimCall {
    Request(crate::connector::request::Rendered),
    Member(MemberChange),
}

/// One user's membership change at a SCIM app's group.
#[derive(Debug, Clone)]
pub(super) struct MemberChange {
    /// The group's id at the app.
    pub group: String,
    /// The user's account id at the app.
    pub account: String,
    pub add: bool,
}

/// Why a SCIM target's step sends nothing: a result to report, or a request that can't be made.
pub(super) enum ScimStop {
    Result(AppResult),
    NotSent(NotSent),
}

/// Why a request was not sent at all (a permanent failure of the config, not of the app).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum NotSent {
    #[error("no {} event config", kind_name(*.0))]
    NoConfig(ChangeKind),
    #[error("the URL template lets a placeholder choose the scheme, host or port; not sent (fix the config)")]
    HostFromPlaceholder,
    #[error("{0}")]
    AuthorizationGone(String),
    #[error("the app's account id is unknown (its create answer had none): nothing to address")]
    NoAccountId,
}

/// The log entry of a decision not to call `app` about the attempt's user.
pub(super) fn skip_entry(app: &AppId, attempt: &Attempt<'_>, event: ChangeKind, reason: Skip) -> LogEntry {
    LogEntry::decision(
        app,
        attempt.event.user_id.as_ref(),
        event,
        Outcome::Skipped,
        attempt.number,
        reason.to_string(),
    )
}

/// The version of a user snapshot (`u64::MAX` when the user is gone: nothing newer can come).
fn snapshot_version(user: &Value) -> u64 {
    user.get("version").and_then(Value::as_u64).unwrap_or(u64::MAX)
}
