//! SCIM 2.0 Users through the SCIM handler, with per-app tokens, against the local stack.

use provisio::scim::ScimApi;
use provisio::store::Store;
use provisio_tests::{Call, Reply, TestEnv};
use serde_json::{Value, json};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

struct Scim<'a> {
    env: &'a TestEnv,
    app: String,
    token: String,
}

impl Scim<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/scim/v2/{}{rest}", self.app)
    }

    async fn call(&self, method: &str, rest: &str, body: Option<Value>) -> Reply {
        let mut call = Call::new(method, &self.path(rest)).key(&self.token);
        if let Some(body) = body {
            call = call.json(body);
        }
        self.env.scim_call(&self.env.scim, call).await
    }

    async fn get(&self, rest: &str) -> Reply {
        self.call("GET", rest, None).await
    }

    async fn post(&self, rest: &str, body: Value) -> Reply {
        self.call("POST", rest, Some(body)).await
    }
}

async fn scim(env: &TestEnv) -> Scim<'_> {
    let (app, token) = env.scim_app("Entra ID").await;
    Scim { env, app, token }
}

fn barbara() -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7a3e4f1a7c1b",
        "userName": "bjensen@example.com",
        "name": { "givenName": "Barbara", "familyName": "Jensen", "middleName": "Jane", "formatted": "Ms. Barbara J Jensen III" },
        "displayName": "Babs Jensen",
        "title": "Tour Guide",
        "active": true,
        "emails": [
            { "value": "bjensen@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" }
        ],
        "phoneNumbers": [{ "value": "555-555-8377", "type": "work" }],
        ENTERPRISE: { "employeeNumber": "701984", "department": "Tour Operations", "manager": { "value": "26118915" } },
        "meta": { "resourceType": "User", "created": "2000-01-01T00:00:00Z" },
        "nickName": null,
        "roles": []
    })
}

