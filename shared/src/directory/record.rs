//! What every stored directory resource shares: where it lives, its version, the unique values it
//! holds. Create, get, update and delete are written once here, as single DynamoDB transactions
//! that move uniqueness guards together with the resource.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Serialize, de::DeserializeOwned};

use super::change::ChangeEvent;
use super::emails::{self, EmailRule, Settled};
use super::version::UPDATE_ATTEMPTS;
use super::{Directory, DirectoryError, Precondition};
use crate::store::item::{Item, Keys, key, to_item};
use crate::store::keys::{self, fold};
use crate::store::keys::{PROFILE, UNIQUE, Unique};
use crate::store::transaction::Cancelled;
use crate::store::transaction::{op, transact};
use crate::store::{Listing, Page, StoreError};
use crate::timestamp;

pub trait Record: Serialize + DeserializeOwned + Clone + PartialEq {
    /// Name used in errors: "user", "group", ...
    const RESOURCE: &'static str;

    fn id_str(&self) -> &str;
    fn keys(&self) -> Keys;
    fn version(&self) -> u64;
    fn stamp(&mut self, version: u64, modified: String);
    /// The values this record holds that must be unique, case-insensitively.
    fn unique_values(&self) -> Vec<(Unique, String)> {
        Vec::new()
    }
    /// The email address this record holds, kept in its holder set ([`super::emails`]).
    fn email(&self) -> Option<&str> {
        None
    }
    /// Whether a write of this record carries its change event on its own item (the stream takes
    /// it from there) rather than in an outbox item. Only for records no other write rewrites
    /// without announcing: a group's item is written again by every join (its version), which
    /// would drop an event riding on it before a replay could find it.
    const CARRIES_ITS_EVENT: bool = false;
    /// The change event a write of this record announces (`before` None: created; `after` None:
    /// deleted). Only changes outbound provisioning acts on have one.
    fn change_event(_before: Option<&Self>, _after: Option<&Self>) -> Option<ChangeEvent> {
        None
    }
    /// Other items a write of this record changes in the same transaction (`before` None:
    /// created; `after` None: deleted), such as the configuration version of [`super::scope`].
    fn side_writes(
        _table: &str,
        _before: Option<&Self>,
        _after: Option<&Self>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        Ok(Vec::new())
    }
}

/// The item of `after` and the outbox put of the write's change event, if it has one and the
/// record does not carry it ([`Record::CARRIES_ITS_EVENT`]).
fn announced_item<T: Record>(
    table: &str,
    before: Option<&T>,
    after: &T,
) -> Result<(Item, Option<TransactWriteItem>), StoreError> {
    let mut item = to_item(after, &after.keys())?;
    let outbox = match T::change_event(before, Some(after)) {
        Some(event) if T::CARRIES_ITS_EVENT => {
            event.attach(&mut item)?;
            None
        }
        Some(event) => Some(op::put(table, event.item()?)),
        None => None,
    };
    Ok((item, outbox))
}

/// The outbox put announcing a record's deletion, if it has an event: no item stays to carry it.
fn announce_deletion<T: Record>(table: &str, before: &T) -> Result<Option<TransactWriteItem>, StoreError> {
    T::change_event(Some(before), None)
        .map(|event| Ok(op::put(table, event.item()?)))
        .transpose()
}

/// A condition that must hold for a write, with the error to report when it doesn't.
pub struct Check {
    pub op: TransactWriteItem,
    pub on_fail: DirectoryError,
}

impl Check {
    /// The item at `pk` must exist.
    pub fn exists(dir: &Directory, pk: String, on_fail: DirectoryError) -> Self {
        Check {
            op: op::check_exists(&dir.store.table, key(pk, PROFILE)),
            on_fail,
        }
    }

    /// The group at `pk` must exist and not be claimed by a delete.
    pub fn live_group(dir: &Directory, pk: String, on_fail: DirectoryError) -> Self {
        Check {
            op: op::check_live_group(&dir.store.table, key(pk, PROFILE)),
            on_fail,
        }
    }
}

#[derive(serde::Serialize)]
struct Guard<'a> {
    owner: &'a str,
}

pub(crate) fn guard_key(unique: Unique, value: &str) -> Item {
    key(unique.key(value), UNIQUE)
}

pub(crate) fn put_guard(
    table: &str,
    unique: Unique,
    value: &str,
    owner: &str,
) -> Result<TransactWriteItem, StoreError> {
    let keys = Keys::new(unique.key(value), UNIQUE);
    Ok(op::put_new(table, to_item(&Guard { owner }, &keys)?))
}

