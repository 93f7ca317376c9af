//! Outbound HTTP for drivers that reach a backend over the network (feature `http`), through
//! `wasi:http` under the operator's allow-list. Everything goes through a [`Network`], the
//! driver's retries and timeouts, read from the same parameters as the native cloud drivers'
//! (`max_retries`, `retry_delay`, `max_retry_delay`, `connect_timeout`, `read_timeout`):
//!
//! - [`Network::send`]: a request with its whole body, the whole answer back (listings,
//!   metadata, small objects), on `wstd`'s client;
//! - [`Network::get_stream`]: a request whose answer body the host reads itself (a reader's
//!   content): the body's stream goes to a [`StreamReader`](crate::StreamReader);
//! - [`Network::upload`]: a request whose body the host writes itself (a writer's part): the
//!   body's stream goes to the host, and [`Upload::finish`] ends the body and waits for the
//!   answer;
//! - [`Network::retry`]: any of those again after a back-off while the outcome says so (a
//!   temporary failure, [`transient`] statuses), up to `max_retries` times.
//!
//! Each sends once: whether a request may be sent again (its answer lost, say) is the driver's
//! call, which knows what the request does. Failures map to the contract's errors: a host the
//! sandbox refuses is `PermissionDenied`, a timeout is `Timeout`, anything else on the way is a
//! temporary `Backend` error.

use std::time::Duration;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, FutureIncomingResponse, IncomingBody, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::{InputStream, OutputStream};

use crate::{Error, Params, Result};

pub use http::{HeaderMap, Method, Request, StatusCode};

/// An answer read whole.
#[derive(Debug)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A header's value as text, if present and printable.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub use wharf_contract::network::{
    CONNECT_TIMEOUT, MAX_RETRIES, MAX_RETRIES_LIMIT, MAX_RETRY_DELAY, READ_TIMEOUT, RETRY_DELAY,
};

/// A driver's retries and timeouts (the native cloud drivers' parameters, same names, same
/// meaning; the time-outs' defaults are shorter, see [`Network::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first back-off; retry *n* waits `retry_delay` × 2^(*n*−1), ±25 %.
    pub retry_delay: Duration,
    /// The longest single back-off.
    pub max_retry_delay: Duration,
    /// The longest wait for a connection.
    pub connect_timeout: Duration,
    /// The longest wait for an answer's head, or for more of its body.
    pub read_timeout: Duration,
}

impl Default for Network {
    /// Four retries from 250 ms (doubling, at most 8 s), as the native drivers; 10 s to connect
    /// and 20 s for the next bytes of an answer, shorter than theirs (30 s, 120 s) so that a
    /// stalled request ends in the guest's own time-out, which its retries and the host's resume
    /// handle, before the host's deadline for the whole call (30 s by default) ends the call.
    fn default() -> Self {
        Self {
            max_retries: 4,
            retry_delay: Duration::from_millis(250),
            max_retry_delay: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(20),
        }
    }
}

impl Network {
    /// The parameters from `params` (taking them), `defaults` for those not given.
    /// `max_retries` is a non-negative integer up to [`MAX_RETRIES_LIMIT`], or -1 for none;
    /// the durations must be more than 0, and `max_retry_delay` at least `retry_delay`.
    pub fn from_params(params: &mut Params, defaults: Network) -> Result<Self> {
        let invalid = |key: &str, message: String| {
            Error::backend(format!("invalid parameter {key}: {message}"), false)
        };
        let max_retries = match params.string(MAX_RETRIES)? {
            None => defaults.max_retries,
            Some(text) if text.trim() == "-1" => 0,
            Some(text) => match crate::params::parse_integer(&text) {
                Some(n) if n <= u64::from(MAX_RETRIES_LIMIT) => n as u32,
                Some(n) => {
                    return Err(invalid(
                        MAX_RETRIES,
                        format!(
                            "expected at most {MAX_RETRIES_LIMIT} retries (or -1 for none), got {n}"
                        ),
                    ));
                }
                None => {
                    return Err(invalid(
                        MAX_RETRIES,
                        format!(
                            "expected a non-negative integer (or -1 for no retries), got {text:?}"
                        ),
                    ));
                }
            },
        };
        let mut positive = |key: &str, default: Duration| -> Result<Duration> {
            match params.duration(key)? {
                None => Ok(default),
                Some(d) if d.is_zero() => Err(invalid(key, "must be more than 0".into())),
                Some(d) => Ok(d),
            }
        };
        let network = Self {
            max_retries,
            retry_delay: positive(RETRY_DELAY, defaults.retry_delay)?,
            max_retry_delay: positive(MAX_RETRY_DELAY, defaults.max_retry_delay)?,
            connect_timeout: positive(CONNECT_TIMEOUT, defaults.connect_timeout)?,
            read_timeout: positive(READ_TIMEOUT, defaults.read_timeout)?,
        };
        if network.max_retry_delay < network.retry_delay {
            return Err(invalid(
                MAX_RETRY_DELAY,
                format!(
                    "{:?} is shorter than {RETRY_DELAY} ({:?})",
                    network.max_retry_delay, network.retry_delay
                ),
            ));
        }
        Ok(network)
    }

