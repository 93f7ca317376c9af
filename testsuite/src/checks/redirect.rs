//! CONTRACT §3 `redirect_url`: when a driver hands out a URL, a GET of it returns exactly the
//! content and a HEAD returns 200 with the right `Content-Length`. A driver that answers `None`
//! ("serve through the registry") passes.
//!
//! The suite fetches URLs with a minimal HTTP/1.1 client (plain `http://` only, over a blocking
//! `std::net::TcpStream` on tokio's blocking pool) so that it needs no HTTP or TLS dependency.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use wharf_runtime::RedirectMethod;

use crate::data;
use crate::support::{
    CheckError, CheckResult, Context, ensure_eq, fail, first_part, random_path, with_cleanup,
};
use crate::{Fixture, RunOptions};

const TIMEOUT: Duration = Duration::from_secs(30);

/// GET of the redirect URL returns the content; HEAD returns 200 and `Content-Length`.
pub(crate) async fn redirect_get_and_head(
    fx: Arc<dyn Fixture>,
    options: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let seed = data::seed("redirect_get_and_head");
    let len = 4099u64;
    let expiry = Duration::from_secs(20 * 60);
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        d.put_content(&path, data::bytes(seed, 0, len as usize))
            .await
            .context("put_content")?;
        if let Some(url) = d
            .redirect_url(RedirectMethod::Get, &path, expiry)
            .await
            .context("redirect_url(GET)")?
        {
            let response = fetch("GET", &url, options).await?;
            ensure_eq!(response.status, 200, "GET {url}: status");
            crate::support::ensure_data(
                &response.body,
                seed,
                0,
                len,
                format_args!("GET {url}: body"),
            )?;
        }
        if let Some(url) = d
            .redirect_url(RedirectMethod::Head, &path, expiry)
            .await
            .context("redirect_url(HEAD)")?
        {
            let response = fetch("HEAD", &url, options).await?;
            ensure_eq!(response.status, 200, "HEAD {url}: status");
            ensure_eq!(
                response.header("content-length"),
                Some(len.to_string().as_str()),
                "HEAD {url}: Content-Length"
            );
        }
        Ok(())
    })
    .await
}

/// What the suite needs of an HTTP response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `method` of `url`; under injected faults (the URL leads through the fault proxy too), asked
/// again after a broken connection or a temporary error answer, as any client of a storage
/// service would.
async fn fetch(
    method: &'static str,
    url: &str,
    options: RunOptions,
) -> Result<Response, CheckError> {
    let attempts = if options.faults { 10 } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = fetch_once(method, url).await;
        let temporary = match &outcome {
            Ok(r) => matches!(r.status, 429 | 498 | 500..=599),
            Err(_) => true,
        };
        if !temporary || attempt >= attempts {
            return outcome;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fetch_once(method: &'static str, url: &str) -> Result<Response, CheckError> {
    if url.starts_with("https://") {
        fail!("{method} {url}: https is not supported by the conformance suite's HTTP client");
    }
    let owned = url.to_owned();
    let result = tokio::task::spawn_blocking(move || request(method, &owned))
        .await
        .map_err(|e| CheckError::new(format!("{method} {url}: the request task failed: {e}")))?;
    result.map_err(|e| CheckError::new(format!("{method} {url}: {e}")))
}

/// `(host:port for connecting, Host header, request target)` of an `http://` URL.
fn split_url(url: &str) -> Result<(String, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "not an http:// URL".to_owned())?;
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(cut);
    if authority.is_empty() || authority.contains('@') {
        return Err("the URL has no host, or has user information".into());
    }
    let target = target.split('#').next().unwrap_or("");
    let target = match target {
        "" => "/".to_owned(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_owned(),
    };
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    let connect = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((connect, authority.to_owned(), target))
}

fn request(method: &str, url: &str) -> Result<Response, String> {
    let (connect, host, target) = split_url(url)?;
    let addrs: Vec<_> = connect
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {connect}: {e}"))?
        .collect();
    let mut last = format!("{connect} resolved to no address");
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let io = |e: std::io::Error| format!("I/O error: {e}");
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: wharf-testsuite\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    // With `Connection: close` the server ends the response by closing; a server that keeps
    // the connection open anyway is handled by stopping once the framed body is complete.
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Ok(Some(response)) = parse(&raw, method == "HEAD", false) {
            return Ok(response);
        }
    }
    parse(&raw, method == "HEAD", true)?.ok_or_else(|| "the response ended early".to_owned())
}

/// Parses a response; `Ok(None)` while it is incomplete (`at_eof` says no more bytes will come).
fn parse(raw: &[u8], head_only: bool, at_eof: bool) -> Result<Option<Response>, String> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if at_eof {
            Err("the response has no complete header".into())
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "the response header is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unexpected status line {status_line:?}"));
    }
    let status: u16 = code
        .parse()
        .map_err(|_| format!("unexpected status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let body = &raw[end + 4..];
    if head_only || status == 204 || status == 304 {
        return Ok(Some(response));
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return match dechunk(body)? {
            Some(b) => {
                response.body = b;
                Ok(Some(response))
            }
            None if at_eof => Err("the chunked body ended early".into()),
            None => Ok(None),
        };
    }
    if let Some(len) = response.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        if body.len() < len {
            return if at_eof {
                Err(format!(
                    "the body ended after {} of {len} bytes",
                    body.len()
                ))
            } else {
                Ok(None)
            };
        }
        response.body = body[..len].to_vec();
        return Ok(Some(response));
    }
    if !at_eof {
        return Ok(None);
    }
    response.body = body.to_vec();
    Ok(Some(response))
}

