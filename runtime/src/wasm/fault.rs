//! How the failure of an instance is told: a deadline met is `Timeout`, a guest that went over
//! its memory limit, trapped, or was refused by a host function is `DriverFault`, each naming
//! what happened, and saying that the instance was replaced.

use wasmtime::{Trap, WasmBacktrace};

use super::deadline;
use super::policy::SandboxPolicy;
use super::state::InstanceState;
use crate::error::{Error, ErrorKind};

/// What wasmtime says when the bytes lifted out of a guest for one answer (or one host call's
/// arguments) go over the store's hostcall fuel, which Wharf sets to the policy's
/// `answer_bytes`. wasmtime's error type for it is private; its text is matched here, and the
/// hostile-guest tests fail should it change.
const FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Describes the failure `e` of `op` in an instance sandboxed by `policy`, whose state (when
/// there is one to look at) tells whether it went over its memory limit and what it wrote last.
pub(crate) fn describe(
    op: &str,
    e: &wasmtime::Error,
    policy: &SandboxPolicy,
    state: Option<&InstanceState>,
) -> Error {
    if deadline::met(e) {
        return deadline::ran_past(op, policy.call_timeout);
    }
    let cause = e.root_cause().to_string();
    let fault = |what: String| {
        Error::new(ErrorKind::DriverFault).with_detail(format!(
            "{op}: {what}{}; the instance was replaced",
            evidence(e, state)
        ))
    };
    match e.downcast_ref::<Trap>() {
        _ if cause.contains(FUEL_EXHAUSTED) => fault(format!(
            "the guest answered (or passed the host) more than {} bytes at once, the sandbox's bound (answer_bytes)",
            policy.answers.bytes
        )),
        _ if let Some(limiter) = state.map(|s| &s.limiter).filter(|l| l.exceeded) => {
            fault(format!(
                "the guest went over its memory limit of {} bytes (all its memories and tables together)",
                limiter.limit()
            ))
        }
        Some(trap) => fault(format!("the guest trapped ({trap})")),
        // A host function's refusal shows as "error while executing at wasm backtrace …";
        // the operator needs its cause (a host limit, a bad handle).
        None => fault(format!(
            "the guest broke the contract ({})",
            super::answer::clean_text(&cause)
        )),
    }
}

/// Guest functions named in a fault.
const FRAMES: usize = 6;

/// What helps the guest's author find the cause: the guest functions the failure happened in
/// (innermost first, past the language runtime's own abort and panic machinery, when the
/// component kept their names) and the last lines the guest wrote on stdout or stderr (a
/// Python traceback, a Rust panic message, a C assertion). Empty when there is neither.
fn evidence(e: &wasmtime::Error, state: Option<&InstanceState>) -> String {
    let mut out = String::new();
    if let Some(trace) = e.downcast_ref::<WasmBacktrace>() {
        let names: Vec<String> = trace
            .frames()
            .iter()
            .filter_map(|frame| frame.func_name())
            .map(|name| format!("{:#}", rustc_demangle::demangle(name)))
            .skip_while(|name| is_runtime_frame(name))
            .collect();
        if !names.is_empty() {
            let shown: Vec<String> = names
                .iter()
                .take(FRAMES)
                .map(|name| super::answer::clean_text_within(name, 100))
                .collect();
            let more = if names.len() > FRAMES { " ← …" } else { "" };
            out.push_str(&format!(" in {}{more}", shown.join(" ← ")));
        }
    }
    if let Some(words) = state.and_then(|s| s.output.last_words()) {
        out.push_str(&format!("; its output ended: «{words}»"));
    }
    out
}

/// True for a frame of a language runtime's way out (abort, panic, assert, exit), which says
/// nothing about where the guest failed.
fn is_runtime_frame(name: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "std::",
        "core::",
        "alloc::",
        "__rust",
        "rust_panic",
        "__assert",
        "abort",
        "_Exit",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || name == "exit"
}
