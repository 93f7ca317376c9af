//! An OCI Distribution registry (specification v1.1) over any Wharf storage driver, native or
//! guest, storing in the reference registry's layout (distribution v2.8): a tree written by
//! either registry is served by the other. `wharf serve --config config.yml` runs it; a
//! registry embeds it with [`server::Server`] or drives [`http::Api`] from its own HTTP stack.
//!
//! - [`names`]: the spec's grammar for names, tags and digests, checked before any path is
//!   built; [`layout`]: the paths.
//! - [`storage`]: blobs, resumable uploads (all their state in the storage), manifests, tags,
//!   the catalog (a walk with a start-after point), referrers.
//! - [`http`]: the API's routes, headers, status codes and error bodies.
//! - [`config`]: the reference's `config.yml` and `REGISTRY_*` overrides, every key checked.
//! - [`auth`]: htpasswd (bcrypt) basic authentication; [`server`]: TLS, reload, shutdown,
//!   upload purging; [`metrics`]: `/metrics` in Prometheus' text format.

#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod error;
pub mod hasher;
pub mod http;
pub mod layout;
pub mod manifest;
pub mod metrics;
pub mod names;
pub mod server;
pub mod storage;
