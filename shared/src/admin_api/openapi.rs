//! The admin API's OpenAPI 3.1 document, generated from the code: every operation of the route
//! table below, with request and response schemas derived from the Rust types (`schemars`, which
//! follows their serde attributes). A test checks that the documented paths are the routes the
//! API matches, and the other way round.
//!
//! The API serves the document as published in `docs/openapi.json`, not generated per cold start:
//! a unit test keeps that file equal to [`document`] (`PROVISIO_BLESS=1` rewrites it), so clients
//! can be generated from the repository, and the generator (schemars and every type's schema
//! code) stays out of the deployed package.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::connector::auth_config;
use crate::directory::{apps, groups, memberships, policies, settings, users};
use crate::import::{config as import_config, job};
use crate::outbound::{deletion_guard, dlq, event_config, log, preview};
use crate::store::Page;

/// The document the API serves: `docs/openapi.json`, kept equal to [`document`] by a test.
pub const PUBLISHED: &str = include_str!("../../../docs/openapi.json");

/// One documented operation.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    request: Option<fn(&mut SchemaGenerator) -> schemars::Schema>,
    response: Option<fn(&mut SchemaGenerator) -> schemars::Schema>,
    pub status: u16,
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}

macro_rules! op {
    ($method:literal, $path:literal, $status:literal, $summary:literal, $req:expr, $resp:expr) => {
        Operation {
            method: $method,
            path: $path,
            summary: $summary,
            request: $req,
            response: $resp,
            status: $status,
        }
    };
}

type User = users::User;

