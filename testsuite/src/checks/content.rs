//! CONTRACT §3 `get_content` / `put_content`: whole-object round trips of the reference sizes,
//! replacement (never an in-place overwrite), empty files, implicit parents, missing paths, and
//! atomicity under concurrent writers and readers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use wharf_runtime::StorageDriver;
use wharf_runtime::network::is_replaced_while_read;

use crate::data;
use crate::support::{
    CheckError, CheckResult, Context, ensure, ensure_bytes, ensure_data, ensure_eq,
    expect_not_found, fail, first_part, random_path, random_root, read_all, with_cleanup,
};
use crate::{Fixture, RunOptions};

/// Puts `content` at a random path, reads it back and checks `stat`'s size.
async fn put_get(fx: Arc<dyn Fixture>, content: Bytes) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        put_and_compare(d.as_ref(), &path, content).await
    })
    .await
}

async fn put_and_compare(d: &dyn StorageDriver, path: &str, content: Bytes) -> CheckResult {
    d.put_content(path, content.clone())
        .await
        .context(format_args!("put_content({path}, {} bytes)", content.len()))?;
    let got = d
        .get_content(path)
        .await
        .context(format_args!("get_content({path})"))?;
    ensure_bytes(&got, &content, format_args!("get_content({path})"))?;
    let info = d.stat(path).await.context(format_args!("stat({path})"))?;
    ensure_eq!(info.size, content.len() as u64, "stat({path}).size");
    ensure!(!info.is_dir, "stat({path}) says a file is a directory");
    Ok(())
}

/// One byte.
pub(crate) async fn put_get_1_byte(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    put_get(fx, Bytes::from_static(b"a")).await
}

/// A two-byte UTF-8 character.
pub(crate) async fn put_get_2_bytes_utf8(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    put_get(fx, Bytes::from_static(b"\xc3\x9f")).await
}

/// 32 bytes.
pub(crate) async fn put_get_32_bytes(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    put_get(fx, data::bytes(data::seed("put_get_32_bytes"), 0, 32)).await
}

/// 1 MiB.
pub(crate) async fn put_get_1_mib(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    put_get(fx, data::bytes(data::seed("put_get_1_mib"), 0, 1 << 20)).await
}

/// Bytes that are not UTF-8.
pub(crate) async fn put_get_non_utf8(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    put_get(fx, Bytes::from_static(&[0x80, 0x80, 0x80, 0x80])).await
}

/// Putting 1 KiB over 1 MiB leaves exactly the 1 KiB.
pub(crate) async fn put_truncates(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    put_twice_sizes(fx, "put_truncates", 1 << 20, 1 << 10).await
}

/// Putting 2048 bytes over 4096 leaves exactly the 2048 (a put is a replacement, not a write
/// at offset 0).
pub(crate) async fn put_twice(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    put_twice_sizes(fx, "put_twice", 4096, 2048).await
}

async fn put_twice_sizes(
    fx: Arc<dyn Fixture>,
    label: &str,
    first: usize,
    second: usize,
) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let a = data::bytes(data::seed(&format!("{label}-first")), 0, first);
    let b = data::bytes(data::seed(&format!("{label}-second")), 0, second);
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        put_and_compare(d.as_ref(), &path, a).await?;
        put_and_compare(d.as_ref(), &path, b)
            .await
            .map_err(|e| e.context("after a second, smaller put"))
    })
    .await
}

/// `get_content` of a missing path fails with `PathNotFound` naming the driver.
pub(crate) async fn get_missing(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    expect_not_found(
        d.get_content(&path).await,
        d.as_ref(),
        format_args!("get_content({path}) of a missing file"),
    )
}

/// Sixteen concurrent puts to one path leave exactly one of the sixteen values (three rounds).
pub(crate) async fn concurrent_puts_one_path(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        for round in 0..3u64 {
            let values: Vec<Bytes> = (0..16u64)
                .map(|i| {
                    data::bytes(
                        data::seed("concurrent_puts") + round * 16 + i,
                        0,
                        4096 + 257 * i as usize,
                    )
                })
                .collect();
            let tasks: Vec<_> = values
                .iter()
                .map(|v| {
                    let (d, path, v) = (d.clone(), path.clone(), v.clone());
                    tokio::spawn(async move { d.put_content(&path, v).await })
                })
                .collect();
            for (i, task) in tasks.into_iter().enumerate() {
                task.await
                    .map_err(|e| CheckError::new(format!("put task {i} panicked: {e}")))?
                    .context(format_args!("round {round}: concurrent put_content #{i}"))?;
            }
            let got = d
                .get_content(&path)
                .await
                .context("get_content after the puts")?;
            ensure!(
                values.contains(&got),
                "round {round}: after 16 concurrent puts the file holds {} bytes that are none \
                 of the 16 values (a mix or a truncation)",
                got.len()
            );
            let info = d.stat(&path).await.context("stat after the puts")?;
            ensure_eq!(
                info.size,
                got.len() as u64,
                "round {round}: stat size after the puts"
            );
        }
        Ok(())
    })
    .await
}

