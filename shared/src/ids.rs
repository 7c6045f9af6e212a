//! Typed identifiers: a `UserId` can't be passed where a `GroupId` is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh, time-ordered id (UUID v7).
            pub fn generate() -> Self {
                $name(uuid::Uuid::now_v7().to_string())
            }

            /// Parses an id from a path or body; only canonical UUIDs are ids.
            pub fn parse(raw: &str) -> Option<Self> {
                let uuid = uuid::Uuid::try_parse(raw).ok()?;
                Some($name(uuid.hyphenated().to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A directory user.
    UserId
);
id_type!(
    /// A directory group.
    GroupId
);
id_type!(
    /// An application: custom provisioning or SCIM client.
    AppId
);
id_type!(
    /// An app login policy.
    PolicyId
);
id_type!(
    /// An authorization config of an outbound app.
    AuthId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_uuids_only() {
        let id = UserId::generate();
        assert_eq!(UserId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(UserId::parse("not-an-id"), None);
        assert_eq!(UserId::parse("../USER#x"), None);
        // Canonical form: upper case input maps to the same id.
        assert_eq!(UserId::parse(&id.as_str().to_uppercase()), Some(id));
    }
}
