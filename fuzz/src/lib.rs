//! Fuzz targets for Wharf, one module each: the input type a target is generated from and the
//! `check` that asserts its properties. The tests in `tests/` run each target on a bounded number
//! of generated inputs (the short runs of `cargo test`); `cargo bolero test` runs the same
//! targets under libfuzzer for as long as it is given (see `README.md`).
//!
//! - [`paths`]: the path rules of CONTRACT §1;
//! - [`params`]: typed parameters, their readers and their redaction;
//! - [`config_yaml`]: a registry `config.yml` storage section and its environment overrides;
//! - [`wharf_toml`]: `wharf.toml` and the sandbox policies it gives;
//! - [`guest`]: the guest boundary, against a guest that answers whatever its input says.

// Unsafe code is denied; the one exception is the counting allocator ([`alloc`]), which passes
// every call on to the system allocator.
#![deny(unsafe_code)]

pub mod alloc;
pub mod config_yaml;
pub mod guest;
pub mod params;
pub mod paths;
pub mod wharf_toml;
