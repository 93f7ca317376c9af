//! A small client of the Cloud Storage JSON API for one bucket: each operation the driver needs
//! is a method that encodes its request and decodes its answer (the object calls in `objects`,
//! the resumable upload sessions' in `session`). Sending, retrying (with the kit's back-off),
//! error answers and tokens are `wharf_http`'s; this file signs requests with the bearer token
//! of the configured credentials and says which requests are idempotent.
//!
//! The JSON API is used rather than the official `google-cloud-storage` crate because that
//! crate lists, deletes and copies over gRPC, which no emulator offers (see README.md).

use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use wharf_http::{Answer, HttpClient, Idempotency, Request, RetryConfig, Sign, encode};
use wharf_runtime::network::Network;
use wharf_runtime::{Error, Result};

pub(crate) use wharf_http::Failure;

use crate::auth::TokenSource;
use crate::config::{Config, Credentials, ServiceAccount};
use crate::error::read_error;
use crate::sign::{SignedUrlRequest, signed_url};

mod objects;
mod session;

pub(crate) use objects::Object;
pub(crate) use session::ChunkAnswer;

/// The client of one bucket.
pub(crate) struct Client {
    http: HttpClient,
    /// The JSON API endpoint, without a trailing `/`.
    endpoint: String,
    bucket: String,
    tokens: Option<TokenSource>,
    signer: Option<ServiceAccount>,
    network: Network,
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
        let http = wharf_http::client_builder(config.user_agent.as_str(), &config.network)
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
            http: HttpClient::new("gcs", http, RetryConfig::from(&config.network))
                .reading_errors(read_error),
            network: config.network,
            endpoint: config.endpoint.as_str().trim_end_matches('/').to_owned(),
            bucket: config.bucket.clone(),
            signer,
        })
    }

    /// The retries, back-off and timeouts of requests and of a reader's resumes.
    pub(crate) fn network(&self) -> Network {
        self.network
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

    pub(super) fn client(endpoint: &str) -> Client {
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
}
