//! CONTRACT §3 `writer` / `reader`: streamed round trips of the reference sizes, a long stream
//! checked with SHA-256, reader offsets at and around the end of a file, missing files, and the
//! writer rules that do not involve resuming (empty commit, replacement on commit, `size()`
//! never running ahead, dropping never commits).

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::data;
use crate::support::{
    CheckResult, Context, commit_and_close, ensure, ensure_bytes, ensure_data, ensure_eq,
    expect_invalid_offset, expect_not_found, first_part, random_path, read_all, verify_stream,
    with_cleanup, write_all, write_data,
};
use crate::{Fixture, RunOptions};

/// Writes `content` with a new writer (in 32 KiB pieces), commits, closes and reads it back.
async fn writer_round_trip(fx: Arc<dyn Fixture>, content: Bytes) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let len = content.len() as u64;
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        let mut w = d
            .writer(&path, false)
            .await
            .context(format_args!("writer({path}, false)"))?;
        ensure_eq!(w.size(), 0, "size() of a new writer");
        write_all(w.as_mut(), &content, 32 << 10, "writer").await?;
        commit_and_close(w.as_mut(), len, "writer").await?;
        let stream = d
            .reader(&path, 0)
            .await
            .context(format_args!("reader({path}, 0)"))?;
        let got = read_all(stream, "reading back").await?;
        ensure_bytes(&got, &content, format_args!("reader({path}, 0)"))?;
        let info = d.stat(&path).await.context(format_args!("stat({path})"))?;
        ensure_eq!(info.size, len, "stat({path}).size");
        Ok(())
    })
    .await
}

/// One byte.
pub(crate) async fn writer_1_byte(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    writer_round_trip(fx, Bytes::from_static(b"a")).await
}

/// A two-byte UTF-8 character.
pub(crate) async fn writer_2_bytes_utf8(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    writer_round_trip(fx, Bytes::from_static(b"\xc3\x9f")).await
}

/// 32 bytes.
pub(crate) async fn writer_32_bytes(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    writer_round_trip(fx, data::bytes(data::seed("writer_32_bytes"), 0, 32)).await
}

/// 1 MiB.
pub(crate) async fn writer_1_mib(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    writer_round_trip(fx, data::bytes(data::seed("writer_1_mib"), 0, 1 << 20)).await
}

/// Bytes that are not UTF-8.
pub(crate) async fn writer_non_utf8(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    writer_round_trip(fx, Bytes::from_static(&[0x80, 0x80, 0x80, 0x80])).await
}

/// A 5 GiB stream (64 MiB in short mode) written in 1 MiB pieces and read back, compared by
/// SHA-256 and byte by byte at its position.
pub(crate) async fn writer_large_stream_sha256(
    fx: Arc<dyn Fixture>,
    options: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let len: u64 = if options.long { 5 << 30 } else { 64 << 20 };
    let seed = data::seed("writer_large_stream_sha256");
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        let mut hasher = Sha256::new();
        let mut w = d
            .writer(&path, false)
            .await
            .context(format_args!("writer({path}, false)"))?;
        write_data(
            w.as_mut(),
            seed,
            0,
            len,
            1 << 20,
            Some(&mut hasher),
            "large stream",
        )
        .await?;
        commit_and_close(w.as_mut(), len, "large stream").await?;
        let written: [u8; 32] = hasher.finalize().into();
        let info = d.stat(&path).await.context(format_args!("stat({path})"))?;
        ensure_eq!(info.size, len, "stat({path}).size");
        let stream = d
            .reader(&path, 0)
            .await
            .context(format_args!("reader({path}, 0)"))?;
        let read = verify_stream(stream, seed, 0, len, true, "reading the large stream").await?;
        let read = read.unwrap_or_default();
        ensure!(
            read == written,
            "sha256 of what was read ({}) differs from what was written ({})",
            hex::encode(read),
            hex::encode(written)
        );
        Ok(())
    })
    .await
}

/// Readers of a 96-byte file at offsets 0, 32, 64 return the rest of the file; at 96 (the size)
/// a stream that ends at once; at 95 exactly one byte; at 97 and beyond `InvalidOffset` naming
/// the path and offset. (The reference's offset -1 cannot be expressed: offsets are `u64`.)
pub(crate) async fn reader_offsets(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let seed = data::seed("reader_offsets");
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        d.put_content(&path, data::bytes(seed, 0, 96))
            .await
            .context("put_content of 96 bytes")?;
        for offset in [0u64, 32, 64, 95, 96] {
            let stream = d
                .reader(&path, offset)
                .await
                .context(format_args!("reader({path}, {offset}) of a 96-byte file"))?;
            let got = read_all(stream, &format!("reading from offset {offset}")).await?;
            ensure_data(
                &got,
                seed,
                offset,
                96 - offset,
                format_args!("reader at offset {offset}"),
            )?;
        }
        for offset in [97u64, 1 << 20, u64::MAX] {
            let r = d.reader(&path, offset).await;
            expect_invalid_offset(
                r,
                d.as_ref(),
                format_args!("reader({path}, {offset}) of a 96-byte file"),
                &path,
                offset,
            )?;
        }
        Ok(())
    })
    .await
}

