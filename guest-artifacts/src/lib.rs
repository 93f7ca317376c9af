//! The guest drivers of `guest-drivers/`, built as WebAssembly components by this crate's build
//! script and compiled in: each one behind the cargo feature of its name, so a user builds (and
//! needs the toolchain for) only what it asks for. The Rust guests need the `wasm32-wasip2`
//! target; the JavaScript guest needs Node.js and npm.
//!
//! The build writes only below `OUT_DIR`, unless `WHARF_GUEST_TARGET_DIR` names a directory to
//! keep the nested builds in (this repository's `.cargo/config.toml` sets it to
//! `target/guest-drivers`, so that every profile shares one guest build).

#![forbid(unsafe_code)]

/// Declares a component's bytes and its path, if its feature is on.
macro_rules! component {
    ($feature:literal, $file:literal, $bytes:ident, $path:ident, $what:literal) => {
        #[doc = concat!("The ", $what, " component.")]
        #[cfg(feature = $feature)]
        pub const $bytes: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/", $file));
        #[doc = concat!("Where the ", $what, " component was written by the build.")]
        #[cfg(feature = $feature)]
        pub const $path: &str = concat!(env!("OUT_DIR"), "/", $file);
    };
}

component!(
    "inmemory",
    "inmemory.wasm",
    INMEMORY,
    INMEMORY_PATH,
    "in-memory guest (Rust)"
);
component!(
    "filesystem",
    "filesystem.wasm",
    FILESYSTEM,
    FILESYSTEM_PATH,
    "filesystem guest (Rust)"
);
component!(
    "s3",
    "s3.wasm",
    S3,
    S3_PATH,
    "S3 guest (Rust, over wasi:http)"
);
component!(
    "js-inmemory",
    "js-inmemory.wasm",
    JS_INMEMORY,
    JS_INMEMORY_PATH,
    "in-memory guest written in JavaScript (componentize-js)"
);
component!(
    "hostile",
    "hostile.wasm",
    HOSTILE,
    HOSTILE_PATH,
    "hostile test guest (misbehaves on cue)"
);
component!(
    "chaos",
    "chaos.wasm",
    CHAOS,
    CHAOS_PATH,
    "chaos test guest (answers whatever its input says)"
);
