//! RSA signatures with a service account's key (RSASSA-PKCS1-v1_5 with SHA-256, through ring):
//! the JWT that is exchanged for an access token, and V4 signed URLs
//! (`GOOG4-RSA-SHA256`) for `redirect_url`. Both follow Google's documented formats byte for
//! byte; `tests/signing.rs` compares our URLs with those of the official Python client.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use percent_encoding::utf8_percent_encode;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use wharf_http::encode::{PATH, QUERY_VALUE};

/// The scope of the tokens the driver asks for (the reference's `ScopeFullControl`).
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.full_control";

/// The longest a V4 signed URL may be valid: seven days.
pub const MAX_SIGNED_URL_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// An RSA private key, kept out of `Debug` and logs.
#[derive(Clone)]
pub struct RsaKey(Arc<RsaKeyPair>);

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaKey(<redacted>)")
    }
}

impl RsaKey {
    /// A key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`, as service-account key files hold it) or
    /// PKCS#1 (`BEGIN RSA PRIVATE KEY`). The error says why, never showing the key.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let (label, der) = pem_body(pem)?;
        let pair = match label.as_str() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            other => return Err(format!("a PEM block labelled {other:?}")),
        }
        .map_err(|e| format!("not a usable RSA key: {e}"))?;
        Ok(Self(Arc::new(pair)))
    }

    /// The RSASSA-PKCS1-v1_5 SHA-256 signature of `data`.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.0.public().modulus_len()];
        // Signing fails only when the output buffer has the wrong length or the system's random
        // source is broken (used for blinding): neither can be recovered from here.
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                data,
                &mut signature,
            )
            .expect("RSA signing with a buffer of the modulus length");
        signature
    }
}

/// The label and decoded body of the first PEM block in `pem`.
fn pem_body(pem: &str) -> Result<(String, Vec<u8>), String> {
    // Keys pasted into YAML sometimes keep `\n` escapes instead of line breaks.
    let pem = pem.replace("\\n", "\n");
    let begin = pem.find("-----BEGIN ").ok_or("no -----BEGIN line")?;
    let rest = &pem[begin + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or("a malformed BEGIN line")?;
    let label = rest[..label_end].to_owned();
    let body_start = label_end + 5;
    let end_marker = format!("-----END {label}-----");
    let body_end = rest.find(&end_marker).ok_or("no matching END line")?;
    let body: String = rest[body_start..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| "the PEM body is not base64".to_owned())?;
    Ok((label, der))
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// The signed JWT a service account exchanges for an access token (RFC 7523), valid for an
/// hour from `now`.
pub(crate) fn token_assertion(
    key: &RsaKey,
    key_id: Option<&str>,
    client_email: &str,
    token_uri: &str,
    now: SystemTime,
) -> String {
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = serde_json::Value::String(kid.to_owned());
    }
    let iat = unix_seconds(now);
    let claims = serde_json::json!({
        "iss": client_email,
        "scope": SCOPE,
        "aud": token_uri,
        "iat": iat,
        "exp": iat + 3600,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// What a V4 signed URL is made of.
pub struct SignedUrlRequest<'a> {
    /// `GET` or `HEAD`.
    pub method: &'a str,
    /// The endpoint the URL points to, e.g. `https://storage.googleapis.com` (no trailing `/`).
    pub endpoint: &'a str,
    /// The bucket holding the object.
    pub bucket: &'a str,
    /// The object's name in the bucket (not yet percent-encoded).
    pub object: &'a str,
    /// The service account's e-mail address.
    pub client_email: &'a str,
    /// When the signature is made.
    pub now: SystemTime,
    /// How long the URL is valid (capped at seven days, at least one second).
    pub expiry: Duration,
}

/// A V4 signed URL (`GOOG4-RSA-SHA256`, path style, only the `host` header signed) as Google
/// documents it: the canonical request, its SHA-256 in the string to sign, and the hex RSA
/// signature appended as `X-Goog-Signature`.
pub fn signed_url(key: &RsaKey, req: &SignedUrlRequest<'_>) -> Result<String, String> {
    let endpoint = reqwest::Url::parse(req.endpoint).map_err(|e| e.to_string())?;
    let host = match (endpoint.host_str(), endpoint.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(format!("{} has no host", req.endpoint)),
    };
    let expiry = req
        .expiry
        .clamp(Duration::from_secs(1), MAX_SIGNED_URL_EXPIRY)
        .as_secs();
    let timestamp = humantime::format_rfc3339_seconds(req.now).to_string();
    // 2024-05-01T12:00:00Z → 20240501T120000Z
    let stamp: String = timestamp
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let date = &stamp[..8];
    let scope = format!("{date}/auto/storage/goog4_request");
    let credential = format!("{}/{scope}", req.client_email);
    let resource = format!(
        "{}/{}/{}",
        endpoint.path().trim_end_matches('/'),
        req.bucket,
        utf8_percent_encode(req.object, PATH)
    );
    let mut query = [
        ("X-Goog-Algorithm", "GOOG4-RSA-SHA256".to_owned()),
        ("X-Goog-Credential", credential),
        ("X-Goog-Date", stamp.clone()),
        ("X-Goog-Expires", expiry.to_string()),
        ("X-Goog-SignedHeaders", "host".to_owned()),
    ];
    query.sort_by(|a, b| a.0.cmp(b.0));
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_request = format!(
        "{}\n{resource}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD",
        req.method
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical_request.as_bytes());
    let string_to_sign = format!(
        "GOOG4-RSA-SHA256\n{stamp}\n{scope}\n{}",
        hex::encode(digest.as_ref())
    );
    let signature = hex::encode(key.sign(string_to_sign.as_bytes()));
    Ok(format!(
        "{}://{host}{resource}?{canonical_query}&X-Goog-Signature={signature}",
        endpoint.scheme()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_read_and_bad_ones_explained() {
        let (label, der) =
            pem_body("junk\n-----BEGIN PRIVATE KEY-----\nAAEC\nAw==\n-----END PRIVATE KEY-----\n")
                .unwrap();
        assert_eq!(label, "PRIVATE KEY");
        assert_eq!(der, [0, 1, 2, 3]);
        let (_, der) =
            pem_body("-----BEGIN PRIVATE KEY-----\\nAAEC\\nAw==\\n-----END PRIVATE KEY-----\\n")
                .unwrap();
        assert_eq!(der, [0, 1, 2, 3]);
        assert!(pem_body("no pem here").is_err());
        assert!(pem_body("-----BEGIN PRIVATE KEY-----\nAAEC\n").is_err());
        let e = RsaKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----")
            .unwrap_err();
        assert!(e.contains("not a usable RSA key"), "{e}");
        let e = RsaKey::from_pem("-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----")
            .unwrap_err();
        assert!(e.contains("CERTIFICATE"), "{e}");
    }
}
