//! CONTRACT §3 resumable uploads: closing without commit and resuming with `append = true`
//! (also from a second driver instance), appending to empty and committed files, appending to a
//! missing path, the writer state rules, `cancel`, and upload state staying out of listings.

use std::collections::BTreeSet;
use std::sync::Arc;

use wharf_runtime::{ErrorKind, StorageDriver, WalkControl};

use crate::data;
use crate::support::{
    CheckResult, Context, commit_and_close, ensure, ensure_data, ensure_eq, expect_not_found,
    expect_writer_state, fail, first_part, random_path, random_root, read_all, walk_entries,
    with_cleanup, write_data,
};
use crate::{Fixture, RunOptions};

/// Three sessions of `chunk` bytes each: write and close, resume and close, resume and commit.
/// The data is one position-dependent stream, so a resumed writer that starts at the wrong
/// offset or loses a piece shows up.
async fn three_sessions(fx: Arc<dyn Fixture>, chunk: u64, label: &str) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let seed = data::seed(label);
    let piece = (chunk as usize).min(1 << 20);
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        let mut w = d.writer(&path, false).await.context("writer(false)")?;
        write_data(w.as_mut(), seed, 0, chunk, piece, None, "session 1").await?;
        w.close().await.context("session 1: close")?;
        ensure_eq!(w.size(), chunk, "session 1: size() after close");

        let mut w = d
            .writer(&path, true)
            .await
            .context("session 2: writer(true)")?;
        ensure_eq!(w.size(), chunk, "session 2: size() of the resumed writer");
        write_data(w.as_mut(), seed, chunk, chunk, piece, None, "session 2").await?;
        w.close().await.context("session 2: close")?;
        ensure_eq!(w.size(), 2 * chunk, "session 2: size() after close");

        let mut w = d
            .writer(&path, true)
            .await
            .context("session 3: writer(true)")?;
        ensure_eq!(
            w.size(),
            2 * chunk,
            "session 3: size() of the resumed writer"
        );
        write_data(w.as_mut(), seed, 2 * chunk, chunk, piece, None, "session 3").await?;
        commit_and_close(w.as_mut(), 3 * chunk, "session 3").await?;

        let got = d
            .get_content(&path)
            .await
            .context("get_content after three sessions")?;
        ensure_data(&got, seed, 0, 3 * chunk, "content after three sessions")
    })
    .await
}

/// Three sessions of 10 MiB.
pub(crate) async fn append_three_sessions_10_mib(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    three_sessions(fx, 10 << 20, "append_three_sessions_10_mib").await
}

/// Three sessions of 32 bytes (corner cases of drivers with minimum part sizes).
pub(crate) async fn append_three_sessions_32_bytes(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    three_sessions(fx, 32, "append_three_sessions_32_bytes").await
}

/// Appends 32 bytes to a zero-length file, resuming from size 0, and reads them back.
async fn append_to_empty(d: &dyn StorageDriver, path: &str, seed: u64) -> CheckResult {
    let stream = d
        .reader(path, 0)
        .await
        .context("reader(0) of the empty file")?;
    let got = read_all(stream, "reading the empty file").await?;
    ensure!(got.is_empty(), "the empty file has {} bytes", got.len());
    let mut w = d
        .writer(path, true)
        .await
        .context("writer(true) on a zero-length file")?;
    ensure_eq!(
        w.size(),
        0,
        "size() of a writer resuming a zero-length file"
    );
    write_data(w.as_mut(), seed, 0, 32, 32, None, "append").await?;
    commit_and_close(w.as_mut(), 32, "append").await?;
    let stream = d
        .reader(path, 0)
        .await
        .context("reader(0) after the append")?;
    let got = read_all(stream, "reading after the append").await?;
    ensure_data(
        &got,
        seed,
        0,
        32,
        "content after appending to an empty file",
    )
}

/// A zero-byte upload committed, then appended to.
pub(crate) async fn append_after_zero_byte_commit(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        let mut w = d.writer(&path, false).await.context("writer(false)")?;
        commit_and_close(w.as_mut(), 0, "zero-byte upload").await?;
        append_to_empty(
            d.as_ref(),
            &path,
            data::seed("append_after_zero_byte_commit"),
        )
        .await
    })
    .await
}

