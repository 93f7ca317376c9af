//! Builds the bundled guest drivers (the separate `guest-drivers` workspace) for wasm32-wasip2,
//! and the JavaScript guest with componentize-js (installed by `npm ci` on first build), so that
//! `cargo build`, `cargo test` and `wharf` find them with no extra step. The nested
//! cargo gets a target directory of its own (sharing the outer one can deadlock on its lock) and
//! a clean environment (the outer build's flags are for the host, not for wasm).

use std::path::PathBuf;
use std::process::Command;

/// The guest crates bundled into `wharf`, by package name.
const GUESTS: [&str; 3] = [
    "wharf-guest-inmemory",
    "wharf-guest-filesystem",
    "wharf-guest-s3",
];
/// Guest crates built for Wharf's own tests (`WHARF_TEST_*`), never bundled.
const TEST_GUESTS: [&str; 1] = ["wharf-guest-hostile"];

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("the wharf crate sits in the workspace");
    let guests = root.join("guest-drivers");
    for dir in [
        "sdk/src",
        "inmemory/src",
        "filesystem/src",
        "s3/src",
        "hostile/src",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", guests.join(dir).display());
    }
    for dir in ["sdk", "inmemory", "filesystem", "s3", "hostile"] {
        println!(
            "cargo:rerun-if-changed={}",
            guests.join(dir).join("Cargo.toml").display()
        );
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("guest-drivers");
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "build",
        "--release",
        "--locked",
        "--target",
        "wasm32-wasip2",
    ])
    .arg("--manifest-path")
    .arg(guests.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir);
    for package in GUESTS.iter().chain(&TEST_GUESTS) {
        cmd.args(["-p", package]);
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the guest drivers: {e}"));
    assert!(
        status.success(),
        "building the guest drivers failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)"
    );
    let out = target_dir.join("wasm32-wasip2").join("release");
    let exposed = (GUESTS.map(|p| (p, "WHARF_BUNDLED")).into_iter())
        .chain(TEST_GUESTS.map(|p| (p, "WHARF_TEST")));
    for (package, prefix) in exposed {
        let file = out.join(format!("{}.wasm", package.replace('-', "_")));
        assert!(file.is_file(), "{} was not built", file.display());
        let var = format!(
            "{prefix}_{}",
            package.trim_start_matches("wharf-guest-").to_uppercase()
        );
        println!("cargo:rustc-env={var}={}", file.display());
        println!("cargo:rerun-if-changed={}", file.display());
    }
    build_js(&guests.join("js-inmemory"), &target_dir.join("js"));
}

/// Builds the JavaScript in-memory guest into `out_dir/js-inmemory.wasm`.
fn build_js(dir: &std::path::Path, out_dir: &std::path::Path) {
    for file in [
        "driver.js",
        "build.mjs",
        "package.json",
        "package-lock.json",
    ] {
        println!("cargo:rerun-if-changed={}", dir.join(file).display());
    }
    let npm = |args: &[&str]| {
        let status = Command::new("npm")
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run npm (Node.js 20+ is needed to build the JavaScript guest): {e}")
            });
        assert!(
            status.success(),
            "`npm {}` failed in {}",
            args.join(" "),
            dir.display()
        );
    };
    let installed = dir.join("node_modules").join(".package-lock.json");
    let stale = match (
        modified(&installed),
        modified(&dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed < lock,
        _ => true,
    };
    if stale {
        npm(&["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    }
    let out = out_dir.join("js-inmemory.wasm");
    let out_text = out.to_string_lossy().into_owned();
    npm(&["run", "--silent", "build", "--", &out_text]);
    assert!(out.is_file(), "{} was not built", out.display());
    println!("cargo:rustc-env=WHARF_BUNDLED_JS_INMEMORY={out_text}");
}

fn modified(path: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by cargo"))
}
