//! The dispatcher when things go wrong: server errors and throttling retried with backoff through
//! the visibility timeout, permanent failures parked in the dead-letter queue with the reason,
//! duplicate deliveries, and the stream feeder stopped or dying mid-stream.

use std::time::Duration;

use provisio_tests::fake_app::{Answer, UsersApi};
use provisio_tests::{Call, TestEnv};
use serde_json::{Value, json};

const PUMP: Duration = Duration::from_secs(40);

/// A users app in scope of a new group, with create and update configs (bearer auth).
async fn setup(env: &TestEnv, url: &str) -> (String, String) {
    let group = env.group("g").await;
    let app = env.outbound_app("Target", &group).await;
    let auth = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "bearer", "name": "t", "token": "very-secret-token" }),
        )
        .await;
    assert_eq!(auth.status, 201, "{:?}", auth.body);
    let created = json!({ "authId": auth.body["id"], "request": { "method": "POST", "url": format!("{url}/users"),
                          "body": { "email": "@email" } } });
    let reply = env
        .call(Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created")).json(created))
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    (group, app)
}

async fn join(env: &TestEnv, group: &str, name: &str) -> String {
    let user = env.user(name).await;
    assert_eq!(
        env.put(&format!("/admin/groups/{group}/members/{user}"))
            .await
            .status,
        201
    );
    user
}

/// The app's log entries of calls, oldest first (skipped entries aside: see [`skips`]).
async fn log(env: &TestEnv, app: &str) -> Vec<Value> {
    all_log(env, app)
        .await
        .into_iter()
        .filter(|e| e["outcome"] != "skipped")
        .collect()
}

/// The reasons of the app's skipped entries, oldest first.
async fn skips(env: &TestEnv, app: &str) -> Vec<String> {
    all_log(env, app)
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "skipped")
        .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn all_log(env: &TestEnv, app: &str) -> Vec<Value> {
    let mut items = env.get(&format!("/admin/apps/{app}/provisioning-log")).await.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    items.reverse();
    items
}

#[tokio::test]
async fn server_errors_are_retried_into_one_account() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let (group, app) = setup(&env, &server.url).await;
    api.fail_next(Answer::json(500, json!({ "error": "boom" })));
    api.fail_next(Answer::json(502, json!({ "error": "bad gateway" })));
    join(&env, &group, "ann").await;
    env.pump(&env.dispatcher(), PUMP).await;

    let creates: Vec<_> = server
        .received()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(creates.len(), 3);
    assert_eq!(api.accounts().len(), 1);
    // Backoff: base 1 s doubled, with jitter between half and all of it.
    assert!(creates[1].at - creates[0].at >= Duration::from_millis(500));
    assert!(creates[2].at - creates[1].at >= Duration::from_millis(1000));
    let outcomes: Vec<(Value, Value)> = log(&env, &app)
        .await
        .iter()
        .map(|e| (e["status"].clone(), e["outcome"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (json!(500), json!("retrying")),
            (json!(502), json!("retrying")),
            (json!(201), json!("succeeded"))
        ]
    );
    assert_eq!(env.dead_letters().await.len(), 0);
}

/// Issue 16: an app down for longer than the queue's five receives is ridden out: each retry
/// goes back to the queue as a new copy carrying its count, and the account is created once.
#[tokio::test]
async fn an_outage_longer_than_the_queues_receives_is_ridden_out() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let (group, app) = setup(&env, &server.url).await;
    for _ in 0..8 {
        api.fail_next(Answer::json(503, json!({ "error": "maintenance" })));
    }
    join(&env, &group, "ann").await;
    let settings = provisio::outbound::dispatch::Settings {
        max_attempts: 20,
        retry_cap: Duration::from_secs(2),
        ..provisio_tests::test_dispatch_settings()
    };
    env.pump(&env.dispatcher_with(settings), Duration::from_secs(120))
        .await;
    let creates = server.received().iter().filter(|r| r.method == "POST").count();
    assert_eq!(creates, 9, "eight 503s, then the create");
    assert_eq!(api.accounts().len(), 1, "created exactly once");
    assert_eq!(env.dead_letters().await.len(), 0, "nothing dead-lettered");
    let outcomes: Vec<Value> = log(&env, &app)
        .await
        .iter()
        .map(|e| e["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "retrying").count(),
        8,
        "{outcomes:?}"
    );
    assert_eq!(outcomes.last(), Some(&json!("succeeded")));
}

