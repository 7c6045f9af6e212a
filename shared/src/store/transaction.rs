//! TransactWriteItems with the cancellation reasons decoded, so callers can tell which condition
//! failed (which uniqueness guard, which referenced item).

use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::{Store, StoreError};

/// Why a transaction was cancelled: one entry per item, `true` where that item's condition failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    pub failed_conditions: Vec<bool>,
}

impl Cancelled {
    pub fn failed(&self, index: usize) -> bool {
        self.failed_conditions.get(index).copied().unwrap_or(false)
    }
}

/// Conflicts are retried with jittered exponential backoff (20 ms doubling, capped at 640 ms):
/// configuration writes all touch the configuration version item, so concurrent ones conflict.
const CONFLICT_RETRIES: u32 = 8;

/// Runs a write transaction. `Ok(Err(cancelled))` when a condition failed; transactions that lose a
/// race with another transaction on the same items (`TransactionConflict`) are retried, so their
/// conditions get evaluated against the winner's result.
pub async fn transact(
    store: &Store,
    items: Vec<TransactWriteItem>,
) -> Result<Result<(), Cancelled>, StoreError> {
    // One write alone is as atomic as a transaction of one, at half the write units.
    if let [only] = items.as_slice()
        && only.condition_check().is_none()
    {
        return single(store, only).await;
    }
    let mut attempt = 0;
    loop {
        let result = store
            .client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Ok(())),
            Err(err) => err,
        };
        let reasons = err.as_service_error().and_then(|e| match e {
            TransactWriteItemsError::TransactionCanceledException(c) => {
                Some(c.cancellation_reasons().to_vec())
            }
            _ => None,
        });
        let Some(reasons) = reasons else {
            return Err(StoreError::from_sdk("TransactWriteItems", err));
        };
        let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
        if codes.contains(&"ConditionalCheckFailed") {
            return Ok(Err(Cancelled {
                failed_conditions: codes.iter().map(|c| *c == "ConditionalCheckFailed").collect(),
            }));
        }
        if codes.contains(&"TransactionConflict") && attempt < CONFLICT_RETRIES {
            attempt += 1;
            conflict_pause(attempt).await;
            continue;
        }
        return Err(StoreError::Unavailable(format!(
            "TransactWriteItems cancelled: {}",
            codes.join(",")
        )));
    }
}

/// Jittered exponential backoff before retry `attempt` of a write that met another transaction.
async fn conflict_pause(attempt: u32) {
    tokio::time::sleep(crate::retry::backoff(
        Duration::from_millis(20),
        Duration::from_millis(640),
        attempt,
        None,
    ))
    .await;
}

/// What a single write's error was: the store error, whether its condition failed, whether it met
/// a transaction on the same item.
fn refused<E, R>(
    operation: &'static str,
    err: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> (StoreError, bool, bool)
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.as_service_error().and_then(|e| e.code()).unwrap_or_default();
    let condition = code == "ConditionalCheckFailedException";
    let conflict = code == "TransactionConflictException";
    (StoreError::from_sdk(operation, err), condition, conflict)
}

/// Sends a transaction's one Put, Update or Delete as the plain conditional write it stands for
/// (PutItem, UpdateItem, DeleteItem: 1 write unit per KB where a transaction costs 2).
async fn single(store: &Store, item: &TransactWriteItem) -> Result<Result<(), Cancelled>, StoreError> {
    let failed = || {
        Ok(Err(Cancelled {
            failed_conditions: vec![true],
        }))
    };
    let mut attempt = 0;
    loop {
        // (the error kind, whether a condition failed, whether it met a transaction)
        let outcome: Result<(), (StoreError, bool, bool)> = if let Some(put) = item.put() {
            store
                .client
                .put_item()
                .table_name(put.table_name())
                .set_item(Some(put.item().clone()))
                .set_condition_expression(put.condition_expression().map(str::to_string))
                .set_expression_attribute_names(put.expression_attribute_names().cloned())
                .set_expression_attribute_values(put.expression_attribute_values().cloned())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| refused("PutItem", e))
        } else if let Some(update) = item.update() {
            store
                .client
                .update_item()
                .table_name(update.table_name())
                .set_key(Some(update.key().clone()))
                .update_expression(update.update_expression())
                .set_condition_expression(update.condition_expression().map(str::to_string))
                .set_expression_attribute_names(update.expression_attribute_names().cloned())
                .set_expression_attribute_values(update.expression_attribute_values().cloned())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| refused("UpdateItem", e))
        } else if let Some(delete) = item.delete() {
            store
                .client
                .delete_item()
                .table_name(delete.table_name())
                .set_key(Some(delete.key().clone()))
                .set_condition_expression(delete.condition_expression().map(str::to_string))
                .set_expression_attribute_names(delete.expression_attribute_names().cloned())
                .set_expression_attribute_values(delete.expression_attribute_values().cloned())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| refused("DeleteItem", e))
        } else {
            return Err(StoreError::Other("a transaction item with no write".into()));
        };
        match outcome {
            Ok(()) => return Ok(Ok(())),
            Err((_, true, _)) => return failed(),
            Err((_, _, true)) if attempt < CONFLICT_RETRIES => {
                attempt += 1;
                conflict_pause(attempt).await;
            }
            Err((err, _, _)) => return Err(err),
        }
    }
}

