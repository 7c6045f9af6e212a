//! Reading what the caller sent: JSON bodies (with the offending field named), paging parameters,
//! If-Match and path ids.

use lambda_http::{Body, Request, RequestExt};
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::directory::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Precondition};

/// Bodies above this are refused before parsing (413).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// Parses a JSON body into `T`, naming the field at fault: `name` for a wrong type,
/// `attributes.x` inside nested objects, the unknown or missing field itself.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let bytes = body_bytes(req);
    if bytes.is_empty() {
        return Err(ApiError::BadRequest {
            field: None,
            detail: "a JSON body is required".into(),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let inner = err.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::BadRequest {
                field: None,
                detail: format!(
                    "malformed JSON at line {} column {}",
                    inner.line(),
                    inner.column()
                ),
            };
        }
        let path = err.path().to_string();
        let message = inner.to_string();
        let named = quoted_field(&message);
        // An unknown field's path already ends with it; a missing field's path is its parent.
        let field = match (path.as_str(), named) {
            (".", Some(name)) => name.to_string(),
            (".", None) => String::new(),
            (path, Some(name)) if message.starts_with("missing field") => format!("{path}.{name}"),
            (path, _) => path.to_string(),
        };
        // serde's message ends with " at line L column C"; the field name says where.
        let detail = message.split(" at line ").next().unwrap_or(&message).to_string();
        if field.is_empty() {
            ApiError::BadRequest { field: None, detail }
        } else {
            ApiError::BadRequest {
                detail: format!("{field}: {detail}"),
                field: Some(field),
            }
        }
    })?;
    deserializer.end().map_err(|_| ApiError::BadRequest {
        field: None,
        detail: "trailing characters after the JSON body".into(),
    })?;
    Ok(value)
}

/// The first `` `name` `` in a serde message: the field an unknown/missing-field error is about.
fn quoted_field(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// `limit` (1..=200, default 50) and `cursor` query parameters.
pub fn paging(req: &Request) -> Result<(u32, Option<String>), ApiError> {
    let params = req.query_string_parameters();
    let limit = match params.first("limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_field("limit", format!("must be an integer from 1 to {MAX_PAGE_SIZE}"))
            })?,
    };
    Ok((limit, params.first("cursor").map(str::to_string)))
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters().first(name).map(str::to_string)
}

pub fn precondition(req: &Request) -> Result<Precondition, ApiError> {
    match req.headers().get("if-match") {
        None => Ok(Precondition::Any),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(Precondition::parse_if_match)
            .ok_or_else(|| {
                ApiError::bad_field("If-Match", "must be an ETag this API issued, such as W/\"3\"")
            }),
    }
}

/// Parses a path id; an id that can't exist is simply not found.
pub fn path_id<T>(raw: &str, resource: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, ApiError> {
    parse(raw).ok_or_else(|| ApiError::NotFound(format!("{resource} {raw} not found")))
}