#[tokio::test]
async fn throttling_waits_for_retry_after() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let (group, _) = setup(&env, &server.url).await;
    api.fail_next(Answer::json(429, json!({})).header("Retry-After", "3"));
    join(&env, &group, "ann").await;
    env.pump(&env.dispatcher(), PUMP).await;

    let calls = server.received();
    assert_eq!(calls.len(), 2);
    let waited = calls[1].at - calls[0].at;
    assert!(waited >= Duration::from_secs(3), "retried after {waited:?}");
    assert_eq!(api.accounts().len(), 1);
}

#[tokio::test]
async fn permanent_failures_go_to_the_dead_letter_queue_with_the_reason_and_redrive_back() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let (group, app) = setup(&env, &server.url).await;
    // The app echoes the request's token in its error: the log must not keep it.
    api.fail_next(Answer::json(
        400,
        json!({ "error": "email domain not allowed", "auth": "Bearer very-secret-token" }),
    ));
    let user = join(&env, &group, "ann").await;
    env.pump(&env.dispatcher(), PUMP).await;

    assert_eq!(server.received().len(), 1, "a 400 is not retried");
    assert!(api.accounts().is_empty());
    let dead = env.dead_letters().await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0["appId"], app.as_str());
    assert_eq!(dead[0].0["userId"], user.as_str());
    assert!(
        dead[0].1.contains("HTTP 400") && dead[0].1.contains("email domain not allowed"),
        "{}",
        dead[0].1
    );
    let entries = log(&env, &app).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["outcome"], "failed");
    assert_eq!(entries[0]["status"], 400);
    let error = entries[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("email domain not allowed"), "{error}");
    assert!(
        !error.contains("very-secret-token") && error.contains("[redacted]"),
        "{error}"
    );
    // Ann's other event (joining the group after her creation) found the failure parked.
    assert!(
        skips(&env, &app).await.iter().all(|r| r.contains("parked")),
        "{:?}",
        skips(&env, &app).await
    );

    // Fixed on the app's side: the redrive puts the message back and the account is created.
    tokio::time::sleep(Duration::from_millis(1100)).await; // dead_letters() hid them for 1 s
    let reply = env
        .post("/admin/provisioning/redrive", json!({ "appId": app }))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["moved"], 1);
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(api.accounts().len(), 1);
    assert_eq!(env.queue_depth(true).await, 0);
}

#[tokio::test]
async fn exhausted_retries_are_dead_lettered() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let (group, app) = setup(&env, &server.url).await;
    for _ in 0..3 {
        api.fail_next(Answer::json(503, json!({ "error": "maintenance" })));
    }
    join(&env, &group, "ann").await;
    let mut settings = provisio_tests::test_dispatch_settings();
    settings.max_attempts = 3;
    env.pump(&env.dispatcher_with(settings), PUMP).await;

    assert_eq!(server.received().len(), 3);
    let dead = env.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].1.starts_with("gave up after 3 attempts: HTTP 503"),
        "{}",
        dead[0].1
    );
    let outcomes: Vec<Value> = log(&env, &app)
        .await
        .iter()
        .map(|e| e["outcome"].clone())
        .collect();
    assert_eq!(outcomes, [json!("retrying"), json!("retrying"), json!("failed")]);
}

/// The change events the table announced, as bare messages (a replay sends them so).
async fn announced_messages(env: &TestEnv) -> Vec<String> {
    env.changes().await.into_iter().map(|e| e.to_string()).collect()
}

#[tokio::test]
async fn the_same_message_delivered_twice_creates_one_account() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let (group, _) = setup(&env, &server.url).await;
    join(&env, &group, "ann").await;
    let messages = announced_messages(&env).await;
    let added = messages
        .iter()
        .find(|m| m.contains("member_added"))
        .expect("the member_added event");
    let queue = env.resources.queue_urls["dispatch"].clone();
    // Twice in one batch (handled concurrently), and once more later.
    for _ in 0..2 {
        env.clients
            .sqs
            .send_message()
            .queue_url(&queue)
            .message_body(added)
            .send()
            .await
            .expect("send");
    }
    let dispatcher = env.dispatcher();
    env.pump(&dispatcher, PUMP).await;
    env.clients
        .sqs
        .send_message()
        .queue_url(&queue)
        .message_body(added)
        .send()
        .await
        .expect("send");
    env.pump(&dispatcher, PUMP).await;

    assert_eq!(server.received().len(), 1, "{:#?}", server.received());
    assert_eq!(api.accounts().len(), 1);
}

