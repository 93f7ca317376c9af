//! A small Swift client on reqwest (one connection pool for the driver's lifetime): it keeps the
//! session (token and storage URL), renews it before it runs out and once whenever Swift
//! answers 401, retries idempotent requests after temporary failures, and offers the object,
//! container and account calls the driver needs, including listings, bulk delete and `/info`.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use wharf_runtime::{Error, Result};

use crate::auth::{self, Session};
use crate::config::Config;
use crate::error::{Failure, StatusError, malformed};

/// Characters kept as they are in a URL path (object names keep their `/`).
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');
/// Characters kept as they are in a query value.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How often an idempotent request is retried after a temporary failure.
const RETRIES: u32 = 4;
const RETRY_DELAY: Duration = Duration::from_millis(200);

/// Percent-encodes an object name (or any path) for a URL.
pub(crate) fn encode_path(s: &str) -> String {
    utf8_percent_encode(s, PATH).to_string()
}

/// What a request is addressed to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Account,
    Container,
    Object(&'a str),
}

/// A request, ready to be sent (again).
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    method: Method,
    target: Target<'a>,
    query: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    idempotent: bool,
}

impl<'a> Request<'a> {
    pub(crate) fn new(method: Method, target: Target<'a>) -> Self {
        // Only POST (bulk delete, metadata updates) is not repeated blindly; every PUT here
        // writes a whole object, so repeating it changes nothing.
        let idempotent = method != Method::POST;
        Self {
            method,
            target,
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
            idempotent,
        }
    }

    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub(crate) fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

/// A successful answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A header's value as text.
pub(crate) fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// What a HEAD of an object says.
#[derive(Debug, Clone)]
pub(crate) struct ObjectMeta {
    pub size: u64,
    pub mod_time: SystemTime,
    /// A Static Large Object manifest.
    pub slo: bool,
    /// A Dynamic Large Object manifest: its `container/prefix`.
    pub dlo: Option<String>,
    /// Where this driver keeps the segments of a large object it wrote.
    pub segments: Option<String>,
}

/// The object metadata naming a large object's segment prefix.
pub(crate) const SEGMENTS_META: &str = "x-object-meta-wharf-segments";

impl ObjectMeta {
    fn of(headers: &HeaderMap) -> Self {
        let mod_time = header(headers, "x-timestamp")
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|t| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t))
            .or_else(|| {
                header(headers, "last-modified").and_then(|t| httpdate::parse_http_date(t).ok())
            })
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Self {
            size: header(headers, "content-length")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            mod_time,
            slo: header(headers, "x-static-large-object")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            dlo: header(headers, "x-object-manifest").map(str::to_owned),
            segments: header(headers, SEGMENTS_META).map(str::to_owned),
        }
    }
}

/// One entry of a container listing.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Entry {
    /// An object's name (absent for a `subdir`).
    #[serde(default)]
    pub name: Option<String>,
    /// A common prefix up to the delimiter (listings with a delimiter only).
    #[serde(default)]
    pub subdir: Option<String>,
    #[serde(default)]
    pub bytes: u64,
    /// Present for Static Large Object manifests.
    #[serde(default)]
    pub slo_etag: Option<String>,
}

impl Entry {
    /// The name or the subdir, whichever this entry is.
    pub(crate) fn key(&self) -> &str {
        self.name
            .as_deref()
            .or(self.subdir.as_deref())
            .unwrap_or_default()
    }
}

