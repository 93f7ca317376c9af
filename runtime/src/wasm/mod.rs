//! The component host: guest drivers are WebAssembly components (world `storage-driver` of
//! `wit/storage.wit`) loaded at run time into wasmtime and sandboxed by an operator policy
//! (memory, per-call deadline, instances, directories, HTTP hosts, environment; nothing by
//! default), then used like any other driver.
//!
//! - [`engine`]: one engine per runtime (pooling allocator, epoch interruption), linker, cache;
//! - [`cache`]: compiled components on disk;
//! - [`bindings`]: the two versions of the world; `world`: a component's exports, whatever the
//!   version;
//! - [`component`]: a loaded component (its engine and pre-instance), its manifest and world;
//!   `manifest`: what a guest says about itself;
//! - `reserve`: the engine's pool instances, shared out among drivers;
//! - [`policy`]: the sandbox policy;
//! - `deadline`: deadlines of every step that runs guest code; `budget`: the restart budget;
//! - [`answer`]: checks of a guest's answers (texts, URLs, records) before the host uses them;
//! - `fault`: how the failure of an instance is told;
//! - `state`: an instance's store data, one narrow context per host interface: `files` (with
//!   `quota`), `http`, `guest_log`; `memory`: the memory limit; `streams`: the streams a guest
//!   hands the host;
//! - `instance`: one instance and the cell of a pool it lives in; `pool`: a driver's
//!   instances, how calls reach them, faults; `detached`: calls that outlive their caller;
//! - [`driver`]: the adapter that makes a component a `StorageDriver`;
//! - [`register`]: guest drivers in the factory and from `wharf.toml`.

pub mod answer;
pub mod bindings;
mod budget;
pub mod cache;
pub mod component;
mod deadline;
mod detached;
pub mod driver;
pub mod engine;
mod fault;
mod files;
mod guest_log;
mod guest_output;
mod http;
mod instance;
mod manifest;
mod memory;
pub mod policy;
mod pool;
mod quota;
pub mod register;
mod reserve;
mod state;
mod streams;
mod world;

pub use bindings::WitVersion;
pub use component::{GuestComponent, WIT_VERSION};
pub use deadline::TICK;
pub use driver::GuestDriver;
pub use engine::{GuestRuntime, RuntimeOptions};
pub use manifest::{Manifest, RequestedCapability};
pub use policy::{AnswerLimits, DirGrant, SandboxPolicy};
pub use register::{
    Prepare, register_bundled, register_config, register_guest, register_guest_with,
};
