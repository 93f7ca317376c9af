//! Entra ID (Azure AD) access tokens for the storage audience, for `credentials.type:
//! client_secret` and `default_credentials`, fetched on first use and renewed five minutes
//! before they expire.
//!
//! `default_credentials` follows the order of the Azure SDKs' default credential for services:
//! an application secret from the environment (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//! `AZURE_CLIENT_SECRET`), then workload identity (`AZURE_FEDERATED_TOKEN_FILE` with
//! `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`, as AKS injects them), then managed identity (App
//! Service's `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`, else the instance metadata service).
//! `AZURE_AUTHORITY_HOST` selects a sovereign cloud's login endpoint.

use std::time::Duration;

use reqwest::Method;
use wharf_http::oauth::{denied, fetch_bearer};
use wharf_http::{Request, Token, TokenCache, encode};
use wharf_runtime::{Error, Result, Secret};

/// The scope of a token for Azure Storage.
const SCOPE: &str = "https://storage.azure.com/.default";
/// The resource of a managed identity token for Azure Storage.
const RESOURCE: &str = "https://storage.azure.com/";
/// The public cloud's login endpoint.
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The instance metadata service's token endpoint.
const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// A token is renewed when less than this is left of it.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

/// Where tokens come from.
#[derive(Debug, Clone)]
enum Source {
    ClientSecret {
        authority: String,
        tenant_id: String,
        client_id: String,
        secret: Secret,
    },
    Default,
}

/// A source of bearer tokens, shared by all requests of a driver.
pub(crate) struct TokenCredential {
    source: Source,
    http: reqwest::Client,
    cache: TokenCache<Secret>,
}

impl std::fmt::Debug for TokenCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCredential")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn authority_from_env() -> String {
    std::env::var("AZURE_AUTHORITY_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_AUTHORITY.to_owned())
}

impl TokenCredential {
    /// Tokens for an application with a client secret.
    pub(crate) fn client_secret(
        http: reqwest::Client,
        tenant_id: &str,
        client_id: &str,
        secret: &Secret,
    ) -> Self {
        Self::with_source(
            http,
            Source::ClientSecret {
                authority: authority_from_env(),
                tenant_id: tenant_id.to_owned(),
                client_id: client_id.to_owned(),
                secret: secret.clone(),
            },
        )
    }

    /// Tokens for the environment's identity.
    pub(crate) fn default_chain(http: reqwest::Client) -> Self {
        Self::with_source(http, Source::Default)
    }

    fn with_source(http: reqwest::Client, source: Source) -> Self {
        Self {
            source,
            http,
            cache: TokenCache::new(RENEW_BEFORE),
        }
    }

    /// A valid token, from the cache or freshly fetched.
    pub(crate) async fn token(&self) -> Result<Secret> {
        self.cache.get_or_fetch(|| self.fetch()).await
    }

    async fn fetch(&self) -> Result<Token<Secret>> {
        match &self.source {
            Source::ClientSecret {
                authority,
                tenant_id,
                client_id,
                secret,
            } => {
                self.client_credentials(
                    authority,
                    tenant_id,
                    client_id,
                    ("client_secret", secret.expose()),
                )
                .await
            }
            Source::Default => self.default_chain_token().await,
        }
    }

