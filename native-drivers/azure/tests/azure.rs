//! Azure-specific behaviour against Azurite: sixteen concurrent `put_content`s to one path, a
//! commit after moves onto and away from the upload's path, resuming on other driver instances
//! with `size()` equal to what Azure holds, a retried block stored once (through a proxy that
//! loses the service's answer), read SAS URLs that Azurite accepts for GET and HEAD and refuses
//! when tampered with or expired, refused credentials, a missing container, the reference's
//! blob layout, and blobs of other types that the reference driver leaves behind.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{Raw, Server};
use wharf_runtime::{ErrorKind, FileWriter, RedirectMethod};

/// `len` bytes that depend on `seed` and on their position.
fn data(seed: u64, len: usize) -> Bytes {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state as u8) ^ (i as u8)
        })
        .collect::<Vec<u8>>()
        .into()
}

async fn write_in_pieces(w: &mut dyn FileWriter, content: &Bytes, piece: usize) {
    let mut written = w.size();
    for chunk in content.chunks(piece) {
        w.write(content.slice_ref(chunk)).await.expect("write");
        written += chunk.len() as u64;
        assert!(
            w.size() <= written,
            "size() {} ran ahead of {written}",
            w.size()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_puts_leave_exactly_one_value() {
    let (d, _) = common::fresh_driver("puts").await;
    let path = "/contested/blob";
    // Different lengths, so a mix or a truncation cannot look like one of the values.
    let values: Vec<Bytes> = (0..16u64)
        .map(|i| data(i, (256 << 10) + 4099 * i as usize))
        .collect();
    for round in 0..3 {
        let readers = {
            let (d, values) = (d.clone(), values.clone());
            tokio::spawn(async move {
                for _ in 0..20 {
                    match d.get_content(path).await {
                        Ok(got) => assert!(
                            values.contains(&got),
                            "a reader saw {} bytes that are none of the values",
                            got.len()
                        ),
                        Err(e) => assert!(e.is_not_found(), "get_content: {e}"),
                    }
                }
            })
        };
        let puts: Vec<_> = values
            .iter()
            .cloned()
            .map(|v| {
                let d = d.clone();
                tokio::spawn(async move { d.put_content(path, v).await })
            })
            .collect();
        for p in puts {
            p.await.unwrap().expect("put_content");
        }
        readers.await.unwrap();
        let got = d.get_content(path).await.unwrap();
        let winners = values.iter().filter(|v| **v == got).count();
        assert_eq!(
            winners, 1,
            "round {round}: the result is not exactly one of the values"
        );
        assert_eq!(d.stat(path).await.unwrap().size, got.len() as u64);
    }
    d.delete("/contested").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_after_moves_onto_and_away_from_the_upload() {
    let (d, _) = common::fresh_driver("move").await;
    let (upload, other, dest) = ("/uploads/u1/data", "/other", "/blobs/final");
    let content = data(7, (5 << 20) + 321);
    let mut w = d.writer(upload, false).await.unwrap();
    write_in_pieces(w.as_mut(), &content.slice(..5 << 20), 1 << 20).await;
    w.close().await.unwrap();
    assert_eq!(w.size(), 5 << 20);

    // A file moved onto the path of an open upload: the upload survives and its commit wins.
    d.put_content(other, data(8, 1000)).await.unwrap();
    d.rename(other, upload).await.unwrap();
    assert_eq!(d.get_content(upload).await.unwrap(), data(8, 1000));
    let mut w = d.writer(upload, true).await.unwrap();
    assert_eq!(
        w.size(),
        5 << 20,
        "the upload's size after a move onto its path"
    );
    w.write(content.slice(5 << 20..)).await.unwrap();
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert_eq!(w.size(), content.len() as u64);
    assert_eq!(d.get_content(upload).await.unwrap(), content);
    assert!(d.stat(other).await.unwrap_err().is_not_found());

    // The committed file moved away: the destination holds it, nothing is left to resume.
    d.rename(upload, dest).await.unwrap();
    assert_eq!(d.get_content(dest).await.unwrap(), content);
    assert!(d.get_content(upload).await.unwrap_err().is_not_found());
    let e = d
        .writer(upload, true)
        .await
        .err()
        .expect("resume after the move");
    assert!(e.is_not_found(), "{e}");
    let e = d.list("/uploads").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    d.delete("/blobs").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_resume_on_other_instances_at_what_azure_holds() {
    let (d1, params) = common::fresh_driver("resume").await;
    let registry = common::registry();
    let path = "/uploads/u2/data";
    let content = data(9, (13 << 20) + 3);
    let cut = [(9 << 20) + 1, (11 << 20) + 2];

    let mut w = d1.writer(path, false).await.unwrap();
    write_in_pieces(w.as_mut(), &content.slice(..cut[0]), 1 << 20).await;
    w.close().await.unwrap();
    assert_eq!(w.size(), cut[0] as u64);

    let d2 = registry.create("azure", params.clone()).await.unwrap();
    let mut w = d2.writer(path, true).await.unwrap();
    assert_eq!(
        w.size(),
        cut[0] as u64,
        "instance 2 resumes at what Azure holds"
    );
    write_in_pieces(w.as_mut(), &content.slice(cut[0]..cut[1]), 300_000).await;
    w.close().await.unwrap();
    assert_eq!(w.size(), cut[1] as u64);

    // A resume that writes nothing changes nothing.
    let d3 = registry.create("azure", params.clone()).await.unwrap();
    let mut w = d3.writer(path, true).await.unwrap();
    assert_eq!(w.size(), cut[1] as u64);
    w.close().await.unwrap();

    let mut w = d1.writer(path, true).await.unwrap();
    assert_eq!(
        w.size(),
        cut[1] as u64,
        "instance 1 sees the other instances' writes"
    );
    write_in_pieces(w.as_mut(), &content.slice(cut[1]..), 1 << 20).await;
    w.commit().await.unwrap();
    w.close().await.unwrap();
    for d in [&d1, &d2, &d3] {
        assert_eq!(d.get_content(path).await.unwrap(), content);
    }
    // After the commit nothing is left to resume but the committed content.
    let e = d2
        .writer(path, true)
        .await
        .err()
        .expect("append to committed content");
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    d1.delete("/uploads").await.unwrap();
}

/// A proxy in front of Azurite that forwards each request on its own connection and, for the
/// `nth` Put Block it sees, lets the request reach the server but drops the answer: the client
/// sees a broken connection although the block was stored.
struct LosingProxy {
    url: String,
    put_blocks: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl LosingProxy {
    async fn start(server: &Server, nth: usize) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = reqwest::Url::parse(&server.service_url).unwrap();
        let upstream = format!(
            "{}:{}",
            upstream.host_str().unwrap(),
            upstream.port_or_known_default().unwrap()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}{}",
            listener.local_addr().unwrap(),
            reqwest::Url::parse(&server.service_url).unwrap().path()
        );
        let put_blocks = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let (seen, lost) = (put_blocks.clone(), dropped.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let (upstream, seen, lost) = (upstream.clone(), seen.clone(), lost.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = vec![0u8; 1 << 16];
                    let head_end = loop {
                        let n = client.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buf[..n]);
                        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    while request.len() < head_end + length {
                        let n = client.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buf[..n]);
                    }
                    // One request per connection: ask the server to close after answering.
                    let head = head.replacen("\r\n", "\r\nconnection: close\r\n", 1);
                    let first_line = head.lines().next().unwrap_or_default().to_owned();
                    let mut forwarded = head.into_bytes();
                    forwarded.extend_from_slice(&request[head_end..]);
                    let mut server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                    server.write_all(&forwarded).await.unwrap();
                    let mut answer = Vec::new();
                    server.read_to_end(&mut answer).await.unwrap();
                    let is_put_block =
                        first_line.starts_with("PUT ") && first_line.contains("comp=block&");
                    if is_put_block && seen.fetch_add(1, Ordering::SeqCst) + 1 == nth {
                        lost.fetch_add(1, Ordering::SeqCst);
                        return; // The block is stored; its answer is lost.
                    }
                    let _ = client.write_all(&answer).await;
                });
            }
        });
        Self {
            url,
            put_blocks,
            dropped,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_block_is_stored_once() {
    let server = common::server();
    let container = common::unique_container("retry");
    common::create_container(&server, &container).await;
    let proxy = LosingProxy::start(&server, 2).await;
    let mut params = common::params(&server, &container, &[("retry_delay", "10ms")]);
    params.insert("serviceurl", proxy.url.as_str());
    let d = common::registry().create("azure", params).await.unwrap();
    let path = "/uploads/retried/data";
    // Three blocks: 4 MiB, 4 MiB and a tail; the answer to the second one is lost.
    let content = data(11, (8 << 20) + 777);
    let mut w = d.writer(path, false).await.unwrap();
    write_in_pieces(w.as_mut(), &content, 1 << 20).await;
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert_eq!(
        proxy.dropped.load(Ordering::SeqCst),
        1,
        "the proxy lost no answer"
    );
    assert!(
        proxy.put_blocks.load(Ordering::SeqCst) >= 4,
        "the lost block was not retried"
    );
    assert_eq!(w.size(), content.len() as u64);
    assert_eq!(d.get_content(path).await.unwrap(), content);
    d.delete("/uploads").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_never_runs_ahead_when_an_answer_is_lost() {
    let server = common::server();
    let container = common::unique_container("lost");
    common::create_container(&server, &container).await;
    let proxy = LosingProxy::start(&server, 2).await;
    let params = common::params(&server, &container, &[("max_retries", "0")]);
    let mut through_proxy = params.clone();
    through_proxy.insert("serviceurl", proxy.url.as_str());
    let registry = common::registry();
    let d = registry.create("azure", through_proxy).await.unwrap();
    let path = "/uploads/lost/data";
    let content = data(12, (12 << 20) + 5);

    // Without retries the second block's lost answer fails the writer: it counts only what it
    // knows Azure holds, although Azure stored the second block too.
    let mut w = d.writer(path, false).await.unwrap();
    let mut failed = false;
    for chunk in content.slice(..8 << 20).chunks(1 << 20) {
        if let Err(e) = w.write(content.slice_ref(chunk)).await {
            assert!(e.is_temporary(), "{e}");
            failed = true;
            break;
        }
    }
    if !failed {
        let e = w.close().await.expect_err("close after a lost answer");
        assert!(e.is_temporary(), "{e}");
    } else {
        let _ = w.close().await;
    }
    assert!(w.size() <= 4 << 20, "size() {} ran ahead", w.size());
    assert_eq!(proxy.dropped.load(Ordering::SeqCst), 1);

    // Another instance, straight to the server, resumes at exactly what Azure holds.
    let direct = registry.create("azure", params).await.unwrap();
    let mut w = direct.writer(path, true).await.unwrap();
    assert_eq!(w.size(), 8 << 20, "the resumed size is what Azure holds");
    w.write(content.slice(8 << 20..)).await.unwrap();
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert_eq!(direct.get_content(path).await.unwrap(), content);
    direct.delete("/uploads").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_sas_urls_are_checked_by_the_server() {
    let (d, _) = common::fresh_driver("sas").await;
    let (path, other) = ("/blobs/sas/data", "/blobs/sas/other");
    let content = data(13, 4099);
    d.put_content(path, content.clone()).await.unwrap();
    d.put_content(other, data(14, 10)).await.unwrap();
    let http = reqwest::Client::new();
    let expiry = Duration::from_secs(20 * 60);

    let url = d
        .redirect_url(RedirectMethod::Get, path, expiry)
        .await
        .unwrap()
        .expect("a SAS URL");
    assert!(url.contains("sig="), "{url}");
    let got = http.get(&url).send().await.unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.unwrap(), content);
    let head_url = d
        .redirect_url(RedirectMethod::Head, path, expiry)
        .await
        .unwrap()
        .unwrap();
    let head = http.head(&head_url).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        content.len().to_string()
    );
    // Read only: the same URL cannot write.
    let put = http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .body("overwritten")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 403, "a read SAS allowed a write");

    // A changed signature, or the URL of another blob with this signature, is refused.
    let (base, query) = url.split_once('?').unwrap();
    let tampered = query.replace("sig=", "sig=A");
    assert_eq!(
        http.get(format!("{base}?{tampered}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    let other_base = base.replace("/sas/data", "/sas/other");
    assert_eq!(
        http.get(format!("{other_base}?{query}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    let longer = query.replace("se=", "se=2");
    assert_eq!(
        http.get(format!("{base}?{longer}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403,
        "a changed expiry was accepted"
    );

    // The expiry given is the one signed: a URL valid for a second is refused later.
    let short = d
        .redirect_url(RedirectMethod::Get, path, Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        http.get(&short).send().await.unwrap().status().as_u16(),
        403
    );
    assert_eq!(d.get_content(path).await.unwrap(), content);
    d.delete("/blobs").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_account_key_is_permission_denied() {
    let server = common::server();
    let container = common::unique_container("denied");
    common::create_container(&server, &container).await;
    let wrong_key = "d3Jvbmcta2V5LWZvci10aGUtZW11bGF0b3ItYWNjb3VudA==";
    let mut params = common::params(&server, &container, &[]);
    params.insert("accountkey", wrong_key);
    let d = common::registry().create("azure", params).await.unwrap();
    let results = [
        d.get_content("/a").await.err(),
        d.put_content("/a", Bytes::from_static(b"x")).await.err(),
        d.list("/").await.err(),
        d.stat("/a").await.err(),
        d.writer("/a", false).await.err(),
        d.delete("/a").await.err(),
    ];
    for e in results {
        let e = e.expect("a request with a wrong key succeeded");
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied, "{e}");
        let text = format!("{e} {e:?}");
        assert!(text.starts_with("azure: "), "{text}");
        assert!(
            !text.contains(wrong_key) && !text.contains(&server.account_key),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_container_is_reported_as_such() {
    let server = common::server();
    let container = common::unique_container("missing");
    let d = common::registry()
        .create("azure", common::params(&server, &container, &[]))
        .await
        .unwrap();
    for e in [
        d.list("/").await.unwrap_err(),
        d.stat("/a").await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false }, "{e}");
        assert!(e.to_string().contains("container does not exist"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_credentials_are_refused_over_plain_http() {
    let server = common::server();
    let mut params = common::params(&server, "any-container", &[]);
    params.insert(
        "credentials",
        wharf_runtime::Value::Map(
            [
                ("type".to_owned(), "client_secret".into()),
                ("clientid".to_owned(), "app".into()),
                ("tenantid".to_owned(), "tenant".into()),
                ("secret".to_owned(), "hunter2".into()),
            ]
            .into_iter()
            .collect(),
        ),
    );
    let e = common::registry()
        .create("azure", params)
        .await
        .err()
        .expect("bearer tokens over http");
    assert_eq!(
        e.kind(),
        &ErrorKind::InvalidParameter {
            key: "serviceurl".into()
        }
    );
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_are_laid_out_as_the_reference_lays_them_out() {
    let server = common::server();
    let container = common::unique_container("layout");
    common::create_container(&server, &container).await;
    let params = common::params(
        &server,
        &container,
        &[("rootdirectory", "/docker/registry/")],
    );
    let d = common::registry().create("azure", params).await.unwrap();
    let raw = Raw {
        server: &server,
        container: &container,
    };
    d.put_content("/v2/blobs/data", Bytes::from_static(b"put"))
        .await
        .unwrap();
    let mut w = d.writer("/v2/uploads/data", false).await.unwrap();
    w.write(Bytes::from_static(b"written")).await.unwrap();
    w.close().await.unwrap();
    // An uncommitted upload is no blob yet.
    assert_eq!(
        raw.send("GET", "docker/registry/v2/uploads/data", &[], &[], vec![])
            .await
            .status,
        404
    );
    let mut w = d.writer("/v2/uploads/data", true).await.unwrap();
    w.commit().await.unwrap();
    w.close().await.unwrap();
    for (blob, content) in [
        ("docker/registry/v2/blobs/data", &b"put"[..]),
        ("docker/registry/v2/uploads/data", &b"written"[..]),
    ] {
        let answer = raw.send("GET", blob, &[], &[], vec![]).await;
        assert_eq!(answer.status, 200, "{blob}");
        assert_eq!(&answer.body[..], content, "{blob}");
        assert_eq!(answer.headers["x-ms-blob-type"], "BlockBlob", "{blob}");
    }
    // A blob written by another registry under the root shows up; one outside it does not.
    raw.send(
        "PUT",
        "docker/registry/v2/other",
        &[],
        &[("x-ms-blob-type", "BlockBlob")],
        b"o".to_vec(),
    )
    .await;
    raw.send(
        "PUT",
        "docker/elsewhere",
        &[],
        &[("x-ms-blob-type", "BlockBlob")],
        b"e".to_vec(),
    )
    .await;
    assert_eq!(
        d.list("/v2").await.unwrap(),
        ["/v2/blobs", "/v2/other", "/v2/uploads"]
    );
    assert_eq!(d.list("/").await.unwrap(), ["/v2"]);
    assert_eq!(d.get_content("/v2/other").await.unwrap(), &b"o"[..]);
    d.delete("/v2").await.unwrap();
    assert_eq!(
        raw.send("GET", "docker/elsewhere", &[], &[], vec![])
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_blobs_left_by_the_reference_driver() {
    let server = common::server();
    let container = common::unique_container("append");
    common::create_container(&server, &container).await;
    let d = common::registry()
        .create("azure", common::params(&server, &container, &[]))
        .await
        .unwrap();
    let raw = Raw {
        server: &server,
        container: &container,
    };
    let append_blob = |name: &'static str, content: &'static [u8]| {
        let raw = &raw;
        async move {
            let created = raw
                .send(
                    "PUT",
                    name,
                    &[],
                    &[("x-ms-blob-type", "AppendBlob")],
                    vec![],
                )
                .await;
            assert_eq!(created.status, 201, "create {name}");
            if !content.is_empty() {
                let appended = raw
                    .send(
                        "PUT",
                        name,
                        &[("comp", "appendblock")],
                        &[],
                        content.to_vec(),
                    )
                    .await;
                assert_eq!(appended.status, 201, "append to {name}");
            }
        }
    };

    // Read, listed, moved like any file.
    append_blob("legacy/full", b"appended").await;
    assert_eq!(
        d.get_content("/legacy/full").await.unwrap(),
        &b"appended"[..]
    );
    assert_eq!(d.stat("/legacy/full").await.unwrap().size, 8);
    d.rename("/legacy/full", "/legacy/moved").await.unwrap();
    assert_eq!(
        d.get_content("/legacy/moved").await.unwrap(),
        &b"appended"[..]
    );
    // Appending to it is refused, and changes nothing.
    let e = d.writer("/legacy/moved", true).await.err().unwrap();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    // put_content replaces it with a block blob.
    d.put_content("/legacy/moved", Bytes::from_static(b"block"))
        .await
        .unwrap();
    assert_eq!(d.get_content("/legacy/moved").await.unwrap(), &b"block"[..]);

    // An empty one (a reference upload that received nothing) is resumed from 0.
    append_blob("legacy/empty", b"").await;
    let mut w = d.writer("/legacy/empty", true).await.unwrap();
    assert_eq!(w.size(), 0);
    w.write(Bytes::from_static(b"resumed")).await.unwrap();
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert_eq!(
        d.get_content("/legacy/empty").await.unwrap(),
        &b"resumed"[..]
    );

    // A new upload over one, and a move onto one.
    append_blob("legacy/target", b"old").await;
    let mut w = d.writer("/legacy/target", false).await.unwrap();
    w.write(Bytes::from_static(b"new")).await.unwrap();
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert_eq!(d.get_content("/legacy/target").await.unwrap(), &b"new"[..]);
    append_blob("legacy/dest", b"old").await;
    d.rename("/legacy/target", "/legacy/dest").await.unwrap();
    assert_eq!(d.get_content("/legacy/dest").await.unwrap(), &b"new"[..]);
    d.delete("/legacy").await.unwrap();
    assert!(d.list("/").await.unwrap().is_empty());
}

/// The walk reads flat List Blobs pages of 5000 blobs: 1201 files cost one request (counted by a
/// proxy that breaks nothing), in the contract's order, with `start_after` (which List Blobs
/// cannot start at: the walk filters), skipped directories and sub-walks. (More than a page
/// would take 5000 blobs, which slow Azurite down for every test after.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_order_holds_across_listing_pages() {
    use wharf_reliability::{FaultProxy, Plan};
    let server = common::server();
    let container = common::unique_container("walk-pages");
    common::create_container(&server, &container).await;
    let proxy = FaultProxy::in_front_of(&server.service_url, Plan::none(), 1)
        .await
        .expect("start the proxy");
    let mut params = common::params(&server, &container, &[("rootdirectory", "w")]);
    params.insert("serviceurl", proxy.rewrite(&server.service_url).as_str());
    let d = common::registry()
        .create(wharf_driver_azure::NAME, params)
        .await
        .expect("create the azure driver");
    wharf_testsuite::pages::walk_across_pages(d, 1201, 5000, || proxy.stats().requests)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
