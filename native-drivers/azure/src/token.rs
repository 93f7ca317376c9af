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

use std::time::{Duration, SystemTime};

use percent_encoding::utf8_percent_encode;
use tokio::sync::Mutex;
use wharf_runtime::{Error, ErrorKind, Result, Secret};

use crate::sign::QUERY_VALUE;

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

#[derive(Clone)]
struct Token {
    value: Secret,
    expires: SystemTime,
}

/// A source of bearer tokens, shared by all requests of a driver.
pub(crate) struct TokenCredential {
    source: Source,
    http: reqwest::Client,
    cached: Mutex<Option<Token>>,
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

fn denied(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::PermissionDenied).with_detail(message)
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
            cached: Mutex::new(None),
        }
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

    async fn fetch(&self) -> Result<Token> {
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

    async fn default_chain_token(&self) -> Result<Token> {
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
    ) -> Result<Token> {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            authority.trim_end_matches('/'),
            utf8_percent_encode(tenant_id, QUERY_VALUE)
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
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.token_answer(request, "token request to the Entra ID endpoint")
            .await
    }

    async fn managed_identity(&self, client_id: Option<String>) -> Result<Token> {
        let endpoint = std::env::var("IDENTITY_ENDPOINT").ok();
        let header = std::env::var("IDENTITY_HEADER").ok();
        let request = match (endpoint, header) {
            (Some(endpoint), Some(header)) => {
                let mut query = vec![("api-version", "2019-08-01"), ("resource", RESOURCE)];
                if let Some(id) = client_id.as_deref() {
                    query.push(("client_id", id));
                }
                self.http
                    .get(endpoint)
                    .query(&query)
                    .header("x-identity-header", header)
            }
            _ => {
                let mut query = vec![("api-version", "2018-02-01"), ("resource", RESOURCE)];
                if let Some(id) = client_id.as_deref() {
                    query.push(("client_id", id));
                }
                self.http
                    .get(IMDS)
                    .query(&query)
                    .header("metadata", "true")
                    .timeout(Duration::from_secs(10))
            }
        };
        self.token_answer(request, "managed identity token request")
            .await
            .map_err(|e| {
                denied(format!(
                    "default_credentials: no AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE in \
                     the environment, and the managed identity endpoint gave no token ({e})"
                ))
            })
    }

    async fn token_answer(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Token> {
        let response = request
            .send()
            .await
            .map_err(|e| denied(format!("{what} failed")).with_source(e.without_url()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            denied(format!("{what}: reading the answer failed")).with_source(e.without_url())
        })?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if !status.is_success() {
            let reason = json
                .get("error_description")
                .or_else(|| json.get("error"))
                .and_then(|v| v.as_str())
                .unwrap_or("no reason given");
            let reason = reason.lines().next().unwrap_or_default();
            return Err(denied(format!(
                "{what} was refused (HTTP {}): {reason}",
                status.as_u16()
            )));
        }
        let token = json
            .get("access_token")
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| denied(format!("{what}: the answer holds no access_token")))?;
        let seconds = |v: &serde_json::Value| -> Option<u64> {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        };
        let now = SystemTime::now();
        let expires = if let Some(s) = json.get("expires_in").and_then(seconds) {
            now + Duration::from_secs(s)
        } else if let Some(at) = json.get("expires_on").and_then(seconds) {
            SystemTime::UNIX_EPOCH + Duration::from_secs(at)
        } else {
            now + Duration::from_secs(3600)
        };
        Ok(Token {
            value: Secret::new(token),
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// Answers `answers.len()` HTTP requests on 127.0.0.1 with the given status and JSON, and
    /// hands back each request's head and body.
    fn token_endpoint(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, body) in answers {
                let (mut s, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = s.read(&mut buf).unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length: usize = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                seen.push(String::from_utf8_lossy(&request).to_string());
                write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
            seen
        });
        (url, server)
    }

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
        let (url, server) = token_endpoint(vec![(
            200,
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok-1"}"#,
        )]);
        let c = credential(&url);
        assert_eq!(c.token().await.unwrap().expose(), "tok-1");
        // The second call is served from the cache: the endpoint answers only once.
        assert_eq!(c.token().await.unwrap().expose(), "tok-1");
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 1);
        let request = &seen[0];
        assert!(
            request.starts_with("POST /tenant-1/oauth2/v2.0/token HTTP/1.1"),
            "{request}"
        );
        let body = request.split("\r\n\r\n").nth(1).unwrap();
        assert_eq!(
            body,
            "grant_type=client_credentials&client_id=app-1&\
             scope=https%3A%2F%2Fstorage.azure.com%2F.default&client_secret=s3cr3t%2F%2B%3D"
        );
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[tokio::test]
    async fn an_expiring_token_is_renewed() {
        let (url, server) = token_endpoint(vec![
            (200, r#"{"expires_in":"60","access_token":"short"}"#),
            (200, r#"{"expires_in":3600,"access_token":"long"}"#),
        ]);
        let c = credential(&url);
        assert_eq!(c.token().await.unwrap().expose(), "short");
        assert_eq!(c.token().await.unwrap().expose(), "long");
        assert_eq!(c.token().await.unwrap().expose(), "long");
        assert_eq!(server.join().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_refused_grant_is_permission_denied_without_the_secret() {
        let (url, server) = token_endpoint(vec![(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}"#,
        )]);
        let e = credential(&url).token().await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
        let text = e.to_string();
        assert!(text.contains("AADSTS7000215"), "{text}");
        assert!(text.contains("401"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
        server.join().unwrap();
    }
}
