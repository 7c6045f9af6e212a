//! The table definition, from the names in [`crate::resources`]. `infra/template.yaml` declares the
//! same table; a test compares the two.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};

use super::{Store, StoreError};
use crate::resources::{self, INDEXES, PK, SK};

fn key_element(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))
}

/// The table's stream: new images, which carry the change events (on users and outbox items) to
/// the dispatch queue.
fn stream() -> Result<StreamSpecification, StoreError> {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewImage)
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))
}

/// Creates the table with its indexes and stream (on-demand). An existing table keeps its
/// items; its stream is switched on if it has none (a table made before the stream carried the
/// change events).
pub async fn create_table(store: &Store) -> Result<(), StoreError> {
    let mut request = store
        .client
        .create_table()
        .table_name(&store.table)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(stream()?)
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(SK, KeyType::Range)?);
    for name in resources::key_attributes() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))?,
        );
    }
    for index in INDEXES {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key_element(index.pk, KeyType::Hash)?)
                .key_schema(key_element(index.sk, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))?,
        );
    }
    match request.send().await {
        Ok(_) => enable_ttl(store).await,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            ensure_stream(store).await
        }
        Err(err) => Err(StoreError::from_sdk("CreateTable", err)),
    }
}

async fn ensure_stream(store: &Store) -> Result<(), StoreError> {
    let described = store
        .client
        .describe_table()
        .table_name(&store.table)
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("DescribeTable", e))?;
    let enabled = described
        .table
        .and_then(|t| t.stream_specification)
        .is_some_and(|s| s.stream_enabled);
    if enabled {
        return Ok(());
    }
    store
        .client
        .update_table()
        .table_name(&store.table)
        .stream_specification(stream()?)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| StoreError::from_sdk("UpdateTable", e))
}

async fn enable_ttl(store: &Store) -> Result<(), StoreError> {
    let spec = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
        .attribute_name(resources::TTL)
        .enabled(true)
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    store
        .client
        .update_time_to_live()
        .table_name(&store.table)
        .time_to_live_specification(spec)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| StoreError::from_sdk("UpdateTimeToLive", e))
}

pub async fn delete_table(store: &Store) -> Result<(), StoreError> {
    store
        .client
        .delete_table()
        .table_name(&store.table)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| StoreError::from_sdk("DeleteTable", e))
}