/// The client of one container.
pub(crate) struct Client {
    http: reqwest::Client,
    config: Config,
    session: Mutex<Option<Session>>,
    /// Serialises authentication, so that a burst of requests authenticates once.
    auth_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("auth_url", &self.config.auth_url.as_str())
            .field("container", &self.config.container)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(60))
            .read_timeout(Duration::from_secs(15 * 60))
            .pool_idle_timeout(Duration::from_secs(50))
            .pool_max_idle_per_host(64)
            .danger_accept_invalid_certs(config.insecure_skip_verify)
            .user_agent(concat!("wharf-driver-swift/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::backend("cannot create the HTTP client").with_source(e))?;
        Ok(Self {
            http,
            config: config.clone(),
            session: Mutex::new(None),
            auth_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn cached(&self) -> Option<Session> {
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A session whose token is good for a while yet: the cached one, or a new one.
    pub(crate) async fn session(&self) -> Result<Session> {
        if let Some(s) = self.cached().filter(|s| s.is_fresh(SystemTime::now())) {
            return Ok(s);
        }
        let _guard = self.auth_lock.lock().await;
        // Someone else may have renewed it while we waited.
        if let Some(s) = self.cached().filter(|s| s.is_fresh(SystemTime::now())) {
            return Ok(s);
        }
        let s = auth::authenticate(&self.http, &self.config).await?;
        tracing::debug!(storage_url = %s.storage_url, expires = ?s.expires, "swift: authenticated");
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some(s.clone());
        Ok(s)
    }

    /// Forgets `token` (Swift refused it), unless it was already replaced.
    fn forget(&self, token: &str) {
        let mut cached = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if cached.as_ref().is_some_and(|s| s.token.expose() == token) {
            *cached = None;
        }
    }

    /// Replaces the cached token by `token` (for tests of re-authentication).
    #[doc(hidden)]
    pub(crate) fn replace_token(&self, token: &str) {
        if let Some(s) = self
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            s.token = wharf_runtime::Secret::new(token);
        }
    }

    /// The URL of `target` under `storage_url`.
    pub(crate) fn url(&self, storage_url: &str, target: Target<'_>) -> String {
        match target {
            Target::Account => storage_url.to_owned(),
            Target::Container => format!("{storage_url}/{}", encode_path(&self.config.container)),
            Target::Object(name) => format!(
                "{storage_url}/{}/{}",
                encode_path(&self.config.container),
                encode_path(name)
            ),
        }
    }

    async fn send_once(
        &self,
        req: &Request<'_>,
        session: &Session,
    ) -> std::result::Result<reqwest::Response, Failure> {
        let mut url = self.url(&session.storage_url, req.target);
        if !req.query.is_empty() {
            let q: Vec<String> = req
                .query
                .iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        (*k).to_owned()
                    } else {
                        format!("{k}={}", utf8_percent_encode(v, QUERY))
                    }
                })
                .collect();
            url = format!("{url}?{}", q.join("&"));
        }
        let mut builder = self
            .http
            .request(req.method.clone(), &url)
            .header("x-auth-token", session.token.expose());
        for (name, value) in &req.headers {
            builder = builder.header(*name, value.as_str());
        }
        if matches!(req.method, Method::PUT | Method::POST) {
            builder = builder
                .header("content-length", req.body.len().to_string())
                .body(req.body.clone());
        }
        let response = builder.send().await.map_err(Failure::Transport)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = if req.method == Method::HEAD {
            Bytes::new()
        } else {
            response.bytes().await.unwrap_or_default()
        };
        let text = String::from_utf8_lossy(&body);
        Err(Failure::Status(StatusError {
            status,
            message: strip_html(text.lines().find(|l| !l.trim().is_empty()).unwrap_or("")),
        }))
    }

    /// Sends `req`: authenticates as needed, renews the token once after a 401, retries an
    /// idempotent request after temporary failures, and reads an object once more when a GET or
    /// HEAD of it says 404. The answer's body is left to read.
    ///
    /// That second look is for overwrites: an object server that lists an object's directory
    /// just before a concurrent PUT replaces the data file and removes the old one answers 404
    /// for an object that exists throughout (seen on a single-replica cluster, where the proxy
    /// has no other replica to ask). Asking again finds the new data file, so a reader racing an
    /// overwrite sees the old content or the new, as the contract says; a genuine miss costs
    /// one more request.
    pub(crate) async fn send(
        &self,
        req: &Request<'_>,
    ) -> std::result::Result<reqwest::Response, Failure> {
        let mut attempt = 0;
        let mut renewed = false;
        let mut looked_again = !(matches!(req.target, Target::Object(_))
            && matches!(req.method, Method::GET | Method::HEAD));
        loop {
            let session = self.session().await.map_err(Failure::Other)?;
            match self.send_once(req, &session).await {
                Err(f) if f.status() == Some(StatusCode::UNAUTHORIZED) && !renewed => {
                    tracing::debug!("swift: token refused; authenticating again");
                    self.forget(session.token.expose());
                    renewed = true;
                }
                Err(f) if f.status() == Some(StatusCode::NOT_FOUND) && !looked_again => {
                    looked_again = true;
                }
                Err(f) if req.idempotent && f.is_temporary() && attempt < RETRIES => {
                    attempt += 1;
                    tracing::debug!(attempt, error = ?f, "swift: retrying a request");
                    tokio::time::sleep(RETRY_DELAY * attempt).await;
                }
                result => return result,
            }
        }
    }

    /// Sends `req` and reads the whole answer.
    pub(crate) async fn call(&self, req: &Request<'_>) -> std::result::Result<Answer, Failure> {
        let mut attempt = 0;
        loop {
            let response = self.send(req).await?;
            let headers = response.headers().clone();
            match response.bytes().await {
                Ok(body) => return Ok(Answer { headers, body }),
                Err(e) if req.idempotent && attempt < RETRIES => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "swift: retrying after a broken answer");
                    tokio::time::sleep(RETRY_DELAY * attempt).await;
                }
                Err(e) => return Err(Failure::Transport(e)),
            }
        }
    }

    /// HEAD of an object; `None` when it does not exist.
    pub(crate) async fn head(
        &self,
        name: &str,
    ) -> std::result::Result<Option<ObjectMeta>, Failure> {
        match self
            .call(&Request::new(Method::HEAD, Target::Object(name)))
            .await
        {
            Ok(a) => Ok(Some(ObjectMeta::of(&a.headers))),
            Err(f) if f.is_not_found() => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// Writes a whole object; returns its ETag.
    pub(crate) async fn put(
        &self,
        name: &str,
        body: Bytes,
        headers: &[(&'static str, String)],
    ) -> std::result::Result<String, Failure> {
        let mut req = Request::new(Method::PUT, Target::Object(name))
            .header("content-type", "application/octet-stream")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v.clone());
        }
        let answer = self.call(&req).await?;
        Ok(header(&answer.headers, "etag")
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned())
    }

    /// Deletes an object (with `?multipart-manifest=delete` when `with_segments`, which also
    /// deletes a Static Large Object's segments); `false` when there was nothing to delete.
    pub(crate) async fn delete(
        &self,
        name: &str,
        with_segments: bool,
    ) -> std::result::Result<bool, Failure> {
        let mut req = Request::new(Method::DELETE, Target::Object(name));
        if with_segments {
            req = req
                .query("multipart-manifest", "delete")
                .header("accept", "application/json");
        }
        match self.call(&req).await {
            Ok(answer) if with_segments => {
                // The middleware answers 200 and reports failures in the body.
                check_bulk_answer(&answer.body, name).map(|r| r.deleted + r.not_found > 0)
            }
            Ok(_) => Ok(true),
            Err(f) if f.is_not_found() => Ok(false),
            Err(f) => Err(f),
        }
    }

    /// A server-side copy of `from` to `to`; with `manifest`, a large object's manifest is
    /// copied instead of its content (the copy shares the segments).
    pub(crate) async fn copy(
        &self,
        from: &str,
        to: &str,
        manifest: bool,
    ) -> std::result::Result<(), Failure> {
        let source = format!(
            "/{}/{}",
            encode_path(&self.config.container),
            encode_path(from)
        );
        let mut req = Request::new(Method::PUT, Target::Object(to)).header("x-copy-from", source);
        if manifest {
            req = req.query("multipart-manifest", "get");
        }
        self.call(&req).await.map(|_| ())
    }

    /// One page of the listing of names starting with `prefix`, after `marker`.
    pub(crate) async fn list(
        &self,
        prefix: &str,
        delimiter: Option<char>,
        marker: Option<&str>,
        limit: usize,
    ) -> std::result::Result<Vec<Entry>, Failure> {
        let mut req = Request::new(Method::GET, Target::Container)
            .query("format", "json")
            .query("limit", limit.to_string());
        if !prefix.is_empty() {
            req = req.query("prefix", prefix);
        }
        if let Some(d) = delimiter {
            req = req.query("delimiter", d.to_string());
        }
        if let Some(m) = marker {
            req = req.query("marker", m);
        }
        let answer = self.call(&req).await?;
        if answer.body.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&answer.body)
            .map_err(|e| Failure::Other(malformed("list", prefix, e)))
    }

    /// Deletes `names` with the bulk-delete middleware in one request.
    pub(crate) async fn bulk_delete(
        &self,
        names: &[String],
    ) -> std::result::Result<BulkResult, Failure> {
        let container = encode_path(&self.config.container);
        let mut body = String::with_capacity(names.len() * 64);
        for n in names {
            body.push('/');
            body.push_str(&container);
            body.push('/');
            body.push_str(&encode_path(n));
            body.push('\n');
        }
        let req = Request::new(Method::POST, Target::Account)
            .query("bulk-delete", "")
            .header("content-type", "text/plain")
            .header("accept", "application/json")
            .body(body)
            // Deleting what is already gone is harmless, so a lost answer may be repeated.
            .idempotent(true);
        let answer = self.call(&req).await?;
        check_bulk_answer(&answer.body, "bulk delete")
    }

    /// The cluster's `/info`; `None` when the cluster does not publish it.
    pub(crate) async fn info(&self) -> Result<Option<serde_json::Value>> {
        let session = self.session().await?;
        let url = info_url(&session.storage_url);
        let response = match self.http.get(&url).send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                tracing::debug!(status = %r.status(), "swift: no /info");
                return Ok(None);
            }
            Err(e) => {
                tracing::debug!(error = %e.without_url(), "swift: no /info");
                return Ok(None);
            }
        };
        Ok(response
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// The headers of the container, or `None` when it does not exist.
    pub(crate) async fn head_container(&self) -> std::result::Result<Option<HeaderMap>, Failure> {
        match self
            .call(&Request::new(Method::HEAD, Target::Container))
            .await
        {
            Ok(a) => Ok(Some(a.headers)),
            Err(f) if f.is_not_found() => Ok(None),
            Err(f) => Err(f),
        }
    }

    pub(crate) async fn create_container(&self) -> std::result::Result<(), Failure> {
        self.call(&Request::new(Method::PUT, Target::Container))
            .await
            .map(|_| ())
    }

    pub(crate) async fn head_account(&self) -> std::result::Result<HeaderMap, Failure> {
        self.call(&Request::new(Method::HEAD, Target::Account))
            .await
            .map(|a| a.headers)
    }

    /// Sets metadata headers on the container or the account.
    pub(crate) async fn post_metadata(
        &self,
        target: Target<'_>,
        name: &'static str,
        value: &str,
    ) -> std::result::Result<(), Failure> {
        self.call(&Request::new(Method::POST, target).header(name, value))
            .await
            .map(|_| ())
    }
}

