//! Criterion benchmarks of the 12 standard workloads on the native inmemory and filesystem
//! drivers and on the bundled guest drivers over the same backends (filesystem ones under a
//! temporary directory on the same disk as the work tree), so guest/native ratios come from one
//! run.
//!
//! `cargo bench -p wharf-benches --bench workloads` runs them all; pass a filter such as
//! `-- filesystem/List` for a subset. `WHARF_BENCH_TARGETS=inmemory,guest-inmemory` limits the
//! drivers, `WHARF_BENCH_1GB=0` leaves out the 1 GiB cases.
//!
//! Cloud drivers join when their test server's environment is loaded and they are named in
//! `WHARF_BENCH_TARGETS`: `gcs` with `servers/gcs-up.sh` and `. target/servers/gcs.env` (the
//! bucket `WHARF_GCS_CHECK_BUCKET` on `WHARF_GCS_ENDPOINT`, under a fresh `rootdirectory`).

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use wharf::{DriverRegistry, Params, StorageDriver, WithBuiltin};
use wharf_benches as w;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

struct Target {
    name: &'static str,
    driver: Arc<dyn StorageDriver>,
    _dir: Option<tempfile::TempDir>,
}

fn targets(rt: &Runtime) -> Vec<Target> {
    let registry = DriverRegistry::with_builtin();
    let wanted = std::env::var("WHARF_BENCH_TARGETS").ok();
    let all: [(&'static str, bool); 5] = [
        ("inmemory", false),
        ("filesystem", true),
        (wharf::guests::INMEMORY, false),
        (wharf::guests::FILESYSTEM, true),
        (wharf::guests::JS_INMEMORY, false),
    ];
    all.into_iter()
        .filter(|(name, _)| {
            wanted
                .as_deref()
                .is_none_or(|w| w.split(',').any(|x| x.trim() == *name))
        })
        .map(|(name, on_disk)| {
            let dir = on_disk.then(|| {
                tempfile::Builder::new()
                    .prefix("wharf-bench-")
                    .tempdir_in(
                        std::env::var_os("WHARF_BENCH_DIR")
                            .unwrap_or_else(|| std::env::temp_dir().into()),
                    )
                    .expect("temporary directory for the filesystem benchmarks")
            });
            let params = match &dir {
                Some(d) => {
                    Params::from_pairs([("rootdirectory", d.path().to_string_lossy().into_owned())])
                }
                None => Params::new(),
            };
            let driver = rt
                .block_on(registry.create(name, params))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            Target {
                name,
                driver,
                _dir: dir,
            }
        })
        .chain(cloud_targets(rt, &registry, wanted.as_deref()))
        .collect()
}

/// The cloud drivers asked for by name whose test server's environment is set.
fn cloud_targets(rt: &Runtime, registry: &DriverRegistry, wanted: Option<&str>) -> Vec<Target> {
    let named = |name: &str| wanted.is_some_and(|w| w.split(',').any(|x| x.trim() == name));
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut targets = Vec::new();
    if named("gcs") {
        let (Some(endpoint), Some(bucket)) =
            (env("WHARF_GCS_ENDPOINT"), env("WHARF_GCS_CHECK_BUCKET"))
        else {
            panic!("gcs: load the test server's environment first (. target/servers/gcs.env)");
        };
        let params = Params::from_pairs([
            ("bucket", bucket),
            ("endpoint", endpoint),
            ("anonymous", "true".to_owned()),
            (
                "rootdirectory",
                format!("bench-{:08x}", rand::random::<u32>()),
            ),
        ]);
        let driver = rt
            .block_on(registry.create("gcs", params))
            .unwrap_or_else(|e| panic!("gcs: {e}"));
        targets.push(Target {
            name: "gcs",
            driver,
            _dir: None,
        });
    }
    targets
}

fn with_1gb() -> bool {
    std::env::var("WHARF_BENCH_1GB").map_or(true, |v| v != "0")
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let sizes: Vec<(&str, usize)> = {
        let mut s = vec![("Empty", 0), ("1KB", KIB), ("1MB", MIB)];
        if with_1gb() {
            s.push(("1GB", GIB));
        }
        s
    };
    for target in targets(&rt) {
        let driver = target.driver.as_ref();
        for (label, size) in &sizes {
            let data = w::content(*size);
            let mut group = c.benchmark_group(format!("{}/PutGet", target.name));
            configure(&mut group, *size);
            group.bench_function(BenchmarkId::from_parameter(format!("{label}Files")), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let data = data.clone();
                    async move {
                        w::put_get(driver, &data, iters)
                            .await
                            .expect("PutGet workload")
                    }
                })
            });
            group.finish();
            let mut group = c.benchmark_group(format!("{}/Stream", target.name));
            configure(&mut group, *size);
            group.bench_function(BenchmarkId::from_parameter(format!("{label}Files")), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let data = data.clone();
                    async move {
                        w::stream(driver, &data, iters)
                            .await
                            .expect("Stream workload")
                    }
                })
            });
            group.finish();
        }
        for files in [5usize, 50] {
            let mut group = c.benchmark_group(format!("{}/List", target.name));
            group.bench_function(BenchmarkId::from_parameter(format!("{files}Files")), |b| {
                b.to_async(&rt).iter_custom(|iters| async move {
                    w::list(driver, files, iters).await.expect("List workload")
                })
            });
            group.finish();
            let mut group = c.benchmark_group(format!("{}/Delete", target.name));
            group.bench_function(BenchmarkId::from_parameter(format!("{files}Files")), |b| {
                b.to_async(&rt).iter_custom(|iters| async move {
                    w::delete(driver, files, iters)
                        .await
                        .expect("Delete workload")
                })
            });
            group.finish();
        }
    }
}

fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
) {
    if size > 0 {
        // Per operation of `size` bytes, as the reference's MB/s figures are counted.
        group.throughput(Throughput::Bytes(size as u64));
    }
    if size >= GIB {
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(30));
    }
}

criterion_group! {
    name = workloads;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(workloads);
