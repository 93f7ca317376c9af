//! A small client of the Cloud Storage JSON API for one bucket, on reqwest: every request the
//! driver sends goes through [`Client::send`], which adds the bearer token, retries what may be
//! retried after a temporary failure (with exponential back-off and jitter), and turns error
//! answers into [`Failure`]s that the caller maps with the contract path it knows.
//!
//! The JSON API is used rather than the official `google-cloud-storage` crate because that
//! crate lists, deletes and copies over gRPC, which no emulator offers (see README.md).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use percent_encoding::utf8_percent_encode;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use wharf_runtime::{Error, Result};

use crate::auth::TokenSource;
use crate::config::{Config, Credentials, ServiceAccount};
use crate::error::{ServiceError, from_transport};
use crate::sign::{QUERY_VALUE, SignedUrlRequest, signed_url};

/// Attempts of a retried request, the first included (the reference's `maxTries`).
const MAX_ATTEMPTS: u32 = 5;
/// The first back-off; it doubles with each retry up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The service answered with an error.
    Service(ServiceError),
    /// The request did not get an answer.
    Transport(reqwest::Error),
    /// No credential could be had.
    Local(Error),
}

impl Failure {
    /// The Wharf error for this failure while doing `op` on the contract path `path`.
    pub(crate) fn into_error(self, op: &str, path: &str) -> Error {
        match self {
            Failure::Service(s) => s.into_error(op, path),
            Failure::Transport(e) => from_transport(e, op, path),
            Failure::Local(e) => e,
        }
    }