/// What a cancelled transaction means, slot by slot.
enum Slot {
    Record,
    Guard(Unique),
    Check(usize),
    /// A holder-set write for this address (a leave or a join).
    Email {
        email: String,
        leaving: bool,
    },
    Plain,
}

/// A transaction being assembled, with what each of its items means if its condition fails.
struct Plan {
    ops: Vec<TransactWriteItem>,
    slots: Vec<Slot>,
}

impl Plan {
    fn new(first: TransactWriteItem) -> Self {
        Plan {
            ops: vec![first],
            slots: vec![Slot::Record],
        }
    }

    fn push(&mut self, op: TransactWriteItem, slot: Slot) {
        self.ops.push(op);
        self.slots.push(slot);
    }

    /// The checks' conditions; their errors stay with the caller, by position.
    fn checks(&mut self, ops: &[TransactWriteItem]) {
        for (i, op) in ops.iter().enumerate() {
            self.push(op.clone(), Slot::Check(i));
        }
    }
}

/// The error a cancelled transaction means, if a guard or a check names one.
fn explain(
    slots: &[Slot],
    failed: impl Fn(usize) -> bool,
    checks: &mut [Option<DirectoryError>],
) -> Option<DirectoryError> {
    for (index, slot) in slots.iter().enumerate() {
        if !failed(index) {
            continue;
        }
        match slot {
            Slot::Guard(unique) => {
                return Some(DirectoryError::conflict(
                    unique.field(),
                    format!(
                        "is already taken (compared case-insensitively) by another {}",
                        record_name(unique)
                    ),
                ));
            }
            Slot::Check(i) => {
                if let Some(err) = checks.get_mut(*i).and_then(Option::take) {
                    return Some(err);
                }
            }
            Slot::Record | Slot::Email { .. } | Slot::Plain => {}
        }
    }
    None
}

/// What to do after a refusal no guard or check explains.
enum Refused {
    Retry,
    /// Again, leaving the old address by a set removal (it has other holders).
    Shared,
    Fail(DirectoryError),
}

fn email_taken() -> DirectoryError {
    DirectoryError::conflict(
        "email",
        "is already held by another user (compared case-insensitively; unique emails are switched on)",
    )
}

fn record_name(unique: &Unique) -> &'static str {
    match unique {
        Unique::UserName | Unique::Email | Unique::ImportKey => "user",
        Unique::GroupName => "group",
    }
}

impl Directory {
    /// The rule a write from `before` to `after` must follow: read only when it gains an email.
    async fn rule_for<T: Record>(
        &self,
        before: Option<&T>,
        after: Option<&T>,
    ) -> Result<Option<EmailRule>, StoreError> {
        let gains = after
            .and_then(Record::email)
            .is_some_and(|e| before.and_then(Record::email).map(fold) != Some(fold(e)));
        Ok(if gains {
            Some(self.email_rule().await?)
        } else {
            None
        })
    }

    /// Adds the holder-set writes of a record going from `before` to `after`.
    fn push_emails<T: Record>(
        &self,
        plan: &mut Plan,
        rule: Option<EmailRule>,
        before: Option<&T>,
        after: Option<&T>,
        shared: bool,
    ) {
        let Some(id) = after.or(before).map(Record::id_str) else {
            return;
        };
        let writes = emails::writes(
            &self.store.table,
            rule,
            id,
            before.and_then(Record::email),
            after.and_then(Record::email),
            shared,
        );
        for write in writes {
            plan.push(
                write.op,
                Slot::Email {
                    email: write.email,
                    leaving: write.leaving,
                },
            );
        }
    }

    /// What a transaction refused by nothing but a holder set comes to.
    async fn email_refused(
        &self,
        slots: &[Slot],
        cancelled: &Cancelled,
        rule: Option<EmailRule>,
    ) -> Result<Refused, StoreError> {
        let Some((email, leaving)) = slots.iter().enumerate().find_map(|(i, slot)| match slot {
            Slot::Email { email, leaving } if cancelled.failed(i) => Some((email.as_str(), *leaving)),
            _ => None,
        }) else {
            return Ok(Refused::Fail(DirectoryError::Store(StoreError::Other(
                "write cancelled".into(),
            ))));
        };
        let rule = match rule {
            Some(rule) => rule,
            None => self.email_rule().await?,
        };
        Ok(match self.settle_email(email, leaving, rule).await? {
            Settled::Retry => Refused::Retry,
            Settled::Shared => Refused::Shared,
            Settled::Taken => Refused::Fail(email_taken()),
        })
    }

