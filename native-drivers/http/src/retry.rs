//! When a failed request is sent again, and after how long: only a temporary failure, only as
//! the request's [`Idempotency`] allows, at most `max_retries` times, waiting as the
//! [`Backoff`] says or as long as the service asked (`Retry-After`), and never more than
//! `max_total_delay` in all. The loop itself is [`HttpClient`](crate::HttpClient)'s.

use std::time::Duration;

use wharf_runtime::network::Network;

use crate::{Backoff, Failure, Idempotency};

/// How often and after how long a request is retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// The waits between attempts.
    pub backoff: Backoff,
    /// The most a request waits between its attempts in all; a retry that would wait beyond
    /// it is not made.
    pub max_total_delay: Duration,
}

impl Default for RetryConfig {
    /// Four retries from 250 ms, doubling, at most 8 s each (±25 %) and 3 minutes in all.
    fn default() -> Self {
        Self {
            max_retries: 4,
            backoff: Backoff::default(),
            max_total_delay: Duration::from_secs(180),
        }
    }
}

impl From<&Network> for RetryConfig {
    /// The driver's `max_retries` and back-off; 3 minutes of waiting in all.
    fn from(network: &Network) -> Self {
        Self {
            max_retries: network.max_retries,
            backoff: network.backoff,
            ..Self::default()
        }
    }
}

impl RetryConfig {
    /// The wait before retry `retry` (1 for the first) after `failure`, or `None` when it is
    /// not to be made because `waited` has been spent already: the back-off, or longer when the
    /// service asked for longer.
    pub fn delay(&self, retry: u32, failure: &Failure, waited: Duration) -> Option<Duration> {
        if retry > self.max_retries {
            return None;
        }
        let mut delay = self.backoff.delay(retry);
        if let Some(asked) = failure.retry_after() {
            delay = delay.max(asked);
        }
        (waited + delay <= self.max_total_delay).then_some(delay)
    }
}

/// True when a request of `idempotency` may be sent again after `failure`: the failure must be
/// temporary, and the request idempotent, or refused whole by the server when it allows that,
/// or never sent at all.
pub fn may_retry(idempotency: Idempotency, failure: &Failure) -> bool {
    if !failure.is_temporary() {
        return false;
    }
    match idempotency {
        Idempotency::Idempotent => true,
        Idempotency::RefusedOnly => !failure.answer_lost(),
        Idempotency::NotIdempotent => failure.never_sent(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, HeaderValue};
    use wharf_runtime::Error;

    use super::*;
    use crate::ErrorAnswer;

    fn answer(status: u16) -> Failure {
        Failure::from(ErrorAnswer::status(StatusCode::from_u16(status).unwrap()))
    }

    #[test]
    fn only_temporary_failures_are_retried() {
        for idempotency in [
            Idempotency::Idempotent,
            Idempotency::RefusedOnly,
            Idempotency::NotIdempotent,
        ] {
            assert!(!may_retry(idempotency, &answer(403)));
            assert!(!may_retry(idempotency, &answer(404)));
            assert!(!may_retry(idempotency, &Failure::malformed("x")));
            assert!(!may_retry(
                idempotency,
                &Failure::local(Error::backend("no"))
            ));
            // A token that could not be fetched for now: the request never left.
            assert!(may_retry(
                idempotency,
                &Failure::local(Error::temporary("later"))
            ));
        }
    }

    #[test]
    fn idempotency_decides_after_which_failures() {
        assert!(may_retry(Idempotency::Idempotent, &answer(503)));
        assert!(may_retry(Idempotency::RefusedOnly, &answer(503)));
        assert!(!may_retry(Idempotency::NotIdempotent, &answer(503)));
    }

    #[tokio::test]
    async fn lost_answers_are_retried_only_for_idempotent_requests() {
        // A connection that closes after the request: the answer is lost.
        let server = crate::testing::MockServer::start();
        server.push(crate::testing::Reply::hang_up());
        server.push(crate::testing::Reply::hang_up());
        let http = reqwest::Client::new();
        let lost = Failure::from(http.get(server.url()).send().await.unwrap_err());
        assert!(lost.answer_lost() && lost.is_temporary());
        assert!(may_retry(Idempotency::Idempotent, &lost));
        assert!(!may_retry(Idempotency::RefusedOnly, &lost));
        assert!(!may_retry(Idempotency::NotIdempotent, &lost));
        // A refused connection: the request never left.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let unsent = Failure::from(http.get(&closed).send().await.unwrap_err());
        assert!(unsent.never_sent());
        assert!(may_retry(Idempotency::NotIdempotent, &unsent));
        assert!(may_retry(Idempotency::RefusedOnly, &unsent));
    }

    #[test]
    fn attempts_and_total_delay_are_capped() {
        let config = RetryConfig {
            max_retries: 3,
            backoff: Backoff {
                jitter: 0.0,
                ..Backoff::starting_at(Duration::from_millis(100))
            },
            max_total_delay: Duration::from_millis(500),
        };
        let f = answer(503);
        assert_eq!(
            config.delay(1, &f, Duration::ZERO),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            config.delay(3, &f, Duration::from_millis(100)),
            Some(Duration::from_millis(400))
        );
        assert_eq!(
            config.delay(4, &f, Duration::ZERO),
            None,
            "too many retries"
        );
        assert_eq!(
            config.delay(3, &f, Duration::from_millis(300)),
            None,
            "beyond the total delay"
        );
    }

    #[test]
    fn retry_after_lengthens_the_wait() {
        let config = RetryConfig::default();
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3"));
        let f = Failure::from(ErrorAnswer::new(
            StatusCode::TOO_MANY_REQUESTS,
            headers.clone(),
            Bytes::new(),
        ));
        assert_eq!(
            config.delay(1, &f, Duration::ZERO),
            Some(Duration::from_secs(3))
        );
        // An answer that asks for more than the request may wait in all ends the retries.
        headers.insert("retry-after", HeaderValue::from_static("3600"));
        let f = Failure::from(ErrorAnswer::new(
            StatusCode::SERVICE_UNAVAILABLE,
            headers,
            Bytes::new(),
        ));
        assert_eq!(config.delay(1, &f, Duration::ZERO), None);
    }
}
