//! The seeds' walkthrough against a running `make dev`, as a newcomer would click through it:
//! seed 000 (a custom provisioning app with OAuth 2.0, its create and update calls, a group, the
//! app login policy, a user in the group, then an import of the app's users) and seed 004 (a SCIM
//! client app pushing a user and a group, then deactivating the user). The sample app it provisions
//! to runs here, on 127.0.0.1. `make demo` prints each step; the end-to-end test checks the
//! transcript.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sample_app::{FakeApp, OAuthClient, Received, UsersApi};

/// What happened, for the caller to show or check.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub create: Received,
    pub update: Received,
    /// Events of the app's provisioning log after the update, newest first.
    pub log_events: Vec<String>,
    pub report: Value,
    /// Users of the directory whose source is the sample app after the import.
    pub imported: usize,
    pub scim_group_members: Value,
    pub scim_create: Received,
    /// Status of the SCIM user in the admin API after the source deactivated it.
    pub deactivated_user_status: u16,
    pub scim_delete: Received,
    /// Every request the sample app received, in order.
    pub received: Vec<Received>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DemoError(String);

fn fail(e: impl std::fmt::Display) -> DemoError {
    DemoError(e.to_string())
}

struct Admin {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Admin {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value), DemoError> {
        let mut request = self
            .http
            .request(method.parse().map_err(fail)?, format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.key));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(fail)?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn ok(&self, method: &str, path: &str, body: Value) -> Result<Value, DemoError> {
        let (status, reply) = self.call(method, path, Some(body)).await?;
        if (200..300).contains(&status) {
            Ok(reply)
        } else {
            Err(DemoError(format!("{method} {path}: {status} {reply}")))
        }
    }

