//! OSS's particular rules, on real HTTP exchanges:
//! - a store that answers a ranged GET with 200 and the whole object (as OSS does for a range
//!   it finds invalid): a local server that ignores `Range` shows readers still start at their
//!   offset, end at once at the end, and refuse offsets past it;
//! - signatures and payloads against s3s-fs (which checks SigV4), through a recording proxy:
//!   every request of every kind the driver sends is signed for the region id, carries its
//!   payload whole with a signed SHA-256 (no `aws-chunked`, no `STREAMING-…` hash, no trailer,
//!   no flexible checksum header), and DeleteObjects carries `Content-MD5`; a wrong secret is
//!   refused as `PermissionDenied`.
//!
//! s3s-fs stores keys as files and directories, so this test stats and deletes only files.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wharf_runtime::{ErrorKind, Params};

/// Reads one request head (up to the blank line).
fn read_head(conn: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A server on 127.0.0.1 that answers every request with 200 and all of `body`, whatever
/// `Range` it asked for; returns its URL and the request heads it saw.
fn whole_object_server(body: &'static [u8]) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let head = read_head(&mut conn);
            let get = head.starts_with("GET ");
            log.lock().unwrap().push(head);
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\
                 Last-Modified: Wed, 01 Jan 2025 00:00:00 GMT\r\nETag: \"e\"\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(answer.as_bytes());
            if get {
                let _ = conn.write_all(body);
            }
            let _ = conn.shutdown(Shutdown::Both);
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_honour_their_offset_when_a_range_is_answered_with_the_whole_object() {
    const BODY: &[u8] = b"0123456789";
    let (url, seen) = whole_object_server(BODY);
    let d = common::driver(common::oss_params(&url, "fake", "id", "secret", &[])).await;
    for offset in [0u64, 1, 3, 9] {
        let stream = d.reader("/f", offset).await.expect("reader");
        let got = wharf_runtime::stream::collect(stream).await.expect("read");
        assert_eq!(&got[..], &BODY[offset as usize..], "offset {offset}");
    }
    let at_end = d.reader("/f", 10).await.expect("reader at the end");
    assert!(
        wharf_runtime::stream::collect(at_end)
            .await
            .unwrap()
            .is_empty()
    );
    let e = match d.reader("/f", 11).await {
        Ok(_) => panic!("a reader past the end"),
        Err(e) => e,
    };
    assert!(
        matches!(e.kind(), ErrorKind::InvalidOffset { offset: 11, .. }),
        "{e}"
    );
    // The ranges were asked for and ignored: the server's answers, not the requests, made
    // the driver cut.
    let heads = seen.lock().unwrap().clone();
    for offset in [3, 9, 10, 11] {
        assert!(
            heads.iter().any(|h| h
                .to_ascii_lowercase()
                .contains(&format!("\r\nrange: bytes={offset}-\r\n"))),
            "no request for bytes={offset}-: {heads:?}"
        );
    }
}

/// A proxy on 127.0.0.1 to `upstream` that records every byte clients send.
fn recording_proxy(upstream: &str) -> (String, Arc<Mutex<Vec<u8>>>) {
    let upstream = upstream
        .strip_prefix("http://")
        .expect("an http endpoint")
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = sent.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let Ok(mut server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut client_back, mut server_back) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server_back, &mut client_back);
                let _ = client_back.shutdown(Shutdown::Write);
            });
            let record = record.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    match client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            record.lock().unwrap().extend_from_slice(&buf[..n]);
                            if server.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = server.shutdown(Shutdown::Write);
            });
        }
    });
    (url, sent)
}

/// Splits what clients sent into request heads, framing bodies by `Content-Length` (the only
/// framing a whole payload has); panics on anything else.
fn request_heads(sent: &[u8]) -> Vec<String> {
    let mut heads = Vec::new();
    let mut rest = sent;
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete request head");
        let head = String::from_utf8(rest[..end].to_vec())
            .expect("a text head")
            .to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse::<usize>().expect("a length"))
            .unwrap_or(0);
        assert!(
            !head.contains("transfer-encoding"),
            "a request without a length: {head}"
        );
        rest = &rest[end + 4 + length..];
        heads.push(head);
    }
    heads
}

