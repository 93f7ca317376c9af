//! The one place where Cloud Storage answers are classified: the JSON error's first `reason`
//! (e.g. `notFound`, `rateLimitExceeded`) is the code, its message the message, and the
//! throttling reasons are temporary besides the kit's temporary statuses. With that, the kit's
//! mapping gives the contract's kinds: a missing object is `PathNotFound` for the path the
//! caller asked about; a refused or missing credential is `PermissionDenied`; throttling,
//! time-outs and server errors are temporary `Backend` errors (retried first, where the step is
//! idempotent); everything else is a permanent `Backend` error naming the operation, the HTTP
//! status and the service's reason.
//!
//! Messages never carry a credential: tokens travel in headers that are never shown, and
//! transport errors are stripped of their URL (a resumable session URI is a capability).

use serde::Deserialize;
use wharf_http::{ErrorAnswer, first_line};

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    reason: String,
}

/// Reads the JSON error of an answer (when the service sent one).
pub(crate) fn read_error(answer: &mut ErrorAnswer) {
    if let Ok(b) = serde_json::from_slice::<ErrorBody>(&answer.body) {
        answer.code = b
            .error
            .errors
            .into_iter()
            .map(|e| e.reason)
            .find(|r| !r.is_empty())
            .unwrap_or_default();
        answer.message = first_line(&b.error.message);
    }
    answer.temporary |= matches!(
        answer.code.as_str(),
        "rateLimitExceeded" | "userRateLimitExceeded" | "backendError"
    );
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;
    use wharf_http::Failure;
    use wharf_runtime::ErrorKind;

    use super::*;

    fn service(status: u16, body: &str) -> ErrorAnswer {
        let mut answer = ErrorAnswer::new(
            StatusCode::from_u16(status).unwrap(),
            HeaderMap::new(),
            Bytes::from(body.to_owned()),
        );
        read_error(&mut answer);
        answer
    }

    #[test]
    fn answers_are_read_from_the_json_error() {
        let e = service(
            429,
            r#"{"error":{"code":429,"message":"The rate of change requests to the object is too high.\nMore.","errors":[{"message":"x","domain":"usageLimits","reason":"rateLimitExceeded"}]}}"#,
        );
        assert_eq!(e.code, "rateLimitExceeded");
        assert_eq!(
            e.to_string(),
            "HTTP 429 rateLimitExceeded: The rate of change requests to the object is too high."
        );
        let e = service(502, "<html>Bad Gateway</html>");
        assert_eq!(e.code, "");
        assert_eq!(e.to_string(), "HTTP 502: <html>Bad Gateway</html>");
        // A throttling reason is temporary whatever the status.
        let e = service(
            403,
            r#"{"error":{"message":"slow","errors":[{"reason":"userRateLimitExceeded"}]}}"#,
        );
        assert!(e.temporary);
    }

    #[test]
    fn kinds_follow_the_status() {
        let error = |status, body| Failure::from(service(status, body));
        let e = error(404, "{}").into_error("stat", "/a/b");
        assert_eq!(
            e.kind(),
            &ErrorKind::PathNotFound {
                path: "/a/b".into()
            }
        );
        for status in [401, 403] {
            let e = error(status, "{}").into_error("get_content", "/a");
            assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
        }
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                error(status, "{}")
                    .into_error("put_content", "/a")
                    .is_temporary()
            );
        }
        let e = error(412, r#"{"error":{"message":"Precondition Failed","errors":[{"reason":"conditionNotMet"}]}}"#)
            .into_error("move", "/a");
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false });
        assert!(e.to_string().contains("move /a"), "{e}");
    }
}
