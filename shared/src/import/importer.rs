//! The importer: starts runs (on an admin call or the schedule), handles one page per import queue
//! message, and records the bulk-operations report in the job.
//!
//! A page is handled once: the job item is the checkpoint (pages done, counts, next key), updated
//! with a version condition after the page's users are written. A message for a page already done
//! only makes sure the next page's message was sent (the importer may have stopped between the
//! checkpoint and the send).

use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;

use super::config::ImportConfig;
use super::job::{
    Counts, Deactivation, DeactivationStatus, Job, JobStatus, MAX_FAILURES_KEPT, Trigger, job_pk,
    run_lock_keys,
};
use super::page::{self, PageMessage};
use super::upsert::Target;
use crate::aws::AwsClients;
use crate::config::Config;
use crate::connector::configs::{ConfigError, Configs, SecretCache};
use crate::connector::delivery::{Sender, Timeouts};
use crate::connector::http::excerpt;
use crate::directory::{Directory, DirectoryError};
use crate::ids::AppId;
use crate::queue_batch::{Handled, Received};
use crate::resources::Queue;
use crate::store::item::{s, to_item};
use crate::store::keys::PROFILE;
use crate::store::transaction::{op, transact};
use crate::store::{Listing, Store, StoreError};

#[derive(Debug, Clone)]
pub struct Settings {
    /// First retry delay of a failing page; doubled per attempt, with jitter.
    pub retry_base: Duration,
    pub timeouts: Timeouts,
    /// A run whose lock is older than this is considered dead (its importer stopped for good).
    pub stale_run: Duration,
    /// A running job whose checkpoint is older than this has lost its page (a message
    /// dead-lettered after crashes, or never sent): the schedule's tick fails it, resumable.
    /// Longer than a page's five deliveries with their longest backoffs.
    pub stalled_run: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retry_base: Duration::from_secs(10),
            timeouts: Timeouts {
                connect: Duration::from_secs(3),
                total: Duration::from_secs(30),
            },
            stale_run: Duration::from_secs(24 * 3600),
            stalled_run: Duration::from_secs(2 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Queue(String),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        ImportError::Config(e.into())
    }
}

impl From<DirectoryError> for ImportError {
    fn from(e: DirectoryError) -> Self {
        ImportError::Config(e.into())
    }
}

pub struct Importer {
    pub store: Store,
    pub directory: Directory,
    pub configs: Configs,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: Option<String>,
    pub sender: Sender,
    secrets: SecretCache,
    pub settings: Settings,
}

/// The run lock item: when the config last started and whether that run is still going.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunLock {
    job_id: String,
    started_at: String,
    running: bool,
}

/// The run lock is free: none yet, its run ended, or its run is long dead.
const FREE_LOCK: &str = "(attribute_not_exists(pk) OR running = :false OR startedAt < :stale)";

/// Whether the run's pages are done and its sweep of missing users is owed.
fn deactivating(job: &Job) -> bool {
    job.deactivation
        .as_ref()
        .is_some_and(|d| d.status == DeactivationStatus::Pending)
}

impl RunLock {
    /// The lock of `job`'s run, started (or resumed, or approved) at `now`.
    fn running(job: &str, now: String) -> Self {
        RunLock {
            job_id: job.to_string(),
            started_at: now,
            running: true,
        }
    }
}

impl Importer {
    pub fn new(clients: &AwsClients, config: &Config, settings: Settings) -> Self {
        let store = Store::new(clients.dynamodb.clone(), &config.table);
        Importer {
            directory: Directory::new(store.clone()),
            configs: Configs::new(store.clone(), clients.secrets.clone(), &config.secrets_prefix),
            store,
            sqs: clients.sqs.clone(),
            queue_url: config.import_queue_url.clone(),
            sender: Sender::new(settings.timeouts),
            secrets: SecretCache::default(),
            settings,
        }
    }

    pub async fn get_job(&self, id: &str) -> Result<Job, ImportError> {
        self.store
            .get(&job_pk(id), PROFILE)
            .await?
            .ok_or_else(|| DirectoryError::not_found("job", id).into())
    }

