//! Test helpers shared by the unit tests: a canned HTTP server on 127.0.0.1 that answers a
//! fixed script of requests, to drive the client and the writer through failures a real server
//! does not produce on demand.

use std::io::{Read, Write};
use std::net::TcpListener;

/// How a canned server treats one request.
pub(crate) enum Canned {
    Answer(u16, &'static str),
    /// Answers 200 with `Location:` this path on the server (a new upload session).
    Location(&'static str),
    /// Reads the request, then closes the connection without answering.
    Drop,
}

/// A server on 127.0.0.1 that treats successive requests as `script` says and then stops;
/// it hands back the requests it saw (head and body, as text).
pub(crate) fn canned(script: Vec<Canned>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let base = url.clone();
    let server = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for step in script {
            let (mut s, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                let n = s.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if n == 0 || request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            seen.push(String::from_utf8_lossy(&request).into_owned());
            if let Canned::Location(path) = step {
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\nLocation: {base}{path}\r\nContent-Length: 0\r\n\
                     Connection: close\r\n\r\n"
                )
                .unwrap();
            } else if let Canned::Answer(status, body) = step {
                write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
        }
        seen
    });
    (url, server)
}
