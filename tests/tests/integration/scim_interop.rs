//! SCIM as real sources send it (issue 12): what RFC 7643/7644 allow is accepted the way the RFCs
//! define it.

use provisio_tests::{ScimClient, TestEnv};
use serde_json::json;

#[tokio::test]
async fn endpoint_names_in_any_case_reach_the_same_handlers() {
    let env = TestEnv::new().await;
    let client = ScimClient::new(&env, "Hand-built paths").await;
    let user = client.user("ann@corp.test").await;
    for path in ["/users", "/USERS", "/Users"] {
        let reply = client.send("GET", path, None).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        assert_eq!(reply.body["totalResults"], 1, "{path}");
    }
    assert_eq!(
        client.send("GET", &format!("/users/{user}"), None).await.body["id"],
        user.as_str()
    );
    for path in ["/serviceproviderconfig", "/resourcetypes", "/schemas", "/groups"] {
        assert_eq!(client.send("GET", path, None).await.status, 200, "{path}");
    }
    let reply = client
        .send(
            "POST",
            "/bulk",
            Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                         "Operations": [{ "method": "POST", "bulkId": "g", "path": "/groups",
                                          "data": { "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops" } },
                                        { "method": "POST", "bulkId": "n", "path": "/bulk", "data": {} }] })),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["Operations"][0]["status"], "201");
    assert_eq!(
        reply.body["Operations"][1]["status"], "400",
        "a bulk can't nest, whatever its case"
    );
}

/// Every attribute and sub-attribute of a schema document: (name, description).
fn descriptions(attributes: &serde_json::Value, out: &mut Vec<(String, String)>) {
    for a in attributes.as_array().into_iter().flatten() {
        out.push((
            a["name"].as_str().unwrap_or_default().to_string(),
            a["description"].as_str().unwrap_or_default().to_string(),
        ));
        descriptions(&a["subAttributes"], out);
    }
}