/// A reader of a missing file fails with `PathNotFound`, at offset 0 and beyond.
pub(crate) async fn reader_missing(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    for offset in [0u64, 64] {
        let r = d.reader(&path, offset).await;
        expect_not_found(
            r,
            d.as_ref(),
            format_args!("reader({path}, {offset}) of a missing file"),
        )?;
    }
    Ok(())
}

/// `writer(false)` immediately followed by `commit` creates a readable empty file.
pub(crate) async fn writer_commit_without_write_creates_empty_file(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        let mut w = d.writer(&path, false).await.context("writer(false)")?;
        commit_and_close(w.as_mut(), 0, "empty writer").await?;
        let info = d.stat(&path).await.context("stat of the empty file")?;
        ensure_eq!(
            (info.size, info.is_dir),
            (0, false),
            "stat({path}) (size, is_dir)"
        );
        let got = d
            .get_content(&path)
            .await
            .context("get_content of the empty file")?;
        ensure!(got.is_empty(), "the empty file has {} bytes", got.len());
        let stream = d
            .reader(&path, 0)
            .await
            .context("reader(0) of the empty file")?;
        let got = read_all(stream, "reading the empty file").await?;
        ensure!(
            got.is_empty(),
            "reader of the empty file returned {} bytes",
            got.len()
        );
        Ok(())
    })
    .await
}

/// Committing a new upload replaces committed content entirely (a shorter upload leaves no tail
/// of the old content).
pub(crate) async fn writer_commit_replaces_content(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let (old, new) = (data::seed("replaced-old"), data::seed("replaced-new"));
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        d.put_content(&path, data::bytes(old, 0, 4096))
            .await
            .context("put_content")?;
        let mut w = d
            .writer(&path, false)
            .await
            .context("writer(false) over a file")?;
        ensure_eq!(w.size(), 0, "size() of a new upload over committed content");
        write_data(w.as_mut(), new, 0, 1000, 300, None, "replacing upload").await?;
        commit_and_close(w.as_mut(), 1000, "replacing upload").await?;
        let got = d
            .get_content(&path)
            .await
            .context("get_content after the commit")?;
        ensure_data(
            &got,
            new,
            0,
            1000,
            "content after committing a replacing upload",
        )?;
        let info = d.stat(&path).await.context("stat after the commit")?;
        ensure_eq!(
            info.size,
            1000,
            "stat size after committing a replacing upload"
        );
        Ok(())
    })
    .await
}

/// `size()` may lag while writing but never runs ahead of the bytes written, and is exact after
/// `commit` and after `close`.
pub(crate) async fn writer_size_never_runs_ahead(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let seed = data::seed("writer_size");
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        let mut w = d.writer(&path, false).await.context("writer(false)")?;
        let mut written = 0u64;
        for i in 0..10u64 {
            let n = 1000 + 37 * i;
            // write_data checks size() <= bytes written after every piece.
            write_data(w.as_mut(), seed, written, n, n as usize, None, "writer").await?;
            written += n;
            ensure!(
                w.size() <= written,
                "size() is {} after writing {written} bytes",
                w.size()
            );
        }
        commit_and_close(w.as_mut(), written, "writer").await?;
        let got = d.get_content(&path).await.context("get_content")?;
        ensure_data(&got, seed, 0, written, "content")
    })
    .await
}

/// Dropping a writer without `close` never commits: committed content stays as it was.
pub(crate) async fn writer_drop_never_commits(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let (old, new) = (data::seed("drop-old"), data::seed("drop-new"));
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        d.put_content(&path, data::bytes(old, 0, 500))
            .await
            .context("put_content")?;
        let mut w = d.writer(&path, false).await.context("writer(false)")?;
        write_data(w.as_mut(), new, 0, 2000, 2000, None, "writer").await?;
        drop(w);
        let got = d
            .get_content(&path)
            .await
            .context("get_content after dropping the writer")?;
        ensure_data(
            &got,
            old,
            0,
            500,
            "content after dropping an uncommitted writer",
        )?;
        // Clear whatever the dropped writer left: a closed upload to resume, or nothing.
        if let Ok(mut w) = d.writer(&path, true).await {
            w.cancel().await.context("cancel of the resumed upload")?;
        }
        let got = d
            .get_content(&path)
            .await
            .context("get_content after cancelling")?;
        ensure_data(
            &got,
            old,
            0,
            500,
            "content after cancelling the left-over upload",
        )
    })
    .await
}
