//! The admin console in a real browser: headless Chromium (Debian's package) driven by Playwright
//! (tests/browser/console.py), against the functions as `make dev` serves them, with the stream,
//! dispatch and import feeders running as there. The script walks both seeds by clicking; each
//! page is checked with axe-core and saved as a screenshot (in the target directory's
//! `console-screenshots`). What the sample app received is checked here.

use std::process::Command;

use provisio_tests::TestEnv;
use provisio_tests::fake_app::{OAuthClient, UsersApi};
use serde_json::json;

fn tool(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run through make test (scripts/tools.sh sets it)"))
}

#[tokio::test]
async fn the_console_in_chromium() {
    let env = TestEnv::new().await;
    // One instance per function: a browser's burst of parallel requests now and then met an
    // instance `cargo lambda watch` was still spawning (no answer, or its 500); the deployed API
    // has no such thing, and one instance serves a page's requests in turn well enough.
    let mut watch = provisio_tests::watch::start_with(&env, None, 1);
    watch.ready(&env.resources.admin_key).await;
    // Every function built and started before the browser's clock runs (a function built on
    // its first call holds the others' requests for as long).
    watch.warm("/console/session").await;
    watch.warm("/scim/v2/none/ServiceProviderConfig").await;
    watch.warm_function("dispatcher").await;
    watch.warm_function("importer").await;
    let feeders = [
        provisio_tests::watch::stream_feeder(&env),
        provisio_tests::watch::queue_feeder(&env, "dispatch", "dispatcher", &watch.base),
        provisio_tests::watch::queue_feeder(&env, "import", "importer", &watch.base),
    ];
    // Seed 000's sample app: a users API behind OAuth 2.0 client credentials, with two accounts
    // of its own for the import to find.
    let oauth = OAuthClient {
        client_id: "provisio-console".into(),
        client_secret: "console-secret-0f3a".into(),
    };
    let api = UsersApi::new(Some(oauth.clone()), std::time::Duration::from_secs(3600));
    api.seed([
        (
            "acc-1".to_string(),
            json!({ "email": "linus@sample.test", "name": "Linus" }),
        ),
        (
            "acc-2".to_string(),
            json!({ "email": "margaret@sample.test", "name": "Margaret" }),
        ),
    ]);
    let sample = api.start().await;
    // A SCIM 2.0 service for the SCIM app page (issue 17).
    let peer = provisio_tests::scim_peers::ScimPeer::start().await;
    let run = std::process::id().to_string();

    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string());
    let shots = std::path::Path::new(&target).join("console-screenshots");
    std::fs::create_dir_all(&shots).expect("the screenshot directory");
    let mut command = Command::new(tool("PROVISIO_PLAYWRIGHT_PYTHON"));
    command
        .arg(provisio_tests::repo_path("tests/browser/console.py"))
        .env("PROVISIO_URL", &watch.base)
        .env("PROVISIO_ADMIN_KEY", &env.resources.admin_key)
        .env("PROVISIO_SCREENSHOTS", &shots)
        .env("PROVISIO_RUN", &run)
        .env("PROVISIO_SAMPLE_URL", &sample.url)
        .env("PROVISIO_SCIM_PEER_URL", &peer.base)
        .env("PROVISIO_SAMPLE_CLIENT_ID", &oauth.client_id)
        .env("PROVISIO_SAMPLE_CLIENT_SECRET", &oauth.client_secret)
        .env("PROVISIO_AXE_JS", tool("PROVISIO_AXE_JS"))
        .env("PROVISIO_CHROMIUM", tool("PROVISIO_CHROMIUM"));
    let status = tokio::task::spawn_blocking(move || command.status().expect("run the browser test"))
        .await
        .expect("the browser test's thread");
    for feeder in feeders {
        feeder.abort();
    }
    assert!(
        status.success(),
        "the console's browser test failed (its output is above)"
    );

    // What the sample app holds after the clicks: Grace's account, created then updated.
    let accounts = api.accounts();
    let grace: Vec<_> = accounts
        .values()
        .filter(|a| a["email"] == format!("grace.{run}@example.com"))
        .collect();
    assert_eq!(
        grace.len(),
        1,
        "one account for the user who joined: {accounts:#?}"
    );
    assert_eq!(grace[0]["name"], "Grace B.", "the update reached the app");
    // The policy deleted in the console was held, then approved: both accounts deactivated,
    // nothing deleted.
    let mut deactivated: Vec<_> = accounts
        .values()
        .filter(|a| a["active"] == false)
        .filter_map(|a| a["email"].as_str())
        .collect();
    deactivated.sort_unstable();
    assert_eq!(
        deactivated,
        [
            format!("alan.{run}@example.com"),
            format!("grace.{run}@example.com")
        ],
        "the approved deactivations reached the app: {accounts:#?}"
    );
    let calls: Vec<_> = sample
        .received()
        .into_iter()
        .filter(|r| r.path != "/oauth/token")
        .collect();
    assert!(
        calls.iter().all(|r| r
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer "))),
        "every call carried the OAuth token"
    );
}