/// Empty content creates an existing zero-length file.
pub(crate) async fn put_empty_creates_file(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        d.put_content(&path, Bytes::new())
            .await
            .context("put_content(empty)")?;
        let info = d.stat(&path).await.context("stat of an empty file")?;
        ensure_eq!(
            (info.size, info.is_dir),
            (0, false),
            "stat({path}) (size, is_dir)"
        );
        let got = d
            .get_content(&path)
            .await
            .context("get_content of an empty file")?;
        ensure!(
            got.is_empty(),
            "get_content of an empty file returned {} bytes",
            got.len()
        );
        let stream = d
            .reader(&path, 0)
            .await
            .context("reader(0) of an empty file")?;
        let got = read_all(stream, "reading an empty file").await?;
        ensure!(
            got.is_empty(),
            "reader of an empty file returned {} bytes",
            got.len()
        );
        let parent = wharf_runtime::path::parent(&path);
        let children = d
            .list(parent)
            .await
            .context(format_args!("list({parent})"))?;
        ensure!(
            children.contains(&path),
            "list({parent}) = {children:?} does not show the empty file"
        );
        Ok(())
    })
    .await
}

/// Parents are implicit: a put four levels deep makes every ancestor a directory.
pub(crate) async fn put_creates_parents(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let file = format!("{root}/b/c/d/file");
    with_cleanup(d.as_ref(), &[&root], async {
        d.put_content(&file, Bytes::from_static(b"deep"))
            .await
            .context(format_args!("put_content({file})"))?;
        let mut dir = root.clone();
        for child in ["b", "c", "d", "file"] {
            let info = d.stat(&dir).await.context(format_args!("stat({dir})"))?;
            ensure!(info.is_dir, "stat({dir}) is not a directory");
            let next = format!("{dir}/{child}");
            let children = d.list(&dir).await.context(format_args!("list({dir})"))?;
            ensure_eq!(children, vec![next.clone()], "list({dir})");
            dir = next;
        }
        Ok(())
    })
    .await
}

/// A put is an atomic replacement: readers racing with puts of two different values (of
/// different sizes) always see one whole value, through `get_content` and through `reader`.
pub(crate) async fn put_is_atomic_for_readers(
    fx: Arc<dyn Fixture>,
    options: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let (sa, sb) = (data::seed("atomic-a"), data::seed("atomic-b"));
    let (la, lb) = (1u64 << 20, (3u64 << 20) / 2);
    let (a, b) = (
        data::bytes(sa, 0, la as usize),
        data::bytes(sb, 0, lb as usize),
    );
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        d.put_content(&path, a.clone())
            .await
            .context("first put_content")?;
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..4)
            .map(|i| {
                let (d, path, done) = (d.clone(), path.clone(), done.clone());
                tokio::spawn(async move {
                    let mut reads = 0u32;
                    // Read at least a few times even if the writer finishes first.
                    while reads < 4 || !done.load(Ordering::Acquire) {
                        let got = if i % 2 == 0 {
                            d.get_content(&path).await.context("racing get_content")?
                        } else {
                            let s = d.reader(&path, 0).await.context("racing reader(0)")?;
                            match wharf_runtime::stream::collect(s).await {
                                Ok(got) => got,
                                // Under injected faults, the honest end of a read that broke
                                // while the content was replaced (an object store keeps no old
                                // version to read the rest of).
                                Err(e) if options.faults && is_replaced_while_read(&e) => {
                                    reads += 1;
                                    continue;
                                }
                                Err(e) => return Err(e).context("racing reader"),
                            }
                        };
                        let what = format!("racing read #{reads}");
                        match got.len() as u64 {
                            n if n == la => ensure_data(&got, sa, 0, la, &what)?,
                            n if n == lb => ensure_data(&got, sb, 0, lb, &what)?,
                            n => fail!(
                                "racing read #{reads} saw {n} bytes: neither value ({la} or {lb} \
                                 bytes), so a truncated or partial file was visible"
                            ),
                        }
                        reads += 1;
                    }
                    Ok::<(), CheckError>(())
                })
            })
            .collect();
        let mut outcome = Ok(());
        for i in 0..24 {
            let v = if i % 2 == 0 { b.clone() } else { a.clone() };
            if let Err(e) = d.put_content(&path, v).await.context("racing put_content") {
                outcome = Err(e);
                break;
            }
        }
        done.store(true, Ordering::Release);
        for r in readers {
            let r = r
                .await
                .map_err(|e| CheckError::new(format!("reader task panicked: {e}")))?;
            outcome = outcome.and(r);
        }
        outcome
    })
    .await
}

/// `get_content` works for big objects: 128 MiB in long mode, 16 MiB otherwise.
pub(crate) async fn get_content_large(fx: Arc<dyn Fixture>, options: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let len: u64 = if options.long { 128 << 20 } else { 16 << 20 };
    let seed = data::seed("get_content_large");
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        d.put_content(&path, data::bytes(seed, 0, len as usize))
            .await
            .context(format_args!("put_content of {len} bytes"))?;
        let got = d
            .get_content(&path)
            .await
            .context(format_args!("get_content of {len} bytes"))?;
        ensure_data(&got, seed, 0, len, "get_content")
    })
    .await
}
