//! `wharf wit` and `wharf new`, as a driver author outside this repository uses them: every
//! language's template is generated, built by its own `./build.sh` with that language's
//! toolchain, and checked with the whole conformance suite; and so are the Python and C guests of
//! `guest-drivers/`, through the same scripts.
//!
//! The toolchains come from `scripts/guest-tools` (which `scripts/test` runs first): its tools in
//! `target/guest-tools/` are put first on PATH here, so `cargo test` works on its own once that
//! script has run. The Rust template builds with the toolchain `rust-toolchain.toml` pins (which
//! `scripts/toolchain` installs with the wasm32-wasip2 target) in `target/wharf-new/rust`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::text;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ sits in the repository")
        .to_path_buf()
}

/// `wharf` with `args`, in `dir`, with the guest tools first on PATH.
fn wharf(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .current_dir(dir))
}

fn run(cmd: &mut Command) -> Output {
    let tools = repo().join("target").join("guest-tools");
    let mut path = vec![tools.join("bin"), tools.join("venv").join("bin")];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let channel = std::fs::read_to_string(repo().join("rust-toolchain.toml"))
        .expect("rust-toolchain.toml")
        .lines()
        .find_map(|l| {
            l.strip_prefix("channel = ")
                .map(|v| v.trim_matches('"').to_owned())
        })
        .expect("rust-toolchain.toml names a channel");
    cmd.env("PATH", std::env::join_paths(path).expect("PATH"))
        .env("RUSTUP_TOOLCHAIN", channel)
        .env("CARGO_TARGET_DIR", repo().join("target/wharf-new/rust"))
        .env("WHARF_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs the whole suite on `component` and asserts that every check passed.
fn passes_the_suite(component: &Path) {
    let out = wharf(
        component.parent().expect("a folder"),
        &["check", component.to_str().expect("UTF-8 path")],
    );
    let checks = wharf_testsuite::checks().len();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.ends_with(&format!("\n{checks} passed, 0 failed\n")),
        "wharf check {}: {}",
        component.display(),
        text(&out)
    );
}

/// `wharf new NAME --lang LANG` in a fresh folder, `./build.sh`, `wharf check NAME.wasm`.
fn new_project_passes_the_suite(lang: &str) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let name = format!("my-{lang}-store");
    let out = wharf(tmp.path(), &["new", &name, "--lang", lang]);
    assert!(out.status.success(), "wharf new: {}", text(&out));
    let project = tmp.path().join(&name);
    assert!(project.join("wit/storage.wit").is_file());
    assert!(project.join("README.md").is_file());
    let out = run(Command::new(project.join("build.sh")).current_dir(&project));
    assert!(out.status.success(), "{name}/build.sh: {}", text(&out));
    passes_the_suite(&project.join(format!("{name}.wasm")));
}

#[test]
fn new_rust_project_passes_the_suite() {
    new_project_passes_the_suite("rust");
}

#[test]
fn new_js_project_passes_the_suite() {
    new_project_passes_the_suite("js");
}

#[test]
fn new_python_project_passes_the_suite() {
    new_project_passes_the_suite("python");
}

#[test]
fn new_c_project_passes_the_suite() {
    new_project_passes_the_suite("c");
}

/// A guest of `guest-drivers/` built by its own `build.sh` (the component into a temporary
/// folder; the C build's intermediate files go to its ignored `build/`) and checked.
fn repository_guest_passes_the_suite(folder: &str) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let component = tmp.path().join(format!("{folder}.wasm"));
    let script = repo().join("guest-drivers").join(folder).join("build.sh");
    let out = run(Command::new(&script).arg(&component));
    assert!(out.status.success(), "{}: {}", script.display(), text(&out));
    passes_the_suite(&component);
}

#[test]
fn python_guest_passes_the_suite() {
    repository_guest_passes_the_suite("python-inmemory");
}

/// The C guest, then its native test (driver.c under AddressSanitizer and UBSan against a model,
/// each allocation failing in turn); one after the other, since both regenerate its `build/`.
#[test]
fn c_guest_passes_the_suite_and_its_native_test() {
    repository_guest_passes_the_suite("c-inmemory");
    let script = repo().join("guest-drivers/c-inmemory/tests/run.sh");
    let out = run(&mut Command::new(&script));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("allocation failures injected: ok"),
        "{}: {}",
        script.display(),
        text(&out)
    );
}

#[test]
fn wit_writes_every_version_the_host_loads() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let out = wharf(tmp.path(), &["wit", "--out", "w"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut written: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            Path::new(l)
                .strip_prefix("w")
                .unwrap_or_else(|_| panic!("{l} is not under w/"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    written.sort();
    assert_eq!(written, ["0.1.0/storage.wit", "deps/io.wit", "storage.wit"]);
    for file in &written {
        let copy = std::fs::read(tmp.path().join("w").join(file)).expect("written");
        let original = std::fs::read(repo().join("wit").join(file)).expect("in wit/");
        assert!(copy == original, "{file} differs from wit/{file}");
    }
    // Written again over itself: the same files.
    let again = wharf(tmp.path(), &["wit", "--out", "w"]);
    assert!(again.status.success(), "{}", text(&again));
}

#[test]
fn new_refuses_bad_names_languages_and_folders_in_use() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let refused = |args: &[&str], says: &str| {
        let out = wharf(tmp.path(), args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {}",
            text(&out)
        );
    };
    refused(
        &["new", "My_Store", "--lang", "c"],
        "invalid driver name \"My_Store\"",
    );
    refused(&["new", "../escape", "--lang", "c"], "invalid driver name");
    refused(&["new", "x", "--lang", "cobol"], "invalid value 'cobol'");
    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    std::fs::write(tmp.path().join("taken/keep.txt"), "mine").unwrap();
    refused(
        &["new", "x", "--lang", "c", "--dir", "taken"],
        "taken already exists and is not empty",
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("taken/keep.txt")).unwrap(),
        "mine",
        "nothing in the folder was touched"
    );
    // An empty folder is fine.
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let out = wharf(tmp.path(), &["new", "x", "--lang", "c", "--dir", "empty"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(tmp.path().join("empty/build.sh").is_file());
}

#[test]
fn build_scripts_name_a_missing_tool_and_how_to_install_it() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    // PATH without target/guest-tools or ~/.cargo/bin: the system's own tools only.
    for (lang, tool, how) in [
        ("rust", "cargo is missing", "rustup"),
        (
            "python",
            "componentize-py not found",
            "pip install componentize-py==0.25.1",
        ),
        (
            "c",
            "wit-bindgen",
            "cargo install --locked wit-bindgen-cli --version 0.63.0",
        ),
    ] {
        let out = wharf(
            tmp.path(),
            &["new", &format!("bare-{lang}"), "--lang", lang],
        );
        assert!(out.status.success(), "{}", text(&out));
        let project = tmp.path().join(format!("bare-{lang}"));
        let out = Command::new(project.join("build.sh"))
            .current_dir(&project)
            .env("PATH", "/usr/bin:/bin")
            .output()
            .expect("run build.sh");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(tool) && err.contains(how),
            "{lang}: {}",
            text(&out)
        );
        assert!(!project.join(format!("bare-{lang}.wasm")).exists());
    }
}
