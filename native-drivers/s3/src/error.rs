//! The one place where S3 failures become Wharf errors: a missing key (`NoSuchKey`, a 404 that is
//! not about the bucket or an upload) is `PathNotFound` for the path the caller asked about; a
//! refusal (403, bad or expired credentials, a bad signature) is `PermissionDenied`; throttling,
//! 5xx answers and network failures are temporary `Backend` errors; timeouts are `Timeout`.
//! The SDK error is kept as the source. Messages name the operation, the path and S3's error
//! code, never a credential.

use std::error::Error as StdError;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use wharf_runtime::{Error, ErrorKind};

/// What kind of failure an S3 error code and HTTP status describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    NotFound,
    Denied,
    Temporary,
    Other,
}

/// Classifies a service error by its code and status.
pub(crate) fn classify(code: Option<&str>, status: Option<u16>) -> Class {
    match code {
        Some("NoSuchKey" | "NotFound") => return Class::NotFound,
        // A missing bucket or upload is not a missing path: the caller's path may well exist.
        Some("NoSuchBucket" | "NoSuchUpload") => return Class::Other,
        Some(
            "AccessDenied"
            | "AllAccessDisabled"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "InvalidToken"
            | "TokenRefreshRequired"
            | "AccountProblem",
        ) => return Class::Denied,
        Some(
            "SlowDown"
            | "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TooManyRequests"
            | "InternalError"
            | "ServiceUnavailable"
            | "RequestTimeout"
            | "OperationAborted",
        ) => return Class::Temporary,
        Some("RequestTimeTooSkewed") => return Class::Denied,
        _ => {}
    }
    match status {
        Some(404) => Class::NotFound,
        Some(401 | 403) => Class::Denied,
        Some(408 | 429 | 500..=599) => Class::Temporary,
        _ => Class::Other,
    }
}

/// The S3 error code of `err`, if the service answered with one.
pub(crate) fn code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// The HTTP status of the answer, if there was one.
pub(crate) fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// True when `err` says the key does not exist.
pub(crate) fn is_not_found<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(err, SdkError::ServiceError(_)) && classify(code(err), status(err)) == Class::NotFound
}

/// True when `err` has S3 error code `wanted` (or, for `NoSuchUpload`, a 404 on an upload call).
pub(crate) fn has_code<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
    wanted: &str,
) -> bool {
    code(err) == Some(wanted)
}

/// True when the service does not implement the operation at all (some S3-compatible stores
/// lack `ListMultipartUploads`).
pub(crate) fn is_not_implemented<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(code(err), Some("NotImplemented")) || status(err) == Some(501)
}

/// Maps an SDK error met while doing `op` on the contract path `path`.
pub(crate) fn from_sdk<E>(err: SdkError<E, HttpResponse>, op: &str, path: &str) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let (kind, detail) = match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code();
            let status = service.raw().status().as_u16();
            let kind = match classify(code, Some(status)) {
                Class::NotFound => return Error::not_found(path),
                Class::Denied => ErrorKind::PermissionDenied,
                Class::Temporary => ErrorKind::Backend { temporary: true },
                Class::Other => ErrorKind::Backend { temporary: false },
            };
            let message = service.err().message().unwrap_or("");
            let detail = format!(
                "{op} {path}: {} (HTTP {status}){}{message}",
                code.unwrap_or("error"),
                if message.is_empty() { "" } else { ": " }
            );
            (kind, detail)
        }
        SdkError::TimeoutError(_) => (ErrorKind::Timeout, format!("{op} {path}: timed out")),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            (ErrorKind::Timeout, format!("{op} {path}: timed out"))
        }
        SdkError::DispatchFailure(failure) => (
            ErrorKind::Backend {
                temporary: failure.is_io() || !failure.is_other(),
            },
            format!("{op} {path}: request failed"),
        ),
        SdkError::ResponseError(_) => (
            ErrorKind::Backend { temporary: true },
            format!("{op} {path}: unreadable answer"),
        ),
        _ => (
            ErrorKind::Backend { temporary: false },
            format!("{op} {path}: request could not be made"),
        ),
    };
    Error::new(kind)
        .with_detail(detail)
        .with_source(SourceChain(Box::new(err)))
}

/// The SDK's own errors display only their top level ("service error", "dispatch failure");
/// this shows the whole chain so the cause reaches logs.
struct SourceChain(Box<dyn StdError + Send + Sync + 'static>);

impl std::fmt::Debug for SourceChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for SourceChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

impl StdError for SourceChain {}

/// A failure reading a response body (the network went away mid-stream): temporary.
pub(crate) fn from_body(err: impl StdError + Send + Sync + 'static, op: &str, path: &str) -> Error {
    Error::temporary(format!("{op} {path}: reading the answer failed")).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_map_to_kinds() {
        assert_eq!(classify(Some("NoSuchKey"), Some(404)), Class::NotFound);
        assert_eq!(classify(None, Some(404)), Class::NotFound);
        assert_eq!(classify(Some("NoSuchBucket"), Some(404)), Class::Other);
        assert_eq!(classify(Some("NoSuchUpload"), Some(404)), Class::Other);
        assert_eq!(classify(Some("AccessDenied"), Some(403)), Class::Denied);
        assert_eq!(
            classify(Some("SignatureDoesNotMatch"), Some(403)),
            Class::Denied
        );
        assert_eq!(classify(None, Some(403)), Class::Denied);
        assert_eq!(classify(Some("SlowDown"), Some(503)), Class::Temporary);
        assert_eq!(classify(None, Some(500)), Class::Temporary);
        assert_eq!(classify(None, Some(429)), Class::Temporary);
        assert_eq!(classify(Some("InvalidRange"), Some(416)), Class::Other);
        assert_eq!(classify(None, Some(400)), Class::Other);
    }
}
