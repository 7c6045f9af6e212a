use crate::store::{QueryError, StoreError, cursor::InvalidCursor};

/// What can go wrong in a directory operation. The admin API and the SCIM API each map these to
/// their own response format in one place.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The input is wrong; `field` names the offending attribute.
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    #[error("{resource} {id} not found")]
    NotFound { resource: &'static str, id: String },
    /// A unique value is taken, or the resource is still referenced.
    #[error("{field}: {detail}")]
    Conflict { field: String, detail: String },
    /// A delete has claimed the resource (a group whose members are being removed): it takes no
    /// other change, and a delete that broke off is finished by deleting it again.
    #[error("{resource} {id} is being deleted; delete it again to finish")]
    BeingDeleted { resource: &'static str, id: String },
    /// If-Match named a version that is no longer the stored one.
    #[error("version {expected} is stale, the current version is {current}")]
    PreconditionFailed { expected: u64, current: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DirectoryError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        DirectoryError::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }

    pub fn conflict(field: impl Into<String>, detail: impl Into<String>) -> Self {
        DirectoryError::Conflict {
            field: field.into(),
            detail: detail.into(),
        }
    }

    pub fn not_found(resource: &'static str, id: impl ToString) -> Self {
        DirectoryError::NotFound {
            resource,
            id: id.to_string(),
        }
    }
}

impl From<QueryError> for DirectoryError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::Cursor(InvalidCursor) => {
                DirectoryError::invalid("cursor", "not a cursor this listing issued")
            }
            QueryError::Store(e) => DirectoryError::Store(e),
        }
    }
}

/// `Ok(None)` where the directory answered "not found": for lookups where absence is an answer.
pub fn found<T>(result: Result<T, DirectoryError>) -> Result<Option<T>, DirectoryError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(DirectoryError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