    /// The wait before retry `retry` (1 for the first): `retry_delay` × 2^(`retry`−1), at most
    /// `max_retry_delay`, then ±25 % from `random` (any `u64`).
    pub fn back_off(&self, retry: u32, random: u64) -> Duration {
        let doubled = self
            .retry_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        // At most half of u64's nanoseconds (292 years), so the jitter cannot overflow.
        let base = doubled
            .min(self.max_retry_delay)
            .as_nanos()
            .min(u128::from(u64::MAX / 2)) as u64;
        let spread = base / 2;
        let jitter = if spread == 0 {
            0
        } else {
            random % (spread + 1)
        };
        Duration::from_nanos(base - base / 4 + jitter)
    }

    /// Calls `attempt` until its outcome is final: while `again` says an outcome is worth
    /// another attempt and retries are left, waits [`Network::back_off`] and calls it again.
    /// Returns the last outcome.
    pub fn retry<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T>,
        again: impl Fn(&Result<T>) -> bool,
    ) -> Result<T> {
        let mut retry = 0;
        loop {
            let outcome = attempt();
            if retry >= self.max_retries || !again(&outcome) {
                return outcome;
            }
            drop(outcome);
            retry += 1;
            let wait = self.back_off(retry, wasip2::random::random::get_random_u64());
            wasip2::clocks::monotonic_clock::subscribe_duration(wait.as_nanos() as u64).block();
        }
    }

    /// The `wasi:http` options that carry the timeouts.
    fn options(&self) -> Result<wasip2::http::types::RequestOptions> {
        let options = wasip2::http::types::RequestOptions::new();
        let nanos = |d: Duration| d.as_nanos().min(u128::from(u64::MAX)) as u64;
        let refused = |what: &str| Error::backend(format!("the host refused the {what}"), false);
        options
            .set_connect_timeout(Some(nanos(self.connect_timeout)))
            .map_err(|()| refused("connect timeout"))?;
        options
            .set_first_byte_timeout(Some(nanos(self.read_timeout)))
            .map_err(|()| refused("first-byte timeout"))?;
        options
            .set_between_bytes_timeout(Some(nanos(self.read_timeout)))
            .map_err(|()| refused("between-bytes timeout"))?;
        Ok(options)
    }
}

/// True for a status that says "try again later" (408, 429, 500, 502, 503, 504): worth
/// another attempt when the request may be sent twice.
pub fn transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

impl Network {
    /// Sends `request` once and reads the whole answer.
    pub fn send(&self, request: Request<Vec<u8>>) -> Result<Response> {
        send(self, request)
    }

    /// Sends `request` (no body) once and returns the answer with its body unread, as a
    /// stream.
    pub fn get_stream(&self, request: Request<()>) -> Result<Streamed> {
        get_stream(self, request)
    }

    /// Starts `request` with a body of `length` bytes (its `Content-Length`), and returns the
    /// body's stream with the upload to finish once the stream is written and dropped.
    pub fn upload(&self, request: Request<()>, length: u64) -> Result<(Upload, OutputStream)> {
        Upload::start(self, request, length)
    }
}

