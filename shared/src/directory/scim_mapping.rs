//! An app's SCIM attribute mapping, as the directory stores it with the app: which SCIM attribute
//! (a path such as `emails[type eq "home"].value`) feeds which directory attribute, for Users and
//! for Groups, checked when saved. The SCIM API applies it (`scim::mapping`).

use scim_v2::filter::PatchPath;
use serde::{Deserialize, Serialize};

use super::DirectoryError;

/// Directory attributes a user mapping may target (besides `attributes.<name>`).
pub const USER_TARGETS: &[&str] = super::users::USER_ATTRIBUTES;
pub const GROUP_TARGETS: &[&str] = &["name"];
pub const MAX_ENTRIES: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScimMapping {
    #[serde(default)]
    pub users: Vec<MappingEntry>,
    #[serde(default)]
    pub groups: Vec<MappingEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingEntry {
    /// A SCIM attribute path, value paths and extension URNs included.
    pub scim: String,
    /// A directory attribute: one of the targets, or `attributes.<name>`.
    pub directory: String,
}

impl ScimMapping {
    /// Refuses paths that don't parse and targets that don't exist, naming the entry.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        for (kind, entries, targets) in [
            ("users", &self.users, USER_TARGETS),
            ("groups", &self.groups, GROUP_TARGETS),
        ] {
            if entries.len() > MAX_ENTRIES {
                return Err(DirectoryError::invalid(
                    format!("scimMapping.{kind}"),
                    format!("at most {MAX_ENTRIES} entries"),
                ));
            }
            for (i, entry) in entries.iter().enumerate() {
                if entry.scim.parse::<PatchPath>().is_err() {
                    return Err(DirectoryError::invalid(
                        format!("scimMapping.{kind}[{i}].scim"),
                        format!("{:?} is not a SCIM attribute path", entry.scim),
                    ));
                }
                let attribute = entry
                    .directory
                    .strip_prefix("attributes.")
                    .filter(|_| kind == "users");
                let valid = targets.contains(&entry.directory.as_str())
                    || attribute.is_some_and(|a| {
                        !a.is_empty()
                            && a.chars()
                                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
                    });
                if !valid {
                    return Err(DirectoryError::invalid(
                        format!("scimMapping.{kind}[{i}].directory"),
                        format!(
                            "{:?} is not a directory attribute ({})",
                            entry.directory,
                            targets.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