#[tokio::test]
async fn discovery_documents_read_as_rfc_7643_writes_them() {
    let env = TestEnv::new().await;
    let client = ScimClient::new(&env, "Discovery").await;
    for (id, name, description) in [
        (
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "User",
            "User Account",
        ),
        ("urn:ietf:params:scim:schemas:core:2.0:Group", "Group", "Group"),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "EnterpriseUser",
            "Enterprise User",
        ),
    ] {
        let schema = client.send("GET", &format!("/Schemas/{id}"), None).await.body;
        assert_eq!(
            (schema["name"].as_str(), schema["description"].as_str()),
            (Some(name), Some(description))
        );
        let mut all = Vec::new();
        descriptions(&schema["attributes"], &mut all);
        assert!(all.len() > 2, "{schema}");
        for (attribute, text) in all {
            assert!(
                text.len() > attribute.len() && !text.eq_ignore_ascii_case(&attribute),
                "{id} {attribute}: the description says what it is, not its name: {text:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_groups_version_moves_with_its_members() {
    let env = TestEnv::new().await;
    let client = ScimClient::new(&env, "Entra").await;
    let (ann, bob) = (client.user("ann").await, client.user("bob").await);
    let reply = client
        .send(
            "POST",
            "/Groups",
            Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops" })),
        )
        .await;
    let group = reply.body["id"].as_str().expect("id").to_string();
    let version = |body: &serde_json::Value| body["meta"]["version"].as_str().unwrap_or_default().to_string();
    let v1 = version(&client.send("GET", &format!("/Groups/{group}"), None).await.body);

    let add = |user: &str| json!([{ "op": "add", "path": "members", "value": [{ "value": user }] }]);
    assert!(client.patch_group(&group, add(&ann)).await.status < 300);
    let v2 = version(&client.send("GET", &format!("/Groups/{group}"), None).await.body);
    assert_ne!(v1, v2, "adding a member moves the version");

    // A PATCH naming the old version is refused and adds nobody.
    let stale = provisio_tests::Call::new("PATCH", &client.path(&format!("/Groups/{group}")))
        .key(&client.token)
        .header("If-Match", &v1)
        .json(
            json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": add(&bob) }),
        );
    let reply = env.scim_call(&env.scim, stale).await;
    assert_eq!(reply.status, 412, "{:?}", reply.body);
    let members = client.send("GET", &format!("/Groups/{group}"), None).await.body["members"].clone();
    assert_eq!(members.as_array().map(Vec::len), Some(1), "{members}");

    // The admin API's membership changes move it too.
    assert_eq!(
        env.put(&format!("/admin/groups/{group}/members/{bob}"))
            .await
            .status,
        201
    );
    let v3 = version(&client.send("GET", &format!("/Groups/{group}"), None).await.body);
    assert_ne!(v2, v3);
    assert_eq!(
        env.delete(&format!("/admin/groups/{group}/members/{bob}"))
            .await
            .status,
        204
    );
    let v4 = version(&client.send("GET", &format!("/Groups/{group}"), None).await.body);
    assert_ne!(v3, v4);
}

#[tokio::test]
async fn projection_takes_sub_attributes_everywhere_and_ignores_unknown_names() {
    let env = TestEnv::new().await;
    let client = ScimClient::new(&env, "Entra").await;
    let reply = client
        .send(
            "POST",
            "/Users",
            Some(
                json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann",
                         "name": { "givenName": "Ann", "familyName": "Lee" }, "title": "Eng",
                         "emails": [{ "value": "ann@corp.test", "type": "work", "primary": true }] }),
            ),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let user = reply.body["id"].as_str().expect("id").to_string();
    let expected = |body: &serde_json::Value| {
        assert_eq!(body["name"], json!({ "familyName": "Lee" }), "{body}");
        assert_eq!(body["emails"], json!([{ "value": "ann@corp.test" }]), "{body}");
        assert!(
            body.get("title").is_none() && body.get("userName").is_none(),
            "{body}"
        );
        assert_eq!(body["id"], user.as_str());
    };
    let attrs = "attributes=emails.value,name.familyName,noSuchAttribute";
    let list = client.send("GET", &format!("/Users?{attrs}"), None).await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    expected(&list.body["Resources"][0]);
    let one = client.send("GET", &format!("/Users/{user}?{attrs}"), None).await;
    assert_eq!(one.status, 200, "{:?}", one.body);
    expected(&one.body);
    let search = client
        .send(
            "POST",
            "/Users/.search",
            Some(
                json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                         "attributes": ["emails.value", "name.familyName", "noSuchAttribute"] }),
            ),
        )
        .await;
    assert_eq!(search.status, 200, "{:?}", search.body);
    expected(&search.body["Resources"][0]);

    let reply = client
        .send(
            "POST",
            "/Groups",
            Some(
                json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                               "displayName": "Ops", "members": [{ "value": user }] }),
            ),
        )
        .await;
    let group = reply.body["id"].as_str().expect("id").to_string();
    for path in [
        "/Groups?excludedAttributes=members".to_string(),
        format!("/Groups/{group}?excludedAttributes=members"),
    ] {
        let body = client.send("GET", &path, None).await.body;
        let resource = if body["Resources"].is_array() {
            body["Resources"][0].clone()
        } else {
            body
        };
        assert!(resource.get("members").is_none(), "{path}: {resource}");
        assert_eq!(resource["displayName"], "Ops");
    }
}

#[tokio::test]
async fn an_email_as_the_user_typed_it_is_stored_and_sent_as_stored() {
    let env = TestEnv::new().await;
    let client = ScimClient::new(&env, "Okta").await;
    let typed = "Ann Lee <ann at corp>";
    let reply = client
        .send(
            "POST",
            "/Users",
            Some(
                json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann",
                         "emails": [{ "value": typed, "type": "work", "primary": true }] }),
            ),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let user = reply.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        env.get(&format!("/admin/users/{user}")).await.body["email"],
        typed
    );
    assert_eq!(reply.body["emails"][0]["value"], typed);

    let app = env.app("Target").await;
    let reply = env
        .call(
            provisio_tests::Call::new("PUT", &format!("/admin/apps/{app}/event-configs/user_created")).json(
                json!({ "enabled": false, "request": { "method": "POST", "url": "https://api.example.com/users",
                                                       "body": { "email": "@email" } } }),
            ),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let preview = env
        .post(
            &format!("/admin/apps/{app}/event-configs/user_created/preview"),
            json!({ "userId": user }),
        )
        .await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    assert!(
        preview
            .body
            .to_string()
            .contains(&serde_json::to_string(typed).expect("json")),
        "{:?}",
        preview.body
    );

    // The admin API stays strict.
    let reply = env
        .post(
            "/admin/users",
            json!({ "userName": "bob", "email": "bob at corp" }),
        )
        .await;
    assert_eq!((reply.status, reply.field()), (400, Some("email")));
}

