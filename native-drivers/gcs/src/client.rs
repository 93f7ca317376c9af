//! A small client of the Cloud Storage JSON API for one bucket: each operation the driver needs
//! is a method that encodes its request and decodes its answer. Sending, retrying (with the
//! kit's back-off), error answers and tokens are `wharf_http`'s; this file signs requests with
//! the bearer token of the configured credentials and says which requests are idempotent.
//!
//! The JSON API is used rather than the official `google-cloud-storage` crate because that
//! crate lists, deletes and copies over gRPC, which no emulator offers (see README.md).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use wharf_http::{Answer, HttpClient, Idempotency, Request, RetryConfig, Sign, Unsigned, encode};
use wharf_runtime::{Error, Result};

pub(crate) use wharf_http::Failure;

use crate::auth::TokenSource;
use crate::config::{Config, Credentials, ServiceAccount};
use crate::error::read_error;
use crate::sign::{SignedUrlRequest, signed_url};

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
    http: HttpClient,
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

/// Requests to the JSON API carry the bearer token of the configured credentials (none when
/// anonymous); a token the service refuses (revoked, or expired early) is fetched again, once.
impl Sign for Client {
    async fn sign(&self, request: &mut Request) -> Result<(), Failure> {
        if let Some(tokens) = &self.tokens {
            let token = tokens.token().await?;
            request.push_header("authorization", format!("Bearer {}", token.expose()));
        }
        Ok(())
    }

    async fn refused(&self, _signed: &Request) -> bool {
        match &self.tokens {
            Some(tokens) => {
                tracing::debug!("gcs: the token was refused; fetching a fresh one");
                tokens.forget();
                true
            }
            None => false,
        }
    }
}

