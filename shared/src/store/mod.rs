//! DynamoDB single-table access: keys, items, cursors and the translation of SDK errors.
//! Domain modules build requests with these pieces; nothing here knows about HTTP.

pub mod cursor;
pub mod error;
pub mod item;
pub mod keys;
pub mod read;
pub mod schema;
pub mod transaction;

pub use cursor::Cursor;
pub use error::StoreError;
pub use read::{Filter, Listing, Page, QueryError};

/// The table and the client that reaches it.
#[derive(Debug, Clone)]
pub struct Store {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
        }
    }
}
