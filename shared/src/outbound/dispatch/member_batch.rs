//! Member changes of one SCIM group, batched (issue 17.3): the dispatcher handles a batch's
//! messages side by side, one user each, so a bulk join reaches the member step of many users
//! within milliseconds. The first to arrive for a group (and direction) waits a moment, then
//! sends one PATCH for everyone that came meanwhile, and each user's reconcile goes on with that
//! one answer: its own log entry and link write, as if it had called alone.
//!
//! A batch that the service refuses for good is split: each member is sent alone, so one bad
//! account fails only its own user. A batch the service can't take now (429, 5xx) is retried by
//! every member's message, as a single call would be.

use tokio::sync::oneshot;

use super::steps::{MemberChange, NotSent};
use super::*;
use crate::directory::scim_target::ScimTarget;
use crate::outbound::scim_target;

/// Members one PATCH carries at most.
pub const MAX_MEMBERS_PER_PATCH: usize = 100;

/// Batches being gathered, by app, group and direction.
#[derive(Default)]
pub(super) struct MemberBatches {
    open: std::sync::Mutex<HashMap<BatchKey, Vec<Waiter>>>,
}

type BatchKey = (AppId, String, bool);

/// What a follower is handed: the batch's answer, the members it carried, and whether the
/// leader's send counted toward the app's health (a call made, not a wait for a rate limit slot
/// or a secret).
struct Shared {
    delivery: Delivery,
    members: u32,
    counted: bool,
}

struct Waiter {
    account: String,
    /// The batch's answer; `None`: send alone.
    reply: oneshot::Sender<Option<Shared>>,
}

/// What joining a batch made of the caller.
enum Role {
    Leader,
    Follower(oneshot::Receiver<Option<Shared>>),
    /// The batch is full: the caller sends alone.
    Alone,
}

impl MemberBatches {
    fn join(&self, key: BatchKey, account: &str) -> Role {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        match open.get_mut(&key) {
            None => {
                open.insert(key, Vec::new());
                Role::Leader
            }
            // The leader counts as one.
            Some(waiting) if waiting.len() + 1 >= MAX_MEMBERS_PER_PATCH => Role::Alone,
            Some(waiting) => {
                let (reply, answer) = oneshot::channel();
                waiting.push(Waiter {
                    account: account.to_string(),
                    reply,
                });
                Role::Follower(answer)
            }
        }
    }

    fn close(&self, key: &BatchKey) -> Vec<Waiter> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(key).unwrap_or_default()
    }
}

/// A leader's hold on its open batch: if the leader goes away before it closed the batch, the
/// batch closes and its followers send alone (their reply channels drop).
struct Lead<'a> {
    batches: &'a MemberBatches,
    key: BatchKey,
    closed: bool,
}

impl Lead<'_> {
    fn close(&mut self) -> Vec<Waiter> {
        self.closed = true;
        self.batches.close(&self.key)
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if !self.closed {
            drop(self.batches.close(&self.key));
        }
    }
}

