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
use wharf::{FileWriter, Result, StorageDriver, WalkControl, WalkOptions};

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
    /// `stat` of a file.
    StatFile,
    /// `stat` of a directory (a prefix that holds files, for the object stores).
    StatDirectory,
    /// A walk of a tree of `dirs` directories of `files` empty files each.
    Walk { dirs: usize, files: usize },
    /// Recursive `delete` of a tree of `dirs` directories of `files` empty files each.
    DeleteTree { dirs: usize, files: usize },
    /// An upload of `bytes` closed and resumed (`writer(path, true)`) `resumes` times, an
    /// equal share written each time, then committed.
    ResumedUpload { bytes: usize, resumes: usize },
    /// `move` of a file of this many bytes.
    Move(usize),
    /// A writer fed this many bytes, committed and closed.
    Upload(usize),
    /// A reader of a file of this many bytes, read to its end.
    Download(usize),
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

    /// The scenarios the tables against the reference's cloud drivers count requests, CPU and
    /// memory on (docs/BENCHMARKS.md): `stat` of a file and of a directory, `list` of 1 000
    /// files, a walk of 10 000, the delete of a tree of 1 000, a 1 GiB upload resumed twice,
    /// the move of a 1 GiB file, and a 1 GiB upload and download. `small` scales them down
    /// (16 MiB files, a tenth of the files) for a first look or a test.
    pub fn scenarios(small: bool) -> Vec<Workload> {
        let (bytes, scale) = if small { (16 * MIB, 10) } else { (GIB, 1) };
        vec![
            Workload::StatFile,
            Workload::StatDirectory,
            Workload::List(1_000 / scale),
            Workload::Walk {
                dirs: 100 / scale,
                files: 100,
            },
            Workload::DeleteTree {
                dirs: 10,
                files: 100 / scale,
            },
            Workload::ResumedUpload { bytes, resumes: 2 },
            Workload::Move(bytes),
            Workload::Upload(bytes),
            Workload::Download(bytes),
        ]
    }

    /// True for the workloads whose one operation is long or needs a long setup (a large
    /// file, or a thousand files and more): one operation per sample is enough.
    pub fn is_large(&self) -> bool {
        match *self {
            Workload::PutGet(size) | Workload::Stream(size) => size >= GIB,
            Workload::List(files) | Workload::Delete(files) => files >= 1_000,
            Workload::StatFile | Workload::StatDirectory => false,
            Workload::Walk { .. }
            | Workload::DeleteTree { .. }
            | Workload::ResumedUpload { .. }
            | Workload::Move(_)
            | Workload::Upload(_)
            | Workload::Download(_) => true,
        }
    }

    /// The reference's group name: `PutGet`, `Stream`, `List` or `Delete`.
    pub fn group(&self) -> &'static str {
        match self {
            Workload::PutGet(_) => "PutGet",
            Workload::Stream(_) => "Stream",
            Workload::List(_) => "List",
            Workload::Delete(_) => "Delete",
            Workload::StatFile | Workload::StatDirectory => "Stat",
            Workload::Walk { .. } => "Walk",
            Workload::DeleteTree { .. } => "DeleteTree",
            Workload::ResumedUpload { .. } => "ResumedUpload",
            Workload::Move(_) => "Move",
            Workload::Upload(_) => "Upload",
            Workload::Download(_) => "Download",
        }
    }

    /// The size or count part of the reference's name: `EmptyFiles`, `1KBFiles`, `50Files`…
    pub fn label(&self) -> String {
        match *self {
            Workload::PutGet(size) | Workload::Stream(size) => format!("{}Files", size_name(size)),
            Workload::List(files) | Workload::Delete(files) => format!("{files}Files"),
            Workload::StatFile => "File".to_owned(),
            Workload::StatDirectory => "Directory".to_owned(),
            Workload::Walk { dirs, files } | Workload::DeleteTree { dirs, files } => {
                format!("{}Files", dirs * files)
            }
            Workload::ResumedUpload { bytes, resumes } => {
                format!("{}File{resumes}Times", size_name(bytes))
            }
            Workload::Move(size) | Workload::Upload(size) | Workload::Download(size) => {
                format!("{}File", size_name(size))
            }
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
            Workload::PutGet(size)
            | Workload::Stream(size)
            | Workload::Upload(size)
            | Workload::Download(size)
            | Workload::ResumedUpload { bytes: size, .. } => Some(size as u64),
            _ => None,
        }
    }

    /// The content the workload writes (made once, reused by every run): the whole file for
    /// PutGet and Stream, one [`STREAM_CHUNK`] written again and again for the scenarios, so
    /// that a 1 GiB upload's memory is the driver's, not the content's.
    pub fn content(&self) -> Bytes {
        match *self {
            Workload::PutGet(size) | Workload::Stream(size) => content(size),
            Workload::ResumedUpload { .. }
            | Workload::Move(_)
            | Workload::Upload(_)
            | Workload::Download(_) => content(STREAM_CHUNK),
            _ => Bytes::new(),
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
            Workload::StatFile => stat(driver, false, iters).await,
            Workload::StatDirectory => stat(driver, true, iters).await,
            Workload::Walk { dirs, files } => walk(driver, dirs, files, iters).await,
            Workload::DeleteTree { dirs, files } => delete_tree(driver, dirs, files, iters).await,
            Workload::ResumedUpload { bytes, resumes } => {
                resumed_upload(driver, data, bytes, resumes, iters).await
            }
            Workload::Move(size) => move_file(driver, data, size, iters).await,
            Workload::Upload(size) => upload(driver, data, size, iters).await,
            Workload::Download(size) => download(driver, data, size, iters).await,
        }
    }
}

