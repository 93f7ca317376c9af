//! Rados-specific behaviour against a real Ceph cluster: the whole suite leaves no object
//! behind, a 1000-entry directory is listed and walked in a few requests, an upload resumes on
//! other driver instances, a move over a file frees the file's data, concurrent puts free every
//! content they replace, the layout on the cluster, content striped over many chunks read from
//! any offset, uploads replaced or deleted under a writer, a dropped writer closed in the
//! background, writes under a file and files over a directory refused, and a missing pool named
//! in the error.
//!
//! Objects are counted with the `rados` command, independently of the driver.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use wharf_runtime::{ErrorKind, StorageDriver, WalkControl, WalkOptions};
use wharf_testsuite::{FactoryFixture, Fixture, RunOptions};

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

async fn read_all(d: &dyn StorageDriver, path: &str, offset: u64) -> Bytes {
    let chunks: Vec<Bytes> = d
        .reader(path, offset)
        .await
        .unwrap_or_else(|e| panic!("reader({path}, {offset}): {e}"))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("reading {path} from {offset}: {e}"));
    chunks.concat().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_objects_left_after_the_suite() {
    let cluster = common::cluster();
    let namespace = common::unique_namespace("whole-suite");
    let params = common::params(&cluster, &namespace, &[("chunksize", "256KiB")]);
    let mut failures = Vec::new();
    for check in wharf_testsuite::checks() {
        let fixture: Arc<dyn Fixture> = Arc::new(
            FactoryFixture::new(common::registry(), wharf_driver_rados::NAME, params.clone())
                .await
                .expect("create the rados driver"),
        );
        if let Err(e) = wharf_testsuite::run_check(&check, fixture, RunOptions::from_env()).await {
            failures.push(format!("{}/{}: {e}", check.group, check.name));
        }
    }
    assert!(failures.is_empty(), "checks failed: {failures:#?}");
    let left = common::objects(&namespace);
    assert!(
        left.is_empty(),
        "the suite left {} objects behind: {:?}",
        left.len(),
        &left[..left.len().min(20)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1000_entry_directory_is_listed_and_walked_in_a_few_requests() {
    let (d, params, namespace) = common::fresh_driver("thousand", &[]).await;
    let names: Vec<String> = (0..1000).map(|i| format!("/big/entry-{i:04}")).collect();
    let puts: Vec<_> = names
        .iter()
        .cloned()
        .map(|p| {
            let d = d.clone();
            tokio::spawn(async move { d.put_content(&p, Bytes::from_static(b"x")).await })
        })
        .collect();
    for put in puts {
        put.await.unwrap().expect("put_content");
    }
    let counted = common::raw_driver(params).await;

    let before = counted.requests();
    let listed = counted.list("/big").await.expect("list");
    let used = counted.requests().omap_reads - before.omap_reads;
    assert_eq!(listed, names, "list(/big) of 1000 entries");
    eprintln!("list of 1000 entries: {used} omap reads");
    assert!(used <= 2, "list of 1000 entries took {used} omap reads");

    let before = counted.requests();
    let mut walked = Vec::new();
    counted
        .walk("/", &WalkOptions::default(), &mut |info| {
            walked.push(info.path.clone());
            Ok(WalkControl::Continue)
        })
        .await
        .expect("walk");
    let used = counted.requests().omap_reads - before.omap_reads;
    assert_eq!(walked.len(), 1001, "walk of /big and its 1000 files");
    assert_eq!(walked[0], "/big");
    eprintln!("walk of 1001 entries: {used} omap reads");
    assert!(used <= 4, "walk of 1001 entries took {used} omap reads");

    d.delete("/big").await.expect("delete");
    assert_eq!(common::objects(&namespace), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_on_other_instances() {
    // 64 KiB chunks: the upload spans many chunk objects, and sessions end mid-chunk.
    let extra = [("chunksize", "64KiB")];
    let (first, params, namespace) = common::fresh_driver("resume", &extra).await;
    let registry = common::registry();
    let path = "/uploads/blob";
    let content = data(7, 300_000);
    let cuts = [0usize, 100_003, 217_000, content.len()];
    for session in 0..3 {
        let d = if session == 0 {
            first.clone()
        } else {
            registry
                .create(wharf_driver_rados::NAME, params.clone())
                .await
                .expect("another instance")
        };
        let mut w = d.writer(path, session > 0).await.expect("writer");
        assert_eq!(
            w.size(),
            cuts[session] as u64,
            "size() when session {session} opens"
        );
        for piece in content[cuts[session]..cuts[session + 1]].chunks(7_001) {
            w.write(content.slice_ref(piece)).await.expect("write");
        }
        if session == 2 {
            w.commit().await.expect("commit");
        }
        w.close().await.expect("close");
    }
    let got = first.get_content(path).await.expect("get_content");
    assert!(got == content, "the content written over three instances");
    // One object per 64 KiB of content: nothing left from the sessions.
    assert_eq!(
        common::data_objects(&namespace).len(),
        300_000usize.div_ceil(65_536)
    );
    first.delete("/uploads").await.expect("delete");
    assert_eq!(common::objects(&namespace), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_over_a_file_frees_its_data() {
    let (d, _, namespace) = common::fresh_driver("move-frees", &[("chunksize", "4KiB")]).await;
    let (a, b) = (data(1, 10_000), data(2, 20_000));
    d.put_content("/x/a", a.clone()).await.expect("put a");
    d.put_content("/y/b", b.clone()).await.expect("put b");
    let before = common::data_objects(&namespace);
    assert_eq!(before.len(), 3 + 5);
    d.rename("/x/a", "/y/b").await.expect("move a over b");
    let after = common::data_objects(&namespace);
    assert_eq!(
        after.len(),
        3,
        "b's five chunks freed, a's three kept: {after:?}"
    );
    assert!(after.iter().all(|o| before.contains(o)), "data was copied");
    assert!(d.get_content("/y/b").await.expect("get") == a);
    assert!(d.stat("/x/a").await.unwrap_err().is_not_found());
    // The source's directory went with its last file.
    assert_eq!(d.list("/").await.expect("list"), ["/y"]);
    // Within one directory too.
    d.put_content("/y/c", b).await.expect("put c");
    d.rename("/y/b", "/y/c").await.expect("move b over c");
    assert_eq!(common::data_objects(&namespace), after);
    d.delete("/y").await.expect("delete");
    assert_eq!(common::objects(&namespace), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_free_every_content_they_replace() {
    let (d, _, namespace) = common::fresh_driver("puts", &[("chunksize", "4KiB")]).await;
    let values: Vec<Bytes> = (0..16u64)
        .map(|i| data(i, 9_000 + 100 * i as usize))
        .collect();
    let puts: Vec<_> = values
        .iter()
        .cloned()
        .map(|v| {
            let d = d.clone();
            tokio::spawn(async move { d.put_content("/p/contested", v).await })
        })
        .collect();
    for p in puts {
        p.await.unwrap().expect("put_content");
    }
    let got = d.get_content("/p/contested").await.expect("get");
    assert!(values.contains(&got), "a mix of values");
    assert_eq!(
        common::data_objects(&namespace).len(),
        3,
        "only the winner's chunks stay"
    );
    d.delete("/p").await.expect("delete");
    assert_eq!(common::objects(&namespace), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layout_on_the_cluster() {
    let (d, _, namespace) = common::fresh_driver("layout", &[("chunksize", "4KiB")]).await;
    d.put_content("/a/b", data(3, 8_193)).await.expect("put");
    let objects = common::objects(&namespace);
    let data_objects: Vec<&String> = objects
        .iter()
        .filter(|o| o.starts_with("wharf.data."))
        .collect();
    assert_eq!(data_objects.len(), 3, "{objects:?}");
    let stem = &data_objects[0][..data_objects[0].len() - 8];
    for (i, o) in data_objects.iter().enumerate() {
        assert_eq!(**o, format!("{stem}{i:08x}"));
    }
    let dirs: Vec<&String> = objects
        .iter()
        .filter(|o| o.starts_with("wharf.dir:"))
        .collect();
    assert_eq!(dirs, ["wharf.dir:/", "wharf.dir:/a"]);
    // An empty file has no data object.
    d.put_content("/a/empty", Bytes::new())
        .await
        .expect("put empty");
    assert_eq!(common::data_objects(&namespace).len(), 3);
    d.delete("/a").await.expect("delete");
    assert_eq!(common::objects(&namespace), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn striped_content_reads_from_any_offset() {
    // 17 MiB over 1 MiB chunks: more than a reader reads before it is handed out.
    let (d, _, namespace) = common::fresh_driver("striped", &[("chunksize", "1MiB")]).await;
    let len = (17 << 20) + 12_345;
    let content = data(5, len);
    let mut w = d.writer("/s", false).await.expect("writer");
    for piece in content.chunks(300_001) {
        w.write(content.slice_ref(piece)).await.expect("write");
    }
    w.commit().await.expect("commit");
    w.close().await.expect("close");
    assert!(d.get_content("/s").await.expect("get") == content);
    for offset in [
        0,
        1,
        (1 << 20) - 1,
        1 << 20,
        (1 << 20) + 1,
        16 << 20,
        (17 << 20) + 1,
        len - 1,
        len,
    ] {
        let got = read_all(d.as_ref(), "/s", offset as u64).await;
        assert!(got == content.slice(offset..), "reader at {offset}");
    }
    let e = d
        .reader("/s", len as u64 + 1)
        .await
        .err()
        .expect("beyond the end");
    assert!(matches!(e.kind(), ErrorKind::InvalidOffset { .. }), "{e}");
    assert_eq!(common::data_objects(&namespace).len(), 18);
    d.delete("/s").await.expect("delete");
    assert_eq!(common::objects(&namespace), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_loses_its_upload_to_a_newer_one_and_to_delete() {
    let (d, _, namespace) = common::fresh_driver("lost", &[("chunksize", "64KiB")]).await;
    let mut old = d.writer("/u/blob", false).await.expect("first writer");
    old.write(data(1, 200_000)).await.expect("write");
    let mut new = d.writer("/u/blob", false).await.expect("second writer");
    new.write(data(2, 70_000)).await.expect("write");
    // The first writer's upload was discarded: it cannot go on, and frees what it wrote.
    assert!(old.write(data(3, 70_000)).await.is_err() || old.commit().await.is_err());
    let _ = old.cancel().await;
    new.commit().await.expect("commit of the newer upload");
    new.close().await.expect("close");
    assert!(d.get_content("/u/blob").await.expect("get") == data(2, 70_000));
    assert_eq!(common::data_objects(&namespace).len(), 2);

    // A closed upload under a deleted directory goes with it, data and all.
    let mut w = d.writer("/u/sub/pending", false).await.expect("writer");
    w.write(data(4, 150_000)).await.expect("write");
    w.close().await.expect("close");
    d.delete("/u").await.expect("delete");
    let resumed = d.writer("/u/sub/pending", true).await;
    assert!(resumed.err().expect("the upload is gone").is_not_found());
    assert_eq!(common::objects(&namespace), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_writer_is_closed_in_the_background() {
    let (d, _, namespace) = common::fresh_driver("dropped", &[("chunksize", "64KiB")]).await;
    let mut w = d.writer("/d/blob", false).await.expect("writer");
    w.write(data(6, 100_000)).await.expect("write");
    drop(w);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let w = d.writer("/d/blob", true).await.expect("resume");
        if w.size() == 100_000 {
            break;
        }
        assert!(Instant::now() < deadline, "size() stayed {}", w.size());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut w = d.writer("/d/blob", true).await.expect("resume");
    w.write(data(6, 100_000).slice(0..1)).await.expect("write");
    w.cancel().await.expect("cancel");
    assert_eq!(common::objects(&namespace), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_written_under_a_file_or_over_a_directory() {
    let (d, _, namespace) = common::fresh_driver("under-file", &[]).await;
    d.put_content("/f", data(8, 100)).await.expect("put");
    let before = common::objects(&namespace);
    assert!(
        d.put_content("/f/x", data(9, 10)).await.is_err(),
        "put under a file"
    );
    assert!(
        d.writer("/f/y", false).await.is_err(),
        "writer under a file"
    );
    d.put_content("/g", data(10, 10)).await.expect("put g");
    assert!(d.rename("/g", "/f/z").await.is_err(), "move under a file");
    assert!(d.get_content("/g").await.expect("g is back") == data(10, 10));
    assert!(d.put_content("/", data(9, 10)).await.is_err());
    // Nor does a file replace a directory.
    d.put_content("/dir/inside", data(11, 10))
        .await
        .expect("put inside");
    let e = d.put_content("/dir", data(12, 10)).await.unwrap_err();
    assert!(
        e.to_string().contains("/dir is a directory"),
        "put over a directory: {e}"
    );
    let e = d.rename("/g", "/dir").await.unwrap_err();
    assert!(
        e.to_string().contains("/dir is a directory"),
        "move over a directory: {e}"
    );
    assert!(d.get_content("/g").await.expect("g is back again") == data(10, 10));
    assert!(d.get_content("/dir/inside").await.expect("inside") == data(11, 10));
    d.delete("/dir").await.expect("delete dir");
    d.delete("/g").await.expect("delete g");
    assert_eq!(
        common::objects(&namespace),
        before,
        "nothing left from the refusals"
    );
    assert!(!d.stat("/f").await.expect("stat").is_dir);
    assert!(d.get_content("/f").await.expect("get") == data(8, 100));
    d.delete("/f").await.expect("delete");
    assert_eq!(common::objects(&namespace), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_pool_is_named() {
    let cluster = common::cluster();
    let mut params = common::params(&cluster, "", &[]);
    params.insert("poolname", "wharf-no-such-pool");
    let e = common::registry()
        .create(wharf_driver_rados::NAME, params)
        .await
        .err()
        .expect("a missing pool");
    assert_eq!(
        e.kind(),
        &ErrorKind::InvalidParameter {
            key: "poolname".into()
        },
        "{e}"
    );
    assert!(e.to_string().contains("wharf-no-such-pool"), "{e}");
}
