//! Import jobs: one run of an import config, with its bulk-operations report. The job item is
//! also the run's checkpoint: a page's counts and the page number are written in one conditional
//! update, so a page handled twice is counted once. The item stays small whatever the run's
//! length: the per-record failures are items of their own (`ERR#<page>#<index>`, at most
//! [`MAX_FAILURES_KEPT`]) and the loop guard keeps digests of the last [`SEEN_KEYS_KEPT`] keys.

use serde::{Deserialize, Serialize};

use crate::ids::AppId;
use crate::store::item::Keys;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
    /// Stopped by an administrator.
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Manual,
    Schedule,
}

/// Why one record was not imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordFailure {
    pub page: u32,
    /// Position in the page, from 0.
    pub index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub reason: String,
}

/// Records the report keeps reasons for; the count goes on.
pub const MAX_FAILURES_KEPT: usize = 200;
/// Next-page keys the loop guard remembers (a loop longer than this ends at the page limit).
pub const SEEN_KEYS_KEPT: usize = 50;
const FAILURE_PREFIX: &str = "ERR#";
const PRESENT_PREFIX: &str = "SEEN#";
/// External ids a present-set item holds at most (well under DynamoDB's 400 KB an item).
pub const PRESENT_PER_ITEM: usize = 2000;

/// The external ids of one page's records (a part of a long page), kept under the job while the
/// import deactivates missing users: the set of who is present in the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Present {
    pub page: u32,
    pub part: u32,
    pub external_ids: Vec<String>,
    /// Records whose external id could not be read: who they are is unknown.
    #[serde(default)]
    pub unidentified: u64,
}

impl Present {
    pub fn keys(&self, job: &str) -> Keys {
        Keys::new(
            job_pk(job),
            format!("{PRESENT_PREFIX}{:06}#{:04}", self.page, self.part),
        )
    }
}

/// The listing of a job's present-set items.
pub fn present_listing(pk: &str) -> crate::store::Listing<'_> {
    crate::store::Listing {
        index: None,
        partition: pk,
        sk_prefix: Some(PRESENT_PREFIX),
    }
}

/// Where a run's deactivation of missing users stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeactivationStatus {
    /// The run's pages are done; the sweep over the directory goes on (the job is running).
    Pending,
    /// More users missing than the import's `maxDeactivations`: nothing deactivated until an
    /// administrator approves.
    Held,
    Done,
    /// A dry run: `missing` counted, nothing deactivated.
    Counted,
    /// Not done, and why (`reason`): the run was not complete, or some records had no external id.
    Skipped,
}