/// `put_content` of nothing, then appended to.
pub(crate) async fn append_after_empty_put(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        d.put_content(&path, bytes::Bytes::new())
            .await
            .context("put_content(empty)")?;
        append_to_empty(d.as_ref(), &path, data::seed("append_after_empty_put")).await
    })
    .await
}

/// An upload closed by one driver instance is resumed and committed by a second instance of the
/// same configuration, and both see the result: resume state lives in the backend.
pub(crate) async fn resume_from_second_instance(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let seed = data::seed("resume_from_second_instance");
    let (first, second) = ((1u64 << 20) + 3, (1u64 << 20) + 5);
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        let mut w = d
            .writer(&path, false)
            .await
            .context("instance 1: writer(false)")?;
        write_data(w.as_mut(), seed, 0, first, 1 << 16, None, "instance 1").await?;
        w.close().await.context("instance 1: close")?;
        ensure_eq!(w.size(), first, "instance 1: size() after close");
        drop(w);

        let d2 = fx
            .second_instance()
            .await
            .context("opening a second driver instance")?;
        let mut w = d2
            .writer(&path, true)
            .await
            .context("instance 2: writer(true)")?;
        ensure_eq!(w.size(), first, "instance 2: size() of the resumed writer");
        write_data(w.as_mut(), seed, first, second, 1 << 16, None, "instance 2").await?;
        commit_and_close(w.as_mut(), first + second, "instance 2").await?;

        let total = first + second;
        let got = d
            .get_content(&path)
            .await
            .context("instance 1: get_content")?;
        ensure_data(
            &got,
            seed,
            0,
            total,
            "instance 1 reading the upload instance 2 committed",
        )?;
        let got = d2
            .get_content(&path)
            .await
            .context("instance 2: get_content")?;
        ensure_data(&got, seed, 0, total, "instance 2 reading its own commit")
    })
    .await
}

/// `writer(path, true)` on a missing path fails with `PathNotFound`, at the root and next to an
/// existing file.
pub(crate) async fn append_missing_path(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let (existing, missing) = (format!("{root}/x"), format!("{root}/y"));
    with_cleanup(d.as_ref(), &[&root], async {
        let r = d.writer(&root, true).await;
        expect_not_found(
            r,
            d.as_ref(),
            format_args!("writer({root}, true) of a missing path"),
        )?;
        d.put_content(&existing, bytes::Bytes::from_static(b"x"))
            .await
            .context("put_content")?;
        let r = d.writer(&missing, true).await;
        expect_not_found(
            r,
            d.as_ref(),
            format_args!("writer({missing}, true) of a missing path"),
        )?;
        let children = d.list(&root).await.context(format_args!("list({root})"))?;
        ensure_eq!(
            children,
            vec![existing.clone()],
            "list({root}) after the failed appends"
        );
        Ok(())
    })
    .await
}

/// `writer(path, true)` on non-empty committed content either appends correctly or returns
/// `Unsupported`, never corrupting the file.
pub(crate) async fn append_to_committed_content(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let seed = data::seed("append_to_committed_content");
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        d.put_content(&path, data::bytes(seed, 0, 100))
            .await
            .context("put_content")?;
        match d.writer(&path, true).await {
            Ok(mut w) => {
                ensure_eq!(
                    w.size(),
                    100,
                    "size() of a writer appending to 100 committed bytes"
                );
                write_data(w.as_mut(), seed, 100, 50, 50, None, "append").await?;
                commit_and_close(w.as_mut(), 150, "append").await?;
                let got = d
                    .get_content(&path)
                    .await
                    .context("get_content after the append")?;
                ensure_data(
                    &got,
                    seed,
                    0,
                    150,
                    "content after appending to committed content",
                )
            }
            Err(e) if matches!(e.kind(), ErrorKind::Unsupported { .. }) => {
                let got = d
                    .get_content(&path)
                    .await
                    .context("get_content after Unsupported")?;
                ensure_data(&got, seed, 0, 100, "content after an unsupported append")
            }
            Err(e) => fail!(
                "writer(true) on committed content failed with \"{e}\"; expected success or \
                 Unsupported"
            ),
        }
    })
    .await
}

