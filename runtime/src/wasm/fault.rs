//! How the failure of an instance is told: a deadline met is `Timeout`, a guest that went over
//! its memory limit, trapped, or was refused by a host function is `DriverFault`, each naming
//! what happened, and saying that the instance was replaced.

use wasmtime::Trap;

use super::deadline;
use super::memory::MemoryLimiter;
use super::policy::SandboxPolicy;
use crate::error::{Error, ErrorKind};

/// What wasmtime says when the bytes lifted out of a guest for one answer (or one host call's
/// arguments) go over the store's hostcall fuel, which Wharf sets to the policy's
/// `answer_bytes`. wasmtime's error type for it is private; its text is matched here, and the
/// hostile-guest tests fail should it change.
const FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Describes the failure `e` of `op` in an instance sandboxed by `policy`.
pub(crate) fn describe(
    op: &str,
    e: &wasmtime::Error,
    policy: &SandboxPolicy,
    limiter: &MemoryLimiter,
) -> Error {
    if deadline::met(e) {
        return deadline::ran_past(op, policy.call_timeout);
    }
    let cause = e.root_cause().to_string();
    match e.downcast_ref::<Trap>() {
        _ if cause.contains(FUEL_EXHAUSTED) => Error::new(ErrorKind::DriverFault).with_detail(format!(
            "{op}: the guest answered (or passed the host) more than {} bytes at once, the sandbox's bound (answer_bytes); the instance was replaced",
            policy.answers.bytes
        )),
        _ if limiter.exceeded => Error::new(ErrorKind::DriverFault).with_detail(format!(
            "{op}: the guest went over its memory limit of {} bytes (all its memories and tables together); the instance was replaced",
            limiter.limit()
        )),
        Some(trap) => Error::new(ErrorKind::DriverFault).with_detail(format!(
            "{op}: the guest trapped ({trap}); the instance was replaced"
        )),
        // A host function's refusal shows as "error while executing at wasm backtrace …";
        // the operator needs its cause (a host limit, a bad handle).
        None => Error::new(ErrorKind::DriverFault).with_detail(format!(
            "{op}: the guest broke the contract ({}); the instance was replaced",
            super::answer::clean_text(&cause)
        )),
    }
}
