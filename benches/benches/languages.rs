//! What a guest driver's language costs: the same in-memory driver design (bytes through the
//! guest's memory, no host-side streams) written in Rust, JavaScript, Python and C, as
//! `wharf new` generates it, side by side in one run. For each component: its size, the time to
//! compile it on first load (no cache; the median of three, printed), and criterion figures for a
//! cached component to a driver that has answered its first call, one call (stat of an empty
//! file), and the Stream1MB workload (a writer fed 1 MiB, commit, a reader opened and dropped;
//! on one path, replaced each time).
//!
//! `scripts/bench-languages` generates and builds the four projects and runs this with
//! `WHARF_BENCH_COMPONENTS=rust=…/x.wasm,js=…,python=…,c=…`. The Rust SDK's bundled
//! `guest-inmemory` is measured too, as the reference.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use wharf::wasm::{GuestRuntime, RuntimeOptions, SandboxPolicy, register_guest};
use wharf::{DriverRegistry, Params, StorageDriver};
use wharf_benches as w;

/// (label, component bytes): the bundled SDK guest and those `WHARF_BENCH_COMPONENTS` names.
fn components() -> Vec<(String, Vec<u8>)> {
    let mut all = vec![("rust-sdk".to_owned(), wharf::guests::INMEMORY_WASM.to_vec())];
    let listed = std::env::var("WHARF_BENCH_COMPONENTS").unwrap_or_default();
    for entry in listed.split(',').filter(|e| !e.trim().is_empty()) {
        let (label, path) = entry
            .split_once('=')
            .unwrap_or_else(|| panic!("WHARF_BENCH_COMPONENTS: {entry:?} is not LABEL=PATH"));
        let wasm = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        all.push((label.trim().to_owned(), wasm));
    }
    all
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let cached = GuestRuntime::global().expect("guest runtime");
    let uncached = GuestRuntime::new(RuntimeOptions {
        no_cache: true,
        ..RuntimeOptions::default()
    })
    .expect("guest runtime without a cache");
    let data = w::content(1 << 20);
    for (label, wasm) in components() {
        let mut compiles: Vec<Duration> = (0..3)
            .map(|_| {
                let started = Instant::now();
                rt.block_on(uncached.load_bytes(wasm.clone(), &label))
                    .expect("compile");
                started.elapsed()
            })
            .collect();
        compiles.sort();
        println!(
            "{label}: {} bytes, compiled on first load in {:.2?} (median of 3)",
            wasm.len(),
            compiles[1]
        );
        // Fills the cache for the start-up figure.
        let component = rt
            .block_on(cached.load_bytes(wasm.clone(), &label))
            .expect("load");
        let mut group = c.benchmark_group(format!("language/{label}"));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(5));
        group.bench_function("cached-component-to-ready-driver", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (runtime, wasm, label) = (cached.clone(), wasm.clone(), label.clone());
                async move {
                    let started = Instant::now();
                    for _ in 0..iters {
                        let component = runtime
                            .load_bytes(wasm.clone(), &label)
                            .await
                            .expect("load");
                        let driver = ready(component, "start").await;
                        driver.list("/").await.expect("first call");
                    }
                    started.elapsed()
                }
            })
        });
        let driver = rt.block_on(ready(component.clone(), "calls"));
        rt.block_on(driver.put_content("/empty", Bytes::new()))
            .expect("put");
        group.bench_function("stat-empty-file", |b| {
            b.to_async(&rt)
                .iter(|| async { driver.stat("/empty").await.expect("stat") })
        });
        // The Stream workload's steps on one path, each iteration replacing the last one's file,
        // on a fresh driver (a new namespace: a new instance, made and dropped untimed) every 64
        // iterations: an in-memory guest holds its files in its instance's memory, and
        // componentize-py's runtime keeps every dropped reader's object (and the content it
        // holds), so one instance would fill its memory within a second.
        let component = &component;
        group.bench_function("Stream1MB", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let data = data.clone();
                async move {
                    let mut took = Duration::ZERO;
                    let mut done = 0;
                    while done < iters {
                        let batch = (iters - done).min(64);
                        let driver = ready(component.clone(), &format!("stream-{done}")).await;
                        let started = Instant::now();
                        for _ in 0..batch {
                            let mut writer = driver.writer("/stream", false).await.expect("writer");
                            writer.write(data.clone()).await.expect("write");
                            writer.commit().await.expect("commit");
                            writer.close().await.expect("close");
                            drop(driver.reader("/stream", 0).await.expect("reader"));
                        }
                        took += started.elapsed();
                        done += batch;
                    }
                    took
                }
            })
        });
        group.finish();
    }
}

/// A driver of `component` under the default policy.
async fn ready(
    component: Arc<wharf::wasm::GuestComponent>,
    namespace: &str,
) -> Arc<dyn StorageDriver> {
    let mut registry = DriverRegistry::new();
    register_guest(&mut registry, "g", component, SandboxPolicy::default()).expect("register");
    let params = Params::from_pairs([("namespace", namespace)]);
    registry.create("g", params).await.expect("create")
}

criterion_group!(languages, bench);
criterion_main!(languages);
