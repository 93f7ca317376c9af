//! A small client for the parts of the Blob service REST API the driver uses: it builds each
//! request's URL (percent-encoding blob names), dates, versions and signs it (Shared Key or a
//! bearer token), retries idempotent requests that failed for a temporary reason (with the
//! `retry_delay` × attempt back-off of the reference), and turns failed answers into
//! [`ServiceError`]s. The operations themselves (Put Blob, Get Block List, …) are thin methods
//! over [`Client::call`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use percent_encoding::utf8_percent_encode;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use tokio::sync::Mutex;
use wharf_runtime::{Error, Result};

use crate::config::{Config, Credentials};
use crate::error::{ServiceError, from_transport, malformed};
use crate::sign::{API_VERSION, AccountKey, DelegationKey, PATH, QUERY_VALUE, SasRequest, iso8601};
use crate::token::TokenCredential;
use crate::xml;

/// How requests are authorised.
#[derive(Debug)]
pub(crate) enum Auth {
    SharedKey(AccountKey),
    Token(TokenCredential),
}

/// A request to send: method, target (a blob, the container, or the service), query, headers
/// and body, and whether it may be sent again after a failure.
pub(crate) struct Request<'a> {
    pub method: Method,
    pub target: Target<'a>,
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    /// Only idempotent requests are retried.
    pub idempotent: bool,
}

/// What a request addresses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Blob(&'a str),
    Container,
    Service,
}

impl<'a> Request<'a> {
    /// An idempotent request without query, headers or body.
    pub(crate) fn new(method: Method, target: Target<'a>) -> Self {
        Self {
            method,
            target,
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
            idempotent: true,
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
}

/// A successful answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// A header's value as text, if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A header's value as text, if present.
pub(crate) fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The service answered with an error.
    Service(ServiceError),
    /// The request did not get an answer.
    Transport(reqwest::Error),
    /// No credential could be had (a token request failed).
    Auth(Error),
}

impl Failure {
    /// The Wharf error for this failure while doing `op` on the contract path `path`.
    pub(crate) fn into_error(self, op: &str, path: &str) -> Error {
        match self {
            Failure::Service(s) => s.into_error(op, path),
            Failure::Transport(e) => from_transport(e, op, path),
            Failure::Auth(e) => e,
        }
    }

    /// The service error, if the service answered.
    pub(crate) fn service(&self) -> Option<&ServiceError> {
        match self {
            Failure::Service(s) => Some(s),
            _ => None,
        }
    }

    /// True when the service said the blob does not exist.
    pub(crate) fn is_blob_not_found(&self) -> bool {
        self.service().is_some_and(ServiceError::is_blob_not_found)
    }

    /// True when the service answered with error `code`.
    pub(crate) fn is(&self, code: &str) -> bool {
        self.service().is_some_and(|s| s.is(code))
    }

    fn is_temporary(&self) -> bool {
        match self {
            Failure::Service(s) => s.is_temporary(),
            Failure::Transport(_) => true,
            Failure::Auth(e) => e.is_temporary(),
        }
    }
}

/// The client of one container.
pub(crate) struct Client {
    http: reqwest::Client,
    /// The account's blob endpoint, without a trailing `/`.
    service: String,
    account: String,
    container: String,
    auth: Auth,
    max_retries: u32,
    retry_delay: Duration,
    /// A user delegation key for SAS tokens (token credentials only), with its expiry.
    delegation: Mutex<Option<(DelegationKey, SystemTime)>>,
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

impl Client {
    /// A client for the container of `config`.
    pub(crate) fn new(config: &Config) -> Result<Arc<Self>> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .pool_idle_timeout(Duration::from_secs(50))
            .danger_accept_invalid_certs(config.skip_verify)
            .user_agent(concat!("wharf-driver-azure/", env!("CARGO_PKG_VERSION")))
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
        Ok(Arc::new(Self {
            http,
            service: config.service_url.as_str().trim_end_matches('/').to_owned(),
            account: config.account_name.clone(),
            container: config.container.clone(),
            auth,
            max_retries: config.max_retries,
            retry_delay: config.retry_delay,
            delegation: Mutex::new(None),
        }))
    }

    /// The configured retry delay (also the base of copy status polling).
    pub(crate) fn retry_delay(&self) -> Duration {
        self.retry_delay
    }

    /// The configured number of retries (also bounds copy polling without progress).
    pub(crate) fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The URL of `blob` (percent-encoded), without a query.
    pub(crate) fn blob_url(&self, blob: &str) -> String {
        format!(
            "{}/{}/{}",
            self.service,
            self.container,
            utf8_percent_encode(blob, PATH)
        )
    }

