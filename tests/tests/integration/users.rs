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
    // Emails are unique only when the directory says so (off by default, see scim_interop).
    let on = env.patch("/admin/settings", json!({ "uniqueEmail": true })).await;
    assert_eq!(on.status, 200, "{:?}", on.body);
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

/// The holders of an address, as its holder-set item names them (sorted), or None without one.
async fn holders(env: &TestEnv, email: &str) -> Option<Vec<String>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let item = env
        .raw_item(&format!("UNIQUE#email#{}", email.to_lowercase()), "UNIQUE")
        .await?;
    let mut ids = match item.get("holders") {
        Some(AttributeValue::Ss(ids)) => ids.clone(),
        _ => Vec::new(),
    };
    if let Some(AttributeValue::S(owner)) = item.get("owner") {
        ids.push(format!("owner:{owner}"));
    }
    ids.sort();
    Some(ids)
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

async fn create(env: &TestEnv, name: &str, email: &str) -> String {
    let reply = env
        .post("/admin/users", json!({ "userName": name, "email": email }))
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn an_addresses_holders_follow_every_write_and_its_item_goes_with_the_last() {
    let env = TestEnv::new().await;
    let ann = create(&env, "ann", "x@corp.test").await;
    let bob = create(&env, "bob", "X@corp.test").await;
    assert_eq!(
        holders(&env, "x@corp.test").await,
        Some(sorted(vec![ann.clone(), bob.clone()]))
    );

    let moved = env
        .patch(&format!("/admin/users/{bob}"), json!({ "email": "y@corp.test" }))
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(holders(&env, "x@corp.test").await, Some(vec![ann.clone()]));
    assert_eq!(holders(&env, "y@corp.test").await, Some(vec![bob.clone()]));
    // A case change keeps the address.
    let recased = env
        .patch(&format!("/admin/users/{bob}"), json!({ "email": "Y@CORP.test" }))
        .await;
    assert_eq!(recased.status, 200);
    assert_eq!(holders(&env, "y@corp.test").await, Some(vec![bob.clone()]));

    // The last holder takes the item with it, whether it leaves the address or is deleted.
    assert_eq!(env.delete(&format!("/admin/users/{ann}")).await.status, 204);
    assert_eq!(holders(&env, "x@corp.test").await, None);
    let cleared = env
        .patch(&format!("/admin/users/{bob}"), json!({ "email": null }))
        .await;
    assert_eq!(cleared.status, 200, "{:?}", cleared.body);
    assert_eq!(holders(&env, "y@corp.test").await, None);
    assert_eq!(
        env.item_count().await,
        2,
        "only bob and his userName guard are left"
    );
}

/// Tables from before holder sets kept one `owner` per address: the first write that meets such
/// an item converts it, and nobody is lost.
#[tokio::test]
async fn an_address_from_before_holder_sets_is_converted_on_first_touch() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let env = TestEnv::new().await;
    let old_format = |email: &str, owner: &str| {
        env.clients
            .dynamodb
            .put_item()
            .table_name(&env.resources.config.table)
            .item("pk", AttributeValue::S(format!("UNIQUE#email#{email}")))
            .item("sk", AttributeValue::S("UNIQUE".into()))
            .item("owner", AttributeValue::S(owner.into()))
            .send()
    };
    let ann = create(&env, "ann", "x@corp.test").await;
    let carl = create(&env, "carl", "z@corp.test").await;
    old_format("x@corp.test", &ann).await.expect("put");
    old_format("z@corp.test", &carl).await.expect("put");
    assert_eq!(
        holders(&env, "x@corp.test").await,
        Some(vec![format!("owner:{ann}")])
    );

    let bob = create(&env, "bob", "x@corp.test").await;
    assert_eq!(
        holders(&env, "x@corp.test").await,
        Some(sorted(vec![ann.clone(), bob.clone()]))
    );
    let refused = env.patch("/admin/settings", json!({ "uniqueEmail": true })).await;
    assert_eq!((refused.status, refused.field()), (409, Some("uniqueEmail")));
    assert!(refused.body["detail"].as_str().unwrap_or_default().contains(&ann));

    assert_eq!(env.delete(&format!("/admin/users/{carl}")).await.status, 204);
    assert_eq!(holders(&env, "z@corp.test").await, None);
}

/// Another instance (a second Lambda) keeps the rule it read for a while. Switching unique emails
/// on while that instance keeps adding duplicates must never end "on" with a duplicate.
#[tokio::test]
async fn switching_on_while_another_instance_adds_duplicates_never_ends_on_with_one() {
    // A round counts when the other instance did add a duplicate after "on" was stored; under
    // load its rule may expire first, so up to three rounds.
    let mut counted = false;
    for _ in 0..3 {
        if switch_on_against_a_stale_writer().await {
            counted = true;
            break;
        }
    }
    assert!(
        counted,
        "in no round did the other instance, still holding \"off\", add a duplicate"
    );
}

/// One round: whether it counted (the invariant is asserted inside).
async fn switch_on_against_a_stale_writer() -> bool {
    use provisio::directory::Directory;
    use provisio::store::Store;
    let env = TestEnv::new().await;
    for i in 0..5 {
        create(&env, &format!("first-{i}"), &format!("e{i}@corp.test")).await;
    }
    let other = Directory::new(Store::new(
        env.clients.dynamodb.clone(),
        &env.resources.config.table,
    ));
    let new_user = |name: String, email: String| {
        serde_json::from_value::<provisio::directory::users::NewUser>(
            json!({ "userName": name, "email": email }),
        )
        .expect("new user")
    };
    // It has read "off" just now.
    other
        .create_user(new_user("warm".into(), "warm@corp.test".into()))
        .await
        .expect("create");

    // The writer starts the moment "on" is stored, while its own rule still says "off".
    let writer = async {
        let mut waited = 0;
        while env
            .raw_item("CONFIG", "SETTINGS")
            .await
            .and_then(|item| item.get("uniqueEmail").cloned())
            != Some(aws_sdk_dynamodb::types::AttributeValue::Bool(true))
        {
            waited += 1;
            assert!(waited < 2_000, "the switch never stored \"on\"");
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        // A moment later: a check that doesn't wait for writers like this one is over by then.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let mut added = 0;
        for attempt in 0..20 {
            // Created or refused as a duplicate; nothing else.
            match other
                .create_user(new_user(
                    format!("dup-{attempt}"),
                    format!("E{}@corp.test", attempt % 5),
                ))
                .await
            {
                Ok(_) => added += 1,
                Err(provisio::directory::DirectoryError::Conflict { field, .. }) => {
                    assert_eq!(field, "email")
                }
                Err(e) => panic!("{e}"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        added
    };
    let switch = env.patch("/admin/settings", json!({ "uniqueEmail": true }));
    let (reply, added) = tokio::join!(switch, writer);
    assert!(
        added > 0,
        "the other instance, still holding \"off\", added no duplicate"
    );
    let on = env.get("/admin/settings").await.body["uniqueEmail"] == true;
    assert_eq!(on, reply.status == 200, "{:?}", reply.body);
    let users = env.list_all("/admin/users").await;
    let mut by_address: std::collections::HashMap<String, usize> = Default::default();
    for user in &users {
        if let Some(email) = user["email"].as_str() {
            *by_address.entry(email.to_lowercase()).or_default() += 1;
        }
    }
    let shared_addresses = by_address.values().filter(|n| **n > 1).count();
    assert!(
        !on || shared_addresses == 0,
        "switched on with {shared_addresses} shared addresses"
    );
    assert_eq!(reply.status, 409, "{:?}", reply.body);
    true
}
