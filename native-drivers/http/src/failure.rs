//! Why a request failed, in one type for every driver: an error answer (its status, the
//! service's code and message as the driver read them, and whether trying again may help), no
//! answer at all (a transport failure, before or after the request left), an answer of the
//! wrong form, or a local reason (no credential could be had). [`Failure::into_error`] is the
//! one mapping to Wharf's error kinds; a driver decides per operation what an answer means (a
//! 404 is a missing path for one call and a missing bucket for another) before it maps.
//!
//! Nothing here holds a URL: transport errors are stripped of theirs, so a session URI or a
//! signature in a query never reaches a message.

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use wharf_runtime::{Error, ErrorKind};

use crate::client::header;

/// The longest service message kept (first line only).
const MESSAGE_LIMIT: usize = 300;

/// True for statuses after which the same request may succeed: time-outs, throttling and the
/// server errors that say "not now".
pub fn is_temporary_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// An error answer, as the kit read it and the driver refined it.
#[derive(Clone)]
pub struct ErrorAnswer {
    /// The status.
    pub status: StatusCode,
    /// The answer's headers.
    pub headers: HeaderMap,
    /// The answer's body (empty for HEAD).
    pub body: Bytes,
    /// The service's error code (`BlobNotFound`, `rateLimitExceeded`), empty when it gave none.
    pub code: String,
    /// The service's message, one line.
    pub message: String,
    /// True when the same request may succeed later.
    pub temporary: bool,
    /// True when the answer says the addressed thing does not exist.
    pub not_found: bool,
    /// What the answer means for the driver, when it says more than the status (a missing
    /// bucket); shown before the answer in messages.
    pub note: Option<String>,
}

impl ErrorAnswer {
    /// The answer of `status` with `headers` and `body`, read the way most services mean it:
    /// the body's first non-empty line as the message, 404 as "not found", and
    /// [`is_temporary_status`] for the rest. A driver refines the fields it knows better.
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        let text = String::from_utf8_lossy(&body);
        let message = first_line(&text);
        Self {
            status,
            headers,
            code: String::new(),
            message,
            temporary: is_temporary_status(status),
            not_found: status == StatusCode::NOT_FOUND,
            note: None,
            body,
        }
    }

    /// An answer of `status` without headers or body.
    pub fn status(status: StatusCode) -> Self {
        Self::new(status, HeaderMap::new(), Bytes::new())
    }

    /// Sets the service's code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = code.into();
        self
    }

    /// Sets the message (its first line is kept).
    pub fn with_message(mut self, message: &str) -> Self {
        self.message = first_line(message);
        self
    }

    /// How long the service asked us to wait (`Retry-After`, in seconds or as a date).
    pub fn retry_after(&self) -> Option<Duration> {
        let value = header(&self.headers, "retry-after")?.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        let at = httpdate::parse_http_date(value).ok()?;
        Some(at.duration_since(SystemTime::now()).unwrap_or_default())
    }
}

/// The first non-empty line of `text`, trimmed and bounded.
pub fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .chars()
        .take(MESSAGE_LIMIT)
        .collect()
}

impl fmt::Display for ErrorAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status.as_u16())?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() && self.message != self.code {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorAnswer")
            .field("status", &self.status.as_u16())
            .field("code", &self.code)
            .field("message", &self.message)
            .field("temporary", &self.temporary)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for ErrorAnswer {}

/// Why a request failed.
#[derive(Debug)]
pub struct Failure {
    reason: Reason,
    maybe_applied: bool,
}

#[derive(Debug)]
enum Reason {
    Answer(Box<ErrorAnswer>),
    /// No (complete) answer; `sent` is false when the request never left (no connection).
    Transport {
        error: reqwest::Error,
        sent: bool,
    },
    Malformed(String),
    Local(Error),
}

impl From<ErrorAnswer> for Failure {
    fn from(answer: ErrorAnswer) -> Self {
        Self::new(Reason::Answer(Box::new(answer)))
    }
}

impl From<reqwest::Error> for Failure {
    /// A transport failure; its URL is dropped.
    fn from(error: reqwest::Error) -> Self {
        let sent = !error.is_connect();
        Self::new(Reason::Transport {
            error: error.without_url(),
            sent,
        })
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::local(error)
    }
}

impl Failure {
    fn new(reason: Reason) -> Self {
        Self {
            reason,
            maybe_applied: false,
        }
    }

