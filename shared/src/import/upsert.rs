//! Writing one page of imported records: match each to a user (by the app's external id, then by
//! email), decide created / updated / unchanged / failed, and write the changes in as few
//! TransactWriteItems as DynamoDB's 100-item limit allows, guards and change events included.
//!
//! Every written user item carries `lastImport: <job>#<page>#<created|updated>`: when a page is
//! handled again after the importer stopped mid-page, users it already wrote are counted as what
//! they were then, so the report stays exact.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::TransactWriteItem;
use futures::StreamExt;
use serde_json::Value;

use super::config::ImportMapping;
use super::job::{Counts, RecordFailure};
use super::mapping::Mapped;
use crate::directory::Directory;
use crate::directory::emails::{self, EmailRule, Settled};
use crate::directory::record::{MAX_TRANSACTION_ITEMS, Record, guard_key, put_guard};
use crate::directory::users::User;
use crate::ids::{AppId, UserId};
use crate::store::StoreError;
use crate::store::item::{Item, Keys, from_item, key, s, string_attr, to_item};
use crate::store::keys::{self, PROFILE, UNIQUE, Unique, fold};
use crate::store::transaction::{op, transact};

const MARKER: &str = "lastImport";
/// Written on the import key guard of a user the missing-users sweep (`missing.rs`) deactivated:
/// the user's version then. A later run that finds the account again makes the user active again
/// if nobody changed the user since (an administrator's deactivation stays).
pub const DEACTIVATED_AT: &str = "deactivatedAtVersion";
/// For each write of a chunk (its position among the page's writes): `None` when written, or why
/// not.
type ChunkOutcome = Vec<(usize, Option<&'static str>)>;

/// Transactions of one page in flight at once.
const PARALLEL_TRANSACTIONS: usize = 4;

/// One user write's transaction items (its change event among them), and where its holder-set writes sit
/// (with their folded addresses, and whether each is a leave).
struct Planned {
    ops: Vec<TransactWriteItem>,
    email_ops: Vec<(usize, String, bool)>,
    /// Keys of the guard and holder-set items it writes: two writes on one item never share a
    /// transaction (DynamoDB refuses it outright, failing the whole page).
    touches: Vec<String>,
}

/// What a page came to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageResult {
    pub counts: Counts,
    pub failures: Vec<RecordFailure>,
    /// The external id of every record that has one, failed or not: who is present in the source.
    pub present: Vec<String>,
    /// Records without a readable external id.
    pub unidentified: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Created,
    Updated,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
        }
    }
}

/// A user write the page needs.
struct Write {
    /// Position among the page's writes.
    position: usize,
    /// Position of the record in the page.
    index: usize,
    /// The account's import key is held by a user deleted since: overwritten, not created.
    stale_key: bool,
    external_id: String,
    before: Option<User>,
    after: User,
    change: Change,
}

/// Where a page is written: the directory, and the run it belongs to.
pub struct Target<'a> {
    pub directory: &'a Directory,
    pub app: &'a AppId,
    pub job: &'a str,
    pub page: u32,
    pub dry_run: bool,
    /// The import deactivates missing users (`deactivateMissing`): one it deactivated comes back
    /// active when present again.
    pub lifecycle: bool,
}

fn apply(user: &mut User, mapped: &Mapped, app: &AppId) {
    user.email = Some(mapped.email.clone());
    if let Some(name) = &mapped.user_name {
        user.user_name = name.clone();
    } else if user.user_name.is_empty() {
        user.user_name = mapped.email.clone();
    }
    for (field, value) in [
        (&mut user.given_name, &mapped.given_name),
        (&mut user.family_name, &mapped.family_name),
        (&mut user.display_name, &mapped.display_name),
    ] {
        if value.is_some() {
            *field = value.clone();
        }
    }
    if let Some(active) = mapped.active {
        user.active = active;
    }
    for (k, v) in &mapped.attributes {
        user.attributes.insert(k.clone(), v.clone());
    }
    user.source_app_id = Some(app.clone());
    user.external_id = Some(mapped.external_id.clone());
}

