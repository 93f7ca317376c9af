//! CONTRACT §4: one driver value shared by many tasks at once (concurrent readers at random
//! offsets, concurrent writers, a mix of every operation), a caller who breaks the one-writer
//! rule corrupting nothing else, and read-after-write across driver instances.

use std::sync::Arc;

use wharf_runtime::StorageDriver;

use crate::data;
use crate::support::{
    CheckResult, Context, commit_and_close, ensure, ensure_data, ensure_eq, expect_not_found,
    first_part, join_tasks, random_path, random_root, verify_stream, with_cleanup, write_data,
};
use crate::{Fixture, RunOptions};

/// Ten readers of one file at random offsets, all at once: a 128 MiB file in long mode (which
/// also reads it whole with `get_content`), 10 MiB otherwise.
pub(crate) async fn concurrent_readers(fx: Arc<dyn Fixture>, options: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let size: u64 = if options.long { 128 << 20 } else { 10 << 20 };
    let seed = data::seed("concurrent_readers");
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        d.put_content(&path, data::bytes(seed, 0, size as usize))
            .await
            .context(format_args!("put_content of {size} bytes"))?;
        let got = d.get_content(&path).await.context("get_content")?;
        ensure_data(&got, seed, 0, size, "get_content")?;
        drop(got);
        let tasks = (0..10)
            .map(|_| {
                let offset = rand::random_range(0..size);
                let (d, path) = (d.clone(), path.clone());
                tokio::spawn(async move {
                    let stream = d
                        .reader(&path, offset)
                        .await
                        .context(format_args!("reader({path}, {offset})"))?;
                    let what = format!("reader at offset {offset}");
                    verify_stream(stream, seed, offset, size - offset, false, &what).await?;
                    Ok(())
                })
            })
            .collect();
        join_tasks(tasks, "reader").await
    })
    .await
}

/// Writers on distinct paths, all at once, each writing, committing and reading back its own
/// data: 32 × 32 MiB in long mode, 8 × 8 MiB otherwise.
pub(crate) async fn concurrent_writers(fx: Arc<dyn Fixture>, options: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let (count, size): (u64, u64) = if options.long {
        (32, 32 << 20)
    } else {
        (8, 8 << 20)
    };
    with_cleanup(d.as_ref(), &[&root], async {
        let tasks = (0..count)
            .map(|i| {
                let d = d.clone();
                let path = format!("{root}/{}/writer-{i}", i % 3);
                let seed = data::seed("concurrent_writers") + i;
                tokio::spawn(async move {
                    let mut w = d
                        .writer(&path, false)
                        .await
                        .context(format_args!("writer({path}, false)"))?;
                    write_data(w.as_mut(), seed, 0, size, 256 << 10, None, &path).await?;
                    commit_and_close(w.as_mut(), size, &path).await?;
                    drop(w);
                    let stream = d
                        .reader(&path, 0)
                        .await
                        .context(format_args!("reader({path}, 0)"))?;
                    verify_stream(
                        stream,
                        seed,
                        0,
                        size,
                        false,
                        &format!("reading back {path}"),
                    )
                    .await?;
                    d.delete(&path)
                        .await
                        .context(format_args!("delete({path})"))
                })
            })
            .collect();
        join_tasks(tasks, "writer").await
    })
    .await
}

/// Sixteen tasks, each running every operation on its own subtree under one shared parent.
pub(crate) async fn concurrent_operations(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    with_cleanup(d.as_ref(), &[&root], async {
        let tasks = (0..16u64)
            .map(|i| {
                let d = d.clone();
                let dir = format!("{root}/task-{i:02}");
                let root = root.clone();
                tokio::spawn(async move { operations(d.as_ref(), &root, &dir, i).await })
            })
            .collect();
        join_tasks(tasks, "task").await
    })
    .await
}

async fn operations(d: &dyn StorageDriver, root: &str, dir: &str, i: u64) -> CheckResult {
    let seed = data::seed("concurrent_operations") + i;
    let (a, b, c) = (
        format!("{dir}/a"),
        format!("{dir}/b"),
        format!("{dir}/sub/c"),
    );
    d.put_content(&a, data::bytes(seed, 0, 1000))
        .await
        .context(format_args!("put_content({a})"))?;
    let mut w = d
        .writer(&b, false)
        .await
        .context(format_args!("writer({b})"))?;
    write_data(w.as_mut(), seed, 0, 3000, 1000, None, &b).await?;
    commit_and_close(w.as_mut(), 3000, &b).await?;
    drop(w);
    let info = d.stat(&b).await.context(format_args!("stat({b})"))?;
    ensure_eq!(info.size, 3000, "stat({b}).size");
    ensure_eq!(
        d.list(dir).await.context(format_args!("list({dir})"))?,
        [a.clone(), b.clone()],
        "list({dir})"
    );
    let siblings = d.list(root).await.context(format_args!("list({root})"))?;
    ensure!(
        siblings.iter().any(|s| s == dir),
        "list({root}) = {siblings:?} misses {dir}"
    );
    d.rename(&a, &c)
        .await
        .context(format_args!("move({a}, {c})"))?;
    let got = d
        .get_content(&c)
        .await
        .context(format_args!("get_content({c})"))?;
    ensure_data(&got, seed, 0, 1000, format_args!("{c} after the move"))?;
    let stream = d
        .reader(&b, 1000)
        .await
        .context(format_args!("reader({b}, 1000)"))?;
    verify_stream(
        stream,
        seed,
        1000,
        2000,
        false,
        &format!("reader({b}, 1000)"),
    )
    .await?;
    d.delete(dir).await.context(format_args!("delete({dir})"))?;
    expect_not_found(
        d.stat(&b).await,
        d,
        format_args!("stat({b}) after deleting {dir}"),
    )?;
    expect_not_found(
        d.stat(&c).await,
        d,
        format_args!("stat({c}) after deleting {dir}"),
    )
}

