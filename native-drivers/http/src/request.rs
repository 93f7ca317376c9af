//! One request as a driver describes it: method, URL, query, headers and body, plus what the
//! retry loop and the logs must know about it — whether sending it twice is safe
//! ([`Idempotency`]) and which of its query parameters and headers are secret.
//!
//! A request is a template: the retry loop clones it for each attempt and lets the driver's
//! [`Sign`](crate::Sign) add dates, credentials and signatures to the copy.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::{Method, StatusCode};

use crate::{encode, redact};

/// Whether a request may be sent again after a failure, and after which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Sending it twice does what sending it once does: retried after any temporary failure,
    /// an answer lost on the way back included.
    Idempotent,
    /// Retried after a temporary error *answer* (the server refused it whole) or when it never
    /// left, but not when its answer was lost: the server may have acted on it (a chunk of a
    /// resumable upload sent twice is stored twice by some servers).
    RefusedOnly,
    /// Retried only when it never reached the server (the connection could not be made, or no
    /// credential could be had).
    NotIdempotent,
}

/// A request to send (again).
#[derive(Clone)]
pub struct Request {
    method: Method,
    url: String,
    query: Vec<(String, Option<String>)>,
    headers: Vec<(String, String)>,
    body: Bytes,
    idempotency: Idempotency,
    secret_query: Vec<String>,
    secret_headers: Vec<String>,
    accept: Vec<StatusCode>,
    timeout: Option<Duration>,
}

impl Request {
    /// A request of `method` to `url` (without a query: see [`Request::query`]). GET, HEAD,
    /// PUT, DELETE and OPTIONS are idempotent, as HTTP defines them; any other method is not
    /// unless declared so with [`Request::idempotency`].
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        let idempotency = match method {
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS => {
                Idempotency::Idempotent
            }
            _ => Idempotency::NotIdempotent,
        };
        Self {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
            idempotency,
            secret_query: Vec::new(),
            secret_headers: Vec::new(),
            accept: Vec::new(),
            timeout: None,
        }
    }

    /// Adds the query parameter `name=value` (`value` is escaped when sent).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), Some(value.into())));
        self
    }

    /// Adds a query parameter without a value (`?name`).
    pub fn query_flag(mut self, name: impl Into<String>) -> Self {
        self.query.push((name.into(), None));
        self
    }

    /// Adds a secret query parameter: sent as any other, shown as `<redacted>`.
    pub fn secret_query(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.secret_query_param(name.clone()).query(name, value)
    }

    /// Declares the query parameter `name` secret, also when it is part of the URL itself (a
    /// session URI's `upload_id`).
    pub fn secret_query_param(mut self, name: impl Into<String>) -> Self {
        self.secret_query.push(name.into());
        self
    }

    /// Adds the header `name: value`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a secret header: sent as any other, shown as `<redacted>`. Credential headers
    /// (`Authorization`, `X-Auth-Token`, …) are secret without being declared.
    pub fn secret_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.secret_headers.push(name.clone());
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets an `application/x-www-form-urlencoded` body of `pairs` (values escaped as query
    /// values are).
    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        let body = encode::query(pairs.iter().map(|(k, v)| (*k, Some(*v))));
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// Declares whether the request may be sent again (see [`Idempotency`]).
    pub fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.idempotency = idempotency;
        self
    }

    /// Counts `status` as success too (besides 2xx): a resumable upload's 308.
    pub fn accept(mut self, status: StatusCode) -> Self {
        self.accept.push(status);
        self
    }

    /// Bounds the whole exchange of each attempt (the client's own time-outs still apply).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Replaces the URL (a driver's [`Sign`](crate::Sign) may complete a relative one).
    pub fn set_url(&mut self, url: impl Into<String>) {
        self.url = url.into();
    }

    /// Adds a header to a request being signed.
    pub fn push_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.headers.push((name.into(), value.into()));
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL without the query added by [`Request::query`].
    pub fn base_url(&self) -> &str {
        &self.url
    }

    /// The URL as sent: the base URL and the escaped query.
    pub fn url(&self) -> String {
        if self.query.is_empty() {
            return self.url.clone();
        }
        let query = encode::query(self.query.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}{query}", self.url)
    }

    /// The URL as it may be shown: secret query values redacted.
    pub fn redacted_url(&self) -> String {
        redact::url(&self.url(), &self.secret_query)
    }

    /// The query parameters added by [`Request::query`], values not escaped (a flag's is
    /// empty).
    pub fn query_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref().unwrap_or_default()))
    }

    /// The headers, in the order they were added.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The value of the header `name` (any case), if set.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body.
    pub fn body_bytes(&self) -> &Bytes {
        &self.body
    }

    /// Whether the request may be sent again.
    pub fn idempotency_of(&self) -> Idempotency {
        self.idempotency
    }

    /// True when an answer of `status` is a success.
    pub(crate) fn succeeded(&self, status: StatusCode) -> bool {
        status.is_success() || self.accept.contains(&status)
    }

    /// The request for reqwest.
    pub fn build(&self, http: &reqwest::Client) -> reqwest::RequestBuilder {
        let mut builder = http.request(self.method.clone(), self.url());
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !self.body.is_empty() || matches!(self.method, Method::PUT | Method::POST) {
            // Stated even when zero: some servers refuse a PUT or POST without a length.
            if self.header_value("content-length").is_none() {
                builder = builder.header("content-length", self.body.len().to_string());
            }
            builder = builder.body(self.body.clone());
        }
        if let Some(t) = self.timeout {
            builder = builder.timeout(t);
        }
        builder
    }
}

