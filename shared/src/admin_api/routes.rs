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
    /// Put dead-lettered dispatch messages back on the dispatch queue.
    Redrive,
    ImportConfigs(&'a str),
    ImportConfig(&'a str, &'a str),
    /// Start a run of an import config.
    ImportRuns(&'a str, &'a str),
    AppJobs(&'a str),
    /// A job and its bulk-operations report.
    Job(&'a str),
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
        ["provisioning", "redrive"] => Route::Redrive,
        ["apps", id, "import-configs"] => Route::ImportConfigs(id),
        ["apps", id, "import-configs", import] => Route::ImportConfig(id, import),
        ["apps", id, "import-configs", import, "runs"] => Route::ImportRuns(id, import),
        ["apps", id, "jobs"] => Route::AppJobs(id),
        ["jobs", id] => Route::Job(id),
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