fn send(network: &Network, mut request: Request<Vec<u8>>) -> Result<Response> {
    if request.body().is_empty() {
        // No body to send: the request's body is finished at once. (wstd writes even an empty
        // body, and that write fails when the server has already answered.)
        if *request.method() != Method::GET && *request.method() != Method::HEAD {
            // A PUT, POST or DELETE says its (empty) length: some servers refuse it otherwise.
            request
                .headers_mut()
                .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(0u64));
        }
        let (parts, _) = request.into_parts();
        return get_stream(network, Request::from_parts(parts, ()))?.into_response();
    }
    // Servers want the length of a body sent whole (some refuse a PUT or POST without one).
    let length = request.body().len() as u64;
    if length > 0 || matches!(*request.method(), Method::PUT | Method::POST) {
        request.headers_mut().insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(length),
        );
    }
    wstd::runtime::block_on(async move {
        let mut client = wstd::http::Client::new();
        client.set_connect_timeout(network.connect_timeout);
        client.set_first_byte_timeout(network.read_timeout);
        client.set_between_bytes_timeout(network.read_timeout);
        let response = client.send(request).await.map_err(failure)?;
        let (parts, mut body) = response.into_parts();
        let body = body.contents().await.map_err(failure)?.to_vec();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    })
}

/// What [`get_stream`] gives: the answer's head and, for a body the host should read, the
/// stream and the body it belongs to (keep it as long as the stream).
pub struct Streamed {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body's stream.
    pub stream: InputStream,
    /// The body the stream belongs to.
    pub body: IncomingBody,
}

impl Streamed {
    /// The whole answer, its body read to the end.
    pub fn into_response(self) -> Result<Response> {
        let (status, headers) = (self.status, self.headers.clone());
        Ok(Response {
            status,
            headers,
            body: self.read_to_end()?,
        })
    }

    /// Reads the whole body (the answer of a request whose body is small by nature).
    pub fn read_to_end(self) -> Result<Vec<u8>> {
        let mut content = Vec::new();
        read_stream(&self.stream, &mut content)?;
        Ok(content)
    }

    /// Reads the rest of the body into memory (an error's explanation; at most `max` bytes).
    pub fn read_all(self, max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < max {
            match self
                .stream
                .blocking_read((max - out.len()).min(64 << 10) as u64)
            {
                Ok(chunk) if !chunk.is_empty() => out.extend_from_slice(&chunk),
                _ => break,
            }
        }
        out
    }
}

fn get_stream(network: &Network, request: Request<()>) -> Result<Streamed> {
    let (outgoing, _) = outgoing(&request)?;
    let body = outgoing
        .body()
        .map_err(|()| Error::backend("the request's body was already taken", false))?;
    let future =
        outgoing_handler::handle(outgoing, Some(network.options()?)).map_err(error_code)?;
    OutgoingBody::finish(body, None).map_err(error_code)?;
    opened(wait(&future)?)
}

/// An answer's head, and its body's stream.
fn opened(response: wasip2::http::types::IncomingResponse) -> Result<Streamed> {
    let status = StatusCode::from_u16(response.status())
        .map_err(|_| Error::backend(format!("invalid status {}", response.status()), true))?;
    let headers = headers_of(&response.headers());
    let body = response
        .consume()
        .map_err(|()| Error::backend("the answer's body was already taken", false))?;
    let stream = body
        .stream()
        .map_err(|()| Error::backend("the answer's stream was already taken", false))?;
    Ok(Streamed {
        status,
        headers,
        stream,
        body,
    })
}

/// A request whose body is being written (by the host, or by the driver first).
pub struct Upload {
    body: OutgoingBody,
    future: FutureIncomingResponse,
}

impl Upload {
    fn start(
        network: &Network,
        mut request: Request<()>,
        length: u64,
    ) -> Result<(Self, OutputStream)> {
        request.headers_mut().insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(length),
        );
        let (outgoing, _) = outgoing(&request)?;
        let body = outgoing
            .body()
            .map_err(|()| Error::backend("the request's body was already taken", false))?;
        let stream = body
            .write()
            .map_err(|()| Error::backend("the request's stream was already taken", false))?;
        let future =
            outgoing_handler::handle(outgoing, Some(network.options()?)).map_err(error_code)?;
        Ok((Self { body, future }, stream))
    }

    /// Ends the body (its stream must be dropped) and reads the whole answer.
    pub fn finish(self) -> Result<Response> {
        OutgoingBody::finish(self.body, None).map_err(error_code)?;
        opened(wait(&self.future)?)?.into_response()
    }

    /// Ends the body when the host wrote all `length` bytes of it (`written`) and reads the
    /// answer, failing with `what` when the server refused it; otherwise gives up (`None`).
    pub fn conclude(
        self,
        written: u64,
        length: u64,
        what: impl FnOnce(StatusCode, &[u8]) -> Error,
    ) -> Result<Option<Response>> {
        if written != length {
            self.abandon();
            return Ok(None);
        }
        let r = self.finish()?;
        if r.status.is_success() {
            Ok(Some(r))
        } else {
            Err(what(r.status, &r.body))
        }
    }

    /// Gives up: the body is dropped unfinished, so the server sees an incomplete request.
    pub fn abandon(self) {
        drop(self.body);
        drop(self.future);
    }
}

