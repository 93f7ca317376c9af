//! OAuth 2.0 access tokens for the JSON API, fetched on first use and renewed five minutes
//! before they expire: a service account's signed JWT exchanged at its `token_uri` (the JWT
//! bearer grant), a user's refresh token (`authorized_user` application default credentials),
//! or the metadata server of the machine the driver runs on.

use std::time::{Duration, SystemTime};

use tokio::sync::Mutex;
use wharf_runtime::{Error, ErrorKind, Result, Secret};

use crate::config::{Credentials, ServiceAccount};
use crate::sign::token_assertion;

/// A token is renewed when less than this is left of it.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
/// The metadata server's token endpoint (its host can be overridden by `GCE_METADATA_HOST`).
const METADATA_HOST: &str = "metadata.google.internal";
const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

#[derive(Clone)]
struct Token {
    value: Secret,
    expires: SystemTime,
}

/// Where tokens come from.
enum Source {
    ServiceAccount(ServiceAccount),
    AuthorizedUser {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        token_uri: String,
    },
    MetadataServer,
}

/// A source of bearer tokens, shared by all requests of a driver.
pub(crate) struct TokenSource {
    source: Source,
    http: reqwest::Client,
    cached: Mutex<Option<Token>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.source {
            Source::ServiceAccount(sa) => format!("service_account {}", sa.client_email),
            Source::AuthorizedUser { client_id, .. } => format!("authorized_user {client_id}"),
            Source::MetadataServer => "metadata_server".to_owned(),
        };
        f.debug_struct("TokenSource")
            .field("source", &kind)
            .finish_non_exhaustive()
    }
}

fn denied(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::PermissionDenied).with_detail(message)
}

impl TokenSource {
    /// The token source of `credentials`, or `None` for anonymous access.
    pub(crate) fn new(credentials: &Credentials, http: reqwest::Client) -> Option<Self> {
        let source = match credentials {
            Credentials::Anonymous => return None,
            Credentials::ServiceAccount(sa) => Source::ServiceAccount(sa.clone()),
            Credentials::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => Source::AuthorizedUser {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                refresh_token: refresh_token.clone(),
                token_uri: token_uri.clone(),
            },
            Credentials::MetadataServer => Source::MetadataServer,
        };
        Some(Self {
            source,
            http,
            cached: Mutex::new(None),
        })
    }

    /// A valid token, from the cache or freshly fetched.
    pub(crate) async fn token(&self) -> Result<Secret> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref()
            && t.expires > SystemTime::now() + RENEW_BEFORE
        {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Forgets the cached token, so that the next request fetches a fresh one (after the service
    /// refused the cached one).
    pub(crate) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<Token> {
        match &self.source {
            Source::ServiceAccount(sa) => {
                let assertion = token_assertion(
                    &sa.key,
                    sa.private_key_id.as_deref(),
                    &sa.client_email,
                    &sa.token_uri,
                    SystemTime::now(),
                );
                let form = [
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", assertion.as_str()),
                ];
                let request = self.http.post(&sa.token_uri).form(&form);
                self.token_answer(request, "the service account's token request")
                    .await
            }
            Source::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => {
                let form = [
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.expose()),
                    ("refresh_token", refresh_token.expose()),
                ];
                let request = self.http.post(token_uri).form(&form);
                self.token_answer(request, "the user's token refresh").await
            }
            Source::MetadataServer => {
                let host = std::env::var("GCE_METADATA_HOST")
                    .ok()
                    .filter(|h| !h.trim().is_empty())
                    .unwrap_or_else(|| METADATA_HOST.to_owned());
                let request = self
                    .http
                    .get(format!("http://{host}{METADATA_TOKEN_PATH}"))
                    .header("metadata-flavor", "Google")
                    .timeout(Duration::from_secs(10));
                self.token_answer(request, "the metadata server's token request")
                    .await
                    .map_err(|e| {
                        denied(format!(
                            "no keyfile or credentials are configured, no application default \
                             credentials file was found, and the metadata server gave no token \
                             ({e})"
                        ))
                    })
            }
        }
    }

    async fn token_answer(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Token> {
        let response = request.send().await.map_err(|e| {
            let kind = ErrorKind::Backend { temporary: true };
            Error::new(kind)
                .with_detail(format!("{what} failed"))
                .with_source(e.without_url())
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            Error::new(ErrorKind::Backend { temporary: true })
                .with_detail(format!("{what}: reading the answer failed"))
                .with_source(e.without_url())
        })?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if !status.is_success() {
            let reason = json
                .get("error_description")
                .or_else(|| json.get("error"))
                .and_then(|v| v.as_str())
                .unwrap_or("no reason given");
            let reason = reason.lines().next().unwrap_or_default();
            let message = format!("{what} was refused (HTTP {}): {reason}", status.as_u16());
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                Error::temporary(message)
            } else {
                denied(message)
            });
        }
        let token = json
            .get("access_token")
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| denied(format!("{what}: the answer holds no access_token")))?;
        let lifetime = json
            .get("expires_in")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(3600);
        Ok(Token {
            value: Secret::new(token),
            expires: SystemTime::now() + Duration::from_secs(lifetime),
        })
    }
}
