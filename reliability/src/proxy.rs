//! The fault proxy: HTTP/1.1 on a loopback port, each request forwarded on a connection of its
//! own to the upstream server, or broken as the [`Plan`] draws.
//!
//! The proxy reads each request's head and frames its body (`Content-Length` or chunked) so
//! that it knows where one request ends and the next begins on a kept-alive client connection.
//! The upstream connection is asked to close after its answer (`Connection: close`), which the
//! client never sees: the answer it gets keeps its own connection open. Answers are framed the
//! same way (`Content-Length`, chunked, or until the server closes).
//!
//! The proxy runs on a runtime of its own, so that a test whose work keeps its own runtime's
//! threads busy never delays what the proxy forwards (which the driver under test would take
//! for the server's slowness), and it keeps a log of the last requests it saw
//! ([`FaultProxy::requests_naming`]) so that a failure can be told from the faults that caused
//! it.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The longest request or answer head the proxy reads.
const MAX_HEAD: usize = 256 * 1024;
/// The most headers in one head.
const MAX_HEADERS: usize = 128;
/// The most requests the proxy's log keeps (the oldest go first).
const LOG_LENGTH: usize = 50_000;
/// The longest request target the log keeps.
const LOG_TARGET: usize = 300;

/// One way of breaking a request.
#[derive(Clone, PartialEq, Eq)]
pub enum Fault {
    /// The client's connection is reset once the request's head has arrived; nothing reaches
    /// the server.
    ResetBeforeRequest,
    /// The head and part of the body reach the server, then both connections are reset.
    ResetDuringRequestBody,
    /// The whole request reaches the server, which answers; the answer is dropped and the
    /// client's connection reset: the request took effect, and the client cannot know.
    ResetAfterRequest,
    /// The answer's head and part of its body reach the client, then its connection is reset.
    ResetDuringResponseBody,
    /// Nothing is forwarded; the connection is held silent for [`Plan::stall`], then reset.
    StallBeforeRequest,
    /// The request reaches the server; the answer's head and part of its body reach the
    /// client, then the connection is held silent for [`Plan::stall`] and reset.
    StallDuringResponseBody,
    /// The request's body is read and this answer sent instead of the server's; the client's
    /// connection stays open.
    Answer(Canned),
}

impl Fault {
    /// A short name for reports.
    pub fn name(&self) -> String {
        match self {
            Self::ResetBeforeRequest => "reset before request".into(),
            Self::ResetDuringRequestBody => "reset during request body".into(),
            Self::ResetAfterRequest => "reset after request (answer lost)".into(),
            Self::ResetDuringResponseBody => "reset during response body".into(),
            Self::StallBeforeRequest => "stall before request".into(),
            Self::StallDuringResponseBody => "stall during response body".into(),
            Self::Answer(canned) => format!("answer {}", canned.status),
        }
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// An answer the proxy sends in the server's place.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Canned {
    /// The status code.
    pub status: u16,
    /// Extra headers (`Content-Length` is added).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Canned {
    /// `status` with `content_type` and `body`.
    pub fn new(status: u16, content_type: &str, body: &str) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Bytes::from(body.to_owned()),
        }
    }

    /// A bare 500.
    pub fn internal_error() -> Self {
        Self::new(500, "text/plain", "injected: internal error")
    }

    /// A bare 503.
    pub fn unavailable() -> Self {
        Self::new(503, "text/plain", "injected: service unavailable")
    }

    /// S3's throttling answer: 503 `SlowDown`.
    pub fn s3_slow_down() -> Self {
        Self::new(
            503,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
             <Message>Please reduce your request rate.</Message></Error>",
        )
    }

    /// S3's 500 `InternalError`.
    pub fn s3_internal_error() -> Self {
        Self::new(
            500,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>\
             <Message>We encountered an internal error. Please try again.</Message></Error>",
        )
    }

    /// Azure Storage's throttling answer: 503 `ServerBusy`.
    pub fn azure_server_busy() -> Self {
        let mut canned = Self::new(
            503,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code>\
             <Message>The server is busy.</Message></Error>",
        );
        canned
            .headers
            .push(("x-ms-error-code".into(), "ServerBusy".into()));
        canned
    }

    /// Google Cloud Storage's rate limit: 429 with a JSON error.
    pub fn gcs_rate_limited() -> Self {
        Self::new(
            429,
            "application/json",
            r#"{"error":{"code":429,"message":"injected: rate limit exceeded","errors":[{"reason":"rateLimitExceeded"}]}}"#,
        )
    }

    /// Swift's rate limit: 498 (what `ratelimit` middleware answers).
    pub fn swift_rate_limited() -> Self {
        Self::new(498, "text/plain", "Slow down")
    }

    /// A plain 429 Too Many Requests.
    pub fn too_many_requests() -> Self {
        Self::new(429, "text/plain", "injected: too many requests")
    }

    fn render(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        429 => "Too Many Requests",
        498 => "Rate Limited",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected",
    }
}

