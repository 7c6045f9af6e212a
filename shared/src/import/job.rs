//! Import jobs: one run of an import config, with its bulk-operations report. The job item is
//! also the run's checkpoint: a page's counts and the page number are written in one conditional
//! update, so a page handled twice is counted once.

use serde::{Deserialize, Serialize};

use crate::ids::AppId;
use crate::store::item::Keys;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
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
    #[serde(default)]
    pub failures: Vec<RecordFailure>,
    /// Why the run stopped early (a page that kept failing) or how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The key of the page after the last one done, while the run goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<String>,
    /// Next-page keys seen so far (the loop guard).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_keys: Vec<String>,
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

impl Job {
    pub fn keys(&self) -> Keys {
        Keys::new(job_pk(&self.id), crate::store::keys::PROFILE)
            .gsi1(app_jobs(&self.app_id), format!("{}#{}", self.started_at, self.id))
    }
}
