//! The admin API's routes, matched on path segments under `/admin`.

/// A matched path; the method is checked by the handler of each route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    Users,
    User(&'a str),
    UserGroups(&'a str),
    Groups,
    Group(&'a str),
    GroupMembers(&'a str),
    GroupMember(&'a str, &'a str),
    Apps,
    App(&'a str),
    /// Issue a new SCIM bearer token for a SCIM client app (rotation).
    ScimToken(&'a str),
    Policies,
    Policy(&'a str),
    AuthConfigs(&'a str),
    AuthConfig(&'a str, &'a str),
    EventConfigs(&'a str),
    EventConfig(&'a str, &'a str),
    EventPreview(&'a str, &'a str),
    AppLog(&'a str),
    UserLog(&'a str),
    /// Provision on demand: one user, one app, now.
    Provision(&'a str),
    /// A full reconcile of an app: start one, or see the latest.
    Reconcile(&'a str),
    /// Ask a SCIM target app's service what it supports, and keep the answer.
    Discover(&'a str),
    /// Test an authorization config: a token fetch or a call.
    AuthTest(&'a str, &'a str),
    /// Deprovisions an app's deletion threshold holds.
    HeldDeprovisions(&'a str),
    /// Approve or reject them.
    HeldDecision(&'a str, &'a str),
    /// Put dead-lettered dispatch messages back on the dispatch queue.
    Redrive,
    /// Put dead-lettered import page messages back on the import queue.
    ImportRedrive,
    /// Send the change events of a time window to the dispatch queue again.
    Replay,
    ImportConfigs(&'a str),
    ImportConfig(&'a str, &'a str),
    /// Start a run of an import config.
    ImportRuns(&'a str, &'a str),
    AppJobs(&'a str),
    /// A job and its bulk-operations report.
    Job(&'a str),
    /// Cancel or resume a run.
    JobAction(&'a str, &'a str),
    /// Directory-wide settings (unique emails).
    Settings,
    /// Counts of the directory and of dead-lettered messages (the console's dashboard).
    Summary,
    /// The OpenAPI document of this API (no admin key needed).
    OpenApi,
}

impl Route<'static> {
    /// One of each route, for checks that every route is documented.
    pub const ALL: [Route<'static>; 37] = [
        Route::Users,
        Route::User("u"),
        Route::UserGroups("u"),
        Route::UserLog("u"),
        Route::Groups,
        Route::Group("g"),
        Route::GroupMembers("g"),
        Route::GroupMember("g", "u"),
        Route::Apps,
        Route::App("a"),
        Route::ScimToken("a"),
        Route::AuthConfigs("a"),
        Route::AuthConfig("a", "x"),
        Route::EventConfigs("a"),
        Route::EventConfig("a", "k"),
        Route::EventPreview("a", "k"),
        Route::AppLog("a"),
        Route::HeldDeprovisions("a"),
        Route::Provision("a"),
        Route::Reconcile("a"),
        Route::Discover("a"),
        Route::AuthTest("a", "x"),
        Route::HeldDecision("a", "approve"),
        Route::ImportConfigs("a"),
        Route::ImportConfig("a", "i"),
        Route::ImportRuns("a", "i"),
        Route::AppJobs("a"),
        Route::Job("j"),
        Route::JobAction("j", "cancel"),
        Route::Policies,
        Route::Policy("p"),
        Route::Redrive,
        Route::ImportRedrive,
        Route::Replay,
        Route::Settings,
        Route::Summary,
        Route::OpenApi,
    ];
}

impl Route<'_> {
    /// The path template of the route, as the OpenAPI document writes it. Exhaustive: a new route
    /// can't be added without one.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Users => "/admin/users",
            Route::User(_) => "/admin/users/{userId}",
            Route::UserGroups(_) => "/admin/users/{userId}/groups",
            Route::UserLog(_) => "/admin/users/{userId}/provisioning-log",
            Route::HeldDeprovisions(_) => "/admin/apps/{appId}/held-deprovisions",
            Route::Provision(_) => "/admin/apps/{appId}/provision",
            Route::Reconcile(_) => "/admin/apps/{appId}/reconcile",
            Route::Discover(_) => "/admin/apps/{appId}/discover",
            Route::AuthTest(..) => "/admin/apps/{appId}/auth-configs/{authId}/test",
            Route::HeldDecision(..) => "/admin/apps/{appId}/held-deprovisions/{decision}",
            Route::Groups => "/admin/groups",
            Route::Group(_) => "/admin/groups/{groupId}",
            Route::GroupMembers(_) => "/admin/groups/{groupId}/members",
            Route::GroupMember(..) => "/admin/groups/{groupId}/members/{userId}",
            Route::Apps => "/admin/apps",
            Route::App(_) => "/admin/apps/{appId}",
            Route::ScimToken(_) => "/admin/apps/{appId}/scim/token",
            Route::AuthConfigs(_) => "/admin/apps/{appId}/auth-configs",
            Route::AuthConfig(..) => "/admin/apps/{appId}/auth-configs/{authId}",
            Route::EventConfigs(_) => "/admin/apps/{appId}/event-configs",
            Route::EventConfig(..) => "/admin/apps/{appId}/event-configs/{kind}",
            Route::EventPreview(..) => "/admin/apps/{appId}/event-configs/{kind}/preview",
            Route::AppLog(_) => "/admin/apps/{appId}/provisioning-log",
            Route::ImportConfigs(_) => "/admin/apps/{appId}/import-configs",
            Route::ImportConfig(..) => "/admin/apps/{appId}/import-configs/{importId}",
            Route::ImportRuns(..) => "/admin/apps/{appId}/import-configs/{importId}/runs",
            Route::AppJobs(_) => "/admin/apps/{appId}/jobs",
            Route::Job(_) => "/admin/jobs/{jobId}",
            Route::JobAction(..) => "/admin/jobs/{jobId}/{action}",
            Route::Policies => "/admin/policies",
            Route::Policy(_) => "/admin/policies/{policyId}",
            Route::Redrive => "/admin/provisioning/redrive",
            Route::ImportRedrive => "/admin/imports/redrive",
            Route::Replay => "/admin/provisioning/replay",
            Route::Settings => "/admin/settings",
            Route::Summary => "/admin/summary",
            Route::OpenApi => "/admin/openapi.json",
        }
    }
}

pub fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/admin")?;
    let segments: Vec<&str> = rest
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    Some(match segments.as_slice() {
        ["users"] => Route::Users,
        ["users", id] => Route::User(id),
        ["users", id, "groups"] => Route::UserGroups(id),
        ["groups"] => Route::Groups,
        ["groups", id] => Route::Group(id),
        ["groups", id, "members"] => Route::GroupMembers(id),
        ["groups", id, "members", user] => Route::GroupMember(id, user),
        ["apps"] => Route::Apps,
        ["apps", id] => Route::App(id),
        ["apps", id, "auth-configs"] => Route::AuthConfigs(id),
        ["apps", id, "auth-configs", auth] => Route::AuthConfig(id, auth),
        ["apps", id, "event-configs"] => Route::EventConfigs(id),
        ["apps", id, "event-configs", kind] => Route::EventConfig(id, kind),
        ["apps", id, "event-configs", kind, "preview"] => Route::EventPreview(id, kind),
        ["apps", id, "provisioning-log"] => Route::AppLog(id),
        ["users", id, "provisioning-log"] => Route::UserLog(id),
        ["apps", id, "held-deprovisions"] => Route::HeldDeprovisions(id),
        ["apps", id, "provision"] => Route::Provision(id),
        ["apps", id, "reconcile"] => Route::Reconcile(id),
        ["apps", id, "discover"] => Route::Discover(id),
        ["apps", id, "auth-configs", auth, "test"] => Route::AuthTest(id, auth),
        ["apps", id, "held-deprovisions", decision] => Route::HeldDecision(id, decision),
        ["provisioning", "redrive"] => Route::Redrive,
        ["imports", "redrive"] => Route::ImportRedrive,
        ["provisioning", "replay"] => Route::Replay,
        ["openapi.json"] => Route::OpenApi,
        ["settings"] => Route::Settings,
        ["summary"] => Route::Summary,
        ["apps", id, "import-configs"] => Route::ImportConfigs(id),
        ["apps", id, "import-configs", import] => Route::ImportConfig(id, import),
        ["apps", id, "import-configs", import, "runs"] => Route::ImportRuns(id, import),
        ["apps", id, "jobs"] => Route::AppJobs(id),
        ["jobs", id] => Route::Job(id),
        ["jobs", id, action] => Route::JobAction(id, action),
        ["apps", id, "scim", "token"] => Route::ScimToken(id),
        ["policies"] => Route::Policies,
        ["policies", id] => Route::Policy(id),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_matched_at_its_template() {
        for r in Route::ALL {
            let path = r.template().replace(['{', '}'], "");
            assert_eq!(route(&path).map(|m| m.template()), Some(r.template()), "{path}");
        }
        let mut templates: Vec<&str> = Route::ALL.iter().map(Route::template).collect();
        templates.sort();
        templates.dedup();
        assert_eq!(templates.len(), Route::ALL.len(), "a route listed twice");
    }

    #[test]
    fn matches_paths() {
        assert_eq!(route("/admin/users"), Some(Route::Users));
        assert_eq!(route("/admin/users/"), Some(Route::Users));
        assert_eq!(route("/admin/users/abc"), Some(Route::User("abc")));
        assert_eq!(
            route("/admin/groups/g/members/u"),
            Some(Route::GroupMember("g", "u"))
        );
        assert_eq!(
            route("/admin/apps/a/event-configs/user_created/preview"),
            Some(Route::EventPreview("a", "user_created"))
        );
        assert_eq!(route("/admin/jobs/j"), Some(Route::Job("j")));
        assert_eq!(route("/admin/reports/j"), None);
        assert_eq!(route("/admin/nope"), None);
        assert_eq!(route("/scim/v2/Users"), None);
    }
}