/// The import key `app` holds for a user, if the user came from that app's import.
fn import_key(user: &User, app: &AppId) -> Option<String> {
    match (&user.source_app_id, &user.external_id) {
        (Some(source), Some(external)) if source == app => Some(format!("{app}#{external}")),
        _ => None,
    }
}

#[derive(serde::Serialize)]
struct ImportKeyOwner<'a> {
    owner: &'a str,
}

impl Target<'_> {
    pub async fn upsert(&self, mapping: &ImportMapping, records: &[Value]) -> Result<PageResult, StoreError> {
        let mut result = PageResult::default();
        let fail = |result: &mut PageResult, index: usize, external_id: Option<String>, reason: String| {
            result.counts.failed += 1;
            result.failures.push(RecordFailure {
                page: self.page,
                index,
                external_id,
                reason,
            });
        };
        result.counts.seen = records.len() as u64;
        let rule = self.directory.email_rule().await?;

        // Map, and refuse duplicates within the page.
        let mut mapped: Vec<(usize, Mapped)> = Vec::new();
        let mut ext_seen: HashMap<String, usize> = HashMap::new();
        let mut email_seen: HashMap<String, usize> = HashMap::new();
        for (index, record) in records.iter().enumerate() {
            match mapping.apply(record) {
                Err(reason) => {
                    let ext = mapping.external_id_of(record);
                    match &ext {
                        Some(ext) => result.present.push(ext.clone()),
                        None => result.unidentified += 1,
                    }
                    fail(&mut result, index, ext, reason);
                }
                Ok(m) => {
                    result.present.push(m.external_id.clone());
                    if let Some(first) = ext_seen.get(&m.external_id) {
                        fail(
                            &mut result,
                            index,
                            Some(m.external_id.clone()),
                            format!("duplicate external id: record {first} of this page has it too"),
                        );
                    } else if let Some(first) = email_seen.get(&fold(&m.email)).filter(|_| rule.unique) {
                        fail(
                            &mut result,
                            index,
                            Some(m.external_id.clone()),
                            format!("duplicate email: record {first} of this page has it too"),
                        );
                    } else {
                        ext_seen.insert(m.external_id.clone(), index);
                        email_seen.insert(fold(&m.email), index);
                        mapped.push((index, m));
                    }
                }
            }
        }

        // Who already exists: the import keys name their owners and the holder sets the users
        // with each address (BatchGetItem), then those users (BatchGetItem).
        let ext_key = |m: &Mapped| Unique::ImportKey.key(&format!("{}#{}", self.app, m.external_id));
        let email_key = |m: &Mapped| Unique::Email.key(&m.email);
        let mut guard_keys: Vec<Item> = Vec::new();
        let mut seen_keys = std::collections::HashSet::new();
        for (_, m) in &mapped {
            for k in [ext_key(m), email_key(m)] {
                // BatchGetItem refuses a key twice (two accounts may share an address).
                if seen_keys.insert(k.clone()) {
                    guard_keys.push(key(k, UNIQUE));
                }
            }
        }
        let guards: HashMap<String, Item> = self
            .directory
            .store
            .batch_get(guard_keys)
            .await?
            .into_iter()
            .filter_map(|g| Some((string_attr(&g, "pk")?, g)))
            .collect();
        let owners: HashMap<&String, String> = guards
            .iter()
            .filter(|(pk, _)| pk.starts_with(&Unique::ImportKey.key("")))
            .filter_map(|(pk, g)| Some((pk, string_attr(g, "owner")?)))
            .collect();
        let mut owner_ids: Vec<String> = owners.values().cloned().collect();
        for (pk, guard) in &guards {
            if !owners.contains_key(pk) {
                owner_ids.extend(emails::holders(guard));
            }
        }
        owner_ids.sort();
        owner_ids.dedup();
        let profiles: HashMap<String, Item> = self
            .directory
            .store
            .batch_get(
                owner_ids
                    .iter()
                    .filter_map(|id| UserId::parse(id))
                    .map(|id| key(keys::user(&id), PROFILE))
                    .collect(),
            )
            .await?
            .into_iter()
            .filter_map(|item| Some((string_attr(&item, "id")?, item)))
            .collect();

        let now = crate::timestamp::now();
        let marker_prefix = format!("{}#{}#", self.job, self.page);
        let mut writes: Vec<Write> = Vec::new();
        // The user each record matched, so that two records never claim one user.
        let mut matched: HashMap<String, usize> = HashMap::new();
        for (index, m) in mapped {
            let by_ext = owners.get(&ext_key(&m));
            // A key whose user was deleted since: the account comes in as a new user, and its
            // key is rewritten to point at it.
            let stale_key = by_ext.is_some_and(|id| !profiles.contains_key(id));
            let by_ext = by_ext.filter(|id| profiles.contains_key(*id));
            // The users that hold the address now (an old-format item's owner is checked).
            let holders: Vec<String> = guards
                .get(&email_key(&m))
                .map(emails::holders)
                .unwrap_or_default()
                .into_iter()
                .filter(|id| {
                    profiles
                        .get(id)
                        .and_then(|p| string_attr(p, "email"))
                        .is_some_and(|e| fold(&e) == fold(&m.email))
                })
                .collect();
            let by_email = match (by_ext, holders.as_slice()) {
                (Some(_), _) | (None, []) => None,
                (None, [one]) => Some(one),
                (None, many) => {
                    fail(
                        &mut result,
                        index,
                        Some(m.external_id.clone()),
                        format!("ambiguous email: {} users have it", many.len()),
                    );
                    continue;
                }
            };
            let profile = |id: &String| -> Result<Option<User>, StoreError> {
                profiles
                    .get(id)
                    .map(|item| from_item::<User>(item.clone()))
                    .transpose()
            };
            // Found by email only: the user may not be this account if it belongs to another
            // source or account. Then it is a failure while emails are unique, and otherwise a
            // new user with the same address.
            let by_email = match by_email {
                Some(id) => {
                    let user = profile(id)?;
                    let claimed_elsewhere = user.as_ref().is_some_and(|user| {
                        user.source_app_id.as_ref().is_some_and(|s| s != self.app)
                            || user.external_id.is_some()
                    });
                    if claimed_elsewhere && rule.unique {
                        fail(
                            &mut result,
                            index,
                            Some(m.external_id.clone()),
                            "duplicate email: the address belongs to a user with another external id or source"
                                .into(),
                        );
                        continue;
                    }
                    (!claimed_elsewhere).then_some(id)
                }
                None => None,
            };
            let owner = by_ext.or(by_email);
            if let Some(id) = owner
                && let Some(first) = matched.insert(id.clone(), index)
            {
                fail(
                    &mut result,
                    index,
                    Some(m.external_id.clone()),
                    format!("ambiguous email: record {first} of this page matched the same user"),
                );
                continue;
            }
            let existing = match owner.and_then(|id| profiles.get(id)) {
                Some(item) => {
                    let marker = string_attr(item, MARKER).unwrap_or_default();
                    if let Some(done) = marker.strip_prefix(&marker_prefix) {
                        // Written by an earlier delivery of this very page.
                        match done {
                            "created" => result.counts.created += 1,
                            _ => result.counts.updated += 1,
                        }
                        continue;
                    }
                    Some(from_item::<User>(item.clone())?)
                }
                None => None,
            };
            // Deactivated by a sweep for being missing, untouched since, and back in the source:
            // active again (unless the mapping reads `active`).
            let mut m = m;
            let guard = guards.get(&ext_key(&m));
            let swept_at = guard
                .and_then(|g| g.get(DEACTIVATED_AT))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let swept_owner = guard.and_then(|g| string_attr(g, "owner"));
            if self.lifecycle
                && m.active.is_none()
                && let Some(user) = existing.as_ref().filter(|u| !u.active)
                && swept_at == Some(user.version)
                && swept_owner.as_deref() == Some(user.id.as_str())
            {
                m.active = Some(true);
            }
            let (before, mut after, change) = match existing {
                Some(user) => (Some(user.clone()), user, Change::Updated),
                None => (None, User::blank(now.clone()), Change::Created),
            };
            apply(&mut after, &m, self.app);
            if before.as_ref() == Some(&after) {
                result.counts.unchanged += 1;
                continue;
            }
            if let Some(b) = &before {
                after.version = b.version + 1;
                after.last_modified = now.clone();
            }
            writes.push(Write {
                position: writes.len(),
                index,
                stale_key,
                external_id: m.external_id,
                before,
                after,
                change,
            });
        }

        if self.dry_run {
            for w in &writes {
                match w.change {
                    Change::Created => result.counts.created += 1,
                    Change::Updated => result.counts.updated += 1,
                }
            }
            return Ok(result);
        }
        self.write(writes, rule, &mut result).await?;
        Ok(result)
    }

    /// The operations of one user write and its change event.
    fn ops(&self, w: &Write, rule: EmailRule, shared: bool) -> Result<Planned, StoreError> {
        let table = &self.directory.store.table;
        let mut item = to_item(&w.after, &w.after.keys())?;
        // The change event rides on the user item, as every user write's does.
        User::change_event(w.before.as_ref(), Some(&w.after))
            .ok_or_else(|| StoreError::Other("a user write without a change event".into()))?
            .from_app(self.app)
            .attach(&mut item)?;
        item.insert(
            MARKER.into(),
            s(format!("{}#{}#{}", self.job, self.page, w.change.name())),
        );
        let mut ops = vec![match &w.before {
            None => op::put_new(table, item),
            Some(b) => op::put_if_version(table, item, b.version),
        }];
        let before = w.before.as_ref().map(Record::unique_values).unwrap_or_default();
        let after = w.after.unique_values();
        let mut touches = Vec::new();
        for (unique, value) in &before {
            if !after.iter().any(|(u, v)| u == unique && unique.same(v, value)) {
                ops.push(op::delete(table, guard_key(*unique, value)));
                touches.push(unique.key(value));
            }
        }
        for (unique, value) in &after {
            if !before.iter().any(|(u, v)| u == unique && unique.same(v, value)) {
                ops.push(put_guard(table, *unique, value, w.after.id.as_str())?);
                touches.push(unique.key(value));
            }
        }
        let mut email_ops = Vec::new();
        for write in emails::writes(
            table,
            Some(rule),
            w.after.id.as_str(),
            w.before.as_ref().and_then(|b| b.email.as_deref()),
            w.after.email.as_deref(),
            shared,
        ) {
            email_ops.push((ops.len(), fold(&write.email), write.leaving));
            touches.push(Unique::Email.key(&write.email));
            ops.push(write.op);
        }
        // The import key (the account id in the source app): the importer's own guard, one user
        // per account, apart from the user's guards (a SCIM externalId has none).
        let key_before = w.before.as_ref().and_then(|b| import_key(b, self.app));
        let key_after = import_key(&w.after, self.app);
        if key_before != key_after {
            if let Some(k) = &key_before {
                ops.push(op::delete(table, guard_key(Unique::ImportKey, k)));
                touches.push(Unique::ImportKey.key(k));
            }
            if let Some(k) = &key_after {
                touches.push(Unique::ImportKey.key(k));
                ops.push(if w.stale_key {
                    op::put(
                        table,
                        to_item(
                            &ImportKeyOwner {
                                owner: w.after.id.as_str(),
                            },
                            &Keys::new(Unique::ImportKey.key(k), UNIQUE),
                        )?,
                    )
                } else {
                    put_guard(table, Unique::ImportKey, k, w.after.id.as_str())?
                });
            }
        }
        Ok(Planned {
            ops,
            email_ops,
            touches,
        })
    }

    /// Packs the writes into transactions of up to 100 items; a transaction that is refused is
    /// split into one per user, so one bad record doesn't sink its neighbours.
    async fn write(
        &self,
        writes: Vec<Write>,
        rule: EmailRule,
        result: &mut PageResult,
    ) -> Result<(), StoreError> {
        let mut planned = Vec::new();
        for w in writes {
            let plan = self.ops(&w, rule, false)?;
            planned.push((w, plan));
        }
        // Transactions of up to 100 items, none touching one guard or address twice (DynamoDB
        // refuses two operations on one item); a page's transactions touch different users, so a
        // few run at once.
        let mut chunks: Vec<&[(Write, Planned)]> = Vec::new();
        let mut start = 0;
        while start < planned.len() {
            let mut end = start;
            let mut size = 0;
            let mut touched: std::collections::HashSet<&str> = std::collections::HashSet::new();
            while end < planned.len() && size + planned[end].1.ops.len() <= MAX_TRANSACTION_ITEMS {
                let mine = &planned[end].1.touches;
                if end > start && mine.iter().any(|k| touched.contains(k.as_str())) {
                    break;
                }
                touched.extend(mine.iter().map(String::as_str));
                size += planned[end].1.ops.len();
                end += 1;
            }
            chunks.push(&planned[start..end]);
            start = end;
        }
        let outcomes: Vec<Result<ChunkOutcome, StoreError>> = futures::stream::iter(chunks)
            .map(|chunk| self.write_chunk(chunk, rule))
            .buffer_unordered(PARALLEL_TRANSACTIONS)
            .collect()
            .await;
        for outcome in outcomes {
            for (i, refused) in outcome? {
                let (w, _) = &planned[i];
                match refused {
                    None => {
                        self.count(w.change, result);
                    }
                    Some(reason) => {
                        result.counts.failed += 1;
                        result.failures.push(RecordFailure {
                            page: self.page,
                            index: w.index,
                            external_id: Some(w.external_id.clone()),
                            reason: reason.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// One transaction for the chunk, or one per user if it is refused. For each write (its
    /// position in `planned`): `None` when written, or why not.
    async fn write_chunk(
        &self,
        chunk: &[(Write, Planned)],
        rule: EmailRule,
    ) -> Result<ChunkOutcome, StoreError> {
        // A page can outlast the rule it was planned under (uniqueness switched on meanwhile):
        // the rule as it is now, and each write again under it if it moved.
        let now = self.directory.email_rule().await?;
        if now != rule {
            let mut outcomes = Vec::new();
            for (w, _) in chunk {
                let plan = self.ops(w, now, false)?;
                outcomes.push((w.position, self.write_one(w, &plan, now).await?));
            }
            return Ok(outcomes);
        }
        let ops: Vec<TransactWriteItem> = chunk.iter().flat_map(|(_, p)| p.ops.clone()).collect();
        if transact(&self.directory.store, ops).await?.is_ok() {
            return Ok(chunk.iter().map(|(w, _)| (w.position, None)).collect());
        }
        let mut outcomes = Vec::new();
        for (w, plan) in chunk {
            outcomes.push((w.position, self.write_one(w, plan, rule).await?));
        }
        Ok(outcomes)
    }

    /// One user's write on its own: `None` when written, or why not. A holder set that was out
    /// of date (an old-format item, a rule changed since, an old address shared) gets the write
    /// tried again.
    async fn write_one(
        &self,
        w: &Write,
        plan: &Planned,
        mut rule: EmailRule,
    ) -> Result<Option<&'static str>, StoreError> {
        let mut fresh: Option<Planned> = None;
        let mut shared = false;
        for _ in 0..3 {
            let plan = fresh.as_ref().unwrap_or(plan);
            let cancelled = match transact(&self.directory.store, plan.ops.clone()).await? {
                Ok(()) => return Ok(None),
                Err(cancelled) => cancelled,
            };
            if cancelled.failed(0) {
                return Ok(Some(
                    "changed by someone else during the import; the next run picks it up",
                ));
            }
            let Some((_, email, leaving)) = plan.email_ops.iter().find(|(i, _, _)| cancelled.failed(*i))
            else {
                return Ok(Some("duplicate userName or import key: another user has it"));
            };
            match self.directory.settle_email(email, *leaving, rule).await? {
                Settled::Taken => return Ok(Some("duplicate email: another user has it")),
                Settled::Shared => shared = true,
                Settled::Retry => rule = self.directory.email_rule().await?,
            }
            fresh = Some(self.ops(w, rule, shared)?);
        }
        Ok(Some(
            "the email's holders kept changing during the import; the next run picks it up",
        ))
    }

    fn count(&self, change: Change, result: &mut PageResult) {
        match change {
            Change::Created => result.counts.created += 1,
            Change::Updated => result.counts.updated += 1,
        }
    }
}
