//! A small Swift client: the object, container and account calls the driver needs, each
//! encoding its request and decoding its answer (object calls in `objects`, listings in
//! `listing`, bulk delete in `bulk`; the container, account and `/info` calls here).
//! Sending, retrying and the session cache are `wharf_http`'s; this file signs requests with
//! the session's token (completing their URLs with its storage URL), renews the session once
//! whenever Swift answers 401, and reads an object once more when a GET or HEAD of it says 404
//! (but for the look-ups that take a 404 at its word, `call_once`).

use reqwest::Method;
use reqwest::header::HeaderMap;
use wharf_http::{Answer, HttpClient, Request, RetryConfig, Sign, TokenCache, Unsigned, encode};
use wharf_runtime::{Error, Result, Secret};

use crate::auth::{self, RENEW_BEFORE, Session};
use crate::config::Config;
use crate::error::{Failure, read_error};

mod bulk;
mod listing;
mod objects;

use bulk::check_bulk_answer;
pub(crate) use listing::Entry;
pub(crate) use objects::{ObjectMeta, SEGMENTS_META};

/// Percent-encodes an object name (or any path) for a URL.
pub(crate) fn encode_path(s: &str) -> String {
    encode::path(s)
}

/// What a request is addressed to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Account,
    Container,
    Object(&'a str),
}

/// The client of one container.
pub(crate) struct Client {
    http: HttpClient,
    config: Config,
    sessions: TokenCache<Session>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("auth_url", &self.config.auth_url.as_str())
            .field("container", &self.config.container)
            .finish_non_exhaustive()
    }
}

/// A request's URL is relative to the storage URL until it is signed: the session says where
/// the account lives, and its token goes in `X-Auth-Token`. A refused token is forgotten
/// (unless another request replaced it already) and the request signed once more.
impl Sign for Client {
    async fn sign(&self, request: &mut Request) -> Result<(), Failure> {
        let session = self.session().await?;
        let url = format!("{}{}", session.storage_url, request.base_url());
        request.set_url(url);
        request.push_header("x-auth-token", session.token.expose());
        Ok(())
    }

    async fn refused(&self, signed: &Request) -> bool {
        tracing::debug!("swift: token refused; authenticating again");
        if let Some(token) = signed.header_value("x-auth-token") {
            self.sessions.forget_if(|s| s.token.expose() == token);
        }
        true
    }
}

impl Client {
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let http = wharf_http::client_builder(
            concat!("wharf-driver-swift/", env!("CARGO_PKG_VERSION")),
            &config.network,
        )
        .pool_max_idle_per_host(64)
        .danger_accept_invalid_certs(config.insecure_skip_verify)
        .build()
        .map_err(|e| Error::backend("cannot create the HTTP client").with_source(e))?;
        let retry = RetryConfig::from(&config.network);
        Ok(Self {
            http: HttpClient::new("swift", http, retry).reading_errors(read_error),
            config: config.clone(),
            sessions: TokenCache::new(RENEW_BEFORE),
        })
    }

    /// A session whose token is good for a while yet: the cached one, or a new one (one
    /// authentication at a time, so that a burst of requests authenticates once).
    pub(crate) async fn session(&self) -> Result<Session> {
        self.sessions
            .get_or_fetch(|| async {
                let s = auth::authenticate(self.http.http(), &self.config).await?;
                tracing::debug!(storage_url = %s.storage_url, expires = ?s.expires,
                    "swift: authenticated");
                Ok(s.into_token())
            })
            .await
    }

    /// Replaces the cached token by `token` (for tests of re-authentication).
    #[doc(hidden)]
    pub(crate) fn replace_token(&self, token: &str) {
        self.sessions.modify(|s| s.token = Secret::new(token));
    }

    /// The URL of `target` under `storage_url`.
    pub(crate) fn url(&self, storage_url: &str, target: Target<'_>) -> String {
        format!("{storage_url}{}", self.path(target))
    }

    /// The path of `target` below the storage URL.
    fn path(&self, target: Target<'_>) -> String {
        match target {
            Target::Account => String::new(),
            Target::Container => format!("/{}", encode_path(&self.config.container)),
            Target::Object(name) => format!(
                "/{}/{}",
                encode_path(&self.config.container),
                encode_path(name)
            ),
        }
    }

    /// A request of `method` to `target`. Only POST (bulk delete, metadata updates) is not
    /// repeated blindly; every PUT here writes a whole object, so repeating it changes nothing.
    pub(crate) fn request(&self, method: Method, target: Target<'_>) -> Request {
        Request::new(method, self.path(target))
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
    pub(crate) async fn send(&self, req: &Request) -> Result<reqwest::Response, Failure> {
        match self.http.send(req, self).await {
            Err(f) if f.is_not_found() && reads_an_object(req) => self.http.send(req, self).await,
            result => result,
        }
    }

    /// Sends `req` like [`Client::call`], but takes a 404 at its word: for look-ups whose 404
    /// is the usual answer and is checked otherwise when it matters — a new upload's search
    /// for an old upload state, and the first look of a stat or a delete, which look again
    /// only when the listing under the path found nothing either.
    pub(crate) async fn call_once(&self, req: &Request) -> Result<Answer, Failure> {
        self.http.call(req, self).await
    }

    /// Sends `req` like [`Client::send`] and reads the whole answer.
    pub(crate) async fn call(&self, req: &Request) -> Result<Answer, Failure> {
        match self.http.call(req, self).await {
            Err(f) if f.is_not_found() && reads_an_object(req) => self.http.call(req, self).await,
            result => result,
        }
    }

    /// The cluster's `/info`; `None` when the cluster does not publish it.
    pub(crate) async fn info(&self) -> Result<Option<serde_json::Value>> {
        let session = self.session().await?;
        let req = Request::new(Method::GET, info_url(&session.storage_url));
        match self.http.call(&req, &Unsigned).await {
            Ok(answer) => Ok(serde_json::from_slice(&answer.body).ok()),
            Err(f) => {
                tracing::debug!(error = %f, "swift: no /info");
                Ok(None)
            }
        }
    }

    /// The headers of the container, or `None` when it does not exist.
    pub(crate) async fn head_container(&self) -> std::result::Result<Option<HeaderMap>, Failure> {
        match self
            .call(&self.request(Method::HEAD, Target::Container))
            .await
        {
            Ok(a) => Ok(Some(a.headers)),
            Err(f) if f.is_not_found() => Ok(None),
            Err(f) => Err(f),
        }
    }

    pub(crate) async fn create_container(&self) -> std::result::Result<(), Failure> {
        self.call(&self.request(Method::PUT, Target::Container))
            .await
            .map(|_| ())
    }

    pub(crate) async fn head_account(&self) -> std::result::Result<HeaderMap, Failure> {
        self.call(&self.request(Method::HEAD, Target::Account))
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
        self.call(&self.request(Method::POST, target).header(name, value))
            .await
            .map(|_| ())
    }
}

