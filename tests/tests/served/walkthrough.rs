//! The seeds' walkthrough end to end, the way a newcomer meets it after `make dev`: HTTP through
//! `cargo lambda watch` to the functions, the table's stream carried to the dispatch queue, the queue functions fed
//! from the local queues, and the
//! sample app on 127.0.0.1 (a users API with an OAuth 2.0 token endpoint and a paginated list).
//! The story is `make demo`'s (`devstack::demo`); this test checks what it produced.

use provisio_tests::{TestEnv, watch};
use serde_json::json;

#[tokio::test]
async fn the_seed_walkthrough_through_make_dev() {
    let env = TestEnv::new().await;
    let mut watch = watch::start(&env);
    watch.ready(&env.resources.admin_key).await;
    watch
        .warm("/scim/v2/00000000-0000-0000-0000-000000000000/ServiceProviderConfig")
        .await;
    let feeders = [
        watch::stream_feeder(&env),
        watch::queue_feeder(&env, "dispatch", "dispatcher", &watch.base),
        watch::queue_feeder(&env, "import", "importer", &watch.base),
    ];
    let t = devstack::demo::run(&watch.base, &env.resources.admin_key, |line| println!("{line}"))
        .await
        .expect("the walkthrough");
    for feeder in feeders {
        feeder.abort();
    }

    // Seed 000: the create, with an OAuth token and the JSON types kept; the update at the id the
    // create returned; one log entry each.
    let email = t.create.json()["email"].as_str().expect("email").to_string();
    assert!(
        email.starts_with("ada-") && email.ends_with("@example.com"),
        "{email}"
    );
    assert_eq!(
        t.create.json(),
        json!({ "email": email, "firstName": "Ada", "lastName": "Lovelace", "active": true, "department": "R&D" })
    );
    assert_eq!(t.create.header("authorization"), Some("Bearer tok-1"));
    assert_eq!(t.update.path, "/users/ext-1");
    assert_eq!(
        t.update.json(),
        json!({ "email": email, "firstName": "Augusta Ada", "active": true })
    );
    assert_eq!(t.log_events, ["user_updated 200", "user_created 201"]);

    // The import: four accounts, two a page; three created; Ada's account, found by email, links her.
    let r = &t.report;
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert_eq!(
        [
            &r["pages"],
            &r["seen"],
            &r["created"],
            &r["updated"],
            &r["unchanged"],
            &r["failed"]
        ],
        [&json!(2), &json!(4), &json!(3), &json!(1), &json!(0), &json!(0)],
        "{r:#}"
    );
    assert_eq!(t.imported, 4);

    // Seed 004: the SCIM group holds the SCIM user; the sample app got her once her group had the
    // app; deactivated at the source, she is deleted in the directory and in the app.
    assert_eq!(t.scim_group_members["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(t.scim_create.json()["firstName"], "Grace");
    assert_eq!(t.deactivated_user_status, 404);
    assert_eq!(t.scim_delete.method, "DELETE");
    assert_eq!(t.scim_delete.path, format!("/users/{}", "ext-2"));

    // Nothing else reached the app: create, update, the two list pages, Grace's create and
    // delete. The import's change of Ada came from the app itself and is not sent back to it.
    let mut calls: Vec<String> = t
        .received
        .iter()
        .filter(|r| r.path != "/oauth/token")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        [
            "DELETE /users/ext-2",
            "GET /users",
            "GET /users",
            "POST /users",
            "POST /users",
            "PUT /users/ext-1",
        ],
        "{calls:#?}"
    );

    // No one in an app's scope is left out silently: an account, or a reason in the user's log.
    let silent = env.silent_in_scope().await;
    assert!(silent.is_empty(), "{silent:#?}");
}
