//! Filesystem-specific behaviour the conformance suite cannot see: the on-disk layout, confinement
//! to the root, the driver's own files staying invisible, resume state living on disk, atomic
//! replacement under concurrent readers, and the parameters.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use wharf_runtime::stream::collect;
use wharf_runtime::{
    DriverRegistry, ErrorKind, FileInfo, Params, StorageDriver, Value, WalkControl, WalkOptions,
};

/// A driver (behind the base layer, as the factory hands it out) rooted at `root`.
async fn driver_at(root: &Path) -> Arc<dyn StorageDriver> {
    create(&[("rootdirectory", root.to_string_lossy().as_ref().into())])
        .await
        .expect("create the driver")
}

async fn create(pairs: &[(&str, Value)]) -> wharf_runtime::Result<Arc<dyn StorageDriver>> {
    let mut registry = DriverRegistry::new();
    wharf_driver_filesystem::register(&mut registry)?;
    registry
        .create(
            wharf_driver_filesystem::NAME,
            Params::from_pairs(pairs.iter().cloned()),
        )
        .await
}

/// Position-dependent test data, so offset mistakes show.
fn data(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Every name on disk under `dir`, recursively, relative to it, sorted.
fn on_disk(dir: &Path) -> Vec<String> {
    fn visit(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let entry = entry.expect("entry");
            let path = entry.path();
            out.push(
                path.strip_prefix(base)
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned(),
            );
            if entry.file_type().expect("file type").is_dir() {
                visit(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    visit(dir, dir, &mut out);
    out.sort();
    out
}

async fn walk_all(driver: &dyn StorageDriver, path: &str, options: WalkOptions) -> Vec<FileInfo> {
    let mut seen = Vec::new();
    driver
        .walk(path, &options, &mut |info: &FileInfo| {
            seen.push(info.clone());
            Ok(WalkControl::Continue)
        })
        .await
        .expect("walk");
    seen
}

fn paths(infos: &[FileInfo]) -> Vec<&str> {
    infos.iter().map(|i| i.path.as_str()).collect()
}

fn assert_not_found<T: std::fmt::Debug>(result: wharf_runtime::Result<T>, path: &str) {
    match result {
        Err(e) => assert_eq!(
            e.kind(),
            &ErrorKind::PathNotFound { path: path.into() },
            "{e}"
        ),
        Ok(v) => panic!("expected PathNotFound for {path}, got {v:?}"),
    }
}

#[tokio::test]
async fn parameters_through_the_factory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("made/by/the/driver");
    let root_value: Value = root.to_string_lossy().as_ref().into();

    let d = create(&[("rootdirectory", root_value.clone())])
        .await
        .expect("create");
    assert!(root.is_dir(), "the root directory is created");
    assert_eq!(d.name(), "filesystem");
    assert_eq!(d.concurrency_limit(), Some(100));

    for (given, limit) in [
        (Value::from(10), 25),
        (Value::from(-1), 25),
        (Value::from("0x40"), 64),
        (Value::from(500), 500),
    ] {
        let d = create(&[("rootdirectory", root_value.clone()), ("maxthreads", given)])
            .await
            .expect("create");
        assert_eq!(d.concurrency_limit(), Some(limit));
    }

    let e = create(&[
        ("rootdirectory", root_value.clone()),
        ("maxthreads", "many".into()),
    ])
    .await
    .err()
    .expect("a bad maxthreads fails");
    assert_eq!(
        e.kind(),
        &ErrorKind::InvalidParameter {
            key: "maxthreads".into()
        }
    );
    assert!(e.to_string().starts_with("filesystem: "), "{e}");
    assert!(e.to_string().contains("maxthreads"), "{e}");

    let e = create(&[("rootdirectory", root_value), ("maxthread", 30.into())])
        .await
        .err()
        .expect("an unknown key fails");
    assert_eq!(
        e.kind(),
        &ErrorKind::InvalidParameter {
            key: "maxthread".into()
        }
    );
    assert!(e.to_string().contains("maxthread"), "{e}");

    // A root that cannot be a directory names the parameter.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let e = create(&[("rootdirectory", file.to_string_lossy().as_ref().into())])
        .await
        .err()
        .expect("a file as root fails");
    assert_eq!(
        e.kind(),
        &ErrorKind::InvalidParameter {
            key: "rootdirectory".into()
        }
    );
}

#[tokio::test]
async fn layout_is_the_reference_layout() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = driver_at(tmp.path()).await;
    let content = data(5000, 1);
    d.put_content("/docker/registry/v2/blobs/data", content.clone())
        .await
        .expect("put");
    assert_eq!(
        std::fs::read(tmp.path().join("docker/registry/v2/blobs/data")).expect("read"),
        content
    );

    // What another registry wrote is seen as it is.
    std::fs::create_dir_all(tmp.path().join("other/dir")).expect("mkdir");
    std::fs::write(
        tmp.path().join("other/dir/file"),
        b"written by someone else",
    )
    .expect("write");
    assert_eq!(
        d.get_content("/other/dir/file").await.expect("get"),
        Bytes::from_static(b"written by someone else")
    );
    assert_eq!(d.list("/").await.expect("list"), ["/docker", "/other"]);
    assert_eq!(
        d.stat("/other/dir/file").await.expect("stat").size,
        b"written by someone else".len() as u64
    );

    let mut w = d.writer("/up/load", false).await.expect("writer");
    w.write(data(10, 2)).await.expect("write");
    w.commit().await.expect("commit");
    w.close().await.expect("close");
    assert_eq!(
        std::fs::read(tmp.path().join("up/load")).expect("read"),
        data(10, 2)
    );
    // Nothing but the committed files remains.
    assert_eq!(
        on_disk(tmp.path()),
        [
            "docker",
            "docker/registry",
            "docker/registry/v2",
            "docker/registry/v2/blobs",
            "docker/registry/v2/blobs/data",
            "other",
            "other/dir",
            "other/dir/file",
            "up",
            "up/load",
        ]
    );
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_cannot_lead_out_of_the_root() {
    use std::os::unix::fs::symlink;

    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("secret"), b"secret").expect("write");
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    symlink(outside.path(), root.join("dirlink")).expect("symlink");
    symlink(outside.path().join("secret"), root.join("filelink")).expect("symlink");
    symlink("../../..", root.join("uplink")).expect("symlink");
    let d = driver_at(root).await;

    let escapes = [
        "/dirlink/secret",
        "/filelink",
        "/uplink",
        "/dirlink",
        "/uplink/etc/passwd",
    ];
    let denied =
        |e: wharf_runtime::Error| assert_eq!(e.kind(), &ErrorKind::PermissionDenied, "{e}");
    for path in escapes {
        denied(d.get_content(path).await.expect_err("get through a link"));
        denied(d.stat(path).await.expect_err("stat through a link"));
        denied(
            d.reader(path, 0)
                .await
                .err()
                .expect("reader through a link"),
        );
        denied(d.list(path).await.expect_err("list through a link"));
    }
    assert!(
        d.writer("/dirlink/new", false).await.is_err(),
        "writer through a link"
    );
    assert!(
        d.writer("/filelink", true).await.is_err(),
        "append through a link"
    );
    assert!(
        d.put_content("/dirlink/new", Bytes::from_static(b"x"))
            .await
            .is_err(),
        "put through a link"
    );
    d.put_content("/inside", Bytes::from_static(b"x"))
        .await
        .expect("put");
    assert!(
        d.rename("/inside", "/dirlink/moved").await.is_err(),
        "move out through a link"
    );
    assert!(
        d.rename("/dirlink/secret", "/stolen").await.is_err(),
        "move in through a link"
    );
    let walked = d
        .walk("/dirlink", &WalkOptions::default(), &mut |_| {
            Ok(WalkControl::Continue)
        })
        .await;
    denied(walked.expect_err("walk through a link"));
    // A walk over links that lead out leaves them out, and shows the rest.
    let mut seen = Vec::new();
    d.walk("/", &WalkOptions::default(), &mut |info| {
        seen.push(info.path.clone());
        Ok(WalkControl::Continue)
    })
    .await
    .expect("a walk past links that lead out");
    assert_eq!(seen, ["/inside"], "the walk showed what the links lead to");
    assert_eq!(
        on_disk(outside.path()),
        ["secret"],
        "nothing was created outside"
    );

    // Deleting a link removes the link, never what it points to.
    d.delete("/dirlink").await.expect("delete link");
    d.delete("/filelink").await.expect("delete link");
    assert!(!root.join("dirlink").exists());
    assert_eq!(
        std::fs::read(outside.path().join("secret")).expect("read"),
        b"secret"
    );
}

/// What others sharing the directory (a guest driver granted it, a careless script) may leave
/// there: trees deeper than any registry makes, links that loop or dangle, names outside the
/// contract's alphabet. Walks and deletes get through, or fail saying why: never a crash, never
/// a "not found" for what is there.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_and_delete_survive_what_others_leave_in_the_directory() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;

    let tmp = tempfile::tempdir().expect("tempdir");
    let d = driver_at(tmp.path()).await;
    d.put_content("/shared/a", data(3, 1)).await.expect("put");
    let shared = tmp.path().join("shared");
    symlink("self-loop", shared.join("self-loop")).expect("a looping link");
    symlink("nowhere", shared.join("dangling")).expect("a dangling link");
    for odd in [&b"sp ace"[..], b"new\nline", b"\x1b[31m", b"\xff\xfe"] {
        std::fs::write(shared.join(std::ffi::OsStr::from_bytes(odd)), "odd").expect("odd name");
    }
    // 400 levels, more than a walk descends.
    let mut deepest = shared.clone();
    for _ in 0..400 {
        deepest.push("d");
    }
    std::fs::create_dir_all(&deepest).expect("a deep tree");

    let mut seen = Vec::new();
    let walked = d
        .walk("/shared", &WalkOptions::default(), &mut |info| {
            seen.push(info.path.clone());
            Ok(WalkControl::Continue)
        })
        .await;
    let e = walked.expect_err("a walk deeper than its bound");
    assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false }, "{e}");
    assert!(e.to_string().contains("256 directories below"), "{e}");
    // Below the bound the same tree walks.
    let below = format!("/shared{}", "/d".repeat(201));
    let walked = walk_all(d.as_ref(), &below, WalkOptions::default()).await;
    assert_eq!(walked.len(), 199, "the rest of the chain below {below}");
    // The visible names came in order; nothing odd, looping or dangling among them.
    assert_eq!(seen[0], "/shared/a", "{:?}", &seen[..3]);
    assert!(
        seen.iter()
            .all(|p| p == "/shared/a" || p.starts_with("/shared/d"))
    );

    d.delete("/shared").await.expect("delete the shared tree");
    assert!(!shared.exists(), "the tree is gone");
    assert_not_found(d.stat("/shared").await, "/shared");
}