    /// Stores a new record with its uniqueness guards, provided every check holds: one transaction
    /// (again if a holder set was out of date).
    pub(crate) async fn create_record<T: Record>(
        &self,
        record: &T,
        checks: Vec<Check>,
    ) -> Result<(), DirectoryError> {
        let table = &self.store.table;
        let (check_ops, mut check_errors): (Vec<_>, Vec<_>) =
            checks.into_iter().map(|c| (c.op, Some(c.on_fail))).unzip();
        for _ in 0..UPDATE_ATTEMPTS {
            let rule = self.rule_for(None, Some(record)).await?;
            let (item, outbox) = announced_item(table, None, record)?;
            let mut plan = Plan::new(op::put_new(table, item));
            if let Some(put) = outbox {
                plan.push(put, Slot::Plain);
            }
            for (unique, value) in record.unique_values() {
                plan.push(
                    put_guard(table, unique, &value, record.id_str())?,
                    Slot::Guard(unique),
                );
            }
            self.push_emails(&mut plan, rule, None, Some(record), false);
            for write in T::side_writes(table, None, Some(record))? {
                plan.push(write, Slot::Plain);
            }
            plan.checks(&check_ops);
            let cancelled = match transact(&self.store, plan.ops).await? {
                Ok(()) => {
                    return Ok(());
                }
                Err(cancelled) => cancelled,
            };
            if let Some(err) = explain(&plan.slots, |i| cancelled.failed(i), &mut check_errors) {
                return Err(err);
            }
            if let Refused::Fail(err) = self.email_refused(&plan.slots, &cancelled, rule).await? {
                return Err(err);
            }
        }
        Err(busy::<T>(record.id_str()))
    }

    pub(crate) async fn get_record<T: Record>(&self, pk: &str, id: &str) -> Result<T, DirectoryError> {
        self.store
            .get(pk, PROFILE)
            .await?
            .ok_or_else(|| DirectoryError::not_found(T::RESOURCE, id))
    }

    /// The record, refused while a delete has claimed it: a whole-record write would drop the
    /// claim (the struct has no such field), and a group that lost it takes members again while
    /// its delete is removing them (orphan memberships).
    pub(super) async fn get_unclaimed_record<T: Record>(
        &self,
        pk: &str,
        id: &str,
    ) -> Result<T, DirectoryError> {
        let item = self
            .store
            .get_item(key(pk, PROFILE))
            .await?
            .ok_or_else(|| DirectoryError::not_found(T::RESOURCE, id))?;
        if item.contains_key(keys::DELETING_ATTR) {
            return Err(DirectoryError::BeingDeleted {
                resource: T::RESOURCE,
                id: id.to_string(),
            });
        }
        Ok(crate::store::item::from_item(item)?)
    }

    pub(crate) async fn list_records<T: Record>(
        &self,
        listing: Listing<'_>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<T>, DirectoryError> {
        Ok(self.store.query_page(&listing, limit, cursor).await?)
    }