    /// The URL of a request, as sent.
    pub(crate) fn url(
        &self,
        target: Target<'_>,
        query: &[(&'static str, String)],
    ) -> Result<Url, Failure> {
        let base = match target {
            Target::Blob(blob) => self.blob_url(blob),
            Target::Container => format!("{}/{}", self.service, self.container),
            Target::Service => format!("{}/", self.service),
        };
        let mut url = Url::parse(&base).map_err(|e| {
            Failure::Auth(Error::backend(format!(
                "cannot build a URL from {base:?}: {e}"
            )))
        })?;
        if !query.is_empty() {
            let q = query
                .iter()
                .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
                .collect::<Vec<_>>()
                .join("&");
            url.set_query(Some(&q));
        }
        Ok(url)
    }

    /// The `Authorization` header for a request to `url` with `headers`.
    pub(crate) async fn authorization(
        &self,
        method: &str,
        url: &Url,
        query: &[(&'static str, String)],
        headers: &[(String, String)],
    ) -> Result<String, Failure> {
        match &self.auth {
            Auth::SharedKey(key) => {
                let query: Vec<(String, String)> = query
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect();
                Ok(key.authorization(method, url.path(), &query, headers))
            }
            Auth::Token(credential) => {
                let token = credential.token().await.map_err(Failure::Auth)?;
                Ok(format!("Bearer {}", token.expose()))
            }
        }
    }

    async fn send_once(&self, req: &Request<'_>) -> Result<reqwest::Response, Failure> {
        let url = self.url(req.target, &req.query)?;
        let mut headers: Vec<(String, String)> = Vec::with_capacity(req.headers.len() + 4);
        headers.push((
            "x-ms-date".into(),
            httpdate::fmt_http_date(SystemTime::now()),
        ));
        headers.push(("x-ms-version".into(), API_VERSION.into()));
        if matches!(req.method, Method::PUT | Method::POST) {
            headers.push(("content-length".into(), req.body.len().to_string()));
        }
        headers.extend(
            req.headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone())),
        );
        let authorization = self
            .authorization(req.method.as_str(), &url, &req.query, &headers)
            .await?;
        let mut builder = self.http.request(req.method.clone(), url);
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder = builder.header("authorization", authorization);
        if matches!(req.method, Method::PUT | Method::POST) {
            builder = builder.body(req.body.clone());
        }
        let response = builder.send().await.map_err(Failure::Transport)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let header_code = header(response.headers(), "x-ms-error-code").map(str::to_owned);
        // An error body is small; a failure to read it only loses the message.
        let body = response.bytes().await.unwrap_or_default();
        let (body_code, message) = xml::error(&body).unwrap_or_default();
        Err(Failure::Service(ServiceError {
            status,
            code: header_code.unwrap_or(body_code),
            message: message.lines().next().unwrap_or_default().trim().to_owned(),
        }))
    }

    /// Sends `req`, retrying an idempotent one after a temporary failure, and returns the
    /// successful answer with its body still to be read (for downloads).
    pub(crate) async fn call_streaming(
        &self,
        req: &Request<'_>,
    ) -> Result<reqwest::Response, Failure> {
        self.send_with_retries(req, &mut false).await
    }

    /// Sends `req` like [`Client::call_streaming`] and reads the whole answer (retrying too when
    /// reading the body fails).
    pub(crate) async fn call(&self, req: &Request<'_>) -> Result<Answer, Failure> {
        self.call_tracked(req).await.0
    }

    /// [`Client::call`], also telling whether an earlier attempt may have taken effect (it got
    /// no answer): a retried Delete Blob that finds nothing then deleted the blob itself.
    pub(crate) async fn call_tracked(&self, req: &Request<'_>) -> (Result<Answer, Failure>, bool) {
        let mut unanswered = false;
        let mut attempt = 0;
        loop {
            let response = match self.send_with_retries(req, &mut unanswered).await {
                Ok(r) => r,
                Err(f) => return (Err(f), unanswered),
            };
            let (status, headers) = (response.status(), response.headers().clone());
            match response.bytes().await {
                Ok(body) => {
                    let answer = Answer {
                        status,
                        headers,
                        body,
                    };
                    return (Ok(answer), unanswered);
                }
                Err(e) if req.idempotent && attempt < self.max_retries => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "azure: retrying after a broken answer");
                    tokio::time::sleep(self.retry_delay * attempt).await;
                }
                Err(e) => return (Err(Failure::Transport(e)), unanswered),
            }
        }
    }

    async fn send_with_retries(
        &self,
        req: &Request<'_>,
        unanswered: &mut bool,
    ) -> Result<reqwest::Response, Failure> {
        let mut attempt = 0;
        loop {
            let result = self.send_once(req).await;
            match &result {
                Err(f) if req.idempotent && f.is_temporary() && attempt < self.max_retries => {
                    // A request that never reached the server cannot have taken effect.
                    *unanswered |= matches!(f, Failure::Transport(e) if !e.is_connect());
                    attempt += 1;
                    tracing::debug!(attempt, error = ?f, "azure: retrying a request");
                    tokio::time::sleep(self.retry_delay * attempt).await;
                }
                _ => return result,
            }
        }
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
        let mut cached = self.delegation.lock().await;
        if let Some((key, expires)) = cached.as_ref()
            && *expires > SystemTime::now() + DELEGATION_KEY_GRACE
            && *expires >= until
        {
            return Ok(key.clone());
        }
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
        let req = Request::new(Method::POST, Target::Service)
            .query("restype", "service")
            .query("comp", "userdelegationkey")
            .header("content-type", "application/xml")
            .body(body);
        let answer = self
            .call(&req)
            .await
            .map_err(|f| f.into_error("get user delegation key for", "/"))?;
        let fields = xml::delegation_key(&answer.body)
            .map_err(|e| malformed("get user delegation key for", "/", e))?;
        use base64::Engine as _;
        let value = base64::engine::general_purpose::STANDARD
            .decode(fields.6.trim())
            .map_err(|_| malformed("get user delegation key for", "/", "the key is not base64"))?;
        let key = DelegationKey {
            object_id: fields.0,
            tenant_id: fields.1,
            start: fields.2,
            expiry: fields.3,
            service: fields.4,
            version: fields.5,
            value,
        };
        *cached = Some((key.clone(), expiry));
        Ok(key)
    }
}