/// Every operation of the admin API.
pub fn operations() -> Vec<Operation> {
    vec![
        op!(
            "get",
            "/admin/users",
            200,
            "List users",
            None,
            Some(schema::<Page<User>>)
        ),
        op!(
            "post",
            "/admin/users",
            201,
            "Create a user",
            Some(schema::<users::NewUser>),
            Some(schema::<User>)
        ),
        op!(
            "get",
            "/admin/users/{userId}",
            200,
            "Get a user",
            None,
            Some(schema::<User>)
        ),
        op!(
            "patch",
            "/admin/users/{userId}",
            200,
            "Change a user (If-Match)",
            Some(schema::<users::UserPatch>),
            Some(schema::<User>)
        ),
        op!(
            "delete",
            "/admin/users/{userId}",
            204,
            "Delete a user (If-Match)",
            None,
            None
        ),
        op!(
            "get",
            "/admin/users/{userId}/groups",
            200,
            "Groups of a user",
            None,
            Some(schema::<Page<memberships::Membership>>)
        ),
        op!(
            "get",
            "/admin/users/{userId}/provisioning-log",
            200,
            "Provisioning log of a user, newest first",
            None,
            Some(schema::<Page<log::LogEntry>>)
        ),
        op!(
            "get",
            "/admin/groups",
            200,
            "List groups",
            None,
            Some(schema::<Page<groups::Group>>)
        ),
        op!(
            "post",
            "/admin/groups",
            201,
            "Create a group",
            Some(schema::<groups::NewGroup>),
            Some(schema::<groups::Group>)
        ),
        op!(
            "get",
            "/admin/groups/{groupId}",
            200,
            "Get a group",
            None,
            Some(schema::<groups::Group>)
        ),
        op!(
            "patch",
            "/admin/groups/{groupId}",
            200,
            "Change a group (If-Match)",
            Some(schema::<groups::GroupPatch>),
            Some(schema::<groups::Group>)
        ),
        op!(
            "delete",
            "/admin/groups/{groupId}",
            204,
            "Delete a group and its memberships",
            None,
            None
        ),
        op!(
            "get",
            "/admin/groups/{groupId}/members",
            200,
            "Members of a group",
            None,
            Some(schema::<Page<memberships::Membership>>)
        ),
        op!(
            "put",
            "/admin/groups/{groupId}/members/{userId}",
            201,
            "Add a member (idempotent: 200 when already one)",
            None,
            Some(schema::<memberships::Membership>)
        ),
        op!(
            "delete",
            "/admin/groups/{groupId}/members/{userId}",
            204,
            "Remove a member",
            None,
            None
        ),
        op!(
            "get",
            "/admin/apps",
            200,
            "List apps",
            None,
            Some(schema::<Page<apps::App>>)
        ),
        op!(
            "post",
            "/admin/apps",
            201,
            "Create an app (a SCIM client app's answer has its SCIM base URL and token, once)",
            Some(schema::<apps::NewApp>),
            Some(schema::<apps::App>)
        ),
        op!(
            "get",
            "/admin/apps/{appId}",
            200,
            "Get an app",
            None,
            Some(schema::<apps::App>)
        ),
        op!(
            "patch",
            "/admin/apps/{appId}",
            200,
            "Change an app (If-Match)",
            Some(schema::<apps::AppPatch>),
            Some(schema::<apps::App>)
        ),
        op!(
            "delete",
            "/admin/apps/{appId}",
            204,
            "Delete an app with its configs and their secrets",
            None,
            None
        ),
        op!(
            "post",
            "/admin/apps/{appId}/scim/token",
            201,
            "Issue a new SCIM token; the old one works for overlapSeconds",
            None,
            None
        ),
        op!(
            "get",
            "/admin/apps/{appId}/auth-configs",
            200,
            "Authorization configs of an app (never their secrets)",
            None,
            None
        ),
        op!(
            "post",
            "/admin/apps/{appId}/auth-configs",
            201,
            "Add an authorization config; its secret goes to Secrets Manager",
            Some(schema::<auth_config::AuthInput>),
            Some(schema::<auth_config::AuthConfig>)
        ),
        op!(
            "get",
            "/admin/apps/{appId}/auth-configs/{authId}",
            200,
            "Get an authorization config",
            None,
            Some(schema::<auth_config::AuthConfig>)
        ),
        op!(
            "put",
            "/admin/apps/{appId}/auth-configs/{authId}",
            200,
            "Replace an authorization config (secret fields may be left out to keep the secret)",
            Some(schema::<auth_config::AuthInput>),
            Some(schema::<auth_config::AuthConfig>)
        ),
        op!(
            "delete",
            "/admin/apps/{appId}/auth-configs/{authId}",
            204,
            "Delete an authorization config no event or import config uses",
            None,
            None
        ),
        op!(
            "get",
            "/admin/apps/{appId}/event-configs",
            200,
            "Event configs of an app",
            None,
            None
        ),
        op!(
            "get",
            "/admin/apps/{appId}/event-configs/{kind}",
            200,
            "Get the event config of a kind",
            None,
            Some(schema::<event_config::EventConfig>)
        ),
        op!(
            "put",
            "/admin/apps/{appId}/event-configs/{kind}",
            200,
            "Create (201) or replace the event config of a kind",
            Some(schema::<event_config::EventInput>),
            Some(schema::<event_config::EventConfig>)
        ),
        op!(
            "delete",
            "/admin/apps/{appId}/event-configs/{kind}",
            204,
            "Delete the event config of a kind",
            None,
            None
        ),
        op!(
            "post",
            "/admin/apps/{appId}/event-configs/{kind}/preview",
            200,
            "Render the request for a user without sending it",
            Some(schema::<preview::PreviewInput>),
            None
        ),
        op!(
            "get",
            "/admin/apps/{appId}/provisioning-log",
            200,
            "Provisioning log of an app, newest first",
            None,
            Some(schema::<Page<log::LogEntry>>)
        ),
        op!(
            "get",
            "/admin/apps/{appId}/import-configs",
            200,
            "Import configs of an app",
            None,
            None
        ),
        op!(
            "post",
            "/admin/apps/{appId}/import-configs",
            201,
            "Add an import config",
            Some(schema::<import_config::ImportInput>),
            Some(schema::<import_config::ImportConfig>)
        ),
        op!(
            "get",
            "/admin/apps/{appId}/import-configs/{importId}",
            200,
            "Get an import config",
            None,
            Some(schema::<import_config::ImportConfig>)
        ),
        op!(
            "put",
            "/admin/apps/{appId}/import-configs/{importId}",
            200,
            "Replace an import config",
            Some(schema::<import_config::ImportInput>),
            Some(schema::<import_config::ImportConfig>)
        ),
        op!(
            "delete",
            "/admin/apps/{appId}/import-configs/{importId}",
            204,
            "Delete an import config",
            None,
            None
        ),
        op!(
            "post",
            "/admin/apps/{appId}/import-configs/{importId}/runs",
            202,
            "Start a run (body: {\"dryRun\": bool}); 409 while one runs",
            None,
            Some(schema::<job::Job>)
        ),
        op!(
            "get",
            "/admin/apps/{appId}/jobs",
            200,
            "Import jobs of an app, newest first",
            None,
            Some(schema::<Page<job::Job>>)
        ),
        op!(
            "get",
            "/admin/jobs/{jobId}",
            200,
            "A job and its bulk-operations report",
            None,
            Some(schema::<job::Job>)
        ),
        op!(
            "get",
            "/admin/policies",
            200,
            "List app login policies (appId narrows)",
            None,
            Some(schema::<Page<policies::Policy>>)
        ),
        op!(
            "post",
            "/admin/policies",
            201,
            "Create an app login policy: the group gets the app",
            Some(schema::<policies::NewPolicy>),
            Some(schema::<policies::Policy>)
        ),
        op!(
            "get",
            "/admin/policies/{policyId}",
            200,
            "Get a policy",
            None,
            Some(schema::<policies::Policy>)
        ),
        op!(
            "patch",
            "/admin/policies/{policyId}",
            200,
            "Change a policy (If-Match)",
            Some(schema::<policies::PolicyPatch>),
            Some(schema::<policies::Policy>)
        ),
        op!(
            "delete",
            "/admin/policies/{policyId}",
            204,
            "Delete a policy: its group's members leave the app",
            None,
            None
        ),
        op!(
            "post",
            "/admin/jobs/{jobId}/{action}",
            200,
            "Act on an import run (action: cancel stops a running one, its pages in flight are dropped; \
             resume goes on with a failed or cancelled one from the page it stopped before, with fresh attempts; \
             approve-deactivations deactivates the users missing from a finished run that its import's \
             maxDeactivations held, if no later run of the import started)",
            None,
            Some(schema::<job::Job>)
        ),
        op!(
            "post",
            "/admin/apps/{appId}/provision",
            200,
            "Provision on demand (body: {\"userId\"}): now, the calls the user's current state requires \
             for this app, each request (authorization masked) and answer (credentials redacted)",
            None,
            Some(schema::<crate::outbound::dispatch::on_demand::OnDemand>)
        ),
        op!(
            "post",
            "/admin/apps/{appId}/reconcile",
            202,
            "Start a full reconcile of the app: every user looked at again, profiles sent again, paged \
             through the dispatch queue (409 while one runs); the deletion threshold applies",
            None,
            Some(schema::<crate::outbound::full_reconcile::ReconcileRun>)
        ),
        op!(
            "get",
            "/admin/apps/{appId}/reconcile",
            200,
            "The latest full reconcile of the app: status, pages and users done",
            None,
            Some(schema::<crate::outbound::full_reconcile::ReconcileRun>)
        ),
        op!(
            "post",
            "/admin/apps/{appId}/discover",
            200,
            "A scim_target app: read its service's ServiceProviderConfig and ResourceTypes with its \
             authorization, keep what it supports (PATCH, filters, ETags, Groups) and show it; 400 \
             naming the field when the service can't be provisioned as configured",
            None,
            Some(schema::<crate::directory::scim_target::Supports>)
        ),
        op!(
            "post",
            "/admin/apps/{appId}/auth-configs/{authId}/test",
            200,
            "Test an authorization (body: {\"url\"?}): fetch a token (OAuth 2.0, custom), or GET the url \
             (on an origin the app's own configs send to) with the authorization; the token is never shown",
            None,
            Some(schema::<crate::connector::connection_test::ConnectionTest>)
        ),
        op!(
            "get",
            "/admin/apps/{appId}/held-deprovisions",
            200,
            "The app's deletion threshold: whether its deprovisions are held, why, how many, and a page of them",
            None,
            Some(schema::<deletion_guard::HeldView>)
        ),
        op!(
            "post",
            "/admin/apps/{appId}/held-deprovisions/{decision}",
            200,
            "Decide the held deprovisions (decision: approve sends them, each reconciled again first; \
             reject drops them and keeps the accounts). Lifts the hold; decides up to 1,000 per call: \
             call again while `remaining`",
            None,
            Some(schema::<deletion_guard::Decided>)
        ),
        op!(
            "post",
            "/admin/provisioning/redrive",
            200,
            "Move dead-lettered dispatch messages back (body: {\"appId\"?, \"limit\"?})",
            None,
            Some(schema::<dlq::Redriven>)
        ),
        op!(
            "post",
            "/admin/imports/redrive",
            200,
            "Move dead-lettered import page messages back to the import queue (body: {\"limit\"?}); \
             a page of a run that ended or moved on since is dropped when it arrives",
            None,
            Some(schema::<dlq::Redriven>)
        ),
        op!(
            "post",
            "/admin/provisioning/replay",
            200,
            "Send the change events of a time window to the dispatch queue again, after an outage \
             longer than the stream keeps them (body: {\"since\", \"until\"?, \"cursor\"?}; call again \
             with nextCursor until it is absent)",
            None,
            Some(schema::<crate::directory::replay::Replayed>)
        ),
        op!(
            "get",
            "/admin/settings",
            200,
            "Directory settings",
            None,
            Some(schema::<settings::DirectorySettings>)
        ),
        op!(
            "patch",
            "/admin/settings",
            200,
            "Change directory settings; switching uniqueEmail on is refused (409) while users share an email",
            Some(schema::<settings::SettingsPatch>),
            Some(schema::<settings::DirectorySettings>)
        ),
        op!(
            "get",
            "/admin/summary",
            200,
            "The directory at a glance: users, groups and apps (each counted up to 10,000; `more` beyond), dead-lettered dispatch messages",
            None,
            Some(schema::<super::DashboardSummary>)
        ),
        op!("get", "/admin/openapi.json", 200, "This document", None, None),
    ]
}