/// Links to directories beside them, level after level, would make a walk that follows every
/// link visit 2^levels paths: a directory reached through a link is walked only once.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_cannot_multiply_a_walk() {
    use std::os::unix::fs::symlink;

    let tmp = tempfile::tempdir().expect("tempdir");
    let d = driver_at(tmp.path()).await;
    let mut level = tmp.path().join("top");
    std::fs::create_dir(&level).expect("top");
    for _ in 0..40 {
        // `a` sorts before `d`, so the link is met first.
        std::fs::create_dir(level.join("d")).expect("d");
        symlink("d", level.join("a")).expect("a -> d");
        level.push("d");
    }
    std::fs::write(level.join("bottom"), "b").expect("bottom");
    let seen = walk_all(d.as_ref(), "/top", WalkOptions::default()).await;
    assert!(
        seen.len() < 10_000,
        "{} entries for 40 levels: the links multiplied the walk",
        seen.len()
    );
    let paths = paths(&seen);
    // Every real directory, and the file at the bottom, were reached.
    let bottom = format!("/top{}/bottom", "/d".repeat(40));
    assert!(paths.contains(&bottom.as_str()), "{bottom} not walked");
    assert!(paths.contains(&"/top/a/a"), "the first link was followed");
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_inside_the_root_work_and_cycles_end() {
    use std::os::unix::fs::symlink;

    let tmp = tempfile::tempdir().expect("tempdir");
    let d = driver_at(tmp.path()).await;
    d.put_content("/real/file", data(10, 3)).await.expect("put");
    symlink("real", tmp.path().join("alias")).expect("symlink");
    symlink("..", tmp.path().join("real/loop")).expect("symlink");
    assert_eq!(
        d.get_content("/alias/file").await.expect("get"),
        data(10, 3)
    );
    assert!(d.stat("/alias").await.expect("stat").is_dir);
    let seen = walk_all(d.as_ref(), "/", WalkOptions::default()).await;
    // `/real/loop` is the root again and `/alias` is `/real`: each is shown, but a directory
    // already being walked is not walked a second time below itself.
    let seen = paths(&seen);
    assert_eq!(seen[..3], ["/alias", "/alias/file", "/alias/loop"]);
    assert!(seen.contains(&"/real/file"), "{seen:?}");
    assert!(seen.len() < 20, "the walk ended: {seen:?}");
}

