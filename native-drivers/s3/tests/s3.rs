//! Behaviour particular to S3, against moto: big deletes in pages, string-prefix siblings,
//! multipart-copy moves, the bucket's root, directory markers and upload tails that are not
//! files, uploads resumed by another driver instance with equal parts, stale uploads, and the
//! native walk's order across listing pages.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use wharf_runtime::{ErrorKind, FileInfo, StorageDriver, WalkControl, WalkOptions};

fn data(seed: u64, len: usize) -> Bytes {
    // Position-dependent bytes, so a misplaced part shows.
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(2654435761).wrapping_add(seed) >> 7) as u8)
        .collect::<Vec<u8>>()
        .into()
}

async fn walk_all(
    d: &dyn StorageDriver,
    from: &str,
    start_after: Option<&str>,
    mut control: impl FnMut(&FileInfo) -> WalkControl + Send,
) -> Vec<FileInfo> {
    let mut seen = Vec::new();
    let options = WalkOptions {
        start_after: start_after.map(str::to_owned),
    };
    d.walk(from, &options, &mut |info| {
        seen.push(info.clone());
        Ok(control(info))
    })
    .await
    .unwrap_or_else(|e| panic!("walk({from}, {start_after:?}): {e}"));
    seen
}

fn paths(entries: &[FileInfo]) -> Vec<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}

