//! The one place where Blob service answers are classified: the error code comes from
//! `x-ms-error-code` (or the XML body), the message from the body's first line; a missing blob is
//! "not found" only when the code says the blob (not the container) is missing; `ServerBusy`,
//! `OperationTimedOut` and `InternalError` are temporary besides the kit's temporary statuses.
//! With that, the kit's mapping gives the contract's kinds: a missing blob is `PathNotFound` for
//! the path the caller asked about; a refused credential or signature is `PermissionDenied`;
//! throttling, time-outs and server errors are temporary `Backend` errors (retried first, where
//! the step is idempotent); a missing container is a permanent `Backend` error saying so;
//! everything else is a permanent `Backend` error naming the operation, the HTTP status and the
//! service's error code.
//!
//! Messages never carry a credential: requests are signed in headers that are never shown, and
//! transport errors are stripped of their URL.

use reqwest::StatusCode;
use wharf_http::{ErrorAnswer, first_line, header};

use crate::xml;

/// True when an answer of `status` with error `code` says the blob (or a blob the request
/// needs) does not exist.
pub(crate) fn is_blob_not_found(status: StatusCode, code: &str) -> bool {
    status == StatusCode::NOT_FOUND
        && matches!(
            code,
            "BlobNotFound" | "ResourceNotFound" | "CannotVerifyCopySource" | ""
        )
}

/// Reads the Blob service's error answer.
pub(crate) fn read_error(answer: &mut ErrorAnswer) {
    let (body_code, message) = xml::error(&answer.body).unwrap_or_default();
    answer.code = header(&answer.headers, "x-ms-error-code")
        .map(str::to_owned)
        .unwrap_or(body_code);
    answer.message = first_line(message.lines().next().unwrap_or_default());
    answer.temporary |= matches!(
        answer.code.as_str(),
        "ServerBusy" | "OperationTimedOut" | "InternalError"
    );
    answer.not_found = is_blob_not_found(answer.status, &answer.code);
    if answer.code == "ContainerNotFound" {
        answer.note = Some("the configured container does not exist".into());
        answer.temporary = false;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::header::{HeaderMap, HeaderValue};
    use wharf_http::Failure;
    use wharf_runtime::ErrorKind;

    use super::*;

    fn service(status: u16, code: &str) -> Failure {
        let mut headers = HeaderMap::new();
        if !code.is_empty() {
            headers.insert("x-ms-error-code", HeaderValue::from_str(code).unwrap());
        }
        let body = format!(
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code>\
             <Message>the message\nRequestId:1</Message></Error>"
        );
        let mut answer = ErrorAnswer::new(
            StatusCode::from_u16(status).unwrap(),
            headers,
            Bytes::from(body),
        );
        read_error(&mut answer);
        Failure::from(answer)
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
            assert!(format!("{e:#}").contains(&status.to_string()), "{e:#}");
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
        // The service's answer is the cause, shown in the alternate form.
        assert_eq!(e.to_string(), "writer /a");
        assert_eq!(
            format!("{e:#}"),
            "writer /a: HTTP 409 InvalidBlobType: the message"
        );
    }
}