/// 30 users join the app's group after a first feeder has carried the setup's events.
async fn thirty_joins(env: &TestEnv, group: &str) {
    for i in 0..30 {
        join(env, group, &format!("u{i:02}")).await;
    }
}

#[tokio::test]
async fn a_stream_feeder_stopped_mid_stream_goes_on_from_its_checkpoint() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let (group, _) = setup(&env, &server.url).await;
    let before = env.changes().await.len();
    env.new_stream_feeder().drain().await.expect("drain");
    thirty_joins(&env, &group).await;
    let events = env.changes().await.len() - before;
    assert_eq!(events, 60, "user_created and member_added per user");

    // The first feeder reads part of the stream, then stops (its process ends).
    let mut first = env.new_stream_feeder();
    first.batch = 40;
    let part = first.poll(1).await.expect("poll").sent;
    assert!(
        part > 0 && part < events,
        "stopped mid-stream after {part} of {events}"
    );
    drop(first);
    // The next one goes on after the checkpoint: every event once, none twice.
    let rest = env.new_stream_feeder().drain().await.expect("drain");
    assert_eq!(part + rest, events);
    assert_eq!(
        env.new_stream_feeder().drain().await.expect("drain"),
        0,
        "nothing is sent again"
    );

    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(api.accounts().len(), 30);
    assert_eq!(server.received().len(), 30, "one create per user");
}

#[tokio::test]
async fn a_stream_feeder_that_dies_before_its_checkpoint_sends_again_harmlessly() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let (group, _) = setup(&env, &server.url).await;
    env.new_stream_feeder().drain().await.expect("drain");
    let checkpoints = env.raw_items("STREAMFEED").await;
    thirty_joins(&env, &group).await;

    let mut first = env.new_stream_feeder();
    first.batch = 40;
    let part = first.poll(1).await.expect("poll").sent;
    assert!(part > 0 && part < 60, "{part}");
    // It died after the queue took its messages and before it wrote its checkpoint.
    env.restore_items("STREAMFEED", checkpoints).await;
    let again = env.new_stream_feeder().drain().await.expect("drain");
    assert_eq!(again, 60, "what was not checkpointed is sent again");
    assert_eq!(
        env.queue_depth(false).await,
        (60 + part) as u64,
        "{part} messages twice"
    );

    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(api.accounts().len(), 30);
    assert_eq!(server.received().len(), 30, "duplicates find their work done");
    assert_eq!(env.queue_depth(true).await, 0);
}

