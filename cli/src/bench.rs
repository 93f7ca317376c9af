//! `wharf bench`: the reference registry's standard workloads (`wharf_benches::Workload`) on any
//! driver or component, on storage made as `wharf check` makes it (fresh where Wharf can make
//! it, otherwise the storage the parameters name, which must be empty). For each workload: the
//! median time of an operation over several samples, MB/s where the workload carries bytes, the
//! HTTP requests an operation sent (every attempt, for the network drivers and guests), the CPU
//! time this process spent per operation (the client's side: a guest's sandbox included, a
//! server in another process not), and with `--against` the same for another driver measured in the same run, and the ratio of the two
//! medians. Then the process's peak resident memory.
//!
//! `--scenarios` measures, in place of those, the scenarios of docs/BENCHMARKS.md's tables
//! against the reference's cloud drivers (`Workload::scenarios`).
//!
//! A sample runs as many operations as fit in a target time (calibrated on one operation) and
//! write at most 64 MiB, so fast drivers are measured on many operations and slow ones on a few;
//! the 1 GiB workloads (`--large`) run one operation per sample.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use wharf::{DriverRegistry, StorageDriver, WithBuiltin};
use wharf_benches::Workload;

use crate::guest::SandboxArgs;
use crate::progress;
use crate::storage::{self, Storage};
use crate::target::parse_param;

/// Arguments of `wharf bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The driver (see `wharf drivers`) or the component (`.wasm`) to measure.
    pub driver: String,
    /// A parameter of the driver, `key=value` (repeatable).
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Also measure this driver or component in the same run, and give the ratio to it.
    #[arg(long, value_name = "DRIVER")]
    pub against: Option<String>,
    /// A parameter of the --against driver, `key=value` (repeatable).
    #[arg(long = "against-param", short = 'P', value_name = "KEY=VALUE", value_parser = parse_param, requires = "against")]
    pub against_params: Vec<(String, String)>,
    /// Fewer, shorter samples: a first look, not figures to record.
    #[arg(long)]
    pub quick: bool,
    /// Also the 1 GiB workloads (PutGet1GBFiles, Stream1GBFiles).
    #[arg(long, conflicts_with = "scenarios")]
    pub large: bool,
    /// In place of the standard workloads, the scenarios of the tables against the reference
    /// (stat of a file and of a directory, list of 1 000 files, walk of 10 000, delete of a
    /// tree of 1 000, a 1 GiB upload resumed twice, move of a 1 GiB file, 1 GiB upload and
    /// download); with --quick, scaled down (16 MiB files, a tenth of the files).
    #[arg(long)]
    pub scenarios: bool,
    /// Only these workloads (names as in the table, comma-separated).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// How long and how often to sample.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Samples per workload.
    samples: usize,
    /// The time one sample aims at.
    sample_time: Duration,
    /// The most operations in one sample.
    max_iters: u64,
}

/// The most bytes the operations of one sample write: files pile up until the sample ends, and
/// an in-memory guest holds them all within its sandbox's memory limit (256 MiB by default).
const SAMPLE_BYTES: u64 = 64 << 20;

impl Plan {
    fn new(quick: bool, workload: Workload) -> Self {
        let plan = match (quick, workload.is_large()) {
            (true, true) => Plan {
                samples: 1,
                sample_time: Duration::ZERO,
                max_iters: 1,
            },
            (false, true) => Plan {
                samples: 3,
                sample_time: Duration::ZERO,
                max_iters: 1,
            },
            (true, false) => Plan {
                samples: 5,
                sample_time: Duration::from_millis(50),
                max_iters: 1_000,
            },
            (false, false) => Plan {
                samples: 15,
                sample_time: Duration::from_millis(300),
                max_iters: 10_000,
            },
        };
        let max_iters = match workload.bytes() {
            Some(bytes) if bytes > 0 => plan.max_iters.min((SAMPLE_BYTES / bytes).max(1)),
            _ => plan.max_iters,
        };
        Plan { max_iters, ..plan }
    }
}

/// What one driver did on one workload.
#[derive(Debug, Clone, Copy)]
struct Measured {
    /// The median time of one operation over the samples.
    median: Duration,
    /// Operations measured in all (the warm-up and calibration left out).
    ops: u64,
    /// HTTP requests per operation, averaged over every operation run.
    requests_per_op: f64,
    /// This process's CPU time per operation, averaged over every operation run.
    cpu_per_op: Duration,
}

impl Measured {
    fn mb_per_s(&self, workload: Workload) -> Option<f64> {
        let bytes = workload.bytes().filter(|b| *b > 0)?;
        let secs = self.median.as_secs_f64();
        (secs > 0.0).then(|| bytes as f64 / secs / 1e6)
    }

