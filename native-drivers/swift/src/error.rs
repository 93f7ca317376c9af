//! The one place where Swift and identity-service failures become Wharf errors: 404 is
//! `PathNotFound` for the path the caller asked about; 401 and 403 are `PermissionDenied`;
//! throttling, time-outs and server errors are temporary `Backend` errors (retried first, where
//! the request is idempotent); everything else is a permanent `Backend` error naming the
//! operation and the HTTP status.
//!
//! Messages never carry a credential: tokens travel in headers that are never shown, and
//! transport errors are stripped of their URL (a TempURL signature or token never sits in one
//! anyway, but the rule keeps it so).

use std::fmt;

use reqwest::StatusCode;
use wharf_runtime::{Error, ErrorKind};

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Swift answered with an error status.
    Status(StatusError),
    /// The request got no (complete) answer.
    Transport(reqwest::Error),
    /// No token could be had, or an answer could not be understood.
    Other(Error),
}

/// An error answer: its status and the first line of its body.
#[derive(Debug, Clone)]
pub(crate) struct StatusError {
    pub status: StatusCode,
    pub message: String,
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status.as_u16())?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for StatusError {}

/// True for statuses after which the same request may succeed.
pub(crate) fn is_temporary_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 498 | 500 | 502 | 503 | 504)
}

impl Failure {
    /// The status Swift answered with, if it answered.
    pub(crate) fn status(&self) -> Option<StatusCode> {
        match self {
            Failure::Status(s) => Some(s.status),
            _ => None,
        }
    }

    /// True when Swift said 404.
    pub(crate) fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// True when retrying the same request may help.
    pub(crate) fn is_temporary(&self) -> bool {
        match self {
            Failure::Status(s) => is_temporary_status(s.status),
            Failure::Transport(_) => true,
            Failure::Other(e) => e.is_temporary(),
        }
    }

    /// The Wharf error for this failure while doing `op` on the contract path `path`.
    pub(crate) fn into_error(self, op: &str, path: &str) -> Error {
        match self {
            Failure::Status(s) if s.status == StatusCode::NOT_FOUND => Error::not_found(path),
            Failure::Status(s) => {
                let kind = match s.status.as_u16() {
                    401 | 403 => ErrorKind::PermissionDenied,
                    _ => ErrorKind::Backend {
                        temporary: is_temporary_status(s.status),
                    },
                };
                Error::new(kind)
                    .with_detail(format!("{op} {path}"))
                    .with_source(s)
            }
            Failure::Transport(e) => from_transport(e, op, path),
            Failure::Other(e) => e,
        }
    }
}

/// The Wharf error for a request that got no answer: a time-out is `Timeout`, anything else a
/// temporary `Backend` error.
pub(crate) fn from_transport(e: reqwest::Error, op: &str, path: &str) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Backend { temporary: true }
    };
    Error::new(kind)
        .with_detail(format!("{op} {path}"))
        .with_source(e.without_url())
}

/// An answer that could not be understood.
pub(crate) fn malformed(op: &str, path: &str, why: impl fmt::Display) -> Error {
    Error::backend(format!("{op} {path}: unexpected answer from Swift: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Failure {
        Failure::Status(StatusError {
            status: StatusCode::from_u16(code).unwrap(),
            message: "nope".into(),
        })
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
        let e = status(409).into_error("move", "/a");
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false });
        assert_eq!(e.to_string(), "move /a: HTTP 409: nope");
    }
}
