//! The one send-and-retry loop of the cloud drivers. Each attempt clones the [`Request`], has
//! the driver's [`Sign`] add dates and credentials, sends it, and turns an error answer into a
//! [`Failure`] that the driver's error reader refines (codes, messages, which statuses are
//! temporary). A failure is retried as [`may_retry`] and [`RetryConfig`] allow; a 401 lets the
//! signer fetch a fresh credential and sign once more, without counting as a retry.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use wharf_runtime::network::Network;

use crate::{ErrorAnswer, Failure, Request, RetryConfig, may_retry};

/// What a driver adds to each attempt of a request: dates, credentials, signatures.
pub trait Sign: Sync {
    /// Makes one attempt of `request` ready to send. A failure here (no credential could be
    /// had) means the request never left.
    fn sign(&self, request: &mut Request) -> impl Future<Output = Result<(), Failure>> + Send;

    /// The service refused the credential `signed` carried (HTTP 401). True when a fresh one
    /// may be tried: the request is then signed and sent once more.
    fn refused(&self, signed: &Request) -> impl Future<Output = bool> + Send {
        let _ = signed;
        async { false }
    }
}

/// Requests that carry their own authorisation (a session URI, a signed URL) or need none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unsigned;

impl Sign for Unsigned {
    async fn sign(&self, _request: &mut Request) -> Result<(), Failure> {
        Ok(())
    }
}

/// A driver's reading of its service's error answers: the code, the message, which answers are
/// temporary or say "not found".
pub type ReadError = fn(&mut ErrorAnswer);

/// A successful answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// The status (2xx, or one the request accepted).
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// A header's value as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A header's value as text, if present.
pub fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A reqwest client builder with the driver's `connect_timeout` and `read_timeout` (the longest
/// wait between two reads of an answer), idle connections kept 50 s, and `user_agent`.
pub fn client_builder(user_agent: &str, network: &Network) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(network.connect_timeout)
        .read_timeout(network.read_timeout)
        .pool_idle_timeout(Duration::from_secs(50))
        .user_agent(user_agent)
}

/// A driver's HTTP client: one connection pool, one retry policy, one reading of error
/// answers.
#[derive(Debug, Clone)]
pub struct HttpClient {
    service: &'static str,
    http: reqwest::Client,
    retry: RetryConfig,
    read_error: ReadError,
}

enum Outcome {
    Streaming(reqwest::Response),
    Whole(Answer),
}

impl HttpClient {
    /// A client for `service` (named in logs) over `http`, retrying as `retry` says.
    pub fn new(service: &'static str, http: reqwest::Client, retry: RetryConfig) -> Self {
        Self {
            service,
            http,
            retry,
            read_error: |_| {},
        }
    }

    /// Reads error answers with `read` (after the kit's defaults are filled in).
    pub fn reading_errors(mut self, read: ReadError) -> Self {
        self.read_error = read;
        self
    }

    /// The underlying reqwest client (for requests outside the retry loop: token fetches).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The retry policy.
    pub fn retry_config(&self) -> &RetryConfig {
        &self.retry
    }

    /// Sends `request`, signed by `signer`, retrying as allowed, and returns the successful
    /// answer with its body still to be read (for downloads).
    pub async fn send(
        &self,
        request: &Request,
        signer: &impl Sign,
    ) -> Result<reqwest::Response, Failure> {
        match self.run(request, signer, false).await? {
            Outcome::Streaming(r) => Ok(r),
            Outcome::Whole(_) => unreachable!("a streaming send reads no body"),
        }
    }

    /// Sends `request` like [`HttpClient::send`] and reads the whole answer; a body that breaks
    /// off is a lost answer, retried as such.
    pub async fn call(&self, request: &Request, signer: &impl Sign) -> Result<Answer, Failure> {
        match self.run(request, signer, true).await? {
            Outcome::Whole(a) => Ok(a),
            Outcome::Streaming(_) => unreachable!("a whole call reads the body"),
        }
    }

    async fn run(
        &self,
        request: &Request,
        signer: &impl Sign,
        whole: bool,
    ) -> Result<Outcome, Failure> {
        let mut retries = 0;
        let mut waited = Duration::ZERO;
        let mut refreshed = false;
        let mut lost = false;
        loop {
            let mut signed = request.clone();
            let result = match signer.sign(&mut signed).await {
                Ok(()) => self.attempt(&signed, whole).await,
                Err(f) => Err(f),
            };
            let failure = match result {
                Ok(outcome) => return Ok(outcome),
                Err(f) => f,
            };
            if failure.status() == Some(StatusCode::UNAUTHORIZED)
                && !refreshed
                && signer.refused(&signed).await
            {
                tracing::debug!(service = self.service, url = %signed.redacted_url(),
                    "the credential was refused; signing again with a fresh one");
                refreshed = true;
                continue;
            }
            let delay = if may_retry(request.idempotency_of(), &failure) {
                self.retry.delay(retries + 1, &failure, waited)
            } else {
                None
            };
            let Some(delay) = delay else {
                return Err(failure.set_maybe_applied(lost));
            };
            lost |= failure.answer_lost();
            retries += 1;
            tracing::debug!(service = self.service, retry = retries, ?delay,
                method = %signed.method(), url = %signed.redacted_url(), error = %failure,
                "retrying a request");
            tokio::time::sleep(delay).await;
            waited += delay;
        }
    }

