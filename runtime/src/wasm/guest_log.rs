//! The `host-log` interface of both worlds: what a guest logs goes to `tracing` (target
//! `wharf::guest`, with the driver's name), each line cut to a bound, its control characters
//! escaped, and the lines rate-limited, so that a guest can neither forge log lines, drive the
//! operator's terminal, nor flood the log.

use std::time::Instant;

use wasmtime::component::{HasData, Linker};

use super::bindings::{Level, v1, v2};

/// Longest guest log line kept; the rest is cut.
const MAX_LOG_LINE: usize = 4096;
/// Log lines a guest may emit per second on average, and in a burst.
const LOG_RATE: f64 = 50.0;
const LOG_BURST: f64 = 200.0;

/// What `host-log` needs of an instance: the driver's name, and the rate limiter.
pub(crate) struct LogCtx {
    driver: String,
    limiter: LogLimiter,
}

impl LogCtx {
    /// The log of an instance of `driver`.
    pub(crate) fn new(driver: &str) -> Self {
        Self {
            driver: driver.to_owned(),
            limiter: LogLimiter::default(),
        }
    }
}

/// The [`HasData`] of `host-log`: its functions see only a [`LogCtx`].
pub(crate) struct GuestLog;

impl HasData for GuestLog {
    type Data<'a> = &'a mut LogCtx;
}

/// Adds `host-log` of both versions to `linker`; `get` finds an instance's [`LogCtx`].
pub(crate) fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut LogCtx,
) -> wasmtime::Result<()> {
    v1::wharf::storage::host_log::add_to_linker::<T, GuestLog>(linker, get)?;
    v2::wharf::storage::host_log::add_to_linker::<T, GuestLog>(linker, get)?;
    Ok(())
}

impl v2::wharf::storage::host_log::Host for LogCtx {
    fn log(&mut self, level: v2::wharf::storage::host_log::Level, message: String) {
        use v2::wharf::storage::host_log::Level as L2;
        let level = match level {
            L2::Trace => Level::Trace,
            L2::Debug => Level::Debug,
            L2::Info => Level::Info,
            L2::Warn => Level::Warn,
            L2::Error => Level::Error,
        };
        v1::wharf::storage::host_log::Host::log(self, level, message);
    }
}

impl v1::wharf::storage::host_log::Host for LogCtx {
    fn log(&mut self, level: Level, message: String) {
        if !self.limiter.admit() {
            return;
        }
        // Cut, and control characters escaped: a guest must not forge log lines or drive
        // the operator's terminal.
        let message = super::answer::clean_text_within(&message, MAX_LOG_LINE);
        let driver = self.driver.as_str();
        let dropped = std::mem::take(&mut self.limiter.dropped);
        if dropped > 0 {
            tracing::warn!(target: "wharf::guest", driver, dropped, "guest log lines dropped by the rate limit");
        }
        match level {
            Level::Trace => tracing::trace!(target: "wharf::guest", driver, "{message}"),
            Level::Debug => tracing::debug!(target: "wharf::guest", driver, "{message}"),
            Level::Info => tracing::info!(target: "wharf::guest", driver, "{message}"),
            Level::Warn => tracing::warn!(target: "wharf::guest", driver, "{message}"),
            Level::Error => tracing::error!(target: "wharf::guest", driver, "{message}"),
        }
    }
}

/// A token bucket for guest log lines.
struct LogLimiter {
    tokens: f64,
    last: Instant,
    dropped: u64,
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self {
            tokens: LOG_BURST,
            last: Instant::now(),
            dropped: 0,
        }
    }
}

impl LogLimiter {
    fn admit(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * LOG_RATE;
        self.tokens = (self.tokens + refill).min(LOG_BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limiter_bounds_bursts() {
        let mut l = LogLimiter::default();
        let admitted = (0..10_000).filter(|_| l.admit()).count();
        assert!(admitted >= LOG_BURST as usize && admitted < LOG_BURST as usize + 50);
        assert!(l.dropped > 9_000);
    }
}
