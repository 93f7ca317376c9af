//! What the command's tests share: running `wharf` as an operator would, and showing all it
//! printed when an assertion fails.

// Each test binary uses what it needs of this.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs the `wharf` built with the tests, quiet but for warnings.
pub fn wharf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .env("WHARF_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("cannot run wharf {args:?}: {e}"))
}

/// The exit status and both outputs of a run, for an assertion's message.
pub fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
