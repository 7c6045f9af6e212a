//! SCIM services on 127.0.0.1 for tests and benches to provision to: `scim2-server` (Python, in
//! memory, pinned in scripts/versions.env), and a Provisio's own SCIM ingress served over HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use provisio::scim::ScimApi;
use provisio::store::Store;

use crate::{Call, TestEnv, api_gateway_event};

/// `scim2-server` on a free port, stopped on drop.
pub struct ScimPeer {
    child: std::process::Child,
    /// Its SCIM base URL (`http://127.0.0.1:<port>/v2`).
    pub base: String,
}

impl Drop for ScimPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ScimPeer {
    pub async fn start() -> Self {
        let port = crate::watch::free_port();
        let child = std::process::Command::new("scim2-server")
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect(
                "scim2-server on PATH (scripts/tools.sh installs it; make test and make bench put it there)",
            );
        let peer = ScimPeer {
            child,
            base: format!("http://127.0.0.1:{port}/v2"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{}/ServiceProviderConfig", peer.base))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "scim2-server did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        peer
    }
}

/// Serves `env`'s SCIM ingress over HTTP on a free port of 127.0.0.1 (each request handled in
/// process, as the function handles its API Gateway event); its root URL. The server lives as
/// long as the test's runtime.
pub async fn serve_scim(env: &TestEnv) -> String {
    let scim = Arc::new(ScimApi::new(Store::new(
        env.clients.dynamodb.clone(),
        &env.resources.config.table,
    )));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind 127.0.0.1");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method,
              uri: axum::http::Uri,
              headers: axum::http::HeaderMap,
              body: String| {
            let scim = scim.clone();
            async move {
                let token = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default()
                    .to_string();
                let mut call = Call::new(method.as_str(), &uri.to_string()).key(&token);
                for (name, value) in &headers {
                    if !matches!(
                        name.as_str(),
                        "authorization" | "host" | "content-length" | "content-type"
                    ) && let Ok(value) = value.to_str()
                    {
                        call = call.header(name.as_str(), value);
                    }
                }
                if !body.is_empty() {
                    call.body = Some(body);
                }
                let request = lambda_http::request::from_str(&api_gateway_event(&call, ""))
                    .expect("a valid API Gateway event");
                let response = scim.handle(request).await;
                let status = response.status();
                let headers = response.headers().clone();
                let body = match response.into_body() {
                    lambda_http::Body::Text(t) => t.into_bytes(),
                    lambda_http::Body::Binary(b) => b,
                    _ => Vec::new(),
                };
                let mut out = axum::response::Response::new(axum::body::Body::from(body));
                *out.status_mut() = status;
                *out.headers_mut() = headers;
                out
            }
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}
