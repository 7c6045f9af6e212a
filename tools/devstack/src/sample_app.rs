//! Sample external apps: real HTTP servers on 127.0.0.1 that record every request and answer as
//! scripted. `make demo` provisions to one; the tests use them as the apps Provisio talks to.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request as the app received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub at: std::time::Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Form body as pairs.
    pub fn form(&self) -> BTreeMap<String, String> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
}

/// What the app answers: status, extra headers, JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// Sent instead of `body`, as it is (a page that is not JSON).
    pub raw: Option<String>,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body,
            raw: None,
        }
    }

    pub fn text(status: u16, text: &str) -> Self {
        Answer {
            raw: Some(text.to_string()),
            ..Answer::json(status, Value::Null)
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Script = dyn Fn(&Received) -> Answer + Send + Sync;

struct Shared {
    received: Mutex<Vec<Received>>,
    script: Box<Script>,
    delay: Duration,
}

pub struct FakeApp {
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Received {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: std::time::Instant::now(),
    };
    let answer = (shared.script)(&received);
    shared
        .received
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(received);
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        answer.raw.clone().unwrap_or_else(|| answer.body.to_string()),
    )
        .into_response();
    for (name, value) in answer.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

impl FakeApp {
    /// Starts an app on a free port of 127.0.0.1 that answers with `script`.
    pub async fn start(script: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> Self {
        Self::start_with_delay(Duration::ZERO, script).await
    }

    /// The same, each answer held back by `delay` (a remote app's latency).
    pub async fn start_with_delay(
        delay: Duration,
        script: impl Fn(&Received) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            script: Box::new(script),
            delay,
        });
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeApp { url, shared, server }
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests other than to `path` (token endpoints aside).
    pub fn received_except(&self, path: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.path != path).collect()
    }
}

/// Accounts per page of the users list.
const LIST_PAGE: usize = 2;

/// A small REST users API, as a typical app exposes it: `POST /users` creates (201 with a new
/// id), `PUT|PATCH|DELETE /users/{id}` on existing ids, `GET /users?cursor=` lists them two a
/// page with a `next` offset, `POST /oauth/token` issues client credentials tokens that expire
/// after `token_ttl` and are required when `oauth` is set. Faults queued with
/// [`UsersApi::fail_next`] answer the next API calls (token calls aside).
pub struct UsersApi {
    pub oauth: Option<OAuthClient>,
    pub token_ttl: Duration,
    faults: Mutex<std::collections::VecDeque<Answer>>,
    accounts: Mutex<BTreeMap<String, Value>>,
    tokens: Mutex<BTreeMap<String, std::time::Instant>>,
    issued: std::sync::atomic::AtomicU64,
    created: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
}

impl UsersApi {
    pub fn new(oauth: Option<OAuthClient>, token_ttl: Duration) -> Arc<Self> {
        Arc::new(UsersApi {
            oauth,
            token_ttl,
            faults: Mutex::new(Default::default()),
            accounts: Mutex::new(BTreeMap::new()),
            tokens: Mutex::new(BTreeMap::new()),
            issued: Default::default(),
            created: Default::default(),
        })
    }

    pub async fn start(self: &Arc<Self>) -> FakeApp {
        self.start_with_delay(Duration::ZERO).await
    }

    pub async fn start_with_delay(self: &Arc<Self>, delay: Duration) -> FakeApp {
        let api = self.clone();
        FakeApp::start_with_delay(delay, move |r| api.answer(r)).await
    }

    pub fn fail_next(&self, answer: Answer) {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(answer);
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Revokes every issued token (the next call with one gets 401).
    pub fn revoke_tokens(&self) {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Accounts the app had before Provisio came (what an import finds).
    pub fn seed(&self, accounts: impl IntoIterator<Item = (String, Value)>) {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(accounts);
    }

    pub fn accounts(&self) -> BTreeMap<String, Value> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn answer(&self, r: &Received) -> Answer {
        if r.path == "/oauth/token" {
            return self.token(r);
        }
        if self.oauth.is_some() {
            let presented = r
                .header("authorization")
                .and_then(|h| h.strip_prefix("Bearer "))
                .unwrap_or("");
            let valid = self
                .tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(presented)
                .is_some_and(|expires| std::time::Instant::now() < *expires);
            if !valid {
                return Answer::json(401, serde_json::json!({ "error": "invalid_token" }));
            }
        }
        if let Some(fault) = self.faults.lock().unwrap_or_else(|p| p.into_inner()).pop_front() {
            return fault;
        }
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let segments: Vec<&str> = r.path.trim_matches('/').split('/').collect();
        match (r.method.as_str(), segments.as_slice()) {
            // The paginated list: two accounts a page, `next` until the last page.
            ("GET", ["users"]) => {
                let offset: usize = form_urlencoded::parse(r.query.as_bytes())
                    .find(|(k, _)| k == "cursor")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let page: Vec<Value> = accounts
                    .iter()
                    .skip(offset)
                    .take(LIST_PAGE)
                    .map(|(id, body)| {
                        let mut record = body.clone();
                        record["id"] = Value::String(id.clone());
                        record
                    })
                    .collect();
                let mut body = serde_json::json!({ "users": { "data": page } });
                if offset + LIST_PAGE < accounts.len() {
                    body["next"] = Value::String((offset + LIST_PAGE).to_string());
                }
                Answer::json(200, body)
            }
            ("POST", ["users"]) => {
                let n = self.created.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                let id = format!("ext-{n}");
                accounts.insert(id.clone(), r.json());
                Answer::json(201, serde_json::json!({ "data": { "id": id }, "id": id }))
            }
            ("PUT" | "PATCH", ["users", id]) if accounts.contains_key(*id) => {
                accounts.insert((*id).to_string(), r.json());
                Answer::json(200, serde_json::json!({ "id": id }))
            }
            ("DELETE", ["users", id]) if accounts.remove(*id).is_some() => Answer::json(204, Value::Null),
            (_, ["users", _]) => Answer::json(404, serde_json::json!({ "error": "no such user" })),
            (_, ["groups", _, "members", ..]) => Answer::json(200, serde_json::json!({})),
            _ => Answer::json(404, serde_json::json!({ "error": "no route" })),
        }
    }

    fn token(&self, r: &Received) -> Answer {
        let form = r.form();
        let expected = self.oauth.as_ref();
        let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
            && expected.is_some_and(|c| {
                form.get("client_id") == Some(&c.client_id)
                    && form.get("client_secret") == Some(&c.client_secret)
            });
        if !ok {
            return Answer::json(401, serde_json::json!({ "error": "invalid_client" }));
        }
        let n = self.issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let token = format!("tok-{n}");
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), std::time::Instant::now() + self.token_ttl);
        Answer::json(
            200,
            serde_json::json!({ "access_token": token, "token_type": "Bearer",
                                "expires_in": self.token_ttl.as_secs() }),
        )
    }
}