    /// A failure for a local reason (no credential could be had); the request never left.
    pub fn local(error: Error) -> Self {
        Self::new(Reason::Local(error))
    }

    /// An answer that does not have the form the service documents.
    pub fn malformed(what: impl fmt::Display) -> Self {
        Self::new(Reason::Malformed(what.to_string()))
    }

    /// The error answer, if the service answered.
    pub fn answer(&self) -> Option<&ErrorAnswer> {
        match &self.reason {
            Reason::Answer(a) => Some(a),
            _ => None,
        }
    }

    /// The status of the error answer, if the service answered.
    pub fn status(&self) -> Option<StatusCode> {
        self.answer().map(|a| a.status)
    }

    /// True when the service answered with error `code`.
    pub fn is(&self, code: &str) -> bool {
        self.answer().is_some_and(|a| a.code == code)
    }

    /// True when the service said the addressed thing does not exist.
    pub fn is_not_found(&self) -> bool {
        self.answer().is_some_and(|a| a.not_found)
    }

    /// True when the request got no (complete) answer.
    pub fn is_transport(&self) -> bool {
        matches!(self.reason, Reason::Transport { .. })
    }

    /// True when the request left but its answer was lost: the server may have acted on it.
    pub fn answer_lost(&self) -> bool {
        matches!(self.reason, Reason::Transport { sent: true, .. })
    }

    /// True when the request never reached the server.
    pub fn never_sent(&self) -> bool {
        matches!(
            self.reason,
            Reason::Transport { sent: false, .. } | Reason::Local(_)
        )
    }

    /// True when the same request may succeed later.
    pub fn is_temporary(&self) -> bool {
        match &self.reason {
            Reason::Answer(a) => a.temporary,
            Reason::Transport { .. } => true,
            Reason::Malformed(_) => false,
            Reason::Local(e) => e.is_temporary(),
        }
    }

    /// How long the service asked us to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        self.answer().and_then(ErrorAnswer::retry_after)
    }

    /// True when an earlier attempt of the request got no answer, so it may have taken effect
    /// even though this final one failed (a retried delete that finds nothing).
    pub fn maybe_applied(&self) -> bool {
        self.maybe_applied
    }

    pub(crate) fn set_maybe_applied(mut self, maybe_applied: bool) -> Self {
        self.maybe_applied = maybe_applied;
        self
    }

    /// Says what an error answer means for the driver when it is about the driver's
    /// configuration rather than the path (the bucket or container is missing): no longer
    /// "not found" nor temporary, and `note` shown in the message.
    pub fn explained(mut self, note: impl Into<String>) -> Self {
        if let Reason::Answer(a) = &mut self.reason {
            a.note = Some(note.into());
            a.not_found = false;
            a.temporary = false;
        }
        self
    }

