//! Deactivating the users of a source that a complete import run did not see (the import's
//! `deactivateMissing`, off by default).
//!
//! Each page keeps the external ids of its records under the job (`JOB#<id>` / `SEEN#<page>#<part>`,
//! expiring after [`PRESENT_KEPT`]); after the last page, one sweep reads the directory's user
//! listing and deactivates each active user that came from this import (its import key guard
//! names it) and is not in that set. Users can't be listed by source without an index of their
//! own, so the sweep is one paged read of the directory per complete run (1 MB a Query), in the
//! importer; writes happen only for the missing users.
//!
//! Nothing is deactivated unless the run is known complete and whole: it ended on the source's
//! own last page (not the page limit or the loop guard), every record had an external id, and
//! the set holds every record counted. More missing than `maxDeactivations` holds them all
//! for an administrator (a source answering an empty list must not deactivate everyone).
//!
//! A deactivated user whose account shows up again is made active again by the next run, unless
//! the mapping reads `active` from the source, or someone changed the user since (the mark on its
//! import key holds the version the sweep left it at).

use std::collections::HashSet;

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::config::ImportConfig;
use super::job::{Deactivation, DeactivationStatus, Job, PRESENT_PER_ITEM, Present, job_pk, present_listing};
use super::upsert::PageResult;
use crate::directory::record::Record;
use crate::directory::users::User;
use crate::directory::{Directory, DirectoryError};
use crate::ids::AppId;
use crate::store::StoreError;
use crate::store::item::{Keys, key, string_attr, to_item};
use crate::store::keys::{PROFILE, UNIQUE, Unique};
use crate::store::transaction::{op, transact};

/// How long a run's present set is kept: an approval of held deactivations must come sooner.
pub const PRESENT_KEPT: time::Duration = time::Duration::days(7);
/// Users read a Query of the sweep.
const SWEEP_PAGE: u32 = 1000;

#[derive(serde::Serialize)]
struct Stored<'a> {
    #[serde(flatten)]
    present: &'a Present,
    ttl: i64,
}

/// Keeps the page's present external ids under the job (written again, the same items, when the
/// page is handled twice).
pub async fn record_present(
    directory: &Directory,
    job: &str,
    page: u32,
    result: &PageResult,
) -> Result<(), StoreError> {
    let ttl = (time::OffsetDateTime::now_utc() + PRESENT_KEPT).unix_timestamp();
    let mut items = Vec::new();
    for (part, ids) in parts(&result.present).into_iter().enumerate() {
        let present = Present {
            page,
            part: u32::try_from(part).unwrap_or(u32::MAX),
            external_ids: ids.to_vec(),
            // Counted once, on the first part.
            unidentified: if part == 0 { result.unidentified } else { 0 },
        };
        items.push(to_item(
            &Stored {
                present: &present,
                ttl,
            },
            &present.keys(job),
        )?);
    }
    directory.store.batch_put(items).await
}

/// Bytes of external ids one present-set item holds at most: well under DynamoDB's 400 KB an
/// item whatever the ids' length.
const PART_BYTES: usize = 300_000;

