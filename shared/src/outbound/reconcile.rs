//! The reconcile decision, with no I/O: from what an app holds for a user (the link), the user
//! now, whether the user is in the app's scope and how the app is set up, the next step. The
//! dispatcher takes the step (a call, a link write), then asks again with the link as stored, until
//! the answer is done, a skip or a wait.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::link::{Link, LinkState};
use super::skip::Skip;
use crate::directory::apps::Deprovision;
use crate::directory::change::ChangeKind;
use crate::directory::users::User;
use crate::ids::GroupId;

/// How long a reconcile waits for another event's create claim before looking again.
pub const CLAIM_WAIT: Duration = Duration::from_secs(5);

/// Everything the decision depends on.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    /// What the app holds for the user, as stored now.
    pub link: Option<&'a Link>,
    /// The user now; `None` once deleted.
    pub user: Option<&'a User>,
    pub in_scope: bool,
    /// The user's groups now.
    pub groups: &'a BTreeSet<GroupId>,
    /// The event kinds the app has an enabled event config for.
    pub enabled: &'a [ChangeKind],
    pub deprovision: Deprovision,
    /// The event being handled: its kind and id (a create claim names it).
    pub event: ChangeKind,
    pub event_id: &'a str,
    /// A redriven message: parked failures are tried again.
    pub forced: bool,
    /// A full reconcile: the profile is sent again even if the link says the app has it.
    pub resend: bool,
    /// Whether an earlier step of this reconcile called the app.
    pub acted: bool,
    pub now: time::OffsetDateTime,
}

/// The next step of a reconcile.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing (more) to do.
    Done,
    /// Nothing to send, on purpose: logged as a skipped entry about `event`.
    Skip { event: ChangeKind, reason: Skip },
    /// Another event's dispatch holds a create claim: look again after this.
    Wait(Duration),
    /// The user left the app's scope or is gone: fire `kind` (none when the app holds no
    /// account) and store `next` (`None`: the link goes). The last step.
    Deprovision {
        kind: Option<ChangeKind>,
        next: Option<Link>,
    },
    /// Claim the link and call the create endpoint.
    Create,
    /// Fire `kind` (about `group` for membership kinds) and store `next`.
    Advance {
        kind: ChangeKind,
        next: Link,
        group: Option<GroupId>,
    },
}

impl Situation<'_> {
    fn enabled(&self, kind: ChangeKind) -> bool {
        self.enabled.contains(&kind)
    }
}