/// A new upload (`append = false`) discards an earlier uncommitted one at the same path.
pub(crate) async fn writer_new_upload_discards_uncommitted(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let (old, new) = (data::seed("discarded-upload"), data::seed("new-upload"));
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        let mut w = d
            .writer(&path, false)
            .await
            .context("first writer(false)")?;
        write_data(w.as_mut(), old, 0, 64, 64, None, "first upload").await?;
        w.close().await.context("first upload: close")?;
        let mut w = d
            .writer(&path, false)
            .await
            .context("second writer(false)")?;
        ensure_eq!(
            w.size(),
            0,
            "size() of a new upload after an uncommitted one"
        );
        write_data(w.as_mut(), new, 0, 32, 32, None, "second upload").await?;
        commit_and_close(w.as_mut(), 32, "second upload").await?;
        let got = d.get_content(&path).await.context("get_content")?;
        ensure_data(
            &got,
            new,
            0,
            32,
            "content after a new upload replaced an uncommitted one",
        )
    })
    .await
}

/// After `close`, `commit` or `cancel`, `write` fails; `commit` after `close` fails; a second
/// `close` fails; `cancel` after `commit` fails; `close` after `commit` succeeds. Each failure is
/// `WriterState` naming the state and the driver.
pub(crate) async fn writer_state_errors(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let seed = data::seed("writer_state_errors");
    let dr = d.as_ref();
    with_cleanup(dr, &[&root], async {
        // Closed.
        let path = format!("{root}/closed");
        let mut w = d.writer(&path, false).await.context("writer(false)")?;
        write_data(w.as_mut(), seed, 0, 10, 10, None, "writer").await?;
        w.close().await.context("close")?;
        let data = bytes::Bytes::from_static(b"more");
        expect_writer_state(
            w.write(data.clone()).await,
            dr,
            "write after close",
            "closed",
        )?;
        expect_writer_state(w.commit().await, dr, "commit after close", "closed")?;
        expect_writer_state(w.close().await, dr, "second close", "closed")?;
        ensure_eq!(w.size(), 10, "size() after close and refused calls");
        let mut w = d
            .writer(&path, true)
            .await
            .context("writer(true) to clear the upload")?;
        w.cancel().await.context("cancel of the resumed upload")?;

        // Committed.
        let path = format!("{root}/committed");
        let mut w = d.writer(&path, false).await.context("writer(false)")?;
        write_data(w.as_mut(), seed, 0, 10, 10, None, "writer").await?;
        w.commit().await.context("commit")?;
        expect_writer_state(
            w.write(data.clone()).await,
            dr,
            "write after commit",
            "committed",
        )?;
        expect_writer_state(w.cancel().await, dr, "cancel after commit", "committed")?;
        w.close().await.context("close after commit")?;
        expect_writer_state(
            w.write(data.clone()).await,
            dr,
            "write after commit and close",
            "closed",
        )?;
        expect_writer_state(w.close().await, dr, "second close after commit", "closed")?;
        let got = d
            .get_content(&path)
            .await
            .context("get_content of the committed file")?;
        ensure_data(
            &got,
            seed,
            0,
            10,
            "content committed before the refused calls",
        )?;

        // Cancelled.
        let path = format!("{root}/cancelled");
        let mut w = d.writer(&path, false).await.context("writer(false)")?;
        write_data(w.as_mut(), seed, 0, 10, 10, None, "writer").await?;
        w.cancel().await.context("cancel")?;
        expect_writer_state(w.write(data).await, dr, "write after cancel", "cancel")?;
        expect_not_found(d.get_content(&path).await, dr, "get_content after cancel")?;
        Ok(())
    })
    .await
}