    async fn id(&self, method: &str, path: &str, body: Value) -> Result<String, DemoError> {
        let reply = self.ok(method, path, body).await?;
        reply["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| DemoError(format!("{method} {path}: no id in {reply}")))
    }
}

/// Polls until `check` finds what it waits for, for at most 90 s.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> Result<T, DemoError> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(found) = check().await {
            return Ok(found);
        }
        if Instant::now() > deadline {
            return Err(DemoError(format!(
                "gave up waiting for {what}; are the dispatcher and importer fed (make dev)?"
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn last(app: &FakeApp, method: &str, path: &str) -> Option<Received> {
    app.received()
        .into_iter()
        .rev()
        .find(|r| r.method == method && r.path == path)
}

fn show(r: &Received) -> String {
    let body = if r.body.is_empty() {
        String::new()
    } else {
        format!(" {}", r.body)
    };
    format!("{} {}{}", r.method, r.path, body)
}

/// Runs the story against the admin API at `base` with `admin_key`; `say` gets each line.
pub async fn run(base: &str, admin_key: &str, say: impl Fn(&str)) -> Result<Transcript, DemoError> {
    let admin = Admin {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(fail)?,
        base: base.trim_end_matches('/').to_string(),
        key: admin_key.to_string(),
    };
    let sample = UsersApi::new(
        Some(OAuthClient {
            client_id: "provisio".into(),
            client_secret: "sample-secret".into(),
        }),
        Duration::from_secs(3600),
    );
    sample.seed((1..=3).map(|i| {
        (
            format!("legacy-{i}"),
            json!({ "email": format!("legacy{i}@sample.test"), "firstName": format!("Legacy{i}") }),
        )
    }));
    let server = sample.start().await;
    let url = server.url.clone();
    say(&format!(
        "Sample app (users API, OAuth 2.0, 3 existing accounts) on {url}"
    ));

    say("Seed 000, custom provisioning");
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let app = admin
        .id(
            "POST",
            "/admin/apps",
            json!({ "name": format!("Sample HR {suffix}"), "kind": "custom_provisioning" }),
        )
        .await?;
    say(&format!("  1. app Sample HR {suffix}: {app}"));
    let auth = admin
        .id(
            "POST",
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "oauth2", "name": "Sample OAuth", "tokenUrl": format!("{url}/oauth/token"),
                    "clientId": "provisio", "clientSecret": "sample-secret" }),
        )
        .await?;
    say(&format!(
        "  2. OAuth 2.0 authorization {auth} (the client secret is in Secrets Manager)"
    ));
    admin
        .ok(
            "PUT",
            &format!("/admin/apps/{app}/event-configs/user_created"),
            json!({ "authId": auth, "externalIdPath": "data.id",
                    "request": { "method": "POST", "url": format!("{url}/users"),
                                 "body": { "email": "@email", "firstName": "@givenName", "lastName": "@familyName",
                                           "active": "@active", "department": "@attributes.department" } } }),
        )
        .await?;
    say(
        "  3. user created  -> POST /users {email, firstName, lastName, active, department}; id from data.id",
    );
    admin
        .ok(
            "PUT",
            &format!("/admin/apps/{app}/event-configs/user_updated"),
            json!({ "authId": auth,
                    "request": { "method": "PUT", "url": format!("{url}/users/@ExternalUserId"),
                                 "body": { "email": "@email", "firstName": "@givenName", "active": "@active" } } }),
        )
        .await?;
    admin
        .ok(
            "PUT",
            &format!("/admin/apps/{app}/event-configs/user_deleted"),
            json!({ "authId": auth, "request": { "method": "DELETE", "url": format!("{url}/users/@ExternalUserId") } }),
        )
        .await?;
    say("  4. user updated  -> PUT /users/@ExternalUserId; user deleted -> DELETE /users/@ExternalUserId");
    let group = admin
        .id(
            "POST",
            "/admin/groups",
            json!({ "name": format!("Engineering {suffix}") }),
        )
        .await?;
    say(&format!("  5. group Engineering {suffix}: {group}"));
    admin
        .ok(
            "POST",
            "/admin/policies",
            json!({ "name": "Sample HR for Engineering", "appId": app, "groupId": group, "firstFactor": "password" }),
        )
        .await?;
    say("  6. app login policy: Engineering gets Sample HR");
    let ada = admin
        .id(
            "POST",
            "/admin/users",
            json!({ "userName": format!("ada-{suffix}"), "email": format!("ada-{suffix}@example.com"),
                    "givenName": "Ada", "familyName": "Lovelace", "attributes": { "department": "R&D" } }),
        )
        .await?;
    say(&format!("  7. user ada-{suffix}: {ada}"));
    admin
        .ok(
            "PUT",
            &format!("/admin/groups/{group}/members/{ada}"),
            Value::Null,
        )
        .await?;
    say("  8. Ada joins Engineering");
    let create = eventually("the create", async || last(&server, "POST", "/users")).await?;
    say(&format!("     sample app received: {}", show(&create)));
    let ada_email = format!("ada-{suffix}@example.com");
    let account = sample
        .accounts()
        .into_iter()
        .find(|(_, a)| a["email"] == ada_email.as_str())
        .map(|(id, _)| id)
        .ok_or_else(|| DemoError("Ada has no account in the sample app".into()))?;
    admin
        .ok(
            "PATCH",
            &format!("/admin/users/{ada}"),
            json!({ "givenName": "Augusta Ada" }),
        )
        .await?;
    say("     Ada's first name changes");
    let path = format!("/users/{account}");
    let update = eventually("the update", async || last(&server, "PUT", &path)).await?;
    say(&format!("     sample app received: {}", show(&update)));
    // The dispatcher logs the call once the app has answered: the entry may trail the request.
    let log_events = eventually("the update's log entry", async || {
        let (_, log) = admin
            .call("GET", &format!("/admin/apps/{app}/provisioning-log"), None)
            .await
            .ok()?;
        let events: Vec<String> = log["items"]
            .as_array()
            .into_iter()
            .flatten()
            // The calls; skipped entries (an event with nothing to send) are left out here.
            .filter(|e| e["outcome"] != "skipped")
            .filter_map(|e| Some(format!("{} {}", e["event"].as_str()?, e["status"])))
            .collect();
        events
            .iter()
            .any(|e| e.starts_with("user_updated"))
            .then_some(events)
    })
    .await?;
    say(&format!("     provisioning log: {}", log_events.join(", ")));

    let import = admin
        .id(
            "POST",
            &format!("/admin/apps/{app}/import-configs"),
            json!({ "name": "Sample HR users", "authId": auth,
                    "request": { "method": "GET", "url": format!("{url}/users?cursor=@Pagination") },
                    "usersPath": "users.data", "pagination": { "nextPath": "next" },
                    "mapping": { "externalId": "id", "email": "email", "givenName": "firstName" } }),
        )
        .await?;
    say("  9. import: GET /users?cursor=@Pagination, users at users.data, next page key `next`");
    let job = admin
        .id(
            "POST",
            &format!("/admin/apps/{app}/import-configs/{import}/runs"),
            json!({}),
        )
        .await?;
    let report = eventually("the import", async || {
        let (_, job) = admin
            .call("GET", &format!("/admin/jobs/{job}"), None)
            .await
            .ok()?;
        (job["status"] != "running").then_some(job)
    })
    .await?;
    say(&format!(
        "     bulk-operations report: {} after {} pages: seen {}, created {}, updated {}, unchanged {}, failed {}",
        report["status"],
        report["pages"],
        report["seen"],
        report["created"],
        report["updated"],
        report["unchanged"],
        report["failed"]
    ));
    let (_, users) = admin.call("GET", "/admin/users?limit=200", None).await?;
    let imported = users["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["sourceAppId"] == app.as_str())
        .count();

    say("Seed 004, SCIM client app");
    let scim_app = admin
        .ok(
            "POST",
            "/admin/apps",
            json!({ "name": format!("Entra ID {suffix}"), "kind": "scim_client", "deleteOnDeactivate": true }),
        )
        .await?;
    let scim_base = scim_app["scim"]["baseUrl"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let token = format!(
        "Bearer {}",
        scim_app["scim"]["token"].as_str().unwrap_or_default()
    );
    say(&format!(
        "  SCIM base URL {scim_base} and its bearer token (shown once); delete on deactivate"
    ));
    let scim = async |method: &str, path: &str, body: Value| -> Result<(u16, Value), DemoError> {
        let response = admin
            .http
            .request(method.parse().map_err(fail)?, format!("{scim_base}{path}"))
            .header("authorization", &token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .map_err(fail)?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    };
    let grace_email = format!("grace-{suffix}@example.com");
    let (status, grace) = scim(
        "POST",
        "/Users",
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": grace_email,
                "externalId": "entra-7", "name": { "givenName": "Grace", "familyName": "Hopper" },
                "emails": [{ "value": grace_email, "type": "work", "primary": true }],
                "displayName": "Grace Hopper", "active": true }),
    )
    .await?;
    if status != 201 {
        return Err(DemoError(format!("SCIM POST /Users: {status} {grace}")));
    }
    let grace_id = grace["id"].as_str().unwrap_or_default().to_string();
    say(&format!("  the source pushes user {grace_email}: {grace_id}"));
    let (status, navy) = scim(
        "POST",
        "/Groups",
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("Navy {suffix}"),
                "members": [{ "value": grace_id }] }),
    )
    .await?;
    if status != 201 {
        return Err(DemoError(format!("SCIM POST /Groups: {status} {navy}")));
    }
    let navy_id = navy["id"].as_str().unwrap_or_default().to_string();
    let (_, members) = admin
        .call("GET", &format!("/admin/groups/{navy_id}/members"), None)
        .await?;
    say(&format!("  and group Navy {suffix} with her in it: {navy_id}"));
    admin
        .ok(
            "POST",
            "/admin/policies",
            json!({ "name": "Sample HR for Navy", "appId": app, "groupId": navy_id, "firstFactor": "password" }),
        )
        .await?;
    say("  an app login policy gives Navy the sample app");
    let scim_create = eventually("Grace's create", async || {
        server
            .received()
            .into_iter()
            .find(|r| r.method == "POST" && r.path == "/users" && r.json()["email"] == grace_email.as_str())
    })
    .await?;
    say(&format!("     sample app received: {}", show(&scim_create)));
    let grace_account = sample
        .accounts()
        .into_iter()
        .find(|(_, a)| a["email"] == grace_email.as_str())
        .map(|(id, _)| id)
        .ok_or_else(|| DemoError("Grace has no account in the sample app".into()))?;
    let (status, _) = scim(
        "PATCH",
        &format!("/Users/{grace_id}"),
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "replace", "path": "active", "value": false }] }),
    )
    .await?;
    if !(200..300).contains(&status) {
        return Err(DemoError(format!("SCIM PATCH: {status}")));
    }
    let (deactivated_user_status, _) = admin
        .call("GET", &format!("/admin/users/{grace_id}"), None)
        .await?;
    say(&format!(
        "  the source deactivates Grace: the directory deletes her (GET /admin/users/{{id}}: {deactivated_user_status})"
    ));
    let path = format!("/users/{grace_account}");
    let scim_delete = eventually("Grace's delete", async || last(&server, "DELETE", &path)).await?;
    say(&format!("     sample app received: {}", show(&scim_delete)));

    let received = server.received();
    let tokens = received.iter().filter(|r| r.path == "/oauth/token").count();
    say(&format!(
        "Everything the sample app received ({tokens} token request(s) aside):"
    ));
    for r in received.iter().filter(|r| r.path != "/oauth/token") {
        say(&format!("  {}", show(r)));
    }
    Ok(Transcript {
        create,
        update,
        log_events,
        report,
        imported,
        scim_group_members: members,
        scim_create,
        deactivated_user_status,
        scim_delete,
        received,
    })
}