/// The next step for `s`.
pub fn next_step(s: &Situation<'_>) -> Step {
    if let (Some(l), false) = (s.link, s.acted) {
        let now = s.user.map_or(u64::MAX, |u| u.version);
        if let Some(parked) = l.parked.filter(|v| !s.forced && *v >= now) {
            return Step::Skip {
                event: s.event,
                reason: Skip::Parked(parked),
            };
        }
        let own = l.claimed_by.as_deref() == Some(s.event_id);
        if l.state == LinkState::Creating && !own && !l.claim_is_stale_at(s.now) {
            return Step::Wait(CLAIM_WAIT);
        }
    }
    let Some(user) = s.user.filter(|_| s.in_scope) else {
        return deprovision(s);
    };

    let Some(current) = s
        .link
        .filter(|l| !matches!(l.state, LinkState::Creating | LinkState::Failed))
    else {
        let reason = if !user.active {
            Some(Skip::Inactive)
        } else if !s.enabled(ChangeKind::UserCreated) {
            Some(Skip::NotConfigured(ChangeKind::UserCreated))
        } else {
            None
        };
        return match reason {
            Some(reason) => Step::Skip {
                event: ChangeKind::UserCreated,
                reason,
            },
            None => Step::Create,
        };
    };

    // Profile: deactivated, reactivated or changed since the app last heard.
    let profile_change = match current.state {
        LinkState::Active if !user.active => Some((ChangeKind::UserDeactivated, LinkState::Deactivated)),
        LinkState::Active if current.user_version < user.version || (s.resend && !s.acted) => {
            Some((ChangeKind::UserUpdated, LinkState::Active))
        }
        LinkState::Deactivated if user.active => Some((ChangeKind::UserUpdated, LinkState::Active)),
        _ => None,
    };
    if let Some((kind, state)) = profile_change {
        return Step::Advance {
            kind,
            next: Link {
                state,
                user_version: user.version,
                snapshot: serde_json::to_value(user).unwrap_or(Value::Null),
                ..current.clone()
            },
            group: None,
        };
    }

    // Groups: what the app was told against what is true now; additions first.
    if current.state == LinkState::Active {
        let told: BTreeSet<&GroupId> = current.groups.iter().collect();
        let added = s
            .groups
            .iter()
            .find(|g| !told.contains(g))
            .filter(|_| s.enabled(ChangeKind::MemberAdded));
        let removed = told.iter().find(|g| !s.groups.contains(**g)).copied();
        let change = match (added, removed) {
            (Some(group), _) => Some((ChangeKind::MemberAdded, group)),
            (None, Some(group)) => Some((ChangeKind::MemberRemoved, group)),
            (None, None) => None,
        };
        if let Some((kind, group)) = change {
            let mut groups = current.groups.clone();
            if kind == ChangeKind::MemberAdded {
                groups.push(group.clone());
            } else {
                groups.retain(|g| g != group);
            }
            return Step::Advance {
                kind,
                next: Link {
                    groups,
                    ..current.clone()
                },
                group: Some(group.clone()),
            };
        }
    }
    // A re-scope of a whole group (a policy changed, user_created switched on) that finds an
    // account up to date is not worth an entry per member: the account is there.
    if s.acted || s.event == ChangeKind::ScopeChanged {
        Step::Done
    } else {
        Step::Skip {
            event: s.event,
            reason: Skip::UpToDate,
        }
    }
}

