//! What the azure tests share: the server they run against (from the environment that
//! `servers/azure-up.sh` writes), and fresh containers so that tests run independently and in
//! parallel.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wharf_driver_azure::{AzureDriver, Config};
use wharf_runtime::{DriverRegistry, Params, StorageDriver};

/// The server's endpoint, account name and key.
pub struct Server {
    pub service_url: String,
    pub account_name: String,
    pub account_key: String,
}

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: the azure tests need a running Azurite. Start it with \
             `servers/azure-up.sh`, then `. target/servers/azure.env` and run the tests again"
        ),
    }
}

/// The server from `WHARF_AZURE_SERVICEURL`, `WHARF_AZURE_ACCOUNTNAME` and
/// `WHARF_AZURE_ACCOUNTKEY`; panics (failing the test) when they are not set.
pub fn server() -> Server {
    Server {
        service_url: var("WHARF_AZURE_SERVICEURL"),
        account_name: var("WHARF_AZURE_ACCOUNTNAME"),
        account_key: var("WHARF_AZURE_ACCOUNTKEY"),
    }
}

/// A container name no other test (or earlier run) uses.
pub fn unique_container(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let random: u32 = rand::random();
    let mut name = format!("{label}-{}-{n}-{random:08x}", std::process::id());
    name.truncate(63);
    name.trim_end_matches('-').to_owned()
}

/// Parameters for `container` on the server, with `extra` added.
pub fn params(server: &Server, container: &str, extra: &[(&str, &str)]) -> Params {
    let mut p = Params::from_pairs([
        ("accountname", server.account_name.as_str()),
        ("accountkey", server.account_key.as_str()),
        ("container", container),
        ("serviceurl", server.service_url.as_str()),
    ]);
    for (k, v) in extra {
        p.insert(*k, *v);
    }
    p
}

/// Creates `container` on the server.
pub async fn create_container(server: &Server, container: &str) {
    let config = Config::from_params(params(server, container, &[])).expect("valid parameters");
    AzureDriver::new(config)
        .expect("create a driver")
        .create_container()
        .await
        .expect("create the test container");
}

/// A registry holding only the azure driver.
pub fn registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    wharf_driver_azure::register(&mut registry).expect("register the azure driver");
    registry
}

/// A driver (through the factory, behind the base layer) on a fresh container.
pub async fn fresh_driver(label: &str) -> (Arc<dyn StorageDriver>, Params) {
    let server = server();
    let container = unique_container(label);
    create_container(&server, &container).await;
    let params = params(&server, &container, &[]);
    let driver = registry()
        .create(wharf_driver_azure::NAME, params.clone())
        .await
        .expect("create the azure driver");
    (driver, params)
}

/// A request sent straight to the Blob service, signed here independently of the driver (to
/// set up what another registry would have written, and to look at what the driver wrote).
pub struct Raw<'a> {
    pub server: &'a Server,
    pub container: &'a str,
}

/// A raw answer: status, headers and body.
pub struct RawAnswer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

impl Raw<'_> {
    /// Sends `method` to `blob` (no query but `query`), with `headers` and `body`.
    pub async fn send(
        &self,
        method: &str,
        blob: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> RawAnswer {
        use base64::Engine as _;
        use hmac::Mac as _;
        let url = format!("{}/{}/{}", self.server.service_url, self.container, blob);
        let path = reqwest::Url::parse(&url).unwrap().path().to_owned();
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect();
        all.push((
            "x-ms-date".into(),
            httpdate::fmt_http_date(std::time::SystemTime::now()),
        ));
        all.push(("x-ms-version".into(), "2021-12-02".into()));
        let get = |name: &str| {
            all.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let length_header = body.len().to_string();
        let length = if body.is_empty() {
            String::new()
        } else {
            length_header.clone()
        };
        let mut to_sign = format!(
            "{method}\n\n\n{length}\n\n{}\n\n\n{}\n\n\n{}\n",
            get("content-type"),
            get("if-match"),
            get("range")
        );
        let mut ms: Vec<_> = all.iter().filter(|(k, _)| k.starts_with("x-ms-")).collect();
        ms.sort();
        for (k, v) in ms {
            to_sign.push_str(&format!("{k}:{v}\n"));
        }
        to_sign.push_str(&format!("/{}{path}", self.server.account_name));
        let mut q: Vec<_> = query.to_vec();
        q.sort();
        for (k, v) in &q {
            to_sign.push_str(&format!("\n{k}:{v}"));
        }
        let key = base64::engine::general_purpose::STANDARD
            .decode(&self.server.account_key)
            .unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(to_sign.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let client = reqwest::Client::new();
        let mut request = client
            .request(method.parse().unwrap(), &url)
            .query(query)
            .header(
                "authorization",
                format!("SharedKey {}:{signature}", self.server.account_name),
            )
            .body(body);
        for (k, v) in &all {
            request = request.header(k.as_str(), v.as_str());
        }
        if method == "PUT" {
            request = request.header("content-length", length_header);
        }
        let response = request.send().await.expect("send a raw request");
        RawAnswer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("read a raw answer"),
        }
    }
}
