//! Who holds an email address. RFC 7643 gives `emails` no uniqueness, so by default two users may
//! share one; the directory setting `uniqueEmail` ([`super::settings`]) makes it unique. Either
//! way each address (case-folded) has one item, `UNIQUE#email#<folded>` / `UNIQUE`, whose string
//! set `holders` names every user that has it, written in the same transaction as the users: the
//! importer matches by email with one strongly consistent read, and switching uniqueness on finds
//! the duplicates without scanning.
//!
//! While emails are unique, joining a set requires it to be empty. Writers keep the rule they
//! read for at most [`RULE_TTL`], and switching uniqueness on waits that long (and a margin for
//! writes in flight) before it checks the sets, so no write still following "off" can add a
//! duplicate behind the check's back. No user write checks a shared settings item, so concurrent
//! user writes never conflict on one.
//!
//! A user leaving an address deletes the set when it is the only holder (the common case, no extra
//! request); when others hold it too, that is refused and the write removes itself from the set
//! instead. Tables from before holder sets have `owner` (the one user) instead of `holders`; a
//! write that meets such an item converts it first.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};

use super::Directory;
use crate::store::StoreError;
use crate::store::item::{Item, key, n, s, string_attr};
use crate::store::keys::{UNIQUE, Unique, fold};

const HOLDERS: &str = "holders";
const OWNER: &str = "owner";

/// How long a writer follows the rule it read before reading it again.
pub const RULE_TTL: Duration = Duration::from_secs(2);
/// How long switching uniqueness on waits before it checks: every writer has read the new rule
/// by then, and a write that read the old one has committed (a margin for the transaction's own
/// conflict retries).
pub const SWITCH_GRACE: Duration = Duration::from_secs(5);

/// The rule as a function instance last read it, and when; shared by its clones.
#[derive(Debug, Default, Clone)]
pub(crate) struct RuleCache {
    rule: std::sync::Arc<std::sync::RwLock<Option<(EmailRule, Instant)>>>,
    /// Held by the one caller reading the rule again.
    reading: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// What user writes must respect: whether emails are unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmailRule {
    pub unique: bool,
}

/// A write of a holder set inside a user's transaction, and the address it concerns.
pub(crate) struct EmailWrite {
    pub op: TransactWriteItem,
    pub email: String,
    /// A leave (the user no longer holds the address) rather than a join.
    pub leaving: bool,
}

/// What a refused holder-set write comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Something was out of date (an old-format item, the rule): try the write again.
    Retry,
    /// The user was not the address's only holder: leave with a set removal instead.
    Shared,
    /// Emails are unique and another user holds the address.
    Taken,
}

fn set_key(email: &str) -> Item {
    key(Unique::Email.key(email), UNIQUE)
}

fn one(user: &str) -> AttributeValue {
    AttributeValue::Ss(vec![user.to_string()])
}

fn update(table: &str, email: &str) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    Update::builder()
        .table_name(table)
        .set_key(Some(set_key(email)))
        .expression_attribute_names("#h", HOLDERS)
        .expression_attribute_names("#o", OWNER)
}

fn built(update: aws_sdk_dynamodb::types::builders::UpdateBuilder) -> TransactWriteItem {
    // The builder only fails when a required field is missing; `update` sets them all.
    let update = update
        .build()
        .unwrap_or_else(|e| panic!("holder set update builder: {e}"));
    TransactWriteItem::builder().update(update).build()
}

/// The holder-set writes of a user whose email goes from `before` to `after`: none when the
/// address stays (compared case-insensitively). `rule` is needed only when the user gains one;
/// `shared` says the old address has other holders (a first attempt found out).
pub(crate) fn writes(
    table: &str,
    rule: Option<EmailRule>,
    user: &str,
    before: Option<&str>,
    after: Option<&str>,
    shared: bool,
) -> Vec<EmailWrite> {
    if before.map(fold) == after.map(fold) {
        return Vec::new();
    }
    let mut writes = Vec::new();
    if let Some(old) = before {
        let op = if shared {
            built(
                update(table, old)
                    .update_expression("DELETE #h :me")
                    .condition_expression("attribute_not_exists(#o)")
                    .expression_attribute_values(":me", one(user)),
            )
        } else {
            let delete = Delete::builder()
                .table_name(table)
                .set_key(Some(set_key(old)))
                .condition_expression(
                    "attribute_not_exists(pk) OR (attribute_not_exists(#o) \
                     AND size(#h) = :one AND contains(#h, :id))",
                )
                .expression_attribute_names("#h", HOLDERS)
                .expression_attribute_names("#o", OWNER)
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":id", s(user))
                .build()
                .unwrap_or_else(|e| panic!("holder set delete builder: {e}"));
            TransactWriteItem::builder().delete(delete).build()
        };
        writes.push(EmailWrite {
            op,
            email: old.to_string(),
            leaving: true,
        });
    }
    if let (Some(new), Some(rule)) = (after, rule) {
        let op = update(table, new)
            .update_expression("ADD #h :me")
            .expression_attribute_values(":me", one(user));
        let op = if rule.unique {
            op.condition_expression("attribute_not_exists(#o) AND attribute_not_exists(#h)")
        } else {
            op.condition_expression("attribute_not_exists(#o)")
        };
        writes.push(EmailWrite {
            op: built(op),
            email: new.to_string(),
            leaving: false,
        });
    }
    writes
}

