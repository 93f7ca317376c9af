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

/// `GET http://<authority>/`: the status and body as `"<status> <body>"`.
pub fn http_get(authority: &str) -> Result<Vec<u8>> {
    let bad = |what: &str| Error::backend(format!("cannot set the request's {what}"), false);
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| bad("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| bad("authority"))?;
    request
        .set_path_with_query(Some("/"))
        .map_err(|()| bad("path"))?;
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
