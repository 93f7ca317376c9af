//! Signatures checked against an independent implementation, Google's official Python client
//! (google-cloud-storage and google-auth, installed by `servers/gcs-up.sh`), with the throwaway
//! key that script generated: our V4 signed URLs must equal the ones the Python client signs
//! for the same request and time, byte for byte, and the JWT the driver exchanges for a token
//! must verify with the key's public half and carry the claims Google's token endpoint expects.
//! fake-gcs-server then serves the driver's signed URLs for GET and HEAD.

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use wharf_driver_gcs::{RsaKey, SignedUrlRequest, signed_url};
use wharf_runtime::RedirectMethod;

const SIGN_V4: &str = r#"
import sys
from urllib.parse import quote
from google.oauth2 import service_account
from google.cloud.storage._signing import generate_signed_url_v4
keyfile, endpoint, bucket, name, method, expiry, stamp = sys.argv[1:]
credentials = service_account.Credentials.from_service_account_file(keyfile)
resource = "/{}/{}".format(bucket, quote(name, safe=b"/~"))
print(generate_signed_url_v4(credentials, resource, int(expiry), api_access_endpoint=endpoint,
                             method=method, _request_timestamp=stamp))
"#;

const VERIFY_JWT: &str = r#"
import json, sys
from cryptography.hazmat.primitives import serialization
from google.auth import jwt
keyfile, audience, assertion = sys.argv[1:]
key = json.load(open(keyfile))
private = serialization.load_pem_private_key(key["private_key"].encode(), None)
public = private.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
header = jwt.decode_header(assertion)
claims = jwt.decode(assertion, certs={key["private_key_id"]: public}, audience=audience)
print(json.dumps({"header": header, "claims": claims}))
"#;

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(common::python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run the Python client (WHARF_GCS_PYTHON)");
    assert!(
        out.status.success(),
        "the Python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn key() -> (RsaKey, String) {
    let json = common::key_json();
    let key = RsaKey::from_pem(json["private_key"].as_str().unwrap()).expect("the test key");
    (key, json["client_email"].as_str().unwrap().to_owned())
}

#[test]
fn v4_signed_urls_match_the_official_python_client() {
    let (key, email) = key();
    let keyfile = common::keyfile();
    let cases = [
        (
            "GET",
            "https://storage.googleapis.com",
            "my-bucket",
            "docker/registry/v2/blobs/sha256/ab/abcdef/data",
            1200u64,
            1_700_000_000u64,
        ),
        (
            "HEAD",
            "https://storage.googleapis.com",
            "my-bucket",
            "a/~wharf-uploads/x_y.z-1",
            604_800,
            1_767_225_599,
        ),
        (
            "GET",
            "http://127.0.0.1:4443",
            "bucket-1",
            "f",
            1,
            946_684_800,
        ),
    ];
    for (method, endpoint, bucket, object, expiry, at) in cases {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(at);
        let ours = signed_url(
            &key,
            &SignedUrlRequest {
                method,
                endpoint,
                bucket,
                object,
                client_email: &email,
                now,
                expiry: Duration::from_secs(expiry),
            },
        )
        .unwrap();
        let stamp: String = humantime::format_rfc3339_seconds(now)
            .to_string()
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        let theirs = python(
            SIGN_V4,
            &[
                &keyfile,
                endpoint,
                bucket,
                object,
                method,
                &expiry.to_string(),
                &stamp,
            ],
        );
        assert_eq!(ours, theirs, "{method} {endpoint}/{bucket}/{object}");
    }
}

#[test]
fn signed_urls_last_at_most_seven_days() {
    let (key, email) = key();
    let request = |expiry| SignedUrlRequest {
        method: "GET",
        endpoint: "https://storage.googleapis.com",
        bucket: "b12",
        object: "o",
        client_email: &email,
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        expiry,
    };
    let url = signed_url(&key, &request(Duration::from_secs(30 * 24 * 3600))).unwrap();
    assert!(url.contains("X-Goog-Expires=604800&"), "{url}");
    let url = signed_url(&key, &request(Duration::ZERO)).unwrap();
    assert!(url.contains("X-Goog-Expires=1&"), "{url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_request_carries_a_jwt_the_key_verifies() {
    let bucket = common::unique_bucket("jwt");
    common::create_bucket(&bucket).await;
    let d = common::registry()
        .create("gcs", common::key_params(&bucket, &[]))
        .await
        .unwrap();
    d.put_content("/a", Bytes::from_static(b"x")).await.unwrap();
    d.get_content("/a").await.unwrap();
    let endpoint = common::token_endpoint();
    let body = endpoint
        .requests
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a token request");
    let form: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x/?{body}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in {body}"))
    };
    assert_eq!(
        field("grant_type"),
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let verified = python(
        VERIFY_JWT,
        &[&common::local_keyfile(), &endpoint.url, &field("assertion")],
    );
    let verified: serde_json::Value = serde_json::from_str(&verified).unwrap();
    let key = common::key_json();
    assert_eq!(verified["header"]["alg"], "RS256");
    assert_eq!(verified["header"]["kid"], key["private_key_id"]);
    let claims = &verified["claims"];
    assert_eq!(claims["iss"], key["client_email"]);
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/devstorage.full_control"
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    d.delete("/a").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_urls_are_signed_only_with_a_key_and_are_served() {
    let bucket = common::unique_bucket("redirect");
    common::create_bucket(&bucket).await;
    let registry = common::registry();
    let signed = registry
        .create(
            "gcs",
            common::key_params(&bucket, &[("rootdirectory", "root")]),
        )
        .await
        .unwrap();
    let content = Bytes::from_static(b"redirected content");
    signed.put_content("/dir/f", content.clone()).await.unwrap();
    let http = reqwest::Client::new();
    for method in [RedirectMethod::Get, RedirectMethod::Head] {
        let url = signed
            .redirect_url(method, "/dir/f", Duration::from_secs(600))
            .await
            .unwrap()
            .expect("a signed URL with a service-account key");
        let prefix = format!(
            "{}/{bucket}/root/dir/f?X-Goog-Algorithm=GOOG4-RSA-SHA256&",
            common::endpoint()
        );
        assert!(url.starts_with(&prefix), "{url}");
        assert!(url.contains("&X-Goog-Expires=600&"), "{url}");
        let response = http
            .request(method.as_str().parse().unwrap(), &url)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method:?} {url}");
        assert_eq!(
            response.headers()["content-length"].to_str().unwrap(),
            content.len().to_string()
        );
        if method == RedirectMethod::Get {
            assert_eq!(response.bytes().await.unwrap(), content);
        }
    }
    // Without a key (anonymous here; the metadata server or a user's credentials likewise)
    // there is nothing to sign with: the registry serves the content itself.
    let anonymous = registry
        .create("gcs", common::params(&bucket, &[("rootdirectory", "root")]))
        .await
        .unwrap();
    assert_eq!(
        anonymous
            .redirect_url(RedirectMethod::Get, "/dir/f", Duration::from_secs(600))
            .await
            .unwrap(),
        None
    );
    signed.delete("/dir").await.unwrap();
}
