//! SCIM errors (RFC 7644 3.12) and their one mapping to responses.

use lambda_http::{Body, Response};
use serde_json::json;

use super::protocol::CONTENT_TYPE;
use crate::directory::DirectoryError;
use crate::store::StoreError;

/// `scimType` values of RFC 7644 table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    /// RFC 9865: a cursor this server did not issue.
    InvalidCursor,
    /// RFC 9865: a count out of range with cursor paging.
    InvalidCount,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::InvalidCursor => "invalidCursor",
            ScimType::InvalidCount => "invalidCount",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    /// A 403 for a resource another source owns: that source (never shown to the caller).
    pub owner: Option<crate::ids::AppId>,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            owner: None,
        }
    }

    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            401,
            None,
            "missing or invalid bearer token for this SCIM base URL",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(501, None, detail)
    }

    pub fn into_response(self) -> Response<Body> {
        if self.status >= 500 && self.status != 501 {
            tracing::error!(status = self.status, detail = %self.detail, "SCIM request failed");
        }
        // Never the cause's own text (SDK errors name endpoints and tables): it is logged above.
        let detail = match self.status {
            500 => "an internal error occurred; it has been logged".to_string(),
            503 => "a service Provisio depends on is unavailable or busy; retry in a moment".to_string(),
            _ => self.detail,
        };
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": self.status.to_string(),
            "detail": detail,
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type.as_str());
        }
        let mut builder = Response::builder()
            .status(self.status)
            .header("content-type", CONTENT_TYPE);
        if self.status == 401 {
            builder = builder.header("www-authenticate", "Bearer realm=\"provisio-scim\"");
        }
        if self.status == 503 {
            builder = builder.header("retry-after", "1");
        }
        builder
            .body(Body::Text(body.to_string()))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

impl From<DirectoryError> for ScimError {
    fn from(err: DirectoryError) -> Self {
        match err {
            DirectoryError::Invalid { field, detail } => {
                ScimError::bad(ScimType::InvalidValue, format!("{field}: {detail}"))
            }
            DirectoryError::NotFound { resource, id } => {
                ScimError::not_found(format!("{resource} {id} not found"))
            }
            DirectoryError::Conflict { field, detail } => {
                // The directory's primary email is what SCIM sends in `emails`.
                let field = if field == "email" {
                    "emails"
                } else {
                    field.as_str()
                };
                ScimError::new(409, Some(ScimType::Uniqueness), format!("{field}: {detail}"))
            }
            // A conflict with the resource's state, not a taken value: no scimType fits.
            e @ DirectoryError::BeingDeleted { .. } => ScimError::new(409, None, e.to_string()),
            e @ DirectoryError::PreconditionFailed { .. } => ScimError::new(412, None, e.to_string()),
            DirectoryError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ScimError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) => ScimError::new(503, None, e),
            other => ScimError::new(500, None, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_never_echo_their_cause() {
        for status in [500, 503] {
            let response = ScimError::new(
                status,
                None,
                "dispatch failure: http://dynamodb.local ThrottlingException",
            )
            .into_response();
            let Body::Text(text) = response.body() else {
                panic!("a text body")
            };
            assert!(
                !text.contains("dynamodb") && !text.contains("Exception"),
                "{text}"
            );
        }
    }
}