#[tokio::test]
async fn only_items_written_with_a_change_event_reach_the_queue_as_the_pipe_passes_them() {
    let env = TestEnv::new().await;
    let user = env.user("ann").await;
    let group = env.group("eng").await;
    let renamed = env
        .patch(
            &format!("/admin/groups/{group}"),
            json!({ "name": "engineering" }),
        )
        .await;
    assert_eq!(renamed.status, 200);
    // The rename's and the join's events are outbox items; the join's write of the group's
    // version announces nothing.
    env.put(&format!("/admin/groups/{group}/members/{user}")).await;
    env.patch(&format!("/admin/users/{user}"), json!({ "displayName": "Ann" }))
        .await;
    // Guards, holder sets, memberships, the group's version and checkpoints change too: only
    // the four events pass (user_created and user_updated on the user, group_renamed and
    // member_added in the outbox).
    assert_eq!(env.feed_stream().await, 4);
    let out = env
        .clients
        .sqs
        .receive_message()
        .queue_url(&env.resources.queue_urls["dispatch"])
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let bodies: Vec<Value> = out
        .messages
        .unwrap_or_default()
        .iter()
        .map(|m| serde_json::from_str(m.body.as_deref().unwrap_or_default()).expect("JSON"))
        .collect();
    let mut kinds = Vec::new();
    for body in &bodies {
        // Only the event, as the pipe's template shapes it: never the user's whole item.
        assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
        assert!(body["changeEvent"]["M"].is_object(), "{body}");
        let message: provisio::outbound::dispatch::DispatchMessage =
            serde_json::from_value(body.clone()).expect("the dispatcher reads the pipe's message");
        kinds.push(format!("{:?}", message.event.kind));
        match &message.event.user_id {
            Some(id) => assert_eq!(id.as_str(), user),
            None => assert_eq!(
                message.event.group_id.as_ref().map(|g| g.as_str()),
                Some(group.as_str())
            ),
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        ["GroupRenamed", "MemberAdded", "UserCreated", "UserUpdated"]
    );
}

#[tokio::test]
async fn events_lost_downstream_are_replayed() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let (group, _) = setup(&env, &server.url).await;
    let since = provisio::timestamp::now();
    // A rename, then joins that move the group's version on (writes of the group that announce
    // nothing): the rename is still there to replay.
    let renamed = env
        .patch(&format!("/admin/groups/{group}"), json!({ "name": "renamed" }))
        .await;
    assert_eq!(renamed.status, 200);
    for name in ["ann", "bob", "cy"] {
        join(&env, &group, name).await;
    }
    // The pipe delivered them, then the queue lost them (purged, as a deleted and recreated queue
    // would be): nothing reaches the app.
    assert_eq!(env.feed_stream().await, 7);
    env.clients
        .sqs
        .purge_queue()
        .queue_url(&env.resources.queue_urls["dispatch"])
        .send()
        .await
        .expect("purge");
    env.pump(&env.dispatcher(), PUMP).await;
    assert!(api.accounts().is_empty());

    // A malformed window changes nothing and names its field.
    let bad = env
        .post("/admin/provisioning/replay", json!({ "since": "yesterday" }))
        .await;
    assert_eq!((bad.status, bad.field()), (400, Some("since")));
    let bad = env
        .post(
            "/admin/provisioning/replay",
            json!({ "since": since, "cursor": "nonsense" }),
        )
        .await;
    assert_eq!((bad.status, bad.field()), (400, Some("cursor")));
    assert_eq!(env.queue_depth(false).await, 0);

    let replayed = env
        .post("/admin/provisioning/replay", json!({ "since": since }))
        .await;
    assert_eq!(replayed.status, 200, "{:?}", replayed.body);
    // The setup's events are older than the window; the rename and each join's two are in it
    // (user_created on the user; member_added and group_renamed in the outbox).
    assert_eq!(replayed.body, json!({ "sent": 7 }));
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(api.accounts().len(), 3);
    // A window replayed twice: the events find their work done.
    env.post("/admin/provisioning/replay", json!({ "since": since }))
        .await;
    env.pump(&env.dispatcher(), PUMP).await;
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn a_replay_pages_through_a_shard_with_its_cursor_once_each() {
    use provisio::directory::replay::{Window, replay};
    let env = TestEnv::new().await;
    let mut groups = Vec::new();
    for i in 0..8 {
        groups.push(env.group(&format!("g{i}")).await);
    }
    let since = provisio::timestamp::now();
    // One user's outbox events share a shard: 8 joins; then the event each of 6 users carries
    // (its last: ann's 12 updates are one). 14 events, replayed 5 a call.
    let user = env.user("ann").await;
    for i in 0..12 {
        let reply = env
            .patch(
                &format!("/admin/users/{user}"),
                json!({ "displayName": format!("Ann {i}") }),
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    for group in &groups {
        assert_eq!(
            env.put(&format!("/admin/groups/{group}/members/{user}"))
                .await
                .status,
            201
        );
    }
    for name in ["bo", "cy", "di", "ed", "fay"] {
        env.user(name).await;
    }
    let store = provisio::store::Store::new(env.clients.dynamodb.clone(), &env.resources.config.table);
    let queue = env.resources.queue_urls["dispatch"].clone();
    let window = Window::parse(&since, None).expect("window");
    let (mut sent, mut calls, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let replayed = replay(&store, &env.clients.sqs, &queue, &window, cursor.as_deref(), 5)
            .await
            .expect("replay");
        calls += 1;
        sent.push(replayed.sent);
        match replayed.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(calls < 10, "the cursor moves on: {sent:?}");
    }
    assert_eq!(sent.iter().sum::<usize>(), 14, "{sent:?}");
    // Every event once: the queue holds 14 distinct event ids (the stream is not fed here).
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..5 {
        let out = env
            .clients
            .sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        for m in out.messages.unwrap_or_default() {
            let body: Value = serde_json::from_str(m.body.as_deref().unwrap_or_default()).unwrap();
            assert!(
                ids.insert(body["id"].as_str().unwrap().to_string()),
                "sent twice: {body}"
            );
        }
    }
    assert_eq!(ids.len(), 14);
}

/// Issue 16: an app that answers 503 for ten minutes (on a simulated clock, a minute a real
/// second) is quarantined after ten failures and probed once a minute instead of being called
/// for every message and retry; when it answers again every account is created exactly once and
/// nothing is dead-lettered.
#[tokio::test]
async fn an_app_down_for_ten_minutes_is_quarantined_probed_and_then_gets_every_account_once() {
    use std::sync::{Arc, Mutex};
    let env = TestEnv::new().await;
    let started = std::time::Instant::now();
    let t0 = time::OffsetDateTime::now_utc();
    let simulated = move || t0 + time::Duration::seconds_f64(started.elapsed().as_secs_f64() * 60.0);
    let down = Duration::from_secs(10);
    let answers: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
    let seen = answers.clone();
    let server = provisio_tests::fake_app::FakeApp::start(move |r| {
        let email = r.json()["email"].as_str().unwrap_or_default().to_string();
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        if started.elapsed() < down {
            seen.push((email, 503));
            return Answer::json(503, json!({ "error": "down for maintenance" }));
        }
        seen.push((email.clone(), 201));
        Answer::json(201, json!({ "id": format!("acc-{email}") }))
    })
    .await;
    let (group, app) = setup(&env, &server.url).await;
    for i in 0..30 {
        join(&env, &group, &format!("user{i:02}")).await;
    }
    let settings = provisio::outbound::dispatch::Settings {
        max_attempts: 60,
        retry_cap: Duration::from_secs(2),
        quarantine: provisio::outbound::quarantine::Rules {
            failures: 10,
            window: Duration::from_secs(300),
            probe_every: Duration::from_secs(60),
        },
        clock: provisio::outbound::dispatch::Clock(Arc::new(simulated)),
        ..provisio_tests::test_dispatch_settings()
    };
    env.pump(&env.dispatcher_with(settings), Duration::from_secs(150))
        .await;

    let answers = answers.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let failed = answers.iter().filter(|(_, s)| *s == 503).count();
    let mut created: Vec<&str> = answers
        .iter()
        .filter(|(_, s)| *s == 201)
        .map(|(e, _)| e.as_str())
        .collect();
    created.sort_unstable();
    let mut expected: Vec<String> = (0..30).map(|i| format!("user{i:02}@example.com")).collect();
    expected.sort_unstable();
    assert_eq!(created, expected, "every account created exactly once");
    assert_eq!(env.dead_letters().await.len(), 0, "nothing dead-lettered");
    // Unquarantined, 30 users retried every 1-2 s for 10 s would make some 150 failed calls.
    assert!(
        failed < 50,
        "{failed} calls during the outage: the quarantine did not hold them back"
    );
    let log = env.list_all(&format!("/admin/apps/{app}/provisioning-log")).await;
    assert!(
        log.iter()
            .any(|e| e["reason"].as_str().is_some_and(|r| r.contains("quarantined"))),
        "the wait is in the log"
    );
    let summary = env.get("/admin/summary").await;
    assert_eq!(
        summary.body["quarantined"],
        json!([]),
        "lifted: {:?}",
        summary.body
    );
}

/// Issue 16: an app's rate limit holds across dispatcher instances: two dispatchers working the
/// same queue send ten creates at no more than 2 a second.
#[tokio::test]
async fn an_apps_rate_limit_holds_across_dispatchers() {
    let env = TestEnv::new().await;
    let api = UsersApi::new(None, Duration::from_secs(60));
    let server = api.start().await;
    let (group, app) = setup(&env, &server.url).await;
    let bad = env
        .call(Call::new("PATCH", &format!("/admin/apps/{app}")).json(json!({ "rateLimit": 0 })))
        .await;
    assert_eq!(
        (bad.status, bad.body["field"].clone()),
        (400, json!("rateLimit")),
        "{:?}",
        bad.body
    );
    let reply = env
        .call(Call::new("PATCH", &format!("/admin/apps/{app}")).json(json!({ "rateLimit": 2 })))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    for i in 0..10 {
        join(&env, &group, &format!("r{i}")).await;
    }
    let (one, two) = (env.dispatcher(), env.dispatcher());
    tokio::join!(env.pump(&one, PUMP), env.pump(&two, PUMP));
    let mut at: Vec<std::time::Instant> = server
        .received()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.at)
        .collect();
    at.sort();
    assert_eq!(at.len(), 10, "each created once");
    assert_eq!(api.accounts().len(), 10);
    // Slots are the seconds of the clock: a second has at most two calls, so any five calls
    // stand in three seconds (over one second apart), and ten in five (over three).
    for w in at.windows(5) {
        assert!(
            w[4] - w[0] > Duration::from_secs(1),
            "five calls within {:?}",
            w[4] - w[0]
        );
    }
    assert!(
        at[9] - at[0] > Duration::from_secs(3),
        "ten calls within {:?}",
        at[9] - at[0]
    );
}