fn assert_scim_error(reply: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/scim+json"));
    assert_eq!(
        reply.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(reply.body["status"], json!(status.to_string()));
    assert_eq!(reply.body["scimType"].as_str(), scim_type, "{:?}", reply.body);
}

#[tokio::test]
async fn a_scim_client_app_gets_a_base_url_and_a_token_shown_once() {
    let env = TestEnv::new().await;
    let created = env
        .post("/admin/apps", json!({ "name": "Okta", "kind": "scim_client" }))
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap();
    let token = created.body["scim"]["token"].as_str().unwrap();
    assert!(token.len() >= 43, "a 256-bit token");
    assert!(
        created.body["scim"]["baseUrl"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/{id}"))
    );
    // Never again: not on read, not in the table.
    let read = env.get(&format!("/admin/apps/{id}")).await;
    assert!(!read.body.to_string().contains(token));
    let dump = env.table_dump().await;
    assert!(!dump.contains(token), "the token is stored in DynamoDB");
    // A custom provisioning app has none.
    let custom = env
        .post(
            "/admin/apps",
            json!({ "name": "CRM", "kind": "custom_provisioning" }),
        )
        .await;
    assert!(custom.body.get("scim").is_none());
    let rotate = env
        .call(Call::new(
            "POST",
            &format!("/admin/apps/{}/scim/token", custom.body["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!((rotate.status, rotate.field()), (409, Some("kind")));
}

#[tokio::test]
async fn tokens_are_per_app_and_rotate_with_an_overlap() {
    let env = TestEnv::new().await;
    let x = scim(&env).await;
    let (y_app, y_token) = env.scim_app("Okta").await;
    assert_eq!(x.get("/Users").await.status, 200);

    // No token, a wrong token, another app's token, an app that is not a SCIM client.
    let none = env
        .scim_call(&env.scim, Call::new("GET", &x.path("/Users")).key(""))
        .await;
    assert_scim_error(&none, 401, None);
    let wrong = env
        .scim_call(&env.scim, Call::new("GET", &x.path("/Users")).key("scim_guess"))
        .await;
    assert_scim_error(&wrong, 401, None);
    let crossed = env
        .scim_call(&env.scim, Call::new("GET", &x.path("/Users")).key(&y_token))
        .await;
    assert_scim_error(&crossed, 401, None);
    let custom = env.app("CRM").await;
    let not_scim = env
        .scim_call(
            &env.scim,
            Call::new("GET", &format!("/scim/v2/{custom}/Users")).key(&x.token),
        )
        .await;
    assert_scim_error(&not_scim, 401, None);
    assert_eq!(
        env.scim_call(
            &env.scim,
            Call::new("GET", &format!("/scim/v2/{y_app}/Users")).key(&y_token)
        )
        .await
        .status,
        200
    );

    // Rotation with an overlap: both work (checked by a fresh instance, as after a cold start).
    let rotated = env
        .call(
            Call::new("POST", &format!("/admin/apps/{}/scim/token", x.app))
                .json(json!({ "overlapSeconds": 3600 })),
        )
        .await;
    assert_eq!(rotated.status, 201, "{:?}", rotated.body);
    let new_token = rotated.body["token"].as_str().unwrap().to_string();
    assert!(rotated.body["previousTokenValidUntil"].is_string());
    let fresh = ScimApi::new(Store::new(
        env.clients.dynamodb.clone(),
        &env.resources.config.table,
    ));
    for token in [&x.token, &new_token] {
        let reply = env
            .scim_call(&fresh, Call::new("GET", &x.path("/Users")).key(token))
            .await;
        assert_eq!(reply.status, 200);
    }
    // Rotation without overlap: the old token fails at once.
    let again = env
        .call(
            Call::new("POST", &format!("/admin/apps/{}/scim/token", x.app))
                .json(json!({ "overlapSeconds": 0 })),
        )
        .await;
    let newest = again.body["token"].as_str().unwrap().to_string();
    let fresh = ScimApi::new(Store::new(
        env.clients.dynamodb.clone(),
        &env.resources.config.table,
    ));
    assert_eq!(
        env.scim_call(&fresh, Call::new("GET", &x.path("/Users")).key(&new_token))
            .await
            .status,
        401
    );
    assert_eq!(
        env.scim_call(&fresh, Call::new("GET", &x.path("/Users")).key(&newest))
            .await
            .status,
        200
    );
    let bad = env
        .call(
            Call::new("POST", &format!("/admin/apps/{}/scim/token", x.app))
                .json(json!({ "overlapSeconds": "soon" })),
        )
        .await;
    assert_eq!((bad.status, bad.field()), (400, Some("overlapSeconds")));
}

#[tokio::test]
async fn discovery_tells_what_is_supported() {
    let env = TestEnv::new().await;
    let s = scim(&env).await;
    let config = s.get("/ServiceProviderConfig").await;
    assert_eq!(config.status, 200);
    assert_eq!(config.body["filter"]["supported"], true);
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["bulk"]["supported"], true);
    assert_eq!(config.body["etag"]["supported"], true);
    let schemas = s.get("/Schemas").await;
    assert_eq!(schemas.body["totalResults"], 3);
    let user = s.get(&format!("/Schemas/{USER}")).await;
    let names: Vec<&str> = user.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"userName") && names.contains(&"emails"));
    let types = s.get("/ResourceTypes").await;
    assert_eq!(types.body["Resources"][0]["endpoint"], "/Users");
    assert_eq!(s.get("/ResourceTypes/User").await.status, 200);
    assert_scim_error(&s.get("/Schemas/urn:nope").await, 404, None);
    assert_eq!(types.body["Resources"][1]["endpoint"], "/Groups");
    assert_eq!(s.get("/Groups").await.status, 200);
    assert_scim_error(&s.get("/Bulk").await, 405, None);
}

#[tokio::test]
async fn create_read_replace_delete_a_user() {
    let env = TestEnv::new().await;
    let s = scim(&env).await;
    let created = s.post("/Users", barbara()).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.header("location"),
        Some(format!("http://localhost/scim/v2/{}/Users/{id}", s.app).as_str())
    );
    assert_eq!(created.header("etag"), Some("W/\"1\""));
    let body = &created.body;
    assert_eq!(body["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(body["userName"], "bjensen@example.com");
    assert_eq!(body["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7a3e4f1a7c1b");
    assert_eq!(body["name"]["middleName"], "Jane");
    assert_eq!(body["emails"].as_array().unwrap().len(), 2);
    assert_eq!(body["phoneNumbers"][0]["value"], "555-555-8377");
    assert_eq!(body[ENTERPRISE]["manager"]["value"], "26118915");
    assert_eq!(body["meta"]["resourceType"], "User");
    assert_ne!(
        body["meta"]["created"], "2000-01-01T00:00:00Z",
        "meta is read-only"
    );
    assert!(
        body.get("nickName").is_none() && body.get("roles").is_none(),
        "nulls and empty lists are ignored"
    );

    // The same user in the directory, as the admin API shows it.
    let admin = env.get(&format!("/admin/users/{id}")).await;
    assert_eq!(admin.body["email"], "bjensen@example.com");
    assert_eq!(admin.body["givenName"], "Barbara");
    assert_eq!(admin.body["attributes"]["department"], "Tour Operations");

    let got = s.get(&format!("/Users/{id}")).await;
    assert_eq!(got.body, created.body);
    let unchanged = env
        .scim_call(
            &env.scim,
            Call::new("GET", &s.path(&format!("/Users/{id}")))
                .key(&s.token)
                .header("If-None-Match", "W/\"1\""),
        )
        .await;
    assert_eq!(unchanged.status, 304);

    // PUT replaces: what is not sent is cleared; the admin-only attributes stay.
    env.patch(
        &format!("/admin/users/{id}"),
        json!({ "attributes": { "badge": "B-7" } }),
    )
    .await;
    let replaced = s
        .call(
            "PUT",
            &format!("/Users/{id}"),
            Some(
                json!({ "schemas": [USER], "userName": "bjensen@example.com", "active": "False",
                         "emails": [{ "value": "barbara@example.com", "primary": "true" }] }),
            ),
        )
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    assert_eq!(replaced.body["active"], false);
    assert!(replaced.body.get("title").is_none() && replaced.body.get(ENTERPRISE).is_none());
    assert!(replaced.body.get("externalId").is_none());
    assert_eq!(replaced.body["meta"]["version"], "W/\"3\"");
    let admin = env.get(&format!("/admin/users/{id}")).await;
    assert_eq!(admin.body["email"], "barbara@example.com");
    assert_eq!(
        admin.body["attributes"],
        json!({ "badge": "B-7", "emails": [{ "value": "barbara@example.com", "primary": true }] })
    );

    let stale = env
        .scim_call(
            &env.scim,
            Call::new("PUT", &s.path(&format!("/Users/{id}")))
                .key(&s.token)
                .header("If-Match", "W/\"1\"")
                .json(barbara()),
        )
        .await;
    assert_scim_error(&stale, 412, None);
    let mutate_id = s
        .call(
            "PUT",
            &format!("/Users/{id}"),
            Some(json!({ "id": "other", "userName": "x" })),
        )
        .await;
    assert_scim_error(&mutate_id, 400, Some("mutability"));

    assert_eq!(s.call("DELETE", &format!("/Users/{id}"), None).await.status, 204);
    assert_scim_error(&s.get(&format!("/Users/{id}")).await, 404, None);
    assert_scim_error(&s.call("DELETE", &format!("/Users/{id}"), None).await, 404, None);
}

#[tokio::test]
async fn filters_paging_projection_and_lookups() {
    let env = TestEnv::new().await;
    let s = scim(&env).await;
    for (i, name) in ["alice", "bob", "carol", "dave"].iter().enumerate() {
        let reply = s
            .post(
                "/Users",
                json!({ "userName": name, "externalId": format!("ext-{i}"), "active": i % 2 == 0,
                        "name": { "givenName": name.to_uppercase(), "familyName": "Test" },
                        "emails": [{ "value": format!("{name}@example.com"), "type": "work" }] }),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    let list = |filter: &str| {
        let encoded: String = filter.bytes().map(|b| format!("%{b:02X}")).collect();
        format!("/Users?filter={encoded}")
    };
    let by_name = s.get(&list(r#"userName eq "CAROL""#)).await;
    assert_eq!(by_name.status, 200);
    assert_eq!(by_name.body["totalResults"], 1);
    assert_eq!(by_name.body["Resources"][0]["userName"], "carol");
    assert_eq!(
        by_name.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    let by_ext = s.get(&list(r#"externalId eq "ext-3""#)).await;
    assert_eq!(by_ext.body["Resources"][0]["userName"], "dave");
    assert_eq!(
        s.get(&list(r#"externalId eq "EXT-3""#)).await.body["totalResults"],
        0,
        "externalId is case-exact"
    );
    let id = by_name.body["Resources"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.get(&list(&format!(r#"id eq "{id}""#))).await.body["totalResults"],
        1
    );
    let nobody = s.get(&list(r#"userName eq "zed""#)).await;
    assert_eq!(
        (nobody.status, nobody.body["totalResults"].clone()),
        (200, json!(0))
    );
    assert_eq!(nobody.body["Resources"], json!([]));
    // An empty value matches nobody (DynamoDB refuses a query for an empty key value).
    let empty = s.get(&list(r#"userName eq """#)).await;
    assert_eq!(
        (empty.status, empty.body["totalResults"].clone()),
        (200, json!(0)),
        "{:#}",
        empty.body
    );

    let active = s
        .get(&list(
            r#"active eq true and emails[type eq "work" and value ew "example.com"]"#,
        ))
        .await;
    assert_eq!(active.body["totalResults"], 2);
    let paged = s
        .get("/Users?startIndex=2&count=2&sortBy=userName&sortOrder=descending")
        .await;
    assert_eq!(paged.body["totalResults"], 4);
    assert_eq!(paged.body["itemsPerPage"], 2);
    let names: Vec<&str> = paged.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carol", "bob"]);
    let projected = s.get("/Users?attributes=userName,name.givenName&count=1").await;
    let first = &projected.body["Resources"][0];
    assert_eq!(first.as_object().unwrap().len(), 4, "{first}");
    assert!(first["name"].get("familyName").is_none());

    let search = s
        .post(
            "/Users/.search",
            json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "name.givenName sw \"A\"", "attributes": ["userName"], "startIndex": 1, "count": 10 }),
        )
        .await;
    assert_eq!(search.status, 200, "{:?}", search.body);
    assert_eq!(
        search.body["Resources"],
        json!([{ "id": search.body["Resources"][0]["id"], "userName": "alice", "schemas": [USER] }])
    );

    // The lookups clients do on every sync are one DynamoDB query each.
    for filter in [r#"userName eq "bob""#, r#"externalId eq "ext-1""#] {
        env.requests.reset();
        assert_eq!(s.get(&list(filter)).await.body["totalResults"], 1);
        assert_eq!(
            env.requests.snapshot().into_iter().collect::<Vec<_>>(),
            vec![("DynamoDB.Query".to_string(), 1)],
            "{filter}"
        );
    }
}

#[tokio::test]
async fn bad_requests_get_scim_errors_and_change_nothing() {
    let env = TestEnv::new().await;
    let s = scim(&env).await;
    let ann = s.post("/Users", json!({ "userName": "ann" })).await;
    assert_eq!(ann.status, 201);
    let ann = ann.body["id"].as_str().unwrap().to_string();
    let before = env.item_count().await;
    let enc = |f: &str| f.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    assert_scim_error(
        &s.get(&format!("/Users?filter={}", enc("userName eq"))).await,
        400,
        Some("invalidFilter"),
    );
    assert_scim_error(
        &s.get(&format!("/Users?filter={}", enc("(userName eq \"a\"")))
            .await,
        400,
        Some("invalidFilter"),
    );
    assert_scim_error(&s.get("/Users?count=many").await, 400, Some("invalidValue"));
    let raw = env
        .scim_call(
            &env.scim,
            Call::new("POST", &s.path("/Users"))
                .key(&s.token)
                .raw("{\"userName\":"),
        )
        .await;
    assert_scim_error(&raw, 400, Some("invalidSyntax"));
    assert_scim_error(
        &s.post("/Users", json!({ "displayName": "no userName" })).await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &s.post("/Users", json!({ "userName": 7 })).await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &s.post("/Users", json!({ "userName": "x", "emails": "x@y" }))
            .await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &s.post("/Users", json!({ "userName": "x", "active": "maybe" }))
            .await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &s.post("/Users", json!({ "userName": "ANN" })).await,
        409,
        Some("uniqueness"),
    );
    let patch = |ops: Value| json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops });
    let path = format!("/Users/{ann}");
    assert_scim_error(
        &s.call("PATCH", &path, Some(json!({}))).await,
        400,
        Some("invalidSyntax"),
    );
    let bad_path = patch(json!([{ "op": "replace", "path": "emails[type eq", "value": "x" }]));
    assert_scim_error(
        &s.call("PATCH", &path, Some(bad_path)).await,
        400,
        Some("invalidPath"),
    );
    let read_only = patch(json!([{ "op": "replace", "path": "id", "value": "x" }]));
    assert_scim_error(
        &s.call("PATCH", &path, Some(read_only)).await,
        400,
        Some("mutability"),
    );
    let no_target = patch(json!([{ "op": "remove" }]));
    assert_scim_error(
        &s.call("PATCH", &path, Some(no_target)).await,
        400,
        Some("noTarget"),
    );
    let no_user_name = patch(json!([{ "op": "remove", "path": "userName" }]));
    assert_scim_error(
        &s.call("PATCH", &path, Some(no_user_name)).await,
        400,
        Some("invalidValue"),
    );
    let bad_bool = patch(json!([{ "op": "replace", "path": "active", "value": "perhaps" }]));
    assert_scim_error(
        &s.call("PATCH", &path, Some(bad_bool)).await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &s.call(
            "PATCH",
            "/Users/x",
            Some(patch(json!([{ "op": "remove", "path": "title" }]))),
        )
        .await,
        404,
        None,
    );
    assert_scim_error(&s.get("/Nothing").await, 404, None);
    assert_eq!(env.item_count().await, before);
}