#[tokio::test]
async fn own_files_never_show() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = driver_at(tmp.path()).await;
    d.put_content("/d/committed", data(3, 4))
        .await
        .expect("put");
    let mut w = d.writer("/d/uploading", false).await.expect("writer");
    w.write(data(100, 5)).await.expect("write");
    w.close().await.expect("close");
    // Leftovers of a crash and foreign files.
    std::fs::write(tmp.path().join("d/~committed.0123456789abcdef.tmp"), b"x").expect("write");
    std::fs::create_dir(tmp.path().join("lost+found")).expect("mkdir");
    std::fs::write(tmp.path().join("d/with space"), b"x").expect("write");

    assert!(
        on_disk(tmp.path()).contains(&"d/~uploading.upload".to_owned()),
        "the upload is staged on disk: {:?}",
        on_disk(tmp.path())
    );
    assert_eq!(d.list("/").await.expect("list"), ["/d"]);
    assert_eq!(d.list("/d").await.expect("list"), ["/d/committed"]);
    assert_not_found(d.stat("/d/uploading").await, "/d/uploading");
    assert_not_found(d.get_content("/d/uploading").await, "/d/uploading");
    let seen = walk_all(d.as_ref(), "/", WalkOptions::default()).await;
    assert_eq!(paths(&seen), ["/d", "/d/committed"]);

    // The upload is still there to resume, and commits into view.
    let mut w = d.writer("/d/uploading", true).await.expect("resume");
    assert_eq!(w.size(), 100);
    w.commit().await.expect("commit");
    w.close().await.expect("close");
    assert_eq!(
        d.list("/d").await.expect("list"),
        ["/d/committed", "/d/uploading"]
    );
    assert!(!tmp.path().join("d/~uploading.upload").exists());
}