/// Decodes a chunked body; `Ok(None)` while incomplete.
fn dechunk(mut body: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&body[..line_end]).map_err(|_| "bad chunk size line")?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if body.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_host_and_target() {
        let s = |u: &str| split_url(u).unwrap();
        assert_eq!(
            s("http://h:9000/b/k?X-Sig=1"),
            ("h:9000".into(), "h:9000".into(), "/b/k?X-Sig=1".into())
        );
        assert_eq!(s("http://h"), ("h:80".into(), "h".into(), "/".into()));
        assert_eq!(s("http://h?q"), ("h:80".into(), "h".into(), "/?q".into()));
        assert_eq!(
            s("http://[::1]/x#f"),
            ("[::1]:80".into(), "[::1]".into(), "/x".into())
        );
        assert_eq!(
            s("http://[::1]:8/x"),
            ("[::1]:8".into(), "[::1]:8".into(), "/x".into())
        );
        assert!(split_url("https://h/x").is_err());
        assert!(split_url("http://u:p@h/x").is_err());
    }

    #[test]
    fn responses_parse_with_length_chunked_and_head() {
        let r = parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef",
            false,
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
        assert!(
            parse(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab",
                false,
                false
            )
            .unwrap()
            .is_none()
        );
        assert!(
            parse(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab",
                false,
                true
            )
            .is_err()
        );
        let r = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;x=y\r\nc\r\n0\r\n\r\n",
            false,
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.body, b"abc");
        let r = parse(
            b"HTTP/1.1 200 OK\r\ncontent-length: 32\r\n\r\n",
            true,
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.header("Content-Length"), Some("32"));
        let r = parse(b"HTTP/1.0 404 Not Found\r\n\r\nnope", false, true)
            .unwrap()
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"nope"[..]));
    }

    #[tokio::test]
    async fn fetches_from_a_local_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for _ in 0..2 {
                let (mut s, _) = listener.accept().unwrap();
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).unwrap();
                    req.extend_from_slice(&buf[..n]);
                }
                let head = req.starts_with(b"HEAD ");
                let body = if head { "" } else { "hello" };
                write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{body}").unwrap();
            }
        });
        let url = format!("http://{addr}/x?y=1");
        let r = fetch("GET", &url, RunOptions::default()).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let r = fetch("HEAD", &url, RunOptions::default()).await.unwrap();
        assert_eq!((r.status, r.header("content-length")), (200, Some("5")));
        server.join().unwrap();
        assert!(
            fetch("GET", "https://example.invalid/", RunOptions::default())
                .await
                .is_err()
        );
    }
}
