//! Criterion benchmarks of the 12 standard workloads on the native inmemory and filesystem
//! drivers and on the bundled guest drivers over the same backends (filesystem ones under a
//! temporary directory on the same disk as the work tree), so guest/native ratios come from one
//! run.
//!
//! `cargo bench -p wharf-benches --bench workloads` runs them all; pass a filter such as
//! `-- filesystem/List` for a subset. `WHARF_BENCH_TARGETS=inmemory,guest-inmemory` limits the
//! drivers, `WHARF_BENCH_1GB=0` leaves out the 1 GiB cases.
//!
//! The cloud drivers join when their test server's environment is set (`servers/up.sh`, then
//! `. target/servers/env`): `s3` and `guest-s3` on moto (`s3-s3s` and `guest-s3-s3s`: the same on
//! s3s-fs), `azure` on Azurite, `swift` on a single-node Swift,
//! `rados` on the single-node Ceph, each on a bucket, container or RADOS namespace of its own
//! made for the run, and `gcs` on fake-gcs-server under a fresh `rootdirectory` of the bucket
//! `WHARF_GCS_CHECK_BUCKET`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use wharf::{DriverRegistry, Params, StorageDriver, WithBuiltin};
use wharf_benches as w;

const GIB: u64 = 1 << 30;

struct Target {
    name: &'static str,
    driver: Arc<dyn StorageDriver>,
    _dir: Option<tempfile::TempDir>,
}