    /// The service error, if the service answered.
    pub(crate) fn service(&self) -> Option<&ServiceError> {
        match self {
            Failure::Service(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is_not_found(&self) -> bool {
        self.service().is_some_and(ServiceError::is_not_found)
    }

    pub(crate) fn status(&self) -> Option<u16> {
        self.service().map(|s| s.status.as_u16())
    }

    fn is_temporary(&self) -> bool {
        match self {
            Failure::Service(s) => s.is_temporary(),
            Failure::Transport(_) => true,
            Failure::Local(e) => e.is_temporary(),
        }
    }
}

/// Which failures of a request may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Any temporary failure: the request is idempotent.
    Idempotent,
    /// Only a temporary error *answer* (429, 5xx): the request was refused as a whole. A request
    /// whose answer was lost is not sent again, since the server may have acted on it (a
    /// resumable upload chunk sent twice is stored twice by some servers).
    AnsweredOnly,
}

/// The metadata of an object, as the JSON API describes it (only the fields the driver reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Object {
    pub name: String,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    updated: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub generation: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl Object {
    /// The size in bytes (0 when the service gave none).
    pub(crate) fn size(&self) -> u64 {
        self.size
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The time of the last change of the content.
    pub(crate) fn updated(&self) -> SystemTime {
        self.updated
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// One page of a listing.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListPage {
    #[serde(default)]
    pub items: Vec<Object>,
    #[serde(default)]
    pub prefixes: Vec<String>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// What a chunk of a resumable upload led to.
#[derive(Debug)]
pub(crate) enum ChunkAnswer {
    /// The session goes on and holds this many bytes.
    Incomplete { persisted: u64 },
    /// The upload is finished: the object it created.
    Done(Object),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RewriteAnswer {
    #[serde(default)]
    done: bool,
    #[serde(default)]
    rewrite_token: Option<String>,
}

/// The client of one bucket.
pub(crate) struct Client {
    http: reqwest::Client,
    /// The JSON API endpoint, without a trailing `/`.
    endpoint: String,
    bucket: String,
    tokens: Option<TokenSource>,
    signer: Option<ServiceAccount>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the bucket of `config`.
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .pool_idle_timeout(Duration::from_secs(50))
            // A resumable upload answers an unfinished chunk with 308 and no Location.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(config.user_agent.as_str())
            .build()
            .map_err(|e| Error::backend("cannot create the HTTP client").with_source(e))?;
        let signer = match &config.credentials {
            Credentials::ServiceAccount(sa) => Some(sa.clone()),
            _ => None,
        };
        Ok(Self {
            tokens: TokenSource::new(&config.credentials, http.clone()),
            http,
            endpoint: config.endpoint.as_str().trim_end_matches('/').to_owned(),
            bucket: config.bucket.clone(),
            signer,
        })
    }

    /// The JSON API URL of `object`.
    fn object_url(&self, object: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.endpoint,
            self.bucket,
            utf8_percent_encode(object, QUERY_VALUE)
        )
    }

    fn objects_url(&self) -> String {
        format!("{}/storage/v1/b/{}/o", self.endpoint, self.bucket)
    }

    fn upload_url(&self) -> String {
        format!("{}/upload/storage/v1/b/{}/o", self.endpoint, self.bucket)
    }

    /// True when `uri` is on the configured endpoint: a session URI read from the bucket is
    /// used only then, so a tampered one cannot send our uploads elsewhere.
    pub(crate) fn is_own_session(&self, uri: &str) -> bool {
        let (Ok(uri), Ok(endpoint)) = (
            reqwest::Url::parse(uri),
            reqwest::Url::parse(&self.endpoint),
        ) else {
            return false;
        };
        uri.origin() == endpoint.origin()
    }

    /// Sends the request `build` makes (it is called again for each attempt), with a bearer
    /// token unless `authorize` is false, retrying as `retry` allows. A non-success answer is a
    /// [`Failure::Service`]. The second value is true when an earlier attempt got no answer (so
    /// it may have taken effect).
    pub(crate) async fn send(
        &self,
        retry: Retry,
        authorize: bool,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> (Result<Response, Failure>, bool) {
        let mut unanswered = false;
        let mut attempt = 1;
        let mut refreshed = false;
        loop {
            let result = self.send_once(authorize, &build).await;
            // A token the service refuses (revoked, or expired early) is fetched again, once.
            if authorize
                && !refreshed
                && let (Err(f), Some(tokens)) = (&result, &self.tokens)
                && f.status() == Some(401)
            {
                tracing::debug!("gcs: the token was refused; fetching a fresh one");
                tokens.invalidate().await;
                refreshed = true;
                continue;
            }
            let retriable = match &result {
                Ok(_) => false,
                Err(Failure::Transport(_)) if retry == Retry::AnsweredOnly => false,
                Err(f) => f.is_temporary(),
            };
            if !retriable || attempt >= MAX_ATTEMPTS {
                return (result, unanswered);
            }
            if let Err(f) = &result {
                // A request that never reached the server cannot have taken effect.
                unanswered |= matches!(f, Failure::Transport(e) if !e.is_connect());
                tracing::debug!(attempt, error = ?f, "gcs: retrying a request");
            }
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
        }
    }

    async fn send_once(
        &self,
        authorize: bool,
        build: &impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, Failure> {
        let mut request = build(&self.http);
        if authorize && let Some(tokens) = &self.tokens {
            let token = tokens.token().await.map_err(Failure::Local)?;
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(Failure::Transport)?;
        let status = response.status();
        if status.is_success() || status == StatusCode::PERMANENT_REDIRECT {
            return Ok(response);
        }
        // An error body is small; a failure to read it only loses the message.
        let body = response.bytes().await.unwrap_or_default();
        Err(Failure::Service(ServiceError::from_answer(status, &body)))
    }

    /// Sends an idempotent request and reads the whole answer (retrying too when reading the
    /// body fails).
    async fn call(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> (Result<Bytes, Failure>, bool) {
        let mut attempt = 1;
        loop {
            let (response, unanswered) = self.send(Retry::Idempotent, true, &build).await;
            let response = match response {
                Ok(r) => r,
                Err(f) => return (Err(f), unanswered),
            };
            match response.bytes().await {
                Ok(body) => return (Ok(body), unanswered),
                Err(e) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!(attempt, error = %e, "gcs: retrying after a broken answer");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return (Err(Failure::Transport(e)), true),
            }
        }
    }

    /// The metadata of `object`: `None` when it does not exist.
    pub(crate) async fn get_object(&self, object: &str) -> Result<Option<Object>, Failure> {
        let url = self.object_url(object);
        match self.call(|http| http.get(&url)).await.0 {
            Ok(body) => parse(&body).map(Some),
            Err(f) if f.is_not_found() => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// The content of `object` from `offset` (all of it from 0), pinned to `generation` when
    /// given; the answer's body is still to be read. A range beyond the end fails with 416.
    pub(crate) async fn download(
        &self,
        object: &str,
        offset: u64,
        generation: Option<&str>,
    ) -> Result<Response, Failure> {
        let url = self.object_url(object);
        let mut query = vec![("alt", "media".to_owned())];
        if let Some(g) = generation {
            query.push(("generation", g.to_owned()));
        }
        let build = |http: &reqwest::Client| {
            let mut r = http.get(&url).query(&query);
            if offset > 0 {
                r = r.header("range", format!("bytes={offset}-"));
            }
            r
        };
        self.send(Retry::Idempotent, true, build).await.0
    }

    /// Replaces `object` with `content` in one request (a simple upload): atomic, and as
    /// idempotent as the content.
    pub(crate) async fn upload(&self, object: &str, content: Bytes) -> Result<Object, Failure> {
        let url = self.upload_url();
        let build = |http: &reqwest::Client| {
            http.post(&url)
                .query(&[("uploadType", "media"), ("name", object)])
                .header("content-type", "application/octet-stream")
                .body(content.clone())
        };
        let body = self
            .call(build)
            .await
            .0
            .map_err(bucket_missing(&self.bucket))?;
        parse(&body)
    }

    /// Replaces `object` with `content` of `content_type` and custom `metadata` in one request
    /// (a multipart upload).
    pub(crate) async fn upload_with_metadata(
        &self,
        object: &str,
        content_type: &str,
        metadata: &[(&str, String)],
        content: Bytes,
    ) -> Result<Object, Failure> {
        let boundary = format!("wharf_{:032x}", rand::random::<u128>());
        let resource = serde_json::json!({
            "name": object,
            "contentType": content_type,
            "metadata": metadata.iter().cloned().collect::<BTreeMap<&str, String>>(),
        });
        let mut body = Vec::with_capacity(content.len() + 512);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{resource}\r\n\
                 --{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let body = Bytes::from(body);
        let url = self.upload_url();
        let build = |http: &reqwest::Client| {
            http.post(&url)
                .query(&[("uploadType", "multipart")])
                .header(
                    "content-type",
                    format!("multipart/related; boundary={boundary}"),
                )
                .body(body.clone())
        };
        let answer = self
            .call(build)
            .await
            .0
            .map_err(bucket_missing(&self.bucket))?;
        parse(&answer)
    }

    /// Deletes `object`: `false` when there was nothing to delete. A retried delete that finds
    /// nothing after an attempt that got no answer counts as having deleted it.
    pub(crate) async fn delete(&self, object: &str) -> Result<bool, Failure> {
        let url = self.object_url(object);
        match self.call(|http| http.delete(&url)).await {
            (Ok(_), _) => Ok(true),
            (Err(f), unanswered) if f.is_not_found() => Ok(unanswered),
            (Err(f), _) => Err(f),
        }
    }

    /// Copies `source` to `dest` on the server (Rewrite, repeated until done: large objects
    /// across locations or storage classes take several calls).
    pub(crate) async fn rewrite(&self, source: &str, dest: &str) -> Result<(), Failure> {
        let url = format!(
            "{}/rewriteTo/b/{}/o/{}",
            self.object_url(source),
            self.bucket,
            utf8_percent_encode(dest, QUERY_VALUE)
        );
        let mut token: Option<String> = None;
        loop {
            let build = |http: &reqwest::Client| {
                let mut r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body("{}");
                if let Some(t) = &token {
                    r = r.query(&[("rewriteToken", t.as_str())]);
                }
                r
            };
            let body = self.call(build).await.0?;
            let answer: RewriteAnswer = parse(&body)?;
            if answer.done {
                return Ok(());
            }
            match answer.rewrite_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Err(malformed_failure("a rewrite neither done nor resumable")),
            }
        }
    }

    /// One page of the listing of objects under `prefix`, one level deep when `delimiter` is
    /// given.
    pub(crate) async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        page_token: Option<&str>,
        max_results: u32,
    ) -> Result<ListPage, Failure> {
        let url = self.objects_url();
        let mut query: Vec<(&str, String)> = vec![
            ("prefix", prefix.to_owned()),
            ("maxResults", max_results.to_string()),
            (
                "fields",
                "items(name,size,updated,contentType,generation),prefixes,nextPageToken".to_owned(),
            ),
        ];
        if let Some(d) = delimiter {
            query.push(("delimiter", d.to_owned()));
        }
        if let Some(t) = page_token {
            query.push(("pageToken", t.to_owned()));
        }
        let body = self
            .call(|http| http.get(&url).query(&query))
            .await
            .0
            .map_err(bucket_missing(&self.bucket))?;
        parse(&body)
    }

    /// Starts a resumable upload session for `object` and returns its URI.
    pub(crate) async fn start_session(&self, object: &str) -> Result<String, Failure> {
        let url = self.upload_url();
        let resource =
            serde_json::json!({"name": object, "contentType": "application/octet-stream"})
                .to_string();
        let build = |http: &reqwest::Client| {
            http.post(&url)
                .query(&[("uploadType", "resumable"), ("name", object)])
                .header("x-upload-content-type", "application/octet-stream")
                .header("content-type", "application/json; charset=UTF-8")
                .body(resource.clone())
        };
        // Sending this again only opens another session; the first is never used.
        let response = self
            .send(Retry::Idempotent, true, build)
            .await
            .0
            .map_err(bucket_missing(&self.bucket))?;
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| malformed_failure("a resumable upload started without a Location"))?;
        if !self.is_own_session(&location) {
            return Err(malformed_failure("a session URI on another host"));
        }
        Ok(location)
    }

    /// Sends `data` as the bytes from `from` of the session `session`; with `total`, this is the
    /// last chunk and the upload ends at `total` bytes (`data` may then be empty).
    ///
    /// Sent once: a chunk whose answer is lost is not sent again (see [`Retry::AnsweredOnly`]).
    pub(crate) async fn put_chunk(
        &self,
        session: &str,
        from: u64,
        data: Bytes,
        total: Option<u64>,
    ) -> Result<ChunkAnswer, Failure> {
        let len = data.len() as u64;
        let total_text = total.map_or_else(|| "*".to_owned(), |t| t.to_string());
        let range = if len == 0 {
            format!("bytes */{total_text}")
        } else {
            format!("bytes {from}-{}/{total_text}", from + len - 1)
        };
        let build = |http: &reqwest::Client| {
            http.put(session)
                .header("content-range", range.as_str())
                .header("content-type", "application/octet-stream")
                .body(data.clone())
        };
        // The session URI authorises the upload by itself: no token goes to it.
        let response = self.send(Retry::AnsweredOnly, false, build).await.0?;
        if response.status() == StatusCode::PERMANENT_REDIRECT {
            // `Range: bytes=0-N` tells what the session holds; no header means nothing.
            let persisted = match response
                .headers()
                .get("range")
                .and_then(|v| v.to_str().ok())
            {
                None => 0,
                Some(r) => r
                    .strip_prefix("bytes=0-")
                    .and_then(|end| end.trim().parse::<u64>().ok())
                    .map(|end| end + 1)
                    .ok_or_else(|| malformed_failure("a session Range header of another form"))?,
            };
            return Ok(ChunkAnswer::Incomplete { persisted });
        }
        let body = response.bytes().await.map_err(Failure::Transport)?;
        Ok(ChunkAnswer::Done(parse(&body)?))
    }

    /// Cancels the session `session` (its bytes are dropped). Failures are ignored: an unused
    /// session expires by itself after a week.
    pub(crate) async fn cancel_session(&self, session: &str) {
        let result = self
            .http
            .delete(session)
            .header("content-length", "0")
            .send()
            .await;
        if let Err(e) = result {
            tracing::debug!(error = %e.without_url(), "gcs: cancelling an upload session failed");
        }
    }

    /// Creates the bucket (for tests and tools; the driver never creates buckets). `false` when
    /// it already existed.
    pub(crate) async fn create_bucket(&self, project: &str) -> Result<bool, Failure> {
        let url = format!("{}/storage/v1/b", self.endpoint);
        let body = serde_json::json!({"name": self.bucket}).to_string();
        let build = |http: &reqwest::Client| {
            http.post(&url)
                .query(&[("project", project)])
                .header("content-type", "application/json")
                .body(body.clone())
        };
        match self.call(build).await.0 {
            Ok(_) => Ok(true),
            Err(f) if f.status() == Some(409) => Ok(false),
            Err(f) => Err(f),
        }
    }

    /// A V4 signed URL of `object` for `method`, when a service account's key is configured.
    pub(crate) fn signed_url(
        &self,
        method: &str,
        object: &str,
        expiry: Duration,
    ) -> Result<Option<String>> {
        let Some(sa) = &self.signer else {
            return Ok(None);
        };
        let request = SignedUrlRequest {
            method,
            endpoint: &self.endpoint,
            bucket: &self.bucket,
            object,
            client_email: &sa.client_email,
            now: SystemTime::now(),
            expiry,
        };
        signed_url(&sa.key, &request)
            .map(Some)
            .map_err(|e| Error::backend(format!("cannot sign a URL: {e}")))
    }
}

/// The wait before retry `attempt` (1 for the first retry): exponential, with jitter so that
/// many clients throttled at once do not come back together.
fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(8))
        .min(MAX_BACKOFF);
    let jitter = rand::random::<f64>() * 0.5 + 0.75;
    base.mul_f64(jitter)
}

/// Requests that name no object (listings, uploads) find nothing only when the bucket is
/// missing: that is a configuration error, not a missing path.
fn bucket_missing(bucket: &str) -> impl Fn(Failure) -> Failure + '_ {
    move |f| {
        if f.is_not_found() {
            Failure::Local(Error::backend(format!(
                "the configured bucket {bucket:?} does not exist"
            )))
        } else {
            f
        }
    }
}

fn malformed_failure(what: &str) -> Failure {
    Failure::Service(ServiceError {
        status: StatusCode::BAD_GATEWAY,
        reason: "malformedAnswer".into(),
        message: format!("unexpected answer from the service: {what}"),
    })
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| malformed_failure(&format!("unreadable JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Canned, canned};
    use wharf_runtime::Params;

    fn client(endpoint: &str) -> Client {
        let params = Params::from_pairs([
            ("bucket", "b12"),
            ("anonymous", "true"),
            ("endpoint", endpoint),
        ]);
        Client::new(&Config::from_params(params).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_retried_with_back_off() {
        let (url, server) = canned(vec![
            Canned::Answer(503, r#"{"error":{"message":"Backend Error"}}"#),
            Canned::Answer(
                429,
                r#"{"error":{"errors":[{"reason":"rateLimitExceeded"}]}}"#,
            ),
            Canned::Drop,
            Canned::Answer(200, r#"{"name":"o","size":"3"}"#),
        ]);
        let started = std::time::Instant::now();
        let object = client(&url).get_object("o").await.unwrap().unwrap();
        assert_eq!(object.size(), 3);
        assert_eq!(server.join().unwrap().len(), 4);
        // Three waits of about 250, 500 and 1000 ms (±25 %).
        assert!(
            started.elapsed() >= Duration::from_millis(1300),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_permanent_failure_is_not_retried() {
        let (url, server) = canned(vec![Canned::Answer(
            403,
            r#"{"error":{"message":"denied","errors":[{"reason":"forbidden"}]}}"#,
        )]);
        let f = client(&url).get_object("o").await.unwrap_err();
        assert_eq!(f.status(), Some(403));
        assert_eq!(server.join().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_chunk_whose_answer_is_lost_is_not_sent_again() {
        let (url, server) = canned(vec![Canned::Drop]);
        let c = client(&url);
        let session = format!("{url}/upload/storage/v1/b/b12/o?upload_id=1");
        let f = c
            .put_chunk(&session, 0, Bytes::from(vec![7u8; 1000]), None)
            .await
            .unwrap_err();
        assert!(matches!(f, Failure::Transport(_)), "{f:?}");
        assert_eq!(server.join().unwrap().len(), 1);

        // An error answer means the chunk was refused whole: it is sent again.
        let (url, server) = canned(vec![
            Canned::Answer(503, "{}"),
            Canned::Answer(200, r#"{"name":"o","size":"1000"}"#),
        ]);
        let session = format!("{url}/upload/storage/v1/b/b12/o?upload_id=1");
        let answer = client(&url)
            .put_chunk(&session, 0, Bytes::from(vec![7u8; 1000]), Some(1000))
            .await
            .unwrap();
        assert!(matches!(answer, ChunkAnswer::Done(o) if o.size() == 1000));
        assert_eq!(server.join().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_refused_token_is_fetched_again_once() {
        let token = r#"{"access_token":"t","expires_in":3600}"#;
        let refused = r#"{"error":{"code":401,"message":"Invalid Credentials"}}"#;
        let (url, server) = canned(vec![
            Canned::Answer(200, token),
            Canned::Answer(401, refused),
            Canned::Answer(200, token),
            Canned::Answer(200, r#"{"name":"o"}"#),
            // A second refusal in a row is final.
            Canned::Answer(401, refused),
            Canned::Answer(200, token),
            Canned::Answer(401, refused),
        ]);
        let mut config = Config::from_params(Params::from_pairs([
            ("bucket", "b12"),
            ("anonymous", "true"),
            ("endpoint", url.as_str()),
        ]))
        .unwrap();
        config.credentials = Credentials::AuthorizedUser {
            client_id: "c".into(),
            client_secret: wharf_runtime::Secret::new("s"),
            refresh_token: wharf_runtime::Secret::new("r"),
            token_uri: format!("{url}/token"),
        };
        let c = Client::new(&config).unwrap();
        assert!(c.get_object("o").await.unwrap().is_some());
        let f = c.get_object("o").await.unwrap_err();
        assert_eq!(f.status(), Some(401));
        assert_eq!(server.join().unwrap().len(), 7);
    }

    #[test]
    fn session_uris_must_be_on_the_endpoint() {
        let c = client("http://127.0.0.1:4443");
        assert!(c.is_own_session("http://127.0.0.1:4443/upload/storage/v1/b/b12/o?upload_id=x"));
        assert!(!c.is_own_session("http://127.0.0.1:4444/upload?upload_id=x"));
        assert!(!c.is_own_session("https://127.0.0.1:4443/upload?upload_id=x"));
        assert!(!c.is_own_session("http://evil.example/upload?upload_id=x"));
        assert!(!c.is_own_session("not a url"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let d = backoff(attempt);
            assert!(d <= MAX_BACKOFF.mul_f64(1.25), "{attempt}: {d:?}");
            assert!(d >= FIRST_BACKOFF.mul_f64(0.75), "{attempt}: {d:?}");
        }
        assert!(backoff(4) > backoff(1).mul_f64(2.0));
    }

    #[test]
    fn objects_read_their_fields() {
        let o: Object = serde_json::from_str(
            r#"{"name":"a/b","size":"524288","updated":"2026-11-26T21:47:02.737416Z",
                "contentType":"application/octet-stream","generation":"17",
                "metadata":{"Offset":"262144"}}"#,
        )
        .unwrap();
        assert_eq!(o.size(), 524288);
        assert_eq!(
            o.updated(),
            humantime::parse_rfc3339("2026-11-26T21:47:02.737416Z").unwrap()
        );
        assert_eq!(o.metadata.get("Offset").map(String::as_str), Some("262144"));
        let o: Object = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!((o.size(), o.updated()), (0, SystemTime::UNIX_EPOCH));
    }
}
