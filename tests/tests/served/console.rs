//! The admin console in a real browser: headless Chromium (Debian's package) driven by Playwright
//! (tests/browser/console.py), against the functions as `make dev` serves them, with the stream,
//! dispatch and import feeders running as there. Each page is checked with axe-core and saved as
//! a screenshot (in the target directory's `console-screenshots`).

use std::process::Command;

use provisio_tests::TestEnv;

fn tool(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run through make test (scripts/tools.sh sets it)"))
}

#[tokio::test]
async fn the_console_in_chromium() {
    let env = TestEnv::new().await;
    let mut watch = provisio_tests::watch::start(&env);
    watch.ready(&env.resources.admin_key).await;
    watch.warm("/console/session").await;
    let feeders = [
        provisio_tests::watch::stream_feeder(&env),
        provisio_tests::watch::queue_feeder(&env, "dispatch", "dispatcher", &watch.base),
        provisio_tests::watch::queue_feeder(&env, "import", "importer", &watch.base),
    ];
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string());
    let shots = std::path::Path::new(&target).join("console-screenshots");
    std::fs::create_dir_all(&shots).expect("the screenshot directory");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/console.py");
    let base = watch.base.clone();
    let key = env.resources.admin_key.clone();
    let status = tokio::task::spawn_blocking(move || {
        Command::new(tool("PROVISIO_PLAYWRIGHT_PYTHON"))
            .arg(script)
            .env("PROVISIO_URL", base)
            .env("PROVISIO_ADMIN_KEY", key)
            .env("PROVISIO_SCREENSHOTS", &shots)
            .env("PROVISIO_AXE_JS", tool("PROVISIO_AXE_JS"))
            .env("PROVISIO_CHROMIUM", tool("PROVISIO_CHROMIUM"))
            .status()
            .expect("run the browser test")
    })
    .await
    .expect("the browser test's thread");
    for feeder in feeders {
        feeder.abort();
    }
    assert!(
        status.success(),
        "the console's browser test failed (its output is above)"
    );
}
