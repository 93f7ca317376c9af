//! Building the SDK client from a [`Config`]: credentials (static, or the SDK's default chain),
//! region and endpoint, addressing style, the HTTP client (hyper with rustls on ring), retries,
//! and three small interceptors: request counting (and `loglevel` logging), the `useragent`
//! suffix, and the host swap that makes pre-signed URLs for `redirectendpoint`.
//!
//! Checksums: the SDK's flexible checksums only where S3 requires one, for the widest
//! compatibility with S3-compatible stores; or, for a `ContentMd5` dialect (`Checksums`), none at
//! all and `Content-MD5` instead (see [`content_md5_only`]). Bodies are always in memory, so the
//! SDK never sends `aws-chunked` payloads or checksum trailers; [`WholePayloads`] makes that a
//! rule rather than a consequence.
//!
//! Retries: the SDK's standard strategy (three attempts, with back-off) for every call except the
//! two that are not idempotent, CreateMultipartUpload and CompleteMultipartUpload, which the
//! driver sends once (see [`once`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::interceptors::{
    BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_s3::config::{
    ConfigBag, Intercept, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    RuntimeComponents, SharedHttpClient,
};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use wharf_runtime::network::Network;
use wharf_runtime::{Error, Result};

use crate::config::Config;

/// Counts of the HTTP requests (attempts, retries included) a driver sent, by S3 operation.
#[derive(Debug, Default)]
pub struct RequestCounter {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl RequestCounter {
    fn add(&self, operation: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(operation.to_owned()).or_default() += 1;
    }

    /// A snapshot: operation name (`ListObjectsV2`, `PutObject`, …) → requests sent.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests sent for one operation.
    pub fn get(&self, operation: &str) -> u64 {
        self.snapshot().get(operation).copied().unwrap_or(0)
    }
}

/// Counts each attempt and, with `loglevel` on, logs it.
#[derive(Debug)]
struct CountRequests {
    counter: Arc<RequestCounter>,
    log: bool,
}

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "wharf-s3-count-requests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        self.counter.add(&operation);
        wharf_runtime::network::count_request();
        if self.log {
            let request = context.request();
            // The path only: a query may carry a signature.
            let uri = request.uri();
            let path = uri.split('?').next().unwrap_or("");
            tracing::debug!(operation, method = request.method(), path, "s3 request");
        }
        Ok(())
    }
}

/// Appends `useragent` to the SDK's `User-Agent` header (after signing: it is not signed).
#[derive(Debug)]
struct AppendUserAgent(String);

impl Intercept for AppendUserAgent {
    fn name(&self) -> &'static str {
        "wharf-s3-user-agent"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context.request_mut().headers_mut();
        let value = match headers.get("user-agent") {
            Some(existing) => format!("{existing} {}", self.0),
            None => self.0.clone(),
        };
        headers.insert("user-agent", value);
        Ok(())
    }
}

/// Points a request at `redirectendpoint` before it is signed, so a pre-signed URL is made for
/// (and its signature covers) that host, as the reference driver does.
#[derive(Debug)]
struct RedirectHost {
    scheme: String,
    authority: String,
}

impl Intercept for RedirectHost {
    fn name(&self) -> &'static str {
        "wharf-s3-redirect-host"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let uri = request.uri().to_owned();
        let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(&uri);
        let path_and_query = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
        let rewritten = format!("{}://{}{path_and_query}", self.scheme, self.authority);
        request.set_uri(rewritten.as_str())?;
        request.headers_mut().insert("host", self.authority.clone());
        Ok(())
    }
}

/// Refuses to send a request whose payload is `aws-chunked` encoded or carries trailers: every
/// body is sent whole and signed, which every S3-compatible store accepts (Aliyun OSS rejects
/// the others).
#[derive(Debug)]
struct WholePayloads;

impl Intercept for WholePayloads {
    fn name(&self) -> &'static str {
        "wharf-s3-whole-payloads"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context.request().headers();
        let chunked = headers
            .get("content-encoding")
            .is_some_and(|v| v.contains("aws-chunked"));
        let streaming = headers
            .get("x-amz-content-sha256")
            .is_some_and(|v| v.starts_with("STREAMING-"));
        if chunked || streaming || headers.contains_key("x-amz-trailer") {
            return Err("refusing to send an aws-chunked payload or checksum trailer".into());
        }
        Ok(())
    }
}

/// Replaces the SDK's flexible checksum of a request body (which it adds where S3 requires a
/// checksum) with `Content-MD5`, before signing. Added per call (see [`content_md5_only`]) so it
/// runs after the SDK's own checksum step.
#[derive(Debug)]
struct ContentMd5Only;

