//! Signatures, against s3s-fs (which checks SigV4 on every request, pre-signed URLs included,
//! and accepts exactly one key pair): the driver's requests are accepted with the right secret
//! and refused with `PermissionDenied` with a wrong one; a pre-signed URL fetched with a plain
//! HTTP client returns the content (GET) or its length (HEAD), and stops working when tampered
//! with or signed with a wrong secret; `redirectendpoint` URLs are signed for that host.
//!
//! s3s-fs stores keys as files and directories, so it cannot answer HeadObject for a key that is
//! a directory on its disk; this test therefore stats and deletes only files.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use wharf_runtime::{ErrorKind, Params, RedirectMethod, StorageDriver, Value};

fn params(
    endpoint: &str,
    bucket: &str,
    access: &str,
    secret: &str,
    extra: &[(&str, &str)],
) -> Params {
    let mut p = Params::from_pairs([
        ("bucket", Value::from(bucket)),
        ("regionendpoint", Value::from(endpoint)),
        ("forcepathstyle", Value::from(true)),
        ("region", Value::from("us-east-1")),
        ("accesskey", Value::from(access)),
        ("secretkey", Value::from(secret)),
    ]);
    for (k, v) in extra {
        p.insert(*k, *v);
    }
    p
}

async fn driver(p: Params) -> std::sync::Arc<dyn StorageDriver> {
    common::registry()
        .create("s3", p)
        .await
        .expect("create the s3 driver")
}

/// A plain HTTP/1.1 request; returns (status, headers, body).
fn fetch(method: &str, url: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let cut = rest.find('/').unwrap_or(rest.len());
    let (authority, target) = rest.split_at(cut);
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16)
                    .unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn fetch_async(method: &'static str, url: String) -> (u16, Vec<(String, String)>, Vec<u8>) {
    tokio::task::spawn_blocking(move || fetch(method, &url))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_presigned_urls_are_signed_right() {
    let (endpoint, access, secret) = common::s3s();
    let bucket = common::unique_bucket("signing");
    common::create_bucket(&endpoint, &bucket, &access, &secret).await;
    let d = driver(params(
        &endpoint,
        &bucket,
        &access,
        &secret,
        &[("rootdirectory", "r")],
    ))
    .await;

    // Signed requests of every kind the driver sends in normal use.
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
    // A writer whose content fits one PutObject (s3s-fs has no ListMultipartUploads, which a new
    // upload only uses to clean up).
    let mut w = d.writer("/a/small", false).await.expect("writer");
    w.write(Bytes::from_static(b"small")).await.unwrap();
    w.commit().await.expect("commit");
    assert_eq!(d.get_content("/a/small").await.unwrap(), "small");

    // Pre-signed URLs, fetched without the SDK.
    let expiry = Duration::from_secs(600);
    let url = d
        .redirect_url(RedirectMethod::Get, "/a/moved", expiry)
        .await
        .unwrap()
        .unwrap();
    assert!(url.starts_with(&endpoint), "{url}");
    let (status, _, body) = fetch_async("GET", url.clone()).await;
    assert_eq!(status, 200, "GET of the pre-signed URL");
    assert!(
        body == content,
        "GET of the pre-signed URL returned other bytes"
    );
    let head = d
        .redirect_url(RedirectMethod::Head, "/a/moved", expiry)
        .await
        .unwrap()
        .unwrap();
    let (status, headers, _) = fetch_async("HEAD", head).await;
    assert_eq!(status, 200, "HEAD of the pre-signed URL");
    assert_eq!(header(&headers, "content-length"), Some("100000"));
    // The method is signed: a HEAD with the GET URL is refused, which is why `redirect_url`
    // signs each method on its own.
    assert_eq!(fetch_async("HEAD", url.clone()).await.0, 403);
    // A tampered signature is refused: the server really checks.
    let sig = url
        .find("X-Amz-Signature=")
        .expect("a SigV4 pre-signed URL")
        + 16;
    let flipped = if &url[sig..sig + 1] == "0" { "1" } else { "0" };
    let tampered = format!("{}{flipped}{}", &url[..sig], &url[sig + 1..]);
    assert_eq!(fetch_async("GET", tampered).await.0, 403);

    // A wrong secret: every call refused as PermissionDenied, its URLs refused too.
    let wrong = driver(params(
        &endpoint,
        &bucket,
        &access,
        "not-the-secret",
        &[("rootdirectory", "r")],
    ))
    .await;
    for (op, result) in [
        (
            "get_content",
            wrong.get_content("/a/moved").await.map(|_| ()),
        ),
        (
            "put_content",
            wrong.put_content("/a/x", Bytes::from_static(b"x")).await,
        ),
        ("list", wrong.list("/a").await.map(|_| ())),
        ("stat", wrong.stat("/a/moved").await.map(|_| ())),
    ] {
        let e = result.expect_err(op);
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied, "{op}: {e}");
        assert!(!e.to_string().contains("not-the-secret"), "{op}: {e}");
    }
    let bad_url = wrong
        .redirect_url(RedirectMethod::Get, "/a/moved", expiry)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fetch_async("GET", bad_url).await.0, 403);
    assert!(
        d.stat("/a/x").await.unwrap_err().is_not_found(),
        "the refused put wrote nothing"
    );

    // redirectendpoint: the URL is made for (and signed for) the other host.
    let port = endpoint.rsplit(':').next().unwrap();
    let via_localhost = format!("http://localhost:{port}");
    let redirected = driver(params(
        &via_localhost,
        &bucket,
        &access,
        &secret,
        &[("rootdirectory", "r"), ("redirectendpoint", &endpoint)],
    ))
    .await;
    let url = redirected
        .redirect_url(RedirectMethod::Get, "/a/moved", expiry)
        .await
        .unwrap()
        .unwrap();
    assert!(
        url.starts_with(&format!("{endpoint}/{bucket}/r/a/moved?")),
        "{url}"
    );
    let (status, _, body) = fetch_async("GET", url).await;
    assert_eq!(status, 200, "GET of a URL made for redirectendpoint");
    assert!(body == content);

    // (s3s-fs keeps keys as files, so a HeadObject of a "directory" fails there: delete files.)
    for p in ["/a/moved", "/a/small"] {
        d.delete(p).await.expect("DeleteObjects");
        assert!(d.get_content(p).await.unwrap_err().is_not_found());
    }
}
