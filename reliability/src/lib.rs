//! Wharf's proof under faults.
//!
//! The library holds [`FaultProxy`]: an HTTP/1.1 proxy that a driver's tests put between the
//! driver and its server, which breaks a chosen share of the requests passing through it —
//! connections reset before, during and after a request, answers cut in the middle of their
//! body, stalls, and the backends' error and throttling answers. It decides per request, not
//! per connection, so a client's keep-alive pool does not hide a fault.
//!
//! The tests of this crate are the harnesses that need a process or a server of their own: a
//! driver killed with `SIGKILL` in the middle of its work, backends restarted during an upload,
//! and long runs of many clients. docs/RELIABILITY.md keeps what they found and how to run them.

#![forbid(unsafe_code)]

mod proxy;
pub mod suite;

pub use proxy::{Canned, Fault, FaultProxy, Plan, Stats};