/// `/info` lives at the root of the proxy: two levels above the storage URL
/// (`https://host/v1/AUTH_acct` → `https://host/info`).
pub(crate) fn info_url(storage_url: &str) -> String {
    let (scheme_host, path) = match storage_url.find("://") {
        Some(i) => match storage_url[i + 3..].find('/') {
            Some(j) => storage_url.split_at(i + 3 + j),
            None => (storage_url, ""),
        },
        None => (storage_url, ""),
    };
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    parts.truncate(parts.len().saturating_sub(2));
    parts.push("info");
    format!("{scheme_host}/{}", parts.join("/"))
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
    out.trim().chars().take(200).collect()
}

/// What a bulk operation (bulk delete, or deleting a manifest with its segments) did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BulkResult {
    pub deleted: u64,
    pub not_found: u64,
}

#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(rename = "Response Status")]
    status: String,
    #[serde(rename = "Number Deleted", default)]
    deleted: u64,
    #[serde(rename = "Number Not Found", default)]
    not_found: u64,
    #[serde(rename = "Errors", default)]
    errors: Vec<Vec<String>>,
    #[serde(rename = "Response Body", default)]
    body: String,
}

/// Reads the bulk middleware's JSON answer (which streams whitespace while it works, and says
/// 200 in HTTP whatever happened).
pub(crate) fn check_bulk_answer(
    body: &[u8],
    what: &str,
) -> std::result::Result<BulkResult, Failure> {
    let answer: BulkAnswer = serde_json::from_slice(body.trim_ascii())
        .map_err(|e| Failure::Other(malformed("delete", what, e)))?;
    let code: u16 = answer
        .status
        .split_whitespace()
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or(500);
    let failed: Vec<&Vec<String>> = answer
        .errors
        .iter()
        .filter(|e| e.get(1).is_none_or(|s| !s.starts_with("404")))
        .collect();
    if (200..300).contains(&code) && failed.is_empty() || code == 404 {
        return Ok(BulkResult {
            deleted: answer.deleted,
            not_found: answer.not_found,
        });
    }
    let status = StatusCode::from_u16(if (200..300).contains(&code) {
        500
    } else {
        code
    })
    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut message = format!("{}: {}", answer.status, answer.body.trim());
    if let Some(first) = failed.first() {
        message.push_str(&format!(" (first failure: {})", first.join(" ")));
    }
    Err(Failure::Status(StatusError { status, message }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn info_is_at_the_proxy_root() {
        assert_eq!(
            info_url("http://127.0.0.1:8080/v1/AUTH_test"),
            "http://127.0.0.1:8080/info"
        );
        assert_eq!(
            info_url("https://h/swift/v1/AUTH_x"),
            "https://h/swift/info"
        );
    }

    #[test]
    fn names_are_encoded_with_their_slashes() {
        assert_eq!(encode_path("files/a b/c%"), "files/a%20b/c%25");
        assert_eq!(encode_path("a-b_c.d~e"), "a-b_c.d~e");
    }

    #[test]
    fn bulk_answers() {
        let ok = br#"

        {"Response Status": "200 OK", "Response Body": "", "Number Deleted": 3, "Number Not Found": 1, "Errors": []}"#;
        assert_eq!(
            check_bulk_answer(ok, "x").unwrap(),
            BulkResult {
                deleted: 3,
                not_found: 1
            }
        );
        let bad = br#"{"Response Status": "400 Bad Request", "Response Body": "Invalid", "Number Deleted": 0, "Number Not Found": 0, "Errors": [["/c/o", "409 Conflict"]]}"#;
        let e = check_bulk_answer(bad, "x").unwrap_err();
        assert_eq!(e.status(), Some(StatusCode::BAD_REQUEST));
        let partly = br#"{"Response Status": "200 OK", "Response Body": "", "Number Deleted": 1, "Number Not Found": 0, "Errors": [["/c/o", "503 Service Unavailable"]]}"#;
        assert!(check_bulk_answer(partly, "x").is_err());
    }

    /// A canned Swift on 127.0.0.1: tempauth at `/auth/v1.0`, then the given statuses, one per
    /// request, in order. Returns the auth URL and the request lines it saw.
    async fn canned(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, storage) = (seen.clone(), format!("{base}/v1/AUTH_t"));
        tokio::spawn(async move {
            let mut statuses = statuses.into_iter();
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0; 8192];
                let n = socket.read(&mut buf).await.unwrap();
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let line = head.lines().next().unwrap_or_default().to_owned();
                let answer = if line.contains("/auth/v1.0") {
                    format!(
                        "HTTP/1.1 200 OK\r\nx-storage-url: {storage}\r\nx-auth-token: tk\r\n\
                         content-length: 0\r\nconnection: close\r\n\r\n"
                    )
                } else {
                    log.lock().unwrap().push(line);
                    let code = statuses.next().unwrap_or(500);
                    let body = if code == 200 { "found" } else { "" };
                    format!(
                        "HTTP/1.1 {code} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        (format!("{base}/auth/v1.0"), seen)
    }

    fn canned_client(auth_url: &str) -> Client {
        let params = wharf_runtime::Params::from_pairs([
            ("authurl", auth_url),
            ("username", "t:u"),
            ("password", "p"),
            ("container", "c"),
        ]);
        Client::new(&Config::from_params(params).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_404_on_reading_an_object_is_checked_once_more() {
        // A GET that races an overwrite: 404, then the object.
        let (url, seen) = canned(vec![404, 200]).await;
        let client = canned_client(&url);
        let answer = client
            .call(&Request::new(Method::GET, Target::Object("files/a")))
            .await
            .unwrap();
        assert_eq!(&answer.body[..], b"found");
        assert_eq!(seen.lock().unwrap().len(), 2);

        // A genuine miss: two looks, then not found.
        let (url, seen) = canned(vec![404, 404, 404]).await;
        let client = canned_client(&url);
        assert!(client.head("files/a").await.unwrap().is_none());
        assert_eq!(seen.lock().unwrap().len(), 2);

        // Neither containers nor writes are asked again.
        let (url, seen) = canned(vec![404, 404]).await;
        let client = canned_client(&url);
        let f = client
            .call(&Request::new(Method::GET, Target::Container))
            .await
            .unwrap_err();
        assert!(f.is_not_found());
        let f = client
            .call(&Request::new(Method::DELETE, Target::Object("files/a")))
            .await
            .unwrap_err();
        assert!(f.is_not_found());
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn listing_entries() {
        let page: Vec<Entry> = serde_json::from_str(
            r#"[{"subdir": "files/a/"}, {"name": "files/b", "bytes": 3, "hash": "x",
                "last_modified": "2026-11-26T21:49:02.612370", "content_type": "t"},
                {"name": "files/c", "bytes": 1500, "slo_etag": "\"e\""}]"#,
        )
        .unwrap();
        assert_eq!(page[0].key(), "files/a/");
        assert_eq!(page[1].key(), "files/b");
        assert_eq!(page[1].bytes, 3);
        assert!(page[1].slo_etag.is_none());
        assert!(page[2].slo_etag.is_some());
    }
}