/// Reads `stream` to its end into `out`.
fn read_stream(stream: &InputStream, out: &mut Vec<u8>) -> Result<()> {
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(wasip2::io::streams::StreamError::Closed) => return Ok(()),
            Err(wasip2::io::streams::StreamError::LastOperationFailed(e)) => {
                return Err(Error::backend(
                    format!(
                        "reading the answer failed: {}",
                        without_backtrace(&e.to_debug_string())
                    ),
                    true,
                ));
            }
        }
    }
}

/// Writes `data` into `stream` (bytes the driver itself holds, before the host's).
pub fn write_all(stream: &OutputStream, mut data: &[u8]) -> Result<()> {
    while !data.is_empty() {
        // `blocking-write-and-flush` takes at most 4096 bytes at a time.
        let n = data.len().min(4096);
        stream
            .blocking_write_and_flush(&data[..n])
            .map_err(|e| Error::backend(format!("writing the request body failed: {e:?}"), true))?;
        data = &data[n..];
    }
    Ok(())
}

fn wait(future: &FutureIncomingResponse) -> Result<wasip2::http::types::IncomingResponse> {
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(code))) => Err(error_code(code)),
        Some(Err(())) | None => Err(Error::backend("the answer was already taken", false)),
    }
}

/// The `wasi:http` request for `request`'s method, URL and headers.
fn outgoing<T>(request: &Request<T>) -> Result<(OutgoingRequest, ())> {
    let mut list = Vec::new();
    for (name, value) in request.headers() {
        list.push((name.as_str().to_owned(), value.as_bytes().to_vec()));
    }
    let fields = wasip2::http::types::Fields::from_list(&list)
        .map_err(|e| Error::backend(format!("a header was refused: {e:?}"), false))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match *request.method() {
        Method::GET => wasip2::http::types::Method::Get,
        Method::HEAD => wasip2::http::types::Method::Head,
        Method::PUT => wasip2::http::types::Method::Put,
        Method::POST => wasip2::http::types::Method::Post,
        Method::DELETE => wasip2::http::types::Method::Delete,
        ref other => wasip2::http::types::Method::Other(other.as_str().to_owned()),
    };
    let refused = |what: &str| Error::backend(format!("the request's {what} was refused"), false);
    outgoing
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    let uri = request.uri();
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        _ => Scheme::Https,
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    outgoing
        .set_authority(uri.authority().map(|a| a.as_str()))
        .map_err(|()| refused("authority"))?;
    outgoing
        .set_path_with_query(uri.path_and_query().map(|p| p.as_str()))
        .map_err(|()| refused("path"))?;
    Ok((outgoing, ()))
}