/// Which requests fail, and how.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The share of requests that get a fault, from 0 (none) to 1 (all).
    pub rate: f64,
    /// The faults a failing request draws from, each as likely as the others.
    pub faults: Vec<Fault>,
    /// How long a stall holds a connection silent before resetting it.
    pub stall: Duration,
    /// Requests that only get error answers, never a broken connection: each a method and a
    /// piece of the request target (path and query) that names them. For a step that cannot
    /// be repeated nor asked about against the server under test (see the gcs fault suite).
    pub spared: Vec<(String, String)>,
    /// If any, the only requests that may get a fault: each a method and a piece of the
    /// request target. For a test that breaks one step of an operation.
    pub only: Vec<(String, String)>,
    /// The most faults the plan draws, counted from when it was set (none: no bound).
    pub at_most: Option<u64>,
}

impl Plan {
    /// No faults: every request is forwarded.
    pub fn none() -> Self {
        Self {
            rate: 0.0,
            faults: Vec::new(),
            stall: Duration::ZERO,
            spared: Vec::new(),
            only: Vec::new(),
            at_most: None,
        }
    }

    /// `rate` of the requests get one of every kind of fault: the six broken connections (with
    /// stalls of `stall`), a 500, a 503 and each of `answers` (the backend's own error and
    /// throttling answers).
    pub fn every_fault(rate: f64, stall: Duration, answers: &[Canned]) -> Self {
        let mut faults = vec![
            Fault::ResetBeforeRequest,
            Fault::ResetDuringRequestBody,
            Fault::ResetAfterRequest,
            Fault::ResetDuringResponseBody,
            Fault::StallBeforeRequest,
            Fault::StallDuringResponseBody,
            Fault::Answer(Canned::internal_error()),
            Fault::Answer(Canned::unavailable()),
        ];
        faults.extend(answers.iter().cloned().map(Fault::Answer));
        Self {
            rate,
            faults,
            stall,
            ..Self::none()
        }
    }

    /// The plan of the S3 fault suites (the native s3 driver's, the S3 guest's):
    /// [`crate::suite::FAULT_RATE`] of the requests, stalls of 3 s, and S3's own `SlowDown` and
    /// `InternalError` answers besides the plain 500 and 503.
    pub fn s3() -> Self {
        Self::every_fault(
            crate::suite::FAULT_RATE,
            Duration::from_secs(3),
            &[Canned::s3_slow_down(), Canned::s3_internal_error()],
        )
    }

    /// Every request gets `fault`.
    pub fn always(fault: Fault, stall: Duration) -> Self {
        Self {
            rate: 1.0,
            faults: vec![fault],
            stall,
            ..Self::none()
        }
    }

    /// The same plan, with the `method` requests whose target contains `target` spared broken
    /// connections: a fault drawn for one is an error answer of the plan, if it has any.
    pub fn sparing(mut self, method: &str, target: &str) -> Self {
        self.spared.push((method.to_owned(), target.to_owned()));
        self
    }

    /// The same plan, breaking only the `method` requests whose target contains `target` (and
    /// those of earlier calls).
    pub fn only(mut self, method: &str, target: &str) -> Self {
        self.only.push((method.to_owned(), target.to_owned()));
        self
    }

    /// The same plan, drawing at most `faults` faults.
    pub fn at_most(mut self, faults: u64) -> Self {
        self.at_most = Some(faults);
        self
    }

    /// Whether a request may get a fault at all.
    fn may_break(&self, head: &RequestHead) -> bool {
        self.only.is_empty()
            || self
                .only
                .iter()
                .any(|(method, target)| *method == head.method && head.target.contains(target))
    }

    fn spares(&self, head: &RequestHead) -> bool {
        self.spared
            .iter()
            .any(|(method, target)| *method == head.method && head.target.contains(target))
    }
}