    async fn default_chain_token(&self) -> Result<Token<Secret>> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let authority = authority_from_env();
        if let (Some(tenant), Some(client), Some(secret)) = (
            env("AZURE_TENANT_ID"),
            env("AZURE_CLIENT_ID"),
            env("AZURE_CLIENT_SECRET"),
        ) {
            return self
                .client_credentials(&authority, &tenant, &client, ("client_secret", &secret))
                .await;
        }
        if let (Some(file), Some(tenant), Some(client)) = (
            env("AZURE_FEDERATED_TOKEN_FILE"),
            env("AZURE_TENANT_ID"),
            env("AZURE_CLIENT_ID"),
        ) {
            // The projected token is rotated by the platform: read it for every fetch.
            let assertion = tokio::fs::read_to_string(&file).await.map_err(|e| {
                denied(format!(
                    "workload identity: cannot read AZURE_FEDERATED_TOKEN_FILE {file}"
                ))
                .with_source(e)
            })?;
            return self
                .client_credentials(
                    &authority,
                    &tenant,
                    &client,
                    ("client_assertion", assertion.trim()),
                )
                .await;
        }
        self.managed_identity(env("AZURE_CLIENT_ID")).await
    }

    /// The OAuth 2.0 client credentials grant with a secret or a federated assertion.
    async fn client_credentials(
        &self,
        authority: &str,
        tenant_id: &str,
        client_id: &str,
        proof: (&str, &str),
    ) -> Result<Token<Secret>> {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            authority.trim_end_matches('/'),
            encode::component(tenant_id)
        );
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", SCOPE),
        ];
        if proof.0 == "client_assertion" {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        form.push(proof);
        let request = Request::new(Method::POST, url).form(&form);
        fetch_bearer(
            &self.http,
            &request,
            "token request to the Entra ID endpoint",
        )
        .await
    }

    async fn managed_identity(&self, client_id: Option<String>) -> Result<Token<Secret>> {
        let endpoint = std::env::var("IDENTITY_ENDPOINT").ok();
        let header = std::env::var("IDENTITY_HEADER").ok();
        let (request, version) = match (endpoint, header) {
            (Some(endpoint), Some(header)) => (
                Request::new(Method::GET, endpoint).secret_header("x-identity-header", header),
                "2019-08-01",
            ),
            _ => (
                Request::new(Method::GET, IMDS)
                    .header("metadata", "true")
                    .timeout(Duration::from_secs(10)),
                "2018-02-01",
            ),
        };
        let mut request = request
            .query("api-version", version)
            .query("resource", RESOURCE);
        if let Some(id) = client_id.as_deref() {
            request = request.query("client_id", id);
        }
        fetch_bearer(&self.http, &request, "managed identity token request")
            .await
            .map_err(|e| {
                // The kind stays: an unreachable endpoint may answer later.
                Error::new(e.kind().clone()).with_detail(format!(
                    "default_credentials: no AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE in \
                     the environment, and the managed identity endpoint gave no token ({e})"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use wharf_http::testing::{MockServer, Reply};
    use wharf_runtime::ErrorKind;

    use super::*;

    fn credential(authority: &str) -> TokenCredential {
        TokenCredential::with_source(
            reqwest::Client::new(),
            Source::ClientSecret {
                authority: authority.to_owned(),
                tenant_id: "tenant-1".into(),
                client_id: "app-1".into(),
                secret: Secret::new("s3cr3t/+="),
            },
        )
    }

    #[tokio::test]
    async fn client_secret_flow_posts_the_grant_and_caches_the_token() {
        let server = MockServer::start();
        server.push(Reply::json(
            200,
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok-1"}"#,
        ));
        let c = credential(server.url());
        assert_eq!(c.token().await.unwrap().expose(), "tok-1");
        // The second call is served from the cache: the endpoint answers only once.
        assert_eq!(c.token().await.unwrap().expose(), "tok-1");
        let seen = server.requests();
        assert_eq!(seen.len(), 1);
        let request = &seen[0];
        assert_eq!(
            (request.method.as_str(), request.target.as_str()),
            ("POST", "/tenant-1/oauth2/v2.0/token")
        );
        assert_eq!(
            request.body_text(),
            "grant_type=client_credentials&client_id=app-1&\
             scope=https%3A%2F%2Fstorage.azure.com%2F.default&client_secret=s3cr3t%2F%2B%3D"
        );
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[tokio::test]
    async fn an_expiring_token_is_renewed() {
        let server = MockServer::start();
        server.push(Reply::json(
            200,
            r#"{"expires_in":"60","access_token":"short"}"#,
        ));
        server.push(Reply::json(
            200,
            r#"{"expires_in":3600,"access_token":"long"}"#,
        ));
        let c = credential(server.url());
        assert_eq!(c.token().await.unwrap().expose(), "short");
        assert_eq!(c.token().await.unwrap().expose(), "long");
        assert_eq!(c.token().await.unwrap().expose(), "long");
        assert_eq!(server.requests().len(), 2);
    }

    #[tokio::test]
    async fn a_refused_grant_is_permission_denied_without_the_secret() {
        let server = MockServer::start();
        server.push(Reply::json(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}"#,
        ));
        let e = credential(server.url()).token().await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
        let text = e.to_string();
        assert!(text.contains("AADSTS7000215"), "{text}");
        assert!(text.contains("401"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_temporary_error() {
        let server = MockServer::start();
        server.push(Reply::hang_up());
        let e = credential(server.url()).token().await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: true }, "{e}");
        assert!(!format!("{e} {e:?}").contains("s3cr3t"), "{e:?}");
    }
}
