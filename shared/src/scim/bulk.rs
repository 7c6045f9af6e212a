//! `/Bulk` (RFC 7644 3.7): operations on Users and Groups in one request, with `bulkId`
//! references between them and `failOnErrors`. Each operation goes through the same routing as a
//! request of its own, so it means exactly what that request would mean.

use std::collections::HashMap;

use lambda_http::{Body, Request};
use serde_json::{Map, Value, json};

use super::user_resource::member;
use super::{ScimApi, ScimError, ScimType};

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub use super::protocol::{
    MAX_BULK_OPERATIONS as MAX_OPERATIONS, MAX_BULK_PAYLOAD_BYTES as MAX_PAYLOAD_BYTES,
};

struct BulkOp {
    method: String,
    bulk_id: Option<String>,
    path: String,
    data: Option<Value>,
    version: Option<String>,
}

fn parse(body: &Value) -> Result<(Vec<BulkOp>, Option<usize>), ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "a BulkRequest must be a JSON object",
        ));
    };
    let fail_on_errors = match member(body, "failOnErrors") {
        None => None,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| {
                ScimError::bad(ScimType::InvalidValue, "failOnErrors must be a positive integer")
            })?,
        Some(_) => {
            return Err(ScimError::bad(
                ScimType::InvalidValue,
                "failOnErrors must be a positive integer",
            ));
        }
    };
    let Some(Value::Array(ops)) = member(body, "Operations") else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "a BulkRequest needs an Operations list",
        ));
    };
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            413,
            Some(ScimType::TooMany),
            format!("at most {MAX_OPERATIONS} operations per request (see /ServiceProviderConfig)"),
        ));
    }
    let mut parsed = Vec::new();
    for op in ops {
        let Value::Object(op) = op else {
            return Err(ScimError::bad(
                ScimType::InvalidSyntax,
                "each operation must be an object",
            ));
        };
        let text = |name: &str| member(op, name).and_then(Value::as_str).map(str::to_string);
        let method = text("method")
            .map(|m| m.to_ascii_uppercase())
            .filter(|m| ["POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()))
            .ok_or_else(|| {
                ScimError::bad(
                    ScimType::InvalidSyntax,
                    "each operation needs a method: POST, PUT, PATCH or DELETE",
                )
            })?;
        let path = text("path")
            .ok_or_else(|| ScimError::bad(ScimType::InvalidSyntax, "each operation needs a path"))?;
        let bulk_id = text("bulkId");
        if method == "POST" && bulk_id.is_none() {
            return Err(ScimError::bad(
                ScimType::InvalidSyntax,
                "a POST operation needs a bulkId",
            ));
        }
        parsed.push(BulkOp {
            method,
            bulk_id,
            path,
            data: member(op, "data").cloned(),
            version: text("version"),
        });
    }
    Ok((parsed, fail_on_errors))
}

/// `bulkId:<id>` references in a value or path that are not resolved yet.
fn unresolved(text: &str, resolved: &HashMap<String, String>) -> bool {
    text.split("bulkId:").skip(1).any(|rest| {
        let id: String = rest
            .chars()
            .take_while(|c| !matches!(c, '"' | '/' | '?' | ' '))
            .collect();
        !resolved.contains_key(&id)
    })
}

fn substitute(text: &str, resolved: &HashMap<String, String>) -> String {
    let mut out = text.to_string();
    for (bulk_id, id) in resolved {
        out = out.replace(&format!("bulkId:{bulk_id}"), id);
    }
    out
}

impl ScimApi {
    /// Runs the operations in dependency order: an operation that refers to a `bulkId` runs after
    /// the operation that creates it; references that never resolve fail with 409.
    pub(super) async fn bulk(&self, req: &Request, body: &Value) -> Result<Value, ScimError> {
        let (ops, fail_on_errors) = parse(body)?;
        // The base URL: the request's path without its last segment (`/Bulk`, in any case).
        let path = req.uri().path().trim_end_matches('/');
        let prefix = path.rsplit_once('/').map_or(path, |(base, _)| base).to_string();
        let auth = req.headers().get("authorization").cloned();
        let mut resolved: HashMap<String, String> = HashMap::new();
        let mut results: Vec<Option<Value>> = vec![None; ops.len()];
        let mut errors = 0;
        let mut progress = true;
        while progress && results.iter().any(Option::is_none) {
            progress = false;
            for (i, op) in ops.iter().enumerate() {
                if results[i].is_some() {
                    continue;
                }
                if fail_on_errors.is_some_and(|limit| errors >= limit) {
                    break;
                }
                let data_text = op.data.as_ref().map(Value::to_string).unwrap_or_default();
                if unresolved(&op.path, &resolved) || unresolved(&data_text, &resolved) {
                    continue;
                }
                progress = true;
                let path = substitute(&op.path, &resolved);
                let data = substitute(&data_text, &resolved);
                let mut sub = http::Request::builder()
                    .method(op.method.as_str())
                    .uri(format!("{prefix}{path}"));
                if let Some(auth) = &auth {
                    sub = sub.header("authorization", auth);
                }
                if let Some(version) = &op.version {
                    sub = sub.header("if-match", version);
                }
                let outcome = match sub.body(if data.is_empty() {
                    Body::Empty
                } else {
                    Body::Text(data)
                }) {
                    Ok(_)
                        if super::endpoint(
                            path.trim_start_matches('/')
                                .split(['/', '?'])
                                .next()
                                .unwrap_or_default(),
                        ) == "Bulk" =>
                    {
                        Err(ScimError::bad(
                            ScimType::InvalidPath,
                            format!("{path}: bulk operations can't nest"),
                        ))
                    }
                    // Bulk operations change one resource each, at a bounded cost; a search
                    // (up to a scan of the directory) per operation would multiply a request's
                    // cost by a hundred, and its results have no place in a BulkResponse.
                    Ok(_)
                        if path
                            .split(['?', '#'])
                            .next()
                            .unwrap_or_default()
                            .split('/')
                            .filter(|s| !s.is_empty())
                            .any(|s| s == ".search") =>
                    {
                        Err(ScimError::bad(
                            ScimType::InvalidPath,
                            format!("{path}: a search is not a bulk operation"),
                        ))
                    }
                    Ok(sub) => Ok(Box::pin(self.route(&sub))
                        .await
                        .unwrap_or_else(ScimError::into_response)),
                    Err(e) => Err(ScimError::bad(ScimType::InvalidPath, format!("{path}: {e}"))),
                };
                let response = outcome.unwrap_or_else(ScimError::into_response);
                let status = response.status().as_u16();
                let mut entry = Map::new();
                entry.insert("method".into(), json!(op.method));
                if let Some(bulk_id) = &op.bulk_id {
                    entry.insert("bulkId".into(), json!(bulk_id));
                }
                if let Some(location) = response.headers().get("location").and_then(|v| v.to_str().ok()) {
                    entry.insert("location".into(), json!(location));
                    if let (Some(bulk_id), Some(id)) = (&op.bulk_id, location.rsplit('/').next()) {
                        resolved.insert(bulk_id.clone(), id.to_string());
                    }
                } else if status < 300 && op.method != "POST" {
                    entry.insert("location".into(), json!(format!("{}{path}", super::base_of(req))));
                }
                if let Some(version) = response.headers().get("etag").and_then(|v| v.to_str().ok()) {
                    entry.insert("version".into(), json!(version));
                }
                entry.insert("status".into(), json!(status.to_string()));
                if status >= 400 {
                    errors += 1;
                    if let Body::Text(text) = response.body() {
                        entry.insert(
                            "response".into(),
                            serde_json::from_str(text).unwrap_or(Value::Null),
                        );
                    }
                }
                results[i] = Some(Value::Object(entry));
            }
        }
        // What never ran: a bulkId it needs was never created (RFC 7644 3.7.1: 409), unless the
        // request stopped at failOnErrors first.
        let stopped = fail_on_errors.is_some_and(|limit| errors >= limit);
        let mut out = Vec::new();
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Some(r) => out.push(r),
                None if stopped => {}
                None => {
                    let op = &ops[i];
                    let mut entry = json!({
                        "method": op.method,
                        "status": "409",
                        "response": {
                            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                            "status": "409",
                            "scimType": "invalidValue",
                            "detail": "a bulkId this operation refers to was never created",
                        },
                    });
                    if let Some(bulk_id) = &op.bulk_id {
                        entry["bulkId"] = json!(bulk_id);
                    }
                    out.push(entry);
                }
            }
        }
        Ok(json!({ "schemas": [BULK_RESPONSE], "Operations": out }))
    }
}
