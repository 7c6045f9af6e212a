//! The admin API's error type and its one mapping to RFC 9457 problem responses.

use lambda_http::{Body, Response};
use serde_json::json;

use crate::directory::DirectoryError;
use crate::secrets::SecretError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid admin key")]
    Unauthorized,
    /// Bad input: malformed JSON, a wrong type, an unknown field, an invalid value.
    #[error("{detail}")]
    BadRequest { field: Option<String>, detail: String },
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("{detail}")]
    Conflict { field: String, detail: String },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    NotImplemented(String),
    /// The store or Secrets Manager is throttled or down: retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours; the detail goes to the log, not to the caller.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::Unauthorized => 401,
            ApiError::BadRequest { .. } => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict { .. } => 409,
            ApiError::PreconditionFailed(_) => 412,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::Internal(_) => 500,
            ApiError::NotImplemented(_) => 501,
            ApiError::Unavailable(_) => 503,
        }
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Unauthorized => ("unauthorized", "Unauthorized"),
            ApiError::BadRequest { .. } => ("invalid-request", "Invalid request"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            ApiError::Conflict { .. } => ("conflict", "Conflict"),
            ApiError::PreconditionFailed(_) => ("precondition-failed", "Precondition failed"),
            ApiError::PayloadTooLarge { .. } => ("payload-too-large", "Payload too large"),
            ApiError::NotImplemented(_) => ("not-implemented", "Not implemented"),
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::Internal(_) => ("internal", "Internal error"),
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let (slug, title) = self.kind();
        // A 5xx tells what kind of failure it was, never the failure's own text: SDK errors
        // name endpoints, tables and request ids. The text goes to the log.
        let detail = match &self {
            ApiError::Internal(_) => "an internal error occurred; it has been logged".to_string(),
            ApiError::Unavailable(_) => {
                "a service Provisio depends on is unavailable or busy; retry in a moment".to_string()
            }
            other => other.to_string(),
        };
        if status >= 500 {
            tracing::error!(status, error = %self, "admin request failed");
        }
        let mut body = json!({
            "type": format!("https://provisio.dev/problems/{slug}"),
            "title": title,
            "status": status,
            "detail": detail,
        });
        if let ApiError::BadRequest {
            field: Some(field), ..
        }
        | ApiError::Conflict { field, .. } = &self
        {
            body["field"] = json!(field);
        }
        let mut builder = Response::builder()
            .status(status)
            .header("content-type", "application/problem+json");
        match &self {
            ApiError::Unauthorized => {
                builder = builder.header("www-authenticate", "Bearer realm=\"provisio-admin\"")
            }
            ApiError::MethodNotAllowed { allow } => builder = builder.header("allow", *allow),
            ApiError::Unavailable(_) => builder = builder.header("retry-after", "1"),
            _ => {}
        }
        builder
            .body(Body::Text(body.to_string()))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

impl From<DirectoryError> for ApiError {
    fn from(err: DirectoryError) -> Self {
        match err {
            DirectoryError::Invalid { field, detail } => ApiError::BadRequest {
                detail: format!("{field}: {detail}"),
                field: Some(field),
            },
            DirectoryError::NotFound { resource, id } => {
                ApiError::NotFound(format!("{resource} {id} not found"))
            }
            DirectoryError::Conflict { field, detail } => ApiError::Conflict {
                detail: format!("{field}: {detail}"),
                field,
            },
            e @ DirectoryError::BeingDeleted { .. } => ApiError::Conflict {
                detail: format!("id: {e}"),
                field: "id".into(),
            },
            e @ DirectoryError::PreconditionFailed { .. } => ApiError::PreconditionFailed(e.to_string()),
            DirectoryError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) => ApiError::Unavailable(e),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<SecretError> for ApiError {
    fn from(err: SecretError) -> Self {
        ApiError::Unavailable(err.to_string())
    }
}

impl From<crate::connector::configs::ConfigError> for ApiError {
    fn from(err: crate::connector::configs::ConfigError) -> Self {
        match err {
            crate::connector::configs::ConfigError::Directory(e) => e.into(),
            crate::connector::configs::ConfigError::Secret(e) => e.into(),
        }
    }
}

impl From<crate::import::importer::ImportError> for ApiError {
    fn from(err: crate::import::importer::ImportError) -> Self {
        match err {
            crate::import::importer::ImportError::Config(e) => e.into(),
            crate::import::importer::ImportError::Queue(e) => ApiError::Unavailable(e),
        }
    }
}

impl From<crate::directory::replay::ReplayError> for ApiError {
    fn from(err: crate::directory::replay::ReplayError) -> Self {
        use crate::directory::replay::ReplayError;
        match err {
            ReplayError::Input { field, message } => ApiError::bad_field(field, message),
            ReplayError::Send(e) => ApiError::Unavailable(e),
            ReplayError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_never_echo_their_cause() {
        for error in [
            ApiError::Unavailable(
                "dispatch failure: http://dynamodb.us-east-1.amazonaws.com table t1 ThrottlingException"
                    .into(),
            ),
            ApiError::Internal("ValidationException: table prov-main".into()),
        ] {
            let response = error.into_response();
            let Body::Text(text) = response.body() else {
                panic!("a text body")
            };
            assert!(
                !text.contains("dynamodb") && !text.contains("Exception") && !text.contains("table"),
                "{text}"
            );
        }
    }
}