/// What went through the proxy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Requests whose head arrived.
    pub requests: u64,
    /// Requests that got a fault, by the fault's name.
    pub faults: Vec<(String, u64)>,
}

impl Stats {
    /// Requests that got a fault.
    pub fn faulted(&self) -> u64 {
        self.faults.iter().map(|(_, n)| n).sum()
    }

    /// The share of requests that got a fault.
    pub fn rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.faulted() as f64 / self.requests as f64
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests, {} faults ({:.1} %)",
            self.requests,
            self.faulted(),
            100.0 * self.rate()
        )?;
        for (name, n) in &self.faults {
            write!(f, "; {name}: {n}")?;
        }
        Ok(())
    }
}

struct Shared {
    upstream: SocketAddr,
    /// The proxy's own address.
    own: SocketAddr,
    plan: Mutex<Plan>,
    rng: Mutex<StdRng>,
    requests: AtomicU64,
    faults: Mutex<Vec<(String, u64)>>,
    /// Faults drawn since the plan was set (for [`Plan::at_most`]).
    drawn: AtomicU64,
    stopped: AtomicBool,
    /// The `Host` header sent upstream in place of the client's, if any.
    host: Mutex<Option<String>>,
    /// When the proxy started: the log's times count from it.
    started: Instant,
    /// The next request's number.
    next_id: AtomicU64,
    /// The last [`LOG_LENGTH`] requests, oldest first.
    log: Mutex<VecDeque<Record>>,
}

/// One request the proxy saw, and what became of it.
struct Record {
    /// Its number, in the order requests arrived.
    id: u64,
    /// When it arrived, since the proxy started.
    at: Duration,
    method: String,
    target: String,
    /// The fault drawn for it, if any.
    fault: Option<String>,
    /// The server's answer, if one came.
    status: Option<u16>,
    /// How long the proxy spent on it, stalls included; none while it is in flight.
    took: Option<Duration>,
    /// What became of the client's connection after it.
    end: Option<String>,
}

/// A request counts as troubled, for [`FaultProxy::troubled_since`], from this long.
const SLOW: Duration = Duration::from_secs(1);

impl Record {
    /// The record as one line, `now` being the proxy's time (for a request still in flight).
    fn line(&self, now: Duration) -> String {
        let took = match self.took {
            Some(took) => format!("took {:.3}s", took.as_secs_f64()),
            None => format!(
                "in flight for {:.3}s",
                now.saturating_sub(self.at).as_secs_f64()
            ),
        };
        let mut line = format!(
            "+{:.3}s {} {} {took}",
            self.at.as_secs_f64(),
            self.method,
            self.target
        );
        match self.status {
            Some(status) => line += &format!(", server answered {status}"),
            None => line += ", no answer from the server",
        }
        if let Some(fault) = &self.fault {
            line += &format!(", fault: {fault}");
        }
        if let Some(end) = &self.end {
            line += &format!(", connection {end}");
        }
        line
    }

    /// Faulted, failed, slow, answered with a 5xx or still in flight.
    fn troubled(&self) -> bool {
        self.fault.is_some()
            || self.took.is_none_or(|t| t >= SLOW)
            || self.status.is_some_and(|s| s >= 500)
            || self.end.as_deref().is_some_and(|e| e.starts_with("ended"))
    }
}

impl Shared {
    /// The fault for the request `head`, if any, and a uniform draw for where to cut.
    fn draw(&self, head: &RequestHead) -> (Option<Fault>, Duration, f64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let plan = self.plan.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let cut: f64 = rng.random();
        if plan.faults.is_empty() || !rng.random_bool(plan.rate.clamp(0.0, 1.0)) {
            return (None, plan.stall, cut);
        }
        // Under the draw's lock, so that concurrent requests cannot overshoot the bound.
        let spent = plan
            .at_most
            .is_some_and(|most| self.drawn.load(Ordering::Relaxed) >= most);
        if spent || !plan.may_break(head) {
            return (None, plan.stall, cut);
        }
        self.drawn.fetch_add(1, Ordering::Relaxed);
        let fault = plan.faults[rng.random_range(0..plan.faults.len())].clone();
        if plan.spares(head) && !matches!(fault, Fault::Answer(_)) {
            let answers: Vec<&Fault> = plan
                .faults
                .iter()
                .filter(|f| matches!(f, Fault::Answer(_)))
                .collect();
            if answers.is_empty() {
                self.drawn.fetch_sub(1, Ordering::Relaxed);
                return (None, plan.stall, cut);
            }
            let fault = answers[rng.random_range(0..answers.len())].clone();
            return (Some(fault), plan.stall, cut);
        }
        (Some(fault), plan.stall, cut)
    }