    async fn attempt(&self, signed: &Request, whole: bool) -> Result<Outcome, Failure> {
        wharf_runtime::network::count_request();
        let response = signed.build(&self.http).send().await?;
        let status = response.status();
        if signed.succeeded(status) {
            if !whole {
                return Ok(Outcome::Streaming(response));
            }
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            return Ok(Outcome::Whole(Answer {
                status,
                headers,
                body,
            }));
        }
        let headers = response.headers().clone();
        // An error body is small; a failure to read it only loses the message.
        let body = if *signed.method() == Method::HEAD {
            Bytes::new()
        } else {
            response.bytes().await.unwrap_or_default()
        };
        let mut answer = ErrorAnswer::new(status, headers, body);
        (self.read_error)(&mut answer);
        Err(answer.into())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::testing::{MockServer, Reply};
    use crate::{Backoff, Idempotency};

    fn quick(max_retries: u32) -> HttpClient {
        let retry = RetryConfig {
            max_retries,
            backoff: Backoff::starting_at(Duration::from_millis(5)),
            ..RetryConfig::default()
        };
        HttpClient::new("test", reqwest::Client::new(), retry)
    }

    #[tokio::test]
    async fn temporary_failures_are_retried_until_success() {
        let server = MockServer::start();
        server.push(Reply::status(503));
        server.push(Reply::hang_up());
        server.push(Reply::status(429).body("slow down"));
        server.push(Reply::status(200).body("done"));
        let answer = quick(4)
            .call(&Request::new(Method::GET, server.url()), &Unsigned)
            .await
            .unwrap();
        assert_eq!(&answer.body[..], b"done");
        assert_eq!(server.requests().len(), 4);
    }

    #[tokio::test]
    async fn retries_stop_at_the_limit_and_say_an_answer_was_lost() {
        let server = MockServer::start();
        server.push(Reply::hang_up());
        server.push(Reply::status(404));
        let f = quick(4)
            .call(&Request::new(Method::DELETE, server.url()), &Unsigned)
            .await
            .unwrap_err();
        assert!(f.is_not_found() && f.maybe_applied(), "{f:?}");

        let server = MockServer::start();
        for _ in 0..3 {
            server.push(Reply::status(500));
        }
        let f = quick(2)
            .call(&Request::new(Method::GET, server.url()), &Unsigned)
            .await
            .unwrap_err();
        assert_eq!(f.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!f.maybe_applied());
        assert_eq!(server.requests().len(), 3);
    }

    #[tokio::test]
    async fn requests_that_are_not_idempotent_are_sent_once() {
        let server = MockServer::start();
        server.push(Reply::hang_up());
        let client = quick(4);
        let post = Request::new(Method::POST, server.url()).body("x");
        let f = client.call(&post, &Unsigned).await.unwrap_err();
        assert!(f.is_transport(), "{f:?}");
        assert_eq!(server.requests().len(), 1);

        server.push(Reply::hang_up());
        server.push(Reply::status(503));
        server.push(Reply::status(201));
        let chunk = Request::new(Method::PUT, server.url()).idempotency(Idempotency::RefusedOnly);
        let f = client.call(&chunk, &Unsigned).await.unwrap_err();
        assert!(f.answer_lost(), "{f:?}");
        assert_eq!(server.requests().len(), 2);
        // A refusal is retried: the server did not act on it.
        assert_eq!(client.call(&chunk, &Unsigned).await.unwrap().status, 201);
        assert_eq!(server.requests().len(), 4);
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let server = MockServer::start();
        server.push(Reply::status(503).header("retry-after", "1"));
        server.push(Reply::status(200));
        let started = std::time::Instant::now();
        quick(2)
            .call(&Request::new(Method::GET, server.url()), &Unsigned)
            .await
            .unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(1), "{waited:?}");
    }

    #[tokio::test]
    async fn error_answers_are_read_by_the_driver() {
        let server = MockServer::start();
        server.push(Reply::status(409).body("<Error><Code>Busy</Code></Error>"));
        let client = quick(0).reading_errors(|a| {
            a.code = "Busy".into();
            a.message = "read by the driver".into();
            a.temporary = false;
        });
        let f = client
            .call(&Request::new(Method::GET, server.url()), &Unsigned)
            .await
            .unwrap_err();
        assert!(f.is("Busy"));
        assert_eq!(f.to_string(), "HTTP 409 Busy: read by the driver");
    }

    struct Tokens {
        fetched: AtomicUsize,
    }

    impl Sign for Tokens {
        async fn sign(&self, request: &mut Request) -> Result<(), Failure> {
            let n = self.fetched.load(Ordering::SeqCst);
            request.push_header("authorization", format!("Bearer t{n}"));
            Ok(())
        }

        async fn refused(&self, _signed: &Request) -> bool {
            self.fetched.fetch_add(1, Ordering::SeqCst);
            true
        }
    }

    #[tokio::test]
    async fn a_refused_credential_is_replaced_once() {
        let server = MockServer::start();
        server.push(Reply::status(401));
        server.push(Reply::status(200));
        server.push(Reply::status(401));
        server.push(Reply::status(401));
        let signer = Tokens {
            fetched: AtomicUsize::new(0),
        };
        let client = quick(4);
        let req = Request::new(Method::GET, server.url());
        client.call(&req, &signer).await.unwrap();
        let f = client.call(&req, &signer).await.unwrap_err();
        assert_eq!(f.status(), Some(StatusCode::UNAUTHORIZED));
        let seen: Vec<String> = server
            .requests()
            .iter()
            .map(|r| r.header("authorization").unwrap_or_default().to_owned())
            .collect();
        assert_eq!(seen, ["Bearer t0", "Bearer t1", "Bearer t1", "Bearer t2"]);
    }
}
