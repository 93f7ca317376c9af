//! `wharf bench`, as an operator or a driver author runs it: the standard workloads on a driver,
//! on a component file and on a network driver (whose requests per operation it counts), a
//! second driver measured in the same run with `--against`, JSON for scripts, and storage that
//! holds data refused.

mod common;

use common::{text, wharf};
use serde_json::Value;
use wharf_driver_s3::testing as s3;

/// `wharf bench ARGS… --quick --json`, which must succeed, as JSON.
fn bench_json(args: &[&str]) -> Value {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--quick", "--json"]);
    let out = wharf(&all);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

const STANDARD: [&str; 10] = [
    "PutGetEmptyFiles",
    "StreamEmptyFiles",
    "PutGet1KBFiles",
    "Stream1KBFiles",
    "PutGet1MBFiles",
    "Stream1MBFiles",
    "List5Files",
    "Delete5Files",
    "List50Files",
    "Delete50Files",
];

/// The workloads of a report, checked to be the standard ones with sane figures for `side`
/// (`driver` or `against`).
fn rows<'r>(report: &'r Value, side: &str) -> Vec<&'r Value> {
    let rows: Vec<&Value> = report["workloads"]
        .as_array()
        .expect("a list of workloads")
        .iter()
        .collect();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["workload"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, STANDARD, "{report:#}");
    for row in &rows {
        let m = &row[side];
        assert!(m["median_ns"].as_u64().expect("a median") > 0, "{row:#}");
        assert!(m["operations"].as_u64().expect("a count") >= 5, "{row:#}");
        assert!(
            m["cpu_ns_per_op"].as_u64().expect("CPU time") > 0,
            "{row:#}"
        );
        let carries = row["bytes"].as_u64().is_some_and(|b| b > 0);
        assert_eq!(m["mb_per_s"].is_number(), carries, "{row:#}");
    }
    rows
}

#[test]
fn a_driver_is_measured_against_another_in_one_run() {
    let report = bench_json(&["inmemory", "--against", "filesystem"]);
    assert_eq!(report["driver"], "inmemory");
    assert_eq!(report["against"], "filesystem");
    for row in rows(&report, "driver") {
        // Neither speaks HTTP.
        assert_eq!(row["driver"]["requests_per_op"], 0.0, "{row:#}");
        assert_eq!(row["against"]["requests_per_op"], 0.0, "{row:#}");
        let ratio = row["ratio"].as_f64().expect("a ratio");
        let expected = row["driver"]["median_ns"].as_f64().unwrap()
            / row["against"]["median_ns"].as_f64().unwrap();
        assert!(
            (ratio - expected).abs() < 1e-9 * expected.max(1.0),
            "{row:#}"
        );
    }
    rows(&report, "against");
    assert!(report["peak_rss_bytes"].as_u64().expect("a peak") > 1 << 20);
}