/// `cancel` leaves the path holding what it held before the writer opened: the old committed
/// content, or nothing at all (and then nothing to resume either).
pub(crate) async fn cancel_restores_previous_content(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let (old, new) = (data::seed("cancel-old"), data::seed("cancel-new"));
    let dr = d.as_ref();
    with_cleanup(dr, &[&root], async {
        // Over committed content.
        let path = format!("{root}/existing");
        d.put_content(&path, data::bytes(old, 0, 300))
            .await
            .context("put_content")?;
        let mut w = d.writer(&path, false).await.context("writer(false)")?;
        write_data(w.as_mut(), new, 0, 1000, 250, None, "upload").await?;
        w.cancel().await.context("cancel")?;
        let got = d
            .get_content(&path)
            .await
            .context("get_content after cancel")?;
        ensure_data(
            &got,
            old,
            0,
            300,
            "content after cancelling an upload over it",
        )?;
        let info = d.stat(&path).await.context("stat after cancel")?;
        ensure_eq!(info.size, 300, "stat size after cancel");

        // A resumed upload over committed content, cancelled.
        let mut w = d.writer(&path, false).await.context("writer(false)")?;
        write_data(w.as_mut(), new, 0, 200, 200, None, "upload").await?;
        w.close().await.context("close")?;
        let mut w = d
            .writer(&path, true)
            .await
            .context("writer(true) of the closed upload")?;
        ensure_eq!(w.size(), 200, "size() of the resumed upload");
        write_data(w.as_mut(), new, 200, 100, 100, None, "resumed upload").await?;
        w.cancel().await.context("cancel of the resumed upload")?;
        let got = d
            .get_content(&path)
            .await
            .context("get_content after cancel")?;
        ensure_data(
            &got,
            old,
            0,
            300,
            "content after cancelling a resumed upload over it",
        )?;

        // At a new path.
        let path = format!("{root}/new");
        let mut w = d
            .writer(&path, false)
            .await
            .context("writer(false) at a new path")?;
        write_data(w.as_mut(), new, 0, 1000, 250, None, "upload").await?;
        w.cancel().await.context("cancel")?;
        expect_not_found(
            d.get_content(&path).await,
            dr,
            "get_content of a cancelled new file",
        )?;
        expect_not_found(d.stat(&path).await, dr, "stat of a cancelled new file")?;
        expect_not_found(
            d.writer(&path, true).await,
            dr,
            "writer(true) after the only upload was cancelled",
        )?;
        Ok(())
    })
    .await
}

/// An uncommitted upload's state stays out of listings and walks: at most the path itself (and
/// its parents) may show, and once the upload is cancelled no file remains.
pub(crate) async fn upload_state_hidden_from_listings(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let path = format!("{root}/upload");
    let seed = data::seed("upload_state_hidden");
    let dr = d.as_ref();
    with_cleanup(dr, &[&root], async {
        let mut w = d.writer(&path, false).await.context("writer(false)")?;
        write_data(w.as_mut(), seed, 0, 100, 100, None, "upload").await?;
        w.close().await.context("close")?;
        only_the_upload_shows(dr, &root, &path, "after close").await?;

        let mut w = d.writer(&path, true).await.context("writer(true)")?;
        write_data(w.as_mut(), seed, 100, 100, 100, None, "resumed upload").await?;
        w.close().await.context("close of the resumed upload")?;
        only_the_upload_shows(dr, &root, &path, "after a second close").await?;

        let mut w = d.writer(&path, true).await.context("writer(true)")?;
        ensure_eq!(w.size(), 200, "size() of the resumed upload");
        w.cancel().await.context("cancel")?;
        let (entries, result) = walk_entries(dr, "/", None, |_| Ok(WalkControl::Continue)).await;
        result.context("walk(\"/\") after cancel")?;
        let files: Vec<&str> = entries
            .iter()
            .filter(|e| !e.is_dir)
            .map(|e| e.path.as_str())
            .collect();
        ensure!(
            files.is_empty(),
            "after cancel, walk(\"/\") still finds files {files:?}"
        );
        Ok(())
    })
    .await
}

async fn only_the_upload_shows(
    d: &dyn StorageDriver,
    root: &str,
    path: &str,
    when: &str,
) -> CheckResult {
    let (entries, result) = walk_entries(d, "/", None, |_| Ok(WalkControl::Continue)).await;
    result.context(format_args!("walk(\"/\") {when}"))?;
    let allowed: BTreeSet<&str> = [root, path].into_iter().collect();
    for e in &entries {
        ensure!(
            allowed.contains(e.path.as_str()),
            "{when}, walk(\"/\") shows {} although only {path} is being uploaded: upload state \
             must stay out of listings and walks",
            e.path
        );
        ensure!(
            e.path != root || e.is_dir,
            "{when}, walk shows {root} as a file"
        );
        ensure!(
            e.path != path || !e.is_dir,
            "{when}, walk shows {path} as a directory"
        );
    }
    let children = d
        .list("/")
        .await
        .context(format_args!("list(\"/\") {when}"))?;
    for c in &children {
        ensure!(
            c == root,
            "{when}, list(\"/\") shows {c} although only {path} is being uploaded"
        );
    }
    Ok(())
}