    fn to_json(self, workload: Workload) -> serde_json::Value {
        json!({
            "median_ns": self.median.as_nanos() as u64,
            "mb_per_s": self.mb_per_s(workload),
            "requests_per_op": self.requests_per_op,
            "cpu_ns_per_op": self.cpu_per_op.as_nanos() as u64,
            "operations": self.ops,
        })
    }
}

/// Runs `workload` on `driver` as `plan` says.
async fn measure(
    driver: &dyn StorageDriver,
    workload: Workload,
    plan: Plan,
) -> anyhow::Result<Measured> {
    let data = workload.content();
    let run = |iters: u64| {
        let data = &data;
        async move {
            workload
                .run(driver, data, iters)
                .await
                .with_context(|| format!("{} failed", workload.name()))
        }
    };
    // One operation warms caches and connections (and pays for a first token); a second tells
    // how many fit in a sample. Neither counts in the figures.
    if plan.sample_time > Duration::ZERO {
        run(1).await?;
    }
    let second = if plan.sample_time > Duration::ZERO {
        run(1).await?.took
    } else {
        Duration::ZERO
    };
    let iters = if second.is_zero() {
        plan.max_iters
    } else {
        (plan.sample_time.as_secs_f64() / second.as_secs_f64()) as u64
    }
    .clamp(1, plan.max_iters);
    let (mut ops, mut requests, mut cpu) = (0u64, 0u64, Duration::ZERO);
    let mut per_op = Vec::with_capacity(plan.samples);
    for _ in 0..plan.samples {
        let sample = run(iters).await?;
        per_op.push(sample.took / iters as u32);
        ops += iters;
        requests += sample.requests;
        cpu += sample.cpu;
    }
    per_op.sort();
    Ok(Measured {
        median: per_op[per_op.len() / 2],
        ops,
        requests_per_op: requests as f64 / ops as f64,
        cpu_per_op: cpu / ops as u32,
    })
}

/// One driver to measure: its storage and the driver made on it.
struct Target {
    label: String,
    driver: std::sync::Arc<dyn StorageDriver>,
    /// True when the storage is the one the parameters name (not made for this run).
    shared: bool,
    /// Temporary directories the driver works in, kept until the end.
    _guards: Vec<tempfile::TempDir>,
}

async fn target(
    registry: &DriverRegistry,
    name: &str,
    params: &[(String, String)],
    sandbox: &SandboxArgs,
) -> anyhow::Result<Target> {
    let storage: Storage = storage::open(registry, name, params, sandbox).await?;
    let (registry, params, guards) = storage.for_check()?;
    let driver = registry
        .create(&storage.name, params)
        .await
        .with_context(|| format!("cannot create the driver {name}"))?;
    // A component's label is its file's name, not its whole path.
    let label = if crate::guest::is_component_path(name) {
        std::path::Path::new(name)
            .file_name()
            .map_or_else(|| name.to_owned(), |f| f.to_string_lossy().into_owned())
    } else {
        name.to_owned()
    };
    Ok(Target {
        label,
        driver,
        shared: storage.shared,
        _guards: guards,
    })
}

/// Waits (at most 30 s) until no HTTP request has left for a second: background work a driver
/// starts when it is created (swift sweeps stale uploads) would otherwise count in the first
/// workload's requests.
async fn settle() {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = wharf::network::requests_sent();
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = wharf::network::requests_sent();
        if now == seen {
            return;
        }
        seen = now;
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let registry = DriverRegistry::with_builtin();
    let mut targets = vec![target(&registry, &args.driver, &args.params, &args.sandbox).await?];
    if let Some(against) = &args.against {
        targets.push(target(&registry, against, &args.against_params, &args.sandbox).await?);
    }
    if wharf::network::requests_sent() > 0 {
        settle().await;
    }
    let workloads = workloads(&args)?;
    let bar = progress::checks((workloads.len() * targets.len()) as u64);
    let mut rows: Vec<(Workload, Vec<Measured>)> = Vec::new();
    for workload in &workloads {
        let mut measured = Vec::new();
        // One driver after the other on each workload, so that both meet the machine in the
        // same state as far as can be.
        for target in &targets {
            bar.set_message(format!("{}: {}", target.label, workload.name()));
            let plan = Plan::new(args.quick, *workload);
            match measure(target.driver.as_ref(), *workload, plan).await {
                Ok(m) => measured.push(m),
                Err(e) => {
                    bar.finish_and_clear();
                    // Leave storage the parameters named as it was found: empty.
                    if target.shared {
                        storage::clear(target.driver.as_ref()).await;
                    }
                    return Err(e.context(target.label.clone()));
                }
            }
            bar.inc(1);
        }
        rows.push((*workload, measured));
    }
    bar.finish_and_clear();
    let peak = peak_rss();
    if args.json {
        println!("{}", report_json(&args, &targets, &rows, peak));
    } else {
        print!("{}", report_table(&targets, &rows, peak));
    }
    Ok(ExitCode::SUCCESS)
}