/// The page's ids cut into parts of at most [`PRESENT_PER_ITEM`] ids and [`PART_BYTES`] bytes
/// (one part, maybe empty, at least).
fn parts(ids: &[String]) -> Vec<&[String]> {
    let mut parts = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, id) in ids.iter().enumerate() {
        // A few bytes of list overhead an id.
        let size = id.len() + 4;
        if i > start && (i - start >= PRESENT_PER_ITEM || bytes + size > PART_BYTES) {
            parts.push(&ids[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    parts.push(&ids[start..]);
    parts
}

/// Whether a run that ended for `stop` read the source to its end.
pub fn complete(stop: &str) -> bool {
    matches!(
        stop,
        "an empty page" | "no next page key" | "one page (no pagination)"
    )
}

/// The sweep after a complete run's last page: finds the missing users and, within the
/// threshold (or approved, and not in a dry run), deactivates them.
pub async fn sweep(
    directory: &Directory,
    job: &Job,
    config: &ImportConfig,
    others: usize,
) -> Result<Deactivation, DirectoryError> {
    let approved = job.deactivation.as_ref().is_some_and(|d| d.approved);
    if others > 0 {
        return Ok(Deactivation::skipped(
            "the app has more than one import config: its users can't be told apart by import",
        ));
    }
    let pk = job_pk(&job.id);
    let parts: Vec<Present> = directory
        .store
        .query_all(&present_listing(&pk), usize::MAX, 1000)
        .await?
        .unwrap_or_default();
    let unidentified: u64 = parts.iter().map(|p| p.unidentified).sum();
    let listed: u64 = parts.iter().map(|p| p.external_ids.len() as u64).sum::<u64>() + unidentified;
    if unidentified > 0 {
        return Ok(Deactivation::skipped(format!(
            "{unidentified} record(s) had no external id: who is missing can't be told"
        )));
    }
    if listed != job.counts.seen {
        // Expired (an approval after PRESENT_KEPT) or never written: never guess.
        return Ok(Deactivation::skipped(format!(
            "the run's record of present users holds {listed} of its {} records (it expires after {} days)",
            job.counts.seen,
            PRESENT_KEPT.whole_days()
        )));
    }
    let present: HashSet<String> = parts.into_iter().flat_map(|p| p.external_ids).collect();
    let missing = missing_users(directory, &job.app_id, &present).await?;
    let mut outcome = Deactivation {
        missing: missing.len() as u64,
        ..Deactivation::pending(approved)
    };
    if job.dry_run {
        outcome.status = DeactivationStatus::Counted;
        return Ok(outcome);
    }
    if let Some(reason) = hold(job, config.deactivate_missing.max_deactivations, outcome.missing) {
        outcome.status = DeactivationStatus::Held;
        outcome.reason = Some(reason);
        return Ok(outcome);
    }
    let batch = missing.len();
    for user in missing {
        if deactivate(directory, job, user, &present, batch).await? {
            outcome.deactivated += 1;
        }
    }
    outcome.status = DeactivationStatus::Done;
    Ok(outcome)
}

/// Why `missing` users are held for an administrator, if they are: more than the import's
/// `maxDeactivations`, or most of the import's users (a source that answered an empty or cut list
/// looks complete), unless an administrator approved at least that many.
fn hold(job: &Job, max: u32, missing: u64) -> Option<String> {
    let approved = job
        .deactivation
        .as_ref()
        .filter(|d| d.approved)
        .map(|d| d.missing);
    if missing == 0 || approved.is_some_and(|n| missing <= n) {
        return None;
    }
    let max = u64::from(max);
    let seen = job.counts.seen;
    let reason = if let Some(n) = approved {
        format!(
            "{missing} users are missing now, more than the {n} approved: approve again to deactivate them"
        )
    } else if missing > max {
        format!(
            "{missing} users are missing, more than the import's maxDeactivations of {max}: approve to deactivate them"
        )
    } else if seen == 0 {
        format!(
            "the source listed no users, so all {missing} of the import's users are missing: approve to deactivate them"
        )
    } else if missing * 2 > seen + missing {
        format!(
            "{missing} users are missing, more than half of the import's users: approve to deactivate them"
        )
    } else {
        return None;
    };
    Some(reason)
}

/// The active users of `app`'s import (the import key guard names them) whose external id is not
/// in `present`.
async fn missing_users(
    directory: &Directory,
    app: &AppId,
    present: &HashSet<String>,
) -> Result<Vec<User>, DirectoryError> {
    let mut missing = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = directory.list_users(SWEEP_PAGE, cursor.as_deref()).await?;
        let candidates: Vec<User> = page
            .items
            .into_iter()
            .filter(|u| is_candidate(u, app, present))
            .collect();
        missing.extend(owned_by_import(directory, app, candidates).await?);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(missing),
        }
    }
}

fn is_candidate(user: &User, app: &AppId, present: &HashSet<String>) -> bool {
    user.active
        && user.source_app_id.as_ref() == Some(app)
        && user.external_id.as_ref().is_some_and(|e| !present.contains(e))
}

/// The candidates whose import key guard names them: users a SCIM client of the same app pushed
/// carry the app as their source too, but were never imported.
async fn owned_by_import(
    directory: &Directory,
    app: &AppId,
    candidates: Vec<User>,
) -> Result<Vec<User>, StoreError> {
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let guard =
        |u: &User| Unique::ImportKey.key(&format!("{app}#{}", u.external_id.as_deref().unwrap_or_default()));
    let keys = candidates.iter().map(|u| key(guard(u), UNIQUE)).collect();
    let owners: std::collections::HashMap<String, String> = directory
        .store
        .batch_get(keys)
        .await?
        .into_iter()
        .filter_map(|g| Some((string_attr(&g, "pk")?, string_attr(&g, "owner")?)))
        .collect();
    Ok(candidates
        .into_iter()
        .filter(|u| owners.get(&guard(u)).is_some_and(|o| o == u.id.as_str()))
        .collect())
}

/// An import key guard with the sweep's mark (`upsert::DEACTIVATED_AT`, which the upsert reads).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct MarkedGuard<'a> {
    owner: &'a str,
    deactivated_at_version: u64,
}

