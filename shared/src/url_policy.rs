//! Where credentials may be sent: the rules every outbound URL that carries a secret follows
//! (token endpoints, SCIM targets), and the loopback test the console's cookies use.

/// Whether `host` (a URL's host or a `Host` header, port and IPv6 brackets allowed) is this
/// machine.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => name.eq_ignore_ascii_case("localhost"),
    }
}

/// Whether a secret may travel to `url`: https, or plain http to a loopback host (local
/// development); over plain http anyone on the path reads it.
pub fn credentials_may_go(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| match u.scheme() {
        "https" => u.host().is_some(),
        "http" => u.host_str().is_some_and(is_loopback_host),
        _ => false,
    })
}

/// `.` and `..` path segments (also percent-encoded, which URL parsers resolve alike): a value
/// rendered into the path must not climb the app's API. Checked on the raw text, before any
/// parser normalises them away.
pub fn has_dot_segment(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    // A backslash separates segments too, for the URL standard's http(s).
    path.split(['/', '\\']).any(|segment| {
        let s = segment.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_over_https_or_to_this_machine() {
        assert!(credentials_may_go("https://api.example.com/scim/v2"));
        assert!(credentials_may_go("http://127.0.0.1:8080/scim"));
        assert!(credentials_may_go("http://[::1]:80/x") && credentials_may_go("http://localhost/x"));
        assert!(!credentials_may_go("http://api.example.com/scim"));
        assert!(!credentials_may_go("http://localhost.evil.com/scim"));
        assert!(!credentials_may_go("ftp://127.0.0.1/x"));
        assert!(is_loopback_host("127.0.0.1:9000") && is_loopback_host("[::1]:80"));
        assert!(!is_loopback_host("abc.execute-api.us-east-1.amazonaws.com"));
    }
}
