//! `make dev` as a developer runs it (scripts/dev.sh, what the Makefile calls): it says what it
//! does, ends with "ready" and the URLs, and keeps the directory and the admin key between runs;
//! `FRESH=1` starts empty.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use provisio_tests::watch;
use serde_json::{Value, json};

struct Dev {
    child: Child,
    key: String,
    base: String,
    lines: Vec<String>,
}

impl Drop for Dev {
    fn drop(&mut self) {
        // As Ctrl-C does: the whole process group, and the stack saves its secrets first.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// Starts `scripts/dev.sh` and reads its output until it is ready (bounded: a cold build of the
/// functions takes minutes).
fn start(data: &str, port: u16, fresh: bool) -> Dev {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(provisio_tests::repo_path("scripts/dev.sh"));
    command
        .current_dir(provisio_tests::repo_path(""))
        .env("PROVISIO_DATA_DIR", data)
        .env("PROVISIO_PORT", port.to_string())
        .env("FRESH", if fresh { "1" } else { "" })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = command.spawn().expect("scripts/dev.sh");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut dev = Dev {
        child,
        key: String::new(),
        base: format!("http://127.0.0.1:{port}"),
        lines: Vec::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(1200);
    while Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) else {
            assert!(
                dev.child.try_wait().ok().flatten().is_none(),
                "make dev stopped:\n{}",
                dev.lines.join("\n")
            );
            continue;
        };
        if let Some(key) = line.trim().strip_prefix("Admin key") {
            dev.key = key.trim().to_string();
        }
        let done = line.trim() == "Ctrl-C stops everything. The functions' log follows.";
        dev.lines.push(line);
        if done {
            return dev;
        }
    }
    panic!("make dev was not ready in time:\n{}", dev.lines.join("\n"));
}

async fn users(dev: &Dev) -> Vec<String> {
    let reply: Value = reqwest::Client::new()
        .get(format!("{}/admin/users", dev.base))
        .bearer_auth(&dev.key)
        .send()
        .await
        .expect("list users")
        .json()
        .await
        .expect("json");
    reply["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["userName"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
// The guard keeps other tests' watchers out; each test has a runtime (and thread) of its own.
#[allow(clippy::await_holding_lock)]
async fn make_dev_says_what_it_does_and_keeps_its_data_between_runs() {
    let _alone = watch::one_at_a_time();
    let data = std::env::temp_dir().join(format!("provisio-dev-{}", uuid::Uuid::new_v4().simple()));
    let data = data.to_string_lossy().to_string();
    let port = watch::free_port();

    let first = start(&data, port, true);
    // Each step with its time, the URLs and the key last.
    for step in [
        "] building the four functions",
        "] starting DynamoDB Local",
        "] table, queues and admin key ready",
        "] ready",
    ] {
        assert!(
            first.lines.iter().any(|l| l.contains(step)),
            "no {step:?} in:\n{}",
            first.lines.join("\n")
        );
    }
    assert!(first.key.starts_with("pk_"), "{:?}", first.lines);
    let created = reqwest::Client::new()
        .post(format!("{}/admin/users", first.base))
        .bearer_auth(&first.key)
        .json(&json!({ "userName": "kept" }))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let key = first.key.clone();
    drop(first);

    let second = start(&data, port, false);
    assert_eq!(second.key, key, "the admin key changed across a restart");
    assert_eq!(users(&second).await, ["kept"]);
    drop(second);

    let fresh = start(&data, port, true);
    assert_ne!(fresh.key, key);
    assert!(users(&fresh).await.is_empty());
    drop(fresh);
    let _ = std::fs::remove_dir_all(&data);
}
