//! Provisioning to SCIM 2.0 apps without templates (issue 17): two real SCIM services on
//! 127.0.0.1 that the connector was not written against, `scim2-server` (Python) and a second
//! Provisio's own SCIM ingress, each read back to prove what it holds.

use std::time::Duration;

use provisio_tests::scim_peers::{ScimPeer, serve_scim};
use provisio_tests::{TestEnv, encode};
use serde_json::{Value, json};

const PUMP: Duration = Duration::from_secs(60);

/// A scim_target app on `base` with a bearer token, in scope of `group`; its id.
async fn target_app(env: &TestEnv, base: &str, token: &str, group: &str) -> String {
    let reply = env
        .post(
            "/admin/apps",
            json!({ "name": "SCIM target", "kind": "scim_target", "scimTarget": { "baseUrl": base } }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let app = reply.body["id"].as_str().expect("id").to_string();
    let auth = env
        .post(
            &format!("/admin/apps/{app}/auth-configs"),
            json!({ "type": "bearer", "name": "token", "token": token }),
        )
        .await;
    assert_eq!(auth.status, 201, "{:?}", auth.body);
    let patched = env
        .patch(
            &format!("/admin/apps/{app}"),
            json!({ "scimTarget": { "baseUrl": base, "authId": auth.body["id"] } }),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let policy = env
        .post(
            "/admin/policies",
            json!({ "name": "scim policy", "appId": app, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    assert_eq!(policy.status, 201, "{:?}", policy.body);
    app
}

async fn settle(env: &TestEnv) {
    env.feed_stream().await;
    env.pump(&env.dispatcher(), PUMP).await;
}

/// `settle` with a batch window that a loaded machine can't miss: the users' reconciles reach the
/// member step over more than the default 50 ms when the whole suite runs on two cores, and a
/// member that comes after the window is sent alone (correct, but not what a batching test is
/// about).
async fn settle_batched(env: &TestEnv) {
    env.feed_stream().await;
    let settings = provisio::outbound::dispatch::Settings {
        member_batch_window: std::time::Duration::from_secs(2),
        ..provisio_tests::test_dispatch_settings()
    };
    env.pump(&env.dispatcher_with(settings), PUMP).await;
}

/// The target's `resource` (Users, Groups) whose `attribute` is `value`, read over SCIM.
async fn search(base: &str, token: &str, resource: &str, attribute: &str, value: &str) -> Vec<Value> {
    let filter = encode(&format!("{attribute} eq \"{value}\""));
    let reply: Value = reqwest::Client::new()
        .get(format!("{base}/{resource}?filter={filter}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the target answers")
        .json()
        .await
        .expect("a ListResponse");
    reply["Resources"].as_array().cloned().unwrap_or_default()
}

/// The target's accounts whose `attribute` is `value`.
async fn accounts(base: &str, token: &str, attribute: &str, value: &str) -> Vec<Value> {
    search(base, token, "Users", attribute, value).await
}

/// The log entries of calls about `user`'s account (not groups), oldest first, as "METHOD status".
async fn calls(env: &TestEnv, user: &str) -> Vec<String> {
    let mut entries = env
        .list_all(&format!("/admin/users/{user}/provisioning-log"))
        .await;
    entries.reverse();
    entries
        .iter()
        .filter(|e| e["outcome"] != "skipped" && e["url"].as_str().is_some_and(|u| u.contains("/Users")))
        .map(|e| format!("{} {}", e["method"].as_str().unwrap_or(""), e["status"]))
        .collect()
}

/// The target's group named `name` (exactly one), read over SCIM; its member values, sorted.
async fn group_members(base: &str, token: &str, name: &str) -> Vec<String> {
    let groups = search(base, token, "Groups", "displayName", name).await;
    assert_eq!(groups.len(), 1, "one group {name}: {groups:#?}");
    let mut members: Vec<String> = groups[0]["members"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["value"].as_str().map(str::to_string))
        .collect();
    members.sort();
    members
}

#[tokio::test]
async fn users_reach_scim2_server_linked_patched_and_deactivated() {
    // In phases, each its own future: one long test body's frame overflows a test thread's
    // stack in debug builds.
    let s = Box::pin(story()).await;
    Box::pin(accounts_and_groups(&s)).await;
    Box::pin(one_change(&s)).await;
    Box::pin(group_gone_at_the_target(&s)).await;
    Box::pin(groups_renamed_and_deleted(&s)).await;
    Box::pin(leaving(&s)).await;
}

/// The scim2-server story's cast.
struct Story {
    env: TestEnv,
    peer: ScimPeer,
    token: &'static str,
    app: String,
    group: String,
    research: String,
    ada: String,
    grace: String,
    own_id: String,
}

/// The target with an account and a group of its own; two policy groups; Ada and Grace join.
async fn story() -> Story {
    let env = TestEnv::new().await;
    let peer = ScimPeer::start().await;
    let token = "peer-token";
    // An account the target already has: linked, not created twice.
    let made = reqwest::Client::new()
        .post(format!("{}/Users", peer.base))
        .json(
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "grace",
                       "displayName": "G. Hopper (old)" }),
        )
        .send()
        .await
        .expect("seed the target");
    assert_eq!(made.status(), 201);
    // A group the target has, with a member of its own: linked by name, and that member stays.
    let own: Value = reqwest::Client::new()
        .post(format!("{}/Users", peer.base))
        .json(
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "local-admin" }),
        )
        .send()
        .await
        .expect("seed the target")
        .json()
        .await
        .expect("a user");
    let own_id = own["id"].as_str().expect("id").to_string();
    let research_there = reqwest::Client::new()
        .post(format!("{}/Groups", peer.base))
        .json(
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "research",
                       "members": [{ "value": own_id }] }),
        )
        .send()
        .await
        .expect("seed the target");
    assert_eq!(research_there.status(), 201);
    let group = env.group("engineering").await;
    let app = target_app(&env, &peer.base, token, &group).await;
    let research = env.group("research").await;
    let second = env
        .post(
            "/admin/policies",
            json!({ "name": "research policy", "appId": app, "groupId": research, "firstFactor": "password" }),
        )
        .await;
    assert_eq!(second.status, 201, "{:?}", second.body);
    // A group that gives the app no users is not pushed.
    let other = env.group("all-staff").await;

    let ada = env
        .member_of(
            &group,
            json!({ "userName": "ada", "email": "ada@example.com", "givenName": "Ada", "familyName": "Lovelace",
                    "displayName": "Ada Lovelace", "attributes": { "department": "Analytical Engines", "title": "Countess" } }),
        )
        .await;
    let grace = env
        .member_of(
            &group,
            json!({ "userName": "grace", "email": "grace@example.com", "displayName": "Grace Hopper" }),
        )
        .await;
    for g in [&research, &other] {
        let joined = env.put(&format!("/admin/groups/{g}/members/{ada}")).await;
        assert_eq!(joined.status, 201, "{:?}", joined.body);
    }
    settle(&env).await;

    Story {
        env,
        peer,
        token,
        app,
        group,
        research,
        ada,
        grace,
        own_id,
    }
}

async fn accounts_and_groups(s: &Story) {
    let (env, peer, token, ada, grace, own_id, research) =
        (&s.env, &s.peer, s.token, &s.ada, &s.grace, &s.own_id, &s.research);
    let found = accounts(&peer.base, token, "userName", "ada").await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let account = &found[0];
    assert_eq!(account["externalId"], json!(ada));
    assert_eq!(
        account["name"],
        json!({ "givenName": "Ada", "familyName": "Lovelace" })
    );
    assert_eq!(account["displayName"], "Ada Lovelace");
    assert_eq!(account["emails"][0]["value"], "ada@example.com");
    assert_eq!(account["active"], true);
    assert_eq!(account["title"], "Countess");
    assert_eq!(
        account["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Analytical Engines"
    );
    // Lookups that found nothing are not logged (as a custom app's lookup): the create is.
    assert_eq!(calls(env, ada).await, vec!["POST 201"]);
    let graces = accounts(&peer.base, token, "userName", "grace").await;
    assert_eq!(
        graces.len(),
        1,
        "found by userName and linked, not created again: {graces:#?}"
    );
    assert_eq!(graces[0]["displayName"], "Grace Hopper", "brought up to date");
    assert_eq!(graces[0]["externalId"], json!(grace));
    assert_eq!(calls(env, grace).await, vec!["GET 200", "PATCH 204"]);

    // Groups: created (engineering) or linked by name (research), members added one by one.
    let ada_there = account["id"].as_str().unwrap().to_string();
    let grace_there = graces[0]["id"].as_str().unwrap().to_string();
    let mut both = vec![ada_there.clone(), grace_there.clone()];
    both.sort();
    assert_eq!(group_members(&peer.base, token, "engineering").await, both);
    let mut with_own = vec![ada_there.clone(), own_id.clone()];
    with_own.sort();
    assert_eq!(group_members(&peer.base, token, "research").await, with_own);
    let all_staff = encode("displayName eq \"all-staff\"");
    let none: Value = reqwest::get(format!("{}/Groups?filter={all_staff}", peer.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["totalResults"], 0, "{none:#}");
    // Leaving one group (still in scope through the other): one member removed, the target's
    // own member kept.
    let left = env
        .delete(&format!("/admin/groups/{research}/members/{ada}"))
        .await;
    assert_eq!(left.status, 204, "{:?}", left.body);
    settle(env).await;
    assert_eq!(
        group_members(&peer.base, token, "research").await,
        vec![own_id.clone()]
    );
    assert_eq!(
        accounts(&peer.base, token, "userName", "ada").await[0]["active"],
        true
    );
}

/// The target's admin deletes a pushed group: the next member added finds it gone (404) and
/// creates it again, instead of failing every member for good.
async fn group_gone_at_the_target(s: &Story) {
    let (env, peer, token, group) = (&s.env, &s.peer, s.token, &s.group);
    let filter = encode("displayName eq \"engineering\"");
    let listed: Value = reqwest::get(format!("{}/Groups?filter={filter}", peer.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = listed["Resources"][0]["id"]
        .as_str()
        .expect("the pushed group")
        .to_string();
    let deleted = reqwest::Client::new()
        .delete(format!("{}/Groups/{id}", peer.base))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    env.member_of(
        group,
        json!({ "userName": "linus", "email": "linus@example.com" }),
    )
    .await;
    settle(env).await;
    let there = accounts(&peer.base, token, "userName", "linus").await;
    assert_eq!(there.len(), 1, "{there:#?}");
    assert_eq!(
        group_members(&peer.base, token, "engineering").await,
        vec![there[0]["id"].as_str().unwrap().to_string()],
        "created again, with the member that found it gone"
    );
    assert_eq!(env.queue_depth(true).await, 0, "nothing dead-lettered");
    // The members pushed before the service lost the group come back with a full reconcile.
    let started = env
        .post(&format!("/admin/apps/{}/reconcile", s.app), json!({}))
        .await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    settle(env).await;
    let mut all: Vec<String> = Vec::new();
    for name in ["ada", "grace", "linus"] {
        all.push(
            accounts(&peer.base, token, "userName", name).await[0]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    all.sort();
    assert_eq!(group_members(&peer.base, token, "engineering").await, all);
}

/// A group renamed in the directory is renamed at the target, members kept; a group deleted in
/// the directory is deleted there if Provisio created it, and stays if it is the service's own.
async fn groups_renamed_and_deleted(s: &Story) {
    let (env, peer, token, app, group, research, ada) =
        (&s.env, &s.peer, s.token, &s.app, &s.group, &s.research, &s.ada);
    let before = group_members(&peer.base, token, "engineering").await;
    let renamed = env
        .patch(&format!("/admin/groups/{group}"), json!({ "name": "platform" }))
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    settle(env).await;
    assert!(
        search(&peer.base, token, "Groups", "displayName", "engineering")
            .await
            .is_empty()
    );
    assert_eq!(
        group_members(&peer.base, token, "platform").await,
        before,
        "the same group, renamed"
    );
    let log = env.list_all(&format!("/admin/apps/{app}/provisioning-log")).await;
    let sent: Vec<&Value> = log.iter().filter(|e| e["event"] == "group_renamed").collect();
    assert_eq!(sent.len(), 1, "one PATCH: {sent:#?}");
    assert_eq!(
        (sent[0]["method"].as_str(), sent[0]["groupId"].as_str()),
        (Some("PATCH"), Some(group.as_str()))
    );

    // A group Provisio created there: pushed, then unassigned and deleted in the directory.
    let contractors = env.group("contractors").await;
    let policy = env
        .post(
            "/admin/policies",
            json!({ "name": "contractors", "appId": app, "groupId": contractors, "firstFactor": "password" }),
        )
        .await;
    assert_eq!(policy.status, 201, "{:?}", policy.body);
    let joined = env
        .put(&format!("/admin/groups/{contractors}/members/{ada}"))
        .await;
    assert_eq!(joined.status, 201, "{:?}", joined.body);
    settle(env).await;
    assert_eq!(group_members(&peer.base, token, "contractors").await.len(), 1);
    for (policy, gone) in [(policy.body["id"].as_str().unwrap().to_string(), &contractors)] {
        assert_eq!(env.delete(&format!("/admin/policies/{policy}")).await.status, 204);
        assert_eq!(env.delete(&format!("/admin/groups/{gone}")).await.status, 204);
    }
    // The service's own group, linked by name: its policy and the directory's group go.
    let policies = env.list_all("/admin/policies").await;
    let research_policy = policies
        .iter()
        .find(|p| p["groupId"].as_str() == Some(research.as_str()))
        .expect("the research policy");
    let id = research_policy["id"].as_str().unwrap();
    assert_eq!(env.delete(&format!("/admin/policies/{id}")).await.status, 204);
    assert_eq!(env.delete(&format!("/admin/groups/{research}")).await.status, 204);
    settle(env).await;
    assert!(
        search(&peer.base, token, "Groups", "displayName", "contractors")
            .await
            .is_empty(),
        "the group Provisio created is deleted there"
    );
    assert_eq!(
        group_members(&peer.base, token, "research").await,
        vec![s.own_id.clone()],
        "the service's own group stays, with its own member"
    );
    assert_eq!(env.queue_depth(true).await, 0, "nothing dead-lettered");
}

async fn one_change(s: &Story) {
    let (env, peer, token, ada, app) = (&s.env, &s.peer, s.token, &s.ada, &s.app);
    // A change is one PATCH of the changed attribute, as provision on demand shows it.
    let renamed = env
        .patch(
            &format!("/admin/users/{ada}"),
            json!({ "displayName": "Augusta Ada King" }),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    let now = env
        .post(&format!("/admin/apps/{app}/provision"), json!({ "userId": ada }))
        .await;
    assert_eq!(now.status, 200, "{:?}", now.body);
    let sent = &now.body["calls"];
    assert_eq!(sent.as_array().map(Vec::len), Some(1), "{:#}", now.body);
    assert_eq!(sent[0]["request"]["method"], "PATCH");
    assert_eq!(sent[0]["request"]["headers"]["Authorization"], "Bearer ****");
    assert_eq!(
        sent[0]["request"]["body"]["Operations"],
        json!([{ "op": "replace", "path": "displayName", "value": "Augusta Ada King" }])
    );
    settle(env).await;
    assert_eq!(
        accounts(&peer.base, token, "userName", "ada").await[0]["displayName"],
        "Augusta Ada King"
    );
    assert_eq!(
        calls(env, ada).await,
        vec!["POST 201", "PATCH 204"],
        "the queued event found the account up to date"
    );
}

async fn leaving(s: &Story) {
    let (env, peer, token, ada, grace, app, group) =
        (&s.env, &s.peer, s.token, &s.ada, &s.grace, &s.app, &s.group);
    // Leaving scope deactivates; the account stays.
    let left = env.delete(&format!("/admin/groups/{group}/members/{ada}")).await;
    assert_eq!(left.status, 204, "{:?}", left.body);
    settle(env).await;
    let after = accounts(&peer.base, token, "userName", "ada").await;
    assert_eq!((after.len(), after[0]["active"].clone()), (1, json!(false)));

    // With deprovision delete, a deleted user's account goes; a second delete's 404 is done.
    let set = env
        .patch(&format!("/admin/apps/{app}"), json!({ "deprovision": "delete" }))
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    let gone = env.delete(&format!("/admin/users/{grace}")).await;
    assert_eq!(gone.status, 204, "{:?}", gone.body);
    settle(env).await;
    assert!(accounts(&peer.base, token, "userName", "grace").await.is_empty());
    assert_eq!(env.queue_depth(true).await, 0, "nothing dead-lettered");
}

#[tokio::test]
async fn users_reach_a_second_provisio_through_its_scim_ingress() {
    let env = TestEnv::new().await;
    let upstream = TestEnv::new().await;
    let root = serve_scim(&upstream).await;
    let (client_app, token) = upstream.scim_app("Provisio upstream").await;
    let base = format!("{root}/scim/v2/{client_app}");
    let group = env.group("engineering").await;
    let app = target_app(&env, &base, &token, &group).await;
    let ada = env
        .member_of(
            &group,
            json!({ "userName": "ada", "email": "ada@example.com", "givenName": "Ada", "familyName": "Lovelace" }),
        )
        .await;
    settle(&env).await;

    // Read back through the second Provisio's admin API: its directory has the user, from that
    // SCIM client, known by the first one's id.
    let users = upstream.list_all("/admin/users").await;
    assert_eq!(users.len(), 1, "{users:#?}");
    let there = &users[0];
    assert_eq!(
        (
            there["userName"].clone(),
            there["email"].clone(),
            there["givenName"].clone(),
            there["familyName"].clone(),
            there["active"].clone(),
            there["externalId"].clone(),
            there["sourceAppId"].clone()
        ),
        (
            json!("ada"),
            json!("ada@example.com"),
            json!("Ada"),
            json!("Lovelace"),
            json!(true),
            json!(ada),
            json!(client_app)
        )
    );
    let upstream_id = there["id"].as_str().unwrap().to_string();
    // The policy's group was pushed there with its member.
    let groups = upstream.list_all("/admin/groups").await;
    let pushed = groups
        .iter()
        .find(|g| g["name"] == "engineering")
        .unwrap_or_else(|| panic!("the group was pushed: {groups:#?}"));
    let members = upstream
        .list_all(&format!(
            "/admin/groups/{}/members",
            pushed["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        members.iter().map(|m| m["userId"].clone()).collect::<Vec<_>>(),
        vec![json!(upstream_id)],
        "{members:#?}"
    );

    let renamed = env
        .patch(&format!("/admin/users/{ada}"), json!({ "familyName": "King" }))
        .await;
    assert_eq!(renamed.status, 200);
    settle(&env).await;
    let user = upstream.get(&format!("/admin/users/{upstream_id}")).await.body;
    assert_eq!(user["familyName"], "King");
    assert_eq!(calls(&env, &ada).await, vec!["POST 201", "PATCH 200"]);

    let left = env.delete(&format!("/admin/groups/{group}/members/{ada}")).await;
    assert_eq!(left.status, 204);
    settle(&env).await;
    let user = upstream.get(&format!("/admin/users/{upstream_id}")).await.body;
    assert_eq!(user["active"], false, "{user:#}");
    // The app shows its connection, never the token it carries.
    let shown = env.get(&format!("/admin/apps/{app}")).await.body;
    assert_eq!(shown["scimTarget"]["baseUrl"], json!(base));
    assert!(shown["scimTarget"]["authId"].is_string(), "{shown:#}");
    assert!(!shown.to_string().contains(&token), "{shown:#}");
}

/// A minimal SCIM service that announces no PATCH and no filters and wants `Bearer good`.
async fn plain_service() -> provisio_tests::fake_app::FakeApp {
    use provisio_tests::fake_app::{Answer, FakeApp};
    FakeApp::start(|r| {
        if r.header("authorization") != Some("Bearer good") {
            return Answer::json(401, json!({ "status": "401", "detail": "unauthorized" }));
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/scim/ServiceProviderConfig") => Answer::json(
                200,
                json!({ "patch": { "supported": false }, "filter": { "supported": false },
                        "etag": { "supported": false } }),
            ),
            ("GET", "/scim/ResourceTypes") => {
                Answer::json(200, json!([{ "name": "User", "endpoint": "/Users" }]))
            }
            ("POST", "/scim/Users") => {
                let mut created = r.json();
                created["id"] = json!("acc-1");
                Answer::json(201, created)
            }
            ("PUT", "/scim/Users/acc-1") => Answer::json(200, r.json()),
            _ => Answer::json(404, json!({ "status": "404" })),
        }
    })
    .await
}

#[tokio::test]
async fn discovery_refuses_what_cant_work_and_shapes_the_calls() {
    let env = TestEnv::new().await;
    // Not a SCIM service: refused, nothing stored.
    let not_scim = provisio_tests::fake_app::FakeApp::start(|_| {
        provisio_tests::fake_app::Answer::json(200, json!({ "hello": "world" }))
    })
    .await;
    let apps_before = env.list_all("/admin/apps").await.len();
    let refused = env
        .post(
            "/admin/apps",
            json!({ "name": "nope", "kind": "scim_target", "scimTarget": { "baseUrl": format!("{}/scim", not_scim.url) } }),
        )
        .await;
    assert_eq!(
        (refused.status, refused.field()),
        (400, Some("scimTarget.baseUrl")),
        "{:?}",
        refused.body
    );
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("not a SCIM 2.0 service")
    );
    let plain_http = env
        .post(
            "/admin/apps",
            json!({ "name": "nope", "kind": "scim_target", "scimTarget": { "baseUrl": "http://scim.example.com/v2" } }),
        )
        .await;
    assert_eq!(
        (plain_http.status, plain_http.field()),
        (400, Some("scimTarget.baseUrl")),
        "a token would travel in the clear"
    );
    assert_eq!(env.list_all("/admin/apps").await.len(), apps_before);

    // scim2-server tells what it supports.
    let peer = ScimPeer::start().await;
    let group = env.group("g").await;
    let app = target_app(&env, &peer.base, "t", &group).await;
    let shown = env.get(&format!("/admin/apps/{app}")).await.body;
    let supports = &shown["scimTarget"]["supports"];
    assert_eq!(
        (
            supports["patch"].clone(),
            supports["filter"].clone(),
            supports["etag"].clone(),
            supports["groups"].clone()
        ),
        (json!(true), json!(true), json!(true), json!(true)),
        "{shown:#}"
    );

    // A service that wants an authorization: created without knowing more, refused with a
    // wrong token, discovered with the right one; then no lookups (no filters) and PUT (no PATCH).
    let service = plain_service().await;
    let base = format!("{}/scim", service.url);
    let created = env
        .post(
            "/admin/apps",
            json!({ "name": "plain", "kind": "scim_target", "scimTarget": { "baseUrl": base } }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert!(
        created.body["scimTarget"].get("supports").is_none(),
        "{:?}",
        created.body
    );
    let plain = created.body["id"].as_str().unwrap().to_string();
    let auth = |token: &'static str| {
        let env = &env;
        let plain = plain.clone();
        async move {
            env.post(
                &format!("/admin/apps/{plain}/auth-configs"),
                json!({ "type": "bearer", "name": token, "token": token }),
            )
            .await
            .body["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let wrong = auth("bad").await;
    let refused = env
        .patch(
            &format!("/admin/apps/{plain}"),
            json!({ "scimTarget": { "baseUrl": base, "authId": wrong } }),
        )
        .await;
    assert_eq!(
        (refused.status, refused.field()),
        (400, Some("scimTarget.authId")),
        "{:?}",
        refused.body
    );
    let right = auth("good").await;
    let saved = env
        .patch(
            &format!("/admin/apps/{plain}"),
            json!({ "scimTarget": { "baseUrl": base, "authId": right } }),
        )
        .await;
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    assert_eq!(saved.body["scimTarget"]["supports"]["patch"], false);
    // The authorization the connection uses can't be deleted from under it.
    let in_use = env
        .delete(&format!("/admin/apps/{plain}/auth-configs/{right}"))
        .await;
    assert_eq!(in_use.status, 409, "{:?}", in_use.body);
    let again = env
        .post(&format!("/admin/apps/{plain}/discover"), json!({}))
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(
        (again.body["filter"].clone(), again.body["groups"].clone()),
        (json!(false), json!(false))
    );
    let policy = env
        .post(
            "/admin/policies",
            json!({ "name": "p", "appId": plain, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    assert_eq!(policy.status, 201, "{:?}", policy.body);
    let ada = env
        .member_of(&group, json!({ "userName": "ada", "email": "ada@example.com" }))
        .await;
    settle(&env).await;
    let renamed = env
        .patch(&format!("/admin/users/{ada}"), json!({ "displayName": "Ada" }))
        .await;
    assert_eq!(renamed.status, 200);
    settle(&env).await;
    let calls: Vec<(String, String)> = service
        .received()
        .into_iter()
        .filter(|r| r.path.ends_with("/Users") || r.path.contains("/Users/"))
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("POST".to_string(), "/scim/Users".to_string()),
            ("PUT".to_string(), "/scim/Users/acc-1".to_string())
        ]
    );
    let put = service
        .received()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap()
        .json();
    assert_eq!(
        (
            put["id"].clone(),
            put["userName"].clone(),
            put["displayName"].clone(),
            put["externalId"].clone()
        ),
        (json!("acc-1"), json!("ada"), json!("Ada"), json!(ada)),
        "the whole resource: {put:#}"
    );
}

/// A SCIM service that wants `Bearer t`, keeps its group's members and name, refuses (400) any
/// member PATCH that adds `acc-mallory`, and records every call.
struct MemberService {
    app: provisio_tests::fake_app::FakeApp,
    members: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    /// The group's name there; `None` once deleted.
    name: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

async fn member_service() -> MemberService {
    use provisio_tests::fake_app::{Answer, FakeApp};
    let members: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>> = Default::default();
    let kept = members.clone();
    let name: std::sync::Arc<std::sync::Mutex<Option<String>>> = Default::default();
    let named = name.clone();
    let app = FakeApp::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        _ if r.header("authorization") != Some("Bearer t") => {
            Answer::json(401, json!({ "status": "401", "detail": "unauthorized" }))
        }
        ("GET", "/scim/ServiceProviderConfig") => Answer::json(
            200,
            json!({ "patch": { "supported": true }, "filter": { "supported": true }, "etag": { "supported": false } }),
        ),
        ("GET", "/scim/ResourceTypes") => Answer::json(
            200,
            json!([{ "name": "User", "endpoint": "/Users" }, { "name": "Group", "endpoint": "/Groups" }]),
        ),
        ("GET", _) => Answer::json(200, json!({ "totalResults": 0, "Resources": [] })),
        ("POST", "/scim/Users") => {
            let mut created = r.json();
            created["id"] = json!(format!("acc-{}", created["userName"].as_str().unwrap_or("")));
            Answer::json(201, created)
        }
        ("POST", "/scim/Groups") => {
            let mut created = r.json();
            created["id"] = json!("grp-1");
            *named.lock().unwrap() = created["displayName"].as_str().map(str::to_string);
            Answer::json(201, created)
        }
        ("PATCH", path) if path.starts_with("/scim/Users/") => {
            Answer::json(200, json!({ "id": path.trim_start_matches("/scim/Users/") }))
        }
        ("DELETE", "/scim/Groups/grp-1") => {
            *named.lock().unwrap() = None;
            Answer::json(204, Value::Null)
        }
        ("PATCH", "/scim/Groups/grp-1") => {
            let body = r.json();
            let mut added = Vec::new();
            for op in body["Operations"].as_array().cloned().unwrap_or_default() {
                if op["path"] == "displayName" {
                    *named.lock().unwrap() = op["value"].as_str().map(str::to_string);
                }
                for value in op["value"].as_array().cloned().unwrap_or_default() {
                    added.push(value["value"].as_str().unwrap_or("").to_string());
                }
            }
            if added.iter().any(|a| a == "acc-mallory") {
                return Answer::json(400, json!({ "status": "400", "scimType": "invalidValue" }));
            }
            kept.lock().unwrap().extend(added);
            Answer::json(204, Value::Null)
        }
        _ => Answer::json(404, json!({ "status": "404" })),
    })
    .await;
    MemberService { app, members, name }
}

/// A bulk join reaches a SCIM group in PATCHes of many members; a batch the service refuses is
/// split, so only the member it refuses fails.
#[tokio::test]
async fn member_changes_of_many_users_share_patches() {
    let env = TestEnv::new().await;
    let service = member_service().await;
    let group = env.group("everyone").await;
    let app = target_app(&env, &format!("{}/scim", service.app.url), "t", &group).await;
    let mut expected = std::collections::BTreeSet::new();
    for i in 0..10 {
        let name = format!("user{i}");
        env.member_of(
            &group,
            json!({ "userName": name, "email": format!("{name}@example.com") }),
        )
        .await;
        expected.insert(format!("acc-{name}"));
    }
    settle_batched(&env).await;
    assert_eq!(
        *service.members.lock().unwrap(),
        expected,
        "every member added there"
    );
    let patches = service
        .app
        .received()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.starts_with("/scim/Groups"))
        .count();
    assert!(patches < 10, "ten members in fewer PATCHes: {patches}");
    let log = env.list_all(&format!("/admin/apps/{app}/provisioning-log")).await;
    let batched: Vec<&Value> = log
        .iter()
        .filter(|e| e["event"] == "member_added" && e["batch"].as_u64().is_some_and(|n| n > 1))
        .collect();
    assert!(!batched.is_empty(), "entries show the batch: {log:#?}");

    // Mallory's account is one the service refuses to add: the batch is split and only she fails.
    let mut second = Vec::new();
    for name in ["mallory", "nina", "oscar", "peggy"] {
        second.push(
            env.member_of(
                &group,
                json!({ "userName": name, "email": format!("{name}@example.com") }),
            )
            .await,
        );
        if name != "mallory" {
            expected.insert(format!("acc-{name}"));
        }
    }
    settle_batched(&env).await;
    assert_eq!(*service.members.lock().unwrap(), expected, "the others added");
    let mallory_log = env
        .list_all(&format!("/admin/users/{}/provisioning-log", second[0]))
        .await;
    assert!(
        mallory_log
            .iter()
            .any(|e| e["event"] == "member_added" && e["outcome"] == "failed" && e["status"] == 400),
        "{mallory_log:#?}"
    );
    let mut refused_batches = 0;
    for user in &second {
        let entries = env
            .list_all(&format!("/admin/users/{user}/provisioning-log"))
            .await;
        if user != &second[0] {
            assert!(
                !entries.iter().any(|e| e["outcome"] == "failed"),
                "only the refused member fails: {entries:#?}"
            );
        }
        refused_batches += entries
            .iter()
            .filter(|e| {
                e["status"] == 400 && e["batch"].as_u64().is_some_and(|n| n > 1) && e["outcome"] == "retrying"
            })
            .count();
    }
    assert!(
        refused_batches >= 1,
        "the batch with mallory was refused, then split"
    );

    // The group's own changes carry the authorization too: renamed, then deleted there.
    let renamed = env
        .patch(&format!("/admin/groups/{group}"), json!({ "name": "staff" }))
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    settle_batched(&env).await;
    assert_eq!(service.name.lock().unwrap().as_deref(), Some("staff"));
    let policies = env.list_all("/admin/policies").await;
    for p in policies
        .iter()
        .filter(|p| p["groupId"].as_str() == Some(group.as_str()))
    {
        let id = p["id"].as_str().unwrap();
        assert_eq!(env.delete(&format!("/admin/policies/{id}")).await.status, 204);
    }
    assert_eq!(env.delete(&format!("/admin/groups/{group}")).await.status, 204);
    settle_batched(&env).await;
    assert_eq!(
        *service.name.lock().unwrap(),
        None,
        "the group Provisio created is deleted there"
    );
    assert_eq!(
        env.queue_depth(true).await,
        1,
        "only mallory's join dead-lettered"
    );
}

/// A SCIM service with ETags that requires If-Match on every change (428 without, 412 with a
/// version it no longer has); accounts carry `meta.version` W/"<n>".
fn etag_service(
    accounts: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (Value, u64)>>>,
) -> impl Fn(&provisio_tests::fake_app::Received) -> provisio_tests::fake_app::Answer + Send + Sync + 'static
{
    use provisio_tests::fake_app::Answer;
    move |r| {
        let mut accounts = accounts.lock().unwrap();
        let shown = |resource: &Value, version: u64| {
            let mut shown = resource.clone();
            shown["meta"] = json!({ "resourceType": "User", "version": format!("W/\"{version}\"") });
            shown
        };
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/scim/ServiceProviderConfig") => Answer::json(
                200,
                json!({ "patch": { "supported": true }, "filter": { "supported": true }, "etag": { "supported": true } }),
            ),
            ("GET", "/scim/ResourceTypes") => {
                Answer::json(200, json!([{ "name": "User", "endpoint": "/Users" }]))
            }
            ("GET", "/scim/Users") => Answer::json(200, json!({ "totalResults": 0, "Resources": [] })),
            ("POST", "/scim/Users") => {
                let mut created = r.json();
                created["id"] = json!("acc-1");
                accounts.insert("acc-1".into(), (created.clone(), 1));
                Answer::json(201, shown(&created, 1))
            }
            (method, path) if path.starts_with("/scim/Users/") => {
                let id = path.trim_start_matches("/scim/Users/").to_string();
                let Some((resource, version)) = accounts.get(&id).cloned() else {
                    return Answer::json(404, json!({ "status": "404" }));
                };
                if method == "GET" {
                    return Answer::json(200, shown(&resource, version));
                }
                match r.header("if-match") {
                    None => {
                        return Answer::json(428, json!({ "status": "428", "detail": "If-Match required" }));
                    }
                    Some(tag) if tag != format!("W/\"{version}\"") => {
                        return Answer::json(412, json!({ "status": "412", "detail": "changed since" }));
                    }
                    Some(_) => {}
                }
                match method {
                    "DELETE" => {
                        accounts.remove(&id);
                        Answer::json(204, Value::Null)
                    }
                    _ => {
                        let mut next = resource.clone();
                        for op in r.json()["Operations"].as_array().cloned().unwrap_or_default() {
                            if let Some(path) = op["path"].as_str() {
                                next[path] = op["value"].clone();
                            }
                        }
                        accounts.insert(id, (next.clone(), version + 1));
                        Answer::json(200, shown(&next, version + 1))
                    }
                }
            }
            _ => Answer::json(404, json!({ "status": "404" })),
        }
    }
}

/// A service that announces ETags gets If-Match with the version it last answered; one whose
/// account changed meanwhile (412) has it read again and gets the change once more.
#[tokio::test]
async fn changes_carry_if_match_when_the_service_announces_etags() {
    let env = TestEnv::new().await;
    let accounts: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (Value, u64)>>> =
        Default::default();
    let service = provisio_tests::fake_app::FakeApp::start(etag_service(accounts.clone())).await;
    let group = env.group("etags").await;
    let app = target_app(&env, &format!("{}/scim", service.url), "t", &group).await;
    let ada = env
        .member_of(&group, json!({ "userName": "ada", "email": "ada@example.com" }))
        .await;
    settle(&env).await;
    assert_eq!(accounts.lock().unwrap()["acc-1"].1, 1, "created");

    let changed = env
        .patch(&format!("/admin/users/{ada}"), json!({ "displayName": "Ada" }))
        .await;
    assert_eq!(changed.status, 200);
    settle(&env).await;
    // The service's own admin changes the account: the version Provisio knows is stale.
    accounts.lock().unwrap().get_mut("acc-1").unwrap().1 = 7;
    let changed = env
        .patch(
            &format!("/admin/users/{ada}"),
            json!({ "displayName": "Ada King" }),
        )
        .await;
    assert_eq!(changed.status, 200);
    settle(&env).await;
    let (resource, version) = accounts.lock().unwrap()["acc-1"].clone();
    assert_eq!((resource["displayName"].as_str(), version), (Some("Ada King"), 8));

    let set = env
        .patch(&format!("/admin/apps/{app}"), json!({ "deprovision": "delete" }))
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(env.delete(&format!("/admin/users/{ada}")).await.status, 204);
    settle(&env).await;
    assert!(
        accounts.lock().unwrap().is_empty(),
        "deleted with the version it had"
    );

    let sent: Vec<String> = service
        .received()
        .iter()
        .filter(|r| r.path.starts_with("/scim/Users/"))
        .map(|r| format!("{} {}", r.method, r.header("if-match").unwrap_or("-")))
        .collect();
    assert_eq!(
        sent,
        vec![
            "PATCH W/\"1\"",
            "PATCH W/\"2\"",
            "GET -",
            "PATCH W/\"7\"",
            "DELETE W/\"8\""
        ]
    );
    assert_eq!(env.queue_depth(true).await, 0, "nothing dead-lettered");
}
