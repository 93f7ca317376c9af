//! Wharf for a registry to embed: the runtime ([`wharf_runtime`], re-exported) plus every
//! built-in driver, registered by [`builtin_registry`] (or `DriverRegistry::with_builtin()` with
//! [`WithBuiltin`] in scope): the native drivers (the cloud ones each behind a cargo feature of
//! the same name: `s3`, `oss`, `azure`, `gcs` and `swift` on by default, `rados` off as it links
//! the system's librados), and the bundled guest drivers (WebAssembly components built from
//! `guest-drivers/` and compiled into this crate), sandboxed like any third-party guest: the Rust
//! ones with the feature `guests` (on by default), the JavaScript one with `js-guest` (off: its
//! build needs Node.js).
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
    #[cfg(feature = "azure")]
    pub use wharf_driver_azure as azure;
    pub use wharf_driver_filesystem as filesystem;
    #[cfg(feature = "gcs")]
    pub use wharf_driver_gcs as gcs;
    pub use wharf_driver_inmemory as inmemory;
    #[cfg(feature = "oss")]
    pub use wharf_driver_oss as oss;
    #[cfg(feature = "rados")]
    pub use wharf_driver_rados as rados;
    #[cfg(feature = "s3")]
    pub use wharf_driver_s3 as s3;
    #[cfg(feature = "swift")]
    pub use wharf_driver_swift as swift;
}

/// The bundled guest drivers: their names always, their components and registration as the
/// features `guests` and `js-guest` say.
pub mod guests {
    #[cfg(feature = "guests")]
    use std::sync::Arc;

    #[cfg(any(feature = "guests", feature = "js-guest"))]
    use wharf_runtime::wasm::{AnswerLimits, SandboxPolicy, register_bundled};
    #[cfg(feature = "guests")]
    use wharf_runtime::wasm::{DirGrant, Prepare};
    #[cfg(any(feature = "guests", feature = "js-guest"))]
    use wharf_runtime::{DriverRegistry, Result};
    #[cfg(feature = "guests")]
    use wharf_runtime::{Error, Params};

    /// The in-memory guest (stateful: one instance, calls serialised).
    pub const INMEMORY: &str = "guest-inmemory";
    /// The filesystem guest (stateless: a pool of instances over one granted directory).
    pub const FILESYSTEM: &str = "guest-filesystem";
    /// The in-memory guest written in JavaScript (stateful).
    pub const JS_INMEMORY: &str = "guest-js-inmemory";
    /// The S3 guest (stateless), reaching its endpoint only through `wasi:http`.
    pub const S3: &str = "guest-s3";

    /// The in-memory guest component.
    #[cfg(feature = "guests")]
    pub const INMEMORY_WASM: &[u8] = wharf_guest_artifacts::INMEMORY;
    /// The filesystem guest component.
    #[cfg(feature = "guests")]
    pub const FILESYSTEM_WASM: &[u8] = wharf_guest_artifacts::FILESYSTEM;
    /// The S3 guest component.
    #[cfg(feature = "guests")]
    pub const S3_WASM: &[u8] = wharf_guest_artifacts::S3;
    /// The JavaScript in-memory guest component (componentize-js; ~12 MB, most of it the engine).
    #[cfg(feature = "js-guest")]
    pub const JS_INMEMORY_WASM: &[u8] = wharf_guest_artifacts::JS_INMEMORY;

    /// Where the filesystem guest sees the directory it is granted.
    pub const GUEST_ROOT: &str = "/data";

    /// Registers the bundled guests of this build.
    #[cfg(any(feature = "guests", feature = "js-guest"))]
    pub fn register(registry: &mut DriverRegistry) -> Result<()> {
        // The bundled guests are ours: a `get_content` may be as large as the files a registry
        // keeps whole (the long checks ask for 128 MiB; the 1 GiB benchmarks for 1 GiB, which
        // the 0.2.0 guests hand over as a stream). A guest's linear memory bounds what is lifted
        // out of it anyway.
        let answers = AnswerLimits {
            bytes: 2 << 30,
            ..AnswerLimits::default()
        };
        let policy = SandboxPolicy {
            // The in-memory guest keeps files in its own linear memory.
            memory_limit: wharf_runtime::wasm::policy::MAX_MEMORY,
            answers: answers.clone(),
            ..SandboxPolicy::default()
        };
        #[cfg(feature = "js-guest")]
        register_bundled(
            registry,
            JS_INMEMORY,
            JS_INMEMORY_WASM,
            policy.clone(),
            None,
        )?;
        #[cfg(feature = "guests")]
        {
            register_bundled(registry, INMEMORY, INMEMORY_WASM, policy, None)?;
            let policy = SandboxPolicy {
                answers,
                ..SandboxPolicy::default()
            };
            register_bundled(
                registry,
                S3,
                S3_WASM,
                policy.clone(),
                Some(grant_endpoint()),
            )?;
            register_bundled(
                registry,
                FILESYSTEM,
                FILESYSTEM_WASM,
                policy,
                Some(grant_root()),
            )?;
        }
        Ok(())
    }