#[tokio::test]
async fn external_ids_are_the_clients_case_exact_and_not_unique() {
    let env = TestEnv::new().await;
    let client = ScimClient::new(&env, "Entra").await;
    let other = ScimClient::new(&env, "Okta").await;
    let user = |name: &str, external: &str| json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "externalId": external });
    for (name, external) in [("ann", "E-1"), ("bob", "E-1"), ("cid", "e-1")] {
        let reply = client.send("POST", "/Users", Some(user(name, external))).await;
        assert_eq!(reply.status, 201, "{name}: {:?}", reply.body);
    }
    assert_eq!(
        other
            .send("POST", "/Users", Some(user("dan", "E-1")))
            .await
            .status,
        201
    );
    let filter = |value: &str| provisio_tests::encode(&format!("externalId eq \"{value}\""));
    let found = client
        .send("GET", &format!("/Users?filter={}", filter("E-1")), None)
        .await
        .body;
    let mut names: Vec<&str> = found["Resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["userName"].as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["ann", "bob"],
        "every match of this source, compared case-exactly: {found}"
    );
    let found = client
        .send("GET", &format!("/Users?filter={}", filter("e-1")), None)
        .await
        .body;
    assert_eq!(found["totalResults"], 1);

    let group = |name: &str| json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "externalId": "G-1" });
    assert_eq!(
        client.send("POST", "/Groups", Some(group("Ops"))).await.status,
        201
    );
    assert_eq!(
        client.send("POST", "/Groups", Some(group("Dev"))).await.status,
        201
    );
    let found = client
        .send("GET", &format!("/Groups?filter={}", filter("G-1")), None)
        .await
        .body;
    assert_eq!(found["totalResults"], 2, "{found}");
}