/// Deactivates one missing user: one transaction, the user if still at the version read, its
/// change event (from the source app, one of a batch for the deletion thresholds) and the mark on
/// its import key. A user changed meanwhile is read again and judged again. `false` when no
/// longer missing.
async fn deactivate(
    directory: &Directory,
    job: &Job,
    mut user: User,
    present: &HashSet<String>,
    batch: usize,
) -> Result<bool, DirectoryError> {
    let table = &directory.store.table;
    let app = &job.app_id;
    for _ in 0..crate::directory::version::UPDATE_ATTEMPTS {
        let mut next = user.clone();
        next.active = false;
        next.stamp(user.version + 1, crate::timestamp::now());
        let Some(event) = User::change_event(Some(&user), Some(&next)) else {
            return Ok(false);
        };
        let external = user.external_id.as_deref().unwrap_or_default();
        let guard = to_item(
            &MarkedGuard {
                owner: user.id.as_str(),
                deactivated_at_version: next.version,
            },
            &Keys::new(Unique::ImportKey.key(&format!("{app}#{external}")), UNIQUE),
        )?;
        // The event rides on the user's item, as every user write's does.
        let mut item = to_item(&next, &next.keys())?;
        event.from_app(app).in_batch(batch).attach(&mut item)?;
        let ops: Vec<TransactWriteItem> = vec![
            op::put_if_version(table, item, user.version),
            op::put_if(table, guard, "#c = :c", "owner", user.id.as_str()),
            // Only while the run is as the sweep found it: a cancel stops the sweep.
            op::check_version(table, key(job_pk(&job.id), PROFILE), job.version),
        ];
        match transact(&directory.store, ops).await? {
            Ok(()) => {
                tracing::info!(user = %user.id, app = %app, "deactivated: missing from the import's source");
                return Ok(true);
            }
            Err(cancelled) if cancelled.failed(2) => {
                return Err(StoreError::Other(
                    "the run changed during its sweep (cancelled or failed)".into(),
                )
                .into());
            }
            Err(_) => {}
        }
        user = match directory.get_user(&user.id).await {
            Ok(u) => u,
            Err(DirectoryError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        if !is_candidate(&user, app, present) {
            return Ok(false);
        }
    }
    Err(StoreError::Unavailable(format!("user {}: too many concurrent updates", user.id)).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(seen: u64, approved: Option<u64>) -> Job {
        let mut job: Job = serde_json::from_value(serde_json::json!({
            "id": "j", "appId": "a", "importId": "i", "status": "running", "trigger": "manual",
            "dryRun": false, "startedAt": "t", "pages": 1, "seen": seen, "created": 0, "updated": 0,
            "unchanged": 0, "failed": 0, "version": 1, "lastModified": "t"
        }))
        .expect("a job");
        job.deactivation = approved.map(|n| Deactivation {
            missing: n,
            ..Deactivation::pending(true)
        });
        job
    }

    #[test]
    fn deactivations_are_held_past_the_count_for_most_users_and_past_the_approved_number() {
        assert_eq!(hold(&job(100, None), 50, 0), None);
        assert_eq!(hold(&job(100, None), 50, 10), None);
        assert!(hold(&job(100, None), 5, 10).is_some_and(|r| r.contains("maxDeactivations of 5")));
        // Within the count, but the source listed nobody, or fewer than went missing.
        assert!(hold(&job(0, None), 50, 3).is_some_and(|r| r.contains("listed no users")));
        assert!(hold(&job(4, None), 50, 5).is_some_and(|r| r.contains("more than half")));
        assert_eq!(hold(&job(5, None), 50, 5), None);
        // Approved: up to the number held, not one more.
        assert_eq!(hold(&job(0, Some(80)), 50, 80), None);
        assert_eq!(hold(&job(0, Some(80)), 50, 70), None);
        assert!(hold(&job(0, Some(80)), 50, 81).is_some_and(|r| r.contains("more than the 80 approved")));
    }

    #[test]
    fn the_mark_is_written_under_the_name_the_upsert_reads() {
        let marked = serde_json::to_value(MarkedGuard {
            owner: "u",
            deactivated_at_version: 3,
        })
        .unwrap();
        assert_eq!(marked[super::super::upsert::DEACTIVATED_AT], 3);
    }

    #[test]
    fn present_parts_stay_under_the_item_limit_whatever_the_ids_length() {
        let none: Vec<String> = Vec::new();
        assert_eq!(parts(&none).len(), 1, "an empty page still says it was read");
        let short: Vec<String> = (0..4500).map(|i| format!("id-{i}")).collect();
        let cut = parts(&short);
        assert_eq!(
            cut.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![2000, 2000, 500]
        );
        let long: Vec<String> = (0..3000).map(|i| format!("{i:0>1000}")).collect();
        let cut = parts(&long);
        assert_eq!(cut.iter().map(|p| p.len()).sum::<usize>(), 3000);
        assert!(
            cut.iter()
                .all(|p| p.iter().map(|id| id.len() + 4).sum::<usize>() <= PART_BYTES)
        );
    }
}
