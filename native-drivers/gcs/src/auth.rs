//! OAuth 2.0 access tokens for the JSON API, fetched on first use and renewed five minutes
//! before they expire: a service account's signed JWT exchanged at its `token_uri` (the JWT
//! bearer grant), a user's refresh token (`authorized_user` application default credentials),
//! or the metadata server of the machine the driver runs on.

use std::time::{Duration, SystemTime};

use reqwest::Method;
use wharf_http::oauth::fetch_bearer;
use wharf_http::{Request, Token, TokenCache};
use wharf_runtime::{Error, Result, Secret};

use crate::config::{Credentials, ServiceAccount};
use crate::sign::token_assertion;

/// A token is renewed when less than this is left of it.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
/// The metadata server's token endpoint (its host can be overridden by `GCE_METADATA_HOST`).
const METADATA_HOST: &str = "metadata.google.internal";
const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

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
    cache: TokenCache<Secret>,
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
            cache: TokenCache::new(RENEW_BEFORE),
        })
    }

    /// A valid token, from the cache or freshly fetched.
    pub(crate) async fn token(&self) -> Result<Secret> {
        self.cache.get_or_fetch(|| self.fetch()).await
    }

    /// Forgets the cached token, so that the next request fetches a fresh one (after the service
    /// refused the cached one).
    pub(crate) fn forget(&self) {
        self.cache.forget();
    }

    async fn fetch(&self) -> Result<Token<Secret>> {
        match &self.source {
            Source::ServiceAccount(sa) => {
                let assertion = token_assertion(
                    &sa.key,
                    sa.private_key_id.as_deref(),
                    &sa.client_email,
                    &sa.token_uri,
                    SystemTime::now(),
                );
                let request = Request::new(Method::POST, sa.token_uri.as_str()).form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", assertion.as_str()),
                ]);
                fetch_bearer(&self.http, &request, "the service account's token request").await
            }
            Source::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => {
                let request = Request::new(Method::POST, token_uri.as_str()).form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.expose()),
                    ("refresh_token", refresh_token.expose()),
                ]);
                fetch_bearer(&self.http, &request, "the user's token refresh").await
            }
            Source::MetadataServer => {
                let host = std::env::var("GCE_METADATA_HOST")
                    .ok()
                    .filter(|h| !h.trim().is_empty())
                    .unwrap_or_else(|| METADATA_HOST.to_owned());
                let request =
                    Request::new(Method::GET, format!("http://{host}{METADATA_TOKEN_PATH}"))
                        .header("metadata-flavor", "Google")
                        .timeout(Duration::from_secs(10));
                fetch_bearer(&self.http, &request, "the metadata server's token request")
                    .await
                    .map_err(|e| {
                        // The kind stays: an unreachable metadata server may answer later.
                        Error::new(e.kind().clone()).with_detail(format!(
                            "no keyfile or credentials are configured, no application default \
                             credentials file was found, and the metadata server gave no token \
                             ({e})"
                        ))
                    })
            }
        }
    }
}
