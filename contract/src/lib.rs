//! The rules of Wharf's storage-driver contract (docs/CONTRACT.md) that the host runtime and the
//! guest SDK both apply, written once: what a path is and how paths order (§1, §3), where an
//! entry stands against a walk's resume point (§3), how a scalar parameter is read from its text
//! (§5), the names of the network parameters, and the values operations report ([`FileInfo`],
//! [`RedirectMethod`]). No I/O and one small dependency (durations), so it builds for the host
//! and for `wasm32-wasip2` alike; errors are left to each side (`None` or `false` here, a named
//! error there).

#![forbid(unsafe_code)]

pub mod network;
pub mod params;
pub mod path;
mod types;
pub mod walk;

pub use types::{FileInfo, RedirectMethod};