    /// The operator names the endpoint as for the native s3 driver (`regionendpoint`, or a
    /// `region` of AWS); the guest is granted outbound HTTP to exactly the host it addresses
    /// (`<bucket>.<host>` unless `forcepathstyle`), and nothing else.
    #[cfg(feature = "guests")]
    fn grant_endpoint() -> Prepare {
        Arc::new(|params: &mut Params, policy: &mut SandboxPolicy| {
            use wharf_runtime::Value;
            let text = |params: &Params, key: &str| match params.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                _ => None,
            };
            let flag = |params: &Params, key: &str, default: bool| match params.get(key) {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
                _ => default,
            };
            let secure = flag(params, "secure", true);
            let endpoint = match (text(params, "regionendpoint"), text(params, "region")) {
                (Some(e), _) if e.contains("://") => e,
                (Some(e), _) => format!("{}://{e}", if secure { "https" } else { "http" }),
                (None, Some(region)) => format!(
                    "{}://s3.{region}.amazonaws.com",
                    if secure { "https" } else { "http" }
                ),
                // The guest names what is missing.
                (None, None) => return Ok(()),
            };
            let uri: http::Uri = endpoint.parse().map_err(|_| {
                Error::invalid_parameter("regionendpoint", format!("not a URL: {endpoint:?}"))
            })?;
            let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
                return Err(Error::invalid_parameter(
                    "regionendpoint",
                    format!("expected a URL such as https://s3.example.com, got {endpoint:?}"),
                ));
            };
            let host = if flag(params, "forcepathstyle", false) {
                authority.to_string()
            } else {
                match text(params, "bucket") {
                    Some(bucket) => format!("{bucket}.{authority}"),
                    None => return Ok(()),
                }
            };
            policy.http_hosts.push(format!("{scheme}://{host}"));
            Ok(())
        })
    }

    /// The operator names a host directory with `rootdirectory`, as for the native driver; the
    /// guest is granted exactly that directory, read-write, at [`GUEST_ROOT`].
    #[cfg(feature = "guests")]
    fn grant_root() -> Prepare {
        Arc::new(|params: &mut Params, policy: &mut SandboxPolicy| {
            let host = params.required_string("rootdirectory")?;
            std::fs::create_dir_all(&host).map_err(|e| {
                Error::invalid_parameter("rootdirectory", format!("cannot create {host}"))
                    .with_source(e)
            })?;
            policy.dirs.push(DirGrant {
                host: host.into(),
                guest: GUEST_ROOT.into(),
                read_only: false,
                quota: None,
            });
            params.insert("rootdirectory", GUEST_ROOT);
            Ok(())
        })
    }
}

/// Names of the built-in drivers of this build that need no server (they run anywhere, e.g.
/// `wharf check`).
pub fn serverless_drivers() -> Vec<&'static str> {
    let rust_guests = cfg!(feature = "guests").then_some([guests::INMEMORY, guests::FILESYSTEM]);
    let js_guest = cfg!(feature = "js-guest").then_some(guests::JS_INMEMORY);
    [drivers::inmemory::NAME, drivers::filesystem::NAME]
        .into_iter()
        .chain(rust_guests.into_iter().flatten())
        .chain(js_guest)
        .collect()
}

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
    #[cfg(feature = "s3")]
    drivers::s3::register(registry)?;
    #[cfg(feature = "oss")]
    drivers::oss::register(registry)?;
    #[cfg(feature = "azure")]
    drivers::azure::register(registry)?;
    #[cfg(feature = "gcs")]
    drivers::gcs::register(registry)?;
    #[cfg(feature = "swift")]
    drivers::swift::register(registry)?;
    #[cfg(feature = "rados")]
    drivers::rados::register(registry)?;
    #[cfg(any(feature = "guests", feature = "js-guest"))]
    guests::register(registry)?;
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
