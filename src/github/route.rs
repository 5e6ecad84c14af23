//! Building request URLs and following GitHub's pagination links.
//!
//! Every value that lands in a path segment or a query is percent-encoded here (label names
//! like `good first issue` or `area/ci`, branch names with slashes), so that no name can change
//! which resource a request addresses.

use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// RFC 3986 unreserved characters stay; everything else (including `/`, `:`, `#`, `%`, space
/// and any non-ASCII) is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// One path segment or query value, percent-encoded.
pub(crate) fn encode(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// A query string (`?a=1&b=2`) from already meaningful pairs; values are encoded.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let joined: Vec<String> = pairs.iter().map(|(key, value)| format!("{key}={}", encode(value))).collect();
    if joined.is_empty() { String::new() } else { format!("?{}", joined.join("&")) }
}

/// The URL's path without its query, for logs (queries may carry user data).
pub(crate) fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |start| &after_scheme[start..]);
    path.split(['?', '#']).next().unwrap_or(path)
}

/// `scheme://authority` of a URL (lowercased), to check that pagination stays on GitHub.
pub(crate) fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{}://{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase())
}

/// The `rel="next"` URL of the `link` header(s), if any.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    let joined: Vec<&str> =
        headers.get_all(http::header::LINK).iter().filter_map(|value| value.to_str().ok()).collect();
    next_in(&joined.join(", "))
}

fn next_in(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let url = &after[..close];
        let tail = &after[close + 1..];
        // A URL may contain commas, so entries are delimited by the next `<`, not by `,`.
        let params_end = tail.find('<').unwrap_or(tail.len());
        let is_next = tail[..params_end].split(';').any(|param| {
            let param = param.trim().trim_end_matches(',').trim();
            let Some((name, value)) = param.split_once('=') else { return false };
            name.trim().eq_ignore_ascii_case("rel")
                && value.trim().trim_matches('"').split_whitespace().any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(url.trim().to_owned());
        }
        rest = &tail[params_end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_as_one_segment() {
        let cases = [
            ("good first issue", "good%20first%20issue"),
            ("area/ci", "area%2Fci"),
            ("steward:ready", "steward%3Aready"),
            ("#1 prio", "%231%20prio"),
            ("100%", "100%25"),
            ("ünïcode ✓", "%C3%BCn%C3%AFcode%20%E2%9C%93"),
            ("a.b-c_d~e", "a.b-c_d~e"),
            ("?&=+", "%3F%26%3D%2B"),
        ];
        for (raw, encoded) in cases {
            assert_eq!(encode(raw), encoded);
        }
        assert_eq!(
            query(&[("head", "octo:steward/issue-1"), ("state", "all")]),
            "?head=octo%3Asteward%2Fissue-1&state=all"
        );
        assert_eq!(query(&[]), "");
    }

    #[test]
    fn finds_the_next_link() {
        let github = r#"<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=4>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last", <https://api.github.com/repositories/1300192/issues?page=1>; rel="first""#;
        assert_eq!(next_in(github).as_deref(), Some("https://api.github.com/repositories/1300192/issues?page=4"));
        assert_eq!(
            next_in(r#"<https://x/a?labels=a,b&page=3>; rel="next""#).as_deref(),
            Some("https://x/a?labels=a,b&page=3")
        );
        assert_eq!(next_in(r#"<https://x/a?page=3>; REL=next"#).as_deref(), Some("https://x/a?page=3"));
        assert_eq!(next_in(r#"<https://x/a?page=1>; rel="first", <https://x/a?page=1>; rel="prev""#), None);
        assert_eq!(next_in(""), None);
        assert_eq!(next_in("<broken"), None);
    }

    #[test]
    fn paths_and_origins() {
        assert_eq!(path_of("https://api.github.com/repos/o/r/issues?since=x&page=2"), "/repos/o/r/issues");
        assert_eq!(path_of("http://127.0.0.1:8080"), "/");
        assert_eq!(origin_of("HTTPS://API.github.com/repos?x"), "https://api.github.com");
        assert_eq!(origin_of("http://127.0.0.1:80/x"), "http://127.0.0.1:80");
    }
}
