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