    /// An app's jobs, newest first.
    pub async fn list_jobs(
        &self,
        app: &AppId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<crate::store::Page<Job>, ImportError> {
        let partition = super::job::app_jobs(app);
        let listing = Listing {
            index: Some(crate::resources::GSI1),
            partition: &partition,
            sk_prefix: None,
        };
        self.store
            .query_page_ordered(&listing, limit, cursor, false)
            .await
            .map_err(|e| ImportError::from(DirectoryError::from(e)))
    }

    /// Starts a run: the job and the run lock in one transaction (409 while a run is going), then
    /// the first page's message. `seen` is the lock's start time the schedule decided on, so two
    /// ticks can't both start the same due run.
    pub async fn start(
        &self,
        app: &AppId,
        import: &str,
        dry_run: bool,
        trigger: Trigger,
        seen: Option<&str>,
    ) -> Result<Job, ImportError> {
        let config = self.configs.get_import(app, import).await?;
        let now = crate::timestamp::now();
        let job = Job {
            id: uuid::Uuid::now_v7().to_string(),
            app_id: app.clone(),
            import_id: import.to_string(),
            status: JobStatus::Running,
            trigger,
            dry_run,
            started_at: now.clone(),
            finished_at: None,
            pages: 0,
            counts: Counts::default(),
            failures: Vec::new(),
            failures_kept: 0,
            reason: None,
            next_key: Some(page::first_key(&config)),
            seen_keys: Vec::new(),
            run: 0,
            resume_key: None,
            deactivation: None,
            version: 1,
            last_modified: now.clone(),
        };
        let lock = RunLock::running(&job.id, now);
        let mut condition = FREE_LOCK.to_string();
        let mut values = self.free_lock_values();
        if let Some(seen) = seen {
            condition.push_str(" AND (attribute_not_exists(pk) OR startedAt = :seen)");
            values.push((":seen", s(seen)));
        }
        let job_put = op::put_new(&self.store.table, to_item(&job, &job.keys())?);
        let keys = run_lock_keys(app, import);
        if !self
            .write_with_lock(job_put, (&lock, &keys), &condition, values)
            .await?
        {
            return Err(DirectoryError::conflict("import", "a run of this import is in progress").into());
        }
        self.send_first(job, 1, page::first_key(&config)).await
    }

    /// Sends the message of a run's first page (of a start or a resume); a run whose message
    /// can't be sent ends failed at once, so it does not hold the run lock for a day.
    async fn send_first(&self, job: Job, page: u32, key: String) -> Result<Job, ImportError> {
        let message = PageMessage {
            job_id: job.id.clone(),
            page,
            key,
            run: job.run,
        };
        if let Err(e) = self.send_page(&message).await {
            let reason = format!("page {page} could not be queued: {e}");
            self.finish(job, None, Some(excerpt(&reason)), JobStatus::Failed, None)
                .await?;
            return Err(e);
        }
        Ok(job)
    }

    /// A job with its failures (read from their items).
    pub async fn report(&self, id: &str) -> Result<Job, ImportError> {
        let mut job = self.get_job(id).await?;
        if job.failures_kept > 0 {
            let pk = job_pk(id);
            // One Query; items of a page whose checkpoint was refused (a second delivery, a
            // cancel) may follow the counted ones, so only the counted number is shown.
            let page = self
                .store
                .query_page::<super::job::RecordFailure>(
                    &super::job::failures_listing(&pk),
                    MAX_FAILURES_KEPT as u32,
                    None,
                )
                .await
                .map_err(|e| ImportError::from(DirectoryError::from(e)))?;
            job.failures.extend(
                page.items
                    .into_iter()
                    .filter(|f| f.page <= job.pages)
                    .take(job.failures_kept as usize),
            );
        }
        Ok(job)
    }

    /// Stops a running job: its pages in flight are dropped, the run lock is released. The job
    /// can be resumed.
    pub async fn cancel(&self, id: &str) -> Result<Job, ImportError> {
        for _ in 0..crate::directory::version::UPDATE_ATTEMPTS {
            let job = self.get_job(id).await?;
            if job.status != JobStatus::Running {
                return Err(DirectoryError::conflict("status", "the run is not running").into());
            }
            let reason = Some("cancelled by an administrator".to_string());
            if let Some(done) = self.finish(job, None, reason, JobStatus::Cancelled, None).await? {
                return Ok(done);
            }
        }
        Err(StoreError::Unavailable(format!("job {id}: too many concurrent updates, try again")).into())
    }

    /// Goes on with a failed or cancelled run from the page it stopped before, with fresh
    /// attempts (409 while another run of the import is going, or when there is nothing to
    /// resume).
    pub async fn resume(&self, id: &str) -> Result<Job, ImportError> {
        let job = self.get_job(id).await?;
        let key = match (&job.status, &job.resume_key) {
            (JobStatus::Failed | JobStatus::Cancelled, Some(key)) => key.clone(),
            _ => {
                return Err(DirectoryError::conflict(
                    "status",
                    "only a failed or cancelled run that stopped before a page can be resumed",
                )
                .into());
            }
        };
        let now = crate::timestamp::now();
        // The pages done before were read at another time than those to come: who is missing
        // from both can't be told.
        let lifecycle = match self.configs.get_import(&job.app_id, &job.import_id).await {
            Ok(config) => config.deactivate_missing.enabled,
            Err(_) => false,
        };
        let deactivation = (lifecycle && job.pages > 0)
            .then(|| Deactivation::skipped("the run was resumed: its pages were read at different times"));
        let running = Job {
            status: JobStatus::Running,
            reason: None,
            finished_at: None,
            next_key: Some(key.clone()),
            resume_key: None,
            deactivation,
            run: job.run + 1,
            version: job.version + 1,
            last_modified: now.clone(),
            ..job.clone()
        };
        // Stamped now: a resume is a start (for the lock's staleness and the schedule).
        let lock = RunLock::running(&job.id, now.clone());
        let job_put = op::put_if_version(
            &self.store.table,
            to_item(&running, &running.keys())?,
            job.version,
        );
        if !self
            .write_with_lock(
                job_put,
                (&lock, &run_lock_keys(&job.app_id, &job.import_id)),
                FREE_LOCK,
                self.free_lock_values(),
            )
            .await?
        {
            return Err(DirectoryError::conflict(
                "import",
                "a run of this import is in progress, or the job changed meanwhile",
            )
            .into());
        }
        let page = running.pages + 1;
        self.send_first(running, page, key).await
    }

    /// The condition values of [`FREE_LOCK`].
    fn free_lock_values(&self) -> Vec<(&'static str, AttributeValue)> {
        let stale = time::OffsetDateTime::now_utc() - self.settings.stale_run;
        vec![
            (":false", AttributeValue::Bool(false)),
            (":stale", s(crate::timestamp::format(stale))),
        ]
    }

    /// Writes `job_write` and the run lock `lock` (put if `condition` holds) in one transaction;
    /// `false` when either was refused.
    async fn write_with_lock(
        &self,
        job_write: aws_sdk_dynamodb::types::TransactWriteItem,
        (lock, keys): (&RunLock, &crate::store::item::Keys),
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, ImportError> {
        let mut put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(to_item(lock, keys)?))
            .condition_expression(condition);
        for (name, value) in values {
            put = put.expression_attribute_values(name, value);
        }
        let put = put.build().map_err(|e| StoreError::Other(e.to_string()))?;
        let ops = vec![
            job_write,
            aws_sdk_dynamodb::types::TransactWriteItem::builder()
                .put(put)
                .build(),
        ];
        Ok(transact(&self.store, ops).await?.is_ok())
    }

    async fn send_page(&self, message: &PageMessage) -> Result<(), ImportError> {
        let Some(queue) = &self.queue_url else {
            return Err(ImportError::Queue("no import queue configured".into()));
        };
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(serde_json::to_string(message).unwrap_or_default())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ImportError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))
    }

    /// Handles a batch of page messages; a page to retry has its visibility set to the backoff.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let queue = crate::queue_batch::Queue {
            sqs: &self.sqs,
            url: self.queue_url.as_deref(),
        };
        // One page after another, as they come.
        queue
            .drive(
                event,
                1,
                |_: &Received<PageMessage>| String::new(),
                |r| self.handle_message(r),
            )
            .await
    }

    async fn handle_message(&self, received: Received<PageMessage>) -> Handled {
        let id = received.message.message_id.clone().unwrap_or_default();
        let retry = match received.body {
            Err(e) => {
                // Nothing to retry; the queue's redrive parks it.
                tracing::error!(message_id = %id, error = %e, "unreadable import message");
                Some(Duration::from_secs(0))
            }
            Ok(page) => match self.handle_page(&page, received.receives).await {
                Ok(retry) => retry,
                Err(e) if received.receives >= Queue::Import.max_receive_count() => {
                    // The queue would park the message with the run still going: end the run,
                    // resumable, instead.
                    tracing::error!(message_id = %id, error = %e, "import page failed on its last delivery");
                    match self
                        .fail_run(
                            &page,
                            &format!("page {} failed on its last delivery: {e}", page.page),
                        )
                        .await
                    {
                        Ok(()) => None,
                        Err(_) => Some(self.backoff(received.receives, None)),
                    }
                }
                Err(e) => {
                    tracing::warn!(message_id = %id, error = %e, "import page failed; retried");
                    Some(self.backoff(received.receives, None))
                }
            },
        };
        match retry {
            Some(after) => Handled::RetryAfter(after),
            None => Handled::Done,
        }
    }

    /// Ends the run of `page` failed (if it is still at that page).
    async fn fail_run(&self, page: &PageMessage, reason: &str) -> Result<(), ImportError> {
        let job = self.get_job(&page.job_id).await?;
        if job.status == JobStatus::Running
            && (job.pages + 1 == page.page || (job.pages == page.page && deactivating(&job)))
        {
            self.finish(job, None, Some(excerpt(reason)), JobStatus::Failed, None)
                .await?;
        }
        Ok(())
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        crate::retry::backoff(
            self.settings.retry_base,
            Duration::from_secs(900),
            attempt,
            retry_after,
        )
    }

    /// One page. `Some(delay)`: try again after it.
    pub async fn handle_page(
        &self,
        message: &PageMessage,
        attempt: u32,
    ) -> Result<Option<Duration>, ImportError> {
        let job = match self.get_job(&message.job_id).await {
            Ok(job) => job,
            Err(ImportError::Config(ConfigError::Directory(DirectoryError::NotFound { .. }))) => {
                // Retrying can't make the job appear.
                tracing::warn!(job = %message.job_id, "page of an unknown job dropped");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if message.run != job.run {
            // A page of a run that was stopped and resumed since: the resumed run sends its own.
            tracing::info!(job = %job.id, page = message.page, "page of an earlier run dropped");
            return Ok(None);
        }
        if job.status == JobStatus::Running && job.pages == message.page && deactivating(&job) {
            // The last page is done; its sweep is not (or an approval asks for it).
            self.deactivate_missing(job).await?;
            return Ok(None);
        }
        if job.status != JobStatus::Running || job.pages >= message.page {
            // Done before. If the run goes on, the next page's message may not have been sent.
            if job.status == JobStatus::Running
                && job.pages == message.page
                && let Some(key) = &job.next_key
            {
                self.send_page(&PageMessage {
                    job_id: job.id.clone(),
                    page: message.page + 1,
                    key: key.clone(),
                    run: job.run,
                })
                .await?;
            }
            return Ok(None);
        }
        if job.pages + 1 != message.page {
            tracing::warn!(job = %job.id, page = message.page, done = job.pages, "page out of order; dropped");
            return Ok(None);
        }
        let config = match self.configs.get_import(&job.app_id, &job.import_id).await {
            Ok(c) => c,
            Err(ConfigError::Directory(DirectoryError::NotFound { .. })) => {
                self.finish(
                    job,
                    None,
                    Some("the import config was deleted".into()),
                    JobStatus::Failed,
                    None,
                )
                .await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let auth = match &config.auth_id {
            Some(id) => {
                let auth = self.configs.get_auth(&job.app_id, id).await?;
                let secret = self
                    .secrets
                    .get(&self.configs, &auth)
                    .await
                    .map_err(ConfigError::from)?;
                Some((auth, secret))
            }
            None => None,
        };
        let fetched = page::fetch(&self.sender, &config, auth.as_ref().map(|(a, s)| (a, s)), message).await;
        // A config saved before the bound may ask for more tries than the queue delivers.
        let last_attempt = config.max_attempts.min(Queue::Import.max_receive_count());
        let fetched = match fetched {
            Ok(f) => f,
            Err(e) if e.permanent || attempt >= last_attempt => {
                let reason = format!(
                    "page {} failed after {attempt} attempt(s): {}",
                    message.page, e.reason
                );
                let reason = excerpt(&reason);
                self.finish(job, None, Some(reason), JobStatus::Failed, None)
                    .await?;
                return Ok(None);
            }
            Err(e) => {
                tracing::info!(job = %job.id, page = message.page, attempt, reason = %e.reason, "page retried");
                return Ok(Some(self.backoff(attempt, e.retry_after)));
            }
        };
        let target = Target {
            directory: &self.directory,
            app: &job.app_id,
            job: &job.id,
            page: message.page,
            dry_run: job.dry_run,
            lifecycle: config.deactivate_missing.enabled,
        };
        let result = target.upsert(&config.mapping, &fetched.records).await?;
        if config.deactivate_missing.enabled {
            super::missing::record_present(&self.directory, &job.id, message.page, &result).await?;
        }
        if !job.dry_run {
            let c = &result.counts;
            crate::metrics::import_page(c.created, c.updated, c.unchanged, c.failed);
        }

        let stop = if fetched.records.is_empty() {
            Some("an empty page")
        } else if fetched.next.is_none() {
            Some(if config.pagination.is_some() {
                "no next page key"
            } else {
                "one page (no pagination)"
            })
        } else if fetched
            .next
            .as_ref()
            .is_some_and(|k| job.has_seen(k) || *k == message.key)
        {
            Some("a next page key seen before")
        } else if message.page >= config.page_limit {
            Some("the page limit")
        } else {
            None
        };
        let next = if stop.is_none() {
            fetched.next.clone()
        } else {
            None
        };
        let mut job = job;
        let mut status = if stop.is_some() {
            JobStatus::Succeeded
        } else {
            JobStatus::Running
        };
        if let Some(stop) = stop.filter(|_| config.deactivate_missing.enabled && job.deactivation.is_none()) {
            // The run stays running through the sweep: its checkpoint says the sweep is owed.
            job.deactivation = Some(if super::missing::complete(stop) {
                status = JobStatus::Running;
                Deactivation::pending(false)
            } else {
                Deactivation::skipped(format!(
                    "the run ended at {stop}: it did not read the source to its end"
                ))
            });
        }
        let reason = stop.map(|s| format!("finished after {} page(s): {s}", message.page));
        let saved = self
            .finish(job, Some((message.page, result)), reason, status, next.clone())
            .await?;
        if let Some(job) = saved.as_ref().filter(|j| next.is_none() && deactivating(j)) {
            self.deactivate_missing(job.clone()).await?;
        }
        if let (Some(job), Some(key)) = (saved, next) {
            self.send_page(&PageMessage {
                job_id: job.id,
                page: message.page + 1,
                key,
                run: job.run,
            })
            .await?;
        }
        Ok(None)
    }

    /// The sweep of a run whose pages are done: deactivates the users missing from it (or holds
    /// them, or counts them in a dry run), then ends the run.
    async fn deactivate_missing(&self, job: Job) -> Result<(), ImportError> {
        let config = match self.configs.get_import(&job.app_id, &job.import_id).await {
            Ok(c) => c,
            Err(ConfigError::Directory(DirectoryError::NotFound { .. })) => {
                let reason = Some("the import config was deleted".into());
                self.finish(job, None, reason, JobStatus::Failed, None).await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let others = self
            .configs
            .list_imports(&job.app_id)
            .await?
            .len()
            .saturating_sub(1);
        let outcome = super::missing::sweep(&self.directory, &job, &config, others).await?;
        if outcome.status == DeactivationStatus::Held {
            crate::metrics::held(job.app_id.as_str(), outcome.missing);
        }
        tracing::info!(job = %job.id, status = ?outcome.status, missing = outcome.missing, deactivated = outcome.deactivated, "missing users swept");
        let reason = job.reason.clone();
        let done = Job {
            deactivation: Some(outcome),
            ..job
        };
        self.finish(done, None, reason, JobStatus::Succeeded, None)
            .await?;
        Ok(())
    }

    /// Deactivates the users a run held past the import's `maxDeactivations`: the run goes on
    /// with its sweep, approved (409 unless the run is the import's last, and finished held).
    pub async fn approve_deactivations(&self, id: &str) -> Result<Job, ImportError> {
        let job = self.get_job(id).await?;
        let held = job
            .deactivation
            .as_ref()
            .is_some_and(|d| d.status == DeactivationStatus::Held);
        if job.status != JobStatus::Succeeded || !held || job.dry_run {
            return Err(DirectoryError::conflict(
                "status",
                "only a finished run whose deactivations are held can be approved",
            )
            .into());
        }
        let lock_keys = run_lock_keys(&job.app_id, &job.import_id);
        let now = crate::timestamp::now();
        let approved = Deactivation {
            // Up to the number held: more missing by the time the sweep runs holds them again.
            missing: job.deactivation.as_ref().map_or(0, |d| d.missing),
            ..Deactivation::pending(true)
        };
        let running = Job {
            status: JobStatus::Running,
            finished_at: None,
            deactivation: Some(approved),
            run: job.run + 1,
            version: job.version + 1,
            last_modified: now.clone(),
            ..job.clone()
        };
        let lock = RunLock::running(&job.id, now);
        // Only while no later run started (its present set would be the one to trust) and none
        // is going.
        let job_put = op::put_if_version(
            &self.store.table,
            to_item(&running, &running.keys())?,
            job.version,
        );
        let values = vec![(":job", s(&job.id)), (":false", AttributeValue::Bool(false))];
        if !self
            .write_with_lock(
                job_put,
                (&lock, &lock_keys),
                "jobId = :job AND running = :false",
                values,
            )
            .await?
        {
            return Err(DirectoryError::conflict(
                "import",
                "another run of this import started since, or the job changed meanwhile: run the import again",
            )
            .into());
        }
        let page = running.pages;
        self.send_first(running, page, String::new()).await
    }

    /// Writes the checkpoint: the page's counts (when a page was done), the status, and, when
    /// the run ends, the released run lock. `None` when another delivery got there first.
    async fn finish(
        &self,
        job: Job,
        page: Option<(u32, super::upsert::PageResult)>,
        reason: Option<String>,
        status: JobStatus,
        next: Option<String>,
    ) -> Result<Option<Job>, ImportError> {
        let now = crate::timestamp::now();
        let mut next_job = job.clone();
        let page_done = page.is_some();
        if let Some((number, result)) = page {
            next_job.pages = number;
            next_job.counts.add(&result.counts);
            let kept = job.failures.len() + job.failures_kept as usize;
            let room = MAX_FAILURES_KEPT.saturating_sub(kept);
            // Items of their own, written before the checkpoint: a second delivery of the page
            // writes the same keys again, and its checkpoint is refused.
            let items = result
                .failures
                .iter()
                .take(room)
                .map(|f| to_item(f, &f.keys(&job.id)))
                .collect::<Result<Vec<_>, _>>()?;
            next_job.failures_kept += u32::try_from(items.len()).unwrap_or(0);
            if !items.is_empty() {
                self.store.batch_put(items).await?;
            }
        }
        if let Some(key) = &next {
            next_job.remember(key);
        }
        if matches!(status, JobStatus::Failed | JobStatus::Cancelled) && !page_done {
            // Stopped before the page of `next_key`: a resume goes on from there.
            next_job.resume_key = job.next_key.clone();
        }
        if matches!(status, JobStatus::Failed | JobStatus::Cancelled) && deactivating(&next_job) {
            next_job.deactivation = Some(Deactivation::skipped(
                "the run stopped before its sweep ended; the next complete run sweeps again",
            ));
        }
        next_job.next_key = next;
        next_job.status = status;
        next_job.reason = reason;
        if status != JobStatus::Running {
            next_job.finished_at = Some(now.clone());
        }
        next_job.version = job.version + 1;
        next_job.last_modified = now.clone();
        let table = &self.store.table;
        let job_write = op::put_if_version(table, to_item(&next_job, &next_job.keys())?, job.version);
        if status == JobStatus::Running {
            return Ok(transact(&self.store, vec![job_write])
                .await?
                .ok()
                .map(|()| next_job));
        }
        // The lock is released only if it is still this job's (another run may hold it now).
        let lock_keys = run_lock_keys(&job.app_id, &job.import_id);
        let lock: Option<RunLock> = self.store.get(&lock_keys.pk, &lock_keys.sk).await?;
        let mut ops = vec![job_write.clone()];
        if let Some(lock) = lock.filter(|l| l.job_id == job.id && l.running) {
            let released = RunLock {
                running: false,
                ..lock
            };
            ops.push(op::put_if(
                table,
                to_item(&released, &lock_keys)?,
                "#c = :c",
                "jobId",
                &job.id,
            ));
        }
        Ok(match transact(&self.store, ops).await? {
            Ok(()) => Some(next_job),
            Err(c) if !c.failed(0) => {
                // The lock moved to another run meanwhile: the job ends all the same.
                transact(&self.store, vec![job_write])
                    .await?
                    .ok()
                    .map(|()| next_job)
            }
            Err(_) => None,
        })
    }

    /// Fails the running jobs whose checkpoint is older than `stalled_run` (their page message
    /// was lost); each can be resumed. Returns how many.
    pub async fn fail_stalled(&self, now: time::OffsetDateTime) -> Result<usize, ImportError> {
        let listing = Listing {
            index: Some(crate::resources::GSI2),
            partition: super::job::RUNNING_JOBS,
            sk_prefix: None,
        };
        let running: Vec<Job> = self
            .store
            .query_all(&listing, 10_000, 1000)
            .await
            .map_err(|e| ImportError::from(DirectoryError::from(e)))?
            .unwrap_or_default();
        let cutoff = crate::timestamp::format(now - self.settings.stalled_run);
        let mut failed = 0;
        for job in running {
            // The index is eventually consistent: judge the job as stored now.
            let job = self.get_job(&job.id).await?;
            if job.status != JobStatus::Running || job.last_modified >= cutoff {
                continue;
            }
            let reason = format!(
                "no progress since {} (the message of page {} was lost or dead-lettered); resume the run to go on",
                job.last_modified,
                job.pages + 1
            );
            tracing::warn!(job = %job.id, reason, "stalled import run failed");
            if self
                .finish(job, None, Some(reason), JobStatus::Failed, None)
                .await?
                .is_some()
            {
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// The schedule's tick: fails stalled runs, then starts every scheduled import that is due
    /// and not running.
    pub async fn tick(&self) -> Result<usize, ImportError> {
        if let Err(e) = self.fail_stalled(time::OffsetDateTime::now_utc()).await {
            tracing::warn!(error = %e, "stalled runs not checked");
        }
        let listing = Listing {
            index: Some(crate::resources::GSI1),
            partition: super::config::SCHEDULED,
            sk_prefix: None,
        };
        let configs: Vec<ImportConfig> = self
            .store
            .query_all(&listing, 10_000, 1000)
            .await
            .map_err(|e| ImportError::from(DirectoryError::from(e)))?
            .unwrap_or_default();
        let now = time::OffsetDateTime::now_utc();
        let mut started = 0;
        for config in configs {
            let Some(schedule) = &config.schedule else {
                continue;
            };
            let lock_keys = run_lock_keys(&config.app_id, &config.id);
            let lock: Option<RunLock> = self.store.get(&lock_keys.pk, &lock_keys.sk).await?;
            let last = lock.as_ref().and_then(|l| {
                time::OffsetDateTime::parse(&l.started_at, &time::format_description::well_known::Rfc3339)
                    .ok()
            });
            if lock.as_ref().is_some_and(|l| l.running) || !schedule.is_due(last, now) {
                continue;
            }
            let seen = lock.as_ref().map(|l| l.started_at.clone());
            match self
                .start(
                    &config.app_id,
                    &config.id,
                    false,
                    Trigger::Schedule,
                    seen.as_deref().or(Some("")),
                )
                .await
            {
                Ok(_) => started += 1,
                Err(ImportError::Config(ConfigError::Directory(DirectoryError::Conflict { .. }))) => {}
                Err(e) => tracing::warn!(import = %config.id, error = %e, "scheduled import not started"),
            }
        }
        Ok(started)
    }
}
