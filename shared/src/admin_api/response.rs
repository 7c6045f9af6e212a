//! JSON responses, with the ETag of versioned resources.

use lambda_http::{Body, Response};
use serde::Serialize;

use super::ApiError;
use crate::directory::version::etag;

pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response<Body>, ApiError> {
    json_with(status, value, None, None)
}

/// A versioned resource: the ETag header carries its version.
pub fn resource<T: Serialize>(
    status: u16,
    value: &T,
    version: u64,
    location: Option<String>,
) -> Result<Response<Body>, ApiError> {
    json_with(status, value, Some(etag(version)), location)
}

fn json_with<T: Serialize>(
    status: u16,
    value: &T,
    etag: Option<String>,
    location: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let body = serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    json_text(status, body, etag, location)
}

/// A JSON document already written (the published OpenAPI document), sent as it is.
pub fn published_json(body: &'static str) -> Result<Response<Body>, ApiError> {
    json_text(200, body.to_string(), None, None)
}

fn json_text(
    status: u16,
    body: String,
    etag: Option<String>,
    location: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(etag) = etag {
        builder = builder.header("etag", etag);
    }
    if let Some(location) = location {
        builder = builder.header("location", location);
    }
    builder
        .body(Body::Text(body))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

pub fn no_content() -> Result<Response<Body>, ApiError> {
    Response::builder()
        .status(204)
        .body(Body::Empty)
        .map_err(|e| ApiError::Internal(e.to_string()))
}