/// The deactivation of the source's users missing from a complete run (the import's
/// `deactivateMissing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deactivation {
    pub status: DeactivationStatus,
    /// Active users of the source that the run did not see (in a dry run: who would go).
    pub missing: u64,
    pub deactivated: u64,
    /// Approved by an administrator past the threshold.
    #[serde(default)]
    pub approved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Deactivation {
    pub fn pending(approved: bool) -> Self {
        Deactivation {
            status: DeactivationStatus::Pending,
            missing: 0,
            deactivated: 0,
            approved,
            reason: None,
        }
    }

    pub fn skipped(reason: impl Into<String>) -> Self {
        Deactivation {
            status: DeactivationStatus::Skipped,
            reason: Some(reason.into()),
            ..Deactivation::pending(false)
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub seen: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.seen += other.seen;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.failed += other.failed;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub app_id: AppId,
    pub import_id: String,
    pub status: JobStatus,
    pub trigger: Trigger,
    /// Reports what would be created and updated without writing.
    pub dry_run: bool,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Pages done.
    pub pages: u32,
    #[serde(flatten)]
    pub counts: Counts,
    /// Per-record failures (read from their own items; inline in jobs stored before them).
    #[serde(default)]
    pub failures: Vec<RecordFailure>,
    /// Failure items written so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures_kept: u32,
    /// Why the run stopped early (a page that kept failing) or how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The key of the page after the last one done, while the run goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<String>,
    /// Digests of the last next-page keys (the loop guard), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_keys: Vec<String>,
    /// Resumes so far: page messages carry it, and those of an earlier run are dropped.
    #[serde(default)]
    pub run: u32,
    /// A failed or cancelled run: the key of the page it stopped before, where a resume goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_key: Option<String>,
    /// With the import's `deactivateMissing`: the deactivation of users missing from the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivation: Option<Deactivation>,
    pub version: u64,
    pub last_modified: String,
}

pub fn job_pk(id: &str) -> String {
    format!("JOB#{id}")
}

/// GSI1 partition of an app's jobs, newest last.
pub fn app_jobs(app: &AppId) -> String {
    format!("JOBS#APP#{app}")
}

/// Item of the last start of an import config: the schedule's memory and the guard against two
/// concurrent runs.
pub fn run_lock_keys(app: &AppId, import: &str) -> Keys {
    Keys::new(crate::store::keys::app(app), format!("RUN#{import}"))
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// GSI2 partition of running jobs (a sparse listing: a job leaves it when it ends), which the
/// schedule's tick reads to find runs that stopped making progress.
pub const RUNNING_JOBS: &str = "JOBS#RUNNING";

impl Job {
    pub fn keys(&self) -> Keys {
        let keys = Keys::new(job_pk(&self.id), crate::store::keys::PROFILE)
            .gsi1(app_jobs(&self.app_id), format!("{}#{}", self.started_at, self.id));
        match self.status {
            JobStatus::Running => keys.gsi2(RUNNING_JOBS, self.id.clone()),
            _ => keys,
        }
    }

    /// Whether `key` was a next-page key of one of the last pages.
    pub fn has_seen(&self, key: &str) -> bool {
        let digest = key_digest(key);
        // Jobs stored before digests kept the keys themselves.
        self.seen_keys.iter().any(|k| *k == digest || k == key)
    }

    /// Remembers `key`, forgetting the oldest beyond [`SEEN_KEYS_KEPT`].
    pub fn remember(&mut self, key: &str) {
        self.seen_keys.push(key_digest(key));
        let over = self.seen_keys.len().saturating_sub(SEEN_KEYS_KEPT);
        self.seen_keys.drain(..over);
    }
}

/// 64 bits of SHA-256: keys may be long URLs, and a collision only ends a run early.
fn key_digest(key: &str) -> String {
    use sha2::Digest;
    crate::secrets::hex(&sha2::Sha256::digest(key.as_bytes())[..8])
}

impl RecordFailure {
    /// The failure's own item, under its job.
    pub fn keys(&self, job: &str) -> Keys {
        Keys::new(
            job_pk(job),
            format!("{FAILURE_PREFIX}{:06}#{:05}", self.page, self.index),
        )
    }
}

/// The listing of a job's failure items, in page and record order.
pub fn failures_listing(pk: &str) -> crate::store::Listing<'_> {
    crate::store::Listing {
        index: None,
        partition: pk,
        sk_prefix: Some(FAILURE_PREFIX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_guard_remembers_the_last_keys_only() {
        let mut job: Job = serde_json::from_value(serde_json::json!({
            "id": "j", "appId": "a", "importId": "i", "status": "running", "trigger": "manual",
            "dryRun": false, "startedAt": "t", "pages": 0, "seen": 0, "created": 0, "updated": 0,
            "unchanged": 0, "failed": 0, "version": 1, "lastModified": "t",
            "seenKeys": ["https://old.example/?page=1"]
        }))
        .expect("a job");
        assert!(
            job.has_seen("https://old.example/?page=1"),
            "a key stored before digests"
        );
        for n in 0..(SEEN_KEYS_KEPT + 10) {
            job.remember(&format!("https://api.example/users?page={n}"));
        }
        assert_eq!(job.seen_keys.len(), SEEN_KEYS_KEPT);
        assert!(!job.has_seen("https://api.example/users?page=0"), "forgotten");
        assert!(job.has_seen(&format!("https://api.example/users?page={}", SEEN_KEYS_KEPT + 9)));
        assert!(job.seen_keys.iter().all(|k| k.len() == 16));
    }
}