/// `size` as the reference names it in a workload: `Empty`, `1KB`, `1MB`, `1GB`.
fn size_name(size: usize) -> String {
    match size {
        0 => "Empty".to_owned(),
        s if s >= GIB && s % GIB == 0 => format!("{}GB", s / GIB),
        s if s >= MIB && s % MIB == 0 => format!("{}MB", s / MIB),
        s if s >= KIB && s % KIB == 0 => format!("{}KB", s / KIB),
        s => format!("{s}B"),
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
    fill(driver, &parent, 0, files).await?;
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
        fill(driver, &parent, 0, files).await?;
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

/// Creates `dirs` directories of `files` empty files each under `parent` (`parent/d<i>/<j>`,
/// or `parent/<j>` when `dirs` is 0), 16 at a time.
async fn fill(driver: &dyn StorageDriver, parent: &str, dirs: usize, files: usize) -> Result<()> {
    let paths: Vec<String> = if dirs == 0 {
        (0..files).map(|j| format!("{parent}/{j}")).collect()
    } else {
        (0..dirs)
            .flat_map(|i| (0..files).map(move |j| format!("{parent}/d{i}/{j}")))
            .collect()
    };
    futures::stream::iter(paths)
        .map(|path| async move { driver.put_content(&path, Bytes::new()).await })
        .buffer_unordered(16)
        .collect::<Vec<Result<()>>>()
        .await
        .into_iter()
        .collect()
}

/// Writes `size` bytes to `writer`, `chunk` (one [`STREAM_CHUNK`]) again and again.
async fn write_repeated(writer: &mut dyn FileWriter, chunk: &Bytes, size: usize) -> Result<()> {
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        writer.write(chunk.slice(..n)).await?;
        left -= n;
    }
    Ok(())
}

/// A file of `size` bytes at `path`, written through a writer.
async fn write_file(
    driver: &dyn StorageDriver,
    path: &str,
    chunk: &Bytes,
    size: usize,
) -> Result<()> {
    let mut writer = driver.writer(path, false).await?;
    write_repeated(writer.as_mut(), chunk, size).await?;
    writer.commit().await?;
    writer.close().await
}

/// StatFile and StatDirectory: `stat` of a file, or of the directory holding it, `iters` times.
pub async fn stat(driver: &dyn StorageDriver, directory: bool, iters: u64) -> Result<Sample> {
    let parent = random_parent();
    driver
        .put_content(&format!("{parent}/d/f"), Bytes::new())
        .await?;
    let path = if directory {
        format!("{parent}/d")
    } else {
        format!("{parent}/d/f")
    };
    let meter = Meter::start();
    for _ in 0..iters {
        let info = driver.stat(&path).await?;
        assert_eq!(info.is_dir, directory, "stat of {path} says otherwise");
    }
    let sample = meter.stop();
    driver.delete(&parent).await?;
    Ok(sample)
}

/// Walk: a walk of a tree of `dirs` × `files` empty files, `iters` times.
pub async fn walk(
    driver: &dyn StorageDriver,
    dirs: usize,
    files: usize,
    iters: u64,
) -> Result<Sample> {
    let parent = random_parent();
    fill(driver, &parent, dirs, files).await?;
    let meter = Meter::start();
    for _ in 0..iters {
        let mut seen = 0;
        driver
            .walk(&parent, &WalkOptions::default(), &mut |info| {
                seen += usize::from(!info.is_dir);
                Ok(WalkControl::Continue)
            })
            .await?;
        assert_eq!(
            seen,
            dirs * files,
            "the walk saw a different count of files"
        );
    }
    let sample = meter.stop();
    driver.delete(&parent).await?;
    Ok(sample)
}

/// DeleteTree: recursive `delete` of a tree of `dirs` × `files` empty files, `iters` times
/// (creating the files is not measured).
pub async fn delete_tree(
    driver: &dyn StorageDriver,
    dirs: usize,
    files: usize,
    iters: u64,
) -> Result<Sample> {
    let mut sample = Sample::default();
    for _ in 0..iters {
        let parent = random_parent();
        fill(driver, &parent, dirs, files).await?;
        let meter = Meter::start();
        driver.delete(&parent).await?;
        meter.add_to(&mut sample);
    }
    Ok(sample)
}

/// ResumedUpload: an upload of `size` bytes closed after each share and resumed `resumes`
/// times with `writer(path, true)`, then committed; `iters` times.
pub async fn resumed_upload(
    driver: &dyn StorageDriver,
    chunk: &Bytes,
    size: usize,
    resumes: usize,
    iters: u64,
) -> Result<Sample> {
    let parent = random_parent();
    let meter = Meter::start();
    for i in 0..iters {
        let path = format!("{parent}/{i}");
        let share = size / (resumes + 1);
        for resume in 0..=resumes {
            let mut writer = driver.writer(&path, resume > 0).await?;
            let last = resume == resumes;
            let n = if last { size - share * resumes } else { share };
            write_repeated(writer.as_mut(), chunk, n).await?;
            if last {
                writer.commit().await?;
            }
            writer.close().await?;
            if last {
                assert_eq!(
                    writer.size(),
                    size as u64,
                    "the resumed upload's size differs"
                );
            }
        }
    }
    let sample = meter.stop();
    cleanup(driver, &parent, iters).await?;
    Ok(sample)
}

/// Move: `move` of a file of `size` bytes to a new path, `iters` times (writing the file is
/// not measured).
pub async fn move_file(
    driver: &dyn StorageDriver,
    chunk: &Bytes,
    size: usize,
    iters: u64,
) -> Result<Sample> {
    let mut sample = Sample::default();
    for _ in 0..iters {
        let parent = random_parent();
        write_file(driver, &format!("{parent}/from"), chunk, size).await?;
        let meter = Meter::start();
        driver
            .rename(&format!("{parent}/from"), &format!("{parent}/to"))
            .await?;
        meter.add_to(&mut sample);
        driver.delete(&parent).await?;
    }
    Ok(sample)
}

/// Upload: a writer fed `size` bytes, committed and closed, `iters` times.
pub async fn upload(
    driver: &dyn StorageDriver,
    chunk: &Bytes,
    size: usize,
    iters: u64,
) -> Result<Sample> {
    let parent = random_parent();
    let meter = Meter::start();
    for i in 0..iters {
        write_file(driver, &format!("{parent}/{i}"), chunk, size).await?;
    }
    let sample = meter.stop();
    cleanup(driver, &parent, iters).await?;
    Ok(sample)
}

/// Download: a reader of a file of `size` bytes read to its end, `iters` times (writing the
/// file is not measured).
pub async fn download(
    driver: &dyn StorageDriver,
    chunk: &Bytes,
    size: usize,
    iters: u64,
) -> Result<Sample> {
    let parent = random_parent();
    let path = format!("{parent}/file");
    write_file(driver, &path, chunk, size).await?;
    let meter = Meter::start();
    for _ in 0..iters {
        assert_eq!(
            read_all(driver, &path).await?,
            size as u64,
            "read a different size"
        );
    }
    let sample = meter.stop();
    driver.delete(&parent).await?;
    Ok(sample)
}
