//! An import that decides its users' lifecycle (`deactivateMissing`, issue 16.5): users of the
//! source missing from a complete run are deactivated, within the import's threshold or once an
//! administrator approves; a user back in the source is active again unless an administrator
//! changed it since; nothing is deactivated after a run that did not read the source to its end.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use provisio_tests::TestEnv;
use provisio_tests::fake_app::{Answer, FakeApp};
use serde_json::{Value, json};

use super::import::import;

const PUMP: Duration = Duration::from_secs(60);
const PAGE: usize = 3;

/// A source of the users numbered in `present`, `PAGE` a page, token paging.
async fn source(present: Arc<Mutex<BTreeSet<usize>>>) -> FakeApp {
    source_failing(present, Arc::new(AtomicBool::new(false))).await
}

/// The same, answering 400 to its second page while `broken` is set.
async fn source_failing(present: Arc<Mutex<BTreeSet<usize>>>, broken: Arc<AtomicBool>) -> FakeApp {
    FakeApp::start(move |r| {
        let page: usize = form_urlencoded::parse(r.query.as_bytes())
            .find(|(k, _)| k == "cursor")
            .and_then(|(_, v)| v.strip_prefix('p').and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        if page == 1 && broken.load(Ordering::SeqCst) {
            return Answer::json(400, json!({ "error": "bad cursor" }));
        }
        let all: Vec<usize> = present.lock().unwrap().iter().copied().collect();
        let users: Vec<Value> = all
            .iter()
            .skip(page * PAGE)
            .take(PAGE)
            .map(|i| json!({ "id": format!("src-{i}"), "email": format!("user{i}@corp.test") }))
            .collect();
        let mut body = json!({ "users": users });
        if (page + 1) * PAGE < all.len() {
            body["next"] = json!(format!("p{}", page + 1));
        }
        Answer::json(200, body)
    })
    .await
}

fn config(server: &FakeApp, max: u32) -> Value {
    json!({ "name": "HR", "request": { "method": "GET", "url": format!("{}/users?cursor=@Pagination", server.url) },
            "usersPath": "users", "pagination": { "nextPath": "next" },
            "mapping": { "externalId": "id", "email": "email" },
            "deactivateMissing": { "enabled": true, "maxDeactivations": max } })
}

/// Runs the import to its end, which must succeed; the job's report.
async fn run(env: &TestEnv, app: &str, import: &str, dry_run: bool) -> Value {
    let report = super::import::run(env, app, import, dry_run).await;
    assert_eq!(report["status"], "succeeded", "{report:#}");
    report
}

/// Every user's `active` by userName.
async fn actives(env: &TestEnv) -> BTreeMap<String, bool> {
    env.list_all("/admin/users")
        .await
        .iter()
        .map(|u| (u["userName"].as_str().unwrap().to_string(), u["active"] == true))
        .collect()
}

fn inactive(actives: &BTreeMap<String, bool>) -> Vec<&str> {
    actives
        .iter()
        .filter(|(_, a)| !**a)
        .map(|(n, _)| n.as_str())
        .collect()
}

#[tokio::test]
async fn users_missing_from_a_complete_run_are_deactivated_and_active_again_when_back() {
    let env = TestEnv::new().await;
    let present = Arc::new(Mutex::new((1..=10).collect::<BTreeSet<usize>>()));
    let server = source(present.clone()).await;
    let app = env.app("HRIS").await;
    let id = import(&env, &app, config(&server, 5)).await;
    // Users the import did not bring: one of the administrator's, and one that claims the
    // source and an account id but was never imported (no import key names it).
    env.user("admin-made").await;
    let claimed = env.user("claims-the-source").await;
    env.clients
        .dynamodb
        .update_item()
        .table_name(&env.resources.config.table)
        .key("pk", AttributeValue::S(format!("USER#{claimed}")))
        .key("sk", AttributeValue::S("PROFILE".into()))
        .update_expression("SET sourceAppId = :a, externalId = :e")
        .expression_attribute_values(":a", AttributeValue::S(app.clone()))
        .expression_attribute_values(":e", AttributeValue::S("src-99".into()))
        .send()
        .await
        .expect("claim the source");

    let first = run(&env, &app, &id, false).await;
    assert_eq!(first["created"], 10, "{first:#}");
    assert_eq!(
        first["deactivation"],
        json!({ "status": "done", "missing": 0, "deactivated": 0, "approved": false })
    );

    // Three leave the source: the next run deactivates exactly them.
    present.lock().unwrap().retain(|i| ![2, 5, 9].contains(i));
    let second = run(&env, &app, &id, false).await;
    assert_eq!(
        (second["unchanged"].clone(), second["deactivation"].clone()),
        (
            json!(7),
            json!({ "status": "done", "missing": 3, "deactivated": 3, "approved": false })
        ),
        "{second:#}"
    );
    let now = actives(&env).await;
    assert_eq!(
        inactive(&now),
        vec!["user2@corp.test", "user5@corp.test", "user9@corp.test"]
    );
    assert_eq!(now.len(), 12);
    // Their deactivations are one change of three, from the source app (not sent back to it).
    let events: Vec<Value> = env
        .changes()
        .await
        .into_iter()
        .filter(|e| e["kind"] == "user_deactivated")
        .collect();
    assert_eq!(events.len(), 3, "{events:#?}");
    assert!(
        events
            .iter()
            .all(|e| e["batch"] == 3 && e["origin"] == json!(app)),
        "{events:#?}"
    );

    // 5 and 9 come back. 5 is active again; 9 was edited by an administrator since, and 1 was
    // deactivated by one: both stay as the administrator left them. 2 is not counted again.
    let users = env.list_all("/admin/users").await;
    let id_of = |name: &str| {
        users.iter().find(|u| u["userName"] == name).expect(name)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let edited = env
        .patch(
            &format!("/admin/users/{}", id_of("user9@corp.test")),
            json!({ "displayName": "Nine" }),
        )
        .await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    let off = env
        .patch(
            &format!("/admin/users/{}", id_of("user1@corp.test")),
            json!({ "active": false }),
        )
        .await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    present.lock().unwrap().extend([5, 9]);
    let third = run(&env, &app, &id, false).await;
    assert_eq!(third["updated"], 1, "{third:#}");
    assert_eq!(
        third["deactivation"],
        json!({ "status": "done", "missing": 0, "deactivated": 0, "approved": false })
    );
    assert_eq!(
        inactive(&actives(&env).await),
        vec!["user1@corp.test", "user2@corp.test", "user9@corp.test"]
    );

    // A run cut short by the page limit did not read the source to its end: nobody is missing.
    present.lock().unwrap().retain(|i| *i != 10);
    let mut limited = config(&server, 5);
    limited["pageLimit"] = json!(1);
    let saved = env
        .call(
            provisio_tests::Call::new("PUT", &format!("/admin/apps/{app}/import-configs/{id}")).json(limited),
        )
        .await;
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    let cut = run(&env, &app, &id, false).await;
    assert_eq!(cut["deactivation"]["status"], "skipped", "{cut:#}");
    assert!(
        cut["deactivation"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("the page limit")),
        "{cut:#}"
    );
    assert_eq!(
        inactive(&actives(&env).await),
        vec!["user1@corp.test", "user2@corp.test", "user9@corp.test"]
    );
}

#[tokio::test]
async fn a_source_answering_an_empty_list_holds_every_deactivation_until_approved() {
    let env = TestEnv::new().await;
    let present = Arc::new(Mutex::new((1..=8).collect::<BTreeSet<usize>>()));
    let server = source(present.clone()).await;
    let app = env.app("HRIS").await;
    let id = import(&env, &app, config(&server, 5)).await;
    run(&env, &app, &id, false).await;
    // A second import config on the app is refused while this one decides lifecycles: users carry
    // their source app, not the import.
    let second = env
        .post(&format!("/admin/apps/{app}/import-configs"), json!({ "name": "other", "request": { "method": "GET", "url": format!("{}/users", server.url) },
                                                                     "usersPath": "users", "mapping": { "externalId": "id", "email": "email" } }))
        .await;
    assert_eq!(
        (second.status, second.field()),
        (409, Some("deactivateMissing")),
        "{:?}",
        second.body
    );

    present.lock().unwrap().clear();
    // A dry run counts who would go and writes nothing.
    let dry = run(&env, &app, &id, true).await;
    assert_eq!(dry["deactivation"]["status"], "counted", "{dry:#}");
    assert_eq!(dry["deactivation"]["missing"], 8);
    let refused = env
        .post(
            &format!(
                "/admin/jobs/{}/approve-deactivations",
                dry["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, 409, "a dry run has nothing to approve");

    let held = run(&env, &app, &id, false).await;
    assert_eq!(held["deactivation"]["status"], "held", "{held:#}");
    assert_eq!(held["deactivation"]["missing"], 8);
    assert_eq!(held["deactivation"]["deactivated"], 0);
    assert!(inactive(&actives(&env).await).is_empty());

    let job = held["id"].as_str().unwrap();
    let approved = env
        .post(&format!("/admin/jobs/{job}/approve-deactivations"), json!({}))
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(approved.body["status"], "running");
    env.pump_imports(&env.importer(), PUMP).await;
    let done = env.get(&format!("/admin/jobs/{job}")).await.body;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(
        done["deactivation"],
        json!({ "status": "done", "missing": 8, "deactivated": 8, "approved": true })
    );
    assert_eq!(inactive(&actives(&env).await).len(), 8);
    let again = env
        .post(&format!("/admin/jobs/{job}/approve-deactivations"), json!({}))
        .await;
    assert_eq!(again.status, 409, "{:?}", again.body);

    // A held run superseded by a later run can't be approved: the later run's view counts.
    present.lock().unwrap().extend(1..=8);
    run(&env, &app, &id, false).await;
    present.lock().unwrap().clear();
    let stale = run(&env, &app, &id, false).await;
    assert_eq!(stale["deactivation"]["status"], "held");
    run(&env, &app, &id, true).await;
    let late = env
        .post(
            &format!(
                "/admin/jobs/{}/approve-deactivations",
                stale["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(late.status, 409, "{:?}", late.body);
    assert!(inactive(&actives(&env).await).is_empty());
}

#[tokio::test]
async fn only_an_apps_one_import_may_deactivate_missing_users() {
    let env = TestEnv::new().await;
    let server = source(Arc::new(Mutex::new(BTreeSet::new()))).await;
    let app = env.app("HRIS").await;
    let mut plain = config(&server, 5);
    plain["deactivateMissing"]["enabled"] = json!(false);
    import(&env, &app, plain).await;
    let refused = env
        .post(&format!("/admin/apps/{app}/import-configs"), config(&server, 5))
        .await;
    assert_eq!(
        (refused.status, refused.field()),
        (400, Some("deactivateMissing.enabled")),
        "{:?}",
        refused.body
    );
}

/// A run resumed after some of its pages were read: those pages and the rest were read at
/// different times, so nobody is deactivated for being missing from it.
#[tokio::test]
async fn a_resumed_run_deactivates_nobody() {
    let env = TestEnv::new().await;
    let present = Arc::new(Mutex::new((1..=9).collect::<BTreeSet<usize>>()));
    let broken = Arc::new(AtomicBool::new(false));
    let server = source_failing(present.clone(), broken.clone()).await;
    let app = env.app("HRIS").await;
    let id = import(&env, &app, config(&server, 5)).await;
    run(&env, &app, &id, false).await;

    present.lock().unwrap().remove(&8);
    broken.store(true, Ordering::SeqCst);
    let reply = env
        .post(&format!("/admin/apps/{app}/import-configs/{id}/runs"), json!({}))
        .await;
    let job = reply.body["id"].as_str().expect("job id").to_string();
    env.pump_imports(&env.importer(), PUMP).await;
    let failed = env.get(&format!("/admin/jobs/{job}")).await.body;
    assert_eq!(
        (failed["status"].clone(), failed["pages"].clone()),
        (json!("failed"), json!(1)),
        "{failed:#}"
    );

    broken.store(false, Ordering::SeqCst);
    let resumed = env.post(&format!("/admin/jobs/{job}/resume"), json!({})).await;
    assert_eq!(resumed.status, 200, "{:?}", resumed.body);
    env.pump_imports(&env.importer(), PUMP).await;
    let done = env.get(&format!("/admin/jobs/{job}")).await.body;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(done["deactivation"]["status"], "skipped", "{done:#}");
    assert!(
        done["deactivation"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("resumed")),
        "{done:#}"
    );
    assert!(inactive(&actives(&env).await).is_empty());
    // The next whole run deactivates the one gone.
    let next = run(&env, &app, &id, false).await;
    assert_eq!(next["deactivation"]["deactivated"], 1, "{next:#}");
    assert_eq!(inactive(&actives(&env).await), vec!["user8@corp.test"]);
}

/// The sweep deactivates only while its run is as the sweep read it: a run changed under it (a
/// cancel, a failure) stops the sweep at its first deactivation, which writes nothing.
#[tokio::test]
async fn a_sweep_whose_run_changed_under_it_deactivates_nobody() {
    use provisio::ids::AppId;
    use provisio::import::job::{Deactivation, Job, JobStatus};

    let env = TestEnv::new().await;
    let present = Arc::new(Mutex::new((1..=6).collect::<BTreeSet<usize>>()));
    let server = source(present.clone()).await;
    let app = env.app("HRIS").await;
    let id = import(&env, &app, config(&server, 1)).await;
    run(&env, &app, &id, false).await;
    // Two leave the source; past the threshold of one, the run ends with them held.
    present.lock().unwrap().retain(|i| ![2, 5].contains(i));
    let held = run(&env, &app, &id, false).await;
    assert_eq!(
        (
            held["deactivation"]["status"].clone(),
            held["deactivation"]["missing"].clone()
        ),
        (json!("held"), json!(2)),
        "{held:#}"
    );

    // The run as an approval hands it to its sweep (running, approved for the two held), and the
    // stored run moved on after the sweep read it (as a cancel does).
    let importer = env.importer();
    let job_id = held["id"].as_str().expect("job id");
    let stored = importer.get_job(job_id).await.expect("the run");
    let as_read = Job {
        status: JobStatus::Running,
        deactivation: Some(Deactivation {
            missing: 2,
            ..Deactivation::pending(true)
        }),
        ..stored
    };
    env.clients
        .dynamodb
        .update_item()
        .table_name(&env.resources.config.table)
        .key("pk", AttributeValue::S(format!("JOB#{job_id}")))
        .key("sk", AttributeValue::S("PROFILE".into()))
        .update_expression("ADD version :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .expect("move the run on");
    let app_id = AppId::parse(&app).expect("an app id");
    let import_config = importer
        .configs
        .get_import(&app_id, &id)
        .await
        .expect("the import");
    let events_before = env.changes().await.len();

    let swept = provisio::import::missing::sweep(&importer.directory, &as_read, &import_config, 0).await;
    let error = swept.expect_err("the run changed: the sweep stops");
    assert!(error.to_string().contains("changed during its sweep"), "{error}");
    assert!(
        inactive(&actives(&env).await).is_empty(),
        "nobody deactivated: {:?}",
        actives(&env).await
    );
    assert_eq!(env.changes().await.len(), events_before, "no event announced");
}