impl Dispatcher {
    /// Sends `change`, batched with other users' changes of the same group that come within the
    /// batch window; the answer and this user's log entry, as [`Self::send_rendered`] gives them.
    pub(super) async fn send_member(
        &self,
        setup: &AppSetup,
        target: &ScimTarget,
        kind: ChangeKind,
        change: MemberChange,
        attempt: &Attempt<'_>,
    ) -> Result<(Delivery, LogEntry), NotSent> {
        // Provision on demand shows its own call; no window, no batch.
        if attempt.record.is_some() || self.settings.member_batch_window.is_zero() {
            return self.send_alone(setup, target, kind, &change, attempt).await;
        }
        let key = (setup.app.id.clone(), change.group.clone(), change.add);
        let others = match self.member_batches.join(key.clone(), &change.account) {
            Role::Alone => return self.send_alone(setup, target, kind, &change, attempt).await,
            Role::Follower(answer) => {
                return match answer.await {
                    Ok(Some(shared)) => {
                        if shared.counted {
                            count(&shared.delivery, attempt);
                        }
                        let request =
                            scim_target::membership(target, &change.group, &change.account, change.add);
                        let entry = LogEntry {
                            batch: Some(shared.members),
                            ..self.log_entry(setup, kind, &request, &shared.delivery, attempt)
                        };
                        Ok((shared.delivery, entry))
                    }
                    // Split, or the leader went away: alone.
                    Ok(None) | Err(_) => self.send_alone(setup, target, kind, &change, attempt).await,
                };
            }
            Role::Leader => {
                let mut lead = Lead {
                    batches: &self.member_batches,
                    key,
                    closed: false,
                };
                tokio::time::sleep(self.settings.member_batch_window).await;
                lead.close()
            }
        };
        if others.is_empty() {
            return self.send_alone(setup, target, kind, &change, attempt).await;
        }
        let mut accounts: Vec<&str> = vec![change.account.as_str()];
        accounts.extend(others.iter().map(|w| w.account.as_str()));
        let members = u32::try_from(accounts.len()).unwrap_or(u32::MAX);
        let request = scim_target::memberships(target, &change.group, &accounts, change.add);
        let health = |a: &Attempt<'_>| {
            use std::sync::atomic::Ordering::Relaxed;
            a.answered.load(Relaxed) + a.troubled.load(Relaxed)
        };
        let before = health(attempt);
        let sent = Box::pin(self.send_rendered(setup, kind, request, attempt)).await;
        let counted = health(attempt) > before;
        let split = match &sent {
            Err(_) => true,
            Ok((delivery, _)) => match delivery.status {
                // The group is gone there: every add finds it again; a removal of members from
                // it is done. But one member the service doesn't know may answer 404 for a
                // whole batch of removals: each goes alone.
                Some(404 | 410) => !change.add,
                // One account the service refuses would fail them all: each goes alone.
                _ => matches!(delivery.verdict, Verdict::Permanent { .. }),
            },
        };
        for waiter in others {
            let answer = match &sent {
                Ok((delivery, _)) if !split => Some(Shared {
                    delivery: delivery.clone(),
                    members,
                    counted,
                }),
                _ => None,
            };
            let _ = waiter.reply.send(answer);
        }
        if split {
            if let Ok((_, entry)) = &sent {
                // The refused batch's call is on record, with the leader's user, as a call tried
                // again: each member alone.
                let entry = LogEntry {
                    batch: Some(members),
                    outcome: Outcome::Retrying,
                    reason: Some(format!(
                        "refused as a batch of {members}: each member is sent alone"
                    )),
                    ..entry.clone()
                };
                if let Ok(item) = entry.item() {
                    let _ = Box::pin(self.store.batch_put(vec![item])).await;
                }
            }
            return self.send_alone(setup, target, kind, &change, attempt).await;
        }
        sent.map(|(delivery, entry)| {
            let entry = LogEntry {
                batch: Some(members),
                ..entry
            };
            (delivery, entry)
        })
    }

    async fn send_alone(
        &self,
        setup: &AppSetup,
        target: &ScimTarget,
        kind: ChangeKind,
        change: &MemberChange,
        attempt: &Attempt<'_>,
    ) -> Result<(Delivery, LogEntry), NotSent> {
        let request = scim_target::membership(target, &change.group, &change.account, change.add);
        Box::pin(self.send_rendered(setup, kind, request, attempt)).await
    }
}

/// A follower's share of the batch's answer, counted for its app's quarantine as its own call.
fn count(delivery: &Delivery, attempt: &Attempt<'_>) {
    use std::sync::atomic::Ordering::Relaxed;
    match delivery.verdict {
        Verdict::Done => {
            attempt.answered.fetch_add(1, Relaxed);
        }
        Verdict::Retry { .. } => {
            attempt.troubled.fetch_add(1, Relaxed);
        }
        Verdict::Permanent { .. } => {}
    }
}
