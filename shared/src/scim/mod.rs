//! SCIM 2.0 ingress (RFC 7643, RFC 7644) at `/scim/v2/{appId}/...`: each SCIM client app has its
//! own base URL and bearer token. Users are directory users; what a SCIM client changes is a
//! directory change like any other.

pub mod bulk;
pub mod error;
pub mod filter;
pub mod groups;
pub mod list;
pub mod mapping;
pub mod ownership;
pub mod patch;
pub mod protocol;
pub mod schema;
pub mod token;
pub mod user_resource;
pub mod users;

use std::collections::HashMap;

use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;

use crate::directory::{Directory, Precondition};
use crate::ids::AppId;
use crate::store::Store;
pub use error::{ScimError, ScimType};
use token::TokenVerifier;

pub use protocol::{CONTENT_TYPE, MAX_BODY_BYTES};

pub struct ScimApi {
    pub directory: Directory,
    tokens: TokenVerifier,
    /// App settings (delete-on-deactivate), cached like the tokens.
    settings: tokio::sync::Mutex<HashMap<AppId, (ScimSettings, std::time::Instant)>>,
}

/// What a SCIM client app's settings mean for its requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScimSettings {
    pub delete_on_deactivate: bool,
    /// May take over users and groups no source owns (see [`ownership`]).
    pub adopt_unowned: bool,
    pub mapping: mapping::ScimMapping,
}

const SETTINGS_CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// What a handler needs to know about the request beyond its body.
pub struct Context {
    pub app: AppId,
    pub settings: ScimSettings,
    /// `https://host/scim/v2/{appId}`: resource locations are built from it.
    pub base: String,
}

type Reply = Result<Response<Body>, ScimError>;

impl ScimApi {
    /// The SCIM API as a function runs it, on the configured table. Its changes reach the
    /// dispatch queue through the table's stream, like every other write's.
    pub fn configured(clients: &crate::aws::AwsClients, config: &crate::config::Config) -> Self {
        Self::new(Store::new(clients.dynamodb.clone(), &config.table))
    }

    /// Apps whose token records this instance holds (bounded by [`token::MAX_CACHED_APPS`]).
    pub async fn cached_token_records(&self) -> usize {
        self.tokens.cached().await
    }

