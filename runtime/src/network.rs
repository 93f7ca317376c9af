//! How a driver that reaches its backend over a network retries and times out: one set of
//! parameters with the same names and meaning in every cloud driver ([`Network`]), and the
//! error that ends a read whose content was replaced before its rest could be read (the reader
//! that resumes is [`crate::resumable`]).
//!
//! | parameter | meaning |
//! |---|---|
//! | `max_retries` | how often a request that failed for a temporary reason is sent again (0 or -1: never) |
//! | `retry_delay` | the first back-off; retry *n* waits `retry_delay` × 2^(*n*−1) (±25 %), at most `max_retry_delay` |
//! | `max_retry_delay` | the longest single back-off |
//! | `connect_timeout` | the longest wait for a connection |
//! | `read_timeout` | the longest wait for the next bytes of an answer (its head, or more of its body) |
//!
//! It also counts the HTTP requests this process's drivers and guests send
//! ([`requests_sent`]), so that a benchmark can say what an operation costs in requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::backoff::Backoff;
use crate::error::{Error, ErrorKind, Result};
use crate::params::{Params, Value};

pub use wharf_contract::network::{
    CONNECT_TIMEOUT, MAX_RETRIES, MAX_RETRIES_LIMIT, MAX_RETRY_DELAY, READ_TIMEOUT, RETRY_DELAY,
};

static REQUESTS_SENT: AtomicU64 = AtomicU64::new(0);

/// Counts one HTTP request about to be sent (each attempt of a retried request counts). Every
/// network driver calls it where its requests leave, and so does the host for a guest's
/// (once the sandbox allowed it). Not counted: redirects a client follows by itself, and the
/// requests of the AWS SDK's credential chain (instance metadata, STS); a pre-signed URL counts
/// one request that is never sent, as the SDK runs the signing as a request up to its
/// transmission.
pub fn count_request() {
    REQUESTS_SENT.fetch_add(1, Ordering::Relaxed);
}

/// The HTTP requests this process's drivers and guests have sent so far (every attempt).
pub fn requests_sent() -> u64 {
    REQUESTS_SENT.load(Ordering::Relaxed)
}

/// A network driver's retries and timeouts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Network {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The waits between attempts.
    pub backoff: Backoff,
    /// The longest wait for a connection.
    pub connect_timeout: Duration,
    /// The longest wait for the next bytes of an answer.
    pub read_timeout: Duration,
}

impl Default for Network {
    /// Four retries from 250 ms (doubling, at most 8 s, ±25 %); 30 s to connect; 120 s for
    /// the next bytes of an answer.
    fn default() -> Self {
        Self {
            max_retries: 4,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(120),
        }
    }
}

impl Network {
    /// The parameters from `params` (taking them), `defaults` for those not given.
    pub fn from_params(params: &mut Params, defaults: Network) -> Result<Self> {
        let max_retries = max_retries(params, defaults.max_retries)?;
        let positive = |params: &mut Params, key: &str, default: Duration| -> Result<Duration> {
            match params.duration(key)? {
                None => Ok(default),
                Some(d) if d.is_zero() => Err(Error::invalid_parameter(key, "must be more than 0")),
                Some(d) => Ok(d),
            }
        };
        let first = positive(params, RETRY_DELAY, defaults.backoff.first)?;
        let max = positive(params, MAX_RETRY_DELAY, defaults.backoff.max)?;
        if max < first {
            return Err(Error::invalid_parameter(
                MAX_RETRY_DELAY,
                format!("{max:?} is shorter than {RETRY_DELAY} ({first:?})"),
            ));
        }
        Ok(Self {
            max_retries,
            backoff: Backoff {
                first,
                max,
                ..defaults.backoff
            },
            connect_timeout: positive(params, CONNECT_TIMEOUT, defaults.connect_timeout)?,
            read_timeout: positive(params, READ_TIMEOUT, defaults.read_timeout)?,
        })
    }
}

/// `max_retries` as the reference drivers read it: a non-negative integer up to
/// [`MAX_RETRIES_LIMIT`], or -1 for no retries.
fn max_retries(params: &mut Params, default: u32) -> Result<u32> {
    let negative_one = match params.get(MAX_RETRIES) {
        Some(Value::Int(-1)) => true,
        Some(Value::String(s)) => s.trim() == "-1",
        _ => false,
    };
    if negative_one {
        params.mark_taken(MAX_RETRIES);
        return Ok(0);
    }
    match params.u64(MAX_RETRIES) {
        Ok(None) => Ok(default),
        Ok(Some(n)) if n <= u64::from(MAX_RETRIES_LIMIT) => Ok(n as u32),
        Ok(Some(n)) => Err(Error::invalid_parameter(
            MAX_RETRIES,
            format!("expected at most {MAX_RETRIES_LIMIT} retries (or -1 for none), got {n}"),
        )),
        Err(_) => Err(Error::invalid_parameter(
            MAX_RETRIES,
            "expected a non-negative integer (or -1 for no retries)",
        )),
    }
}

/// What the error of a read says when the content was replaced between a broken answer and the
/// request for the rest: the bytes already read belong to the old version, and the rest of it is
/// gone, so the read can only end ([`replaced_while_read`]).
pub const REPLACED_WHILE_READ: &str = "was replaced while it was read";

/// The error that ends a read of `path` whose content was replaced before its rest could be
/// read (a `Backend` error, not temporary: asking again would splice two versions).
pub fn replaced_while_read(path: &str) -> Error {
    Error::backend(format!("read {path}: the content {REPLACED_WHILE_READ}"))
}

/// True for the error of [`replaced_while_read`].
pub fn is_replaced_while_read(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Backend { temporary: false })
        && e.to_string().contains(REPLACED_WHILE_READ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_have_defaults_and_bounds() {
        let mut params = Params::new();
        assert_eq!(
            Network::from_params(&mut params, Network::default()).unwrap(),
            Network::default()
        );
        let mut params = Params::from_pairs([
            (MAX_RETRIES, Value::from(7)),
            (RETRY_DELAY, Value::from("20ms")),
            (MAX_RETRY_DELAY, Value::from("1s")),
            (CONNECT_TIMEOUT, Value::from("2s")),
            (READ_TIMEOUT, Value::from("3s")),
        ]);
        let n = Network::from_params(&mut params, Network::default()).unwrap();
        params.finish().unwrap();
        assert_eq!(n.max_retries, 7);
        assert_eq!(n.backoff.first, Duration::from_millis(20));
        assert_eq!(n.backoff.max, Duration::from_secs(1));
        assert_eq!(n.connect_timeout, Duration::from_secs(2));
        assert_eq!(n.read_timeout, Duration::from_secs(3));
        let mut params = Params::from_pairs([(MAX_RETRIES, Value::from(-1))]);
        assert_eq!(
            Network::from_params(&mut params, Network::default())
                .unwrap()
                .max_retries,
            0
        );
        params.finish().unwrap();
        for (key, value) in [
            (MAX_RETRIES, "101"),
            (MAX_RETRIES, "many"),
            (RETRY_DELAY, "0s"),
            (READ_TIMEOUT, "soon"),
            (MAX_RETRY_DELAY, "1ms"),
        ] {
            let mut params = Params::from_pairs([(key, Value::from(value))]);
            let e = Network::from_params(&mut params, Network::default()).unwrap_err();
            assert!(e.to_string().contains(key), "{key}={value}: {e}");
        }
    }
}
