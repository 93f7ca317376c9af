//! `wharf check DRIVER --random N --seed S`, as an operator runs it: random operations against
//! the contract's model instead of the conformance checks, the seed printed first, a passing
//! driver's summary, and the arguments it refuses.

mod common;

use common::{text, wharf};

#[test]
fn random_operations_on_inmemory_pass_and_print_the_seed() {
    let out = wharf(&["check", "inmemory", "--random", "200", "--seed", "7"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("random operations: seed 7, 200 operations per driver"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("ok    inmemory")
            && stdout.contains("the driver agrees with the model")
            && stdout.ends_with("\n1 passed, 0 failed\n"),
        "{}",
        text(&out)
    );
    // Instead of the checks, not in addition to them.
    assert!(!stdout.contains("content/"), "{}", text(&out));
}

#[test]
fn random_operations_on_a_directory_pass() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = format!("rootdirectory={}", dir.path().display());
    let out = wharf(&[
        "check",
        "filesystem",
        "-p",
        &root,
        "--random",
        "200",
        "--seed",
        "0x2a",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("random operations: seed 42,"),
        "{}",
        text(&out)
    );
    let left: Vec<_> = walk_files(dir.path());
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn without_a_seed_a_fresh_one_is_printed() {
    let out = wharf(&["check", "inmemory", "--random", "20"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let seed = stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("random operations: seed "))
        .and_then(|l| l.split(',').next())
        .and_then(|s| s.parse::<u64>().ok());
    assert!(out.status.success() && seed.is_some(), "{}", text(&out));
}

#[test]
fn contradictory_arguments_are_refused() {
    for args in [
        &["check", "inmemory", "--seed", "7"][..],
        &["check", "inmemory", "--random", "10", "--long"],
        &["check", "inmemory", "--random", "10", "--filter", "walk"],
        &["check", "inmemory", "--random", "10", "--seed", "seven"],
    ] {
        let out = wharf(args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
    }
}

/// Regular files under `dir` (the driver's own hidden files included).
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
