//! An outbound HTTP request as configured (method, URL, headers, body) and as rendered for one
//! user: the same shape serves event configs, custom token requests and import page requests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::template::{self, Context};
use crate::directory::DirectoryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_reqwest(self) -> reqwest::Method {
        match self {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
        }
    }
}

/// How a body template is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/json`: the template is any JSON value.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`: the template is a flat object of text values.
    Form,
}

/// A request ready to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<RenderedBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RenderedBody {
    Json(Value),
    Form(Vec<(String, String)>),
}

impl RenderedBody {
    pub fn content_type(&self) -> &'static str {
        match self {
            RenderedBody::Json(_) => "application/json",
            RenderedBody::Form(_) => "application/x-www-form-urlencoded",
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        match self {
            RenderedBody::Json(value) => value.to_string().into_bytes(),
            RenderedBody::Form(pairs) => form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
                .into_bytes(),
        }
    }
}

/// The request part of a config: what the user writes, with placeholders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestTemplate {
    pub method: HttpMethod,
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default)]
    pub body_format: BodyFormat,
}

impl RequestTemplate {
    /// Checks the parts that don't depend on placeholders; `field` prefixes the names in errors.
    /// `check` decides which placeholders are allowed.
    pub fn validate(
        &self,
        prefix: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<(), DirectoryError> {
        let field = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            }
        };
        let probe = Context::default();
        let url = template::render_url(&self.url, &probe);
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(DirectoryError::invalid(
                    field("url"),
                    "must be an absolute http(s) URL, such as https://api.example.com/users/@ExternalUserId",
                ));
            }
        }
        if !template::origin_is_fixed(&self.url) {
            return Err(DirectoryError::invalid(
                field("url"),
                "placeholders may not be in the scheme, host or port: write the origin out (https://api.example.com/...) and put placeholders in the path or query",
            ));
        }
        for name in template::placeholders(&self.url) {
            check(name).map_err(|e| DirectoryError::invalid(field("url"), e))?;
        }
        for (name, value) in &self.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(DirectoryError::invalid(
                    field(&format!("headers.{name}")),
                    "is not a valid header name",
                ));
            }
            if value.contains(['\r', '\n']) {
                return Err(DirectoryError::invalid(
                    field(&format!("headers.{name}")),
                    "must be a single line",
                ));
            }
            for p in template::placeholders(value) {
                check(p).map_err(|e| DirectoryError::invalid(field(&format!("headers.{name}")), e))?;
            }
        }
        if let Some(body) = &self.body {
            if self.body_format == BodyFormat::Form {
                let flat = body
                    .as_object()
                    .is_some_and(|m| m.values().all(|v| !v.is_object() && !v.is_array()));
                if !flat {
                    return Err(DirectoryError::invalid(
                        field("body"),
                        "a form body is an object of text values",
                    ));
                }
            }
            for p in template::json_placeholders(body) {
                check(&p).map_err(|e| DirectoryError::invalid(field("body"), e))?;
            }
        }
        Ok(())
    }

    /// Whether the placeholder `name` appears anywhere: URL, a header, the body.
    pub fn uses(&self, name: &str) -> bool {
        template::placeholders(&self.url).contains(&name)
            || self
                .headers
                .values()
                .any(|v| template::placeholders(v).contains(&name))
            || self
                .body
                .as_ref()
                .is_some_and(|b| template::json_placeholders(b).iter().any(|p| p == name))
    }

    /// Renders the request for `ctx`.
    pub fn render(&self, ctx: &Context) -> Rendered {
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), template::render_text(v, ctx)))
            .collect();
        let body = self.body.as_ref().map(|b| match self.body_format {
            BodyFormat::Json => RenderedBody::Json(template::render_json(b, ctx)),
            BodyFormat::Form => RenderedBody::Form(
                b.as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                let value = match v {
                                    Value::String(s) => template::render_text(s, ctx),
                                    other => crate::json_path::scalar_text(other).unwrap_or_default(),
                                };
                                (k.clone(), value)
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
        });
        Rendered {
            method: self.method,
            url: template::render_url(&self.url, ctx),
            headers,
            body,
        }
    }
}