/// Puts every path in `files` (16 at a time).
async fn put_all(d: &Arc<dyn StorageDriver>, files: &[String]) {
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in files.chunks(files.len().div_ceil(16).max(1)) {
        let (d, chunk) = (d.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for f in chunk {
                d.put_content(&f, Bytes::from(f.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("put_content({f}): {e}"));
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.expect("put task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_1005_objects_in_pages_of_1000() {
    let bucket = common::moto_bucket("delete").await;
    let (counted, d) = common::moto_driver_counted(&bucket, &[("rootdirectory", "r")]).await;
    let files: Vec<String> = (0..1005).map(|i| format!("/big/f{i:04}")).collect();
    put_all(&d, &files).await;
    d.put_content("/big-sibling", Bytes::from_static(b"keep"))
        .await
        .unwrap();
    // Listing 1005 children takes two pages, and comes back whole and sorted.
    let lists = counted.requests().get("ListObjectsV2");
    assert_eq!(d.list("/big").await.unwrap(), files);
    assert_eq!(counted.requests().get("ListObjectsV2") - lists, 2);
    let before = counted.requests().get("DeleteObjects");
    d.delete("/big").await.expect("delete /big");
    let calls = counted.requests().get("DeleteObjects") - before;
    println!("deleting 1005 objects took {calls} DeleteObjects requests");
    assert_eq!(calls, 2, "1005 keys are two DeleteObjects pages");
    assert!(d.stat("/big").await.unwrap_err().is_not_found());
    assert_eq!(d.list("/").await.unwrap(), ["/big-sibling"]);
    let listed = counted
        .sdk_client()
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["r/big-sibling"], "nothing but the sibling is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_prefix_siblings_are_never_touched() {
    let bucket = common::moto_bucket("siblings").await;
    let d = common::moto_driver(&bucket, &[]).await;
    for p in [
        "/file1",
        "/file1-2",
        "/folder1/a",
        "/folder1/b/c",
        "/folder1-v2/a",
        "/folder1v3",
    ] {
        d.put_content(p, Bytes::from(p)).await.unwrap();
    }
    // stat: a string prefix is not a directory.
    assert!(d.stat("/fold").await.unwrap_err().is_not_found());
    assert!(d.stat("/file").await.unwrap_err().is_not_found());
    assert!(d.stat("/folder1").await.unwrap().is_dir);
    assert!(!d.stat("/file1").await.unwrap().is_dir);

    d.delete("/file1").await.unwrap();
    assert_eq!(d.get_content("/file1-2").await.unwrap(), "/file1-2");
    d.delete("/folder1").await.unwrap();
    assert_eq!(
        d.get_content("/folder1-v2/a").await.unwrap(),
        "/folder1-v2/a"
    );
    assert_eq!(d.get_content("/folder1v3").await.unwrap(), "/folder1v3");
    assert_eq!(
        d.list("/").await.unwrap(),
        ["/file1-2", "/folder1-v2", "/folder1v3"]
    );
    // Moving a file never takes its string-prefix siblings along.
    d.rename("/file1-2", "/moved").await.unwrap();
    assert_eq!(
        d.list("/").await.unwrap(),
        ["/folder1-v2", "/folder1v3", "/moved"]
    );
    for p in ["/folder1-v2", "/folder1v3", "/moved"] {
        d.delete(p).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_above_the_threshold_is_a_multipart_copy() {
    let bucket = common::moto_bucket("copy").await;
    let threshold = 5usize << 20;
    let (counted, d) = common::moto_driver_counted(
        &bucket,
        &[
            ("multipartcopythresholdsize", "5MiB"),
            ("multipartcopychunksize", "5MiB"),
            ("multipartcopymaxconcurrency", "2"),
        ],
    )
    .await;
    let big = data(7, 2 * threshold + 17);
    d.put_content("/src/big", big.clone()).await.unwrap();
    d.rename("/src/big", "/dst/big").await.unwrap();
    let requests = counted.requests().snapshot();
    println!("requests for the big move: {requests:?}");
    assert_eq!(
        requests.get("UploadPartCopy"),
        Some(&3),
        "two full parts and one of 17 bytes"
    );
    assert_eq!(requests.get("CopyObject"), None);
    let got = d.get_content("/dst/big").await.unwrap();
    assert!(got == big, "the copy differs from the source");
    assert!(d.stat("/src/big").await.unwrap_err().is_not_found());

    // At the threshold, one CopyObject.
    let small = data(8, threshold);
    d.put_content("/src/small", small.clone()).await.unwrap();
    d.rename("/src/small", "/dst/small").await.unwrap();
    assert_eq!(counted.requests().get("CopyObject"), 1);
    assert_eq!(counted.requests().get("UploadPartCopy"), 3);
    assert!(d.get_content("/dst/small").await.unwrap() == small);
    d.delete("/dst").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_bucket_root_lists_and_walks_nothing() {
    let bucket = common::moto_bucket("empty").await;
    for root in ["", "/", "/some/prefix"] {
        let d = common::moto_driver(&bucket, &[("rootdirectory", root)]).await;
        assert_eq!(
            d.list("/").await.unwrap(),
            Vec::<String>::new(),
            "root {root:?}"
        );
        assert!(
            walk_all(d.as_ref(), "/", None, |_| WalkControl::Continue)
                .await
                .is_empty()
        );
        assert!(d.stat("/").await.unwrap().is_dir);
        assert!(d.list("/x").await.unwrap_err().is_not_found());
        assert!(d.delete("/x").await.unwrap_err().is_not_found());
    }
    // A root prefix sees only its own keys.
    let inner = common::moto_driver(&bucket, &[("rootdirectory", "/some/prefix")]).await;
    let outer = common::moto_driver(&bucket, &[]).await;
    inner
        .put_content("/a", Bytes::from_static(b"a"))
        .await
        .unwrap();
    assert_eq!(outer.list("/").await.unwrap(), ["/some"]);
    assert_eq!(outer.get_content("/some/prefix/a").await.unwrap(), "a");
    assert_eq!(inner.list("/").await.unwrap(), ["/a"]);
    inner.delete("/a").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_markers_and_foreign_keys_are_not_files() {
    let bucket = common::moto_bucket("markers").await;
    let (counted, d) = common::moto_driver_counted(&bucket, &[("rootdirectory", "r")]).await;
    let client = counted.sdk_client();
    for key in [
        "r/dir/",
        "r/dir/sub/",
        "r/odd name",
        "r/x/bad%key",
        "r/y//z",
    ] {
        client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(Vec::new().into())
            .send()
            .await
            .unwrap();
    }
    d.put_content("/dir/file", Bytes::from_static(b"f"))
        .await
        .unwrap();
    assert_eq!(d.list("/").await.unwrap(), ["/dir", "/x", "/y"]);
    assert_eq!(d.list("/dir").await.unwrap(), ["/dir/file", "/dir/sub"]);
    assert_eq!(d.list("/dir/sub").await.unwrap(), Vec::<String>::new());
    assert!(d.stat("/dir").await.unwrap().is_dir);
    assert!(d.stat("/dir/sub").await.unwrap().is_dir);
    assert!(d.get_content("/dir").await.unwrap_err().is_not_found());
    let walked = walk_all(d.as_ref(), "/", None, |_| WalkControl::Continue).await;
    let files: Vec<&str> = walked
        .iter()
        .filter(|e| !e.is_dir)
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(
        files,
        ["/dir/file"],
        "only the real file is a file: {walked:?}"
    );
    assert_eq!(
        paths(&walked),
        ["/dir", "/dir/file", "/dir/sub", "/x", "/y"]
    );
    for p in ["/dir", "/x", "/y"] {
        d.delete(p).await.unwrap();
    }
}

/// Multipart uploads in progress for `key`: (upload id, part sizes).
async fn uploads_of(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Vec<(String, Vec<i64>)> {
    let listed = client
        .list_multipart_uploads()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for u in listed.uploads() {
        if u.key() != Some(key) {
            continue;
        }
        let id = u.upload_id().unwrap().to_owned();
        let parts = client
            .list_parts()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .send()
            .await
            .unwrap();
        out.push((
            id,
            parts.parts().iter().map(|p| p.size().unwrap()).collect(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_on_a_second_instance_keeps_parts_equal() {
    let bucket = common::moto_bucket("resume").await;
    let part = 5usize << 20;
    let extra = [("chunksize", "5MiB"), ("rootdirectory", "reg")];
    let (first, d1) = common::moto_driver_counted(&bucket, &extra).await;
    let content = data(3, 3 * part + 1234);
    let cut1 = 2 * part + 100; // two full parts and a tail of 100 bytes
    let cut2 = 2 * part + 300; // the tail grows, no new part
    let path = "/uploads/u1/data";

    let mut w = d1.writer(path, false).await.unwrap();
    for piece in content[..cut1].chunks(1 << 20) {
        w.write(Bytes::copy_from_slice(piece)).await.unwrap();
        assert!(w.size() <= cut1 as u64);
    }
    w.close().await.unwrap();
    assert_eq!(w.size(), cut1 as u64);
    let key = first.key_of(path);
    assert_eq!(
        uploads_of(first.sdk_client(), &bucket, &key).await[0].1,
        [part as i64; 2]
    );
    // The tail is a hidden object: not a file, not in listings.
    assert_eq!(d1.list("/uploads/u1").await.unwrap(), Vec::<String>::new());
    assert!(d1.stat(path).await.unwrap_err().is_not_found());

    // A second, independent instance resumes it, twice.
    let d2 = common::moto_driver(&bucket, &extra).await;
    let mut w = d2.writer(path, true).await.unwrap();
    assert_eq!(w.size(), cut1 as u64);
    w.write(Bytes::copy_from_slice(&content[cut1..cut2]))
        .await
        .unwrap();
    w.close().await.unwrap();
    assert_eq!(w.size(), cut2 as u64);
    let d3 = common::moto_driver(&bucket, &extra).await;
    let mut w = d3.writer(path, true).await.unwrap();
    assert_eq!(w.size(), cut2 as u64);
    w.write(Bytes::copy_from_slice(&content[cut2..]))
        .await
        .unwrap();
    w.close().await.unwrap();
    assert_eq!(w.size(), content.len() as u64);
    let uploads = uploads_of(first.sdk_client(), &bucket, &key).await;
    assert_eq!(uploads.len(), 1, "one upload: {uploads:?}");
    assert_eq!(
        uploads[0].1, [part as i64; 3],
        "every part is one chunk: {uploads:?}"
    );

    let mut w = d1.writer(path, true).await.unwrap();
    assert_eq!(w.size(), content.len() as u64);
    w.commit().await.unwrap();
    w.close().await.unwrap();
    assert!(
        d2.get_content(path).await.unwrap() == content,
        "committed content differs"
    );
    assert!(
        uploads_of(first.sdk_client(), &bucket, &key)
            .await
            .is_empty()
    );
    let all = first
        .sdk_client()
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = all.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [key.as_str()], "the saved tail is gone after commit");

    // Appending to the committed content copies its full parts and downloads the rest.
    let mut w = d3.writer(path, true).await.unwrap();
    assert_eq!(w.size(), content.len() as u64);
    w.write(Bytes::from_static(b"more")).await.unwrap();
    w.commit().await.unwrap();
    let got = d1.get_content(path).await.unwrap();
    assert_eq!(got.len(), content.len() + 4);
    assert!(got[..content.len()] == content[..] && &got[content.len()..] == b"more");
    d1.delete("/uploads").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_uploads_and_deletes_abort_stale_uploads() {
    let bucket = common::moto_bucket("stale").await;
    let extra = [("chunksize", "5MiB")];
    let (counted, d) = common::moto_driver_counted(&bucket, &extra).await;
    let client = counted.sdk_client();
    let path = "/up/data";
    let key = counted.key_of(path);
    let mut w = d.writer(path, false).await.unwrap();
    w.write(data(1, (5 << 20) + 10)).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(uploads_of(client, &bucket, &key).await.len(), 1);
    // A new upload discards the stale one (and its saved tail) before anything is written.
    let mut w = d.writer(path, false).await.unwrap();
    assert!(uploads_of(client, &bucket, &key).await.is_empty());
    assert_eq!(w.size(), 0);
    let tail = client
        .head_object()
        .bucket(&bucket)
        .key("up/~data.upload")
        .send()
        .await;
    assert!(tail.is_err(), "the stale tail is removed");
    w.write(Bytes::from_static(b"x")).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(uploads_of(client, &bucket, &key).await.len(), 1);
    // Deleting the directory aborts the upload in progress under it.
    d.delete("/up").await.unwrap();
    assert!(uploads_of(client, &bucket, &key).await.is_empty());
    assert!(d.writer(path, true).await.err().unwrap().is_not_found());
    // A cancelled upload leaves nothing behind.
    let mut w = d.writer(path, false).await.unwrap();
    w.write(data(2, 6 << 20)).await.unwrap();
    w.cancel().await.unwrap();
    assert!(uploads_of(client, &bucket, &key).await.is_empty());
    let all = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(all.contents().is_empty(), "{:?}", all.contents());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_order_holds_across_listing_pages() {
    let bucket = common::moto_bucket("walk").await;
    let (counted, d) = common::moto_driver_counted(&bucket, &[("rootdirectory", "w")]).await;
    // 1201 keys are two pages of ListObjectsV2, and the walk sends nothing else.
    let requests = || counted.requests().snapshot().values().sum::<u64>();
    wharf_testsuite::pages::walk_across_pages(d, 1201, 1000, requests)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_failures_map_to_their_kinds() {
    // A bucket that does not exist is not a missing path.
    let d = common::moto_driver(&common::unique_bucket("missing"), &[]).await;
    let e = d.get_content("/a").await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false }, "{e}");
    assert!(e.to_string().contains("NoSuchBucket"), "{e}");
    // Nobody listening: a temporary failure (after the SDK's retries), naming the operation.
    let mut params = common::moto_params("any", &[]);
    params.insert("regionendpoint", "http://127.0.0.1:9");
    let d = common::registry().create("s3", params).await.unwrap();
    let e = d.stat("/a").await.unwrap_err();
    assert!(e.is_temporary(), "{e}");
    assert!(e.to_string().starts_with("s3: stat /a"), "{e}");
}
