//! Exponential back-off with jitter: the wait before retry *n* grows by `factor` from `first`
//! up to `max`, and is spread by ±`jitter` so that many clients throttled at once do not come
//! back together.

use std::time::Duration;

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The wait before the first retry (before jitter).
    pub first: Duration,
    /// The longest wait (before jitter).
    pub max: Duration,
    /// How much each wait grows over the one before.
    pub factor: f64,
    /// The spread, as a fraction of the wait: 0.25 waits between 75 % and 125 % of it.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 250 ms, doubling, at most 8 s, ±25 %.
    fn default() -> Self {
        Self {
            first: Duration::from_millis(250),
            max: Duration::from_secs(8),
            factor: 2.0,
            jitter: 0.25,
        }
    }
}

impl Backoff {
    /// The default back-off starting at `first`.
    pub fn starting_at(first: Duration) -> Self {
        Self {
            first,
            ..Self::default()
        }
    }

    /// The wait before retry `retry` (1 for the first), before jitter.
    pub fn base(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(64) as i32;
        let grown = self.first.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        if !grown.is_finite() || grown >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(grown).min(self.max)
        }
    }

    /// The wait before retry `retry`, with jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        self.spread(retry, rand::random::<f64>())
    }

    /// The wait before retry `retry` for the uniform draw `unit` in `[0, 1)`.
    pub fn spread(&self, retry: u32, unit: f64) -> Duration {
        let jitter = self.jitter.clamp(0.0, 1.0);
        let scale = 1.0 - jitter + 2.0 * jitter * unit.clamp(0.0, 1.0);
        self.base(retry).mul_f64(scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_are_capped() {
        let b = Backoff::default();
        let bases: Vec<u128> = (1..=7).map(|n| b.base(n).as_millis()).collect();
        assert_eq!(bases, [250, 500, 1000, 2000, 4000, 8000, 8000]);
        assert_eq!(b.base(u32::MAX), b.max);
        assert_eq!(b.base(0), b.first);
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let b = Backoff::default();
        for retry in 1..20 {
            assert_eq!(b.spread(retry, 0.0), b.base(retry).mul_f64(0.75));
            assert_eq!(b.spread(retry, 1.0), b.base(retry).mul_f64(1.25));
            for _ in 0..50 {
                let d = b.delay(retry);
                assert!(d >= b.base(retry).mul_f64(0.75), "{retry}: {d:?}");
                assert!(d <= b.base(retry).mul_f64(1.25), "{retry}: {d:?}");
            }
        }
        let still = Backoff {
            jitter: 0.0,
            ..Backoff::starting_at(Duration::from_millis(100))
        };
        assert_eq!(still.delay(3), Duration::from_millis(400));
    }
}
