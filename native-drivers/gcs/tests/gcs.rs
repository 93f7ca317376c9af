//! GCS-specific behaviour against fake-gcs-server: the commit of an empty writer, a chunk of
//! exactly the default size (so the commit is an empty last chunk), resuming on other driver
//! instances (also after a writer was dropped without `close`), upload placeholders hidden from
//! every operation (ours beside the root, and the reference's at the path itself), placeholders
//! deleted with their directory, moving a directory refused with nothing changed, and the
//! mapping of a missing bucket and a refused token.

mod common;

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use wharf_runtime::{ErrorKind, FileWriter, StorageDriver, WalkControl, WalkOptions};
use wharf_testsuite::data;

/// Writes `content` to `w` in pieces of `piece` bytes, checking that `size()` never runs ahead.
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

async fn walk_paths(d: &dyn StorageDriver) -> Vec<String> {
    let mut seen = Vec::new();
    d.walk("/", &WalkOptions::default(), &mut |info| {
        seen.push(info.path.clone());
        Ok(WalkControl::Continue)
    })
    .await
    .expect("walk /");
    seen
}

/// The placeholder's metadata, straight from the JSON API.
async fn placeholder(bucket: &str, name: &str) -> Option<serde_json::Value> {
    common::object(bucket, name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_writer_commits_an_empty_file() {
    let (d, _, bucket) = common::fresh_driver("empty", &[]).await;
    let mut w = d.writer("/e/new", false).await.unwrap();
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert_eq!(w.size(), 0);
    assert_eq!(d.stat("/e/new").await.unwrap().size, 0);
    assert!(d.get_content("/e/new").await.unwrap().is_empty());

    // Closed empty, resumed empty, committed: still one empty file and no placeholder left.
    let mut w = d.writer("/e/closed", false).await.unwrap();
    w.close().await.unwrap();
    let held = placeholder(&bucket, "~wharf-uploads/e/closed")
        .await
        .expect("a closed upload leaves a placeholder");
    assert_eq!(held["metadata"]["Offset"], "0");
    assert_eq!(held["metadata"]["Session-URI"], "");
    let mut w = d.writer("/e/closed", true).await.unwrap();
    assert_eq!(w.size(), 0);
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert_eq!(d.stat("/e/closed").await.unwrap().size, 0);
    assert_eq!(
        common::object_names(&bucket).await,
        ["e/closed", "e/new"],
        "the committed upload's placeholder is gone"
    );
    d.delete("/e").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_of_exactly_the_default_size() {
    let (d, _, bucket) = common::fresh_driver("exact", &[]).await;
    let size = wharf_driver_gcs::DEFAULT_CHUNK_SIZE;
    let content = data::bytes(data::seed("exact"), 0, size);

    // Written and committed at once: the chunk goes out during the writes, and the commit is an
    // empty last chunk that only gives the total.
    let mut w = d.writer("/x/once", false).await.unwrap();
    write_in_pieces(w.as_mut(), &content, 1 << 20).await;
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert_eq!(w.size(), size as u64);
    assert_eq!(d.get_content("/x/once").await.unwrap(), content);

    // Written, closed, resumed and committed with nothing more.
    let mut w = d.writer("/x/resumed", false).await.unwrap();
    write_in_pieces(w.as_mut(), &content, 3 << 20).await;
    w.close().await.unwrap();
    assert_eq!(w.size(), size as u64);
    let held = placeholder(&bucket, "~wharf-uploads/x/resumed")
        .await
        .unwrap();
    assert_eq!(held["metadata"]["Offset"], size.to_string());
    assert_eq!(held["size"], "0", "no tail: the chunk is in the session");
    assert!(
        held["metadata"]["Session-URI"]
            .as_str()
            .is_some_and(|s| s.starts_with(&common::endpoint())),
        "{held}"
    );
    let mut w = d.writer("/x/resumed", true).await.unwrap();
    assert_eq!(w.size(), size as u64);
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert_eq!(d.get_content("/x/resumed").await.unwrap(), content);
    assert_eq!(d.stat("/x/resumed").await.unwrap().size, size as u64);
    assert_eq!(common::object_names(&bucket).await, ["x/once", "x/resumed"]);
    d.delete("/x").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_resume_on_other_instances_at_what_the_bucket_holds() {
    // Small chunks, so that sessions, tails and placeholder updates all come into play.
    let chunk = wharf_driver_gcs::CHUNK_QUANTUM;
    let extra = [("chunksize", "262144"), ("rootdirectory", "reg")];
    let (d1, params, bucket) = common::fresh_driver("resume", &extra).await;
    let registry = common::registry();
    let path = "/uploads/u1/data";
    let total = 5 * chunk + 1234;
    let content = data::bytes(data::seed("resume"), 0, total);

    // Instance 1: a tail only (no session yet).
    let mut w = d1.writer(path, false).await.unwrap();
    write_in_pieces(w.as_mut(), &content.slice(..100), 100).await;
    w.close().await.unwrap();
    assert_eq!(w.size(), 100);

    // Instance 2: resumes, sends three whole chunks, and is dropped without close while the
    // last chunk may still be on its way. The placeholder follows each chunk, so what it says
    // can be trusted once the chunk is in.
    let d2 = registry.create("gcs", params.clone()).await.unwrap();
    let mut w = d2.writer(path, true).await.unwrap();
    assert_eq!(w.size(), 100);
    write_in_pieces(w.as_mut(), &content.slice(100..3 * chunk + 200), 65536).await;
    drop(w);
    let name = "reg/~wharf-uploads/uploads/u1/data";
    let expected = (3 * chunk).to_string();
    let mut settled = false;
    for _ in 0..100 {
        let held = placeholder(&bucket, name).await.expect("the placeholder");
        if held["metadata"]["Offset"] == expected.as_str() {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(settled, "the placeholder never reached offset {expected}");

    // Instance 3: resumes at what the session holds (the dropped writer's buffer is lost).
    let d3 = registry.create("gcs", params.clone()).await.unwrap();
    let mut w = d3.writer(path, true).await.unwrap();
    assert_eq!(w.size(), 3 * chunk as u64);
    write_in_pieces(
        w.as_mut(),
        &content.slice(3 * chunk..4 * chunk + 7),
        100_000,
    )
    .await;
    w.close().await.unwrap();
    assert_eq!(w.size(), (4 * chunk + 7) as u64);

    // Instance 1 again: finishes and commits.
    let mut w = d1.writer(path, true).await.unwrap();
    assert_eq!(w.size(), (4 * chunk + 7) as u64);
    write_in_pieces(w.as_mut(), &content.slice(4 * chunk + 7..), 4096).await;
    w.commit().await.unwrap();
    w.close().await.unwrap();
    for d in [&d1, &d2, &d3] {
        assert_eq!(d.get_content(path).await.unwrap(), content);
    }
    assert!(placeholder(&bucket, name).await.is_none());
    // After the commit nothing is left to resume but the committed content.
    let e = d2
        .writer(path, true)
        .await
        .err()
        .expect("append to content");
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    d1.delete("/uploads").await.unwrap();
    assert!(common::object_names(&bucket).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_placeholders_are_hidden() {
    let (d, _, bucket) = common::fresh_driver("hidden", &[("chunksize", "262144")]).await;
    let (path, other) = ("/repo/_uploads/u1/data", "/repo/_uploads/u1/startedat");
    d.put_content(other, Bytes::from_static(b"2026"))
        .await
        .unwrap();
    let content = data::bytes(data::seed("hidden"), 0, 300_000);
    let mut w = d.writer(path, false).await.unwrap();
    write_in_pieces(w.as_mut(), &content, 50_000).await;
    w.close().await.unwrap();

    // The bucket holds the placeholder, as the reference writes it: session, offset and tail.
    let held = placeholder(&bucket, "~wharf-uploads/repo/_uploads/u1/data")
        .await
        .expect("the placeholder");
    assert_eq!(held["contentType"], "application/x-docker-upload-session");
    assert_eq!(held["metadata"]["Offset"], "262144");
    assert_eq!(held["size"], (300_000 - 262_144).to_string());

    // The driver shows none of it.
    for e in [
        d.stat(path).await.err(),
        d.get_content(path).await.err(),
        d.reader(path, 0).await.err(),
        d.list("/repo/_uploads/u1/data").await.err(),
    ] {
        let e = e.expect("the upload is not visible");
        assert!(e.is_not_found(), "{e}");
    }
    assert_eq!(d.list("/repo/_uploads/u1").await.unwrap(), [other]);
    assert_eq!(d.list("/").await.unwrap(), ["/repo"]);
    assert_eq!(
        walk_paths(d.as_ref()).await,
        ["/repo", "/repo/_uploads", "/repo/_uploads/u1", other]
    );

    // A placeholder the reference left at a path itself reads as absent too.
    let reference = d.writer("/repo/ref", false).await.unwrap();
    drop(reference);
    let url = format!(
        "{}/upload/storage/v1/b/{bucket}/o?uploadType=media&name=repo/ref",
        common::endpoint()
    );
    let status = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/x-docker-upload-session")
        .body("tail")
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
    for e in [
        d.stat("/repo/ref").await.err(),
        d.get_content("/repo/ref").await.err(),
        d.reader("/repo/ref", 0).await.err(),
        d.writer("/repo/ref", true).await.err(),
    ] {
        let e = e.expect("the reference's placeholder is not visible");
        assert!(e.is_not_found(), "{e}");
    }
    assert_eq!(d.list("/repo").await.unwrap(), ["/repo/_uploads"]);

    // Deleting the directory takes the uploads under it along.
    d.delete("/repo").await.unwrap();
    assert!(
        common::object_names(&bucket).await.is_empty(),
        "{:?}",
        common::object_names(&bucket).await
    );
    let e = d
        .writer(path, true)
        .await
        .err()
        .expect("resume after delete");
    assert!(e.is_not_found(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_a_directory_is_refused_with_nothing_changed() {
    let (d, _, bucket) = common::fresh_driver("movedir", &[]).await;
    for p in ["/src/a", "/src/b/c", "/dst/x"] {
        d.put_content(p, Bytes::from(p.as_bytes().to_vec()))
            .await
            .unwrap();
    }
    let before = common::object_names(&bucket).await;
    for dest in ["/dst", "/elsewhere"] {
        let e = d.rename("/src", dest).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("/src"), "{e}");
    }
    assert_eq!(common::object_names(&bucket).await, before);
    // A file moves, overwriting its destination.
    d.rename("/src/a", "/dst/x").await.unwrap();
    assert_eq!(d.get_content("/dst/x").await.unwrap(), "/src/a".as_bytes());
    assert!(d.stat("/src/a").await.unwrap_err().is_not_found());
    // A file moved onto itself stays.
    d.rename("/dst/x", "/dst/x").await.unwrap();
    assert_eq!(d.get_content("/dst/x").await.unwrap(), "/src/a".as_bytes());
    let e = d.rename("/src/missing", "/dst/y").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    d.delete("/src").await.unwrap();
    d.delete("/dst").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_a_configuration_error() {
    let registry = common::registry();
    let params = common::params("no-such-bucket-for-wharf", &[]);
    let d = registry.create("gcs", params).await.unwrap();
    let e = d.list("/").await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false }, "{e}");
    assert!(e.to_string().contains("bucket"), "{e}");
    let e = d.stat("/a").await.unwrap_err();
    assert!(e.to_string().contains("bucket"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_permission_denied() {
    // A token endpoint that refuses every grant.
    let server = wharf_http::testing::MockServer::start();
    server.handle(|_| {
        Some(wharf_http::testing::Reply::json(
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
        ))
    });
    let url = format!("{}/token", server.url());
    let mut key = common::key_json();
    key["token_uri"] = serde_json::Value::String(url);
    let file = std::env::temp_dir().join(format!(
        "wharf-gcs-refused-{}-{:08x}.json",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::write(&file, key.to_string()).unwrap();
    let bucket = common::unique_bucket("refused");
    common::create_bucket(&bucket).await;
    let mut params = common::key_params(&bucket, &[]);
    params.insert("keyfile", file.to_string_lossy().as_ref());
    let d = common::registry().create("gcs", params).await.unwrap();
    let e = d.stat("/a").await.unwrap_err();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(e.kind(), &ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("Invalid JWT Signature"), "{e}");
    assert!(!e.to_string().contains("PRIVATE"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_resume_from_offsets_and_stop_at_the_end() {
    let (d, _, _) = common::fresh_driver("reader", &[]).await;
    let content = data::bytes(data::seed("reader"), 0, 1 << 20);
    d.put_content("/r/f", content.clone()).await.unwrap();
    for offset in [0u64, 1, 4096, (1 << 20) - 1, 1 << 20] {
        let mut stream = d.reader("/r/f", offset).await.unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, content[offset as usize..], "offset {offset}");
    }
    let e = d.reader("/r/f", (1 << 20) + 1).await.err().unwrap();
    assert!(matches!(e.kind(), ErrorKind::InvalidOffset { .. }), "{e}");
    d.delete("/r").await.unwrap();
}

/// The walk reads flat listing pages of a thousand names: 1201 files cost two requests (counted
/// by a proxy that breaks nothing), in the contract's order across pages, with `start_after`,
/// skipped directories and sub-walks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_order_holds_across_listing_pages() {
    use wharf_reliability::{FaultProxy, Plan};
    let bucket = common::unique_bucket("walk-pages");
    common::create_bucket(&bucket).await;
    let proxy = FaultProxy::in_front_of(&common::endpoint(), Plan::none(), 1)
        .await
        .expect("start the proxy")
        // fake-gcs-server routes by Host: it must see its own.
        .upstream_host();
    let mut params = common::params(&bucket, &[("rootdirectory", "w")]);
    params.insert("endpoint", proxy.url().as_str());
    let d = common::registry()
        .create(wharf_driver_gcs::NAME, params)
        .await
        .expect("create the gcs driver");
    wharf_testsuite::pages::walk_across_pages(d, 1201, 1000, || proxy.stats().requests)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