    pub fn new(store: Store) -> Self {
        ScimApi {
            directory: Directory::new(store.clone()),
            tokens: TokenVerifier::new(store),
            settings: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    async fn settings(&self, app: &AppId) -> Result<ScimSettings, ScimError> {
        let mut cache = self.settings.lock().await;
        if let Some((settings, at)) = cache.get(app)
            && at.elapsed() < SETTINGS_CACHE_FOR
        {
            return Ok(settings.clone());
        }
        let found = self.directory.get_app(app).await?;
        let settings = ScimSettings {
            delete_on_deactivate: found.delete_on_deactivate,
            adopt_unowned: found.adopt_unowned,
            mapping: found.scim_mapping.unwrap_or_default(),
        };
        cache.insert(app.clone(), (settings.clone(), std::time::Instant::now()));
        Ok(settings)
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = std::time::Instant::now();
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let response = self.route(&req).await.unwrap_or_else(ScimError::into_response);
        tracing::info!(
            method,
            path,
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "scim request"
        );
        response
    }

    async fn route(&self, req: &Request) -> Reply {
        let path = req.uri().path();
        let rest = path
            .strip_prefix("/scim/v2/")
            .ok_or_else(|| ScimError::not_found(format!("no SCIM endpoint {path}")))?;
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let Some((raw_app, resource)) = segments.split_first() else {
            return Err(ScimError::not_found("the SCIM base URL is /scim/v2/{appId}"));
        };
        // An unknown app and a wrong token look the same from outside.
        let app = AppId::parse(raw_app).ok_or_else(ScimError::unauthorized)?;
        self.authorize(req, &app).await?;
        let ctx = Context {
            base: base_url(req, &app),
            settings: self.settings(&app).await?,
            app,
        };
        let method = req.method().as_str();
        // Endpoint names in any case (`/users`, `/serviceproviderconfig`): several clients build
        // paths by hand, and attribute names are case-insensitive already.
        let mut resource: Vec<&str> = resource.to_vec();
        if let Some(first) = resource.first_mut() {
            *first = endpoint(first);
        }
        match (resource.as_slice(), method) {
            (["ServiceProviderConfig"], "GET") => json(200, &schema::service_provider_config(&ctx.base)),
            (["Schemas"], "GET") => json(200, &list_of(schema::schemas(&ctx.base))),
            (["Schemas", id], "GET") => one_of(schema::schemas(&ctx.base), id, "schema"),
            (["ResourceTypes"], "GET") => json(200, &list_of(schema::resource_types(&ctx.base))),
            (["ResourceTypes", id], "GET") => one_of(schema::resource_types(&ctx.base), id, "resource type"),
            (["Users"], "GET") => {
                self.list_users(&ctx, &list::ListParams::from_query(&query(req))?)
                    .await
            }
            (["Users"], "POST") => self.create_user(&ctx, &body(req)?).await,
            (["Users", ".search"], "POST") => {
                self.list_users(&ctx, &list::ListParams::from_search(&body(req)?)?)
                    .await
            }
            (["Users", id], "GET") => self.get_user(&ctx, id, req).await,
            (["Users", id], "PUT") => self.replace_user(&ctx, id, &body(req)?, precondition(req)?).await,
            (["Users", id], "DELETE") => self.delete_user(&ctx, id, precondition(req)?).await,
            (["Users", id], "PATCH") => self.patch_user(&ctx, id, &body(req)?, precondition(req)?).await,
            (["Groups"], "GET") => {
                self.list_groups(&ctx, &list::ListParams::from_query(&query(req))?)
                    .await
            }
            (["Groups"], "POST") => self.create_group(&ctx, &body(req)?).await,
            (["Groups", ".search"], "POST") => {
                self.list_groups(&ctx, &list::ListParams::from_search(&body(req)?)?)
                    .await
            }
            (["Groups", id], "GET") => self.get_group(&ctx, id, req).await,
            (["Groups", id], "PUT") => {
                self.replace_group(&ctx, id, &body(req)?, precondition(req)?)
                    .await
            }
            (["Groups", id], "PATCH") => {
                self.patch_group(&ctx, id, &body(req)?, precondition(req)?, req)
                    .await
            }
            (["Groups", id], "DELETE") => self.delete_group(&ctx, id, precondition(req)?).await,
            (["Bulk"], "POST") => json(
                200,
                &self
                    .bulk(req, &body_limited(req, bulk::MAX_PAYLOAD_BYTES)?)
                    .await?,
            ),
            ([".search"], _) => Err(ScimError::not_implemented(
                "search across resource types is not supported",
            )),
            (
                [
                    "Users" | "Groups" | "Bulk" | "Schemas" | "ResourceTypes" | "ServiceProviderConfig",
                    ..,
                ],
                _,
            ) => Err(ScimError::new(405, None, format!("{method} is not allowed here"))),
            _ => Err(ScimError::not_found(format!("no SCIM endpoint {path}"))),
        }
    }

    async fn authorize(&self, req: &Request, app: &AppId) -> Result<(), ScimError> {
        let presented = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(ScimError::unauthorized)?;
        if self.tokens.verify(app, presented).await? {
            Ok(())
        } else {
            Err(ScimError::unauthorized())
        }
    }
}

/// The base URL of the request's own app.
fn base_of(req: &Request) -> String {
    let app = req
        .uri()
        .path()
        .strip_prefix("/scim/v2/")
        .and_then(|r| r.split('/').next())
        .and_then(AppId::parse);
    match app {
        Some(app) => base_url(req, &app),
        None => String::new(),
    }
}

/// `scheme://host/scim/v2/{appId}` as the caller reached this deployment.
pub fn base_url(req: &Request, app: &AppId) -> String {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or_else(|| "localhost".into());
    let local = host.starts_with("127.0.0.1") || host.starts_with("localhost");
    let scheme =
        header("x-forwarded-proto").unwrap_or_else(|| if local { "http".into() } else { "https".into() });
    format!("{scheme}://{host}/scim/v2/{app}")
}

fn query(req: &Request) -> HashMap<String, String> {
    let params = req.query_string_parameters();
    params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn body(req: &Request) -> Result<Value, ScimError> {
    body_limited(req, MAX_BODY_BYTES)
}

fn body_limited(req: &Request, limit: usize) -> Result<Value, ScimError> {
    let bytes: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.len() > limit {
        return Err(ScimError::new(
            413,
            None,
            format!("request body larger than {limit} bytes"),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ScimError::bad(ScimType::InvalidSyntax, format!("the body is not JSON: {e}")))
}

fn precondition(req: &Request) -> Result<Precondition, ScimError> {
    match req.headers().get("if-match").and_then(|v| v.to_str().ok()) {
        None => Ok(Precondition::Any),
        Some(raw) => Precondition::parse_if_match(raw).ok_or_else(|| {
            ScimError::new(
                412,
                None,
                format!("If-Match {raw:?} is not a version this server issued"),
            )
        }),
    }
}

fn list_of(resources: Vec<Value>) -> Value {
    serde_json::json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

fn one_of(resources: Vec<Value>, id: &str, what: &str) -> Reply {
    let found = resources
        .into_iter()
        .find(|r| r["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)));
    match found {
        Some(r) => json(200, &r),
        None => Err(ScimError::not_found(format!("no {what} {id}"))),
    }
}

pub fn json(status: u16, value: &Value) -> Reply {
    respond(status, value, None)
}

/// A response with the resource's ETag and, for creates, its Location.
pub fn respond(status: u16, value: &Value, location: Option<&str>) -> Reply {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", CONTENT_TYPE);
    if let Some(version) = value.pointer("/meta/version").and_then(Value::as_str) {
        builder = builder.header("etag", version);
    }
    if let Some(location) = location {
        builder = builder.header("location", location);
    }
    builder
        .body(Body::Text(value.to_string()))
        .map_err(|e| ScimError::new(500, None, e.to_string()))
}

/// The SCIM endpoints, as RFC 7644 spells them.
pub const ENDPOINTS: [&str; 6] = [
    "Users",
    "Groups",
    "Schemas",
    "ResourceTypes",
    "ServiceProviderConfig",
    "Bulk",
];

/// An endpoint name in its canonical spelling, whatever the case it came in.
pub fn endpoint(segment: &str) -> &str {
    ENDPOINTS
        .iter()
        .find(|e| e.eq_ignore_ascii_case(segment))
        .copied()
        .unwrap_or(segment)
}