fn headers_of(fields: &wasip2::http::types::Fields) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in fields.entries() {
        if let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(name.as_bytes()),
            http::header::HeaderValue::from_bytes(&value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// A `wasi:http` error code as the contract's error.
fn error_code(code: ErrorCode) -> Error {
    match code {
        ErrorCode::HttpRequestDenied => Error::permission_denied(
            "the sandbox refused the request (is the host on the allow-list?)",
        ),
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout => Error::timeout(format!("{code:?}")),
        other => Error::backend(format!("HTTP failed: {other:?}"), true),
    }
}

/// A `wstd` failure as the contract's error. wstd sends the body while it waits for the answer
/// and reports the body's failure first: a body stream closed under it means the request was
/// refused (by the sandbox's allow-list, say) or the server hung up.
fn failure(e: wstd::http::Error) -> Error {
    if let Some(code) = e.downcast_ref::<ErrorCode>() {
        return error_code(code.clone());
    }
    let closed = e
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::ConnectionReset);
    if closed {
        return Error::backend(
            "HTTP failed: the connection closed before the request body was sent (a host the \
             sandbox refuses, or a server that hung up)",
            true,
        );
    }
    Error::backend(
        format!("HTTP failed: {}", without_backtrace(&format!("{e:#}"))),
        true,
    )
}

/// A host error's text without the stack backtrace the host may append to it (when it runs
/// with `RUST_BACKTRACE`), and at most 400 bytes of it.
fn without_backtrace(text: &str) -> String {
    let text = text
        .split("\nStack backtrace:")
        .next()
        .unwrap_or(text)
        .trim_end();
    let mut end = text.len().min(400);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(pairs: &[(&str, &str)]) -> Result<Network> {
        let mut params = Params::new(pairs.iter().copied());
        let network = Network::from_params(&mut params, Network::default())?;
        params.finish()?;
        Ok(network)
    }

    #[test]
    fn parameters_have_the_native_drivers_defaults_and_bounds() {
        assert_eq!(network(&[]).unwrap(), Network::default());
        let n = network(&[
            ("max_retries", "7"),
            ("retry_delay", "20ms"),
            ("max_retry_delay", "1s"),
            ("connect_timeout", "2s"),
            ("read_timeout", "3s"),
        ])
        .unwrap();
        assert_eq!(n.max_retries, 7);
        assert_eq!(n.retry_delay, Duration::from_millis(20));
        assert_eq!(n.max_retry_delay, Duration::from_secs(1));
        assert_eq!(n.connect_timeout, Duration::from_secs(2));
        assert_eq!(n.read_timeout, Duration::from_secs(3));
        assert_eq!(network(&[("max_retries", "-1")]).unwrap().max_retries, 0);
        for (pairs, named) in [
            (&[("max_retries", "101")][..], "max_retries"),
            (&[("max_retries", "-2")][..], "max_retries"),
            (&[("retry_delay", "0s")][..], "retry_delay"),
            (&[("read_timeout", "soon")][..], "read_timeout"),
            (
                &[("retry_delay", "2s"), ("max_retry_delay", "1s")][..],
                "max_retry_delay",
            ),
        ] {
            let e = network(pairs).unwrap_err().to_string();
            assert!(e.contains(named), "{pairs:?}: {e}");
        }
    }

    #[test]
    fn back_off_doubles_within_a_quarter_and_stops_at_the_most() {
        let n = Network {
            retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_millis(350),
            ..Network::default()
        };
        let range = |retry| {
            (
                n.back_off(retry, 0),
                n.back_off(retry, u64::MAX - 1),
                (0..200u64)
                    .map(|r| n.back_off(retry, r * 7_919_999_999))
                    .max()
                    .unwrap(),
            )
        };
        let (low, _, high) = range(1);
        assert_eq!(low, Duration::from_millis(75));
        assert!(high <= Duration::from_millis(125) && high > Duration::from_millis(100));
        let (low, _, high) = range(2);
        assert_eq!(low, Duration::from_millis(150));
        assert!(high <= Duration::from_millis(250));
        // Capped at 350 ms before the jitter, from the third retry on, however many.
        for retry in [3, 4, 40, u32::MAX] {
            let (low, other, high) = range(retry);
            assert_eq!(low, Duration::from_micros(262_500), "{retry}");
            assert!(other <= Duration::from_micros(437_500), "{retry}");
            assert!(high <= Duration::from_micros(437_500), "{retry}");
        }
    }

    #[test]
    fn an_absurd_back_off_does_not_overflow() {
        let n = Network {
            retry_delay: Duration::from_secs(u64::MAX / 4),
            max_retry_delay: Duration::MAX,
            ..Network::default()
        };
        for random in [0, u64::MAX] {
            assert!(n.back_off(u32::MAX, random) >= Duration::from_secs(100 * 365 * 24 * 3600));
        }
    }

    #[test]
    fn transient_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(transient(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 206, 304, 400, 403, 404, 409, 412, 416, 501] {
            assert!(!transient(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn host_errors_lose_their_backtrace() {
        let text = "hyper error: error reading a body from connection\nStack backtrace:\n   0: x";
        assert_eq!(
            without_backtrace(text),
            "hyper error: error reading a body from connection"
        );
        assert_eq!(without_backtrace(&"é".repeat(300)).len(), 400);
    }
}
