//! Outbound HTTP for drivers that reach a backend over the network (feature `http`), through
//! `wasi:http` under the operator's allow-list.
//!
//! - [`send`]: a request with its whole body, the whole answer back (listings, metadata, small
//!   objects), on `wstd`'s client;
//! - [`get_stream`]: a request whose answer body the host reads itself (a reader's content): the
//!   body's stream goes to a [`StreamReader`](crate::StreamReader);
//! - [`Upload`]: a request whose body the host writes itself (a writer's part): the body's stream
//!   goes to the host from [`Upload::start`], and [`Upload::finish`] ends the body and waits for
//!   the answer.
//!
//! Failures map to the contract's errors: a host the sandbox refuses is `PermissionDenied`, a
//! timeout is `Timeout`, anything else on the way is a temporary `Backend` error.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, FutureIncomingResponse, IncomingBody, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::{InputStream, OutputStream};

use crate::{Error, Result};

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

/// Sends `request` and reads the whole answer.
pub fn send(mut request: Request<Vec<u8>>) -> Result<Response> {
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
        return get_stream(Request::from_parts(parts, ()))?.into_response();
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
        let client = wstd::http::Client::new();
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

/// Sends `request` (no body) and returns the answer with its body unread, as a stream.
pub fn get_stream(request: Request<()>) -> Result<Streamed> {
    let (outgoing, _) = outgoing(&request)?;
    let body = outgoing
        .body()
        .map_err(|()| Error::backend("the request's body was already taken", false))?;
    let future = outgoing_handler::handle(outgoing, None).map_err(error_code)?;
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
    /// Starts `request` with a body of `length` bytes (its `Content-Length`), and returns the
    /// body's stream with the upload to finish once the stream is written and dropped.
    pub fn start(mut request: Request<()>, length: u64) -> Result<(Self, OutputStream)> {
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
        let future = outgoing_handler::handle(outgoing, None).map_err(error_code)?;
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
                    format!("reading the answer failed: {}", e.to_debug_string()),
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
    Error::backend(format!("HTTP failed: {e:#}"), true)
}
