//! Patch fields that tell "absent" (leave as is) from `null` (clear) from a value (set).

use serde::{Deserialize, Deserializer};

/// `Option<Option<T>>` for patch bodies: `None` absent, `Some(None)` null, `Some(Some(v))` a value.
/// Use with `#[serde(default, deserialize_with = "nullable::deserialize")]`.
pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Applies a nullable patch field to a stored optional value.
pub fn apply<T>(target: &mut Option<T>, patch: Option<Option<T>>) {
    if let Some(value) = patch {
        *target = value;
    }
}