    /// Logs a request as it arrives.
    fn begin(&self, record: Record) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == LOG_LENGTH {
            log.pop_front();
        }
        log.push_back(record);
    }

    /// Completes the log of request `id`, if it is still kept.
    fn finish(&self, id: u64, complete: impl FnOnce(&mut Record)) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(record) = log.iter_mut().rev().find(|r| r.id == id) {
            complete(record);
        }
    }

    /// The lines of the logged requests that `keep` keeps, oldest first.
    fn lines(&self, keep: impl Fn(&Record) -> bool) -> Vec<String> {
        let now = self.started.elapsed();
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| keep(r))
            .map(|r| r.line(now))
            .collect()
    }

    fn count(&self, fault: &Fault) {
        let name = fault.name();
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        match faults.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => faults.push((name, 1)),
        }
    }
}

/// A fault-injecting HTTP/1.1 proxy in front of one server, on a loopback port of its own.
/// It runs on a Tokio runtime of its own and stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    seed: u64,
    /// The proxy's runtime; shut down (without waiting) on drop.
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .field("seed", &self.seed)
            .finish()
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream` that breaks requests as `plan` says, its draws made from
    /// `seed`.
    pub async fn start(upstream: SocketAddr, plan: Plan, seed: u64) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared {
            upstream,
            own: addr,
            plan: Mutex::new(plan),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            requests: AtomicU64::new(0),
            faults: Mutex::new(Vec::new()),
            drawn: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            host: Mutex::new(None),
            started: Instant::now(),
            next_id: AtomicU64::new(0),
            log: Mutex::new(VecDeque::new()),
        });
        let accepting = shared.clone();
        runtime.spawn(async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::error!("fault proxy: cannot listen: {e}");
                    return;
                }
            };
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let shared = accepting.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(client, &shared).await {
                        tracing::debug!("fault proxy: connection ended: {e}");
                    }
                });
            }
        });
        Ok(Self {
            addr,
            shared,
            seed,
            runtime: Some(runtime),
        })
    }

    /// Starts a proxy to the server of `url` (`http://host:port…`, the host an IP address or
    /// `localhost`).
    pub async fn in_front_of(url: &str, plan: Plan, seed: u64) -> io::Result<Self> {
        Self::start(upstream_of(url)?, plan, seed).await
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `url` (which points at the upstream server) with its scheme and authority replaced by
    /// the proxy's.
    pub fn rewrite(&self, url: &str) -> String {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        format!("{}{path}", self.url())
    }

    /// Presents the proxy as the server: the upstream server gets its own address as `Host`,
    /// rather than the proxy's that the client sent, and URLs naming the server in the headers
    /// of its answers (a `Location`) are rewritten to name the proxy. For servers that route by
    /// `Host` (fake-gcs-server). Leave it off where the `Host` is signed (SigV4) or names the
    /// URLs the server hands out (Swift's tempauth).
    pub fn upstream_host(self) -> Self {
        *self.shared.host.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(self.shared.upstream.to_string());
        self
    }

    /// The seed of the proxy's draws.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Replaces the plan for the requests that arrive from now on.
    pub fn set_plan(&self, plan: Plan) {
        let _draws = self.shared.rng.lock().unwrap_or_else(|e| e.into_inner());
        self.shared.drawn.store(0, Ordering::Relaxed);
        *self.shared.plan.lock().unwrap_or_else(|e| e.into_inner()) = plan;
    }

    /// The requests in the proxy's log (its last 50 000) whose target contains `needle`, oldest
    /// first, one line each: when it came, how long the proxy spent on it (or that it is still
    /// in flight), the server's answer, the fault drawn and what became of the connection.
    pub fn requests_naming(&self, needle: &str) -> Vec<String> {
        self.shared.lines(|r| r.target.contains(needle))
    }

    /// The requests in the log that arrived from `since` (the proxy's time, [`FaultProxy::now`])
    /// and were faulted, failed, slow (a second or more), answered with a 5xx, or are still in
    /// flight: what can explain a failure whose requests do not name its paths (a large
    /// object's segments, an upload session's chunks).
    pub fn troubled_since(&self, since: Duration) -> Vec<String> {
        self.shared.lines(|r| r.at >= since && r.troubled())
    }

    /// The proxy's time: how long it has been running.
    pub fn now(&self) -> Duration {
        self.shared.started.elapsed()
    }

    /// What went through the proxy so far.
    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.shared.requests.load(Ordering::Relaxed),
            faults: self
                .shared
                .faults
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The socket address of `url`'s server.
fn upstream_of(url: &str) -> io::Result<SocketAddr> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {why}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("not an http:// URL"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.replacen("localhost", "127.0.0.1", 1);
    authority
        .parse()
        .map_err(|_| invalid("its host is not an IP address and port"))
}

/// How a body is delimited.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// One side's bytes read but not yet used.
#[derive(Default)]
struct Inbound {
    buf: BytesMut,
}

impl Inbound {
    /// Reads more; false at the end of the stream.
    async fn fill<R: AsyncRead + Unpin>(&mut self, io: &mut R) -> io::Result<bool> {
        self.buf.reserve(64 * 1024);
        Ok(io.read_buf(&mut self.buf).await? > 0)
    }

    /// The next line (with its CRLF).
    async fn line<R: AsyncRead + Unpin>(&mut self, io: &mut R) -> io::Result<Bytes> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return Ok(self.buf.split_to(i + 1).freeze());
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("a chunk line is too long"));
            }
            if !self.fill(io).await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

