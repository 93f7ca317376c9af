//! Criterion benchmarks of what the component boundary costs: one operation on an empty file
//! through a guest versus the native driver over the same backend (the difference is the
//! per-call overhead), the time from a cached component to a ready driver, and the time to a
//! fresh instance (what replacing a faulted instance costs), and what a disk quota costs the
//! filesystem guest's writes.
//!
//! `cargo bench -p wharf-benches --bench guest` (per-call figures for the in-memory and the
//! filesystem drivers, native and guest; start-up figures for the in-memory guest; compiling
//! and cached loading of every bundled guest).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use wharf::wasm::{DirGrant, GuestRuntime, RuntimeOptions, SandboxPolicy, register_guest};
use wharf::{DriverRegistry, Params, RedirectMethod, StorageDriver, WithBuiltin};

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

    // Replacing a faulted instance: the hostile guest traps on `get_content("/hostile")`, the
    // host discards its instance, and the next call (`redirect_url` of `/whoami`, which names
    // the instance) runs on a fresh one: instantiate from the pre-linked component, `create`
    // with the driver's parameters, the call — or, from the second fault on, the standby
    // instance the pool made after the fault before. Next to it, the same call on a live
    // instance.
    let dir_hostile = tempfile::tempdir().expect("the hostile guest's directory");
    let hostile = rt
        .block_on(runtime.load_bytes(wharf_guest_artifacts::HOSTILE.to_vec(), "hostile"))
        .expect("load the hostile guest");
    let mut hostile_registry = DriverRegistry::new();
    let policy = SandboxPolicy {
        instances: 1,
        dirs: vec![DirGrant {
            host: dir_hostile.path().to_owned(),
            guest: "/data".into(),
            read_only: false,
            quota: None,
        }],
        restart_budget: u32::MAX,
        restart_window: Duration::from_secs(1),
        ..SandboxPolicy::default()
    };
    register_guest(&mut hostile_registry, "hostile", hostile, policy).expect("register");
    let hostile = rt
        .block_on(hostile_registry.create("hostile", Params::from_pairs([("mode", "panic")])))
        .expect("create the hostile driver");
    let whoami = || async {
        hostile
            .redirect_url(RedirectMethod::Get, "/whoami", Duration::from_secs(60))
            .await
            .expect("whoami")
            .expect("an instance id")
    };
    group.bench_function("guest-hostile/call", |b| b.to_async(&rt).iter(whoami));
    group.bench_function("guest-hostile/fault-and-replace", |b| {
        b.to_async(&rt).iter(|| async {
            let faulted = hostile.get_content("/hostile").await;
            assert!(faulted.is_err(), "the hostile guest did not fault");
            whoami().await
        })
    });
    // The same, timing only the call after the fault: faults back to back, each one's standby
    // is still in the making when the next comes, so this call starts an instance itself.
    group.bench_function("guest-hostile/call-after-fault", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let whoami = &whoami;
            let hostile = &hostile;
            async move {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let faulted = hostile.get_content("/hostile").await;
                    assert!(faulted.is_err(), "the hostile guest did not fault");
                    let started = Instant::now();
                    whoami().await;
                    spent += started.elapsed();
                }
                spent
            }
        })
    });
    group.finish();

    // Isolated faults: a millisecond (untimed) before each, time for the pool to make its
    // standby; then the fault, which swaps the standby in, and the next call, timed together.
    let mut group = c.benchmark_group("startup-isolated");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    group.bench_function("guest-hostile/fault-and-replace", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let whoami = &whoami;
            let hostile = &hostile;
            async move {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    let started = Instant::now();
                    let faulted = hostile.get_content("/hostile").await;
                    assert!(faulted.is_err(), "the hostile guest did not fault");
                    whoami().await;
                    spent += started.elapsed();
                }
                spent
            }
        })
    });
    // The call after an isolated fault alone: what replacing the instance costs its next caller
    // when the standby is ready (its first call touches the fresh instance's pages).
    group.bench_function("guest-hostile/call-after-fault", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let whoami = &whoami;
            let hostile = &hostile;
            async move {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    let faulted = hostile.get_content("/hostile").await;
                    assert!(faulted.is_err(), "the hostile guest did not fault");
                    let started = Instant::now();
                    whoami().await;
                    spent += started.elapsed();
                }
                spent
            }
        })
    });
    group.finish();

    // Per bundled guest: compiling it (its first load on a machine, or after an upgrade of
    // wasmtime) and loading it from the on-disk cache (every later start of the process).
    let compiling = GuestRuntime::new(RuntimeOptions {
        no_cache: true,
        ..RuntimeOptions::default()
    })
    .expect("a runtime without cache");
    let cache_dir = tempfile::tempdir().expect("cache directory");
    let cached = GuestRuntime::new(RuntimeOptions {
        cache_dir: Some(cache_dir.path().to_owned()),
        ..RuntimeOptions::default()
    })
    .expect("a runtime with a cache");
    let bundled = [
        (wharf::guests::INMEMORY, wharf::guests::INMEMORY_WASM),
        (wharf::guests::FILESYSTEM, wharf::guests::FILESYSTEM_WASM),
        (wharf::guests::S3, wharf::guests::S3_WASM),
        (wharf::guests::JS_INMEMORY, wharf::guests::JS_INMEMORY_WASM),
    ];
    let mut group = c.benchmark_group("load");
    // A compile takes up to seconds: ten samples of one load each.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(1));
    for (name, wasm) in bundled {
        rt.block_on(cached.load_bytes(wasm.to_vec(), name))
            .expect("the first load fills the cache");
        for (how, runtime) in [("compile", &compiling), ("cached", &cached)] {
            group.bench_function(format!("{name}/{how}"), |b| {
                b.to_async(&rt)
                    .iter(|| async { runtime.load_bytes(wasm.to_vec(), name).await.expect("load") })
            });
        }
    }
    group.finish();
}

criterion_group!(guest, bench);
criterion_main!(guest);
