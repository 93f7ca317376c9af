//! Builds the guest drivers this crate's features ask for: the Rust ones with a nested cargo
//! (the separate `guest-drivers` workspace, for wasm32-wasip2, release), the JavaScript one with
//! componentize-js (npm installs it into the build directory, never into the source tree). The
//! components land in `OUT_DIR`; the nested builds in `WHARF_GUEST_TARGET_DIR` when set (a cache
//! shared by every profile), else in `OUT_DIR` too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The Rust guests: (feature, package in guest-drivers/, its folder there).
const RUST_GUESTS: [(&str, &str, &str); 5] = [
    ("inmemory", "wharf-guest-inmemory", "inmemory"),
    ("filesystem", "wharf-guest-filesystem", "filesystem"),
    ("s3", "wharf-guest-s3", "s3"),
    ("hostile", "wharf-guest-hostile", "hostile"),
    ("chaos", "wharf-guest-chaos", "chaos"),
];

fn main() {
    let root = PathBuf::from(env("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("guest-artifacts sits in the workspace")
        .to_path_buf();
    let guests = root.join("guest-drivers");
    let out_dir = PathBuf::from(env("OUT_DIR"));
    println!("cargo:rerun-if-env-changed=WHARF_GUEST_TARGET_DIR");
    let target_dir = match std::env::var_os("WHARF_GUEST_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => out_dir.join("guest-target"),
    };

    let wanted: Vec<_> = RUST_GUESTS
        .iter()
        .filter(|(feature, _, _)| enabled(feature))
        .collect();
    if !wanted.is_empty() {
        for path in ["sdk", "Cargo.toml", "Cargo.lock"] {
            rerun_if_changed(&guests.join(path));
        }
        rerun_if_changed(&root.join("wit"));
        for (_, _, folder) in &wanted {
            rerun_if_changed(&guests.join(folder));
        }
        build_rust(&guests, &target_dir, &wanted, &out_dir);
    }
    if enabled("js-inmemory") {
        build_js(
            &guests.join("js-inmemory"),
            &root.join("wit").join("0.1.0"),
            &target_dir.join("js-inmemory"),
            &out_dir.join("js-inmemory.wasm"),
        );
    }
}

/// `cargo build --release --target wasm32-wasip2` of the wanted packages, in a clean
/// environment (the outer build's flags are for the host, not for wasm) and a target directory
/// of its own (sharing the outer one could deadlock on its lock).
fn build_rust(guests: &Path, target_dir: &Path, wanted: &[&(&str, &str, &str)], out_dir: &Path) {
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
    .arg(target_dir);
    for (_, package, _) in wanted {
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
        "building the guest drivers failed (is the wasm32-wasip2 target installed? \
         `rustup target add wasm32-wasip2`)"
    );
    let built = target_dir.join("wasm32-wasip2").join("release");
    for (_, package, folder) in wanted {
        let file = built.join(format!("{}.wasm", package.replace('-', "_")));
        let copy = out_dir.join(format!("{folder}.wasm"));
        std::fs::copy(&file, &copy).unwrap_or_else(|e| {
            panic!("cannot copy {} to {}: {e}", file.display(), copy.display())
        });
    }
}

/// Builds the JavaScript in-memory guest from `source` (its driver.js and build.mjs) against the
/// WIT in `wit`, working in `work` (where npm installs componentize-js), into `out`. The last
/// component built in `work` is reused while it is newer than every input.
fn build_js(source: &Path, wit: &Path, work: &Path, out: &Path) {
    let inputs = [
        "driver.js",
        "build.mjs",
        "package.json",
        "package-lock.json",
    ]
    .map(|file| source.join(file));
    for input in &inputs {
        rerun_if_changed(input);
    }
    rerun_if_changed(wit);
    std::fs::create_dir_all(work)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", work.display()));
    let built = work.join("js-inmemory.wasm");
    let newest_input = inputs
        .iter()
        .chain(std::iter::once(&wit.join("storage.wit")))
        .filter_map(|p| modified(p))
        .max();
    let fresh = matches!((modified(&built), newest_input), (Some(b), Some(i)) if b > i);
    if !fresh {
        // The package files next to node_modules: npm installs, and Node resolves the
        // build script's imports, from the folder that holds them.
        let lock = std::fs::read(source.join("package-lock.json")).unwrap_or_else(|e| {
            panic!("cannot read the JavaScript guest's package-lock.json: {e}")
        });
        let installed = std::fs::read(work.join("package-lock.json")).ok();
        for file in ["package.json", "package-lock.json", "build.mjs"] {
            std::fs::copy(source.join(file), work.join(file))
                .unwrap_or_else(|e| panic!("cannot copy {file} to {}: {e}", work.display()));
        }
        if installed.as_deref() != Some(&lock[..]) || !work.join("node_modules").is_dir() {
            run(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(work),
                "npm ci",
            );
        }
        run(
            Command::new("node")
                .arg("build.mjs")
                .arg(&built)
                .env("WHARF_JS_SOURCE", source.join("driver.js"))
                .env("WHARF_JS_WIT", wit)
                .current_dir(work),
            "node build.mjs",
        );
    }
    std::fs::copy(&built, out)
        .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", built.display(), out.display()));
}

/// Runs a Node.js tool, naming what is missing when it cannot start.
fn run(cmd: &mut Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run `{what}` (Node.js 20+ and npm build the JavaScript guest): {e}")
    });
    assert!(status.success(), "`{what}` failed for the JavaScript guest");
}

fn enabled(feature: &str) -> bool {
    let var = format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"));
    std::env::var_os(var).is_some()
}

fn rerun_if_changed(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by cargo"))
}