/// A request's head, ready to forward.
struct RequestHead {
    /// The head as sent upstream (with `Connection: close`).
    upstream: Vec<u8>,
    framing: Framing,
    is_head: bool,
    method: String,
    /// The request target: path and query.
    target: String,
}

fn header_value<'h>(headers: &'h [httparse::Header<'_>], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn is_chunked(headers: &[httparse::Header<'_>]) -> bool {
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
    })
}

fn content_length(headers: &[httparse::Header<'_>]) -> io::Result<Option<u64>> {
    header_value(headers, "content-length")
        .map(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| invalid("a Content-Length is not a number"))
        })
        .transpose()
}

/// Headers that belong to one connection, which the proxy sets itself.
fn is_hop_by_hop(name: &str) -> bool {
    ["connection", "keep-alive", "proxy-connection"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

fn render_headers(out: &mut Vec<u8>, headers: &[httparse::Header<'_>], host: Option<&str>) {
    if let Some(host) = host {
        out.extend_from_slice(format!("Host: {host}\r\n").as_bytes());
    }
    let replaced = |name: &str| host.is_some() && name.eq_ignore_ascii_case("host");
    for h in headers
        .iter()
        .filter(|h| !is_hop_by_hop(h.name) && !replaced(h.name))
    {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
}

async fn read_request_head<R: AsyncRead + Unpin>(
    io: &mut R,
    inbound: &mut Inbound,
    host: Option<&str>,
) -> io::Result<Option<RequestHead>> {
    loop {
        if !inbound.buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut request = httparse::Request::new(&mut headers);
            if let httparse::Status::Complete(n) = request
                .parse(&inbound.buf)
                .map_err(|e| invalid(&format!("a request head does not parse: {e}")))?
            {
                let method = request.method.unwrap_or("GET");
                let framing = if is_chunked(request.headers) {
                    Framing::Chunked
                } else {
                    Framing::Length(content_length(request.headers)?.unwrap_or(0))
                };
                let mut upstream =
                    format!("{method} {} HTTP/1.1\r\n", request.path.unwrap_or("/")).into_bytes();
                render_headers(&mut upstream, request.headers, host);
                upstream.extend_from_slice(b"Connection: close\r\n\r\n");
                let head = RequestHead {
                    upstream,
                    framing,
                    is_head: method.eq_ignore_ascii_case("HEAD"),
                    method: method.to_owned(),
                    target: request.path.unwrap_or("/").to_owned(),
                };
                inbound.buf.advance(n);
                return Ok(Some(head));
            }
        }
        if inbound.buf.len() > MAX_HEAD {
            return Err(invalid("a request head is too long"));
        }
        if !inbound.fill(io).await? {
            return if inbound.buf.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
    }
}

/// An answer's head: as read, and as the client gets it.
struct ResponseHead {
    raw: Bytes,
    /// The head for a client whose connection stays open, when the answer's framing allows it.
    kept_alive: Option<Vec<u8>>,
    status: u16,
    framing: Framing,
}

async fn read_response_head<R: AsyncRead + Unpin>(
    io: &mut R,
    inbound: &mut Inbound,
    is_head: bool,
    rewrite: Option<&(String, String)>,
) -> io::Result<ResponseHead> {
    loop {
        if !inbound.buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(n) = response
                .parse(&inbound.buf)
                .map_err(|e| invalid(&format!("an answer's head does not parse: {e}")))?
            {
                let status = response.code.unwrap_or(0);
                let framing =
                    if is_head || (100..200).contains(&status) || [204, 304].contains(&status) {
                        Framing::Length(0)
                    } else if is_chunked(response.headers) {
                        Framing::Chunked
                    } else {
                        match content_length(response.headers)? {
                            Some(n) => Framing::Length(n),
                            None => Framing::UntilClose,
                        }
                    };
                let kept_alive = (framing != Framing::UntilClose).then(|| {
                    let mut head = format!(
                        "HTTP/1.1 {status} {}\r\n",
                        response.reason.unwrap_or_default()
                    )
                    .into_bytes();
                    render_headers(&mut head, response.headers, None);
                    head.extend_from_slice(b"\r\n");
                    match rewrite {
                        Some((from, to)) => String::from_utf8_lossy(&head)
                            .replace(from.as_str(), to)
                            .into_bytes(),
                        None => head,
                    }
                });
                let raw = inbound.buf.split_to(n).freeze();
                return Ok(ResponseHead {
                    raw,
                    kept_alive,
                    status,
                    framing,
                });
            }
        }
        if inbound.buf.len() > MAX_HEAD {
            return Err(invalid("an answer's head is too long"));
        }
        if !inbound.fill(io).await? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Where bytes go, with a budget after which they stop (a cut).
struct Out<'a, W> {
    to: &'a mut W,
    left: Option<u64>,
}

impl<W: AsyncWrite + Unpin> Out<'_, W> {
    /// Writes `data`, or as much of it as the budget allows; false when the budget ran out.
    async fn emit(&mut self, data: &[u8]) -> io::Result<bool> {
        if let Some(left) = self.left {
            if data.len() as u64 > left {
                self.to.write_all(&data[..left as usize]).await?;
                self.to.flush().await?;
                self.left = Some(0);
                return Ok(false);
            }
            self.left = Some(left - data.len() as u64);
        }
        self.to.write_all(data).await.map(|_| true)
    }
}

/// Copies one body of `framing` from `io` to `out`; false when `out`'s budget cut it short.
async fn copy_body<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    io: &mut R,
    inbound: &mut Inbound,
    framing: Framing,
    out: &mut Out<'_, W>,
) -> io::Result<bool> {
    match framing {
        Framing::Length(mut left) => {
            while left > 0 {
                if inbound.buf.is_empty() && !inbound.fill(io).await? {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                let n = (inbound.buf.len() as u64).min(left) as usize;
                let piece = inbound.buf.split_to(n);
                left -= n as u64;
                if !out.emit(&piece).await? {
                    return Ok(false);
                }
            }
        }
        Framing::UntilClose => loop {
            if inbound.buf.is_empty() && !inbound.fill(io).await? {
                break;
            }
            let piece = inbound.buf.split();
            if !out.emit(&piece).await? {
                return Ok(false);
            }
        },
        Framing::Chunked => loop {
            let line = inbound.line(io).await?;
            if !out.emit(&line).await? {
                return Ok(false);
            }
            let size = std::str::from_utf8(&line)
                .ok()
                .map(|l| l.split(';').next().unwrap_or_default().trim())
                .and_then(|l| u64::from_str_radix(l, 16).ok())
                .ok_or_else(|| invalid("a chunk size does not parse"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let line = inbound.line(io).await?;
                    if !out.emit(&line).await? {
                        return Ok(false);
                    }
                    if line.as_ref() == b"\r\n" || line.as_ref() == b"\n" {
                        break;
                    }
                }
                break;
            }
            // The chunk's data and its CRLF.
            if !Box::pin(copy_body(io, inbound, Framing::Length(size + 2), out)).await? {
                return Ok(false);
            }
        },
    }
    out.to.flush().await?;
    Ok(true)
}

/// A cut somewhere inside a body of `framing`, from the uniform draw `unit`.
fn cut_point(framing: Framing, unit: f64) -> u64 {
    match framing {
        Framing::Length(n) if n > 0 => ((n as f64 * unit) as u64).min(n - 1),
        Framing::Length(_) => 0,
        Framing::Chunked | Framing::UntilClose => (unit * 64.0 * 1024.0) as u64,
    }
}

/// Resets `stream`: the peer sees a connection reset, not an orderly close.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Serves one client connection until it closes or a fault ends it.
async fn serve(mut client: TcpStream, shared: &Shared) -> io::Result<()> {
    let _ = client.set_nodelay(true);
    let mut inbound = Inbound::default();
    loop {
        if shared.stopped.load(Ordering::Relaxed) {
            return Ok(());
        }
        let host = shared
            .host
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(head) = read_request_head(&mut client, &mut inbound, host.as_deref()).await?
        else {
            return Ok(());
        };
        let (fault, stall, unit) = shared.draw(&head);
        if let Some(fault) = &fault {
            shared.count(fault);
        }
        let mut target = head.target.clone();
        if target.len() > LOG_TARGET {
            let mut end = LOG_TARGET;
            while !target.is_char_boundary(end) {
                end -= 1;
            }
            target.truncate(end);
            target.push('…');
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        shared.begin(Record {
            id,
            at: shared.started.elapsed(),
            method: head.method.clone(),
            target,
            fault: fault.as_ref().map(Fault::name),
            status: None,
            took: None,
            end: None,
        });
        let arrived = Instant::now();
        let outcome = serve_one(&mut client, &mut inbound, &head, fault, stall, unit, shared).await;
        let took = arrived.elapsed();
        let (status, end) = match &outcome {
            Ok(Served { status, next }) => (
                *status,
                match next {
                    Next::Request => "kept",
                    Next::Close => "closed",
                    Next::Reset => "reset by the proxy",
                }
                .to_owned(),
            ),
            Err((status, e)) => (*status, format!("ended: {e}")),
        };
        shared.finish(id, |r| {
            r.took = Some(took);
            r.status = status;
            r.end = Some(end);
        });
        let outcome = outcome.map(|served| served.next).map_err(|(_, e)| e);
        match outcome? {
            Next::Request => {}
            Next::Close => return Ok(()),
            Next::Reset => {
                reset(client);
                return Ok(());
            }
        }
    }
}

/// What the client's connection does after a request.
enum Next {
    /// It carries the next request.
    Request,
    /// It is closed.
    Close,
    /// It is reset.
    Reset,
}

/// What became of one request: the server's status, if it answered, and what comes next.
struct Served {
    status: Option<u16>,
    next: Next,
}

/// Serves the request `head` (whose body is still to be read from `client`) as `fault` says.
/// A failure keeps the server's status, if it had answered.
async fn serve_one(
    client: &mut TcpStream,
    inbound: &mut Inbound,
    head: &RequestHead,
    fault: Option<Fault>,
    stall: Duration,
    unit: f64,
    shared: &Shared,
) -> Result<Served, (Option<u16>, io::Error)> {
    let mut status = None;
    let next = match fault {
        None => {
            let kept = forward(client, inbound, head, Ending::Forward, shared, &mut status).await;
            if kept.map_err(|e| (status, e))? {
                Next::Request
            } else {
                Next::Close
            }
        }
        Some(Fault::ResetBeforeRequest) => Next::Reset,
        Some(Fault::StallBeforeRequest) => {
            tokio::time::sleep(stall).await;
            Next::Reset
        }
        Some(Fault::Answer(canned)) => {
            let mut sink = tokio::io::sink();
            let mut out = Out {
                to: &mut sink,
                left: None,
            };
            let answered = async {
                copy_body(client, inbound, head.framing, &mut out).await?;
                client.write_all(&canned.render()).await?;
                client.flush().await
            };
            answered.await.map_err(|e| (None, e))?;
            Next::Request
        }
        Some(Fault::ResetDuringRequestBody) => {
            let cut = cut_point(head.framing, unit);
            let sent = async {
                let mut upstream = TcpStream::connect(shared.upstream).await?;
                upstream.write_all(&head.upstream).await?;
                let mut out = Out {
                    to: &mut upstream,
                    left: Some(cut),
                };
                copy_body(client, inbound, head.framing, &mut out).await?;
                reset(upstream);
                Ok(())
            };
            sent.await.map_err(|e| (None, e))?;
            Next::Reset
        }
        Some(Fault::ResetAfterRequest) => {
            let lost = forward(client, inbound, head, Ending::Lost, shared, &mut status).await;
            lost.map_err(|e| (status, e))?;
            Next::Reset
        }
        Some(fault @ (Fault::ResetDuringResponseBody | Fault::StallDuringResponseBody)) => {
            let cut = forward(
                client,
                inbound,
                head,
                Ending::Cut(unit),
                shared,
                &mut status,
            )
            .await;
            cut.map_err(|e| (status, e))?;
            if fault == Fault::StallDuringResponseBody {
                tokio::time::sleep(stall).await;
            }
            Next::Reset
        }
    };
    Ok(Served { status, next })
}

/// What becomes of the server's answer.
#[derive(Clone, Copy)]
enum Ending {
    /// The client gets it.
    Forward,
    /// It is read and dropped.
    Lost,
    /// The client gets its head and a part of its body, cut at the uniform draw.
    Cut(f64),
}

/// Sends the request to `upstream` on a connection of its own and relays the answer as `ending`
/// says; true when the client's connection can carry another request.
async fn forward(
    client: &mut TcpStream,
    inbound: &mut Inbound,
    head: &RequestHead,
    ending: Ending,
    shared: &Shared,
    status: &mut Option<u16>,
) -> io::Result<bool> {
    let upstream = TcpStream::connect(shared.upstream).await?;
    let rewrite = shared
        .host
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_some()
        .then(|| {
            (
                format!("http://{}", shared.upstream),
                format!("http://{}", shared.own),
            )
        });
    relay(
        client,
        inbound,
        upstream,
        head,
        ending,
        rewrite.as_ref(),
        status,
    )
    .await
}

async fn relay(
    client: &mut TcpStream,
    inbound: &mut Inbound,
    mut upstream: TcpStream,
    head: &RequestHead,
    ending: Ending,
    rewrite: Option<&(String, String)>,
    status: &mut Option<u16>,
) -> io::Result<bool> {
    let _ = upstream.set_nodelay(true);
    upstream.write_all(&head.upstream).await?;
    let (mut client_read, mut client_write) = client.split();
    let (mut upstream_read, mut upstream_write) = upstream.split();
    // The request's body goes up while the answer comes down: a server may answer
    // `100 Continue` first, or refuse the request before reading its body.
    let send = async {
        let mut out = Out {
            to: &mut upstream_write,
            left: None,
        };
        copy_body(&mut client_read, inbound, head.framing, &mut out).await
    };
    let receive = async {
        let mut answer = Inbound::default();
        loop {
            let response =
                read_response_head(&mut upstream_read, &mut answer, head.is_head, rewrite).await?;
            if (100..200).contains(&response.status) {
                if matches!(ending, Ending::Forward) {
                    client_write.write_all(&response.raw).await?;
                    client_write.flush().await?;
                }
                continue;
            }
            *status = Some(response.status);
            let keep = response.kept_alive.is_some();
            return match ending {
                Ending::Forward => {
                    let head = response.kept_alive.unwrap_or_else(|| response.raw.to_vec());
                    client_write.write_all(&head).await?;
                    let mut out = Out {
                        to: &mut client_write,
                        left: None,
                    };
                    copy_body(&mut upstream_read, &mut answer, response.framing, &mut out).await?;
                    Ok(keep)
                }
                Ending::Lost => {
                    let mut sink = tokio::io::sink();
                    let mut out = Out {
                        to: &mut sink,
                        left: None,
                    };
                    copy_body(&mut upstream_read, &mut answer, response.framing, &mut out).await?;
                    Ok(false)
                }
                Ending::Cut(unit) => {
                    if response.framing == Framing::Length(0) {
                        // Nothing to cut: the answer is lost whole.
                        return Ok(false);
                    }
                    let head = response.kept_alive.unwrap_or_else(|| response.raw.to_vec());
                    client_write.write_all(&head).await?;
                    let mut out = Out {
                        to: &mut client_write,
                        left: Some(cut_point(response.framing, unit)),
                    };
                    copy_body(&mut upstream_read, &mut answer, response.framing, &mut out).await?;
                    client_write.flush().await?;
                    Ok(false)
                }
            };
        }
    };
    let (sent, received) = tokio::join!(send, receive);
    sent?;
    received
}