/// The users a holder-set item names (an old-format item's `owner` included).
pub(crate) fn holders(item: &Item) -> Vec<String> {
    let mut ids = match item.get(HOLDERS) {
        Some(AttributeValue::Ss(ids)) => ids.clone(),
        _ => Vec::new(),
    };
    if let Some(owner) = string_attr(item, OWNER)
        && !ids.contains(&owner)
    {
        ids.push(owner);
    }
    ids
}

impl Directory {
    /// The rule user writes follow, read again when older than [`RULE_TTL`]: by one caller, the
    /// others go on with the rule they have for the moment that takes (the switch's grace
    /// covers it), so an instance under load makes one read, not one per request in flight.
    pub(crate) async fn email_rule(&self) -> Result<EmailRule, StoreError> {
        let cached = *self.email_rule.rule.read().unwrap_or_else(|e| e.into_inner());
        match cached {
            Some((rule, read)) if read.elapsed() < RULE_TTL => Ok(rule),
            Some((rule, _)) => match self.email_rule.reading.try_lock() {
                Ok(_reading) => self.reload_email_rule().await,
                Err(_) => Ok(rule),
            },
            None => self.reload_email_rule().await,
        }
    }

    /// Reads the rule again, strongly.
    pub(crate) async fn reload_email_rule(&self) -> Result<EmailRule, StoreError> {
        let rule = self.stored_settings().await?.rule();
        *self.email_rule.rule.write().unwrap_or_else(|e| e.into_inner()) = Some((rule, Instant::now()));
        Ok(rule)
    }

    /// Why a holder-set write on `email` made with `rule` was refused: an old-format item (now
    /// converted) or a rule that changed since (now re-read) mean try again; a leave means the
    /// address is shared; otherwise another user holds it while emails are unique.
    pub(crate) async fn settle_email(
        &self,
        email: &str,
        leaving: bool,
        rule: EmailRule,
    ) -> Result<Settled, StoreError> {
        let item = self.store.get_item(set_key(email)).await?;
        if let Some(owner) = item.as_ref().and_then(|i| string_attr(i, OWNER)) {
            self.convert_holder_item(email, &owner).await?;
            return Ok(Settled::Retry);
        }
        if leaving {
            return Ok(Settled::Shared);
        }
        let now = self.reload_email_rule().await?;
        // Under "off" a join fails only on an old-format item; one that is gone now was
        // converted by another writer meanwhile.
        if now != rule || !now.unique {
            return Ok(Settled::Retry);
        }
        Ok(Settled::Taken)
    }

    /// Turns an old-format item (`owner`) into a holder set with that user in it.
    async fn convert_holder_item(&self, email: &str, owner: &str) -> Result<(), StoreError> {
        let result = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(set_key(email)))
            .update_expression("ADD #h :owner REMOVE #o")
            .condition_expression("#o = :o")
            .expression_attribute_names("#h", HOLDERS)
            .expression_attribute_names("#o", OWNER)
            .expression_attribute_values(":owner", one(owner))
            .expression_attribute_values(":o", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone converted it first.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(StoreError::from_sdk("UpdateItem", e)),
        }
    }

    /// The holders of each of these addresses (BatchGetItem, strongly consistent), by folded
    /// address; addresses nobody holds are absent.
    pub(crate) async fn email_holders(
        &self,
        addresses: impl IntoIterator<Item = &str>,
    ) -> Result<std::collections::HashMap<String, Vec<String>>, StoreError> {
        let mut keys: Vec<String> = addresses.into_iter().map(|a| Unique::Email.key(a)).collect();
        keys.sort();
        keys.dedup();
        let prefix = Unique::Email.key("");
        Ok(self
            .store
            .batch_get(keys.into_iter().map(|k| key(k, UNIQUE)).collect())
            .await?
            .iter()
            .filter_map(|item| {
                let address = string_attr(item, "pk")?.strip_prefix(&prefix)?.to_string();
                Some((address, holders(item)))
            })
            .filter(|(_, holders)| !holders.is_empty())
            .collect())
    }
}

fn is_condition_failure<R>(
    err: &aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> bool {
    matches!(
        err.as_service_error(),
        Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_))
    )
}
