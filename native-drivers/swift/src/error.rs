//! The one place where Swift's answers are classified: the message is the answer's first line
//! without its HTML, and 498 (a rate limit of some clusters) is temporary besides the kit's
//! temporary statuses. With that, the kit's mapping gives the contract's kinds: 404 is
//! `PathNotFound` for the path the caller asked about; 401 and 403 are `PermissionDenied`;
//! throttling, time-outs and server errors are temporary `Backend` errors (retried first, where
//! the request is idempotent); everything else is a permanent `Backend` error naming the
//! operation and the HTTP status.
//!
//! Messages never carry a credential: tokens travel in headers that are never shown, and
//! transport errors are stripped of their URL (a TempURL signature or token never sits in one
//! anyway, but the rule keeps it so).

use reqwest::StatusCode;
use wharf_http::ErrorAnswer;

pub(crate) use wharf_http::Failure;

/// The longest message kept from an error answer.
const MESSAGE_LIMIT: usize = 200;

/// True for statuses after which the same request may succeed.
pub(crate) fn is_temporary_status(status: StatusCode) -> bool {
    wharf_http::is_temporary_status(status) || status.as_u16() == 498
}

/// Reads Swift's error answer: its first non-empty line, without HTML tags.
pub(crate) fn read_error(answer: &mut ErrorAnswer) {
    answer.message = strip_html(&answer.message);
    answer.temporary = is_temporary_status(answer.status);
}

fn strip_html(line: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in line.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().chars().take(MESSAGE_LIMIT).collect()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::header::HeaderMap;
    use wharf_runtime::ErrorKind;

    use super::*;

    fn status(code: u16) -> Failure {
        let mut answer = ErrorAnswer::new(
            StatusCode::from_u16(code).unwrap(),
            HeaderMap::new(),
            Bytes::from_static(b"\n<html><h1>nope</h1></html>\n"),
        );
        read_error(&mut answer);
        Failure::from(answer)
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(
            status(404).into_error("stat", "/a").kind(),
            &ErrorKind::PathNotFound { path: "/a".into() }
        );
        assert_eq!(
            status(401).into_error("stat", "/a").kind(),
            &ErrorKind::PermissionDenied
        );
        assert_eq!(
            status(403).into_error("stat", "/a").kind(),
            &ErrorKind::PermissionDenied
        );
        assert!(status(503).into_error("stat", "/a").is_temporary());
        assert!(status(429).is_temporary());
        assert!(status(498).is_temporary());
        let e = status(409).into_error("move", "/a");
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false });
        assert_eq!(format!("{e:#}"), "move /a: HTTP 409: nope");
    }
}
