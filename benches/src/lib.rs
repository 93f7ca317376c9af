//! The reference registry's 12 standard storage-driver workloads (BASELINES.md), written once
//! over `dyn StorageDriver` so every driver, native or guest, is measured the same way.
//!
//! Each function performs `iters` operations and returns the time they took, the HTTP requests
//! they sent and the CPU time they used ([`Sample`]); setup and clean-up (creating the files a delete removes,
//! removing what piled up) stay outside the measured part. Files pile up under one random
//! parent during a batch, as in the reference. The criterion benchmarks (`benches/`) and
//! `wharf bench` both run them.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use wharf::network::requests_sent;
use wharf::{Result, StorageDriver};

/// What `iters` operations of a workload cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// The time they took.
    pub took: Duration,
    /// The HTTP requests this process sent meanwhile (every attempt; 0 for drivers that speak
    /// no HTTP). Meaningful when nothing else in the process sends requests at the same time.
    pub requests: u64,
    /// The CPU time this process used meanwhile (every thread, user and system): the client's
    /// side of the cost, a guest's sandbox included, a server in another process not.
    pub cpu: Duration,
}

/// The CPU time this process has used so far.
pub fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Measures the time, requests and CPU time from its start to [`Meter::stop`].
struct Meter {
    started: Instant,
    requests: u64,
    cpu: Duration,
}

impl Meter {
    fn start() -> Self {
        Self {
            requests: requests_sent(),
            cpu: process_cpu(),
            started: Instant::now(),
        }
    }

    fn stop(self) -> Sample {
        Sample {
            took: self.started.elapsed(),
            requests: requests_sent() - self.requests,
            cpu: process_cpu().saturating_sub(self.cpu),
        }
    }

    /// Adds what happened since this meter started to `sample`.
    fn add_to(self, sample: &mut Sample) {
        let more = self.stop();
        sample.took += more.took;
        sample.requests += more.requests;
        sample.cpu += more.cpu;
    }
}

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

/// One of the reference's standard workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `put_content` then `get_content` of a file of this many bytes.
    PutGet(usize),
    /// A writer fed this many bytes, committed and closed, then a reader opened and dropped.
    Stream(usize),
    /// `list` of a directory of this many empty files.
    List(usize),
    /// Recursive `delete` of a directory of this many empty files.
    Delete(usize),
}

impl Workload {
    /// The 12 standard workloads in the reference's order: PutGet and Stream of empty, 1 KiB,
    /// 1 MiB and 1 GiB files, List and Delete of 5 and 50 files; without `large`, the ten
    /// without the 1 GiB files.
    pub fn standard(large: bool) -> Vec<Workload> {
        let mut sizes = vec![0, KIB, MIB];
        if large {
            sizes.push(GIB);
        }
        let mut all = Vec::new();
        for size in sizes {
            all.push(Workload::PutGet(size));
            all.push(Workload::Stream(size));
        }
        for files in [5, 50] {
            all.push(Workload::List(files));
            all.push(Workload::Delete(files));
        }
        all
    }

    /// The reference's group name: `PutGet`, `Stream`, `List` or `Delete`.
    pub fn group(&self) -> &'static str {
        match self {
            Workload::PutGet(_) => "PutGet",
            Workload::Stream(_) => "Stream",
            Workload::List(_) => "List",
            Workload::Delete(_) => "Delete",
        }
    }

    /// The size or count part of the reference's name: `EmptyFiles`, `1KBFiles`, `50Files`…
    pub fn label(&self) -> String {
        match *self {
            Workload::PutGet(size) | Workload::Stream(size) => match size {
                0 => "EmptyFiles".to_owned(),
                s if s >= GIB && s % GIB == 0 => format!("{}GBFiles", s / GIB),
                s if s >= MIB && s % MIB == 0 => format!("{}MBFiles", s / MIB),
                s if s >= KIB && s % KIB == 0 => format!("{}KBFiles", s / KIB),
                s => format!("{s}BFiles"),
            },
            Workload::List(files) | Workload::Delete(files) => format!("{files}Files"),
        }
    }

    /// The reference's name: `PutGet1KBFiles`, `List50Files`…
    pub fn name(&self) -> String {
        format!("{}{}", self.group(), self.label())
    }

    /// The bytes one operation carries (for MB/s): the file's size, or none for List and
    /// Delete.
    pub fn bytes(&self) -> Option<u64> {
        match *self {
            Workload::PutGet(size) | Workload::Stream(size) => Some(size as u64),
            Workload::List(_) | Workload::Delete(_) => None,
        }
    }

    /// The content the workload writes (made once, reused by every run).
    pub fn content(&self) -> Bytes {
        match *self {
            Workload::PutGet(size) | Workload::Stream(size) => content(size),
            Workload::List(_) | Workload::Delete(_) => Bytes::new(),
        }
    }

    /// Runs `iters` operations of the workload on `driver`, writing `data` (from
    /// [`Workload::content`]).
    pub async fn run(
        &self,
        driver: &dyn StorageDriver,
        data: &Bytes,
        iters: u64,
    ) -> Result<Sample> {
        match *self {
            Workload::PutGet(_) => put_get(driver, data, iters).await,
            Workload::Stream(_) => stream(driver, data, iters).await,
            Workload::List(files) => list(driver, files, iters).await,
            Workload::Delete(files) => delete(driver, files, iters).await,
        }
    }
}

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
pub async fn put_get(driver: &dyn StorageDriver, data: &Bytes, iters: u64) -> Result<Sample> {
    let parent = random_parent();
    let meter = Meter::start();
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
    let sample = meter.stop();
    cleanup(driver, &parent, iters).await?;
    Ok(sample)
}

/// Stream*Files: a writer fed `data` in chunks, commit, close; then open a reader and drop it.
pub async fn stream(driver: &dyn StorageDriver, data: &Bytes, iters: u64) -> Result<Sample> {
    let parent = random_parent();
    let meter = Meter::start();
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
    let sample = meter.stop();
    cleanup(driver, &parent, iters).await?;
    Ok(sample)
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
pub async fn list(driver: &dyn StorageDriver, files: usize, iters: u64) -> Result<Sample> {
    let parent = random_parent();
    for i in 0..files {
        driver
            .put_content(&format!("{parent}/{i}"), Bytes::new())
            .await?;
    }
    let meter = Meter::start();
    for _ in 0..iters {
        let children = driver.list(&parent).await?;
        assert_eq!(children.len(), files, "list returned a different count");
    }
    let sample = meter.stop();
    driver.delete(&parent).await?;
    Ok(sample)
}

/// Delete*Files: recursive `delete` of a parent holding `files` empty files, `iters` times
/// (creating the files is not timed).
pub async fn delete(driver: &dyn StorageDriver, files: usize, iters: u64) -> Result<Sample> {
    let mut sample = Sample::default();
    for _ in 0..iters {
        let parent = random_parent();
        for i in 0..files {
            driver
                .put_content(&format!("{parent}/{i}"), Bytes::new())
                .await?;
        }
        let meter = Meter::start();
        driver.delete(&parent).await?;
        meter.add_to(&mut sample);
    }
    Ok(sample)
}

async fn cleanup(driver: &dyn StorageDriver, parent: &str, iters: u64) -> Result<()> {
    if iters > 0 {
        driver.delete(parent).await?;
    }
    Ok(())
}
