//! What the rados tests share: the cluster they run against (from the environment that
//! `servers/rados-up.sh` writes), a fresh RADOS namespace per test so that tests run
//! independently and in parallel on one pool, and a look at the pool through the `rados`
//! command, independent of the driver.

#![allow(dead_code)]

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wharf_driver_rados::{Config, RadosDriver};
use wharf_runtime::{DriverRegistry, Params, StorageDriver};

/// The test cluster's ceph.conf and pool.
pub struct Cluster {
    pub conffile: String,
    pub pool: String,
}

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: the rados tests need a running Ceph cluster. Start it with \
             `servers/rados-up.sh`, then `. target/servers/rados.env` and run the tests again"
        ),
    }
}

/// The cluster from `WHARF_RADOS_CONFFILE` and `WHARF_RADOS_POOL`; panics (failing the test)
/// when they are not set.
pub fn cluster() -> Cluster {
    Cluster {
        conffile: var("WHARF_RADOS_CONFFILE"),
        pool: var("WHARF_RADOS_POOL"),
    }
}

/// A RADOS namespace no other test (or earlier run) uses.
pub fn unique_namespace(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let random: u32 = rand::random();
    format!("{label}-{}-{n}-{random:08x}", std::process::id())
}

/// Parameters for `namespace` in the test pool, with `extra` added.
pub fn params(cluster: &Cluster, namespace: &str, extra: &[(&str, &str)]) -> Params {
    let mut p = Params::from_pairs([
        ("poolname", cluster.pool.as_str()),
        ("conffile", cluster.conffile.as_str()),
        ("namespace", namespace),
    ]);
    for (k, v) in extra {
        p.insert(*k, *v);
    }
    p
}

/// A registry holding only the rados driver.
pub fn registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    wharf_driver_rados::register(&mut registry).expect("register the rados driver");
    registry
}

/// A driver (through the factory, behind the base layer) on a fresh namespace, with its
/// parameters and the namespace.
pub async fn fresh_driver(
    label: &str,
    extra: &[(&str, &str)],
) -> (Arc<dyn StorageDriver>, Params, String) {
    let cluster = cluster();
    let namespace = unique_namespace(label);
    let params = params(&cluster, &namespace, extra);
    let driver = registry()
        .create(wharf_driver_rados::NAME, params.clone())
        .await
        .expect("create the rados driver");
    (driver, params, namespace)
}

/// A driver without the base layer, to read its request counters.
pub async fn raw_driver(params: Params) -> RadosDriver {
    let config = Config::from_params(params).expect("valid parameters");
    RadosDriver::connect(config)
        .await
        .expect("connect to the cluster")
}

/// The objects in `namespace` of the test pool, sorted, as the `rados` command lists them.
pub fn objects(namespace: &str) -> Vec<String> {
    let cluster = cluster();
    let out = Command::new("timeout")
        .args(["60", "rados", "--conf", &cluster.conffile])
        .args(["-p", &cluster.pool, "-N", namespace, "ls"])
        .output()
        .expect("run `rados ls` (is ceph-common installed?)");
    assert!(
        out.status.success(),
        "rados ls failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// The data objects in `namespace`.
pub fn data_objects(namespace: &str) -> Vec<String> {
    objects(namespace)
        .into_iter()
        .filter(|o| o.starts_with("wharf.data."))
        .collect()
}
