//! Swift-specific behaviour against a real Swift: objects bigger than the cluster's
//! `max_file_size` (segments and a Static Large Object manifest, no segment over the limit,
//! segments removed with the object, and after a grace period when it is replaced), nested
//! manifests for more segments than one manifest holds, an empty segmented upload that
//! commits at once, a bulk delete of 1005 objects, resuming on a second instance with `size()`
//! equal to what Swift holds, moves that copy no segment data, TempURLs the cluster accepts for
//! GET and HEAD and refuses when tampered with or expired, re-authentication after a refused
//! token, refused credentials, and the reference's layout (plain objects and Dynamic Large
//! Objects written by the reference driver).

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::Raw;
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use wharf_driver_swift::{Config, SwiftDriver};
use wharf_runtime::{ErrorKind, RedirectMethod, StorageDriver};

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

/// A driver on a fresh container, as the concrete type (to ask what it found in `/info`),
/// and a raw session on the same container.
async fn concrete(label: &str, extra: &[(&str, &str)]) -> (SwiftDriver, Raw, common::Server) {
    let server = common::server();
    let container = common::unique_container(label);
    let params = common::params(&server, &container, extra);
    let driver = SwiftDriver::connect(Config::from_params(params).unwrap())
        .await
        .expect("connect");
    let raw = Raw::new(&server, &container).await;
    (driver, raw, server)
}

