//! Wharf's runtime: the storage driver contract in Rust ([`StorageDriver`]), its one error type,
//! the path rules, the base layer every driver sits behind, the generic walk, the driver factory,
//! typed parameters and registry configuration loading, and helpers for driver authors (streams,
//! resumable downloads).
//!
//! A registry embeds this crate (usually through the `wharf` crate, which also registers the
//! built-in drivers) and talks to every driver, native or guest, as `Arc<dyn StorageDriver>`.

// Unsafe code is denied; the one exception (loading a compiled component from the runtime's own
// cache, which wasmtime marks unsafe) is allowed where it stands, with its safety argument.
#![deny(unsafe_code)]

pub mod backoff;
pub mod base;
pub mod config;
pub mod deletion_log;
pub mod driver;
pub mod error;
pub mod factory;
pub mod network;
pub mod params;
pub mod path;
pub mod resumable;
pub mod stream;
pub mod walk;
#[cfg(feature = "wasm")]
pub mod wasm;

pub use base::Base;
pub use driver::{
    ByteStream, FileInfo, FileWriter, RedirectMethod, StorageDriver, Visitor, WalkControl,
    WalkOptions,
};
pub use error::{Error, ErrorKind, Result};
pub use factory::DriverRegistry;
pub use params::{Params, Secret, Value};
