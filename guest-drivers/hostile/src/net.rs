//! Outbound network attempts of the hostile guest: an HTTP GET through `wasi:http`'s outgoing
//! handler (the only way out the sandbox offers, behind the operator's host allow-list), and a
//! raw TCP connection through `std::net` (`wasi:sockets`, which the sandbox keeps closed). A
//! refusal comes back as a clean `permission-denied` error, never as a trap. And a way to make
//! the host allocate for the guest without any grant: `wasi:http` header fields.

use std::io::ErrorKind;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;
use wharf_guest_sdk::{Error, Result};

/// Most response body bytes kept.
const MAX_BODY: usize = 1 << 20;

fn http_error(authority: &str, code: ErrorCode) -> Error {
    match code {
        ErrorCode::HttpRequestDenied => Error::permission_denied(format!(
            "outbound HTTP to {authority} refused by the sandbox ({code:?})"
        )),
        other => Error::backend(format!("HTTP GET to {authority} failed: {other:?}"), false),
    }
}

fn bad(what: &str) -> Error {
    Error::backend(format!("cannot set the request's {what}"), false)
}

/// A request for `<scheme>://<authority>/` (`https` when `tls`).
fn request_for(authority: &str, tls: bool) -> Result<OutgoingRequest> {
    request_with(authority, tls, Fields::new())
}

/// A request for `<scheme>://<authority>/` with the headers `fields`.
fn request_with(authority: &str, tls: bool, fields: Fields) -> Result<OutgoingRequest> {
    let request = OutgoingRequest::new(fields);
    let scheme = if tls { Scheme::Https } else { Scheme::Http };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| bad("authority"))?;
    request
        .set_path_with_query(Some("/"))
        .map_err(|()| bad("path"))?;
    Ok(request)
}

/// `GET <scheme>://<authority>/` (`https` when `tls`): the status and body as
/// `"<status> <body>"`.
pub fn http_get(authority: &str, tls: bool) -> Result<Vec<u8>> {
    let request = request_for(authority, tls)?;
    let future = outgoing_handler::handle(request, None).map_err(|c| http_error(authority, c))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(http_error(authority, code)),
        Some(Err(())) => return Err(Error::backend("the response was taken twice", false)),
        None => return Err(Error::backend("the response is not ready", false)),
    };
    let mut answer = format!("{} ", response.status()).into_bytes();
    let body = response
        .consume()
        .map_err(|()| Error::backend("the response body was taken twice", false))?;
    {
        let stream = body
            .stream()
            .map_err(|()| Error::backend("the body stream was taken twice", false))?;
        while answer.len() < MAX_BODY {
            match stream.blocking_read(64 << 10) {
                Ok(bytes) => answer.extend_from_slice(&bytes),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(Error::backend(
                        format!("reading the response failed: {}", e.to_debug_string()),
                        false,
                    ));
                }
            }
        }
    }
    Ok(answer)
}

/// Opens a TCP connection to `addr` with `std::net`; says so if it worked.
pub fn tcp_connect(addr: &str) -> Result<Vec<u8>> {
    match std::net::TcpStream::connect(addr) {
        Ok(_) => Ok(format!("connected to {addr}").into_bytes()),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => Err(Error::permission_denied(
            format!("TCP connection to {addr} refused by the sandbox: {e}"),
        )),
        Err(e) => Err(Error::backend(
            format!("TCP connection to {addr} failed ({:?}): {e}", e.kind()),
            false,
        )),
    }
}

/// Makes header-field resources in the host, 32 KiB in each (under the host's limit for one,
/// since going over it traps), and keeps them all: host memory the guest's memory limit does not
/// see.
pub fn grow_host_forever() -> ! {
    let value = vec![b'v'; 8 << 10];
    let mut kept = Vec::new();
    loop {
        let fields = Fields::new();
        for i in 0..4 {
            if fields.append(&format!("x-{i}"), &value).is_err() {
                break;
            }
        }
        kept.push(fields);
    }
}

