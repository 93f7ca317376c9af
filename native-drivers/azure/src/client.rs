//! A small client for the parts of the Blob service REST API the driver uses: it builds each
//! request's URL (percent-encoding blob names) and signs each attempt (date, version, and Shared
//! Key or a bearer token). Sending, retrying (exponential back-off from `retry_delay`) and error
//! answers are `wharf_http`'s; the operations themselves (Put Blob, Get Block List, …) are thin
//! methods in `blob.rs` over [`Client::call`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::{Method, Url};
use wharf_http::{
    Answer, HttpClient, Idempotency, Request, RetryConfig, Sign, Token, TokenCache, encode,
};
use wharf_runtime::network::Network;
use wharf_runtime::{Error, Result};

pub(crate) use wharf_http::Failure;

use crate::config::{Config, Credentials};
use crate::error::read_error;
use crate::sign::{API_VERSION, AccountKey, DelegationKey, SasRequest, iso8601};
use crate::token::TokenCredential;
use crate::xml;

/// How requests are authorised.
#[derive(Debug)]
pub(crate) enum Auth {
    SharedKey(AccountKey),
    Token(TokenCredential),
}

/// What a request addresses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Blob(&'a str),
    Container,
    Service,
}

/// The client of one container.
pub(crate) struct Client {
    http: HttpClient,
    /// The account's blob endpoint, without a trailing `/`.
    service: String,
    account: String,
    container: String,
    auth: Auth,
    network: Network,
    /// A user delegation key for SAS tokens (token credentials only).
    delegation: TokenCache<DelegationKey>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("service", &self.service)
            .field("container", &self.container)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// How long a user delegation key is asked for, and how much of it must be left to sign with.
const DELEGATION_KEY_LIFETIME: Duration = Duration::from_secs(48 * 3600);
const DELEGATION_KEY_GRACE: Duration = Duration::from_secs(30 * 60);

/// Each attempt is dated and versioned, and authorised with a Shared Key signature over what it
/// sends, or with a bearer token.
impl Sign for Client {
    async fn sign(&self, request: &mut Request) -> Result<(), Failure> {
        request.push_header("x-ms-date", httpdate::fmt_http_date(SystemTime::now()));
        request.push_header("x-ms-version", API_VERSION);
        if matches!(*request.method(), Method::PUT | Method::POST) {
            request.push_header("content-length", request.body_bytes().len().to_string());
        }
        let url = Url::parse(&request.url())
            .map_err(|e| Failure::malformed(format!("cannot build a URL: {e}")))?;
        let query: Vec<(String, String)> = request
            .query_pairs()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let authorization = self
            .authorization(
                request.method().as_str(),
                url.path(),
                &query,
                request.headers(),
            )
            .await?;
        request.push_header("authorization", authorization);
        Ok(())
    }
}

impl Client {
    /// A client for the container of `config`.
    pub(crate) fn new(config: &Config) -> Result<Arc<Self>> {
        let http = wharf_http::client_builder(
            concat!("wharf-driver-azure/", env!("CARGO_PKG_VERSION")),
            &config.network,
        )
        .danger_accept_invalid_certs(config.skip_verify)
        .build()
        .map_err(|e| Error::backend("cannot create the HTTP client").with_source(e))?;
        let auth = match &config.credentials {
            Credentials::SharedKey { key } => {
                Auth::SharedKey(AccountKey::new(&config.account_name, key)?)
            }
            Credentials::ClientSecret {
                tenant_id,
                client_id,
                secret,
            } => Auth::Token(TokenCredential::client_secret(
                http.clone(),
                tenant_id,
                client_id,
                secret,
            )),
            Credentials::Default => Auth::Token(TokenCredential::default_chain(http.clone())),
        };
        let retry = RetryConfig::from(&config.network);
        Ok(Arc::new(Self {
            http: HttpClient::new("azure", http, retry).reading_errors(read_error),
            service: config.service_url.as_str().trim_end_matches('/').to_owned(),
            account: config.account_name.clone(),
            container: config.container.clone(),
            auth,
            network: config.network,
            delegation: TokenCache::new(DELEGATION_KEY_GRACE),
        }))
    }

    /// The retries, back-off and timeouts of requests and of a reader's resumes.
    pub(crate) fn network(&self) -> Network {
        self.network
    }

    /// The configured retry delay (also the base of copy status polling).
    pub(crate) fn retry_delay(&self) -> Duration {
        self.network.backoff.first
    }

    /// The configured number of retries (also bounds copy polling without progress).
    pub(crate) fn max_retries(&self) -> u32 {
        self.network.max_retries
    }

