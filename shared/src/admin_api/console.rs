//! `/console`: the console's page and files, and its session (sign in with an admin key, sign
//! out). See `crate::console` for what a session is.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;

use super::request::json_body;
use super::{AdminApi, ApiError, Reply};
use crate::console::assets::{self, SECURITY_HEADERS};
use crate::console::revocations;
use crate::console::session::{self, CSRF_HEADER, Session};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    key: String,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn respond(status: u16, content_type: &str, body: String, cookie: Option<String>) -> Reply {
    let mut builder = Response::builder().status(status);
    for (name, value) in SECURITY_HEADERS {
        builder = builder.header(name, value);
    }
    if !content_type.is_empty() {
        builder = builder.header("content-type", content_type);
    }
    if let Some(cookie) = cookie {
        builder = builder.header("set-cookie", cookie);
    }
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Text(body)
    };
    builder.body(body).map_err(|e| ApiError::Internal(e.to_string()))
}

/// A problem from a console route, with the console's headers.
pub(super) fn problem(err: ApiError) -> Response<Body> {
    let mut response = err.into_response();
    for (name, value) in SECURITY_HEADERS {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The cookie may be `Secure` unless the console is reached on this machine (`make dev`'s plain
/// HTTP): browsers refuse to store a `Secure` cookie from `http://`.
fn secure(req: &Request) -> bool {
    !req.headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .is_some_and(session::is_loopback)
}

/// Whether a request of `session` carries its CSRF token.
pub(super) fn csrf_passes(req: &Request, session: &Session) -> bool {
    req.headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|token| session.csrf_matches(token))
}

fn session_body(session: &Session) -> String {
    let expires = time::OffsetDateTime::from_unix_timestamp(session.expires)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    json!({ "csrf": session.csrf(), "expiresAt": expires }).to_string()
}

impl AdminApi {
    /// The valid session of the request's cookie, if any: signed by a current admin key, not
    /// expired, not signed out.
    pub(super) async fn session(&self, req: &Request) -> Result<Option<Session>, ApiError> {
        let cookies = req
            .headers()
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let Some(parsed) = session::cookie(cookies, secure(req)).and_then(session::parse) else {
            return Ok(None);
        };
        let Some(session) = self
            .keys
            .by_fingerprint(parsed.fingerprint)
            .await?
            .and_then(|key| parsed.verify(key, now()))
        else {
            return Ok(None);
        };
        let store = &self.directory.store;
        if revocations::is_revoked(store, &session)
            .await
            .map_err(crate::directory::DirectoryError::from)?
        {
            return Ok(None);
        }
        Ok(Some(session))
    }

    pub(super) async fn console(&self, req: &Request) -> Reply {
        let path = req.uri().path();
        match (path, req.method().as_str()) {
            ("/console" | "/console/", "GET") => {
                respond(200, "text/html; charset=utf-8", assets::INDEX.to_string(), None)
            }
            (_, "GET") if path.starts_with("/console/assets/") => {
                let name = &path["/console/assets/".len()..];
                let (content_type, body) = assets::asset(name)
                    .ok_or_else(|| ApiError::NotFound(format!("no console file {name}")))?;
                respond(200, content_type, body.to_string(), None)
            }
            ("/console/session", "POST") => {
                let input: SignIn = json_body(req)?;
                let Some(key) = self.keys.digest_of(input.key.trim()).await? else {
                    tracing::info!("console sign-in refused");
                    return Err(ApiError::Unauthorized);
                };
                let session = Session::start(key, now());
                let cookie = session::set_cookie(Some(&session.token()), secure(req));
                respond(201, "application/json", session_body(&session), Some(cookie))
            }
            ("/console/session", "GET") => match self.session(req).await? {
                Some(session) => respond(200, "application/json", session_body(&session), None),
                None => Err(ApiError::Unauthorized),
            },
            ("/console/session", "DELETE") => {
                // The session ends for good (a copy of its cookie fails too), and the cookie is
                // cleared whatever its state: signing out always works.
                if let Some(session) = self.session(req).await? {
                    revocations::revoke(&self.directory.store, &session)
                        .await
                        .map_err(crate::directory::DirectoryError::from)?;
                }
                respond(
                    204,
                    "",
                    String::new(),
                    Some(session::set_cookie(None, secure(req))),
                )
            }
            ("/console/session", _) => Err(ApiError::MethodNotAllowed {
                allow: "GET, POST, DELETE",
            }),
            _ => Err(ApiError::NotFound(format!("no console route {path}"))),
        }
    }
}
