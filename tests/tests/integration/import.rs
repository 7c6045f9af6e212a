//! Paginated import against a real paginated API on 127.0.0.1: every pagination mode, every stop
//! condition, faults, and a page handled twice.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use provisio_tests::fake_app::{Answer, FakeApp, Received};
use provisio_tests::{Call, TestEnv};
use serde_json::{Value, json};

const PUMP: Duration = Duration::from_secs(60);
const PAGE: usize = 3;

fn record(i: usize) -> Value {
    json!({ "id": format!("src-{i}"), "profile": { "email": format!("user{i}@corp.test"), "first": format!("F{i}") },
            "dept": format!("D{}", i % 3), "level": i })
}

fn query(r: &Received, name: &str) -> Option<String> {
    form_urlencoded::parse(r.query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A source of `total` users, `PAGE` a page, in every pagination style.
async fn source(total: usize) -> (FakeApp, Arc<OnceLock<String>>) {
    let base = Arc::new(OnceLock::<String>::new());
    let me = base.clone();
    let all: Vec<Value> = (1..=total).map(record).collect();
    let slice = move |from: usize| all.iter().skip(from).take(PAGE).cloned().collect::<Vec<_>>();
    let server = FakeApp::start(move |r| {
        let number = |name: &str| query(r, name).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        match r.path.as_str() {
            "/token" => {
                let page = query(r, "cursor")
                    .and_then(|c| c.strip_prefix('p').map(str::to_string))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let users = slice(page * PAGE);
                let mut body = json!({ "users": { "data": users } });
                if (page + 1) * PAGE < total {
                    body["next"] = json!(format!("p{}", page + 1));
                }
                Answer::json(200, body)
            }
            "/offset" => {
                let offset = number("offset");
                Answer::json(
                    200,
                    json!({ "data": slice(offset), "meta": { "nextOffset": offset + PAGE } }),
                )
            }
            "/url" => {
                let page = number("page");
                let mut body = json!({ "users": slice((page - 1) * PAGE) });
                if page * PAGE < total {
                    body["links"] = json!({ "next": format!("{}/url?page={}", me.get().unwrap(), page + 1) });
                }
                Answer::json(200, body)
            }
            "/pages" => {
                let first = number("first");
                Answer::json(200, json!({ "items": slice((number("page") - first) * PAGE) }))
            }
            "/all" => Answer::json(
                200,
                Value::Array(
                    slice(0)
                        .into_iter()
                        .chain((PAGE..total).step_by(PAGE).flat_map(&slice))
                        .collect(),
                ),
            ),
            "/form" => {
                let form = r.form();
                let page: usize = form.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
                assert_eq!(
                    r.header("content-type"),
                    Some("application/x-www-form-urlencoded")
                );
                Answer::json(200, json!({ "result": { "users": slice((page - 1) * PAGE) } }))
            }
            "/loop" => Answer::json(200, json!({ "users": slice(0), "next": "same" })),
            _ => Answer::json(404, json!({})),
        }
    })
    .await;
    let _ = base.set(server.url.clone());
    (server, base)
}

fn mapping() -> Value {
    json!({ "externalId": "id", "email": "profile.email", "givenName": "profile.first",
            "attributes": { "department": "dept", "level": "level" } })
}

pub(crate) async fn import(env: &TestEnv, app: &str, config: Value) -> String {
    let reply = env
        .post(&format!("/admin/apps/{app}/import-configs"), config)
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().expect("id").to_string()
}

/// Runs the import to its end; the job's report.
pub(crate) async fn run(env: &TestEnv, app: &str, import: &str, dry_run: bool) -> Value {
    let reply = env
        .post(
            &format!("/admin/apps/{app}/import-configs/{import}/runs"),
            json!({ "dryRun": dry_run }),
        )
        .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let job = reply.body["id"].as_str().expect("job id").to_string();
    env.pump_imports(&env.importer(), PUMP).await;
    let report = env.get(&format!("/admin/jobs/{job}")).await;
    assert_eq!(report.status, 200);
    report.body
}

fn counts(report: &Value) -> (u64, u64, u64, u64, u64, u64) {
    let n = |k: &str| report[k].as_u64().unwrap_or(u64::MAX);
    (
        n("pages"),
        n("seen"),
        n("created"),
        n("updated"),
        n("unchanged"),
        n("failed"),
    )
}

#[tokio::test]
async fn every_pagination_mode_imports_every_user() {
    let env = TestEnv::new().await;
    let (server, _) = source(7).await;
    let app = env.app("HRIS").await;
    let base = &server.url;
    let get = |url: String| json!({ "method": "GET", "url": url });
    let cases = [
        (
            "next-page token",
            json!({ "request": get(format!("{base}/token?cursor=@Pagination")), "usersPath": "users.data",
                                     "pagination": { "nextPath": "next" } }),
            3,
        ),
        (
            "next-page offset",
            json!({ "request": get(format!("{base}/offset?offset=@Pagination")), "usersPath": "data",
                                      "pagination": { "nextPath": "meta.nextOffset" } }),
            4,
        ),
        (
            "next-page URL",
            json!({ "request": get(format!("{base}/url?page=1")), "usersPath": "users",
                                   "pagination": { "nextPath": "links.next" } }),
            3,
        ),
        (
            "page numbers from 0",
            json!({ "request": get(format!("{base}/pages?first=0&page=@Pagination")), "usersPath": "items",
                                         "pagination": { "startPage": 0 } }),
            4,
        ),
        (
            "page numbers from 1",
            json!({ "request": get(format!("{base}/pages?first=1&page=@Pagination")), "usersPath": "items",
                                         "pagination": { "startPage": 1 } }),
            4,
        ),
        (
            "no pagination",
            json!({ "request": get(format!("{base}/all")) }),
            1,
        ),
        (
            "form body",
            json!({ "request": { "method": "POST", "url": format!("{base}/form"), "bodyFormat": "form",
                                            "body": { "page": "@Pagination", "size": 3 } },
                               "usersPath": "result.users", "pagination": { "startPage": 1 } }),
            4,
        ),
    ];
    for (i, (mode, mut config, pages)) in cases.into_iter().enumerate() {
        config["name"] = json!(mode);
        config["mapping"] = mapping();
        let import_id = import(&env, &app, config).await;
        let report = run(&env, &app, &import_id, false).await;
        assert_eq!(report["status"], "succeeded", "{mode}: {report:#}");
        let expected = if i == 0 {
            (pages, 7, 7, 0, 0, 0)
        } else {
            (pages, 7, 0, 0, 7, 0)
        };
        assert_eq!(counts(&report), expected, "{mode}: {report:#}");
    }
    // The users, as mapped, once each.
    let users = env.get("/admin/users?limit=50").await.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(users.len(), 7);
    let u3 = users.iter().find(|u| u["externalId"] == "src-3").expect("src-3");
    assert_eq!(u3["email"], "user3@corp.test");
    assert_eq!(u3["userName"], "user3@corp.test");
    assert_eq!(u3["givenName"], "F3");
    assert_eq!(u3["attributes"], json!({ "department": "D0", "level": 3 }));
    assert_eq!(u3["sourceAppId"], app.as_str());
}

#[tokio::test]
async fn runs_stop_at_the_page_limit_and_at_a_key_seen_before() {
    let env = TestEnv::new().await;
    let (server, _) = source(20).await;
    let app = env.app("HRIS").await;
    let limited = import(
        &env,
        &app,
        json!({ "name": "limited", "request": { "method": "GET", "url": format!("{}/token?cursor=@Pagination", server.url) },
                "usersPath": "users.data", "pagination": { "nextPath": "next" }, "pageLimit": 2, "mapping": mapping() }),
    )
    .await;
    let report = run(&env, &app, &limited, false).await;
    assert_eq!(counts(&report), (2, 6, 6, 0, 0, 0));
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("page limit"),
        "{report:#}"
    );

    let looping = import(
        &env,
        &app,
        json!({ "name": "loop", "request": { "method": "GET", "url": format!("{}/loop?c=@Pagination", server.url) },
                "usersPath": "users", "pagination": { "nextPath": "next" }, "mapping": mapping() }),
    )
    .await;
    let report = run(&env, &app, &looping, false).await;
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["pages"], 2, "{report:#}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("seen before"),
        "{report:#}"
    );
    let jobs = env.get(&format!("/admin/apps/{app}/jobs")).await;
    assert_eq!(jobs.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(jobs.body["items"][0]["id"], report["id"], "newest first");
}

#[tokio::test]
async fn bad_records_are_reported_while_the_rest_import() {
    let env = TestEnv::new().await;
    // With unique emails, a second record with an address is a failure (off, see below).
    let on = env.patch("/admin/settings", json!({ "uniqueEmail": true })).await;
    assert_eq!(on.status, 200, "{:?}", on.body);
    let records = json!([
        record(1),
        { "id": "src-2", "profile": { "first": "NoMail" } },
        { "id": "src-3", "profile": { "email": "not-an-address" } },
        { "id": "src-4", "profile": { "email": "user1@corp.test" } },
        { "id": "src-5", "profile": { "email": "u5@corp.test", "first": { "nested": true } } },
        { "profile": { "email": "u6@corp.test" } },
        record(7),
    ]);
    let server = FakeApp::start(move |_| Answer::json(200, records.clone())).await;
    let app = env.app("HRIS").await;
    let id = import(&env, &app, json!({ "name": "n", "request": { "method": "GET", "url": format!("{}/", server.url) }, "mapping": mapping() })).await;
    let report = run(&env, &app, &id, false).await;
    assert_eq!(counts(&report), (1, 7, 2, 0, 0, 5), "{report:#}");
    let reasons: Vec<(u64, String)> = report["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            (
                f["index"].as_u64().unwrap(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reason = |i: u64| {
        reasons
            .iter()
            .find(|(x, _)| *x == i)
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    assert!(reason(1).starts_with("missing email"), "{reasons:?}");
    assert!(reason(2).starts_with("invalid value"), "{reasons:?}");
    assert!(reason(3).starts_with("duplicate email"), "{reasons:?}");
    assert!(reason(4).contains("givenName"), "{reasons:?}");
    assert!(reason(5).starts_with("missing external id"), "{reasons:?}");
    assert_eq!(
        env.get("/admin/users").await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Imported users are directory changes like any other: their events went to the dispatch queue.
    assert_eq!(env.queue_depth(false).await, 2);
}

/// Emails unique or not (off by default), an import matches an account to a directory user by
/// email only when exactly one user has that address.
#[tokio::test]
async fn matching_by_email_needs_exactly_one_holder() {
    let env = TestEnv::new().await;
    let user = |name: &str, email: &str| {
        let (name, email) = (name.to_string(), email.to_string());
        let env = &env;
        async move {
            let reply = env
                .post("/admin/users", json!({ "userName": name, "email": email }))
                .await;
            assert_eq!(reply.status, 201, "{:?}", reply.body);
            reply.body["id"].as_str().expect("id").to_string()
        }
    };
    let one = user("one", "one@corp.test").await;
    user("twin-a", "twin@corp.test").await;
    user("twin-b", "TWIN@corp.test").await;
    let records = json!([
        { "id": "a-1", "profile": { "email": "One@corp.test", "first": "Uno" } },
        { "id": "a-2", "profile": { "email": "twin@corp.test" } },
        { "id": "a-3", "login": "pat", "profile": { "email": "pair@corp.test" } },
        { "id": "a-4", "login": "sam", "profile": { "email": "pair@corp.test" } },
    ]);
    let server = FakeApp::start(move |_| Answer::json(200, records.clone())).await;
    let app = env.app("HRIS").await;
    let mut mapping = mapping();
    mapping["userName"] = json!("login");
    let id = import(&env, &app, json!({ "name": "n", "request": { "method": "GET", "url": format!("{}/", server.url) }, "mapping": mapping })).await;
    let report = run(&env, &app, &id, false).await;
    // a-1 links the one holder of its address; a-2 has two candidates; a-3 and a-4 are two
    // accounts with one address, two users.
    assert_eq!(counts(&report), (1, 4, 2, 1, 0, 1), "{report:#}");
    assert_eq!(report["failures"][0]["index"], 1);
    assert_eq!(
        report["failures"][0]["reason"],
        "ambiguous email: 2 users have it"
    );
    let linked = env.get(&format!("/admin/users/{one}")).await.body;
    assert_eq!(
        (linked["externalId"].clone(), linked["givenName"].clone()),
        (json!("a-1"), json!("Uno"))
    );
    let users = env.list_all("/admin/users").await;
    let pair = users.iter().filter(|u| u["email"] == "pair@corp.test").count();
    assert_eq!(pair, 2, "{users:#?}");

    // Run again: every account matches its own user by its key, the twins still can't be told
    // apart, and nothing is created twice.
    let report = run(&env, &app, &id, false).await;
    assert_eq!(counts(&report), (1, 4, 0, 0, 3, 1), "{report:#}");
    assert_eq!(env.list_all("/admin/users").await.len(), users.len());
}

/// Two new accounts mapped to one userName in one page: one user, one per-record failure, and the
/// rest of the page written (two operations on one guard item in one transaction would make
/// DynamoDB refuse the whole transaction outright).
#[tokio::test]
async fn two_records_with_one_user_name_fail_one_record_not_the_page() {
    let env = TestEnv::new().await;
    let records = json!([
        { "id": "b-1", "login": "same", "profile": { "email": "b1@corp.test" } },
        { "id": "b-2", "login": "same", "profile": { "email": "b2@corp.test" } },
        { "id": "b-3", "login": "other", "profile": { "email": "b3@corp.test" } },
    ]);
    let server = FakeApp::start(move |_| Answer::json(200, records.clone())).await;
    let app = env.app("HRIS").await;
    let mut mapping = mapping();
    mapping["userName"] = json!("login");
    let id = import(&env, &app, json!({ "name": "n", "request": { "method": "GET", "url": format!("{}/", server.url) }, "mapping": mapping })).await;
    let report = run(&env, &app, &id, false).await;
    assert_eq!(counts(&report), (1, 3, 2, 0, 0, 1), "{report:#}");
    assert_eq!(
        report["failures"][0]["reason"],
        "duplicate userName or import key: another user has it"
    );
}

#[tokio::test]
async fn a_dry_run_reports_without_writing() {
    let env = TestEnv::new().await;
    let (server, _) = source(5).await;
    let app = env.app("HRIS").await;
    let id = import(&env, &app, json!({ "name": "n", "request": { "method": "GET", "url": format!("{}/token?cursor=@Pagination", server.url) },
                                        "usersPath": "users.data", "pagination": { "nextPath": "next" }, "mapping": mapping() })).await;
    let before = env.item_count().await;
    let report = run(&env, &app, &id, true).await;
    assert_eq!(report["dryRun"], true);
    assert_eq!(counts(&report), (2, 5, 5, 0, 0, 0));
    // Only the job and its run lock were written.
    assert_eq!(env.item_count().await, before + 2);
    assert!(
        env.get("/admin/users").await.body["items"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
}

#[tokio::test]
async fn a_page_delivered_twice_or_redelivered_mid_page_counts_once() {
    let env = TestEnv::new().await;
    let (server, _) = source(7).await;
    let app = env.app("HRIS").await;
    let config = json!({ "name": "n", "request": { "method": "GET", "url": format!("{}/token?cursor=@Pagination", server.url) },
                         "usersPath": "users.data", "pagination": { "nextPath": "next" }, "mapping": mapping() });
    let id = import(&env, &app, config.clone()).await;
    let reply = env
        .post(&format!("/admin/apps/{app}/import-configs/{id}/runs"), json!({}))
        .await;
    let job = reply.body["id"].as_str().expect("job").to_string();
    // A second run while this one goes on is refused.
    let again = env
        .post(&format!("/admin/apps/{app}/import-configs/{id}/runs"), json!({}))
        .await;
    assert_eq!((again.status, again.field()), (409, Some("import")));

    // The importer "stopped" after writing two of page 1's users, before its checkpoint.
    let importer = env.importer();
    let mapping_config: provisio::import::config::ImportMapping = serde_json::from_value(mapping()).unwrap();
    let partial = provisio::import::upsert::Target {
        directory: &importer.directory,
        app: &provisio::ids::AppId::parse(&app).unwrap(),
        job: &job,
        page: 1,
        dry_run: false,
        lifecycle: false,
    };
    let written = partial
        .upsert(&mapping_config, &[record(1), record(2)])
        .await
        .expect("partial page");
    assert_eq!(written.counts.created, 2);
    // Page 1 is redelivered (the original message), and a copy of it arrives later too.
    env.pump_imports(&importer, PUMP).await;
    let queue = env.resources.queue_urls["import"].clone();
    let copy = json!({ "jobId": job, "page": 1, "key": "" }).to_string();
    env.clients
        .sqs
        .send_message()
        .queue_url(&queue)
        .message_body(copy)
        .send()
        .await
        .expect("send");
    env.pump_imports(&importer, PUMP).await;

    let report = env.get(&format!("/admin/jobs/{job}")).await.body;
    assert_eq!(counts(&report), (3, 7, 7, 0, 0, 0), "{report:#}");
    assert_eq!(
        env.get("/admin/users").await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(7)
    );
    let token_calls = server.received().iter().filter(|r| r.path == "/token").count();
    assert_eq!(token_calls, 3, "each page fetched once");
}

#[tokio::test]
async fn failing_pages_are_retried_then_fail_the_run_keeping_the_pages_done() {
    let env = TestEnv::new().await;
    // Page 1 fine; page 2 answers 503, then HTML, then no users key, then users of the wrong type:
    // four attempts, then the run fails.
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let server = FakeApp::start(move |r| {
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match query(r, "cursor").as_deref() {
            Some("") | None => Answer::json(200, json!({ "users": [record(1), record(2)], "next": "p1" })),
            _ if n == 2 => Answer::text(200, "<html>oops</html>"),
            _ if n == 3 => Answer::json(200, json!({ "people": [] })),
            _ if n == 4 => Answer::json(200, json!({ "users": "nobody" })),
            _ => Answer::json(503, json!({ "error": "down" })),
        }
    })
    .await;
    let app = env.app("HRIS").await;
    let id = import(&env, &app, json!({ "name": "n", "request": { "method": "GET", "url": format!("{}/u?cursor=@Pagination", server.url) },
                                        "usersPath": "users", "pagination": { "nextPath": "next" }, "maxAttempts": 4,
                                        "mapping": mapping() })).await;
    let report = run(&env, &app, &id, false).await;
    assert_eq!(report["status"], "failed", "{report:#}");
    assert_eq!(counts(&report), (1, 2, 2, 0, 0, 0));
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("page 2 failed after 4 attempt(s)") && reason.contains("users is not a list"),
        "{reason}"
    );
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 5);
    // The lock is released: a new run may start.
    let again = env
        .post(&format!("/admin/apps/{app}/import-configs/{id}/runs"), json!({}))
        .await;
    assert_eq!(again.status, 202);
}

#[tokio::test]
async fn import_configs_are_checked_when_saved() {
    let env = TestEnv::new().await;
    let app = env.app("HRIS").await;
    let base = json!({ "name": "n", "request": { "method": "GET", "url": "https://hris.example.com/users" }, "mapping": mapping() });
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|v| {
                v["mapping"].as_object_mut().unwrap().remove("email");
            }),
            "mapping.email",
        ),
        (
            with(&|v| {
                v["mapping"].as_object_mut().unwrap().remove("externalId");
            }),
            "mapping.externalId",
        ),
        (
            with(&|v| v["request"]["url"] = json!("https://x.io/u?c=@Pagination")),
            "request.url",
        ),
        (
            with(&|v| v["request"]["url"] = json!("https://x.io/u?c=@email")),
            "request.url",
        ),
        (with(&|v| v["usersPath"] = json!("users..data")), "usersPath"),
        (with(&|v| v["schedule"] = json!("every day")), "schedule"),
        (with(&|v| v["pageLimit"] = json!(0)), "pageLimit"),
        (
            with(&|v| v["mapping"]["attributes"] = json!({ "a.b": "x" })),
            "mapping.attributes.a.b",
        ),
    ];
    for (body, field) in cases {
        let reply = env
            .post(&format!("/admin/apps/{app}/import-configs"), body.clone())
            .await;
        assert_eq!(
            (reply.status, reply.field()),
            (400, Some(field)),
            "{body}: {:?}",
            reply.body
        );
    }
    let created = env
        .post(
            &format!("/admin/apps/{app}/import-configs"),
            with(&|v| v["schedule"] = json!("rate(6 hours)")),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["schedule"], "rate(6 hours)");
    let id = created.body["id"].as_str().unwrap();
    let listed = env.get(&format!("/admin/apps/{app}/import-configs")).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
    let path = format!("/admin/apps/{app}/import-configs/{id}");
    let replaced = env
        .call(
            Call::new("PUT", &path)
                .json(base.clone())
                .header("If-Match", "W/\"1\""),
        )
        .await;
    assert_eq!(
        (replaced.status, replaced.body["version"].clone()),
        (200, json!(2))
    );
    assert_eq!(env.delete(&path).await.status, 204);
    assert_eq!(env.get(&path).await.status, 404);
}

#[tokio::test]
async fn the_schedule_starts_due_imports_once() {
    let env = TestEnv::new().await;
    let (server, _) = source(4).await;
    let app = env.app("HRIS").await;
    let scheduled = import(
        &env,
        &app,
        json!({ "name": "hourly", "request": { "method": "GET", "url": format!("{}/all", server.url) },
                "schedule": "rate(1 hour)", "mapping": mapping() }),
    )
    .await;
    import(
        &env,
        &app,
        json!({ "name": "manual", "request": { "method": "GET", "url": format!("{}/all", server.url) },
                               "mapping": mapping() }),
    )
    .await;
    // Two ticks at once (two schedule deliveries, or a tick and its retry): one run.
    let (a, b) = (env.importer(), env.importer());
    let (x, y) = tokio::join!(a.tick(), b.tick());
    assert_eq!(x.expect("tick") + y.expect("tick"), 1);
    // While it runs, and then for the rest of the hour, the next ticks start nothing.
    assert_eq!(a.tick().await.expect("tick"), 0);
    env.pump_imports(&a, PUMP).await;
    assert_eq!(a.tick().await.expect("tick"), 0);
    let jobs = env.get(&format!("/admin/apps/{app}/jobs")).await.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["importId"], scheduled.as_str());
    assert_eq!(jobs[0]["trigger"], "schedule");
    assert_eq!(jobs[0]["status"], "succeeded");
    assert_eq!(jobs[0]["created"], 4);
}

#[tokio::test]
async fn an_authorized_import_reads_its_secret_once_for_all_pages() {
    let env = TestEnv::new().await;
    let server = FakeApp::start(|r| {
        if r.header("authorization") != Some("Bearer src-token") {
            return Answer::json(401, json!({}));
        }
        let page = query(r, "cursor")
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = json!({ "users": [record(page + 1)] });
        if page < 3 {
            body["next"] = json!((page + 1).to_string());
        }
        Answer::json(200, body)
    })
    .await;
    let app = env.app("HRIS").await;
    let auth = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "bearer", "name": "src", "token": "src-token" }),
        )
        .await;
    let id = import(
        &env,
        &app,
        json!({ "name": "n", "authId": auth.body["id"],
                "request": { "method": "GET", "url": format!("{}/u?cursor=@Pagination", server.url) },
                "usersPath": "users", "pagination": { "nextPath": "next" }, "mapping": mapping() }),
    )
    .await;
    env.requests.reset();
    let report = run(&env, &app, &id, false).await;
    assert_eq!(counts(&report), (4, 4, 4, 0, 0, 0), "{report:#}");
    let reads: u64 = env
        .requests
        .snapshot()
        .iter()
        .filter(|(k, _)| k.ends_with("GetSecretValue"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(reads, 1, "{:?}", env.requests.snapshot());
}

/// The import key (the account id at the source) is the importer's own: one user per account,
/// and an account whose user was deleted since comes back as a new user.
#[tokio::test]
async fn a_deleted_imported_user_comes_back_on_the_next_run() {
    let env = TestEnv::new().await;
    let (server, _) = source(4).await;
    let app = env.app("HRIS").await;
    let config = import(
        &env,
        &app,
        json!({ "name": "all", "request": { "method": "GET", "url": format!("{}/token?cursor=@Pagination", server.url) },
                "usersPath": "users.data", "pagination": { "nextPath": "next" }, "mapping": mapping() }),
    )
    .await;
    let first = run(&env, &app, &config, false).await;
    assert_eq!(counts(&first), (2, 4, 4, 0, 0, 0), "{first:#}");
    let users = env.get("/admin/users?limit=10").await.body["items"].clone();
    let gone = users[0]["id"].as_str().expect("id").to_string();
    assert_eq!(env.delete(&format!("/admin/users/{gone}")).await.status, 204);
    let second = run(&env, &app, &config, false).await;
    assert_eq!(counts(&second), (2, 4, 1, 0, 3, 0), "{second:#}");
    let third = run(&env, &app, &config, false).await;
    assert_eq!(
        counts(&third),
        (2, 4, 0, 0, 4, 0),
        "one user per account: {third:#}"
    );
}

/// The job of a run started through the admin API, as stored now.
async fn job(env: &TestEnv, id: &str) -> Value {
    let reply = env.get(&format!("/admin/jobs/{id}")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

async fn start(env: &TestEnv, app: &str, import: &str) -> String {
    let reply = env
        .post(
            &format!("/admin/apps/{app}/import-configs/{import}/runs"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    reply.body["id"].as_str().expect("job id").to_string()
}

#[tokio::test]
async fn a_cancelled_run_stops_and_resumes_where_it_stopped() {
    let env = TestEnv::new().await;
    let (server, _) = source(7).await;
    let app = env.app("HRIS").await;
    let import_id = import(&env, &app, json!({ "name": "n", "request": { "method": "GET", "url": format!("{}/token?cursor=@Pagination", server.url) },
                                               "usersPath": "users.data", "pagination": { "nextPath": "next" }, "mapping": mapping() })).await;
    // More tries than the queue delivers a message are refused: the queue would park the page.
    let refused = env
        .post(&format!("/admin/apps/{app}/import-configs"), json!({ "name": "m", "request": { "method": "GET", "url": format!("{}/token", server.url) },
                                                                     "usersPath": "users.data", "maxAttempts": 6, "mapping": mapping() }))
        .await;
    assert_eq!(
        (refused.status, refused.body["field"].clone()),
        (400, json!("maxAttempts")),
        "{:?}",
        refused.body
    );
    let id = start(&env, &app, &import_id).await;
    let cancelled = env.post(&format!("/admin/jobs/{id}/cancel"), json!({})).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["reason"], "cancelled by an administrator");
    let again = env.post(&format!("/admin/jobs/{id}/cancel"), json!({})).await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(job(&env, &id).await["pages"], 0);

    // Resumed while the cancelled run's page message is still queued: that one is dropped, the
    // resumed run's own goes on from its first page to the end, under the run lock.
    let resumed = env.post(&format!("/admin/jobs/{id}/resume"), json!({})).await;
    assert_eq!(resumed.status, 200, "{:?}", resumed.body);
    assert_eq!(resumed.body["status"], "running");
    let busy = env
        .post(
            &format!("/admin/apps/{app}/import-configs/{import_id}/runs"),
            json!({}),
        )
        .await;
    assert_eq!(busy.status, 409, "{:?}", busy.body);
    env.pump_imports(&env.importer(), PUMP).await;
    let report = job(&env, &id).await;
    assert_eq!(report["status"], "succeeded", "{report:#}");
    assert_eq!(counts(&report), (3, 7, 7, 0, 0, 0));
    assert_eq!(
        server.received().len(),
        3,
        "each page fetched once: the old run's message was dropped"
    );
    let done = env.post(&format!("/admin/jobs/{id}/resume"), json!({})).await;
    assert_eq!(done.status, 409, "a finished run has nothing to resume");
    let bad = env.post(&format!("/admin/jobs/{id}/restart"), json!({})).await;
    assert_eq!(bad.status, 404);
}

#[tokio::test]
async fn a_run_whose_first_page_cannot_be_queued_ends_failed_at_once() {
    let env = TestEnv::new().await;
    let (server, _) = source(4).await;
    let app = env.app("HRIS").await;
    let import_id = import(&env, &app, json!({ "name": "n", "request": { "method": "GET", "url": format!("{}/token?cursor=@Pagination", server.url) },
                                               "usersPath": "users.data", "pagination": { "nextPath": "next" }, "mapping": mapping() })).await;
    let mut config = env.resources.config.clone();
    config.import_queue_url = Some(format!("{}-missing", env.resources.queue_urls["import"]));
    let broken = provisio::import::importer::Importer::new(
        &env.clients,
        &config,
        provisio_tests::test_import_settings(),
    );
    let refused = broken
        .start(
            &provisio::ids::AppId::parse(&app).expect("app id"),
            &import_id,
            false,
            provisio::import::job::Trigger::Manual,
            None,
        )
        .await;
    assert!(refused.is_err(), "the send failed");
    let jobs = env.get(&format!("/admin/apps/{app}/jobs")).await.body;
    assert_eq!(jobs["items"][0]["status"], "failed", "{jobs:#}");
    assert!(
        jobs["items"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("page 1 could not be queued"),
        "{jobs:#}"
    );
    // The lock is released: a run starts now, not in a day.
    let id = start(&env, &app, &import_id).await;
    env.pump_imports(&env.importer(), PUMP).await;
    assert_eq!(job(&env, &id).await["status"], "succeeded");
}

#[tokio::test]
async fn a_stalled_run_is_failed_by_the_tick_and_resumes() {
    let env = TestEnv::new().await;
    let (server, _) = source(4).await;
    let app = env.app("HRIS").await;
    let import_id = import(&env, &app, json!({ "name": "n", "request": { "method": "GET", "url": format!("{}/token?cursor=@Pagination", server.url) },
                                               "usersPath": "users.data", "pagination": { "nextPath": "next" }, "mapping": mapping() })).await;
    let id = start(&env, &app, &import_id).await;
    // Its page message is lost (purged, as a dead-lettered one would be gone from the queue).
    env.clients
        .sqs
        .purge_queue()
        .queue_url(&env.resources.queue_urls["import"])
        .send()
        .await
        .expect("purge");
    let importer = env.importer();
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(
        importer.fail_stalled(now).await.expect("tick"),
        0,
        "a fresh run is not stalled"
    );
    let later = now + Duration::from_secs(3 * 3600);
    assert_eq!(importer.fail_stalled(later).await.expect("tick"), 1);
    let stalled = job(&env, &id).await;
    assert_eq!(stalled["status"], "failed", "{stalled:#}");
    assert!(
        stalled["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("no progress since"),
        "{stalled:#}"
    );
    assert_eq!(
        importer.fail_stalled(later).await.expect("tick"),
        0,
        "failed once"
    );
    let running = env
        .clients
        .dynamodb
        .query()
        .table_name(&env.resources.config.table)
        .index_name("gsi2")
        .key_condition_expression("gsi2pk = :p")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S("JOBS#RUNNING".into()),
        )
        .send()
        .await
        .expect("query");
    assert_eq!(running.count, 0, "an ended job leaves the running listing");

    let resumed = env.post(&format!("/admin/jobs/{id}/resume"), json!({})).await;
    assert_eq!(resumed.status, 200, "{:?}", resumed.body);
    env.pump_imports(&env.importer(), PUMP).await;
    let report = job(&env, &id).await;
    assert_eq!(report["status"], "succeeded", "{report:#}");
    assert_eq!(counts(&report), (2, 4, 4, 0, 0, 0));
}

/// A page message parked in the import dead-letter queue (the run still going) is put back by the
/// redrive call, and the run goes on from it.
#[tokio::test]
async fn a_dead_lettered_page_is_redriven_and_the_run_goes_on() {
    let env = TestEnv::new().await;
    let (server, _) = source(4).await;
    let app = env.app("HRIS").await;
    let import_id = import(&env, &app, json!({ "name": "n", "request": { "method": "GET", "url": format!("{}/token?cursor=@Pagination", server.url) },
                                               "usersPath": "users.data", "pagination": { "nextPath": "next" }, "mapping": mapping() })).await;
    let id = start(&env, &app, &import_id).await;
    // The first page's message moves to the dead-letter queue, as SQS's redrive policy would
    // move it after its last receive.
    let queue = env.resources.queue_urls["import"].clone();
    let dlq = env.resources.dlq_urls["import"].clone();
    let received = env
        .clients
        .sqs
        .receive_message()
        .queue_url(&queue)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    let message = received
        .messages
        .unwrap_or_default()
        .pop()
        .expect("the first page");
    env.clients
        .sqs
        .send_message()
        .queue_url(&dlq)
        .message_body(message.body.clone().unwrap())
        .send()
        .await
        .expect("park");
    env.clients
        .sqs
        .delete_message()
        .queue_url(&queue)
        .receipt_handle(message.receipt_handle.unwrap())
        .send()
        .await
        .expect("delete");

    let bad = env.post("/admin/imports/redrive", json!({ "limit": 0 })).await;
    assert_eq!((bad.status, bad.field()), (400, Some("limit")), "{:?}", bad.body);
    let moved = env.post("/admin/imports/redrive", json!({})).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body, json!({ "moved": 1, "skipped": 0 }));
    assert_eq!(provisio_tests::depth(&env.clients.sqs, &dlq).await, 0);
    env.pump_imports(&env.importer(), PUMP).await;
    let report = job(&env, &id).await;
    assert_eq!(report["status"], "succeeded", "{report:#}");
    assert_eq!(counts(&report), (2, 4, 4, 0, 0, 0));
}

#[tokio::test]
async fn a_page_that_errors_on_its_last_delivery_fails_the_run_instead_of_parking_it() {
    let env = TestEnv::new().await;
    let (server, _) = source(4).await;
    let app = env.app("HRIS").await;
    let auth = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "bearer", "name": "t", "token": "tok" }),
        )
        .await;
    let auth = auth.body["id"].as_str().expect("auth id").to_string();
    let import_id = import(&env, &app, json!({ "name": "n", "authId": auth,
                                               "request": { "method": "GET", "url": format!("{}/token?cursor=@Pagination", server.url) },
                                               "usersPath": "users.data", "pagination": { "nextPath": "next" }, "mapping": mapping() })).await;
    // The authorization's secret is gone from Secrets Manager: every delivery errors.
    env.clients
        .secrets
        .delete_secret()
        .secret_id(format!(
            "{}/apps/{app}/auth/{auth}",
            env.resources.config.secrets_prefix
        ))
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete the secret");
    let id = start(&env, &app, &import_id).await;
    env.pump_imports(&env.importer(), Duration::from_secs(120)).await;
    let report = job(&env, &id).await;
    assert_eq!(report["status"], "failed", "{report:#}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("page 1 failed on its last delivery"),
        "{report:#}"
    );
    assert!(server.received().is_empty());
    let dlq = &env.resources.dlq_urls["import"];
    assert_eq!(
        provisio_tests::depth(&env.clients.sqs, dlq).await,
        0,
        "nothing parked"
    );
}

#[tokio::test]
async fn long_runs_keep_a_small_job_item_and_every_failure_reason_up_to_the_cap() {
    let env = TestEnv::new().await;
    // 60 pages of 5 records, each without an id: 300 failures, 200 reasons kept.
    let server = FakeApp::start(move |r| {
        // Long opaque keys, `<page>-xxxx...`, as some APIs give.
        let page: usize = query(r, "page")
            .and_then(|p| p.split('-').next().and_then(|n| n.parse().ok()))
            .unwrap_or(1);
        let users: Vec<Value> = (0..5)
            .map(|i| json!({ "profile": { "email": format!("p{page}-{i}@corp.test") } }))
            .collect();
        let mut body = json!({ "users": users });
        if page < 60 {
            body["next"] = json!(format!("{}-{}", page + 1, "x".repeat(200)));
        }
        Answer::json(200, body)
    })
    .await;
    let app = env.app("HRIS").await;
    let import_id = import(&env, &app, json!({ "name": "n", "request": { "method": "GET", "url": format!("{}/u?page=@Pagination", server.url) },
                                               "usersPath": "users", "pagination": { "nextPath": "next", "startPage": 1 }, "mapping": mapping() })).await;
    let id = start(&env, &app, &import_id).await;
    env.pump_imports(&env.importer(), Duration::from_secs(300)).await;
    let report = job(&env, &id).await;
    assert_eq!(report["status"], "succeeded", "{report:#}");
    assert_eq!(
        (report["pages"].clone(), report["failed"].clone()),
        (json!(60), json!(300))
    );
    let failures = report["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 200, "the first 200 reasons");
    assert_eq!(
        (failures[0]["page"].clone(), failures[0]["index"].clone()),
        (json!(1), json!(0))
    );
    // The job item itself: no failures inline, the loop guard bounded.
    let item = env
        .raw_item(&format!("JOB#{id}"), "PROFILE")
        .await
        .expect("stored");
    let seen = item
        .get("seenKeys")
        .and_then(|v| v.as_l().ok())
        .map_or(0, Vec::len);
    assert!(seen <= 50, "{seen} keys kept");
    assert!(
        item.get("failures")
            .and_then(|v| v.as_l().ok())
            .is_none_or(Vec::is_empty)
    );
    let size: usize = item.iter().map(|(k, v)| k.len() + format!("{v:?}").len()).sum();
    assert!(size < 4_000, "the job item stays small: ~{size} bytes");
}

#[tokio::test]
async fn changes_an_import_writes_are_not_sent_back_to_the_app_they_came_from() {
    use provisio_tests::fake_app::UsersApi;
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(3600));
    let server = api.start().await;
    // The app already has Bob, whom the directory does not know yet.
    api.seed([(
        "legacy-bob".to_string(),
        json!({ "email": "bob@example.com", "name": "Bob" }),
    )]);
    let group = env.group("Staff").await;
    let app = env.outbound_app("HR app", &group).await;
    for (kind, request) in [
        (
            "user_created",
            json!({ "method": "POST", "url": format!("{}/users", server.url), "body": { "email": "@email", "name": "@givenName" } }),
        ),
        (
            "user_updated",
            json!({ "method": "PUT", "url": format!("{}/users/@ExternalUserId", server.url), "body": { "email": "@email", "name": "@givenName" } }),
        ),
    ] {
        let reply = env
            .call(
                Call::new("PUT", &format!("/admin/apps/{app}/event-configs/{kind}"))
                    .json(json!({ "request": request })),
            )
            .await;
        assert!(reply.status < 300, "{:?}", reply.body);
    }
    // Ada is provisioned to the app (account ext-1).
    let ada = env
        .member_of(
            &group,
            json!({ "userName": "ada", "email": "ada@example.com", "givenName": "Ada" }),
        )
        .await;
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(api.accounts().len(), 2);
    // Someone renames Ada in the app; the import brings it in.
    api.seed([(
        "ext-1".to_string(),
        json!({ "email": "ada@example.com", "name": "Ada L." }),
    )]);
    let import_id = import(&env, &app, json!({ "name": "accounts", "request": { "method": "GET", "url": format!("{}/users?cursor=@Pagination", server.url) },
                                               "usersPath": "users.data", "pagination": { "nextPath": "next" },
                                               "mapping": { "externalId": "id", "email": "email", "givenName": "name" } })).await;
    let report = run(&env, &app, &import_id, false).await;
    assert_eq!(
        (report["created"].clone(), report["updated"].clone()),
        (json!(1), json!(1)),
        "{report:#}"
    );
    env.pump(&env.dispatcher(), PUMP).await;
    let sent = |method: &str| server.received().iter().filter(|r| r.method == method).count();
    assert_eq!(sent("PUT"), 0, "the app's own rename is not sent back to it");
    let log = env
        .list_all(&format!("/admin/users/{ada}/provisioning-log"))
        .await;
    assert!(
        log.iter().any(|e| e["reason"]
            .as_str()
            .is_some_and(|r| r.contains("came from this app"))),
        "{log:#?}"
    );

    // Bob, imported from the app, joins the group: linked to his account there, not created again.
    let bob = env.list_all("/admin/users?email=bob@example.com").await;
    let bob = bob[0]["id"].as_str().expect("bob").to_string();
    assert_eq!(
        env.put(&format!("/admin/groups/{group}/members/{bob}"))
            .await
            .status,
        201
    );
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(sent("POST"), 1, "only Ada's create");
    assert_eq!(api.accounts().len(), 2, "no second account for Bob");
    // Linked as a lookup links: one update brings his account in line with the directory.
    assert_eq!(sent("PUT"), 1);

    // A change made in the directory is sent as usual, to the account the import linked.
    let reply = env
        .call(Call::new("PATCH", &format!("/admin/users/{bob}")).json(json!({ "givenName": "Robert" })))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(api.accounts()["legacy-bob"]["name"], "Robert");
    assert_eq!(sent("PUT"), 2);
}