    /// The URL of `blob` (percent-encoded), without a query.
    pub(crate) fn blob_url(&self, blob: &str) -> String {
        format!("{}/{}/{}", self.service, self.container, encode::path(blob))
    }

    /// The URL of `target`, without a query.
    pub(crate) fn url(&self, target: Target<'_>) -> String {
        match target {
            Target::Blob(blob) => self.blob_url(blob),
            Target::Container => format!("{}/{}", self.service, self.container),
            Target::Service => format!("{}/", self.service),
        }
    }

    /// A request of `method` to `target`. Every request the driver sends may be repeated: blobs,
    /// blocks and block lists are replaced whole, a repeated delete finds nothing (which the
    /// caller may count as done), and the POSTs (a batch of deletes, a user delegation key)
    /// change nothing twice.
    pub(crate) fn request(&self, method: Method, target: Target<'_>) -> Request {
        Request::new(method, self.url(target)).idempotency(Idempotency::Idempotent)
    }

    /// The `Authorization` header for a request of `method` to the URL path `path` (as sent)
    /// with the decoded `query` and all its `headers`.
    pub(crate) async fn authorization(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
    ) -> Result<String, Failure> {
        match &self.auth {
            Auth::SharedKey(key) => Ok(key.authorization(method, path, query, headers)),
            Auth::Token(credential) => {
                let token = credential.token().await?;
                Ok(format!("Bearer {}", token.expose()))
            }
        }
    }

    /// Sends `req`, retrying after a temporary failure, and returns the successful answer with
    /// its body still to be read (for downloads).
    pub(crate) async fn call_streaming(&self, req: &Request) -> Result<reqwest::Response, Failure> {
        self.http.send(req, self).await
    }

    /// Sends `req` like [`Client::call_streaming`] and reads the whole answer (retrying too when
    /// reading the body fails).
    pub(crate) async fn call(&self, req: &Request) -> Result<Answer, Failure> {
        self.http.call(req, self).await
    }

    /// A read-only SAS URL of `blob`, valid until `expiry`.
    pub(crate) async fn signed_url(&self, blob: &str, expiry: SystemTime) -> Result<String> {
        let protocol = if self.service.starts_with("https://") {
            "https"
        } else {
            // The emulator (and any plain-HTTP endpoint the operator configured) serves http.
            "https,http"
        };
        let sas = SasRequest {
            container: &self.container,
            blob,
            expiry: iso8601(expiry),
            protocol,
        };
        let query = match &self.auth {
            Auth::SharedKey(key) => key.blob_sas(&sas),
            Auth::Token(_) => self
                .delegation_key(expiry)
                .await?
                .blob_sas(&self.account, &sas),
        };
        Ok(format!("{}?{query}", self.blob_url(blob)))
    }

    /// A user delegation key valid at least until `until` (capped at the service's 7 days),
    /// cached and renewed half an hour before it runs out.
    async fn delegation_key(&self, until: SystemTime) -> Result<DelegationKey> {
        self.delegation
            .get_lasting(until, || self.fetch_delegation_key(until))
            .await
    }

    /// Get User Delegation Key, for at least two days and at least until `until`.
    async fn fetch_delegation_key(&self, until: SystemTime) -> Result<Token<DelegationKey>> {
        let start = SystemTime::now() - Duration::from_secs(60);
        let lifetime = until
            .duration_since(start)
            .unwrap_or_default()
            .max(DELEGATION_KEY_LIFETIME)
            .min(Duration::from_secs(7 * 24 * 3600 - 120));
        let expiry = start + lifetime;
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><KeyInfo><Start>{}</Start>\
             <Expiry>{}</Expiry></KeyInfo>",
            iso8601(start),
            iso8601(expiry)
        );
        let req = self
            .request(Method::POST, Target::Service)
            .query("restype", "service")
            .query("comp", "userdelegationkey")
            .header("content-type", "application/xml")
            .body(body);
        let answer = self
            .call(&req)
            .await
            .map_err(|f| f.into_error("get user delegation key for", "/"))?;
        let fields = xml::delegation_key(&answer.body)
            .map_err(|e| wharf_http::malformed("get user delegation key for", "/", e))?;
        use base64::Engine as _;
        let value = base64::engine::general_purpose::STANDARD
            .decode(fields.6.trim())
            .map_err(|_| {
                wharf_http::malformed("get user delegation key for", "/", "the key is not base64")
            })?;
        let key = DelegationKey {
            object_id: fields.0,
            tenant_id: fields.1,
            start: fields.2,
            expiry: fields.3,
            service: fields.4,
            version: fields.5,
            value,
        };
        Ok(Token {
            value: key,
            expires: Some(expiry),
        })
    }
}