/// Out of scope, or deleted: what the app holds goes.
fn deprovision(s: &Situation<'_>) -> Step {
    let Some(l) = s.link else { return Step::Done };
    let delete = s.user.is_none() || s.deprovision == Deprovision::Delete;
    if delete {
        let has_account = matches!(l.state, LinkState::Active | LinkState::Deactivated);
        let kind = if !has_account {
            None
        } else if s.enabled(ChangeKind::UserDeleted) || l.state != LinkState::Active {
            Some(ChangeKind::UserDeleted)
        } else {
            Some(ChangeKind::UserDeactivated)
        };
        return Step::Deprovision { kind, next: None };
    }
    match l.state {
        LinkState::Active => Step::Deprovision {
            kind: Some(ChangeKind::UserDeactivated),
            next: Some(Link {
                state: LinkState::Deactivated,
                ..l.clone()
            }),
        },
        LinkState::Deactivated => Step::Skip {
            event: s.event,
            reason: Skip::AlreadyDeactivated,
        },
        LinkState::Creating | LinkState::Failed => Step::Skip {
            event: s.event,
            reason: Skip::NoAccount,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AppId, UserId};

    const ALL: &[ChangeKind] = &[
        ChangeKind::UserCreated,
        ChangeKind::UserUpdated,
        ChangeKind::UserDeactivated,
        ChangeKind::UserDeleted,
        ChangeKind::MemberAdded,
        ChangeKind::MemberRemoved,
    ];

    fn user(version: u64, active: bool) -> User {
        let mut user = User::blank("2026-11-30T00:00:00Z".into());
        user.user_name = "ada".into();
        user.version = version;
        user.active = active;
        user
    }

    fn link(state: LinkState, user_version: u64, groups: &[&GroupId]) -> Link {
        Link {
            user_id: UserId::generate(),
            app_id: AppId::generate(),
            state,
            external_id: Some("acct-1".into()),
            user_version,
            groups: groups.iter().map(|g| (*g).clone()).collect(),
            snapshot: Value::Null,
            claimed_by: None,
            parked: None,
            etag: None,
            version: 3,
            last_modified: "2026-11-30T00:00:00Z".into(),
        }
    }

    fn now() -> time::OffsetDateTime {
        time::OffsetDateTime::parse(
            "2026-11-30T00:01:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    }

    struct Case<'a> {
        link: Option<&'a Link>,
        user: Option<&'a User>,
        in_scope: bool,
        groups: &'a BTreeSet<GroupId>,
        enabled: &'a [ChangeKind],
    }

    /// A situation with the usual rest: in scope, every kind enabled, deactivate on leaving, an
    /// update event not redriven, nothing done yet.
    fn base<'a>(
        link: Option<&'a Link>,
        user: Option<&'a User>,
        groups: &'a BTreeSet<GroupId>,
    ) -> Situation<'a> {
        Situation {
            link,
            user,
            in_scope: true,
            groups,
            enabled: ALL,
            deprovision: Deprovision::Deactivate,
            event: ChangeKind::UserUpdated,
            event_id: "ev-1",
            forced: false,
            resend: false,
            acted: false,
            now: now(),
        }
    }

    fn step(c: Case<'_>) -> Step {
        next_step(&Situation {
            in_scope: c.in_scope,
            enabled: c.enabled,
            ..base(c.link, c.user, c.groups)
        })
    }

    #[test]
    fn a_user_entering_scope_is_created_if_the_app_can_and_the_user_is_active() {
        let none = BTreeSet::new();
        let ada = user(1, true);
        let case = |user, enabled| Case {
            link: None,
            user: Some(user),
            in_scope: true,
            groups: &none,
            enabled,
        };
        assert_eq!(step(case(&ada, ALL)), Step::Create);
        let skip = |reason| Step::Skip {
            event: ChangeKind::UserCreated,
            reason,
        };
        assert_eq!(
            step(case(&ada, &[ChangeKind::UserUpdated])),
            skip(Skip::NotConfigured(ChangeKind::UserCreated))
        );
        let inactive = user(1, false);
        assert_eq!(step(case(&inactive, ALL)), skip(Skip::Inactive));
        // A failed create is tried again.
        let failed = link(LinkState::Failed, 0, &[]);
        assert_eq!(
            step(Case {
                link: Some(&failed),
                ..case(&ada, ALL)
            }),
            Step::Create
        );
    }

    #[test]
    fn a_newer_or_deactivated_user_advances_the_link() {
        let none = BTreeSet::new();
        let held = link(LinkState::Active, 1, &[]);
        let newer = user(2, true);
        let case = |user| Case {
            link: Some(&held),
            user: Some(user),
            in_scope: true,
            groups: &none,
            enabled: ALL,
        };
        let Step::Advance { kind, next, group } = step(case(&newer)) else {
            panic!("an advance")
        };
        assert_eq!(
            (kind, next.user_version, next.state, group),
            (ChangeKind::UserUpdated, 2, LinkState::Active, None)
        );
        assert_eq!(next.snapshot["userName"], "ada");
        let deactivated = user(2, false);
        let Step::Advance { kind, next, .. } = step(case(&deactivated)) else {
            panic!("an advance")
        };
        assert_eq!(
            (kind, next.state),
            (ChangeKind::UserDeactivated, LinkState::Deactivated)
        );
        let same = user(1, true);
        assert_eq!(
            step(case(&same)),
            Step::Skip {
                event: ChangeKind::UserUpdated,
                reason: Skip::UpToDate
            }
        );
    }

    #[test]
    fn group_changes_go_one_at_a_time_additions_first_and_only_if_configured() {
        let (a, b, c) = (GroupId::generate(), GroupId::generate(), GroupId::generate());
        let held = link(LinkState::Active, 1, &[&a, &c]);
        let now: BTreeSet<GroupId> = [a.clone(), b.clone()].into();
        let ada = user(1, true);
        let case = |enabled| Case {
            link: Some(&held),
            user: Some(&ada),
            in_scope: true,
            groups: &now,
            enabled,
        };
        let Step::Advance { kind, next, group } = step(case(ALL)) else {
            panic!("an advance")
        };
        assert_eq!((kind, group.as_ref()), (ChangeKind::MemberAdded, Some(&b)));
        assert!(next.groups.contains(&b) && next.groups.contains(&c));
        // Without member_added, only the removal.
        let Step::Advance { kind, group, .. } = step(case(&[ChangeKind::MemberRemoved])) else {
            panic!("an advance")
        };
        assert_eq!((kind, group.as_ref()), (ChangeKind::MemberRemoved, Some(&c)));
    }

    #[test]
    fn leaving_scope_deactivates_or_deletes_what_the_app_holds() {
        let none = BTreeSet::new();
        let ada = user(2, true);
        let active = link(LinkState::Active, 2, &[]);
        let base = Situation {
            in_scope: false,
            event: ChangeKind::ScopeChanged,
            ..base(Some(&active), Some(&ada), &none)
        };
        let Step::Deprovision { kind, next } = next_step(&base) else {
            panic!("a deprovision")
        };
        assert_eq!(
            (kind, next.map(|l| l.state)),
            (Some(ChangeKind::UserDeactivated), Some(LinkState::Deactivated))
        );
        let delete = Situation {
            deprovision: Deprovision::Delete,
            ..base.clone()
        };
        assert_eq!(
            next_step(&delete),
            Step::Deprovision {
                kind: Some(ChangeKind::UserDeleted),
                next: None
            }
        );
        // Deleted without a delete config: deactivated, and the link goes.
        let gone = Situation {
            user: None,
            enabled: &[ChangeKind::UserDeactivated],
            ..base.clone()
        };
        assert_eq!(
            next_step(&gone),
            Step::Deprovision {
                kind: Some(ChangeKind::UserDeactivated),
                next: None
            }
        );
        let failed = link(LinkState::Failed, 0, &[]);
        assert_eq!(
            next_step(&Situation {
                link: Some(&failed),
                user: None,
                ..base.clone()
            }),
            Step::Deprovision {
                kind: None,
                next: None
            }
        );
        let deactivated = link(LinkState::Deactivated, 2, &[]);
        assert_eq!(
            next_step(&Situation {
                link: Some(&deactivated),
                ..base.clone()
            }),
            Step::Skip {
                event: ChangeKind::ScopeChanged,
                reason: Skip::AlreadyDeactivated
            }
        );
        assert_eq!(next_step(&Situation { link: None, ..base }), Step::Done);
    }

    #[test]
    fn parked_links_and_live_claims_hold_the_reconcile() {
        let none = BTreeSet::new();
        let ada = user(2, true);
        let mut parked = link(LinkState::Active, 1, &[]);
        parked.parked = Some(2);
        let base = Situation {
            ..base(Some(&parked), Some(&ada), &none)
        };
        assert_eq!(
            next_step(&base),
            Step::Skip {
                event: ChangeKind::UserUpdated,
                reason: Skip::Parked(2)
            }
        );
        // Redriven: tried again.
        assert!(matches!(
            next_step(&Situation {
                forced: true,
                ..base.clone()
            }),
            Step::Advance { .. }
        ));
        // A create claimed by another event a moment ago: wait; by this event, or long ago: go on.
        let mut claimed = link(LinkState::Creating, 0, &[]);
        claimed.claimed_by = Some("ev-0".into());
        claimed.last_modified = "2026-11-30T00:00:30Z".into();
        let claimed_case = Situation {
            link: Some(&claimed),
            ..base.clone()
        };
        assert_eq!(next_step(&claimed_case), Step::Wait(CLAIM_WAIT));
        assert_eq!(
            next_step(&Situation {
                event_id: "ev-0",
                ..claimed_case.clone()
            }),
            Step::Create
        );
        let later = now() + time::Duration::minutes(5);
        assert_eq!(
            next_step(&Situation {
                now: later,
                ..claimed_case
            }),
            Step::Create
        );
    }

    #[test]
    fn after_a_step_an_up_to_date_link_is_done() {
        let none = BTreeSet::new();
        let ada = user(2, true);
        let held = link(LinkState::Active, 2, &[]);
        let s = Situation {
            acted: true,
            ..base(Some(&held), Some(&ada), &none)
        };
        assert_eq!(next_step(&s), Step::Done);
        assert_eq!(
            next_step(&Situation {
                acted: false,
                event: ChangeKind::ScopeChanged,
                ..s
            }),
            Step::Done
        );
    }
}