impl Client {
    /// A client for the bucket of `config`.
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let http = wharf_http::client_builder(config.user_agent.as_str())
            // A resumable upload answers an unfinished chunk with 308 and no Location.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::backend("cannot create the HTTP client").with_source(e))?;
        let signer = match &config.credentials {
            Credentials::ServiceAccount(sa) => Some(sa.clone()),
            _ => None,
        };
        Ok(Self {
            tokens: TokenSource::new(&config.credentials, http.clone()),
            // Four retries from 250 ms, doubling (the reference's `maxTries` of five).
            http: HttpClient::new("gcs", http, RetryConfig::default()).reading_errors(read_error),
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
            encode::component(object)
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

    /// Sends `request` with a token and reads the whole answer.
    async fn call(&self, request: &Request) -> Result<Answer, Failure> {
        self.http.call(request, self).await
    }

    /// Sends `request`, which names no object (a listing, an upload): it finds nothing only
    /// when the bucket is missing, a configuration error rather than a missing path.
    async fn call_naming_no_object(&self, request: &Request) -> Result<Answer, Failure> {
        self.call(request).await.map_err(|f| {
            if f.is_not_found() {
                let bucket = &self.bucket;
                f.explained(format!("the configured bucket {bucket:?} does not exist"))
            } else {
                f
            }
        })
    }

    /// The metadata of `object`: `None` when it does not exist.
    pub(crate) async fn get_object(&self, object: &str) -> Result<Option<Object>, Failure> {
        match self
            .call(&Request::new(Method::GET, self.object_url(object)))
            .await
        {
            Ok(answer) => parse(&answer.body).map(Some),
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
    ) -> Result<reqwest::Response, Failure> {
        let mut req = Request::new(Method::GET, self.object_url(object)).query("alt", "media");
        if let Some(g) = generation {
            req = req.query("generation", g);
        }
        if offset > 0 {
            req = req.header("range", format!("bytes={offset}-"));
        }
        self.http.send(&req, self).await
    }

    /// The whole content of `object`, read (a body that breaks off is asked for again, as any
    /// lost answer of an idempotent request).
    pub(crate) async fn download_all(&self, object: &str) -> Result<Answer, Failure> {
        let req = Request::new(Method::GET, self.object_url(object)).query("alt", "media");
        self.call(&req).await
    }

    /// Replaces `object` with `content` in one request (a simple upload): atomic, and as
    /// idempotent as the content.
    pub(crate) async fn upload(&self, object: &str, content: Bytes) -> Result<Object, Failure> {
        let req = Request::new(Method::POST, self.upload_url())
            .query("uploadType", "media")
            .query("name", object)
            .header("content-type", "application/octet-stream")
            .body(content)
            .idempotency(Idempotency::Idempotent);
        parse(&self.call_naming_no_object(&req).await?.body)
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
        let req = Request::new(Method::POST, self.upload_url())
            .query("uploadType", "multipart")
            .header(
                "content-type",
                format!("multipart/related; boundary={boundary}"),
            )
            .body(body)
            .idempotency(Idempotency::Idempotent);
        parse(&self.call_naming_no_object(&req).await?.body)
    }

    /// Deletes `object`: `false` when there was nothing to delete. A retried delete that finds
    /// nothing after an attempt that got no answer counts as having deleted it.
    pub(crate) async fn delete(&self, object: &str) -> Result<bool, Failure> {
        match self
            .call(&Request::new(Method::DELETE, self.object_url(object)))
            .await
        {
            Ok(_) => Ok(true),
            Err(f) if f.is_not_found() => Ok(f.maybe_applied()),
            Err(f) => Err(f),
        }
    }

    /// Copies `source` to `dest` on the server (Rewrite, repeated until done: large objects
    /// across locations or storage classes take several calls).
    pub(crate) async fn rewrite(&self, source: &str, dest: &str) -> Result<(), Failure> {
        let url = format!(
            "{}/rewriteTo/b/{}/o/{}",
            self.object_url(source),
            self.bucket,
            encode::component(dest)
        );
        let mut token: Option<String> = None;
        loop {
            let mut req = Request::new(Method::POST, url.as_str())
                .header("content-type", "application/json")
                .body("{}")
                .idempotency(Idempotency::Idempotent);
            if let Some(t) = &token {
                req = req.query("rewriteToken", t.as_str());
            }
            let answer: RewriteAnswer = parse(&self.call(&req).await?.body)?;
            if answer.done {
                return Ok(());
            }
            match answer.rewrite_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Err(Failure::malformed("a rewrite neither done nor resumable")),
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
        let mut req = Request::new(Method::GET, self.objects_url())
            .query("prefix", prefix)
            .query("maxResults", max_results.to_string())
            .query(
                "fields",
                "items(name,size,updated,contentType,generation),prefixes,nextPageToken",
            );
        if let Some(d) = delimiter {
            req = req.query("delimiter", d);
        }
        if let Some(t) = page_token {
            req = req.query("pageToken", t);
        }
        parse(&self.call_naming_no_object(&req).await?.body)
    }

    /// Starts a resumable upload session for `object` and returns its URI.
    pub(crate) async fn start_session(&self, object: &str) -> Result<String, Failure> {
        let resource =
            serde_json::json!({"name": object, "contentType": "application/octet-stream"})
                .to_string();
        let req = Request::new(Method::POST, self.upload_url())
            .query("uploadType", "resumable")
            .query("name", object)
            .header("x-upload-content-type", "application/octet-stream")
            .header("content-type", "application/json; charset=UTF-8")
            .body(resource)
            // Sending this again only opens another session; the first is never used.
            .idempotency(Idempotency::Idempotent);
        let answer = self.call_naming_no_object(&req).await?;
        let location = answer
            .header("location")
            .map(str::to_owned)
            .ok_or_else(|| Failure::malformed("a resumable upload started without a Location"))?;
        if !self.is_own_session(&location) {
            return Err(Failure::malformed("a session URI on another host"));
        }
        Ok(location)
    }

    /// A request to the session `session`: the URI authorises the upload by itself, so no
    /// token goes with it, and its `upload_id` is a secret.
    fn session_request(method: Method, session: &str) -> Request {
        Request::new(method, session).secret_query_param("upload_id")
    }

    /// Sends `data` as the bytes from `from` of the session `session`; with `total`, this is the
    /// last chunk and the upload ends at `total` bytes (`data` may then be empty).
    ///
    /// A chunk whose answer is lost is not sent again ([`Idempotency::RefusedOnly`]): a chunk
    /// sent twice is stored twice by some servers.
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
        let req = Self::session_request(Method::PUT, session)
            .header("content-range", range)
            .header("content-type", "application/octet-stream")
            .body(data)
            .idempotency(Idempotency::RefusedOnly)
            .accept(StatusCode::PERMANENT_REDIRECT);
        let answer = self.http.call(&req, &Unsigned).await?;
        if answer.status == StatusCode::PERMANENT_REDIRECT {
            // `Range: bytes=0-N` tells what the session holds; no header means nothing.
            let persisted = match answer.header("range") {
                None => 0,
                Some(r) => r
                    .strip_prefix("bytes=0-")
                    .and_then(|end| end.trim().parse::<u64>().ok())
                    .map(|end| end + 1)
                    .ok_or_else(|| Failure::malformed("a session Range header of another form"))?,
            };
            return Ok(ChunkAnswer::Incomplete { persisted });
        }
        Ok(ChunkAnswer::Done(parse(&answer.body)?))
    }

    /// Cancels the session `session` (its bytes are dropped). Sent once, and failures are
    /// ignored: an unused session expires by itself after a week.
    pub(crate) async fn cancel_session(&self, session: &str) {
        let req = Self::session_request(Method::DELETE, session)
            .header("content-length", "0")
            .idempotency(Idempotency::NotIdempotent);
        if let Err(f) = self.http.call(&req, &Unsigned).await {
            tracing::debug!(error = %f, "gcs: cancelling an upload session failed");
        }
    }

    /// Creates the bucket (for tests and tools; the driver never creates buckets). `false` when
    /// it already existed.
    pub(crate) async fn create_bucket(&self, project: &str) -> Result<bool, Failure> {
        let req = Request::new(Method::POST, format!("{}/storage/v1/b", self.endpoint))
            .query("project", project)
            .header("content-type", "application/json")
            .body(serde_json::json!({"name": self.bucket}).to_string())
            .idempotency(Idempotency::Idempotent);
        match self.call(&req).await {
            Ok(_) => Ok(true),
            Err(f) if f.status() == Some(StatusCode::CONFLICT) => Ok(false),
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

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::malformed(format!("unreadable JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_http::testing::{MockServer, Reply};
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
        let server = MockServer::start();
        server.push(Reply::json(503, r#"{"error":{"message":"Backend Error"}}"#));
        server.push(Reply::json(
            429,
            r#"{"error":{"errors":[{"reason":"rateLimitExceeded"}]}}"#,
        ));
        server.push(Reply::hang_up());
        server.push(Reply::json(200, r#"{"name":"o","size":"3"}"#));
        let started = std::time::Instant::now();
        let object = client(server.url()).get_object("o").await.unwrap().unwrap();
        assert_eq!(object.size(), 3);
        assert_eq!(server.requests().len(), 4);
        // Three waits of about 250, 500 and 1000 ms (±25 %).
        assert!(
            started.elapsed() >= Duration::from_millis(1300),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_permanent_failure_is_not_retried() {
        let server = MockServer::start();
        server.push(Reply::json(
            403,
            r#"{"error":{"message":"denied","errors":[{"reason":"forbidden"}]}}"#,
        ));
        let f = client(server.url()).get_object("o").await.unwrap_err();
        assert_eq!(f.status(), Some(StatusCode::FORBIDDEN));
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn a_chunk_whose_answer_is_lost_is_not_sent_again() {
        let server = MockServer::start();
        server.push(Reply::hang_up());
        let c = client(server.url());
        let session = format!("{}/upload/storage/v1/b/b12/o?upload_id=1", server.url());
        let f = c
            .put_chunk(&session, 0, Bytes::from(vec![7u8; 1000]), None)
            .await
            .unwrap_err();
        assert!(f.is_transport(), "{f:?}");
        assert_eq!(server.requests().len(), 1);

        // An error answer means the chunk was refused whole: it is sent again.
        let server = MockServer::start();
        server.push(Reply::json(503, "{}"));
        server.push(Reply::json(200, r#"{"name":"o","size":"1000"}"#));
        let session = format!("{}/upload/storage/v1/b/b12/o?upload_id=1", server.url());
        let answer = client(server.url())
            .put_chunk(&session, 0, Bytes::from(vec![7u8; 1000]), Some(1000))
            .await
            .unwrap();
        assert!(matches!(answer, ChunkAnswer::Done(o) if o.size() == 1000));
        let seen = server.requests();
        assert_eq!(seen.len(), 2);
        // The session URI authorises the chunk by itself: no token goes with it.
        assert!(seen.iter().all(|r| r.header("authorization").is_none()));
    }

    #[tokio::test]
    async fn a_refused_token_is_fetched_again_once() {
        let token = r#"{"access_token":"t","expires_in":3600}"#;
        let refused = r#"{"error":{"code":401,"message":"Invalid Credentials"}}"#;
        let server = MockServer::start();
        for reply in [
            Reply::json(200, token),
            Reply::json(401, refused),
            Reply::json(200, token),
            Reply::json(200, r#"{"name":"o"}"#),
            // A second refusal in a row is final.
            Reply::json(401, refused),
            Reply::json(200, token),
            Reply::json(401, refused),
        ] {
            server.push(reply);
        }
        let mut config = Config::from_params(Params::from_pairs([
            ("bucket", "b12"),
            ("anonymous", "true"),
            ("endpoint", server.url()),
        ]))
        .unwrap();
        config.credentials = Credentials::AuthorizedUser {
            client_id: "c".into(),
            client_secret: wharf_runtime::Secret::new("s"),
            refresh_token: wharf_runtime::Secret::new("r"),
            token_uri: format!("{}/token", server.url()),
        };
        let c = Client::new(&config).unwrap();
        assert!(c.get_object("o").await.unwrap().is_some());
        let f = c.get_object("o").await.unwrap_err();
        assert_eq!(f.status(), Some(StatusCode::UNAUTHORIZED));
        let seen = server.requests();
        assert_eq!(seen.len(), 7);
        assert_eq!(seen[1].header("authorization"), Some("Bearer t"));
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
        // The reference's five tries: four retries from 250 ms, doubling, at most 8 s, ±25 %.
        let retry = *client("http://127.0.0.1:4443").http.retry_config();
        assert_eq!(retry.max_retries, 4);
        let b = retry.backoff;
        for attempt in 1..20 {
            let d = b.delay(attempt);
            assert!(
                d <= Duration::from_secs(8).mul_f64(1.25),
                "{attempt}: {d:?}"
            );
            assert!(
                d >= Duration::from_millis(250).mul_f64(0.75),
                "{attempt}: {d:?}"
            );
        }
        assert!(b.delay(4) > b.delay(1).mul_f64(2.0));
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
