//! Criterion benchmarks of what the component boundary costs: one operation on an empty file
//! through a guest versus the native driver over the same backend (the difference is the
//! per-call overhead), the time from a cached component to a ready driver, and the time to a
//! fresh instance (what replacing a faulted instance costs), and what a disk quota costs the
//! filesystem guest's writes.
//!
//! `cargo bench -p wharf-benches --bench guest` (per-call figures for the in-memory and the
//! filesystem drivers, native and guest; start-up figures for the in-memory guest).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use wharf::wasm::{DirGrant, GuestRuntime, SandboxPolicy, register_guest};
use wharf::{DriverRegistry, Params, StorageDriver, WithBuiltin};

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let registry = DriverRegistry::with_builtin();
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = |sub: &str| {
        let path = dir.path().join(sub);
        std::fs::create_dir(&path).expect("root directory");
        Params::from_pairs([("rootdirectory", path.to_string_lossy().into_owned())])
    };
    let targets = [
        ("inmemory", Params::new()),
        (wharf::guests::INMEMORY, Params::new()),
        ("filesystem", root("native")),
        (wharf::guests::FILESYSTEM, root("guest")),
    ];
    let drivers: Vec<(&str, Arc<dyn StorageDriver>)> = targets
        .into_iter()
        .map(|(name, params)| {
            (
                name,
                rt.block_on(registry.create(name, params)).expect("driver"),
            )
        })
        .collect();
    for (name, driver) in &drivers {
        rt.block_on(driver.put_content("/empty", Bytes::new()))
            .expect("put");
        let mut group = c.benchmark_group("per-call");
        group.bench_function(format!("{name}/stat-empty-file"), |b| {
            b.to_async(&rt)
                .iter(|| async { driver.stat("/empty").await.expect("stat") })
        });
        group.bench_function(format!("{name}/get-empty-file"), |b| {
            b.to_async(&rt)
                .iter(|| async { driver.get_content("/empty").await.expect("get") })
        });
        group.finish();
    }

    // What a disk quota costs: the filesystem guest with and without one on its directory (the
    // other bounds have no switch; docs/BENCHMARKS.md compares them with the commit before).
    let mut quota_registry = DriverRegistry::with_builtin();
    let quota_policy = SandboxPolicy {
        dirs: vec![DirGrant {
            host: dir.path().join("quota"),
            guest: "/data".into(),
            read_only: false,
            quota: Some(1 << 40),
        }],
        ..SandboxPolicy::default()
    };
    std::fs::create_dir(dir.path().join("quota")).expect("quota directory");
    let filesystem = rt
        .block_on(
            GuestRuntime::global()
                .expect("runtime")
                .load_bytes(wharf::guests::FILESYSTEM_WASM.to_vec(), "guest-filesystem"),
        )
        .expect("load the filesystem guest");
    register_guest(&mut quota_registry, "quota", filesystem, quota_policy).expect("register");
    let quota_driver = rt
        .block_on(quota_registry.create("quota", Params::from_pairs([("rootdirectory", "/data")])))
        .expect("driver with a quota");
    let unlimited = &drivers
        .iter()
        .find(|(name, _)| *name == wharf::guests::FILESYSTEM)
        .expect("the filesystem guest")
        .1;
    let kib = Bytes::from(vec![7u8; 1 << 10]);
    let mib = Bytes::from(vec![7u8; 1 << 20]);
    let mut group = c.benchmark_group("quota");
    for (label, driver) in [("no-quota", unlimited), ("quota", &quota_driver)] {
        group.bench_function(format!("guest-filesystem/{label}/put-1KiB"), |b| {
            b.to_async(&rt).iter(|| async {
                driver
                    .put_content("/q/kib", kib.clone())
                    .await
                    .expect("put")
            })
        });
        group.bench_function(format!("guest-filesystem/{label}/stream-1MiB"), |b| {
            b.to_async(&rt).iter(|| async {
                let mut w = driver.writer("/q/mib", false).await.expect("writer");
                w.write(mib.clone()).await.expect("write");
                w.commit().await.expect("commit");
            })
        });
    }
    group.finish();

    // From a component in the on-disk cache to a driver that has answered its first call: load
    // (cache hit: checksum + deserialize), describe, instantiate, create.
    let runtime = GuestRuntime::global().expect("guest runtime");
    let wasm = wharf::guests::INMEMORY_WASM.to_vec();
    rt.block_on(runtime.load_bytes(wasm.clone(), "warm-up"))
        .expect("first load fills the cache");
    let mut group = c.benchmark_group("startup");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("guest-inmemory/cached-component-to-ready-driver", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (runtime, wasm) = (runtime.clone(), wasm.clone());
            async move {
                let started = Instant::now();
                for _ in 0..iters {
                    let component = runtime
                        .load_bytes(wasm.clone(), "bench")
                        .await
                        .expect("load");
                    let mut registry = DriverRegistry::new();
                    register_guest(&mut registry, "g", component, SandboxPolicy::default())
                        .expect("register");
                    let driver = registry.create("g", Params::new()).await.expect("create");
                    driver.list("/").await.expect("first call");
                }
                started.elapsed()
            }
        })
    });
    // A fresh instance of an already loaded component (instantiate from the pre-linked
    // component + create): what replacing a faulted instance costs.
    let component = rt
        .block_on(runtime.load_bytes(wasm, "bench"))
        .expect("load");
    group.bench_function("guest-inmemory/fresh-instance", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let component = component.clone();
            async move {
                let mut registry = DriverRegistry::new();
                register_guest(&mut registry, "g", component, SandboxPolicy::default())
                    .expect("register");
                let started = Instant::now();
                for i in 0..iters {
                    // A stateful guest shares its instance per configuration: a new namespace
                    // forces a new instance.
                    let params = Params::from_pairs([("namespace", format!("n{i}"))]);
                    let driver = registry.create("g", params).await.expect("create");
                    drop(driver);
                }
                started.elapsed()
            }
        })
    });
    group.finish();
}

criterion_group!(guest, bench);
criterion_main!(guest);