fn targets(rt: &Runtime) -> Vec<Target> {
    let registry = DriverRegistry::with_builtin();
    let wanted = std::env::var("WHARF_BENCH_TARGETS").ok();
    let wanted = |name: &str| {
        wanted
            .as_deref()
            .is_none_or(|w| w.split(',').any(|x| x.trim() == name))
    };
    let all: [(&'static str, bool); 5] = [
        ("inmemory", false),
        ("filesystem", true),
        (wharf::guests::INMEMORY, false),
        (wharf::guests::FILESYSTEM, true),
        (wharf::guests::JS_INMEMORY, false),
    ];
    let mut targets: Vec<Target> = all
        .into_iter()
        .filter(|(name, _)| wanted(name))
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
        .collect();
    for (name, driver_name, params) in rt.block_on(cloud_params()) {
        if wanted(name) {
            let driver = rt
                .block_on(registry.create(driver_name, params))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            targets.push(Target {
                name,
                driver,
                _dir: None,
            });
        }
    }
    targets
}

/// Parameters of the cloud drivers whose test servers are running (their environment set), each
/// on a bucket, container or namespace made for this run: the target's name, the driver's, and
/// its parameters. The S3 servers serve the native `s3` driver and the `guest-s3` guest alike
/// (`s3`/`guest-s3` on moto, `s3-s3s`/`guest-s3-s3s` on s3s-fs).
async fn cloud_params() -> Vec<(&'static str, &'static str, Params)> {
    let mut out = Vec::new();
    let run = format!("wharf-bench-{}", std::process::id());
    let s3_servers = [
        (
            std::env::var("WHARF_S3_ENDPOINT").ok(),
            // moto checks no signature; any key pair serves.
            ("wharf-bench".to_owned(), "wharf-bench".to_owned()),
            ["s3", "guest-s3"],
        ),
        (
            std::env::var("WHARF_S3S_ENDPOINT").ok(),
            (
                std::env::var("WHARF_S3S_ACCESS_KEY").unwrap_or_default(),
                std::env::var("WHARF_S3S_SECRET_KEY").unwrap_or_default(),
            ),
            ["s3-s3s", "guest-s3-s3s"],
        ),
    ];
    for (endpoint, (access, secret), names) in s3_servers {
        let Some(endpoint) = endpoint else { continue };
        use wharf::drivers::s3::{Config, S3Driver};
        let config = Config::for_endpoint(&endpoint, &run, &access, &secret);
        let client = S3Driver::new(config).await.expect("an S3 client");
        client
            .sdk_client()
            .create_bucket()
            .bucket(&run)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {run} at {endpoint}: {e:?}"));
        let pairs = |root: &str| {
            Params::from_pairs([
                ("bucket", run.as_str()),
                ("regionendpoint", endpoint.as_str()),
                ("forcepathstyle", "true"),
                ("region", "us-east-1"),
                ("accesskey", access.as_str()),
                ("secretkey", secret.as_str()),
                ("rootdirectory", root),
            ])
        };
        out.push((names[0], "s3", pairs("/s3")));
        out.push((names[1], wharf::guests::S3, pairs("/guest-s3")));
    }
    if let (Ok(url), Ok(account), Ok(key)) = (
        std::env::var("WHARF_AZURE_SERVICEURL"),
        std::env::var("WHARF_AZURE_ACCOUNTNAME"),
        std::env::var("WHARF_AZURE_ACCOUNTKEY"),
    ) {
        use wharf::drivers::azure::{AzureDriver, Config};
        let params = Params::from_pairs([
            ("accountname", account.as_str()),
            ("accountkey", key.as_str()),
            ("container", run.as_str()),
            ("serviceurl", url.as_str()),
        ]);
        let config = Config::from_params(params.clone()).expect("azure parameters");
        AzureDriver::new(config)
            .expect("an azure client")
            .create_container()
            .await
            .expect("create the benchmark container");
        out.push(("azure", "azure", params));
    }
    if let (Ok(endpoint), Ok(bucket)) = (
        std::env::var("WHARF_GCS_ENDPOINT"),
        std::env::var("WHARF_GCS_CHECK_BUCKET"),
    ) {
        // fake-gcs-server takes requests without credentials.
        let params = Params::from_pairs([
            ("bucket", bucket.as_str()),
            ("endpoint", endpoint.as_str()),
            ("anonymous", "true"),
            ("rootdirectory", run.as_str()),
        ]);
        out.push(("gcs", "gcs", params));
    }
    if let (Ok(authurl), Ok(username), Ok(password)) = (
        std::env::var("WHARF_SWIFT_AUTHURL"),
        std::env::var("WHARF_SWIFT_USERNAME"),
        std::env::var("WHARF_SWIFT_PASSWORD"),
    ) {
        // The driver creates its container when it is missing.
        let params = Params::from_pairs([
            ("authurl", authurl.as_str()),
            ("username", username.as_str()),
            ("password", password.as_str()),
            ("container", run.as_str()),
        ]);
        out.push(("swift", "swift", params));
    }
    if let (Ok(conffile), Ok(pool)) = (
        std::env::var("WHARF_RADOS_CONFFILE"),
        std::env::var("WHARF_RADOS_POOL"),
    ) {
        // A namespace needs no creating: it exists as soon as an object is written in it.
        out.push((
            "rados",
            "rados",
            Params::from_pairs([
                ("poolname", pool.as_str()),
                ("conffile", conffile.as_str()),
                ("namespace", run.as_str()),
            ]),
        ));
    }
    out
}

fn with_1gb() -> bool {
    std::env::var("WHARF_BENCH_1GB").map_or(true, |v| v != "0")
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let workloads = w::Workload::standard(with_1gb());
    for target in targets(&rt) {
        let driver = target.driver.as_ref();
        for workload in &workloads {
            let data = workload.content();
            let mut group = c.benchmark_group(format!("{}/{}", target.name, workload.group()));
            configure(&mut group, workload.bytes());
            group.bench_function(BenchmarkId::from_parameter(workload.label()), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let data = data.clone();
                    async move {
                        workload
                            .run(driver, &data, iters)
                            .await
                            .unwrap_or_else(|e| panic!("{}: {e}", workload.name()))
                            .took
                    }
                })
            });
            group.finish();
        }
    }
}

fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    bytes: Option<u64>,
) {
    let size = bytes.unwrap_or(0);
    if size > 0 {
        // Per operation of `size` bytes, as the reference's MB/s figures are counted.
        group.throughput(Throughput::Bytes(size));
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
