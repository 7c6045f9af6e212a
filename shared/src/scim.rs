//! SCIM 2.0 ingress. Until the SCIM feature lands, every route answers 501 in the SCIM error
//! schema (RFC 7644 3.12), so a SCIM client sees a clear, standard refusal.

use lambda_http::{Body, Request, Response};
use serde_json::json;

pub const CONTENT_TYPE: &str = "application/scim+json";

pub async fn handle(req: Request) -> Response<Body> {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "501",
        "detail": format!("SCIM endpoint {} is not implemented yet", req.uri().path()),
    });
    Response::builder()
        .status(501)
        .header("content-type", CONTENT_TYPE)
        .body(Body::Text(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}