/// Two writers on one path at once (breaking the caller's one-writer rule) while a third writes
/// another path: the other path's content is exact, whatever happens to the contested one.
pub(crate) async fn conflicting_writers_keep_other_paths(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let (contested, other) = (format!("{root}/contested"), format!("{root}/other"));
    let (s1, s2, so) = (
        data::seed("conflict-1"),
        data::seed("conflict-2"),
        data::seed("conflict-other"),
    );
    let piece = 64u64 << 10;
    with_cleanup(d.as_ref(), &[&root], async {
        let mut w1 = d
            .writer(&contested, false)
            .await
            .context("first writer on the contested path")?;
        let mut w2 = d
            .writer(&contested, false)
            .await
            .context("second writer on the contested path")?;
        let mut wo = d
            .writer(&other, false)
            .await
            .context("writer on the other path")?;
        let mut results = Vec::new();
        for k in 0..8u64 {
            let offset = k * piece;
            // The contested writers may fail in any way; only the other path must be right.
            results.push(w1.write(data::bytes(s1, offset, piece as usize)).await);
            results.push(w2.write(data::bytes(s2, offset, piece as usize)).await);
            write_data(
                wo.as_mut(),
                so,
                offset,
                piece,
                piece as usize,
                None,
                "other writer",
            )
            .await?;
        }
        commit_and_close(wo.as_mut(), 8 * piece, "other writer").await?;
        let c1 = w1.commit().await;
        let c2 = w2.commit().await;
        for (w, committed) in [(&mut w1, c1.is_ok()), (&mut w2, c2.is_ok())] {
            if committed {
                let _ = w.close().await;
            } else {
                let _ = w.cancel().await;
            }
        }
        drop((w1, w2, results));
        let got = d
            .get_content(&other)
            .await
            .context("get_content of the other path")?;
        ensure_data(
            &got,
            so,
            0,
            8 * piece,
            "the other path after conflicting writers elsewhere",
        )?;
        // Whatever the contested path holds, it must be readable or missing, not an error.
        match d.get_content(&contested).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(crate::support::CheckError::new(format!(
                "get_content of the contested path failed with \"{e}\""
            ))),
        }
    })
    .await
}

/// After `put_content`, `commit`, `move` or `delete` returns on one instance, a second instance
/// of the same configuration sees the change at once (the suite never waits for consistency).
pub(crate) async fn read_after_write_second_instance(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d1 = fx.driver();
    let d2 = fx
        .second_instance()
        .await
        .context("opening a second driver instance")?;
    let root = random_root();
    let (put, written, moved) = (
        format!("{root}/put"),
        format!("{root}/written"),
        format!("{root}/moved/x"),
    );
    let seed = data::seed("read_after_write");
    with_cleanup(d1.as_ref(), &[&root], async {
        d1.put_content(&put, data::bytes(seed, 0, 500))
            .await
            .context("instance 1: put_content")?;
        let got = d2
            .get_content(&put)
            .await
            .context("instance 2: get_content after the put")?;
        ensure_data(&got, seed, 0, 500, "instance 2 reading instance 1's put")?;

        let mut w = d2
            .writer(&written, false)
            .await
            .context("instance 2: writer")?;
        write_data(w.as_mut(), seed, 0, 700, 700, None, "instance 2 writer").await?;
        commit_and_close(w.as_mut(), 700, "instance 2 writer").await?;
        drop(w);
        let info = d1
            .stat(&written)
            .await
            .context("instance 1: stat after the commit")?;
        ensure_eq!(
            info.size,
            700,
            "instance 1: stat size after instance 2's commit"
        );
        let got = d1
            .get_content(&written)
            .await
            .context("instance 1: get_content after the commit")?;
        ensure_data(&got, seed, 0, 700, "instance 1 reading instance 2's commit")?;

        d1.rename(&put, &moved).await.context("instance 1: move")?;
        expect_not_found(
            d2.stat(&put).await,
            d2.as_ref(),
            "instance 2: stat of the moved source",
        )?;
        let got = d2
            .get_content(&moved)
            .await
            .context("instance 2: get_content of the destination")?;
        ensure_data(&got, seed, 0, 500, "instance 2 reading instance 1's move")?;

        d2.delete(&moved).await.context("instance 2: delete")?;
        expect_not_found(
            d1.stat(&moved).await,
            d1.as_ref(),
            "instance 1: stat after instance 2's delete",
        )?;
        let listed = d1
            .list(&root)
            .await
            .context(format_args!("instance 1: list({root})"))?;
        ensure!(
            listed.contains(&written) && !listed.contains(&put),
            "instance 1: list({root}) = {listed:?} after instance 2's changes"
        );
        Ok(())
    })
    .await
}