#[tokio::test]
async fn uploads_resume_on_another_instance() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = driver_at(tmp.path()).await;
    let (a, b, c) = (data(3 << 20, 6), data(1000, 7), data((1 << 20) + 17, 8));

    let mut w = first.writer("/r/blob", false).await.expect("writer");
    w.write(a.clone()).await.expect("write");
    w.write(b.clone()).await.expect("write");
    assert!(
        w.size() <= (a.len() + b.len()) as u64,
        "size never runs ahead"
    );
    w.close().await.expect("close");
    assert_eq!(w.size(), (a.len() + b.len()) as u64);
    drop(w);
    drop(first);

    let second = driver_at(tmp.path()).await;
    let mut w = second.writer("/r/blob", true).await.expect("resume");
    assert_eq!(w.size(), (a.len() + b.len()) as u64);
    for piece in c.chunks(100) {
        w.write(Bytes::copy_from_slice(piece)).await.expect("write");
        assert!(w.size() <= (a.len() + b.len() + c.len()) as u64);
    }
    w.commit().await.expect("commit");
    assert_eq!(w.size(), (a.len() + b.len() + c.len()) as u64);
    w.close().await.expect("close");

    let expected = [a, b, c].concat();
    assert_eq!(second.get_content("/r/blob").await.expect("get"), expected);
    assert_eq!(on_disk(tmp.path()), ["r", "r/blob"]);
}

