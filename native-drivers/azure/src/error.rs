//! The one place where Blob service failures become Wharf errors: a missing blob is
//! `PathNotFound` for the path the caller asked about; a refused credential or signature is
//! `PermissionDenied`; throttling, time-outs and server errors are temporary `Backend` errors
//! (retried first, where the step is idempotent); everything else is a permanent `Backend` error
//! naming the operation, the HTTP status and the service's error code.
//!
//! Messages never carry a credential: requests are signed in headers that are never shown, and
//! transport errors are stripped of their URL.

use std::fmt;

use reqwest::StatusCode;
use wharf_runtime::{Error, ErrorKind};

/// A failed answer of the Blob service: its status, error code and message.
#[derive(Debug, Clone)]
pub(crate) struct ServiceError {
    pub status: StatusCode,
    /// The `x-ms-error-code` (e.g. `BlobNotFound`), empty when the service gave none.
    pub code: String,
    /// The service's message, first line only.
    pub message: String,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status.as_u16())?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {}

impl ServiceError {
    /// True when the service says the blob (or a blob the request needs) does not exist.
    pub(crate) fn is_blob_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
            && matches!(
                self.code.as_str(),
                "BlobNotFound" | "ResourceNotFound" | "CannotVerifyCopySource" | ""
            )
    }

    /// True for the service's error `code`.
    pub(crate) fn is(&self, code: &str) -> bool {
        self.code == code
    }

    /// True when the same request may succeed later: throttling, time-outs, server errors.
    pub(crate) fn is_temporary(&self) -> bool {
        matches!(self.status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
            || matches!(
                self.code.as_str(),
                "ServerBusy" | "OperationTimedOut" | "InternalError"
            )
    }

    /// The Wharf error for this failure, met while doing `op` on the contract path `path`.
    pub(crate) fn into_error(self, op: &str, path: &str) -> Error {
        if self.is_blob_not_found() {
            return Error::not_found(path);
        }
        let kind = match self.status.as_u16() {
            401 | 403 => ErrorKind::PermissionDenied,
            _ if self.code == "ContainerNotFound" => ErrorKind::Backend { temporary: false },
            _ => ErrorKind::Backend {
                temporary: self.is_temporary(),
            },
        };
        let detail = if self.code == "ContainerNotFound" {
            format!("{op} {path}: the configured container does not exist")
        } else {
            format!("{op} {path}")
        };
        Error::new(kind).with_detail(detail).with_source(self)
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

    fn service(status: u16, code: &str) -> ServiceError {
        ServiceError {
            status: StatusCode::from_u16(status).unwrap(),
            code: code.into(),
            message: "the message".into(),
        }
    }

    #[test]
    fn missing_blobs_name_the_requested_path() {
        let e = service(404, "BlobNotFound").into_error("stat", "/a/b");
        assert_eq!(
            e.kind(),
            &ErrorKind::PathNotFound {
                path: "/a/b".into()
            }
        );
    }

    #[test]
    fn a_missing_container_is_a_configuration_error() {
        let e = service(404, "ContainerNotFound").into_error("list", "/");
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false });
        assert!(e.to_string().contains("container does not exist"), "{e}");
    }

    #[test]
    fn refusals_are_permission_denied() {
        for (status, code) in [
            (403, "AuthenticationFailed"),
            (403, "AuthorizationFailure"),
            (401, ""),
        ] {
            let e = service(status, code).into_error("get_content", "/a");
            assert_eq!(e.kind(), &ErrorKind::PermissionDenied, "{status} {code}");
            assert!(e.to_string().contains(&status.to_string()), "{e}");
        }
    }

    #[test]
    fn throttling_and_server_errors_are_temporary() {
        for (status, code) in [
            (503, "ServerBusy"),
            (500, "InternalError"),
            (429, ""),
            (408, ""),
        ] {
            let e = service(status, code).into_error("put_content", "/a");
            assert!(e.is_temporary(), "{status} {code}");
        }
        let e = service(409, "InvalidBlobType").into_error("writer", "/a");
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false });
        assert_eq!(
            e.to_string(),
            "writer /a: HTTP 409 InvalidBlobType: the message"
        );
    }
}
