//! `redirect_url` through Swift's TempURL middleware: a URL signed with the container's (or the
//! account's) TempURL key, valid until the expiry, for GET (which also allows HEAD).
//!
//! The key is set up as the reference does it: when `/info` lists the middleware, its methods
//! are the ones offered and the key lives on the container (Swift 2.3 and later) or the
//! account; the configured `secretkey` is installed there if the key is missing or differs, and
//! a random key is installed when none is configured and none is set. Without `/info`, the
//! `tempurlmethods` and `tempurlcontainerkey` parameters say what to do. Signatures use
//! HMAC-SHA256 when the cluster allows it, else HMAC-SHA1.

use std::time::SystemTime;

use hmac::{Hmac, Mac};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value as Json;
use wharf_runtime::{RedirectMethod, Result, Secret};

use crate::auth::Session;
use wharf_http::header;

use crate::client::{Client, Target};
use crate::config::Config;

/// The signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digest {
    Sha1,
    Sha256,
}

/// What signing needs.
#[derive(Debug)]
pub(crate) struct TempUrl {
    key: Secret,
    digest: Digest,
    methods: Vec<String>,
    access_key: Option<Secret>,
}

const CONTAINER_KEY: &str = "x-container-meta-temp-url-key";
const ACCOUNT_KEY: &str = "x-account-meta-temp-url-key";

/// `a.b.c` as numbers, for comparing versions.
fn version(v: &str) -> Vec<u64> {
    v.split(['.', '-'])
        .map_while(|p| p.parse::<u64>().ok())
        .collect()
}

/// Finds or installs the TempURL key; `None` when the cluster offers no TempURL.
pub(crate) async fn set_up(
    client: &Client,
    config: &Config,
    info: Option<&Json>,
) -> Result<Option<TempUrl>> {
    let (container_key, methods, digest) = match info {
        Some(info) => {
            let Some(t) = info.get("tempurl") else {
                return Ok(None);
            };
            let methods = t["methods"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect();
            let offers_sha256 = t["allowed_digests"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d.as_str() == Some("sha256")));
            let swift = info["swift"]["version"].as_str().unwrap_or("0");
            (
                version(swift) >= vec![2, 3, 0],
                methods,
                if offers_sha256 {
                    Digest::Sha256
                } else {
                    Digest::Sha1
                },
            )
        }
        None => (
            config.tempurl_container_key,
            config.tempurl_methods.clone(),
            Digest::Sha1,
        ),
    };
    if methods.is_empty() {
        return Ok(None);
    }
    let wanted = config
        .secret_key
        .clone()
        .unwrap_or_else(|| Secret::new(hex::encode(rand::random::<[u8; 32]>())));
    let (target, name, headers) = if container_key {
        let headers = client
            .head_container()
            .await
            .map_err(|f| f.into_error("read the TempURL key of", "/"))?
            .unwrap_or_default();
        (Target::Container, CONTAINER_KEY, headers)
    } else {
        let headers = client
            .head_account()
            .await
            .map_err(|f| f.into_error("read the TempURL key of", "/"))?;
        (Target::Account, ACCOUNT_KEY, headers)
    };
    let existing = header(&headers, name).unwrap_or_default().to_owned();
    let differs = config
        .secret_key
        .as_ref()
        .is_some_and(|k| k.expose() != existing);
    let key = if existing.is_empty() || differs {
        match client.post_metadata(target, name, wanted.expose()).await {
            Ok(()) => wanted,
            Err(f) => {
                tracing::warn!(error = %f.into_error("set the TempURL key of", "/"),
                    "swift: cannot set the TempURL key");
                Secret::new(existing)
            }
        }
    } else {
        Secret::new(existing)
    };
    if key.expose().is_empty() {
        return Ok(None);
    }
    Ok(Some(TempUrl {
        key,
        digest,
        methods,
        access_key: config.access_key.clone(),
    }))
}

impl TempUrl {
    /// The signature of `method` on the URL path `path` until `expires` (Unix seconds).
    pub(crate) fn signature(&self, method: &str, expires: u64, path: &str) -> String {
        let message = format!("{method}\n{expires}\n{path}");
        let key = self.key.expose().as_bytes();
        match self.digest {
            Digest::Sha1 => {
                let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
                mac.update(message.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            Digest::Sha256 => {
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
                mac.update(message.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }

    /// A TempURL of the object `name` for `method`, or `None` when the cluster does not allow
    /// TempURLs for it.
    pub(crate) fn sign(
        &self,
        client: &Client,
        session: &Session,
        name: &str,
        _method: RedirectMethod,
        expiry: SystemTime,
    ) -> Option<String> {
        // TempURL allows a HEAD with a GET signature, so one signature serves both (the
        // reference, too, signs GET for a HEAD).
        let method = "GET";
        if !self.methods.iter().any(|m| m == method) {
            return None;
        }
        let expires = expiry
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
        let url = client.url(&session.storage_url, Target::Object(name));
        let path = match url
            .find("://")
            .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(start) => percent_encoding::percent_decode_str(&url[start..])
                .decode_utf8_lossy()
                .into_owned(),
            None => return None,
        };
        let mut signature = self.signature(method, expires, &path);
        if let Some(access) = &self.access_key {
            // HP Cloud's form: tenant:access key:signature.
            let tenant = session.tenant_id.as_deref().unwrap_or_default();
            signature = format!("{tenant}:{}:{signature}", access.expose());
        }
        Some(format!(
            "{url}?temp_url_sig={}&temp_url_expires={expires}",
            utf8_percent_encode(&signature, NON_ALPHANUMERIC)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmacs_of_method_expiry_and_path() {
        // Expected values computed independently with Python's hmac module.
        let t = TempUrl {
            key: Secret::new("mykey"),
            digest: Digest::Sha1,
            methods: vec!["GET".into()],
            access_key: None,
        };
        let path = "/v1/AUTH_account/container/object";
        assert_eq!(
            t.signature("GET", 1323479485, path),
            "d9fc2067e52b06598421664cf6610bfc8fc431f6"
        );
        let t = TempUrl {
            digest: Digest::Sha256,
            ..t
        };
        assert_eq!(
            t.signature("GET", 1323479485, path),
            "05cb4ea08a08f2fdaef35d0f344975370077835c23bdc9342099ecbf03bc0378"
        );
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version("2.30.1") >= vec![2, 3, 0]);
        assert!(version("2.2.2") < vec![2, 3, 0]);
        assert!(version("2.3.0.dev12") >= vec![2, 3, 0]);
    }
}