/// The workloads `args` ask for: the standard ones or the scenarios, as `--only` narrows them.
fn workloads(args: &BenchArgs) -> anyhow::Result<Vec<Workload>> {
    let all = if args.scenarios {
        Workload::scenarios(args.quick)
    } else {
        Workload::standard(args.large)
    };
    if args.only.is_empty() {
        return Ok(all);
    }
    let names: Vec<String> = all.iter().map(Workload::name).collect();
    if let Some(unknown) = args.only.iter().find(|n| !names.contains(n)) {
        anyhow::bail!(
            "--only names {unknown:?}, which is none of these workloads: {} (the names depend \
             on --scenarios, --quick and --large)",
            names.join(", ")
        );
    }
    Ok(all
        .into_iter()
        .filter(|w| args.only.contains(&w.name()))
        .collect())
}

fn report_json(
    args: &BenchArgs,
    targets: &[Target],
    rows: &[(Workload, Vec<Measured>)],
    peak: Option<u64>,
) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|(workload, measured)| {
            let mut row = json!({
                "workload": workload.name(),
                "bytes": workload.bytes(),
                "driver": measured[0].to_json(*workload),
            });
            if let Some(other) = measured.get(1) {
                row["against"] = other.to_json(*workload);
                row["ratio"] = json!(ratio(&measured[0], other));
            }
            row
        })
        .collect();
    json!({
        "driver": targets[0].label,
        "against": targets.get(1).map(|t| t.label.clone()),
        "quick": args.quick,
        "workloads": rows,
        "peak_rss_bytes": peak,
    })
}

/// The first driver's median over the second's: below 1, the first is faster.
fn ratio(first: &Measured, second: &Measured) -> Option<f64> {
    let below = second.median.as_secs_f64();
    (below > 0.0).then(|| first.median.as_secs_f64() / below)
}

/// The width of the workloads' names (`ResumedUpload16MBFile2Times`).
const NAME: usize = 27;

/// The width of one driver's columns: median, MB/s, requests and CPU per operation.
const GROUP: usize = 12 + 1 + 9 + 1 + 7 + 1 + 11;

fn report_table(
    targets: &[Target],
    rows: &[(Workload, Vec<Measured>)],
    peak: Option<u64>,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    // Two header lines: each driver's name over its four columns, then the columns' names.
    let _ = write!(out, "{:<NAME$}", "");
    for target in targets {
        let mut label = target.label.clone();
        if label.chars().count() > GROUP {
            label = label.chars().take(GROUP - 1).collect::<String>() + "…";
        }
        let _ = write!(out, " | {label:^GROUP$}");
    }
    let _ = writeln!(out);
    let _ = write!(out, "{:<NAME$}", "workload");
    for _ in targets {
        let _ = write!(
            out,
            " | {:>12} {:>9} {:>7} {:>11}",
            "median", "MB/s", "req/op", "cpu/op"
        );
    }
    if targets.len() > 1 {
        let _ = write!(out, " | {:>6}", "ratio");
    }
    let _ = writeln!(out);
    for (workload, measured) in rows {
        let _ = write!(out, "{:<NAME$}", workload.name());
        for m in measured {
            let mbps = m
                .mb_per_s(*workload)
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
            let _ = write!(
                out,
                " | {:>12} {:>9} {:>7.1} {:>11}",
                format!("{:.2?}", m.median),
                mbps,
                m.requests_per_op,
                format!("{:.2?}", m.cpu_per_op)
            );
        }
        if let [first, second] = measured.as_slice() {
            let shown = ratio(first, second).map_or_else(|| "-".to_owned(), |r| format!("{r:.2}×"));
            let _ = write!(out, " | {shown:>6}");
        }
        let _ = writeln!(out);
    }
    if targets.len() > 1 {
        let _ = writeln!(
            out,
            "ratio: {}'s median over {}'s (below 1: {} is faster)",
            targets[0].label, targets[1].label, targets[0].label
        );
    }
    let what = if targets.len() > 1 {
        "peak RSS of the run (both drivers, and the content written)"
    } else {
        "peak RSS of the run (the driver, and the content written)"
    };
    match peak {
        Some(bytes) => {
            let _ = writeln!(out, "{what}: {:.1} MiB", bytes as f64 / (1 << 20) as f64);
        }
        None => {
            let _ = writeln!(out, "{what}: unknown (no /proc/self/status)");
        }
    }
    out
}

/// The process's peak resident memory (`VmHWM`), where the system tells it.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
