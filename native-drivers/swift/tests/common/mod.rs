//! What the swift tests share: the cluster they run against (from the environment that
//! `servers/swift-up.sh` writes), and fresh containers so that tests run independently and in
//! parallel.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wharf_runtime::{DriverRegistry, Params, StorageDriver};

/// The cluster's auth URL, credentials and large-object limits.
pub struct Server {
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub max_file_size: u64,
    pub max_manifest_segments: usize,
}

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: the swift tests need a running Swift. Start it with \
             `servers/swift-up.sh`, then `. target/servers/swift.env` and run the tests again"
        ),
    }
}

/// The cluster from `WHARF_SWIFT_AUTHURL`, `WHARF_SWIFT_USERNAME`, `WHARF_SWIFT_PASSWORD`,
/// `WHARF_SWIFT_MAXFILESIZE` and `WHARF_SWIFT_MAXMANIFESTSEGMENTS`; panics (failing the test) when they are not set.
pub fn server() -> Server {
    Server {
        auth_url: var("WHARF_SWIFT_AUTHURL"),
        username: var("WHARF_SWIFT_USERNAME"),
        password: var("WHARF_SWIFT_PASSWORD"),
        max_file_size: var("WHARF_SWIFT_MAXFILESIZE")
            .parse()
            .expect("WHARF_SWIFT_MAXFILESIZE is a number"),
        max_manifest_segments: var("WHARF_SWIFT_MAXMANIFESTSEGMENTS")
            .parse()
            .expect("WHARF_SWIFT_MAXMANIFESTSEGMENTS is a number"),
    }
}

/// A container name no other test (or earlier run) uses.
pub fn unique_container(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let random: u32 = rand::random();
    format!("wharf-{label}-{}-{n}-{random:08x}", std::process::id())
}

/// Parameters for `container` on the cluster, with `extra` added.
pub fn params(server: &Server, container: &str, extra: &[(&str, &str)]) -> Params {
    let mut p = Params::from_pairs([
        ("authurl", server.auth_url.as_str()),
        ("username", server.username.as_str()),
        ("password", server.password.as_str()),
        ("container", container),
        // The smallest segments the driver allows, so large-object paths run on small data.
        ("chunksize", "1MiB"),
    ]);
    for (k, v) in extra {
        p.insert(*k, *v);
    }
    p
}

/// A registry holding only the swift driver.
pub fn registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    wharf_driver_swift::register(&mut registry).expect("register the swift driver");
    registry
}

/// A driver (through the factory, behind the base layer) on a fresh container, which the
/// driver creates.
pub async fn fresh_driver(label: &str) -> (Arc<dyn StorageDriver>, Params) {
    let server = server();
    let container = unique_container(label);
    let params = params(&server, &container, &[]);
    let driver = registry()
        .create(wharf_driver_swift::NAME, params.clone())
        .await
        .expect("create the swift driver");
    (driver, params)
}

/// A session of our own with the cluster (tempauth), to look at what the driver wrote.
pub struct Raw {
    pub http: reqwest::Client,
    pub token: String,
    pub storage_url: String,
    pub container: String,
}

impl Raw {
    pub async fn new(server: &Server, container: &str) -> Self {
        let http = reqwest::Client::new();
        let r = http
            .get(&server.auth_url)
            .header("x-auth-user", &server.username)
            .header("x-auth-key", &server.password)
            .send()
            .await
            .expect("authenticate");
        assert!(r.status().is_success(), "tempauth: {}", r.status());
        let h = |n: &str| r.headers()[n].to_str().unwrap().to_owned();
        Self {
            token: h("x-auth-token"),
            storage_url: h("x-storage-url"),
            http,
            container: container.to_owned(),
        }
    }

    /// The names in the container starting with `prefix`, with their sizes.
    pub async fn names(&self, prefix: &str) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut marker = String::new();
        loop {
            let r = self
                .http
                .get(format!("{}/{}", self.storage_url, self.container))
                .query(&[("format", "json"), ("prefix", prefix), ("marker", &marker)])
                .header("x-auth-token", &self.token)
                .send()
                .await
                .expect("list");
            let body = r.bytes().await.expect("read a listing");
            let page: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
            if page.is_empty() {
                return out;
            }
            for e in &page {
                out.push((
                    e["name"].as_str().unwrap().to_owned(),
                    e["bytes"].as_u64().unwrap(),
                ));
            }
            marker = out.last().unwrap().0.clone();
        }
    }

    /// A request to an object, with extra headers.
    pub async fn object(
        &self,
        method: reqwest::Method,
        name: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let put = method == reqwest::Method::PUT;
        let mut req = self
            .http
            .request(
                method,
                format!("{}/{}/{name}", self.storage_url, self.container),
            )
            .header("x-auth-token", &self.token);
        if put {
            req = req.header("content-length", body.len().to_string());
        }
        req = req.body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("raw request")
    }
}
