//! The restart budget: faults of a guest driver's instances (traps, deadlines, broken
//! contracts, failed instantiations) tolerated within a window before new instances are refused
//! for a back-off period that doubles up to a minute, so a guest that keeps failing cannot
//! crash-loop at full cost.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};

/// Faults tolerated per window before new instances are refused for a back-off period.
pub(crate) struct RestartBudget {
    max: u32,
    window: Duration,
    faults: VecDeque<Instant>,
    backoff: Duration,
    refuse_until: Option<Instant>,
}

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl RestartBudget {
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            faults: VecDeque::new(),
            backoff: MIN_BACKOFF,
            refuse_until: None,
        }
    }

    pub(crate) fn record(&mut self, now: Instant) {
        self.faults.push_back(now);
        while self
            .faults
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.faults.pop_front();
        }
        if self.faults.len() as u32 > self.max {
            self.refuse_until = Some(now + self.backoff);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            self.faults.clear();
        }
    }

    pub(crate) fn admit(&mut self, now: Instant) -> Result<()> {
        match self.refuse_until {
            Some(until) if now < until => Err(Error::new(ErrorKind::DriverFault).with_detail(
                format!(
                    "the guest faulted more than {} times within {:?}; no new instance for another {:?}",
                    self.max,
                    self.window,
                    until - now
                ),
            )),
            Some(_) => {
                self.refuse_until = None;
                Ok(())
            }
            None => {
                if self.faults.is_empty() {
                    self.backoff = MIN_BACKOFF;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_backs_off_and_recovers() {
        let mut b = RestartBudget::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..2 {
            b.record(t0);
            assert!(b.admit(t0).is_ok());
        }
        b.record(t0);
        let e = b.admit(t0).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::DriverFault);
        assert!(b.admit(t0 + Duration::from_millis(500)).is_err());
        assert!(b.admit(t0 + Duration::from_secs(2)).is_ok());
        // A second crash loop backs off longer.
        let t1 = t0 + Duration::from_secs(3);
        for _ in 0..3 {
            b.record(t1);
        }
        assert!(b.admit(t1 + Duration::from_millis(1500)).is_err());
        assert!(b.admit(t1 + Duration::from_secs(3)).is_ok());
    }
}
