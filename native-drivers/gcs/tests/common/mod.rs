//! What the gcs tests share: the server they run against and the throwaway service-account key
//! (from the environment that `servers/gcs-up.sh` writes), a local OAuth token endpoint for that
//! key (fake-gcs-server checks no tokens, but the driver must still obtain them), and fresh
//! buckets so that tests run independently and in parallel.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use wharf_driver_gcs::{Config, GcsDriver};
use wharf_http::testing::{MockServer, Reply};
use wharf_runtime::{DriverRegistry, Params, StorageDriver};

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: the gcs tests need a running fake-gcs-server. Start it with \
             `servers/gcs-up.sh`, then `. target/servers/gcs.env` and run the tests again"
        ),
    }
}

/// The server's JSON API endpoint (`WHARF_GCS_ENDPOINT`).
pub fn endpoint() -> String {
    var("WHARF_GCS_ENDPOINT")
}

/// The throwaway service-account key file (`WHARF_GCS_KEYFILE`).
pub fn keyfile() -> String {
    var("WHARF_GCS_KEYFILE")
}

/// The Python interpreter with google-cloud-storage (`WHARF_GCS_PYTHON`).
pub fn python() -> String {
    var("WHARF_GCS_PYTHON")
}

/// A bucket name no other test (or earlier run) uses.
pub fn unique_bucket(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let random: u32 = rand::random();
    let mut name = format!("{label}-{}-{n}-{random:08x}", std::process::id());
    name.truncate(63);
    name.trim_end_matches('-').to_owned()
}

/// What the local token endpoint saw: the form bodies of the token requests.
pub struct TokenEndpoint {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
    pub count: Arc<AtomicUsize>,
    /// Serves the endpoint for the whole test binary.
    server: MockServer,
}

/// A token endpoint on 127.0.0.1, shared by the whole test binary, that answers every request
/// with a fresh access token valid for an hour.
pub fn token_endpoint() -> &'static TokenEndpoint {
    static ENDPOINT: OnceLock<TokenEndpoint> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let server = MockServer::start();
        let url = format!("{}/token", server.url());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let (seen, n) = (requests.clone(), count.clone());
        server.handle(move |request| {
            let i = n.fetch_add(1, Ordering::SeqCst);
            seen.lock().unwrap().push(request.body_text());
            Some(Reply::json(
                200,
                format!(
                    r#"{{"access_token":"test-token-{i}","expires_in":3600,"token_type":"Bearer"}}"#
                ),
            ))
        });
        TokenEndpoint {
            url,
            requests,
            count,
            server,
        }
    })
}

/// The throwaway key as JSON.
pub fn key_json() -> serde_json::Value {
    let text = std::fs::read_to_string(keyfile()).expect("read WHARF_GCS_KEYFILE");
    serde_json::from_str(&text).expect("the key file is JSON")
}

/// A copy of the throwaway key whose `token_uri` is the local token endpoint.
pub fn local_keyfile() -> String {
    static FILE: OnceLock<String> = OnceLock::new();
    FILE.get_or_init(|| {
        let mut key = key_json();
        key["token_uri"] = serde_json::Value::String(token_endpoint().url.clone());
        let path: PathBuf = std::env::temp_dir().join(format!(
            "wharf-gcs-test-key-{}-{:08x}.json",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::write(&path, key.to_string()).expect("write the test key");
        path.to_string_lossy().into_owned()
    })
    .clone()
}

/// Parameters for `bucket` on the server with no credentials, with `extra` added.
pub fn params(bucket: &str, extra: &[(&str, &str)]) -> Params {
    let mut p = Params::from_pairs([
        ("bucket", bucket),
        ("endpoint", endpoint().as_str()),
        ("anonymous", "true"),
    ]);
    for (k, v) in extra {
        p.insert(*k, *v);
    }
    p
}

/// Parameters for `bucket` with the throwaway service account (tokens from the local
/// endpoint), with `extra` added.
pub fn key_params(bucket: &str, extra: &[(&str, &str)]) -> Params {
    let mut p = Params::from_pairs([
        ("bucket", bucket),
        ("endpoint", endpoint().as_str()),
        ("keyfile", local_keyfile().as_str()),
    ]);
    for (k, v) in extra {
        p.insert(*k, *v);
    }
    p
}

/// Creates `bucket` on the server.
pub async fn create_bucket(bucket: &str) {
    let config = Config::from_params(params(bucket, &[])).expect("valid parameters");
    GcsDriver::new(config)
        .expect("create a driver")
        .create_bucket("wharf-test")
        .await
        .expect("create the test bucket");
}

/// A registry holding only the gcs driver.
pub fn registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    wharf_driver_gcs::register(&mut registry).expect("register the gcs driver");
    registry
}

/// A driver (through the factory, behind the base layer) on a fresh bucket, with no
/// credentials; its parameters and bucket too.
pub async fn fresh_driver(
    label: &str,
    extra: &[(&str, &str)],
) -> (Arc<dyn StorageDriver>, Params, String) {
    let bucket = unique_bucket(label);
    create_bucket(&bucket).await;
    let params = params(&bucket, extra);
    let driver = registry()
        .create(wharf_driver_gcs::NAME, params.clone())
        .await
        .expect("create the gcs driver");
    (driver, params, bucket)
}

/// The names of every object in `bucket`, straight from the JSON API.
pub async fn object_names(bucket: &str) -> Vec<String> {
    let url = format!("{}/storage/v1/b/{bucket}/o", endpoint());
    let bytes = reqwest::get(&url)
        .await
        .expect("list the bucket")
        .bytes()
        .await
        .expect("read the listing");
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON listing");
    body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The metadata of one object, straight from the JSON API (`None` when missing).
pub async fn object(bucket: &str, name: &str) -> Option<serde_json::Value> {
    let url = format!(
        "{}/storage/v1/b/{bucket}/o/{}",
        endpoint(),
        name.replace('/', "%2F")
    );
    let response = reqwest::get(&url).await.expect("get object metadata");
    if response.status() == 404 {
        return None;
    }
    let bytes = response.bytes().await.expect("read the metadata");
    Some(serde_json::from_slice(&bytes).expect("JSON metadata"))
}
