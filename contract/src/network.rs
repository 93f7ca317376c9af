//! The parameters every driver that reaches its backend over a network takes for its retries
//! and timeouts (native cloud drivers and network guests alike): their names and bounds. Each
//! side reads them into its own type (`wharf_runtime::network::Network`, the guest SDK's
//! `http::Network`), with the same defaults.

/// `max_retries`: how often a request that failed for a temporary reason is sent again (0 or
/// -1: never).
pub const MAX_RETRIES: &str = "max_retries";
/// `retry_delay`: the first back-off; retry *n* waits `retry_delay` × 2^(*n*−1), ±25 %.
pub const RETRY_DELAY: &str = "retry_delay";
/// `max_retry_delay`: the longest single back-off.
pub const MAX_RETRY_DELAY: &str = "max_retry_delay";
/// `connect_timeout`: the longest wait for a connection.
pub const CONNECT_TIMEOUT: &str = "connect_timeout";
/// `read_timeout`: the longest wait for the next bytes of an answer (its head, or more of its
/// body).
pub const READ_TIMEOUT: &str = "read_timeout";

/// The most retries a driver may be configured for.
pub const MAX_RETRIES_LIMIT: u32 = 100;
