//! What every stored directory resource shares: where it lives, its version, the unique values it
//! holds. Create, get, update and delete are written once here, as single DynamoDB transactions
//! that move uniqueness guards together with the resource.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Serialize, de::DeserializeOwned};

use super::change::ChangeEvent;
use super::version::UPDATE_ATTEMPTS;
use super::{Directory, DirectoryError, Precondition};
use crate::store::item::{Item, Keys, key, to_item};
use crate::store::keys::{PROFILE, UNIQUE, Unique};
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

/// The outbox put for a record's change, if it has one, with the event for the relay.
fn announce<T: Record>(
    table: &str,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<Option<(TransactWriteItem, ChangeEvent)>, StoreError> {
    T::change_event(before, after)
        .map(|event| Ok((op::put(table, event.item()?), event)))
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
    Plain,
}

/// A transaction being assembled, with what each of its items means if its condition fails.
struct Plan {
    ops: Vec<TransactWriteItem>,
    slots: Vec<Slot>,
    errors: Vec<Option<DirectoryError>>,
}

impl Plan {
    fn new(first: TransactWriteItem) -> Self {
        Plan {
            ops: vec![first],
            slots: vec![Slot::Record],
            errors: Vec::new(),
        }
    }

    fn push(&mut self, op: TransactWriteItem, slot: Slot) {
        self.ops.push(op);
        self.slots.push(slot);
    }

    fn checks(&mut self, checks: Vec<Check>) {
        for check in checks {
            self.push(check.op, Slot::Check(self.errors.len()));
            self.errors.push(Some(check.on_fail));
        }
    }
}

fn explain<T: Record>(
    record: &T,
    slots: &[Slot],
    failed: impl Fn(usize) -> bool,
    mut checks: Vec<Option<DirectoryError>>,
) -> DirectoryError {
    for (index, slot) in slots.iter().enumerate() {
        if !failed(index) {
            continue;
        }
        match slot {
            Slot::Guard(unique) => {
                return DirectoryError::conflict(
                    unique.field(),
                    format!(
                        "is already taken (compared case-insensitively) by another {}",
                        record_name(unique)
                    ),
                );
            }
            Slot::Check(i) => {
                if let Some(err) = checks.get_mut(*i).and_then(Option::take) {
                    return err;
                }
            }
            Slot::Record | Slot::Plain => {}
        }
    }
    DirectoryError::Store(StoreError::Other(format!(
        "{} {}: write cancelled",
        T::RESOURCE,
        record.id_str()
    )))
}

fn record_name(unique: &Unique) -> &'static str {
    match unique {
        Unique::UserName | Unique::Email | Unique::ImportKey => "user",
        Unique::GroupName => "group",
    }
}

impl Directory {
    /// Stores a new record with its uniqueness guards, provided every check holds: one transaction.
    pub(crate) async fn create_record<T: Record>(
        &self,
        record: &T,
        checks: Vec<Check>,
    ) -> Result<(), DirectoryError> {
        let table = &self.store.table;
        let mut plan = Plan::new(op::put_new(table, to_item(record, &record.keys())?));
        for (unique, value) in record.unique_values() {
            plan.push(
                put_guard(table, unique, &value, record.id_str())?,
                Slot::Guard(unique),
            );
        }
        let mut events = Vec::new();
        if let Some((put, event)) = announce(table, None, Some(record))? {
            plan.push(put, Slot::Plain);
            events.push(event);
        }
        for write in T::side_writes(table, None, Some(record))? {
            plan.push(write, Slot::Plain);
        }
        plan.checks(checks);
        match transact(&self.store, plan.ops).await? {
            Ok(()) => {
                self.published(&events).await;
                Ok(())
            }
            Err(cancelled) => Err(explain(record, &plan.slots, |i| cancelled.failed(i), plan.errors)),
        }
    }

    pub(crate) async fn get_record<T: Record>(&self, pk: &str, id: &str) -> Result<T, DirectoryError> {
        self.store
            .get(pk, PROFILE)
            .await?
            .ok_or_else(|| DirectoryError::not_found(T::RESOURCE, id))
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
        for _ in 0..UPDATE_ATTEMPTS {
            let current: T = self.get_record(pk, id).await.map_err(E::from)?;
            precondition.check(current.version()).map_err(E::from)?;
            let mut next = current.clone();
            let checks = change(&mut next)?;
            if next == current {
                return Ok(current);
            }
            next.stamp(current.version() + 1, timestamp::now());

            let item = to_item(&next, &next.keys()).map_err(|e| E::from(e.into()))?;
            let mut plan = Plan::new(op::put_if_version(table, item, current.version()));
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
                        put_guard(table, *unique, value, next.id_str()).map_err(|e| E::from(e.into()))?,
                        Slot::Guard(*unique),
                    );
                }
            }
            let mut events = Vec::new();
            if let Some((put, event)) =
                announce(table, Some(&current), Some(&next)).map_err(|e| E::from(e.into()))?
            {
                plan.push(put, Slot::Plain);
                events.push(event);
            }
            for write in T::side_writes(table, Some(&current), Some(&next)).map_err(|e| E::from(e.into()))? {
                plan.push(write, Slot::Plain);
            }
            plan.checks(checks);
            match transact(&self.store, plan.ops)
                .await
                .map_err(|e| E::from(e.into()))?
            {
                Ok(()) => {
                    self.published(&events).await;
                    return Ok(next);
                }
                // Someone else wrote in between: re-read; with If-Match that turns into a 412.
                Err(cancelled) if cancelled.failed(0) => continue,
                Err(cancelled) => {
                    return Err(explain(&next, &plan.slots, |i| cancelled.failed(i), plan.errors).into());
                }
            }
        }
        Err(DirectoryError::Store(StoreError::Unavailable(format!(
            "{} {id}: too many concurrent updates, try again",
            T::RESOURCE
        )))
        .into())
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
        for _ in 0..UPDATE_ATTEMPTS {
            let current: T = self.get_record(pk, id).await?;
            precondition.check(current.version())?;
            let mut ops = vec![op::delete_if_version(table, key(pk, PROFILE), current.version())];
            let mut events = Vec::new();
            if let Some((put, event)) = announce(table, Some(&current), None)? {
                ops.push(put);
                events.push(event);
            }
            for (unique, value) in current.unique_values() {
                ops.push(op::delete(table, guard_key(unique, &value)));
            }
            ops.extend(T::side_writes(table, Some(&current), None)?);
            if ops.len() + dependents.len() <= MAX_TRANSACTION_ITEMS {
                ops.extend(dependents.iter().map(|k| op::delete(table, k.clone())));
            } else {
                self.store.batch_delete(std::mem::take(&mut dependents)).await?;
                // The dependents (an app's configs) are gone even if the record's own write
                // fails its check below: announce that now (an app's configuration version), so
                // dispatchers don't keep deciding with them.
                let side = T::side_writes(table, Some(&current), None)?;
                if !side.is_empty() {
                    transact(&self.store, side).await?.ok();
                }
            }
            match transact(&self.store, ops).await? {
                Ok(()) => {
                    self.published(&events).await;
                    return Ok(current);
                }
                // Only the version condition can fail: someone wrote in between. Re-read; with
                // If-Match that is a 412, without it the delete goes ahead on the new version.
                Err(_) => continue,
            }
        }
        Err(DirectoryError::Store(StoreError::Unavailable(format!(
            "{} {id}: too many concurrent updates, try again",
            T::RESOURCE
        ))))
    }
}

/// DynamoDB's limit of items in one TransactWriteItems call.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