#[tokio::test]
async fn dropped_writer_is_closed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = driver_at(tmp.path()).await;
    let mut w = d.writer("/dropped", false).await.expect("writer");
    w.write(data(100, 9)).await.expect("write");
    assert_eq!(w.size(), 0, "small writes are buffered");
    drop(w);
    assert_not_found(d.stat("/dropped").await, "/dropped");
    let mut w = d.writer("/dropped", true).await.expect("resume");
    assert_eq!(w.size(), 100);
    w.write(data(5, 10)).await.expect("write");
    w.commit().await.expect("commit");
    w.close().await.expect("close");
    assert_eq!(
        d.get_content("/dropped").await.expect("get"),
        [data(100, 9), data(5, 10)].concat()
    );
}

#[tokio::test]
async fn uploads_never_clobber_committed_content() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = driver_at(tmp.path()).await;
    let old = data(4096, 11);
    d.put_content("/c", old.clone()).await.expect("put");

    // A new upload, cancelled: the old content stays, readable throughout.
    let mut w = d.writer("/c", false).await.expect("writer");
    w.write(data(3 << 20, 12)).await.expect("write");
    assert_eq!(d.get_content("/c").await.expect("get"), old);
    w.cancel().await.expect("cancel");
    assert_eq!(d.get_content("/c").await.expect("get"), old);

    // Appending to committed content, cancelled, then committed.
    let mut w = d.writer("/c", true).await.expect("append");
    assert_eq!(w.size(), old.len() as u64);
    w.write(data(10, 13)).await.expect("write");
    w.cancel().await.expect("cancel");
    assert_eq!(d.get_content("/c").await.expect("get"), old);
    let mut w = d.writer("/c", true).await.expect("append");
    w.write(data(10, 13)).await.expect("write");
    w.commit().await.expect("commit");
    w.close().await.expect("close");
    assert_eq!(
        d.get_content("/c").await.expect("get"),
        [old, data(10, 13)].concat()
    );

    // Appending to an empty committed file starts at 0.
    d.put_content("/empty", Bytes::new()).await.expect("put");
    let mut w = d.writer("/empty", true).await.expect("append");
    assert_eq!(w.size(), 0);
    w.close().await.expect("close");

    assert_not_found(d.writer("/missing", true).await.map(|_| ()), "/missing");
    assert_not_found(d.writer("/c/under", true).await.map(|_| ()), "/c/under");
    d.put_content("/dir/f", data(1, 1)).await.expect("put");
    assert_not_found(d.writer("/dir", true).await.map(|_| ()), "/dir");
    assert_eq!(
        on_disk(tmp.path())
            .iter()
            .filter(|n| n.contains('~'))
            .collect::<Vec<_>>(),
        [&"~empty.upload".to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_content_is_atomic_for_concurrent_readers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = driver_at(tmp.path()).await;
    let versions = [data(1 << 20, 14), data(3 << 20, 15), Bytes::new()];
    d.put_content("/atomic", versions[0].clone())
        .await
        .expect("put");
    let done = Arc::new(AtomicBool::new(false));

    let mut readers = Vec::new();
    for streamed in [false, true, false, true] {
        let (d, done, versions) = (d.clone(), done.clone(), versions.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                let got = if streamed {
                    collect(d.reader("/atomic", 0).await.expect("reader"))
                        .await
                        .expect("read")
                } else {
                    d.get_content("/atomic").await.expect("get")
                };
                assert!(
                    versions.contains(&got),
                    "a reader saw a mix or a truncation ({} bytes)",
                    got.len()
                );
                reads += 1;
            }
            reads
        }));
    }
    for round in 0..30 {
        d.put_content("/atomic", versions[round % versions.len()].clone())
            .await
            .expect("put");
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.await.expect("reader task") > 0);
    }
    let names = on_disk(tmp.path());
    assert_eq!(names, ["atomic"], "no temporary file left");
}