    /// The Wharf error for this failure, met while doing `op` on the contract path `path`: a
    /// "not found" answer is `PathNotFound` for `path`; 401 and 403 are `PermissionDenied`; a
    /// transport time-out is `Timeout`; every other failure is a `Backend` error, temporary as
    /// [`Failure::is_temporary`] says, naming the operation and the path.
    pub fn into_error(self, op: &str, path: &str) -> Error {
        match self.reason {
            Reason::Answer(a) if a.not_found => Error::not_found(path),
            Reason::Answer(a) => {
                let kind = match a.status.as_u16() {
                    401 | 403 => ErrorKind::PermissionDenied,
                    _ => ErrorKind::Backend {
                        temporary: a.temporary,
                    },
                };
                let detail = match &a.note {
                    Some(note) => format!("{op} {path}: {note}"),
                    None => format!("{op} {path}"),
                };
                Error::new(kind).with_detail(detail).with_source(*a)
            }
            Reason::Transport { error, .. } => {
                let kind = if error.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Backend { temporary: true }
                };
                Error::new(kind)
                    .with_detail(format!("{op} {path}"))
                    .with_source(error)
            }
            Reason::Malformed(what) => Error::backend(format!(
                "{op} {path}: unexpected answer from the service: {what}"
            )),
            Reason::Local(e) => e,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Reason::Answer(a) => write!(f, "{a}"),
            Reason::Transport { error, .. } => write!(f, "no answer: {error}"),
            Reason::Malformed(what) => write!(f, "unexpected answer from the service: {what}"),
            Reason::Local(e) => write!(f, "{e}"),
        }
    }
}

/// The Wharf error for an answer that does not have the form the service documents, met while
/// doing `op` on `path`.
pub fn malformed(op: &str, path: &str, what: impl fmt::Display) -> Error {
    Failure::malformed(what).into_error(op, path)
}

/// The Wharf error for a transport failure met while doing `op` on `path` (a download's body
/// that broke off).
pub fn transport_error(error: reqwest::Error, op: &str, path: &str) -> Error {
    Failure::from(error).into_error(op, path)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn answer(status: u16, body: &str) -> ErrorAnswer {
        ErrorAnswer::new(
            StatusCode::from_u16(status).unwrap(),
            HeaderMap::new(),
            Bytes::from(body.to_owned()),
        )
    }

    #[test]
    fn answers_map_to_kinds() {
        let e = Failure::from(answer(404, "")).into_error("stat", "/a/b");
        assert_eq!(
            e.kind(),
            &ErrorKind::PathNotFound {
                path: "/a/b".into()
            }
        );
        for status in [401, 403] {
            let e = Failure::from(answer(status, "no")).into_error("stat", "/a");
            assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
            assert!(format!("{e:#}").contains(&status.to_string()), "{e:#}");
        }
        for status in [408, 429, 500, 502, 503, 504] {
            let f = Failure::from(answer(status, ""));
            assert!(f.is_temporary());
            assert!(f.into_error("put_content", "/a").is_temporary());
        }
        let e = Failure::from(answer(409, "\n  Conflict here \nmore").with_code("Busy"))
            .into_error("move", "/a");
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false });
        assert_eq!(format!("{e:#}"), "move /a: HTTP 409 Busy: Conflict here");
    }

    #[test]
    fn an_explained_answer_names_the_configuration() {
        let f =
            Failure::from(answer(404, "")).explained("the configured bucket \"b\" does not exist");
        assert!(!f.is_not_found());
        let e = f.into_error("list", "/");
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false });
        assert_eq!(
            format!("{e:#}"),
            "list /: the configured bucket \"b\" does not exist: HTTP 404"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut a = answer(503, "");
        assert_eq!(a.retry_after(), None);
        a.headers
            .insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(a.retry_after(), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        a.headers
            .insert("retry-after", HeaderValue::from_str(&later).unwrap());
        let wait = a.retry_after().unwrap();
        assert!(
            wait > Duration::from_secs(27) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        a.headers.insert(
            "retry-after",
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        assert_eq!(a.retry_after(), Some(Duration::ZERO));
    }

    #[test]
    fn local_and_malformed_failures() {
        let f = Failure::local(Error::temporary("token endpoint unreachable"));
        assert!(f.is_temporary() && f.never_sent());
        assert_eq!(
            f.into_error("stat", "/a").to_string(),
            "token endpoint unreachable"
        );
        let f = Failure::malformed("no Content-Length");
        assert!(!f.is_temporary());
        assert_eq!(
            f.into_error("stat", "/a").to_string(),
            "stat /a: unexpected answer from the service: no Content-Length"
        );
    }
}