fn wrapped(d: &SwiftDriver) -> Arc<dyn StorageDriver> {
    wharf_runtime::Base::wrap(Arc::new(d.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_bigger_than_max_file_size_are_static_large_objects() {
    let (sd, raw, server) = concrete("large", &[]).await;
    let d = wrapped(&sd);
    assert!(sd.segment_size() <= server.max_file_size);
    let len = 3 * server.max_file_size as usize + 5;
    let content = data(1, len);
    d.put_content("/big/blob", content.clone()).await.unwrap();

    let head = raw
        .object(Method::HEAD, "files/big/blob", &[], vec![])
        .await;
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["x-static-large-object"], "True");
    assert_eq!(head.headers()["content-length"], len.to_string().as_str());
    let segments = raw.names("segments/").await;
    assert_eq!(segments.len(), 4, "{segments:?}");
    assert!(
        segments
            .iter()
            .all(|(_, size)| *size <= server.max_file_size)
    );
    // Nothing but the manifest lies under files/.
    assert_eq!(raw.names("files/").await.len(), 1);

    assert_eq!(d.get_content("/big/blob").await.unwrap(), content);
    assert_eq!(d.stat("/big/blob").await.unwrap().size, len as u64);
    for offset in [1, server.max_file_size, 2 * server.max_file_size + 7] {
        let got = wharf_runtime::stream::collect(d.reader("/big/blob", offset).await.unwrap())
            .await
            .unwrap();
        assert_eq!(got, content.slice(offset as usize..), "offset {offset}");
    }

    // A writer's upload of the same size, committed over it: the old segments go.
    let mut w = d.writer("/big/blob", false).await.unwrap();
    let second = data(2, len + 1000);
    for chunk in second.chunks(300_000) {
        w.write(second.slice_ref(chunk)).await.unwrap();
    }
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert_eq!(w.size(), second.len() as u64);
    assert_eq!(d.get_content("/big/blob").await.unwrap(), second);
    // The old segments stay for readers still on them, until a sweep after the grace period.
    let after = raw.names("segments/").await;
    assert_eq!(after.len(), 8, "{after:?}");
    assert_eq!(raw.names("wharf-garbage/").await.len(), 1);
    assert_eq!(
        sd.sweep_replaced_segments(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(sd.sweep_replaced_segments(Duration::ZERO).await.unwrap(), 1);
    let after = raw.names("segments/").await;
    assert_eq!(after.len(), 4, "{after:?}");
    assert!(
        after.iter().all(|s| !segments.contains(s)),
        "old segments remain"
    );
    assert!(raw.names("wharf-garbage/").await.is_empty());
    assert!(raw.names("wharf-uploads/").await.is_empty());

    d.delete("/big").await.unwrap();
    assert!(raw.names("").await.is_empty(), "{:?}", raw.names("").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_more_segments_than_a_manifest_holds_get_nested_manifests() {
    let (sd, raw, server) = concrete("nested", &[]).await;
    let d = wrapped(&sd);
    let max = server.max_manifest_segments;
    assert!(
        max <= 64,
        "start the cluster with a small max_manifest_segments"
    );
    // More segments than max * max needs two levels of sub-manifests.
    let segments = max * max + 3;
    let seg = sd.segment_size() as usize;
    let content = data(11, segments * seg - 17);
    let mut w = d.writer("/n/blob", false).await.unwrap();
    for chunk in content.chunks(3 * seg + 5) {
        w.write(content.slice_ref(chunk)).await.unwrap();
    }
    w.commit().await.unwrap();
    w.close().await.unwrap();
    let names = raw.names("segments/").await;
    let subs: Vec<_> = names
        .iter()
        .filter(|(n, _)| n.contains("/manifest-"))
        .collect();
    assert!(
        subs.iter().any(|(n, _)| n.contains("/manifest-2-")),
        "{subs:?}"
    );
    assert_eq!(names.len() - subs.len(), segments);
    assert_eq!(d.stat("/n/blob").await.unwrap().size, content.len() as u64);
    let offset = (max * seg + 1) as u64;
    let got = wharf_runtime::stream::collect(d.reader("/n/blob", offset).await.unwrap())
        .await
        .unwrap();
    assert!(
        got == content.slice(offset as usize..),
        "read from {offset}"
    );
    d.delete("/n").await.unwrap();
    assert!(raw.names("").await.is_empty(), "{:?}", raw.names("").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_segmented_upload_commits_at_once() {
    let (sd, raw, _) = concrete("empty", &[]).await;
    let d = wrapped(&sd);
    let run = async {
        let mut w = d.writer("/uploads/empty", false).await.unwrap();
        w.close().await.unwrap();
        assert_eq!(w.size(), 0);
        // The closed, empty upload is state in Swift, found by a new writer.
        assert_eq!(raw.names("wharf-uploads/").await.len(), 1);
        let mut w = d.writer("/uploads/empty", true).await.unwrap();
        assert_eq!(w.size(), 0);
        w.close().await.unwrap();
        let mut w = d.writer("/uploads/empty", true).await.unwrap();
        w.commit().await.unwrap();
        w.close().await.unwrap();
        assert_eq!(w.size(), 0);
    };
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("an empty upload must never wait");
    assert_eq!(d.get_content("/uploads/empty").await.unwrap(), Bytes::new());
    assert_eq!(d.stat("/uploads/empty").await.unwrap().size, 0);
    assert!(raw.names("wharf-uploads/").await.is_empty());
    assert!(raw.names("segments/").await.is_empty());
    d.delete("/uploads").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_delete_of_1005_objects_with_large_ones_among_them() {
    let (sd, raw, server) = concrete("bulk", &[]).await;
    assert!(sd.uses_bulk_delete(), "the test cluster offers bulk delete");
    let d = wrapped(&sd);
    let puts: Vec<_> = (0..1005)
        .map(|i| {
            let d = d.clone();
            async move {
                d.put_content(&format!("/many/{:02}/f{i:04}", i % 7), data(i, 16))
                    .await
            }
        })
        .collect();
    futures::stream::iter(puts)
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let big = data(9, server.max_file_size as usize * 2 + 1);
    d.put_content("/many/big", big.clone()).await.unwrap();
    d.put_content("/many-sibling", data(3, 10)).await.unwrap();
    assert_eq!(raw.names("files/many/").await.len(), 1006);
    assert_eq!(raw.names("segments/").await.len(), 3);

    d.delete("/many").await.unwrap();
    assert!(raw.names("files/many/").await.is_empty());
    assert!(raw.names("segments/").await.is_empty());
    assert_eq!(d.list("/").await.unwrap(), ["/many-sibling"]);
    d.delete("/many-sibling").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_resumes_with_what_swift_holds() {
    let (sd, raw, server) = concrete("resume", &[]).await;
    let d = wrapped(&sd);
    let seg = server.max_file_size as usize;
    let content = data(4, 5 * seg / 2 + 333);
    let (first, rest) = (content.slice(..2 * seg + 10), content.slice(2 * seg + 10..));
    let mut w = d.writer("/up/data", false).await.unwrap();
    for chunk in first.chunks(100_000) {
        w.write(first.slice_ref(chunk)).await.unwrap();
        assert!(w.size() <= first.len() as u64);
    }
    w.close().await.unwrap();
    assert_eq!(w.size(), first.len() as u64);
    // A writer dropped without close leaves a segment past what the state names.
    let mut dropped = d.writer("/up/data", true).await.unwrap();
    dropped.write(data(5, 2 * seg)).await.unwrap();
    dropped.write(Bytes::from_static(b"x")).await.unwrap();
    drop(dropped);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let other = common::registry()
        .create(
            wharf_driver_swift::NAME,
            common::params(&server, &raw.container, &[]),
        )
        .await
        .unwrap();
    let mut w = other.writer("/up/data", true).await.unwrap();
    let held: u64 = {
        let state = raw.names("wharf-uploads/").await;
        assert_eq!(state.len(), 1);
        let r = raw.object(Method::GET, &state[0].0, &[], vec![]).await;
        let json: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        json["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["size"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(w.size(), held);
    assert_eq!(w.size(), first.len() as u64);
    w.write(rest.clone()).await.unwrap();
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert_eq!(w.size(), content.len() as u64);
    assert_eq!(d.get_content("/up/data").await.unwrap(), content);
    // The dropped writer's stray segment is gone; only the committed ones remain.
    let segments = raw.names("segments/").await;
    let total: u64 = segments.iter().map(|(_, s)| s).sum();
    assert_eq!(total, content.len() as u64, "{segments:?}");
    assert!(raw.names("wharf-uploads/").await.is_empty());
    d.delete("/up").await.unwrap();
    assert!(raw.names("").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_a_large_object_copies_no_segment_data() {
    let (sd, raw, server) = concrete("move", &[]).await;
    let d = wrapped(&sd);
    let content = data(6, 2 * server.max_file_size as usize + 99);
    d.put_content("/a/src", content.clone()).await.unwrap();
    d.put_content("/b/dst", data(7, 3 * server.max_file_size as usize))
        .await
        .unwrap();
    let src_segments = {
        let all = raw.names("segments/").await;
        assert_eq!(all.len(), 6);
        let r = raw.object(Method::HEAD, "files/a/src", &[], vec![]).await;
        let prefix = r.headers()["x-object-meta-wharf-segments"]
            .to_str()
            .unwrap()
            .to_owned();
        all.into_iter()
            .filter(|(n, _)| n.starts_with(&prefix))
            .collect::<Vec<_>>()
    };
    assert_eq!(src_segments.len(), 3);
    d.rename("/a/src", "/b/dst").await.unwrap();
    assert_eq!(d.get_content("/b/dst").await.unwrap(), content);
    assert!(d.stat("/a/src").await.unwrap_err().is_not_found());
    // The same segments, not copies; the replaced object's segments go with the next sweep.
    assert_eq!(sd.sweep_replaced_segments(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(raw.names("segments/").await, src_segments);
    d.delete("/b").await.unwrap();
    assert!(raw.names("").await.is_empty());
}

/// The `temp_url_sig` query value of a TempURL.
fn signature_of(url: &str) -> &str {
    let sig = url.split("temp_url_sig=").nth(1).expect("a temp_url_sig");
    sig.split('&').next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tempurls_are_accepted_for_get_and_head_and_refused_when_tampered() {
    let (sd, _raw, server) = concrete("tempurl", &[("secretkey", "wharf-test-key")]).await;
    let d = wrapped(&sd);
    let http = reqwest::Client::new();
    for (path, len) in [
        ("/t/small", 4099),
        ("/t/large", 2 * server.max_file_size as usize + 1),
    ] {
        let content = data(len as u64, len);
        d.put_content(path, content.clone()).await.unwrap();
        let url = d
            .redirect_url(RedirectMethod::Get, path, Duration::from_secs(600))
            .await
            .unwrap()
            .expect("a TempURL");
        assert!(url.contains("temp_url_sig="), "{url}");
        let sig = signature_of(&url);
        assert_eq!(sig.len(), 64, "an HMAC-SHA256 signature: {url}");
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap(), content);
        let url = d
            .redirect_url(RedirectMethod::Head, path, Duration::from_secs(600))
            .await
            .unwrap()
            .unwrap();
        let r = http.head(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-length"], len.to_string().as_str());

        // A changed signature, another object, or an expired URL: refused. The HEAD URL is
        // signed for GET too, but with its own expiry, so tamper with its own signature.
        let sig = signature_of(&url);
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        let tampered = url.replace(
            &format!("temp_url_sig={sig}"),
            &format!("temp_url_sig={flipped}{}", &sig[1..]),
        );
        assert_ne!(tampered, url);
        assert_eq!(http.get(&tampered).send().await.unwrap().status(), 401);
        let other = url.replace("/files/t/", "/files/t/x");
        assert_eq!(http.get(&other).send().await.unwrap().status(), 401);
    }
    let expired = d
        .redirect_url(RedirectMethod::Get, "/t/small", Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(http.get(&expired).send().await.unwrap().status(), 401);
    d.delete("/t").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_renewed_once() {
    let (sd, _raw, _) = concrete("reauth", &[]).await;
    let d = wrapped(&sd);
    d.put_content("/r/f", Bytes::from_static(b"one"))
        .await
        .unwrap();
    sd.replace_token_for_tests("AUTH_tk00000000000000000000000000000000");
    assert_eq!(d.get_content("/r/f").await.unwrap(), "one");
    sd.replace_token_for_tests("AUTH_tk00000000000000000000000000000000");
    d.delete("/r").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_fail_at_creation_without_leaking_them() {
    let server = common::server();
    let mut params = common::params(&server, &common::unique_container("creds"), &[]);
    params.insert("password", "not-the-password");
    let e = common::registry()
        .create(wharf_driver_swift::NAME, params)
        .await
        .err()
        .expect("wrong credentials are refused");
    assert_eq!(e.kind(), &ErrorKind::PermissionDenied, "{e}");
    assert!(!e.to_string().contains("not-the-password"), "{e}");
    assert_eq!(e.driver(), Some("swift"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_removes_what_the_reference_driver_wrote() {
    let (sd, raw, _) = concrete("legacy", &[("prefix", "/reg")]).await;
    let d = wrapped(&sd);
    // A plain object and a Dynamic Large Object with its segments, as the reference writes.
    let put = |name: &'static str,
               body: &'static [u8],
               headers: &'static [(&'static str, &'static str)]| {
        let raw = &raw;
        async move {
            let r = raw.object(Method::PUT, name, headers, body.to_vec()).await;
            assert_eq!(r.status(), 201, "{name}");
        }
    };
    put("reg/files/docker/plain", b"plain", &[]).await;
    put("reg/segments/abc/defg/0000000000000001", b"hello ", &[]).await;
    put("reg/segments/abc/defg/0000000000000002", b"world", &[]).await;
    let manifest = format!("{}/reg/segments/abc/defg", raw.container);
    let r = raw
        .object(
            Method::PUT,
            "reg/files/docker/dlo",
            &[("x-object-manifest", &manifest)],
            vec![],
        )
        .await;
    assert_eq!(r.status(), 201);

    assert_eq!(
        d.list("/docker").await.unwrap(),
        ["/docker/dlo", "/docker/plain"]
    );
    assert_eq!(d.get_content("/docker/plain").await.unwrap(), "plain");
    assert_eq!(d.get_content("/docker/dlo").await.unwrap(), "hello world");
    assert_eq!(d.stat("/docker/dlo").await.unwrap().size, 11);
    d.rename("/docker/dlo", "/docker/moved").await.unwrap();
    assert_eq!(d.get_content("/docker/moved").await.unwrap(), "hello world");
    assert_eq!(
        raw.names("reg/segments/").await.len(),
        2,
        "a DLO moves without copying"
    );
    d.delete("/docker").await.unwrap();
    assert!(raw.names("").await.is_empty(), "{:?}", raw.names("").await);
}

/// The walk reads flat container listings of the cluster's `container_listing_limit` (1000 on
/// the test server): 1201 files cost two listing requests (counted by a proxy that breaks
/// nothing, after the driver's start), in the contract's order across pages, with
/// `start_after`, skipped directories and sub-walks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_order_holds_across_listing_pages() {
    use wharf_reliability::{FaultProxy, Plan};
    let server = common::server();
    let proxy = FaultProxy::in_front_of(&server.auth_url, Plan::none(), 1)
        .await
        .expect("start the proxy");
    let container = common::unique_container("walk-pages");
    let mut params = common::params(&server, &container, &[("prefix", "w")]);
    params.insert("authurl", proxy.rewrite(&server.auth_url).as_str());
    let d = common::registry()
        .create(wharf_driver_swift::NAME, params)
        .await
        .expect("create the swift driver");
    wharf_testsuite::pages::walk_across_pages(d, 1201, 1000, || proxy.stats().requests)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
