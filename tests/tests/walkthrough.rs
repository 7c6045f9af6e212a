//! The seeds' walkthrough end to end, the way a newcomer meets it after `make dev`: HTTP through
//! `cargo lambda watch` to the functions, the queue functions fed from the local queues, and a
//! sample app on 127.0.0.1 (a users API with an OAuth 2.0 token endpoint and a paginated list).
//! Seed 000 (custom provisioning and import), then seed 004 (a SCIM client app).

use std::time::{Duration, Instant};

use devstack::feed::Feeder;
use provisio_tests::TestEnv;
use provisio_tests::fake_app::{OAuthClient, Received, UsersApi};
use serde_json::{Value, json};

struct Admin {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Admin {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.parse().expect("method"), format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.key));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the admin API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, reply) = self.call(method, path, Some(body)).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {reply}");
        reply
    }
}

/// Polls until `check` finds what it waits for (bounded).
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn find(received: &[Received], method: &str, path: &str) -> Option<Received> {
    received
        .iter()
        .rev()
        .find(|r| r.method == method && r.path == path)
        .cloned()
}

/// Feeds a queue to a function through `cargo lambda watch`, as `make dev` does, until dropped.
fn feed(env: &TestEnv, queue: &str, function: &str, base: &str) -> tokio::task::JoinHandle<()> {
    let mut feeder = Feeder::new(
        env.clients.sqs.clone(),
        &env.resources.queue_urls[queue],
        base,
        function,
    );
    feeder.wait_seconds = 1;
    tokio::spawn(async move {
        loop {
            if feeder.poll_once().await.is_err() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    })
}

#[tokio::test]
async fn the_seed_walkthrough_through_make_dev() {
    let env = TestEnv::new().await;
    let mut watch = provisio_tests::watch::start(&env);
    watch.ready(&env.resources.admin_key).await;
    let feeders = [
        feed(&env, "dispatch", "dispatcher", &watch.base),
        feed(&env, "import", "importer", &watch.base),
    ];
    let admin = Admin {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .expect("client"),
        base: watch.base.clone(),
        key: env.resources.admin_key.clone(),
    };
    let sample = UsersApi::new(
        Some(OAuthClient {
            client_id: "provisio".into(),
            client_secret: "sample-secret".into(),
        }),
        Duration::from_secs(3600),
    );
    // Accounts the sample app had before Provisio: the import finds them.
    sample.seed((1..=3).map(|i| {
        (
            format!("legacy-{i}"),
            json!({ "email": format!("legacy{i}@sample.test"), "firstName": format!("Legacy{i}") }),
        )
    }));
    let app_server = sample.start().await;
    let url = app_server.url.clone();

    // Seed 000, steps 1-4: the app, its OAuth 2.0 authorization, the create and update calls.
    let app = admin
        .ok(
            "POST",
            "/admin/apps",
            json!({ "name": "Sample HR", "kind": "custom_provisioning" }),
        )
        .await["id"]
        .as_str()
        .expect("app id")
        .to_string();
    let auth = admin
        .ok(
            "POST",
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "oauth2", "name": "Sample OAuth", "tokenUrl": format!("{url}/oauth/token"),
                    "clientId": "provisio", "clientSecret": "sample-secret" }),
        )
        .await["id"]
        .as_str()
        .expect("auth id")
        .to_string();
    admin
        .ok(
            "PUT",
            &format!("/admin/apps/{app}/event-configs/user_created"),
            json!({ "authId": auth, "externalIdPath": "data.id",
                    "request": { "method": "POST", "url": format!("{url}/users"),
                                 "body": { "email": "@email", "firstName": "@givenName", "lastName": "@familyName",
                                           "active": "@active", "department": "@attributes.department" } } }),
        )
        .await;
    admin
        .ok(
            "PUT",
            &format!("/admin/apps/{app}/event-configs/user_updated"),
            json!({ "authId": auth,
                    "request": { "method": "PUT", "url": format!("{url}/users/@ExternalUserId"),
                                 "body": { "email": "@email", "firstName": "@givenName", "active": "@active" } } }),
        )
        .await;
    admin
        .ok(
            "PUT",
            &format!("/admin/apps/{app}/event-configs/user_deleted"),
            json!({ "authId": auth, "request": { "method": "DELETE", "url": format!("{url}/users/@ExternalUserId") } }),
        )
        .await;

    // Steps 5-8: a group, the policy that gives it the app, a user, the user in the group.
    let group = admin
        .ok("POST", "/admin/groups", json!({ "name": "Engineering" }))
        .await["id"]
        .as_str()
        .expect("group id")
        .to_string();
    admin
        .ok(
            "POST",
            "/admin/policies",
            json!({ "name": "Sample HR for Engineering", "appId": app, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    let ada = admin
        .ok(
            "POST",
            "/admin/users",
            json!({ "userName": "ada", "email": "ada@example.com", "givenName": "Ada", "familyName": "Lovelace",
                    "attributes": { "department": "R&D" } }),
        )
        .await["id"]
        .as_str()
        .expect("user id")
        .to_string();
    admin
        .ok(
            "PUT",
            &format!("/admin/groups/{group}/members/{ada}"),
            json!(null),
        )
        .await;

    // The sample app receives the create, with an OAuth token, the JSON types kept.
    let create = eventually("the create", async || {
        find(&app_server.received(), "POST", "/users")
    })
    .await;
    assert_eq!(
        create.json(),
        json!({ "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "active": true,
                "department": "R&D" })
    );
    assert_eq!(create.header("authorization"), Some("Bearer tok-1"));
    let ada_account = sample
        .accounts()
        .into_iter()
        .find(|(_, a)| a["email"] == "ada@example.com")
        .map(|(id, _)| id)
        .expect("Ada's account");

    // An update arrives at the stored id.
    admin
        .ok(
            "PATCH",
            &format!("/admin/users/{ada}"),
            json!({ "givenName": "Augusta Ada" }),
        )
        .await;
    let path = format!("/users/{ada_account}");
    let update = eventually("the update", async || find(&app_server.received(), "PUT", &path)).await;
    assert_eq!(
        update.json(),
        json!({ "email": "ada@example.com", "firstName": "Augusta Ada", "active": true })
    );
    let log = admin
        .call("GET", &format!("/admin/apps/{app}/provisioning-log"), None)
        .await
        .1;
    let events: Vec<&str> = log["items"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(events, ["user_updated", "user_created"]);

    // Step 9: import the sample app's users (users key users.data, next-page key, mapping).
    let import = admin
        .ok(
            "POST",
            &format!("/admin/apps/{app}/import-configs"),
            json!({ "name": "Sample HR users", "authId": auth,
                    "request": { "method": "GET", "url": format!("{url}/users?cursor=@Pagination") },
                    "usersPath": "users.data", "pagination": { "nextPath": "next" },
                    "mapping": { "externalId": "id", "email": "email", "givenName": "firstName" } }),
        )
        .await["id"]
        .as_str()
        .expect("import id")
        .to_string();
    let job = admin
        .ok(
            "POST",
            &format!("/admin/apps/{app}/import-configs/{import}/runs"),
            json!({}),
        )
        .await["id"]
        .as_str()
        .expect("job id")
        .to_string();
    let report = eventually("the import", async || {
        let (_, job) = admin.call("GET", &format!("/admin/jobs/{job}"), None).await;
        (job["status"] != "running").then_some(job)
    })
    .await;
    // Four accounts, two a page: the three legacy ones are created; Ada's account, found by
    // email, links her to it.
    assert_eq!(report["status"], "succeeded", "{report:#}");
    assert_eq!(
        [
            &report["pages"],
            &report["seen"],
            &report["created"],
            &report["updated"],
            &report["failed"]
        ],
        [&json!(2), &json!(4), &json!(3), &json!(1), &json!(0)],
        "{report:#}"
    );
    let (_, users) = admin.call("GET", "/admin/users?limit=50", None).await;
    let imported: Vec<&Value> = users["items"]
        .as_array()
        .expect("users")
        .iter()
        .filter(|u| u["sourceAppId"] == app.as_str())
        .collect();
    assert_eq!(imported.len(), 4);

    // Seed 004: a SCIM client app with delete-on-deactivate; it pushes a user and a group.
    let scim_app = admin
        .ok(
            "POST",
            "/admin/apps",
            json!({ "name": "Entra ID", "kind": "scim_client", "deleteOnDeactivate": true }),
        )
        .await;
    let base = scim_app["scim"]["baseUrl"]
        .as_str()
        .expect("SCIM base URL")
        .to_string();
    let token = format!(
        "Bearer {}",
        scim_app["scim"]["token"].as_str().expect("SCIM token")
    );
    let scim = |method: &str, path: &str, body: Value| {
        admin
            .http
            .request(method.parse().expect("method"), format!("{base}{path}"))
            .header("authorization", &token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
    };
    let grace = scim(
        "POST",
        "/Users",
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "grace@example.com",
                "externalId": "entra-7", "name": { "givenName": "Grace", "familyName": "Hopper" },
                "emails": [{ "value": "grace@example.com", "type": "work", "primary": true }],
                "displayName": "Grace Hopper", "active": true }),
    )
    .await
    .expect("SCIM");
    assert_eq!(grace.status().as_u16(), 201);
    let grace: Value = grace.json().await.expect("SCIM user");
    let grace_id = grace["id"].as_str().expect("id").to_string();
    let navy = scim(
        "POST",
        "/Groups",
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Navy",
                "members": [{ "value": grace_id }] }),
    )
    .await
    .expect("SCIM");
    assert_eq!(navy.status().as_u16(), 201);
    let navy: Value = navy.json().await.expect("SCIM group");
    let (_, members) = admin
        .call(
            "GET",
            &format!("/admin/groups/{}/members", navy["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(members["items"][0]["userId"], grace_id.as_str());

    // The admin gives the SCIM-managed group the sample app: Grace is provisioned there.
    admin
        .ok(
            "POST",
            "/admin/policies",
            json!({ "name": "Sample HR for Navy", "appId": app, "groupId": navy["id"], "firstFactor": "password" }),
        )
        .await;
    let grace_create = eventually("Grace's create", async || {
        app_server
            .received()
            .into_iter()
            .find(|r| r.method == "POST" && r.path == "/users" && r.json()["email"] == "grace@example.com")
    })
    .await;
    assert_eq!(grace_create.json()["firstName"], "Grace");
    let grace_account = sample
        .accounts()
        .into_iter()
        .find(|(_, a)| a["email"] == "grace@example.com")
        .map(|(id, _)| id)
        .expect("Grace's account");

    // The source deactivates Grace; with delete-on-deactivate the directory deletes her and the
    // sample app is told to delete her account.
    let deactivated = scim(
        "PATCH",
        &format!("/Users/{grace_id}"),
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "replace", "path": "active", "value": false }] }),
    )
    .await
    .expect("SCIM");
    assert!(deactivated.status().is_success(), "{}", deactivated.status());
    let (status, _) = admin.call("GET", &format!("/admin/users/{grace_id}"), None).await;
    assert_eq!(status, 404);
    let path = format!("/users/{grace_account}");
    eventually("Grace's delete", async || {
        find(&app_server.received(), "DELETE", &path)
    })
    .await;
    assert!(!sample.accounts().contains_key(&grace_account));

    for feeder in feeders {
        feeder.abort();
    }
}