/// One conditional UpdateItem of the item at `key` (sent as the plain write); `false` when its
/// condition failed. `names` maps `#placeholders` to attribute names; only those the expressions
/// use are sent (DynamoDB refuses unused ones), so callers may pass one table of names.
pub async fn update_if(
    store: &Store,
    key: crate::store::item::Item,
    expression: &str,
    condition: Option<&str>,
    names: &[(&str, &str)],
    values: Vec<(&str, aws_sdk_dynamodb::types::AttributeValue)>,
) -> Result<bool, StoreError> {
    let used = |n: &str| expression.contains(n) || condition.is_some_and(|c| c.contains(n));
    let mut update = aws_sdk_dynamodb::types::Update::builder()
        .table_name(&store.table)
        .set_key(Some(key))
        .update_expression(expression)
        .set_condition_expression(condition.map(str::to_string));
    for (placeholder, name) in names {
        if used(placeholder) {
            update = update.expression_attribute_names(*placeholder, *name);
        }
    }
    for (placeholder, value) in values {
        update = update.expression_attribute_values(placeholder, value);
    }
    let update = update
        .build()
        .map_err(|e| StoreError::Other(format!("update: {e}")))?;
    let write = TransactWriteItem::builder().update(update).build();
    Ok(transact(store, vec![write]).await?.is_ok())
}

/// Builders for the transaction items the directory uses.
pub mod op {
    use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};

    use crate::store::item::{Item, n};

    fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        // The builders only fail when a required field is missing; every call here sets them.
        r.unwrap_or_else(|e| panic!("transaction item builder: {e}"))
    }

    /// Put an item that must not exist yet.
    pub fn put_new(table: &str, item: Item) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)");
        TransactWriteItem::builder().put(build(put.build())).build()
    }

    /// Put an item unconditionally.
    pub fn put(table: &str, item: Item) -> TransactWriteItem {
        let put = Put::builder().table_name(table).set_item(Some(item));
        TransactWriteItem::builder().put(build(put.build())).build()
    }

    /// Replace an item whose string attribute `name` still holds `value` (`condition` names it
    /// `#c` and the value `:c`).
    pub fn put_if(table: &str, item: Item, condition: &str, name: &str, value: &str) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_names("#c", name)
            .expression_attribute_values(":c", crate::store::item::s(value));
        TransactWriteItem::builder().put(build(put.build())).build()
    }

    /// Replace an item whose stored version is still `version` (optimistic locking).
    pub fn put_if_version(table: &str, item: Item, version: u64) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", n(version));
        TransactWriteItem::builder().put(build(put.build())).build()
    }

    /// Adds `by` to the number `attribute` of the item at `key` (created at 0 when absent).
    pub fn add(table: &str, key: Item, attribute: &str, by: u64) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression("ADD #a :by")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":by", n(by));
        TransactWriteItem::builder().update(build(update.build())).build()
    }

    /// Moves an existing item's `version` on by one and stamps `lastModified` (a change to
    /// something the item stands for, such as a group's members); fails if the item is gone.
    pub fn touch(table: &str, key: Item, now: &str) -> TransactWriteItem {
        touch_if(table, key, now, "attribute_exists(pk)")
    }

    /// [`op::touch`] of a group that is not being deleted (a member added to a group being
    /// deleted would outlive it).
    pub fn touch_live_group(table: &str, key: Item, now: &str) -> TransactWriteItem {
        touch_if(table, key, now, LIVE_GROUP)
    }

    // `deleting` is keys::DELETING_ATTR (a condition is a literal here).
    const LIVE_GROUP: &str = "attribute_exists(pk) AND attribute_not_exists(deleting)";

    // A change event on the item goes (no group carries one today; a user might): this write
    // announces nothing, and the stream must not carry the last one on again.
    fn touch_if(table: &str, key: Item, now: &str, condition: &str) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression(condition)
            .update_expression("SET #m = :now ADD #v :one REMOVE #e")
            .expression_attribute_names("#m", "lastModified")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#e", crate::store::keys::EVENT_ATTR)
            .expression_attribute_values(":now", crate::store::item::s(now))
            .expression_attribute_values(":one", n(1));
        TransactWriteItem::builder().update(build(update.build())).build()
    }

    /// Fails the transaction unless the group exists and is not being deleted.
    pub fn check_live_group(table: &str, key: Item) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression(LIVE_GROUP);
        TransactWriteItem::builder()
            .condition_check(build(check.build()))
            .build()
    }

    pub fn delete(table: &str, key: Item) -> TransactWriteItem {
        let delete = Delete::builder().table_name(table).set_key(Some(key));
        TransactWriteItem::builder().delete(build(delete.build())).build()
    }

    pub fn delete_if_version(table: &str, key: Item, version: u64) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", n(version));
        TransactWriteItem::builder().delete(build(delete.build())).build()
    }

    /// Delete an item that must exist.
    pub fn delete_existing(table: &str, key: Item) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression("attribute_exists(pk)");
        TransactWriteItem::builder().delete(build(delete.build())).build()
    }

    /// Fails the transaction unless the item's stored version is still `version`.
    pub fn check_version(table: &str, key: Item, version: u64) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", n(version));
        TransactWriteItem::builder()
            .condition_check(build(check.build()))
            .build()
    }

    /// Fails the transaction unless the item exists (a reference to it stays valid).
    pub fn check_exists(table: &str, key: Item) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression("attribute_exists(pk)");
        TransactWriteItem::builder()
            .condition_check(build(check.build()))
            .build()
    }
}