#[tokio::test]
async fn readers_stream_in_chunks_from_any_offset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = driver_at(tmp.path()).await;
    let content = data((3 << 20) + 12345, 16);
    d.put_content("/big", content.clone()).await.expect("put");
    for offset in [0, 1, 1 << 20, (3 << 20) + 12000, content.len() as u64] {
        let mut stream = d.reader("/big", offset).await.expect("reader");
        let mut got = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("chunk");
            assert!(!chunk.is_empty() && chunk.len() <= 1 << 20);
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, content[offset as usize..], "offset {offset}");
    }
    let e = d
        .reader("/big", content.len() as u64 + 1)
        .await
        .err()
        .expect("offset beyond the end");
    assert_eq!(
        e.kind(),
        &ErrorKind::InvalidOffset {
            path: "/big".into(),
            offset: content.len() as u64 + 1
        }
    );
    assert_not_found(d.reader("/nothing", 10).await.map(|_| ()), "/nothing");
    d.put_content("/dir/f", data(1, 1)).await.expect("put");
    assert_not_found(d.reader("/dir", 0).await.map(|_| ()), "/dir");
    assert_not_found(d.get_content("/dir").await, "/dir");
}

#[tokio::test]
async fn tree_operations() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = driver_at(tmp.path()).await;
    assert!(d.list("/").await.expect("list empty root").is_empty());
    assert!(d.stat("/").await.expect("stat root").is_dir);
    for p in ["/t/b/x", "/t/a", "/t/b-c/y", "/t/bsuffix", "/t/B"] {
        d.put_content(p, data(p.len(), 17)).await.expect("put");
    }
    assert_eq!(
        d.list("/t").await.expect("list"),
        ["/t/B", "/t/a", "/t/b", "/t/b-c", "/t/bsuffix"]
    );
    assert_not_found(d.list("/t/a").await, "/t/a");
    assert_not_found(d.list("/t/none").await, "/t/none");
    let dir = d.stat("/t/b").await.expect("stat");
    assert!(dir.is_dir);
    assert_eq!(dir.size, 0);

    let seen = walk_all(d.as_ref(), "/t", WalkOptions::default()).await;
    assert_eq!(
        paths(&seen),
        [
            "/t/B",
            "/t/a",
            "/t/b",
            "/t/b/x",
            "/t/b-c",
            "/t/b-c/y",
            "/t/bsuffix"
        ]
    );
    assert_eq!(seen[1].size, 4);
    let later = walk_all(
        d.as_ref(),
        "/",
        WalkOptions {
            start_after: Some("/t/b/x".into()),
        },
    )
    .await;
    assert_eq!(paths(&later), ["/t/b-c", "/t/b-c/y", "/t/bsuffix"]);
    assert_not_found(
        d.walk("/t/a", &WalkOptions::default(), &mut |_| {
            Ok(WalkControl::Continue)
        })
        .await,
        "/t/a",
    );

    // Move: parents created, destination overwritten; a missing source leaves it alone.
    d.rename("/t/a", "/u/v/w").await.expect("move");
    d.put_content("/t/a", data(9, 18)).await.expect("put");
    d.rename("/t/a", "/u/v/w").await.expect("move over");
    assert_eq!(d.get_content("/u/v/w").await.expect("get"), data(9, 18));
    assert_not_found(d.rename("/t/a", "/u/v/w").await, "/t/a");
    assert_eq!(d.get_content("/u/v/w").await.expect("get"), data(9, 18));
    assert!(
        d.rename("/u/v/w/x", "/z").await.is_err(),
        "source under a file"
    );
    d.rename("/t/b", "/moved").await.expect("move a directory");
    assert_eq!(d.list("/moved").await.expect("list"), ["/moved/x"]);

    // Delete: recursive, only the subtree, missing → PathNotFound.
    d.delete("/t").await.expect("delete");
    assert_not_found(d.stat("/t/bsuffix").await, "/t/bsuffix");
    assert_not_found(d.delete("/t").await, "/t");
    assert_eq!(d.list("/").await.expect("list"), ["/moved", "/u"]);
}

