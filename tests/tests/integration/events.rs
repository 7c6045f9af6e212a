//! The sample events in `events/` are what the functions accept.

use aws_lambda_events::sqs::SqsEvent;
use provisio_tests::TestEnv;

fn read(name: &str) -> String {
    std::fs::read_to_string(provisio_tests::repo_path(&format!("events/{name}"))).expect("event file")
}

#[tokio::test]
async fn admin_events_drive_the_handler() {
    let env = TestEnv::new().await;
    for (name, status) in [
        ("admin-create-user.json", 201),
        ("admin-create-group.json", 201),
        ("admin-create-app.json", 201),
        ("admin-list-users.json", 200),
    ] {
        let raw = read(name);
        // As written, the placeholder key is refused.
        let request = lambda_http::request::from_str(&raw).expect(name);
        assert_eq!(env.api.handle(request).await.status(), 401, "{name}");
        let keyed = raw.replace("REPLACE_WITH_ADMIN_KEY", &env.resources.admin_key);
        let request = lambda_http::request::from_str(&keyed).expect(name);
        assert_eq!(env.api.handle(request).await.status(), status, "{name}");
    }
    let listed = env.get("/admin/users").await;
    assert_eq!(listed.body["items"][0]["userName"], "ada.lovelace");
}

#[test]
fn queue_and_schedule_events_parse() {
    for name in ["sqs-dispatch.json", "sqs-import.json"] {
        let event: SqsEvent = serde_json::from_str(&read(name)).expect(name);
        assert_eq!(event.records.len(), 1);
        assert_eq!(event.records[0].event_source.as_deref(), Some("aws:sqs"));
    }
    // The importer tells a schedule tick from a page batch by the absence of `Records`.
    assert!(serde_json::from_str::<SqsEvent>(&read("schedule-tick.json")).is_err());
    let tick: serde_json::Value = serde_json::from_str(&read("schedule-tick.json")).unwrap();
    assert_eq!(tick["detail-type"], "Scheduled Event");
}

#[tokio::test]
async fn the_dispatcher_takes_the_sample_message() {
    let env = TestEnv::new().await;
    let event: SqsEvent = serde_json::from_str(&read("sqs-dispatch.json")).expect("sample");
    let message: provisio::outbound::dispatch::DispatchMessage =
        serde_json::from_str(event.records[0].body.as_deref().unwrap_or_default()).expect("a change event");
    assert_eq!(
        message.event.kind,
        provisio::directory::change::ChangeKind::UserCreated
    );
    // The sample's user is not in this directory: nothing to provision, nothing failed.
    let response = env.dispatcher().handle_batch(event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(env.queue_depth(true).await, 0);
}

#[tokio::test]
async fn the_importer_takes_the_sample_page_message() {
    let env = TestEnv::new().await;
    let event: SqsEvent = serde_json::from_str(&read("sqs-import.json")).expect("sample");
    let page: provisio::import::page::PageMessage =
        serde_json::from_str(event.records[0].body.as_deref().unwrap_or_default()).expect("a page message");
    assert_eq!(page.page, 1);
    // The sample's job is not in this directory: dropped, not retried.
    let response = env.importer().handle_batch(event).await;
    assert!(response.batch_item_failures.is_empty());
    // The schedule tick starts nothing when nothing is scheduled.
    assert_eq!(env.importer().tick().await.expect("tick"), 0);
}
