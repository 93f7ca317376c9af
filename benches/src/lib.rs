//! The reference registry's 12 standard storage-driver workloads (BASELINES.md), written once
//! over `dyn StorageDriver` so every driver, native or guest, is measured the same way.
//!
//! Each function performs `iters` operations and returns the time they took; setup and
//! clean-up (creating the files a delete removes, removing what piled up) stay outside the
//! timed part. Files pile up under one random parent during a batch, as in the reference.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use wharf::{Result, StorageDriver};

/// Chunk size the stream workloads copy with (the reference's io.Copy uses 32 KiB; we hand
/// larger chunks, as a registry proxying blobs does).
pub const STREAM_CHUNK: usize = 1 << 20;

/// A random parent directory for one batch.
pub fn random_parent() -> String {
    format!("/bench-{:016x}", rand::random::<u64>())
}

/// Content of `size` bytes, made once per benchmark (content does not matter to the drivers).
pub fn content(size: usize) -> Bytes {
    Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
}

/// PutGet*Files: `put_content` then `get_content` of `data`, `iters` times.
pub async fn put_get(driver: &dyn StorageDriver, data: &Bytes, iters: u64) -> Result<Duration> {
    let parent = random_parent();
    let started = Instant::now();
    for i in 0..iters {
        let path = format!("{parent}/{i}");
        driver.put_content(&path, data.clone()).await?;
        let back = driver.get_content(&path).await?;
        assert_eq!(
            back.len(),
            data.len(),
            "get_content returned a different size"
        );
    }
    let took = started.elapsed();
    cleanup(driver, &parent, iters).await?;
    Ok(took)
}

/// Stream*Files: a writer fed `data` in chunks, commit, close; then open a reader and drop it.
pub async fn stream(driver: &dyn StorageDriver, data: &Bytes, iters: u64) -> Result<Duration> {
    let parent = random_parent();
    let started = Instant::now();
    for i in 0..iters {
        let path = format!("{parent}/{i}");
        let mut writer = driver.writer(&path, false).await?;
        let mut offset = 0;
        while offset < data.len() {
            let end = (offset + STREAM_CHUNK).min(data.len());
            writer.write(data.slice(offset..end)).await?;
            offset = end;
        }
        writer.commit().await?;
        writer.close().await?;
        assert_eq!(writer.size(), data.len() as u64, "writer size differs");
        drop(driver.reader(&path, 0).await?);
    }
    let took = started.elapsed();
    cleanup(driver, &parent, iters).await?;
    Ok(took)
}

/// Reads a whole file through a reader (used by the read-throughput benchmark).
pub async fn read_all(driver: &dyn StorageDriver, path: &str) -> Result<u64> {
    let mut reader = driver.reader(path, 0).await?;
    let mut total = 0;
    while let Some(chunk) = reader.next().await {
        total += chunk?.len() as u64;
    }
    Ok(total)
}

/// List*Files: `list` of a parent holding `files` empty files, `iters` times.
pub async fn list(driver: &dyn StorageDriver, files: usize, iters: u64) -> Result<Duration> {
    let parent = random_parent();
    for i in 0..files {
        driver
            .put_content(&format!("{parent}/{i}"), Bytes::new())
            .await?;
    }
    let started = Instant::now();
    for _ in 0..iters {
        let children = driver.list(&parent).await?;
        assert_eq!(children.len(), files, "list returned a different count");
    }
    let took = started.elapsed();
    driver.delete(&parent).await?;
    Ok(took)
}

/// Delete*Files: recursive `delete` of a parent holding `files` empty files, `iters` times
/// (creating the files is not timed).
pub async fn delete(driver: &dyn StorageDriver, files: usize, iters: u64) -> Result<Duration> {
    let mut took = Duration::ZERO;
    for _ in 0..iters {
        let parent = random_parent();
        for i in 0..files {
            driver
                .put_content(&format!("{parent}/{i}"), Bytes::new())
                .await?;
        }
        let started = Instant::now();
        driver.delete(&parent).await?;
        took += started.elapsed();
    }
    Ok(took)
}

async fn cleanup(driver: &dyn StorageDriver, parent: &str, iters: u64) -> Result<()> {
    if iters > 0 {
        driver.delete(parent).await?;
    }
    Ok(())
}
