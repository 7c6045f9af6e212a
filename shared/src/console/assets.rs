//! The console's files, compiled into the function: no build step, no CDN, nothing fetched from
//! another origin at run time. Plain ES modules and one stylesheet (`shared/console/`).

/// Every response of the console carries these: scripts, styles and calls only from this origin,
/// no inline script, never framed.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-cache"),
];

pub const INDEX: &str = include_str!("../../console/index.html");

/// The file served at `/console/assets/<name>`, with its content type.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    const JS: &str = "text/javascript; charset=utf-8";
    Some(match name {
        "favicon.svg" => ("image/svg+xml", include_str!("../../console/favicon.svg")),
        "console.css" => (
            "text/css; charset=utf-8",
            include_str!("../../console/console.css"),
        ),
        "app.js" => (JS, include_str!("../../console/app.js")),
        "api.js" => (JS, include_str!("../../console/api.js")),
        "ui.js" => (JS, include_str!("../../console/ui.js")),
        "dashboard.js" => (JS, include_str!("../../console/dashboard.js")),
        "users.js" => (JS, include_str!("../../console/users.js")),
        "groups.js" => (JS, include_str!("../../console/groups.js")),
        "apps.js" => (JS, include_str!("../../console/apps.js")),
        "log.js" => (JS, include_str!("../../console/log.js")),
        "picker.js" => (JS, include_str!("../../console/picker.js")),
        "forms.js" => (JS, include_str!("../../console/forms.js")),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module a script imports is served, and the page names only served files.
    #[test]
    fn every_import_is_served() {
        let mut names = vec!["app.js".to_string(), "console.css".to_string()];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(name) = names.pop() {
            let (_, body) = asset(&name).unwrap_or_else(|| panic!("{name} is not served"));
            if !seen.insert(name.clone()) {
                continue;
            }
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let path = line.rsplit_once("from '").map(|(_, p)| p.trim_end_matches("';"));
                let path = path.unwrap_or_else(|| panic!("{name}: unreadable import {line}"));
                names.push(path.trim_start_matches("./").to_string());
            }
        }
        for reference in ["/console/assets/console.css", "/console/assets/app.js"] {
            assert!(INDEX.contains(reference));
        }
        assert!(
            !INDEX.contains("<script>"),
            "no inline script: the CSP forbids it"
        );
    }
}