/// Walk answers and entries removed mid-walk; run on both runtime flavors, since the walk runs
/// in `block_in_place` on one and on the blocking pool on the other.
async fn walk_behaviour() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = driver_at(tmp.path()).await;
    for p in ["/a", "/b/c", "/b/d", "/b/e/f", "/e", "/g"] {
        d.put_content(p, data(3, 19)).await.expect("put");
    }

    // Entries removed by the visitor before the walk reaches them are skipped.
    let mut seen = Vec::new();
    let root = tmp.path().to_owned();
    d.walk("/", &WalkOptions::default(), &mut |info: &FileInfo| {
        seen.push(info.path.clone());
        match info.path.as_str() {
            "/a" => std::fs::remove_file(root.join("e")).expect("remove"),
            "/b/c" => std::fs::remove_file(root.join("b/d")).expect("remove"),
            _ => {}
        }
        Ok(WalkControl::Continue)
    })
    .await
    .expect("walk");
    assert_eq!(seen, ["/a", "/b", "/b/c", "/b/e", "/b/e/f", "/g"]);

    // Skip a directory, then stop.
    let mut seen = Vec::new();
    d.walk("/", &WalkOptions::default(), &mut |info: &FileInfo| {
        seen.push(info.path.clone());
        Ok(match info.path.as_str() {
            "/b/e" => WalkControl::SkipDir,
            "/g" => WalkControl::Stop,
            _ => WalkControl::Continue,
        })
    })
    .await
    .expect("walk");
    assert_eq!(seen, ["/a", "/b", "/b/c", "/b/e", "/g"]);

    // A visitor error comes back unchanged and ends the walk.
    let mut calls = 0;
    let e = d
        .walk("/", &WalkOptions::default(), &mut |_: &FileInfo| {
            calls += 1;
            Err(wharf_runtime::Error::unsupported("visitor says no"))
        })
        .await
        .expect_err("the visitor's error");
    assert_eq!(
        e.kind(),
        &ErrorKind::Unsupported {
            operation: "visitor says no".into()
        }
    );
    assert_eq!(calls, 1);

    let later = walk_all(
        d.as_ref(),
        "/b",
        WalkOptions {
            start_after: Some("/b/c".into()),
        },
    )
    .await;
    assert_eq!(paths(&later), ["/b/e", "/b/e/f"]);
    std::fs::create_dir(tmp.path().join("empty")).expect("mkdir");
    assert!(
        walk_all(d.as_ref(), "/empty", WalkOptions::default())
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn walk_on_a_current_thread_runtime() {
    walk_behaviour().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_on_a_multi_thread_runtime() {
    walk_behaviour().await;
}