/// True for a GET or HEAD of an object: its URL, relative to the storage URL until signed,
/// names the container and the object (`/container/name`).
fn reads_an_object(req: &Request) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD)
        && req.base_url().trim_start_matches('/').contains('/')
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

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use wharf_http::testing::{MockServer, Reply};

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

    /// A canned Swift on 127.0.0.1: tempauth at `/auth/v1.0`, then the given statuses, one per
    /// request, in order. Returns the server and the auth URL.
    fn canned(statuses: &[u16]) -> (MockServer, String) {
        let server = MockServer::start();
        let storage = format!("{}/v1/AUTH_t", server.url());
        server.handle(move |r| {
            (r.path() == "/auth/v1.0").then(|| {
                Reply::status(200)
                    .header("x-storage-url", storage.as_str())
                    .header("x-auth-token", "tk")
            })
        });
        for &code in statuses {
            let body = if code == 200 { "found" } else { "" };
            server.push(Reply::status(code).body(body));
        }
        let auth = format!("{}/auth/v1.0", server.url());
        (server, auth)
    }

    /// The requests the canned Swift saw besides authentication.
    fn storage_requests(server: &MockServer) -> Vec<String> {
        server
            .requests()
            .into_iter()
            .filter(|r| r.path() != "/auth/v1.0")
            .map(|r| format!("{} {}", r.method, r.target))
            .collect()
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
        let (server, url) = canned(&[404, 200]);
        let client = canned_client(&url);
        let answer = client
            .call(&client.request(Method::GET, Target::Object("files/a")))
            .await
            .unwrap();
        assert_eq!(&answer.body[..], b"found");
        assert_eq!(storage_requests(&server), ["GET /v1/AUTH_t/c/files/a"; 2]);

        // A genuine miss: two looks, then not found.
        let (server, url) = canned(&[404, 404, 404]);
        let client = canned_client(&url);
        assert!(client.head("files/a").await.unwrap().is_none());
        assert_eq!(storage_requests(&server).len(), 2);

        // Neither containers nor writes are asked again.
        let (server, url) = canned(&[404, 404]);
        let client = canned_client(&url);
        let f = client
            .call(&client.request(Method::GET, Target::Container))
            .await
            .unwrap_err();
        assert!(f.is_not_found());
        let f = client
            .call(&client.request(Method::DELETE, Target::Object("files/a")))
            .await
            .unwrap_err();
        assert!(f.is_not_found());
        assert_eq!(
            storage_requests(&server),
            ["GET /v1/AUTH_t/c", "DELETE /v1/AUTH_t/c/files/a"]
        );
    }

    #[tokio::test]
    async fn a_refused_token_is_renewed_once() {
        let (server, url) = canned(&[401, 200, 401, 401]);
        let client = canned_client(&url);
        let get = client.request(Method::GET, Target::Object("files/a"));
        assert_eq!(&client.call(&get).await.unwrap().body[..], b"found");
        let f = client.call(&get).await.unwrap_err();
        assert_eq!(f.status(), Some(StatusCode::UNAUTHORIZED));
        let auths = server
            .requests()
            .iter()
            .filter(|r| r.path() == "/auth/v1.0")
            .count();
        assert_eq!(
            auths, 3,
            "one authentication, then one after each first refusal"
        );
        assert!(
            server
                .requests()
                .iter()
                .filter(|r| r.path() != "/auth/v1.0")
                .all(|r| r.header("x-auth-token") == Some("tk"))
        );
    }
}