fn parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect()
}

/// The document.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut generator = settings.into_generator();
    let mut paths: Map<String, Value> = Map::new();
    for op in operations() {
        let mut operation = json!({
            "summary": op.summary,
            "operationId": format!("{} {}", op.method, op.path),
            "responses": {},
        });
        let params = parameters(op.path);
        if !params.is_empty() {
            operation["parameters"] = Value::Array(params);
        }
        if let Some(request) = op.request {
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": request(&mut generator) } }
            });
        }
        let success = match op.response {
            Some(response) => json!({
                "description": "OK",
                "content": { "application/json": { "schema": response(&mut generator) } }
            }),
            None => json!({ "description": "OK" }),
        };
        operation["responses"][op.status.to_string()] = success;
        if op.path != "/admin/openapi.json" {
            operation["responses"]["default"] = json!({
                "description": "An RFC 9457 problem; `field` names the input at fault",
                "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
            });
        } else {
            operation["security"] = json!([]);
        }
        paths.entry(op.path.to_string()).or_insert_with(|| json!({}))[op.method] = operation;
    }
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    schemas.insert(
        "Problem".into(),
        json!({ "type": "object", "required": ["type", "title", "status", "detail"],
                "properties": { "type": { "type": "string" }, "title": { "type": "string" },
                                "status": { "type": "integer" }, "detail": { "type": "string" },
                                "field": { "type": "string" } } }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Provisio admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Directory administration, outbound provisioning configs, imports. Every operation but this document needs `Authorization: Bearer <admin key>`."
        },
        "security": [{ "adminKey": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": { "adminKey": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/openapi.json` is what the code generates; `PROVISIO_BLESS=1` writes it anew.
    #[test]
    fn the_published_document_is_the_generated_one() {
        let generated = document();
        if std::env::var("PROVISIO_BLESS").is_ok_and(|v| v == "1") {
            let path = crate::layers::crate_dir().join("../docs/openapi.json");
            let text = serde_json::to_string_pretty(&generated).expect("JSON") + "\n";
            std::fs::write(path, text).expect("write docs/openapi.json");
            return;
        }
        let published: Value = serde_json::from_str(PUBLISHED).expect("docs/openapi.json is JSON");
        assert!(
            published == generated,
            "docs/openapi.json is not the document the code generates: \
             run `PROVISIO_BLESS=1 cargo test -p provisio --lib openapi` and commit it"
        );
    }
}
