//! Users through the admin API: CRUD, uniqueness, optimistic locking, bad input.

use provisio_tests::{Call, TestEnv};
use serde_json::json;

#[tokio::test]
async fn create_get_update_delete() {
    let env = TestEnv::new().await;
    let created = env
        .post(
            "/admin/users",
            json!({
                "userName": "ada", "email": "Ada@Example.com", "givenName": "Ada", "familyName": "Lovelace",
                "attributes": { "department": "R&D", "employeeNumber": 7 }
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.header("etag"), Some("W/\"1\""));
    assert_eq!(
        created.header("location"),
        Some(format!("/admin/users/{id}").as_str())
    );
    assert_eq!(created.body["active"], true);
    assert_eq!(created.body["attributes"]["employeeNumber"], 7);

    let got = env.get(&format!("/admin/users/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, created.body);

    let patched = env
        .patch(
            &format!("/admin/users/{id}"),
            json!({ "displayName": "Countess", "givenName": null, "attributes": { "department": null, "costCenter": "42" } }),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.header("etag"), Some("W/\"2\""));
    assert_eq!(patched.body["displayName"], "Countess");
    assert!(patched.body.get("givenName").is_none());
    assert_eq!(
        patched.body["attributes"],
        json!({ "employeeNumber": 7, "costCenter": "42" })
    );

    // A patch that changes nothing keeps the version.
    let same = env
        .patch(
            &format!("/admin/users/{id}"),
            json!({ "displayName": "Countess" }),
        )
        .await;
    assert_eq!(same.status, 200);
    assert_eq!(same.header("etag"), Some("W/\"2\""));

    let deleted = env.delete(&format!("/admin/users/{id}")).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(env.get(&format!("/admin/users/{id}")).await.status, 404);
    // The user and its guards are gone: the userName and email can be taken again.
    assert_eq!(env.item_count().await, 0);
    let again = env
        .post(
            "/admin/users",
            json!({ "userName": "ADA", "email": "ada@example.com" }),
        )
        .await;
    assert_eq!(again.status, 201, "{:?}", again.body);
}

#[tokio::test]
async fn list_pages_with_a_cursor_in_user_name_order() {
    let env = TestEnv::new().await;
    for name in ["carol", "alice", "dave", "bob", "erin"] {
        env.user(name).await;
    }
    let mut names = Vec::new();
    let mut path = "/admin/users?limit=2".to_string();
    let mut pages = 0;
    loop {
        let page = env.get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        pages += 1;
        for user in page.body["items"].as_array().unwrap() {
            names.push(user["userName"].as_str().unwrap().to_string());
        }
        match page.body["nextCursor"].as_str() {
            Some(cursor) => path = format!("/admin/users?limit=2&cursor={cursor}"),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(names, ["alice", "bob", "carol", "dave", "erin"]);

    let bad = env.get("/admin/users?cursor=bm90LWEtY3Vyc29y").await;
    assert_eq!((bad.status, bad.field()), (400, Some("cursor")));
    let bad = env.get("/admin/users?limit=0").await;
    assert_eq!((bad.status, bad.field()), (400, Some("limit")));
}

#[tokio::test]
async fn user_name_and_email_are_unique_case_insensitively() {
    let env = TestEnv::new().await;
    env.user("grace").await;
    let before = env.item_count().await;

    let taken = env.post("/admin/users", json!({ "userName": "GRACE" })).await;
    assert_eq!(
        (taken.status, taken.field()),
        (409, Some("userName")),
        "{:?}",
        taken.body
    );
    let taken = env
        .post(
            "/admin/users",
            json!({ "userName": "hopper", "email": "GRACE@example.COM" }),
        )
        .await;
    assert_eq!(
        (taken.status, taken.field()),
        (409, Some("email")),
        "{:?}",
        taken.body
    );
    assert_eq!(env.item_count().await, before, "a refused create wrote something");

    // Renaming into a taken name is refused too, and changes nothing.
    let other = env.user("hopper").await;
    let before = env.item_count().await;
    let clash = env
        .patch(&format!("/admin/users/{other}"), json!({ "userName": "Grace" }))
        .await;
    assert_eq!((clash.status, clash.field()), (409, Some("userName")));
    assert_eq!(
        env.get(&format!("/admin/users/{other}")).await.body["userName"],
        "hopper"
    );
    assert_eq!(env.item_count().await, before);

    // Renaming frees the old name.
    let renamed = env
        .patch(
            &format!("/admin/users/{other}"),
            json!({ "userName": "rear-admiral" }),
        )
        .await;
    assert_eq!(renamed.status, 200);
    let reuse = env.post("/admin/users", json!({ "userName": "Hopper" })).await;
    assert_eq!(reuse.status, 201, "{:?}", reuse.body);
}

#[tokio::test]
async fn concurrent_creates_of_one_user_name_exactly_one_wins() {
    let env = TestEnv::new().await;
    for round in 0..5 {
        let name = format!("linus{round}");
        let upper = name.to_uppercase();
        let (a, b) = tokio::join!(
            env.post("/admin/users", json!({ "userName": name })),
            env.post("/admin/users", json!({ "userName": upper })),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "round {round}: {:?} / {:?}", a.body, b.body);
    }
    // Five users, each with one userName guard: nothing half-written by the loser.
    assert_eq!(env.item_count().await, 10);
}

#[tokio::test]
async fn stale_if_match_is_refused_and_changes_nothing() {
    let env = TestEnv::new().await;
    let id = env.user("barbara").await;
    let path = format!("/admin/users/{id}");
    let v2 = env
        .call(
            Call::new("PATCH", &path)
                .json(json!({ "displayName": "B" }))
                .header("If-Match", "W/\"1\""),
        )
        .await;
    assert_eq!(v2.status, 200);
    let stored = env.get(&path).await;

    let stale = env
        .call(
            Call::new("PATCH", &path)
                .json(json!({ "displayName": "C" }))
                .header("If-Match", "W/\"1\""),
        )
        .await;
    assert_eq!(stale.status, 412, "{:?}", stale.body);
    assert_eq!(env.get(&path).await.body, stored.body);

    let stale_delete = env
        .call(Call::new("DELETE", &path).header("If-Match", "W/\"1\""))
        .await;
    assert_eq!(stale_delete.status, 412);
    assert_eq!(env.get(&path).await.status, 200);

    let bad_tag = env
        .call(
            Call::new("PATCH", &path)
                .json(json!({}))
                .header("If-Match", "yesterday"),
        )
        .await;
    assert_eq!((bad_tag.status, bad_tag.field()), (400, Some("If-Match")));

    let current = env
        .call(Call::new("DELETE", &path).header("If-Match", "W/\"2\""))
        .await;
    assert_eq!(current.status, 204);
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_writes_nothing() {
    let env = TestEnv::new().await;
    let id = env.user("edsger").await;
    let before = env.item_count().await;
    let cases = [
        (
            Call::new("POST", "/admin/users").raw("{\"userName\": \"x\","),
            None,
        ),
        (Call::new("POST", "/admin/users").raw("not json"), None),
        (
            Call::new("POST", "/admin/users").json(json!({ "userName": 42 })),
            Some("userName"),
        ),
        (
            Call::new("POST", "/admin/users").json(json!({ "userName": "x", "active": "yes" })),
            Some("active"),
        ),
        (
            Call::new("POST", "/admin/users").json(json!({ "userName": "x", "nickname": "y" })),
            Some("nickname"),
        ),
        (
            Call::new("POST", "/admin/users").json(json!({ "email": "x@y.z" })),
            Some("userName"),
        ),
        (
            Call::new("POST", "/admin/users").json(json!({ "userName": "  " })),
            Some("userName"),
        ),
        (
            Call::new("POST", "/admin/users").json(json!({ "userName": "x", "email": "not-an-email" })),
            Some("email"),
        ),
        (
            Call::new("POST", "/admin/users")
                .json(json!({ "userName": "x", "attributes": { "bad key": 1 } })),
            Some("attributes.bad key"),
        ),
        (
            Call::new("POST", "/admin/users").json(json!({ "userName": "x", "attributes": [] })),
            Some("attributes"),
        ),
        (
            Call::new("PATCH", &format!("/admin/users/{id}")).json(json!({ "userName": null })),
            Some("userName"),
        ),
        (
            Call::new("PATCH", &format!("/admin/users/{id}")).json(json!({ "givenName": 3 })),
            Some("givenName"),
        ),
        (
            Call::new("PATCH", &format!("/admin/users/{id}")).json(json!({ "id": "other" })),
            Some("id"),
        ),
        (Call::new("POST", "/admin/users"), None),
    ];
    for (call, field) in cases {
        let described = format!("{} {} {:?}", call.method, call.path, call.body);
        let reply = env.call(call).await;
        assert_eq!(reply.status, 400, "{described}: {:?}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
        assert_eq!(reply.body["status"], 400);
        assert_eq!(reply.field(), field, "{described}: {:?}", reply.body);
        assert!(reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    assert_eq!(env.item_count().await, before);
    assert_eq!(
        env.get(&format!("/admin/users/{id}")).await.header("etag"),
        Some("W/\"1\"")
    );
}

#[tokio::test]
async fn oversized_bodies_unknown_routes_and_methods() {
    let env = TestEnv::new().await;
    let huge = json!({ "userName": "x", "attributes": { "blob": "a".repeat(70 * 1024) } });
    let reply = env.post("/admin/users", huge).await;
    assert_eq!(reply.status, 413);
    assert_eq!(env.item_count().await, 0);

    assert_eq!(env.get("/admin/nothing-here").await.status, 404);
    assert_eq!(env.get("/admin/users/not-a-uuid").await.status, 404);
    let reply = env.call(Call::new("PUT", "/admin/users")).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, POST"));
    let missing = env
        .get("/admin/apps/0196a7c4-7f59-7a8e-9d1e-3b7c2f0a1b2c/event-configs")
        .await;
    assert_eq!(missing.status, 404);
    let missing = env
        .get("/admin/apps/0196a7c4-7f59-7a8e-9d1e-3b7c2f0a1b2c/import-configs")
        .await;
    assert_eq!(missing.status, 404);
}
