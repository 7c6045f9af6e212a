//! The table definition, from the names in [`crate::resources`]. `infra/template.yaml` declares the
//! same table; a test compares the two.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
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

/// Creates the table with its indexes (on-demand). An existing table is left as it is.
pub async fn create_table(store: &Store) -> Result<(), StoreError> {
    let mut request = store
        .client
        .create_table()
        .table_name(&store.table)
        .billing_mode(BillingMode::PayPerRequest)
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
            Ok(())
        }
        Err(err) => Err(StoreError::from_sdk("CreateTable", err)),
    }
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
