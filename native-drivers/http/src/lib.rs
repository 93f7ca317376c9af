//! Wharf's HTTP kit for the cloud drivers (azure, gcs, swift): what every REST client of a storage
//! service needs and none of them should write again. A driver keeps only what is its own —
//! signing, encoding its operations, reading its answers and classifying its errors — and hands
//! the rest to this crate:
//!
//! - [`Request`]: one request, with its [`Idempotency`] and the names of its secret query
//!   parameters and headers declared on it;
//! - [`Failure`]: why a request failed (no answer, an error answer, or a local reason), with
//!   [`Failure::is_temporary`], [`Failure::retry_after`] and the mapping to [`wharf_runtime::Error`];
//! - [`HttpClient`]: the one retry loop ([`RetryConfig`], [`Backoff`]) around a driver's [`Sign`];
//! - [`TokenCache`]: a fetched credential with an expiry, refreshed before it runs out, one fetch
//!   at a time, and [`oauth`] for the OAuth 2.0 token endpoints;
//! - [`redact`]: secrets out of URLs and headers in every message and `Debug`;
//! - `testing` (feature `testing`): a canned HTTP/1.1 server for unit tests.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
pub mod encode;
mod failure;
pub mod oauth;
pub mod redact;
mod request;
mod retry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod token;

pub use client::{Answer, HttpClient, Sign, Unsigned, client_builder, header};
pub use failure::{
    ErrorAnswer, Failure, first_line, is_temporary_status, malformed, transport_error,
};
pub use request::{Idempotency, Request};
pub use retry::{RetryConfig, may_retry};
pub use token::{Token, TokenCache, fetch_failed};
/// The back-off between attempts (shared with every network driver through the runtime).
pub use wharf_runtime::backoff::{self, Backoff};