impl Intercept for ContentMd5Only {
    fn name(&self) -> &'static str {
        "wharf-s3-content-md5"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use md5::Digest;
        let request = context.request_mut();
        let digest = match request.body().bytes() {
            Some(body) => md5::Md5::digest(body),
            None => return Err("Content-MD5 needs a body held in memory".into()),
        };
        let headers = request.headers_mut();
        let flexible: Vec<String> = headers
            .iter()
            .map(|(name, _)| name.to_owned())
            .filter(|name| {
                name.starts_with("x-amz-checksum-") || name == "x-amz-sdk-checksum-algorithm"
            })
            .collect();
        for name in flexible {
            headers.remove(name);
        }
        headers.insert(
            "content-md5",
            aws_smithy_types::base64::encode(digest.as_slice()),
        );
        Ok(())
    }
}

/// A configuration override for a call whose body S3 requires a checksum of, under a
/// `Checksums::ContentMd5` dialect: `Content-MD5` and no flexible checksum.
pub(crate) fn content_md5_only() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::new().interceptor(ContentMd5Only)
}

/// The SDK clients a driver uses.
pub(crate) struct Clients {
    /// For every call.
    pub(crate) s3: aws_sdk_s3::Client,
    /// For pre-signing (differs from `s3` when `redirectendpoint` is set).
    pub(crate) presign: aws_sdk_s3::Client,
    pub(crate) requests: Arc<RequestCounter>,
}

fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::rustls(CryptoMode::Ring))
        .build_https()
}

/// Builds the clients for `config`.
pub(crate) async fn build(config: &Config) -> Result<Clients> {
    let http = http_client();
    let region = Region::new(config.region.clone());
    let credentials = match &config.credentials {
        Some(c) => SharedCredentialsProvider::new(Credentials::new(
            c.access_key.expose(),
            c.secret_key.expose(),
            c.session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "wharf-parameters",
        )),
        None => {
            let loaded = aws_config::defaults(BehaviorVersion::latest())
                .http_client(http.clone())
                .region(region.clone())
                .load()
                .await;
            loaded.credentials_provider().ok_or_else(|| {
                Error::invalid_parameter(
                    "accesskey",
                    "no accesskey/secretkey given and the default credential chain is not \
                     available",
                )
            })?
        }
    };
    let requests = Arc::new(RequestCounter::default());
    let mut builder = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials)
        .http_client(http)
        .retry_config(retry_config(&config.network))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.network.connect_timeout)
                .read_timeout(config.network.read_timeout)
                .build(),
        )
        // Flexible checksums only where the API requires them (DeleteObjects, where a
        // `ContentMd5` dialect swaps them for Content-MD5): many S3-compatible stores refuse
        // the newer checksum headers on uploads, and payloads are covered by the SigV4 payload
        // hash anyway.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .force_path_style(config.force_path_style)
        .use_dual_stack(config.use_dual_stack)
        .use_fips(config.use_fips_endpoint)
        .accelerate(config.accelerate)
        .interceptor(WholePayloads)
        .interceptor(CountRequests {
            counter: requests.clone(),
            log: config.log_requests,
        });
    if let Some(endpoint) = &config.region_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    if let Some(agent) = &config.user_agent {
        builder = builder.interceptor(AppendUserAgent(agent.clone()));
    }
    let s3_config = builder.build();
    let presign = match &config.redirect_endpoint {
        None => aws_sdk_s3::Client::from_conf(s3_config.clone()),
        Some(endpoint) => {
            let (scheme, authority) = endpoint.split_once("://").ok_or_else(|| {
                Error::invalid_parameter("redirectendpoint", "expected scheme://host[:port]")
            })?;
            let redirect = RedirectHost {
                scheme: scheme.to_owned(),
                authority: authority.to_owned(),
            };
            aws_sdk_s3::Client::from_conf(s3_config.to_builder().interceptor(redirect).build())
        }
    };
    Ok(Clients {
        s3: aws_sdk_s3::Client::from_conf(s3_config),
        presign,
        requests,
    })
}

/// The SDK's standard retries (temporary failures of every call but the few sent once, with
/// exponential back-off and jitter) as the driver's `max_retries`, `retry_delay` and
/// `max_retry_delay` say.
fn retry_config(network: &Network) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(network.max_retries + 1)
        .with_initial_backoff(network.backoff.first)
        .with_max_backoff(network.backoff.max)
}

/// A configuration override that sends a call exactly once (for the calls that are not
/// idempotent).
pub(crate) fn once() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::new().retry_config(RetryConfig::disabled())
}