    /// Read, change, write back if the stored version is still the one read. A change that changes
    /// nothing writes nothing and keeps the version. Without If-Match a lost race is retried.
    pub(crate) async fn update_record<T: Record, E: From<DirectoryError>>(
        &self,
        pk: &str,
        id: &str,
        precondition: Precondition,
        change: impl Fn(&mut T) -> Result<Vec<Check>, E>,
    ) -> Result<T, E> {
        let table = &self.store.table;
        let store_err = |e: StoreError| E::from(e.into());
        let mut shared = false;
        for _ in 0..UPDATE_ATTEMPTS {
            let current: T = self.get_unclaimed_record(pk, id).await.map_err(E::from)?;
            precondition.check(current.version()).map_err(E::from)?;
            let mut next = current.clone();
            let (check_ops, mut check_errors): (Vec<_>, Vec<_>) = change(&mut next)?
                .into_iter()
                .map(|c| (c.op, Some(c.on_fail)))
                .unzip();
            if next == current {
                return Ok(current);
            }
            next.stamp(current.version() + 1, timestamp::now());
            let rule = self
                .rule_for(Some(&current), Some(&next))
                .await
                .map_err(store_err)?;

            let (item, outbox) = announced_item(table, Some(&current), &next).map_err(store_err)?;
            // A delete's claim moves the version on: one landing after the read fails this write
            // and the next round reads it.
            let mut plan = Plan::new(op::put_if_version(table, item, current.version()));
            if let Some(put) = outbox {
                plan.push(put, Slot::Plain);
            }
            let before = current.unique_values();
            let after = next.unique_values();
            for (unique, value) in &before {
                if !after.iter().any(|(u, v)| u == unique && unique.same(v, value)) {
                    plan.push(op::delete(table, guard_key(*unique, value)), Slot::Plain);
                }
            }
            for (unique, value) in &after {
                if !before.iter().any(|(u, v)| u == unique && unique.same(v, value)) {
                    plan.push(
                        put_guard(table, *unique, value, next.id_str()).map_err(store_err)?,
                        Slot::Guard(*unique),
                    );
                }
            }
            self.push_emails(&mut plan, rule, Some(&current), Some(&next), shared);
            for write in T::side_writes(table, Some(&current), Some(&next)).map_err(store_err)? {
                plan.push(write, Slot::Plain);
            }
            plan.checks(&check_ops);
            let cancelled = match transact(&self.store, plan.ops).await.map_err(store_err)? {
                Ok(()) => {
                    return Ok(next);
                }
                Err(cancelled) => cancelled,
            };
            // Someone else wrote in between: re-read; with If-Match that turns into a 412.
            if cancelled.failed(0) {
                continue;
            }
            if let Some(err) = explain(&plan.slots, |i| cancelled.failed(i), &mut check_errors) {
                return Err(err.into());
            }
            match self
                .email_refused(&plan.slots, &cancelled, rule)
                .await
                .map_err(store_err)?
            {
                Refused::Retry => {}
                Refused::Shared => shared = true,
                Refused::Fail(err) => return Err(err.into()),
            }
        }
        Err(busy::<T>(id).into())
    }

    /// Deletes a record, its guards and `dependents` (items that only make sense with it). Small
    /// sets of dependents go in the same transaction; large ones are deleted first in batches.
    pub(crate) async fn delete_record<T: Record>(
        &self,
        pk: &str,
        id: &str,
        precondition: Precondition,
        mut dependents: Vec<Item>,
    ) -> Result<T, DirectoryError> {
        let table = &self.store.table;
        let mut shared = false;
        for _ in 0..UPDATE_ATTEMPTS {
            let current: T = self.get_record(pk, id).await?;
            precondition.check(current.version())?;
            let mut plan = Plan::new(op::delete_if_version(table, key(pk, PROFILE), current.version()));
            if let Some(put) = announce_deletion(table, &current)? {
                plan.push(put, Slot::Plain);
            }
            for (unique, value) in current.unique_values() {
                plan.push(op::delete(table, guard_key(unique, &value)), Slot::Plain);
            }
            self.push_emails(&mut plan, None, Some(&current), None, shared);
            for write in T::side_writes(table, Some(&current), None)? {
                plan.push(write, Slot::Plain);
            }
            if plan.ops.len() + dependents.len() <= MAX_TRANSACTION_ITEMS {
                for dependent in &dependents {
                    plan.push(op::delete(table, dependent.clone()), Slot::Plain);
                }
            } else {
                self.store.batch_delete(std::mem::take(&mut dependents)).await?;
                // The dependents (an app's configs) are gone even if the record's own write
                // fails its check below: announce that now (an app's configuration version), so
                // dispatchers don't keep deciding with them. Written as for the record unchanged
                // (its own marks stay until the record goes: its delete may still fail).
                let side = T::side_writes(table, Some(&current), Some(&current))?;
                if !side.is_empty() {
                    transact(&self.store, side).await?.ok();
                }
            }
            let cancelled = match transact(&self.store, plan.ops).await? {
                Ok(()) => {
                    return Ok(current);
                }
                Err(cancelled) => cancelled,
            };
            // Someone wrote in between: re-read; with If-Match that is a 412, without it the
            // delete goes ahead on the new version. Or the old address's holder set: an old-format
            // item (converted now) or one with other holders (left by a set removal next).
            if !cancelled.failed(0) {
                match self.email_refused(&plan.slots, &cancelled, None).await? {
                    Refused::Retry => {}
                    Refused::Shared => shared = true,
                    Refused::Fail(err) => return Err(err),
                }
            }
        }
        Err(busy::<T>(id))
    }
}

fn busy<T: Record>(id: &str) -> DirectoryError {
    DirectoryError::Store(StoreError::Unavailable(format!(
        "{} {id}: too many concurrent updates, try again",
        T::RESOURCE
    )))
}

/// DynamoDB's limit of items in one TransactWriteItems call.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