/// The value of the header `name` (any case) in `headers`.
pub(crate) fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| redact::header(n, v, &self.secret_headers))
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.redacted_url())
            .field("headers", &headers)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .field("idempotency", &self.idempotency)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_decide_the_default_idempotency() {
        let r = |m| Request::new(m, "http://h/").idempotency_of();
        assert_eq!(r(Method::GET), Idempotency::Idempotent);
        assert_eq!(r(Method::PUT), Idempotency::Idempotent);
        assert_eq!(r(Method::DELETE), Idempotency::Idempotent);
        assert_eq!(r(Method::POST), Idempotency::NotIdempotent);
        let post = Request::new(Method::POST, "http://h/").idempotency(Idempotency::Idempotent);
        assert_eq!(post.idempotency_of(), Idempotency::Idempotent);
    }

    #[test]
    fn the_query_is_escaped_and_appended() {
        let r = Request::new(Method::GET, "http://h/c/a%20b")
            .query("prefix", "a b/")
            .query_flag("bulk-delete")
            .query("marker", "");
        assert_eq!(
            r.url(),
            "http://h/c/a%20b?prefix=a%20b%2F&bulk-delete&marker="
        );
        let pairs: Vec<_> = r.query_pairs().collect();
        assert_eq!(
            pairs,
            [("prefix", "a b/"), ("bulk-delete", ""), ("marker", "")]
        );
        let r = Request::new(Method::PUT, "http://h/up?upload_id=x").query("a", "1");
        assert_eq!(r.url(), "http://h/up?upload_id=x&a=1");
    }

    #[test]
    fn debug_shows_no_secret() {
        let r = Request::new(Method::PUT, "http://h/up?upload_id=S3SSION")
            .secret_query_param("upload_id")
            .secret_query("sig", "S1GNATURE")
            .header("authorization", "Bearer T0KEN")
            .secret_header("x-ms-copy-source-authorization", "C0PY")
            .header("x-ms-version", "2021-12-02")
            .body("payload");
        let debug = format!("{r:?}");
        for secret in ["S3SSION", "S1GNATURE", "T0KEN", "C0PY", "payload"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("2021-12-02"), "{debug}");
        assert!(
            debug.contains("http://h/up?upload_id=<redacted>&sig=<redacted>"),
            "{debug}"
        );
        // Sent as given.
        assert_eq!(r.url(), "http://h/up?upload_id=S3SSION&sig=S1GNATURE");
    }

    #[test]
    fn forms_are_escaped_like_queries() {
        let r = Request::new(Method::POST, "http://h/token")
            .form(&[("grant_type", "client_credentials"), ("secret", "s/+=")]);
        assert_eq!(
            &r.body_bytes()[..],
            b"grant_type=client_credentials&secret=s%2F%2B%3D"
        );
        assert_eq!(
            r.header_value("Content-Type"),
            Some("application/x-www-form-urlencoded")
        );
    }
}