#[test]
fn the_table_names_every_workload_and_the_ratio() {
    let out = wharf(&[
        "bench",
        "inmemory",
        "--quick",
        "--against",
        "guest-inmemory",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in STANDARD {
        assert!(stdout.contains(name), "{name}: {}", text(&out));
    }
    assert!(
        stdout.contains("guest-inmemory")
            && stdout.contains("median      MB/s  req/op      cpu/op")
            && stdout.contains("ratio: inmemory's median over guest-inmemory's")
            && stdout.contains("peak RSS of the run (both drivers, and the content written): "),
        "{}",
        text(&out)
    );
}

#[test]
fn a_component_file_is_measured_in_its_sandbox() {
    let report = bench_json(&[wharf_guest_artifacts::INMEMORY_PATH]);
    // Named by its file, not its whole path.
    assert_eq!(report["driver"], "inmemory.wasm");
    rows(&report, "driver");
}

#[test]
fn a_network_driver_says_what_each_operation_costs_in_requests() {
    let endpoint = std::env::var("WHARF_GCS_ENDPOINT")
        .expect("WHARF_GCS_ENDPOINT (fake-gcs-server, from servers/up.sh)");
    let bucket = std::env::var("WHARF_GCS_CHECK_BUCKET")
        .expect("WHARF_GCS_CHECK_BUCKET (from servers/up.sh)");
    let root = format!("rootdirectory=/wharf-bench-{:016x}/", rand::random::<u64>());
    let report = bench_json(&[
        "gcs",
        "-p",
        &format!("bucket={bucket}"),
        "-p",
        &format!("endpoint={endpoint}"),
        "-p",
        "anonymous=true",
        "-p",
        &root,
    ]);
    let rows = rows(&report, "driver");
    let requests = |name: &str| {
        rows.iter()
            .find(|r| r["workload"] == name)
            .and_then(|r| r["driver"]["requests_per_op"].as_f64())
            .expect("requests per operation")
    };
    // At least the upload and the download; a listing at least one request; no workload free.
    assert!(requests("PutGetEmptyFiles") >= 2.0, "{report:#}");
    assert!(requests("List5Files") >= 1.0, "{report:#}");
    for row in &rows {
        assert!(
            row["driver"]["requests_per_op"].as_f64().unwrap() >= 1.0,
            "{row:#}"
        );
    }
}

#[tokio::test]
async fn a_network_guest_says_what_each_operation_costs_in_requests() {
    // The S3 guest on moto: its requests leave through the host's wasi:http, which counts them.
    let bucket = s3::unique_bucket("bench");
    s3::create_bucket(&s3::moto_endpoint(), &bucket, s3::MOTO_KEY, s3::MOTO_KEY).await;
    let params = [
        format!("bucket={bucket}"),
        format!("regionendpoint={}", s3::moto_endpoint()),
        "region=us-east-1".to_owned(),
        "forcepathstyle=true".to_owned(),
        format!("accesskey={}", s3::MOTO_KEY),
        format!("secretkey={}", s3::MOTO_KEY),
    ];
    let report = tokio::task::spawn_blocking(move || {
        let mut args = vec!["guest-s3"];
        for p in &params {
            args.extend_from_slice(&["-p", p]);
        }
        bench_json(&args)
    })
    .await
    .expect("the bench ran");
    for row in rows(&report, "driver") {
        let requests = row["driver"]["requests_per_op"].as_f64().unwrap();
        // A PutGet is a PUT and a GET, at least; nothing is free.
        let least = if row["workload"].as_str().unwrap().starts_with("PutGet") {
            2.0
        } else {
            1.0
        };
        assert!(requests >= least, "{row:#}");
    }
}

#[test]
fn storage_that_holds_data_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("precious"), b"keep me").expect("write a file");
    let root = format!("rootdirectory={}", dir.path().display());
    let out = wharf(&["bench", "filesystem", "-p", &root, "--quick"]);
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the storage is not empty (found /precious)"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(dir.path().join("precious")).expect("the file is still there"),
        b"keep me"
    );
}

#[test]
fn the_scenarios_run_and_only_narrows_them() {
    let report = bench_json(&["inmemory", "--scenarios", "--against", "filesystem"]);
    let names: Vec<&str> = report["workloads"]
        .as_array()
        .expect("a list of workloads")
        .iter()
        .map(|r| r["workload"].as_str().expect("a name"))
        .collect();
    assert_eq!(
        names,
        [
            "StatFile",
            "StatDirectory",
            "List100Files",
            "Walk1000Files",
            "DeleteTree100Files",
            "ResumedUpload16MBFile2Times",
            "Move16MBFile",
            "Upload16MBFile",
            "Download16MBFile",
        ],
        "{report:#}"
    );
    for row in report["workloads"].as_array().unwrap() {
        for side in ["driver", "against"] {
            assert!(row[side]["median_ns"].as_u64().unwrap() > 0, "{row:#}");
            assert_eq!(row[side]["requests_per_op"], 0.0, "{row:#}");
        }
        let carries = row["bytes"].as_u64().is_some();
        assert_eq!(row["driver"]["mb_per_s"].is_number(), carries, "{row:#}");
    }

    let only = bench_json(&[
        "filesystem",
        "--scenarios",
        "--only",
        "Walk1000Files,StatFile",
    ]);
    let names: Vec<&str> = only["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["workload"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["StatFile", "Walk1000Files"], "{only:#}");

    let out = wharf(&[
        "bench",
        "inmemory",
        "--scenarios",
        "--only",
        "Walk10Files",
        "--quick",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--only names \"Walk10Files\", which is none of these workloads: StatFile,"),
        "{}",
        text(&out)
    );
}
