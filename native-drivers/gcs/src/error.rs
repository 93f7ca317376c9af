//! The one place where Cloud Storage failures become Wharf errors: a missing object is
//! `PathNotFound` for the path the caller asked about; a refused or missing credential is
//! `PermissionDenied`; throttling, time-outs and server errors are temporary `Backend` errors
//! (retried first, where the step is idempotent); everything else is a permanent `Backend` error
//! naming the operation, the HTTP status and the service's reason.
//!
//! Messages never carry a credential: tokens travel in headers that are never shown, and
//! transport errors are stripped of their URL (a resumable session URI is a capability).

use std::fmt;

use reqwest::StatusCode;
use serde::Deserialize;
use wharf_runtime::{Error, ErrorKind};

/// A failed answer of the JSON API: its status, reason and message.
#[derive(Debug, Clone)]
pub(crate) struct ServiceError {
    pub status: StatusCode,
    /// The first error's `reason` (e.g. `notFound`, `rateLimitExceeded`), empty when none.
    pub reason: String,
    /// The service's message, first line only.
    pub message: String,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status.as_u16())?;
        if !self.reason.is_empty() {
            write!(f, " {}", self.reason)?;
        }
        if !self.message.is_empty() && self.message != self.reason {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {}

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

impl ServiceError {
    /// The error of an answer with `status` and `body` (JSON when the service sent one).
    pub(crate) fn from_answer(status: StatusCode, body: &[u8]) -> Self {
        let (reason, message) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => (
                b.error
                    .errors
                    .into_iter()
                    .map(|e| e.reason)
                    .find(|r| !r.is_empty())
                    .unwrap_or_default(),
                b.error.message,
            ),
            Err(_) => (String::new(), String::from_utf8_lossy(body).into_owned()),
        };
        let message: String = message.lines().next().unwrap_or_default().trim().to_owned();
        Self {
            status,
            reason,
            message: message.chars().take(300).collect(),
        }
    }

    pub(crate) fn is_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
    }

    /// True when the same request may succeed later: throttling, time-outs, server errors.
    pub(crate) fn is_temporary(&self) -> bool {
        matches!(self.status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
            || matches!(
                self.reason.as_str(),
                "rateLimitExceeded" | "userRateLimitExceeded" | "backendError"
            )
    }

    /// The Wharf error for this failure, met while doing `op` on the contract path `path`.
    pub(crate) fn into_error(self, op: &str, path: &str) -> Error {
        if self.is_not_found() {
            return Error::not_found(path);
        }
        let kind = match self.status.as_u16() {
            401 | 403 => ErrorKind::PermissionDenied,
            _ => ErrorKind::Backend {
                temporary: self.is_temporary(),
            },
        };
        Error::new(kind)
            .with_detail(format!("{op} {path}"))
            .with_source(self)
    }
}

/// A transport failure (connection refused, reset, time-out, TLS), met while doing `op` on
/// `path`. Always temporary: the request may succeed when retried.
pub(crate) fn from_transport(err: reqwest::Error, op: &str, path: &str) -> Error {
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Backend { temporary: true }
    };
    Error::new(kind)
        .with_detail(format!("{op} {path}"))
        .with_source(err.without_url())
}

/// An answer that does not have the form the service documents.
pub(crate) fn malformed(op: &str, path: &str, what: impl fmt::Display) -> Error {
    Error::backend(format!(
        "{op} {path}: unexpected answer from the service: {what}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, body: &str) -> ServiceError {
        ServiceError::from_answer(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    #[test]
    fn answers_are_read_from_the_json_error() {
        let e = service(
            429,
            r#"{"error":{"code":429,"message":"The rate of change requests to the object is too high.\nMore.","errors":[{"message":"x","domain":"usageLimits","reason":"rateLimitExceeded"}]}}"#,
        );
        assert_eq!(e.reason, "rateLimitExceeded");
        assert_eq!(
            e.to_string(),
            "HTTP 429 rateLimitExceeded: The rate of change requests to the object is too high."
        );
        let e = service(502, "<html>Bad Gateway</html>");
        assert_eq!(e.reason, "");
        assert_eq!(e.to_string(), "HTTP 502: <html>Bad Gateway</html>");
    }

    #[test]
    fn kinds_follow_the_status() {
        let e = service(404, "{}").into_error("stat", "/a/b");
        assert_eq!(
            e.kind(),
            &ErrorKind::PathNotFound {
                path: "/a/b".into()
            }
        );
        for status in [401, 403] {
            let e = service(status, "{}").into_error("get_content", "/a");
            assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
        }
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                service(status, "{}")
                    .into_error("put_content", "/a")
                    .is_temporary()
            );
        }
        let e = service(412, r#"{"error":{"message":"Precondition Failed","errors":[{"reason":"conditionNotMet"}]}}"#)
            .into_error("move", "/a");
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false });
        assert!(e.to_string().contains("move /a"), "{e}");
    }
}
