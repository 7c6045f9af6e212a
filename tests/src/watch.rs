//! `cargo lambda watch` serving the functions the `make dev` way, for tests that go through HTTP.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::TestEnv;

/// `cargo lambda watch` in its own process group, stopped with everything it started.
pub struct Watch {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// One watcher at a time in the test binary: two side by side compete for cargo's build lock
    /// and the machine, and a function that is slow to start answers the watcher's own error.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static ONE_WATCHER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held while a test runs a watcher of its own (`make dev`): no other watcher meanwhile.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_WATCHER.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &group])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
        let _ = self.child.wait();
    }
}

/// Instances per function, as `make dev` runs them (`PROVISIO_WATCH_CONCURRENCY`, default 4):
/// with one, every request waits for the one before, which no deployed function does.
pub fn concurrency() -> u32 {
    std::env::var("PROVISIO_WATCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

/// The table's stream carried to the dispatch queue, as `make dev`'s `devstack stream` does,
/// until the task is aborted.
pub fn stream_feeder(env: &TestEnv) -> tokio::task::JoinHandle<()> {
    let mut feeder = env.new_stream_feeder();
    tokio::spawn(async move { feeder.run().await })
}

/// A queue fed to a function through the watcher at `base`, as `make dev`'s `devstack feed`
/// does, until the task is aborted.
pub fn queue_feeder(env: &TestEnv, queue: &str, function: &str, base: &str) -> tokio::task::JoinHandle<()> {
    let mut feeder = devstack::feed::Feeder::new(
        env.clients.sqs.clone(),
        &env.resources.queue_urls[queue],
        base,
        function,
    );
    feeder.wait_seconds = 1;
    tokio::spawn(async move {
        loop {
            if feeder.poll_once().await.is_err() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    })
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts a watcher, after any other test's watcher has stopped (each test runs on its own
/// thread and runtime, so waiting here blocks nobody else).
pub fn start(env: &TestEnv) -> Watch {
    start_logging(env, None)
}

/// [`start`], with the watcher's and the functions' output in `log` instead of the test's.
pub fn start_logging(env: &TestEnv, log: Option<&std::path::Path>) -> Watch {
    start_with(env, log, concurrency())
}

/// [`start_logging`] with `instances` per function.
pub fn start_with(env: &TestEnv, log: Option<&std::path::Path>, instances: u32) -> Watch {
    use std::os::unix::process::CommandExt;
    let one_at_a_time = one_at_a_time();
    let port = free_port();
    let config = &env.resources.config;
    let mut command = std::process::Command::new("cargo");
    command
        // No hot reload: a file written during a run (a tool's cache, an editor) would restart a
        // function mid-test and its callers would get the watcher's plain-text errors.
        .args([
            "lambda",
            "watch",
            "--ignore-changes",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--concurrency",
            &instances.to_string(),
        ])
        .current_dir(crate::repo_path(""))
        .envs(config.env_vars())
        .stdin(Stdio::null())
        .process_group(0);
    if let Some(log) = log {
        let file = std::fs::File::create(log).expect("the watcher's log file");
        command.stdout(file.try_clone().expect("log file")).stderr(file);
    }
    let child = command
        .spawn()
        .expect("`cargo lambda` on PATH (make test installs it; see scripts/tools.sh)");
    Watch {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _one_at_a_time: one_at_a_time,
    }
}

impl Watch {
    /// Waits (bounded) until the admin API answers through the watch server; the first request
    /// compiles the function.
    pub async fn ready(&mut self, admin_key: &str) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(900);
        loop {
            let reply = http
                .get(format!("{}/admin/users", self.base))
                .header("authorization", format!("Bearer {admin_key}"))
                .send()
                .await;
            match reply {
                Ok(r) if r.status().as_u16() == 200 => return,
                Ok(r) if r.status().is_server_error() || r.status().as_u16() == 404 => {}
                Ok(r) => panic!("unexpected status {} while waiting for the admin API", r.status()),
                Err(_) => {}
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "cargo lambda watch exited ({status}); is cargo-lambda on PATH? (make test installs it)"
                );
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not serve the admin API in time"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Waits (bounded) until the function behind `path` answers itself (a JSON body, whatever
    /// the status): its instance is started. While it starts, the watcher answers in plain text,
    /// which clients that send their first requests at once would take for the function's answer.
    pub async fn warm(&self, path: &str) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let reply = http.get(format!("{}{path}", self.base)).send().await;
            let answered = reply.is_ok_and(|r| {
                r.headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("json"))
            });
            if answered {
                return;
            }
            assert!(Instant::now() < deadline, "{path} did not answer in time");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Invokes a queue-driven function once with an empty SQS batch, through the watcher's invoke
    /// API, so that it is built and started before a test depends on its timing (bounded).
    pub async fn warm_function(&self, function: &str) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .expect("client");
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let reply = http
                .post(&url)
                .json(&serde_json::json!({ "Records": [] }))
                .send()
                .await;
            if reply.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "{function} did not start in time");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Creates a SCIM client app over HTTP, as an admin does; returns the app with its `scim`
    /// base URL and token.
    pub async fn scim_app(&self, admin_key: &str, name: &str) -> serde_json::Value {
        reqwest::Client::new()
            .post(format!("{}/admin/apps", self.base))
            .header("authorization", format!("Bearer {admin_key}"))
            .json(&serde_json::json!({ "name": name, "kind": "scim_client" }))
            .send()
            .await
            .expect("admin API")
            .json()
            .await
            .expect("a JSON app")
    }
}