/// RFC 9865 cursor paging: a walk over 10,000 users, one Query a page whatever the directory's
/// size, every user exactly once.
#[tokio::test]
async fn a_cursor_walk_sees_every_user_once_with_one_query_a_page() {
    use futures::StreamExt;
    // Nothing feeds the stream here: seeding 10,000 users is a directory write each.
    let env = TestEnv::new().await;
    let client = ScimClient::new(&env, "Walker").await;
    const USERS: usize = 10_000;
    let created: Vec<u16> = futures::stream::iter(0..USERS)
        .map(|i| {
            let env = &env;
            async move {
                env.post("/admin/users", json!({ "userName": format!("walk{i:05}") }))
                    .await
                    .status
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(created.iter().all(|s| *s == 201));
    let config = client.send("GET", "/ServiceProviderConfig", None).await.body;
    assert_eq!(config["pagination"]["cursor"], true, "{config}");

    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        env.requests.reset();
        let reply = client
            .send("GET", &format!("/Users?cursor={cursor}&count=200"), None)
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        if pages > 0 {
            let counted = env.requests.snapshot();
            assert_eq!(
                counted.get("DynamoDB.Query"),
                Some(&1),
                "page {pages}: {counted:?}"
            );
            assert_eq!(env.requests.total_for("DynamoDB"), 1, "page {pages}: {counted:?}");
        }
        pages += 1;
        for user in reply.body["Resources"].as_array().expect("resources") {
            let name = user["userName"].as_str().expect("userName").to_string();
            assert!(seen.insert(name.clone()), "{name} seen twice");
        }
        match reply.body["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), USERS);
    assert!(pages >= USERS / 200, "{pages} pages");

    // A cursor this server did not issue.
    let reply = client
        .send("GET", "/Users?cursor=bm90LWEtY3Vyc29y&count=10", None)
        .await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert_eq!(reply.body["scimType"], "invalidCursor");
    let reply = client.send("GET", "/Users?cursor=&count=0", None).await;
    assert_eq!(reply.body["scimType"], "invalidCount");
}

/// Email uniqueness is a directory setting, off by default (RFC 7643 gives `emails` none).
/// The SCIM API and the admin API each keep the setting they last read, as two Lambda instances
/// would: switching it on through one must hold the other to it.
#[tokio::test]
async fn email_uniqueness_is_a_directory_setting_off_by_default() {
    let env = TestEnv::new().await;
    let client = ScimClient::new(&env, "Entra").await;
    let user = |name: &str, email: &str| {
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
                "emails": [{ "value": email, "type": "work", "primary": true }] })
    };
    assert_eq!(env.get("/admin/settings").await.body["uniqueEmail"], false);
    let ann = client
        .send("POST", "/Users", Some(user("ann", "shared@corp.test")))
        .await;
    let bob = client
        .send("POST", "/Users", Some(user("bob", "Shared@Corp.test")))
        .await;
    assert_eq!(
        (ann.status, bob.status),
        (201, 201),
        "{:?} {:?}",
        ann.body,
        bob.body
    );
    let (ann, bob) = (
        ann.body["id"].as_str().unwrap().to_string(),
        bob.body["id"].as_str().unwrap().to_string(),
    );

    // Switching on while two users share an address: refused, with the address and both users,
    // and nothing changed.
    let refused = env.patch("/admin/settings", json!({ "uniqueEmail": true })).await;
    assert_eq!(
        (refused.status, refused.field()),
        (409, Some("uniqueEmail")),
        "{:?}",
        refused.body
    );
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    for part in ["shared@corp.test", ann.as_str(), bob.as_str()] {
        assert!(detail.contains(part), "{part} missing from {detail}");
    }
    assert_eq!(env.get("/admin/settings").await.body["uniqueEmail"], false);
    let cid = client
        .send("POST", "/Users", Some(user("cid", "shared@corp.test")))
        .await;
    assert_eq!(cid.status, 201, "still off: {:?}", cid.body);
    let cid = cid.body["id"].as_str().unwrap().to_string();

    // Two of them move away (and one is deleted); then it can be switched on.
    let patch = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "bob@corp.test" }] });
    let moved = client.send("PATCH", &format!("/Users/{bob}"), Some(patch)).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(
        client.send("DELETE", &format!("/Users/{cid}"), None).await.status,
        204
    );
    let on = env.patch("/admin/settings", json!({ "uniqueEmail": true })).await;
    assert_eq!(
        (on.status, on.body["uniqueEmail"].clone()),
        (200, json!(true)),
        "{:?}",
        on.body
    );

    // The SCIM API last read "off"; it is held to "on" all the same.
    let taken = client
        .send("POST", "/Users", Some(user("dan", "SHARED@corp.test")))
        .await;
    assert_eq!(taken.status, 409, "{:?}", taken.body);
    assert_eq!(taken.body["scimType"], "uniqueness");
    assert!(
        taken.body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("emails:"),
        "{:?}",
        taken.body
    );
    let clash = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "shared@CORP.test" }] });
    assert_eq!(
        client
            .send("PATCH", &format!("/Users/{bob}"), Some(clash.clone()))
            .await
            .status,
        409
    );
    // The deleted user's address is free, and a user keeps its own.
    let keep = client
        .send(
            "PATCH",
            &format!("/Users/{ann}"),
            Some(
                json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "replace", "path": "displayName", "value": "Ann" }] }),
            ),
        )
        .await;
    assert_eq!(keep.status, 200, "{:?}", keep.body);

    // Off again: the same create goes through.
    let off = env
        .patch("/admin/settings", json!({ "uniqueEmail": false }))
        .await;
    assert_eq!(off.body["uniqueEmail"], false);
    assert_eq!(
        client
            .send("PATCH", &format!("/Users/{bob}"), Some(clash))
            .await
            .status,
        200
    );
    let bad = env
        .patch("/admin/settings", json!({ "uniqueEmails": true }))
        .await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
}