fn params(endpoint: &str, bucket: &str, access: &str, secret: &str) -> Params {
    common::oss_params(
        endpoint,
        bucket,
        access,
        secret,
        &[("rootdirectory", "r"), ("chunksize", "5MiB")],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_signed_and_sent_whole() {
    let (endpoint, access, secret) = common::s3s();
    let bucket = common::unique_bucket("signing");
    common::create_bucket(&endpoint, &bucket, &access, &secret).await;
    let (via, sent) = recording_proxy(&endpoint);
    let d = common::driver(params(&via, &bucket, &access, &secret)).await;

    let content = Bytes::from((0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    d.put_content("/a/file", content.clone())
        .await
        .expect("PutObject");
    assert_eq!(d.get_content("/a/file").await.expect("GetObject"), content);
    assert_eq!(d.stat("/a/file").await.expect("HeadObject").size, 100_000);
    assert_eq!(d.list("/a").await.expect("ListObjectsV2"), ["/a/file"]);
    let stream = d.reader("/a/file", 99_990).await.expect("ranged GetObject");
    assert_eq!(
        wharf_runtime::stream::collect(stream).await.unwrap(),
        content.slice(99_990..)
    );
    d.rename("/a/file", "/a/moved").await.expect("CopyObject");
    // A multipart upload: one full 5 MiB part and a last one.
    let big = Bytes::from(
        (0..(5 << 20) + 1000u32)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<_>>(),
    );
    let mut w = d.writer("/a/big", false).await.expect("writer");
    w.write(big.clone()).await.expect("UploadPart");
    w.commit().await.expect("CompleteMultipartUpload");
    assert!(d.get_content("/a/big").await.unwrap() == big);
    for p in ["/a/moved", "/a/big"] {
        d.delete(p).await.expect("DeleteObjects");
        assert!(d.get_content(p).await.unwrap_err().is_not_found());
    }

    let recorded = sent.lock().unwrap().clone();
    let heads = request_heads(&recorded);
    let scope = format!("credential={}/", access.to_ascii_lowercase());
    for head in &heads {
        let line = head.lines().next().unwrap_or("");
        assert!(
            head.contains("\r\nauthorization: aws4-hmac-sha256 ")
                && head.contains(&scope)
                && head.contains("/cn-beijing/s3/aws4_request"),
            "not signed with SigV4 for cn-beijing: {line}"
        );
        let hash = head
            .lines()
            .find_map(|l| l.strip_prefix("x-amz-content-sha256:"))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no payload hash: {line}"));
        assert!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "the payload is not signed whole: {line}: {hash}"
        );
        for banned in [
            "aws-chunked",
            "streaming-",
            "x-amz-trailer",
            "x-amz-decoded-content-length",
            "x-amz-checksum-",
            "x-amz-sdk-checksum-algorithm",
        ] {
            assert!(!head.contains(banned), "{banned} in {line}");
        }
    }
    let has = |prefix: &str, query: &str| {
        heads.iter().any(|h| {
            let line = h.lines().next().unwrap_or("");
            line.starts_with(prefix) && line.contains(query)
        })
    };
    assert!(has("put ", " http"), "PutObject seen");
    assert!(has("put ", "partnumber=1"), "UploadPart seen");
    assert!(has("post ", "uploads"), "CreateMultipartUpload seen");
    assert!(has("post ", "uploadid="), "CompleteMultipartUpload seen");
    let deletes: Vec<&String> = heads
        .iter()
        .filter(|h| h.starts_with("post ") && h.lines().next().unwrap().contains("?delete"))
        .collect();
    assert!(!deletes.is_empty(), "DeleteObjects seen");
    for head in deletes {
        assert!(head.contains("\r\ncontent-md5: "), "no Content-MD5: {head}");
    }

    // A wrong secret: every kind of call refused as PermissionDenied, the secret never shown.
    let wrong = common::driver(params(&endpoint, &bucket, &access, "not-the-secret")).await;
    d.put_content("/a/kept", Bytes::from_static(b"kept"))
        .await
        .unwrap();
    for (op, result) in [
        (
            "get_content",
            wrong.get_content("/a/kept").await.map(|_| ()),
        ),
        (
            "put_content",
            wrong.put_content("/a/x", Bytes::from_static(b"x")).await,
        ),
        ("list", wrong.list("/a").await.map(|_| ())),
        ("stat", wrong.stat("/a/kept").await.map(|_| ())),
        ("delete", wrong.delete("/a/kept").await),
    ] {
        let e = result.expect_err(op);
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied, "{op}: {e}");
        assert!(!e.to_string().contains("not-the-secret"), "{op}: {e}");
    }
    assert_eq!(d.get_content("/a/kept").await.unwrap(), "kept");
    assert!(d.stat("/a/x").await.unwrap_err().is_not_found());
    d.delete("/a/kept").await.unwrap();
}