/// Sends `count` requests to `http://<authority>/` without reading any answer, waits a moment,
/// and answers how they stand: `pending=N refused=N other=N first-refusal=…`.
pub fn http_flood(authority: &str, count: u64) -> Vec<u8> {
    let mut futures = Vec::new();
    let mut refused = 0u64;
    let mut other = 0u64;
    let mut first = String::from("none");
    for _ in 0..count {
        let Ok(request) = request_for(authority, false) else {
            return b"cannot build the request".to_vec();
        };
        match outgoing_handler::handle(request, None) {
            Ok(future) => futures.push(future),
            Err(code) => {
                refused += 1;
                if first == "none" {
                    first = format!("{code:?}");
                }
            }
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut pending = 0u64;
    for future in &futures {
        // An answer shows only once the future is polled: give each a millisecond.
        let ready = future.subscribe();
        let moment = wasip2::clocks::monotonic_clock::subscribe_duration(1_000_000);
        wasip2::io::poll::poll(&[&ready, &moment]);
        match future.get() {
            None => pending += 1,
            Some(Ok(Err(ErrorCode::ConnectionLimitReached))) => {
                refused += 1;
                if first == "none" {
                    first = "ConnectionLimitReached".into();
                }
            }
            Some(_) => other += 1,
        }
    }
    // Kept in flight until the instance goes.
    std::mem::forget(futures);
    format!("pending={pending} refused={refused} other={other} first-refusal={first}").into_bytes()
}

/// `GET http://<authority>/`: the response, its body unread.
fn get(authority: &str) -> Result<wasip2::http::types::IncomingResponse> {
    let request = request_for(authority, false)?;
    let future = outgoing_handler::handle(request, None).map_err(|c| http_error(authority, c))?;
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(code))) => Err(http_error(authority, code)),
        _ => Err(Error::backend("no response", false)),
    }
}

/// `GET http://<authority>/`, keeping the response but never reading its body: answers the
/// status.
pub fn http_unread(authority: &str) -> Result<Vec<u8>> {
    let response = get(authority)?;
    // Wait a while with the body unread, so the host has every chance to buffer it.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let status = response.status();
    std::mem::forget(response);
    Ok(format!("{status}").into_bytes())
}

/// `POST http://<authority>/` with a body that is written `size` bytes long and never
/// finished: answers how many bytes the host took before it stopped taking more.
pub fn http_unfinished_body(authority: &str, size: u64) -> Result<Vec<u8>> {
    let request = request_for(authority, false)?;
    request
        .set_method(&wasip2::http::types::Method::Post)
        .map_err(|()| bad("method"))?;
    let body = request.body().map_err(|()| bad("body"))?;
    let future = outgoing_handler::handle(request, None).map_err(|c| http_error(authority, c))?;
    let stream = body.write().map_err(|()| bad("body stream"))?;
    // blocking-write-and-flush takes at most 4096 bytes at a time.
    let chunk = vec![b'b'; 4096];
    let mut written = 0u64;
    while written < size {
        // Blocks while the host's buffer is full: the call's deadline ends it.
        if stream.blocking_write_and_flush(&chunk).is_err() {
            break;
        }
        written += chunk.len() as u64;
    }
    std::mem::forget((stream, body, future));
    Ok(format!("{written}").into_bytes())
}

/// `GET http://<authority>/`: the response body's stream, with the body it belongs to (keep it
/// as long as the stream), for the host to read itself.
pub fn body_stream(
    authority: &str,
) -> Result<(
    wasip2::http::types::IncomingBody,
    wasip2::io::streams::InputStream,
)> {
    let response = get(authority)?;
    let body = response.consume().map_err(|()| bad("response body"))?;
    let stream = body.stream().map_err(|()| bad("response stream"))?;
    Ok((body, stream))
}

/// `POST http://<authority>/` with a body of `length` bytes: the body's stream, with what it
/// depends on, for the host to write into.
pub fn upload_stream(
    authority: &str,
    length: u64,
) -> Result<(
    wasip2::http::types::OutgoingBody,
    wasip2::http::types::FutureIncomingResponse,
    wasip2::io::streams::OutputStream,
)> {
    let fields = Fields::from_list(&[("content-length".into(), length.to_string().into_bytes())])
        .map_err(|_| bad("content-length"))?;
    let request = request_with(authority, false, fields)?;
    request
        .set_method(&wasip2::http::types::Method::Post)
        .map_err(|()| bad("method"))?;
    let body = request.body().map_err(|()| bad("body"))?;
    let stream = body.write().map_err(|()| bad("body stream"))?;
    let future = outgoing_handler::handle(request, None).map_err(|c| http_error(authority, c))?;
    Ok((body, future, stream))
}
