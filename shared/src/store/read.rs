//! Reads: one item by key, one page of a query.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;

use super::cursor::{Cursor, InvalidCursor};
use super::item::{Item, from_item, key, s};
use super::{Store, StoreError};
use crate::resources::{Index, PK, SK};

/// One page of a listing and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A bounded count of a listing's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Count {
    pub count: u64,
    /// More items than were counted.
    pub more: bool,
}

/// What a listing query reads: a partition of the table or of an index, optionally narrowed to a
/// sort key prefix.
#[derive(Debug, Clone)]
pub struct Listing<'a> {
    pub index: Option<Index>,
    pub partition: &'a str,
    pub sk_prefix: Option<&'a str>,
}

/// A condition on a listing's items (a FilterExpression): DynamoDB reads, and bills, the items it
/// drops. Its placeholders must differ from the key condition's (`#pk`, `#sk`, `:pk`, `:sk`).
pub struct Filter<'a> {
    pub expression: &'a str,
    pub names: Vec<(&'a str, &'a str)>,
    pub values: Vec<(&'a str, AttributeValue)>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Cursor(#[from] InvalidCursor),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a Query asks of the sort key.
enum SortKey<'a> {
    Prefix(&'a str),
    Equals(&'a str),
}

impl Store {
    /// A Query on a partition of the table or an index (and its sort key), ready for paging
    /// options.
    fn key_query(
        &self,
        index: Option<Index>,
        partition: &str,
        sort: Option<SortKey<'_>>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let (pk_attr, sk_attr) = index.map_or((PK, SK), |i| (i.pk, i.sk));
        let mut condition = "#pk = :pk".to_string();
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(|i| i.name.to_string()))
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", s(partition));
        let sort = match sort {
            // Every sort key begins with "", and DynamoDB refuses an empty key value: no condition.
            Some(SortKey::Prefix("")) => None,
            Some(SortKey::Prefix(prefix)) => Some(("begins_with(#sk, :sk)", prefix)),
            Some(SortKey::Equals(value)) => Some(("#sk = :sk", value)),
            None => None,
        };
        if let Some((test, value)) = sort {
            condition.push_str(" AND ");
            condition.push_str(test);
            request = request
                .expression_attribute_names("#sk", sk_attr)
                .expression_attribute_values(":sk", s(value));
        }
        request.key_condition_expression(condition)
    }

    /// A Query on the listing's partition (and sort key prefix).
    fn listing_query(
        &self,
        listing: &Listing<'_>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.key_query(
            listing.index,
            listing.partition,
            listing.sk_prefix.map(SortKey::Prefix),
        )
    }

    /// GetItem, strongly consistent: the admin API reads its own writes.
    pub async fn get<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        out.item.map(from_item).transpose()
    }

    /// GetItem of a raw item, strongly consistent.
    pub async fn get_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        Ok(out.item)
    }

    /// One Query call: at most `limit` items of the listing, after `cursor`.
    pub async fn query_page<T: DeserializeOwned>(
        &self,
        listing: &Listing<'_>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<T>, QueryError> {
        self.query_page_ordered(listing, limit, cursor, true).await
    }

    /// [`Store::query_page`] in either sort key order (`forward: false` for newest first).
    pub async fn query_page_ordered<T: DeserializeOwned>(
        &self,
        listing: &Listing<'_>,
        limit: u32,
        cursor: Option<&str>,
        forward: bool,
    ) -> Result<Page<T>, QueryError> {
        let start = cursor
            .map(|raw| Cursor::decode(raw, listing.index, listing.partition))
            .transpose()?;
        let out = self
            .listing_query(listing)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .scan_index_forward(forward)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<T>, _>>()?;
        let next_cursor = out.last_evaluated_key.as_ref().map(Cursor::encode);
        Ok(Page { items, next_cursor })
    }

    /// One Query call over a listing keeping only the items `filter` passes: at most `limit` items
    /// read after `start` (a key a cursor of this listing decoded to); the items kept, as stored,
    /// and the key to go on from.
    pub async fn filtered_page(
        &self,
        listing: &Listing<'_>,
        filter: Filter<'_>,
        limit: u32,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let mut request = self
            .listing_query(listing)
            .filter_expression(filter.expression)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start);
        for (placeholder, name) in filter.names {
            request = request.expression_attribute_names(placeholder, name);
        }
        for (placeholder, value) in filter.values {
            request = request.expression_attribute_values(placeholder, value);
        }
        let out = request
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        Ok((
            out.items.unwrap_or_default(),
            out.last_evaluated_key.filter(|k| !k.is_empty()),
        ))
    }

    /// The first item of an index partition whose sort key is exactly `sk`: one Query with an
    /// equality on the sort key. (A `begins_with` condition would do, but DynamoDB Local walks
    /// the whole partition for it: 180 lookups/s against 590 with 10,000 users in it.)
    pub async fn query_exact<T: DeserializeOwned>(
        &self,
        index: Index,
        partition: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        // No item has an empty key value, and DynamoDB refuses a query for one.
        if sk.is_empty() {
            return Ok(None);
        }
        let out = self
            .key_query(Some(index), partition, Some(SortKey::Equals(sk)))
            .limit(1)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(from_item)
            .transpose()
    }

    /// Every item of a listing, page by page, up to `cap`; `None` when there are more.
    pub async fn query_all<T: DeserializeOwned>(
        &self,
        listing: &Listing<'_>,
        cap: usize,
        page: u32,
    ) -> Result<Option<Vec<T>>, QueryError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let next = self.query_page::<T>(listing, page, cursor.as_deref()).await?;
            items.extend(next.items);
            if items.len() > cap {
                return Ok(None);
            }
            match next.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(Some(items)),
            }
        }
    }

    /// How many items a listing holds, counting at most `cap` (one Query, `Select: COUNT`, so its
    /// cost is bounded by `cap` whatever the listing's size); `more` when it holds more.
    pub async fn count(&self, listing: &Listing<'_>, cap: u32) -> Result<Count, StoreError> {
        let out = self
            .listing_query(listing)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .limit(i32::try_from(cap).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        Ok(Count {
            count: u64::try_from(out.count).unwrap_or(0),
            more: out.last_evaluated_key.is_some_and(|k| !k.is_empty()),
        })
    }

    /// All primary keys of a listing, page by page (for cascading deletes).
    pub async fn query_keys(&self, listing: &Listing<'_>) -> Result<Vec<Item>, StoreError> {
        let mut keys = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .listing_query(listing)
                .projection_expression("pk, sk")
                // A group's members right after a change (a policy re-scoping them) must all show.
                .consistent_read(listing.index.is_none())
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("Query", e))?;
            keys.extend(out.items.unwrap_or_default().into_iter().filter_map(|item| {
                match (item.get(PK), item.get(SK)) {
                    (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => Some(key(pk, sk)),
                    _ => None,
                }
            }));
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(keys),
            }
        }
    }

    /// Deletes items by key, 25 per BatchWriteItem, retrying unprocessed ones.
    pub async fn batch_delete(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let requests = keys
            .into_iter()
            .filter_map(|k| DeleteRequest::builder().set_key(Some(k)).build().ok())
            .map(|d| WriteRequest::builder().delete_request(d).build())
            .collect();
        self.batch_write(requests).await
    }

    /// Puts whole items, 25 per BatchWriteItem, retrying unprocessed ones.
    pub async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let requests = items
            .into_iter()
            .filter_map(|i| PutRequest::builder().set_item(Some(i)).build().ok())
            .map(|p| WriteRequest::builder().put_request(p).build())
            .collect();
        self.batch_write(requests).await
    }

    async fn batch_write(&self, all: Vec<aws_sdk_dynamodb::types::WriteRequest>) -> Result<(), StoreError> {
        for chunk in all.chunks(25) {
            let mut requests = chunk.to_vec();
            let mut backoff_ms = 25;
            while !requests.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| StoreError::from_sdk("BatchWriteItem", e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                if !requests.is_empty() {
                    if backoff_ms > 3_200 {
                        return Err(StoreError::Unavailable(
                            "BatchWriteItem: items left unprocessed".into(),
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(backoff_ms)).await;
                    backoff_ms *= 2;
                }
            }
        }
        Ok(())
    }
}

impl Store {
    /// The partition keys of the items among `keys` that exist.
    pub async fn existing(&self, keys: Vec<Item>) -> Result<std::collections::HashSet<String>, StoreError> {
        Ok(self
            .batch_get(keys)
            .await?
            .iter()
            .filter_map(|item| match item.get(PK) {
                Some(AttributeValue::S(pk)) => Some(pk.clone()),
                _ => None,
            })
            .collect())
    }
}

impl Store {
    /// Whole items by key (BatchGetItem, 100 per call, strongly consistent, unprocessed keys
    /// retried with backoff). Missing items are simply absent.
    pub async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?,
            );
            let mut backoff_ms = 25;
            while let Some(request) = pending.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| StoreError::from_sdk("BatchGetItem", e))?;
                found.extend(
                    out.responses
                        .and_then(|mut r| r.remove(&self.table))
                        .unwrap_or_default(),
                );
                pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
                if pending.is_some() {
                    if backoff_ms > 3_200 {
                        return Err(StoreError::Unavailable(
                            "BatchGetItem: keys left unprocessed".into(),
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(backoff_ms)).await;
                    backoff_ms *= 2;
                }
            }
        }
        Ok(found)
    }
}

impl Store {
    /// Every item of a listing as raw items (for partitions that hold several item types).
    pub async fn query_items(&self, listing: &Listing<'_>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .listing_query(listing)
                .consistent_read(listing.index.is_none())
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(items),
            }
        }
    }
}
