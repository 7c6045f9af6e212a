//! Conversions between domain structs and DynamoDB items.
//!
//! A domain struct is stored as its own fields plus the key attributes; reading it back ignores the
//! keys, so the struct never carries storage concerns.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Serialize, de::DeserializeOwned};

use super::StoreError;
use crate::resources::{GSI1, GSI2, GSI3, PK, SK};

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The primary key of an item.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// Where an item sits: its primary key and, optionally, its place in each index.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    pub pk: String,
    pub sk: String,
    pub gsi1: Option<(String, String)>,
    pub gsi2: Option<(String, String)>,
    pub gsi3: Option<(String, String)>,
}

impl Keys {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Keys {
            pk: pk.into(),
            sk: sk.into(),
            ..Default::default()
        }
    }

    pub fn gsi1(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi1 = Some((pk.into(), sk.into()));
        self
    }

    pub fn gsi2(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi2 = Some((pk.into(), sk.into()));
        self
    }

    pub fn gsi3(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi3 = Some((pk.into(), sk.into()));
        self
    }

    pub fn primary(&self) -> Item {
        key(&self.pk, &self.sk)
    }
}

/// A full item: the value's fields plus its keys.
pub fn to_item<T: Serialize>(value: &T, keys: &Keys) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt {
        key: format!("{}/{}", keys.pk, keys.sk),
        detail: e.to_string(),
    })?;
    item.insert(PK.into(), s(&keys.pk));
    item.insert(SK.into(), s(&keys.sk));
    for (index, value) in [(GSI1, &keys.gsi1), (GSI2, &keys.gsi2), (GSI3, &keys.gsi3)] {
        if let Some((pk, sk)) = value {
            item.insert(index.pk.into(), s(pk));
            item.insert(index.sk.into(), s(sk));
        }
    }
    Ok(item)
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    let key = describe_key(&item);
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
        key,
        detail: e.to_string(),
    })
}

pub fn string_attr(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    }
}

fn describe_key(item: &Item) -> String {
    format!(
        "{}/{}",
        string_attr(item, PK).unwrap_or_default(),
        string_attr(item, SK).unwrap_or_default()
    )
}
