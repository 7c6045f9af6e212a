//! Opaque pagination cursors: the DynamoDB `LastEvaluatedKey`, base64url-encoded JSON.
//!
//! A cursor is client input, so decoding checks that it names exactly the key attributes of the
//! listing it is used with and stays in the listing's partition: a forged cursor can't read
//! another partition.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::item::{Item, s, string_attr};
use crate::resources::{Index, PK, SK};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cursor is not one this listing issued")]
pub struct InvalidCursor;

impl Cursor {
    pub fn encode(last_key: &Item) -> String {
        let map: BTreeMap<&str, String> = last_key
            .keys()
            .filter_map(|k| string_attr(last_key, k).map(|v| (k.as_str(), v)))
            .collect();
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&map).unwrap_or_default())
    }

    /// Decodes a cursor for a query on `index` (or the table when `None`) in `partition`.
    pub fn decode(raw: &str, index: Option<Index>, partition: &str) -> Result<Item, InvalidCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| InvalidCursor)?;
        let map: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| InvalidCursor)?;
        let mut expected = vec![PK, SK];
        if let Some(index) = index {
            expected.extend([index.pk, index.sk]);
        }
        let partition_attr = index.map_or(PK, |i| i.pk);
        if map.len() != expected.len()
            || !expected.iter().all(|k| map.contains_key(*k))
            || map.get(partition_attr).map(String::as_str) != Some(partition)
        {
            return Err(InvalidCursor);
        }
        Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::GSI1;

    #[test]
    fn round_trip_and_partition_check() {
        let key: Item = [
            ("pk", "USER#1"),
            ("sk", "PROFILE"),
            ("gsi1pk", "USER"),
            ("gsi1sk", "ann"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), s(v)))
        .collect();
        let raw = Cursor::encode(&key);
        assert_eq!(Cursor::decode(&raw, Some(GSI1), "USER"), Ok(key));
        assert_eq!(Cursor::decode(&raw, Some(GSI1), "GROUP"), Err(InvalidCursor));
        assert_eq!(Cursor::decode(&raw, None, "USER#1"), Err(InvalidCursor));
        assert_eq!(Cursor::decode("!!", Some(GSI1), "USER"), Err(InvalidCursor));
    }
}
