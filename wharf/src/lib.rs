//! Wharf for a registry to embed: the runtime ([`wharf_runtime`], re-exported) plus every
//! built-in driver, registered by [`builtin_registry`] (or `DriverRegistry::with_builtin()` with
//! [`WithBuiltin`] in scope).
//!
//! ```
//! use wharf::{Params, WithBuiltin, DriverRegistry};
//! # tokio_test();
//! # fn tokio_test() { tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let registry = DriverRegistry::with_builtin();
//! let driver = registry.create("inmemory", Params::new()).await.unwrap();
//! driver.put_content("/hello", "world".into()).await.unwrap();
//! # }) }
//! ```

#![forbid(unsafe_code)]

pub use wharf_runtime::*;

/// The built-in driver crates.
pub mod drivers {
    pub use wharf_driver_filesystem as filesystem;
    pub use wharf_driver_inmemory as inmemory;
}

/// Names of the built-in drivers that need no server (they run anywhere, e.g. `wharf check`).
pub const SERVERLESS_DRIVERS: [&str; 2] = [drivers::inmemory::NAME, drivers::filesystem::NAME];

/// A registry holding every built-in driver compiled into this build.
pub fn builtin_registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    register_builtin(&mut registry).expect("built-in driver names are distinct");
    registry
}

/// Registers every built-in driver in `registry` (fails if a name is already taken).
pub fn register_builtin(registry: &mut DriverRegistry) -> Result<()> {
    drivers::inmemory::register(registry)?;
    drivers::filesystem::register(registry)?;
    Ok(())
}

/// `DriverRegistry::with_builtin()`.
pub trait WithBuiltin {
    /// A registry holding every built-in driver compiled into this build.
    fn with_builtin() -> Self;
}

impl WithBuiltin for DriverRegistry {
    fn with_builtin() -> Self {
        builtin_registry()
    }
}
