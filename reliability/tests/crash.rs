//! Crash consistency under `kill -9`: a driver's process dies at a random moment of its work,
//! and what it leaves behind is still consistent.
//!
//! For each driver — filesystem, guest-filesystem, s3 (on moto, 5 MiB parts, so multipart
//! uploads run) and rados (on the test Ceph, 1 MiB chunks) — the test runs its own binary again
//! as a child (the test [`child_process`], selected by `WHARF_CRASH_CHILD`) that works on the
//! driver in a loop: `put_content`, a writer's `commit`, `move`, `delete`, and uploads closed
//! for a later resume, with contents from empty to 12 MiB. The parent kills it with `SIGKILL`
//! 5–150 ms after it is ready. The child journals every operation before it starts and after it
//! returns (appended and synced), and every content describes itself (a header with its
//! generation, payload length and SHA-256, then a payload derived from the generation), so
//! after each kill the parent knows which contents each path may hold, and checks with a fresh
//! driver instance that:
//!
//! - every path holds a whole content, the old or the new one of the operation the kill
//!   interrupted (or nothing, where a `delete` or a `move` allows it), and an interrupted `move`
//!   leaves its content at one of its two paths at least;
//! - `list` and `walk` show exactly the files that `get_content` finds, with their sizes: no
//!   temporary file, no upload state;
//! - every upload the child closed resumes (`writer(path, true)`) at exactly the size it was
//!   closed at (or, when a later session was cut by the kill, at a size within that session),
//!   and once finished and committed holds exactly its content.
//!
//! For s3 the children reach moto through a relay, and the parent waits until moto has closed
//! every connection of the killed child before it checks: a request sent before the kill may
//! still land after it (a large `PutObject` in flight was seen landing half-way through the
//! checks), which no driver can prevent.
//!
//! The next child goes on from the state found. 100 kills per driver by default;
//! `WHARF_KILLS=1000` runs more, `WHARF_CRASH_SEED` replays a seed's choices (what each child
//! does; the moment of the kill depends on timing too), and `WHARF_CRASH_KEEP_GOING=1` reports
//! each inconsistency and goes on from what it found, failing at the end with a count by kind.
//! s3 and rados need their servers:
//!
//! ```sh
//! servers/s3-up.sh && servers/rados-up.sh
//! set -a; . target/servers/s3.env; . target/servers/rados.env; set +a
//! WHARF_KILLS=1000 cargo test --locked -p wharf-reliability --test crash -- --nocapture --include-ignored
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use wharf::{
    DriverRegistry, FileInfo, FileWriter, Params, StorageDriver, WalkControl, WalkOptions,
    WithBuiltin,
};
use wharf_driver_s3::testing as s3;

/// Set (to its working directory) in a child's environment: the child runs [`child_process`].
const CHILD_ENV: &str = "WHARF_CRASH_CHILD";
/// The test a child runs.
const CHILD_TEST: &str = "child_process";
/// What a child prints on its standard output once its driver is ready.
const READY: &str = "wharf-crash: ready";
/// Kills per driver unless `WHARF_KILLS` says otherwise.
const DEFAULT_KILLS: u64 = 100;
/// The kill comes this long after the child is ready.
const KILL_DELAY_MS: std::ops::RangeInclusive<u64> = 5..=150;
/// A child that lives this long was forgotten by its parent: it stops by itself.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);
/// Hang guard for a child's start and for one round of checks (never a performance bound).
const HANG_GUARD: Duration = Duration::from_secs(300);
/// Directories of the child's tree, each holding files `f0`..`f4`.
const DIRS: [&str; 3] = ["/d0", "/d1", "/d2"];
/// Files per directory of the child's tree.
const FILES_PER_DIR: usize = 5;
/// Where uploads go, each to a path of its own.
const UPLOADS: &str = "/up";

// ---------------------------------------------------------------------------------------------
// Self-describing contents.

/// One content: its generation (unique within a test) and its payload length. A length of 0 is
/// an empty file, without a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Spec {
    generation: u64,
    len: u64,
}

/// `wharf-crash <generation> <payload length> <sha-256 of the payload>\n`, fixed width.
const HEADER_LEN: u64 = 12 + 16 + 1 + 16 + 1 + 64 + 1;
const MAGIC: &[u8] = b"wharf-crash ";

impl Spec {
    /// The bytes of the content.
    fn bytes(self) -> Bytes {
        if self.len == 0 {
            return Bytes::new();
        }
        let payload = payload(self.generation, self.len);
        let header = format!(
            "wharf-crash {:016x} {:016x} {}\n",
            self.generation,
            self.len,
            hex::encode(Sha256::digest(&payload))
        );
        assert_eq!(header.len() as u64, HEADER_LEN, "the header's width");
        let mut out = Vec::with_capacity((HEADER_LEN + self.len) as usize);
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&payload);
        out.into()
    }

    /// The length of [`Spec::bytes`].
    fn size(self) -> u64 {
        if self.len == 0 {
            0
        } else {
            HEADER_LEN + self.len
        }
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "generation {:x} ({} bytes)",
            self.generation,
            self.size()
        )
    }
}

/// The payload of `generation`: each 8-byte word derived from the generation and its index, so
/// a shifted, repeated or foreign range shows.
fn payload(generation: u64, len: u64) -> Vec<u8> {
    let key = generation.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len as usize + 8);
    let mut i = 0u64;
    while (out.len() as u64) < len {
        out.extend_from_slice(&mix(key ^ i).to_le_bytes());
        i += 1;
    }
    out.truncate(len as usize);
    out
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a path was found to hold.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Missing,
    Empty,
    Whole(Spec),
    /// Not a whole content: what is wrong with it.
    Damaged(String),
}

impl Seen {
    fn of(bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            return Self::Empty;
        }
        let start = || {
            let n = bytes.len().min(24);
            format!("{:?}", String::from_utf8_lossy(&bytes[..n]))
        };
        if bytes.len() < HEADER_LEN as usize || !bytes.starts_with(MAGIC) {
            return Self::Damaged(format!(
                "{} bytes without a header: {}…",
                bytes.len(),
                start()
            ));
        }
        let header = String::from_utf8_lossy(&bytes[..HEADER_LEN as usize]);
        let mut fields = header.trim_end().split(' ').skip(1);
        let (Some(generation), Some(len), Some(sha)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Self::Damaged(format!("a broken header: {header:?}"));
        };
        let (Ok(generation), Ok(len)) = (
            u64::from_str_radix(generation, 16),
            u64::from_str_radix(len, 16),
        ) else {
            return Self::Damaged(format!("a broken header: {header:?}"));
        };
        let spec = Spec { generation, len };
        let body = &bytes[HEADER_LEN as usize..];
        if body.len() as u64 != len {
            return Self::Damaged(format!(
                "torn: {spec} has {} of its {len} payload bytes",
                body.len()
            ));
        }
        if hex::encode(Sha256::digest(body)) != sha {
            return Self::Damaged(format!(
                "{spec} with the right length, but its payload does not match its SHA-256"
            ));
        }
        if body != payload(generation, len) {
            return Self::Damaged(format!("{spec} holds another generation's payload"));
        }
        Self::Whole(spec)
    }

    fn size(&self) -> Option<u64> {
        match self {
            Self::Empty => Some(0),
            Self::Whole(spec) => Some(spec.size()),
            Self::Missing | Self::Damaged(_) => None,
        }
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("nothing (path not found)"),
            Self::Empty => f.write_str("an empty file"),
            Self::Whole(spec) => write!(f, "{spec}"),
            Self::Damaged(what) => write!(f, "a damaged content: {what}"),
        }
    }
}

fn describe(state: Option<Spec>) -> String {
    match state {
        None => "nothing".into(),
        Some(spec) if spec.len == 0 => format!("an empty file (generation {:x})", spec.generation),
        Some(spec) => spec.to_string(),
    }
}

/// The files of the child's tree.
fn tree_paths() -> Vec<String> {
    DIRS.iter()
        .flat_map(|d| (0..FILES_PER_DIR).map(move |f| format!("{d}/f{f}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The journal.

/// One operation of the child, as journaled before it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Put {
        path: String,
        spec: Spec,
    },
    /// `writer(path, false)`, the whole content in chunks, `commit`.
    Write {
        path: String,
        spec: Spec,
    },
    Move {
        from: String,
        to: String,
    },
    Delete {
        path: String,
    },
    /// `writer(path, false)`, the first `to` bytes of the content, `close`.
    UploadStart {
        path: String,
        spec: Spec,
        to: u64,
    },
    /// `writer(path, true)` at `from`, the bytes up to `to`, `close`.
    UploadMore {
        path: String,
        spec: Spec,
        from: u64,
        to: u64,
    },
}

impl Op {
    fn kind(&self) -> &'static str {
        match self {
            Self::Put { .. } => "put",
            Self::Write { .. } => "write",
            Self::Move { .. } => "move",
            Self::Delete { .. } => "delete",
            Self::UploadStart { .. } => "upload-start",
            Self::UploadMore { .. } => "upload-more",
        }
    }

    fn line(&self) -> String {
        let kind = self.kind();
        match self {
            Self::Put { path, spec } | Self::Write { path, spec } => {
                format!("begin {kind} {path} {} {}", spec.generation, spec.len)
            }
            Self::Move { from, to } => format!("begin {kind} {from} {to}"),
            Self::Delete { path } => format!("begin {kind} {path}"),
            Self::UploadStart { path, spec, to } => {
                format!("begin {kind} {path} {} {} {to}", spec.generation, spec.len)
            }
            Self::UploadMore {
                path,
                spec,
                from,
                to,
            } => format!(
                "begin {kind} {path} {} {} {from} {to}",
                spec.generation, spec.len
            ),
        }
    }

    fn parse(words: &[&str]) -> Option<Self> {
        let num = |i: usize| words.get(i)?.parse::<u64>().ok();
        let text = |i: usize| words.get(i).map(|w| (*w).to_owned());
        let spec = |i: usize| {
            Some(Spec {
                generation: num(i)?,
                len: num(i + 1)?,
            })
        };
        let op = match *words.first()? {
            "put" => Self::Put {
                path: text(1)?,
                spec: spec(2)?,
            },
            "write" => Self::Write {
                path: text(1)?,
                spec: spec(2)?,
            },
            "move" => Self::Move {
                from: text(1)?,
                to: text(2)?,
            },
            "delete" => Self::Delete { path: text(1)? },
            "upload-start" => Self::UploadStart {
                path: text(1)?,
                spec: spec(2)?,
                to: num(4)?,
            },
            "upload-more" => Self::UploadMore {
                path: text(1)?,
                spec: spec(2)?,
                from: num(4)?,
                to: num(5)?,
            },
            _ => return None,
        };
        Some(op)
    }

    /// What the operation does to the tree once it has returned.
    fn apply(&self, files: &mut BTreeMap<String, Spec>) {
        match self {
            Self::Put { path, spec } | Self::Write { path, spec } => {
                files.insert(path.clone(), *spec);
            }
            Self::Move { from, to } => {
                if let Some(spec) = files.remove(from) {
                    files.insert(to.clone(), spec);
                }
            }
            Self::Delete { path } => {
                let under = format!("{path}/");
                files.retain(|p, _| p != path && !p.starts_with(&under));
            }
            Self::UploadStart { .. } | Self::UploadMore { .. } => {}
        }
    }
}

/// The child's journal: one line per event, each appended and synced before the child goes on.
struct Journal {
    file: File,
}

impl Journal {
    fn create(path: &Path) -> Result<Self, String> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|file| Self { file })
            .map_err(|e| format!("open the journal {}: {e}", path.display()))
    }

    fn append(&mut self, line: &str) -> Result<(), String> {
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| format!("journal {line:?}: {e}"))
    }
}

/// What the parent hands a child: the driver, its parameters, the run, and the tree as found.
struct Plan {
    driver: String,
    run: u64,
    seed: u64,
    params: Vec<(String, String)>,
    files: BTreeMap<String, Spec>,
}

impl Plan {
    fn write(&self, path: &Path) {
        let mut text = format!(
            "driver {}\nrun {}\nseed {}\n",
            self.driver, self.run, self.seed
        );
        for (k, v) in &self.params {
            text.push_str(&format!("param {k} {v}\n"));
        }
        for (p, spec) in &self.files {
            text.push_str(&format!("file {p} {} {}\n", spec.generation, spec.len));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("read the plan {}: {e}", path.display()))?;
        let mut plan = Self {
            driver: String::new(),
            run: 0,
            seed: 0,
            params: Vec::new(),
            files: BTreeMap::new(),
        };
        for line in text.lines() {
            let bad = || format!("a bad plan line: {line:?}");
            let (key, rest) = line.split_once(' ').ok_or_else(bad)?;
            match key {
                "driver" => plan.driver = rest.to_owned(),
                "run" => plan.run = rest.parse().map_err(|_| bad())?,
                "seed" => plan.seed = rest.parse().map_err(|_| bad())?,
                "param" => {
                    let (k, v) = rest.split_once(' ').ok_or_else(bad)?;
                    plan.params.push((k.to_owned(), v.to_owned()));
                }
                "file" => {
                    let words: Vec<&str> = rest.split(' ').collect();
                    let [p, generation, len] = words[..] else {
                        return Err(bad());
                    };
                    let spec = Spec {
                        generation: generation.parse().map_err(|_| bad())?,
                        len: len.parse().map_err(|_| bad())?,
                    };
                    plan.files.insert(p.to_owned(), spec);
                }
                _ => return Err(bad()),
            }
        }
        Ok(plan)
    }
}

fn params(pairs: &[(String, String)]) -> Params {
    Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

// ---------------------------------------------------------------------------------------------
// The child.

/// The child's work: runs only in a child (`WHARF_CRASH_CHILD` set), and passes at once
/// otherwise. It never returns on its own but for a driver error (exit status 3, the error on
/// stderr) or when its parent forgot it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    if let Err(e) = child(Path::new(&dir)).await {
        eprintln!("wharf-crash child: {e}");
        std::process::exit(3);
    }
    std::process::exit(0);
}

async fn child(dir: &Path) -> Result<(), String> {
    let plan = Plan::read(&dir.join("plan"))?;
    let driver = DriverRegistry::with_builtin()
        .create(&plan.driver, params(&plan.params))
        .await
        .map_err(|e| format!("create {}: {e}", plan.driver))?;
    let mut journal = Journal::create(&dir.join("journal"))?;
    let mut rng = StdRng::seed_from_u64(mix(plan.seed ^ mix(plan.run)));
    let mut files = plan.files;
    // Uploads of this child closed before their end: path, content, bytes closed.
    let mut open_uploads: Vec<(String, Spec, u64)> = Vec::new();
    let mut count = 0u64;
    let paths = tree_paths();
    println!("{READY}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let started = Instant::now();
    while started.elapsed() < CHILD_LIFETIME {
        count += 1;
        let generation = (plan.run << 32) | count;
        let op = choose(&mut rng, &paths, &files, &open_uploads, generation);
        journal.append(&op.line())?;
        perform(&*driver, &op, &mut rng, &mut journal)
            .await
            .map_err(|e| format!("{}: {e}", op.line()))?;
        journal.append("done")?;
        op.apply(&mut files);
        match &op {
            Op::UploadStart { path, spec, to } if *to < spec.size() => {
                open_uploads.push((path.clone(), *spec, *to))
            }
            Op::UploadMore { path, to, .. } => {
                let i = open_uploads.iter().position(|u| &u.0 == path);
                if let Some(i) = i {
                    if *to < open_uploads[i].1.size() {
                        open_uploads[i].2 = *to;
                    } else {
                        open_uploads.remove(i);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A payload length: empty, small, medium, or several MiB (so that a kill lands in the middle
/// of a writer, and s3 uploads parts).
fn random_len(rng: &mut StdRng) -> u64 {
    match rng.random_range(0..100) {
        0..10 => 0,
        10..45 => rng.random_range(1..=4096),
        45..80 => rng.random_range(4097..=256 << 10),
        _ => rng.random_range(1 << 20..=12 << 20),
    }
}

fn choose(
    rng: &mut StdRng,
    paths: &[String],
    files: &BTreeMap<String, Spec>,
    open_uploads: &[(String, Spec, u64)],
    generation: u64,
) -> Op {
    let any_path = |rng: &mut StdRng| paths[rng.random_range(0..paths.len())].clone();
    let existing = |rng: &mut StdRng| {
        files
            .keys()
            .nth(rng.random_range(0..files.len().max(1)))
            .cloned()
    };
    let spec = |rng: &mut StdRng| Spec {
        generation,
        len: random_len(rng),
    };
    let roll = rng.random_range(0..100);
    if (55..70).contains(&roll)
        && let Some(from) = existing(rng)
    {
        let mut to = any_path(rng);
        while to == from {
            to = any_path(rng);
        }
        return Op::Move { from, to };
    }
    if (70..80).contains(&roll)
        && let Some(file) = existing(rng)
    {
        let path = if rng.random_bool(0.25) {
            file.rsplit_once('/')
                .map_or(file.clone(), |(d, _)| d.to_owned())
        } else {
            file
        };
        return Op::Delete { path };
    }
    if (80..90).contains(&roll) {
        let spec = spec(rng);
        let to = rng.random_range(0..=spec.size());
        let path = format!("{UPLOADS}/u{generation:x}");
        return Op::UploadStart { path, spec, to };
    }
    if (90..100).contains(&roll) && !open_uploads.is_empty() {
        let (path, spec, from) = open_uploads[rng.random_range(0..open_uploads.len())].clone();
        let to = rng.random_range(from + 1..=spec.size());
        return Op::UploadMore {
            path,
            spec,
            from,
            to,
        };
    }
    let path = any_path(rng);
    if !(30..80).contains(&roll) {
        Op::Put {
            path,
            spec: spec(rng),
        }
    } else {
        Op::Write {
            path,
            spec: spec(rng),
        }
    }
}

/// Writes `content[from..to]` in chunks of random sizes up to 4 KiB, 64 KiB or 1 MiB.
async fn write_range(
    writer: &mut Box<dyn FileWriter>,
    content: &Bytes,
    from: u64,
    to: u64,
    rng: &mut StdRng,
) -> wharf::Result<()> {
    let largest = [4 << 10, 64 << 10, 1 << 20][rng.random_range(0..3)];
    let (mut at, to) = (from as usize, to as usize);
    while at < to {
        let n = rng.random_range(1..=largest).min(to - at);
        writer.write(content.slice(at..at + n)).await?;
        at += n;
    }
    Ok(())
}

async fn perform(
    driver: &dyn StorageDriver,
    op: &Op,
    rng: &mut StdRng,
    journal: &mut Journal,
) -> Result<(), String> {
    let e = |e: wharf::Error| e.to_string();
    match op {
        Op::Put { path, spec } => driver.put_content(path, spec.bytes()).await.map_err(e)?,
        Op::Write { path, spec } => {
            let mut writer = driver.writer(path, false).await.map_err(e)?;
            write_range(&mut writer, &spec.bytes(), 0, spec.size(), rng)
                .await
                .map_err(e)?;
            writer.commit().await.map_err(e)?;
            writer.close().await.map_err(e)?;
        }
        Op::Move { from, to } => driver.rename(from, to).await.map_err(e)?,
        Op::Delete { path } => driver.delete(path).await.map_err(e)?,
        Op::UploadStart { path, spec, to } => {
            let mut writer = driver.writer(path, false).await.map_err(e)?;
            write_range(&mut writer, &spec.bytes(), 0, *to, rng)
                .await
                .map_err(e)?;
            writer.close().await.map_err(e)?;
            if writer.size() != *to {
                return Err(format!("closed at size {}, wrote {to}", writer.size()));
            }
            journal.append(&format!("closed {path} {to}"))?;
        }
        Op::UploadMore {
            path,
            spec,
            from,
            to,
        } => {
            let mut writer = driver.writer(path, true).await.map_err(e)?;
            if writer.size() != *from {
                return Err(format!(
                    "resumed at size {}, the upload was closed at {from}",
                    writer.size()
                ));
            }
            write_range(&mut writer, &spec.bytes(), *from, *to, rng)
                .await
                .map_err(e)?;
            writer.close().await.map_err(e)?;
            if writer.size() != *to {
                return Err(format!(
                    "closed at size {}, wrote up to {to}",
                    writer.size()
                ));
            }
            journal.append(&format!("closed {path} {to}"))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The parent: what the journal allows.

/// An upload the killed child began.
#[derive(Debug, Clone)]
struct Upload {
    spec: Spec,
    /// The size of its last `close`, if one returned.
    closed: Option<u64>,
    /// The end of a session begun after that and cut by the kill.
    cut_at: Option<u64>,
}

/// The journal of one child, replayed on the tree it started from.
struct Replay {
    /// The tree after every operation that returned.
    files: BTreeMap<String, Spec>,
    /// The operation the kill interrupted, if it had begun.
    pending: Option<Op>,
    uploads: BTreeMap<String, Upload>,
    completed: u64,
    lines: Vec<String>,
}

impl Replay {
    fn new(journal: &str, mut files: BTreeMap<String, Spec>) -> Self {
        let mut lines: Vec<String> = journal.split('\n').map(str::to_owned).collect();
        // The last line is whole only if it ends in a newline (then the split leaves "").
        lines.pop();
        let mut pending: Option<Op> = None;
        let mut uploads: BTreeMap<String, Upload> = BTreeMap::new();
        let mut completed = 0;
        for line in &lines {
            let words: Vec<&str> = line.split(' ').collect();
            match words[0] {
                "begin" => {
                    let op = Op::parse(&words[1..])
                        .unwrap_or_else(|| panic!("a bad journal line: {line:?}"));
                    match &op {
                        Op::UploadStart { path, spec, to } => {
                            uploads.insert(
                                path.clone(),
                                Upload {
                                    spec: *spec,
                                    closed: None,
                                    cut_at: Some(*to),
                                },
                            );
                        }
                        Op::UploadMore { path, to, .. } => {
                            let upload = uploads.get_mut(path).unwrap_or_else(|| {
                                panic!("the journal resumes an unknown upload: {line:?}")
                            });
                            upload.cut_at = Some(*to);
                        }
                        _ => {}
                    }
                    pending = Some(op);
                }
                "closed" => {
                    let (Some(path), Some(Ok(size))) =
                        (words.get(1), words.get(2).map(|w| w.parse::<u64>()))
                    else {
                        panic!("a bad journal line: {line:?}");
                    };
                    let upload = uploads.get_mut(*path).unwrap_or_else(|| {
                        panic!("the journal closes an unknown upload: {line:?}")
                    });
                    upload.closed = Some(size);
                    upload.cut_at = None;
                }
                "done" => {
                    let op = pending
                        .take()
                        .unwrap_or_else(|| panic!("the journal ends an operation never begun"));
                    op.apply(&mut files);
                    completed += 1;
                }
                _ => panic!("a bad journal line: {line:?}"),
            }
        }
        Self {
            files,
            pending,
            uploads,
            completed,
            lines,
        }
    }

    /// The states each path of the tree may be found in.
    fn allowed(&self) -> BTreeMap<String, BTreeSet<Option<Spec>>> {
        let mut allowed: BTreeMap<String, BTreeSet<Option<Spec>>> = tree_paths()
            .into_iter()
            .map(|p| {
                let now = self.files.get(&p).copied();
                (p, BTreeSet::from([now]))
            })
            .collect();
        let mut allow = |path: &str, state: Option<Spec>| {
            allowed
                .get_mut(path)
                .unwrap_or_else(|| panic!("the journal names {path}, outside the tree"))
                .insert(state);
        };
        match &self.pending {
            Some(Op::Put { path, spec } | Op::Write { path, spec }) => allow(path, Some(*spec)),
            Some(Op::Move { from, to }) => {
                allow(from, None);
                allow(to, self.files.get(from).copied());
            }
            Some(Op::Delete { path }) => {
                let under = format!("{path}/");
                for p in self.files.keys() {
                    if p == path || p.starts_with(&under) {
                        allow(p, None);
                    }
                }
            }
            Some(Op::UploadStart { .. } | Op::UploadMore { .. }) | None => {}
        }
        allowed
    }

    /// The journal's last lines, for a report.
    fn tail(&self, n: usize) -> String {
        let skip = self.lines.len().saturating_sub(n);
        let mut out = String::new();
        if skip > 0 {
            out.push_str(&format!("    … {skip} earlier lines\n"));
        }
        for line in &self.lines[skip..] {
            out.push_str(&format!("    {line}\n"));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The parent: the drivers.

/// A driver under test: its name, factory parameters, and what it needs kept or cleaned.
struct Target {
    driver: &'static str,
    params: Vec<(String, String)>,
    /// A relay between the children and their server (see [`Relay`]), and the children's
    /// parameters, which name it.
    relay: Option<(Relay, Vec<(String, String)>)>,
    /// The host directory of a filesystem driver (kept until the end).
    dir: Option<tempfile::TempDir>,
    /// The RADOS namespace, to count and remove what crashes left in it.
    rados: Option<(String, String, String)>,
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn filesystem_target(driver: &'static str) -> Target {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().to_string_lossy().into_owned();
    Target {
        driver,
        params: pairs(&[("rootdirectory", &root)]),
        relay: None,
        dir: Some(dir),
        rados: None,
    }
}

async fn s3_target() -> Target {
    let endpoint = s3::moto_endpoint();
    let bucket = s3::unique_bucket("crash");
    s3::create_bucket(&endpoint, &bucket, s3::MOTO_KEY, s3::MOTO_KEY).await;
    let server = endpoint
        .strip_prefix("http://")
        .and_then(|a| a.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("moto's endpoint {endpoint:?} is not http://<ip>:<port>"));
    let relay = Relay::start(server).await;
    let params = |endpoint: &str| {
        pairs(&[
            ("bucket", &bucket),
            ("regionendpoint", endpoint),
            ("region", "us-east-1"),
            ("forcepathstyle", "true"),
            ("accesskey", s3::MOTO_KEY),
            ("secretkey", s3::MOTO_KEY),
            ("rootdirectory", "/crash"),
            ("chunksize", "5MiB"),
        ])
    };
    let children = params(&format!("http://{}", relay.addr));
    Target {
        driver: "s3",
        params: params(&endpoint),
        relay: Some((relay, children)),
        dir: None,
        rados: None,
    }
}

fn rados_target() -> Target {
    let var = |name: &str| match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: the rados crash test needs the test Ceph cluster. Start it with \
             `servers/rados-up.sh`, then `. target/servers/rados.env` and run the test again"
        ),
    };
    let (conffile, pool) = (var("WHARF_RADOS_CONFFILE"), var("WHARF_RADOS_POOL"));
    let namespace = format!("crash-{}-{:08x}", std::process::id(), rand::random::<u32>());
    Target {
        driver: "rados",
        params: pairs(&[
            ("poolname", &pool),
            ("conffile", &conffile),
            ("namespace", &namespace),
            ("chunksize", "1MiB"),
        ]),
        relay: None,
        dir: None,
        rados: Some((conffile, pool, namespace)),
    }
}

/// A TCP relay between the children and a server that knows when every connection through it
/// is finished. A request a child sent before its kill may still be running on the server, and
/// land after the checks began: the parent waits until the server has closed every connection
/// of the dead child, each after answering (or dropping) the request it was given.
struct Relay {
    addr: SocketAddr,
    live: Arc<AtomicUsize>,
    done: Arc<Notify>,
}

impl Relay {
    async fn start(server: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the relay");
        let addr = listener.local_addr().expect("the relay's address");
        let (live, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
        tokio::spawn({
            let (live, done) = (live.clone(), done.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    live.fetch_add(1, Ordering::SeqCst);
                    let (live, done) = (live.clone(), done.clone());
                    tokio::spawn(async move {
                        if let Ok(server) = TcpStream::connect(server).await {
                            relay(client, server).await;
                        }
                        live.fetch_sub(1, Ordering::SeqCst);
                        done.notify_waiters();
                    });
                }
            }
        });
        Self { addr, live, done }
    }

    /// Returns once no connection is open through the relay.
    async fn quiet(&self) {
        loop {
            let done = self.done.notified();
            if self.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            done.await;
        }
    }
}

/// Copies both ways until the server has closed its side: when the client is gone, the
/// server's writes are read and dropped, so the connection ends when the server is done.
async fn relay(client: TcpStream, server: TcpStream) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0; 64 << 10];
        let mut client_gone = false;
        loop {
            match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) if !client_gone => {
                    client_gone = client_write.write_all(&buf[..n]).await.is_err();
                }
                Ok(_) => {}
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

/// Runs `fut`, failing the test if it takes longer than [`HANG_GUARD`].
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(HANG_GUARD, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what} hung: nothing within {HANG_GUARD:?}"),
    }
}

/// A child process, killed if the test leaves early.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where each kill landed, and what the checks did.
#[derive(Default)]
struct Tally {
    landed: BTreeMap<&'static str, u64>,
    large_writes_cut: u64,
    completed: u64,
    resumed: u64,
    resumed_after_cut: u64,
    uploads_cut_unclosed: u64,
    checked_paths: u64,
    /// The longest wait for a server to finish with a killed child.
    server_wait: Duration,
}

/// The whole test for one driver: `kills` children, each killed, each followed by the checks.
async fn crash_test(target: Target) {
    let started = Instant::now();
    let seed = env_u64("WHARF_CRASH_SEED").unwrap_or_else(rand::random);
    let kills = env_u64("WHARF_KILLS").unwrap_or(DEFAULT_KILLS);
    let name = target.driver;
    println!(
        "crash[{name}]: seed {seed} (WHARF_CRASH_SEED={seed} replays its choices), {kills} kills"
    );
    let registry = DriverRegistry::with_builtin();
    let create = async || {
        registry
            .create(name, params(&target.params))
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"))
    };
    // A first instance in this process: a guest's compiled form is cached before any child
    // needs it.
    let driver = create().await;
    driver
        .put_content(
            "/d0/f0",
            Spec {
                generation: 0,
                len: 0,
            }
            .bytes(),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: put /d0/f0: {e}"));
    let mut files = BTreeMap::from([(
        "/d0/f0".to_owned(),
        Spec {
            generation: 0,
            len: 0,
        },
    )]);
    drop(driver);

    let work = tempfile::tempdir().expect("a temporary directory");
    let name_key = name.bytes().fold(0, |h, b| mix(h ^ u64::from(b)));
    let mut rng = StdRng::seed_from_u64(mix(seed ^ name_key));
    let mut tally = Tally::default();
    // With WHARF_CRASH_KEEP_GOING=1, an inconsistency is reported and the run goes on from what
    // was found, to count how often each kind shows; the test fails at the end.
    let keep_going = std::env::var_os("WHARF_CRASH_KEEP_GOING").is_some();
    let mut inconsistent = 0u64;
    let mut classes: BTreeMap<&'static str, u64> = BTreeMap::new();
    let exe = std::env::current_exe().expect("the test binary's path");
    for run in 1..=kills {
        let plan = Plan {
            driver: name.to_owned(),
            run,
            seed,
            params: target
                .relay
                .as_ref()
                .map_or(&target.params, |(_, params)| params)
                .clone(),
            files: files.clone(),
        };
        plan.write(&work.path().join("plan"));
        let journal_path = work.path().join("journal");
        let _ = std::fs::remove_file(&journal_path);
        let stderr_path = work.path().join("stderr");
        let stderr = File::create(&stderr_path).expect("create the child's stderr file");
        let mut child = ChildGuard(
            Command::new(&exe)
                .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, work.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(stderr)
                .spawn()
                .expect("start a child"),
        );
        let stdout = child.0.stdout.take().expect("the child's stdout");
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut ready = Some(ready_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.ends_with(READY)
                    && let Some(tx) = ready.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        let child_error = |what: &str| {
            let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            format!("{what}; its stderr:\n{text}")
        };
        if bounded("a child's start", ready_rx).await.is_err() {
            let status = child.0.wait().expect("wait for the child");
            panic!(
                "{name}: run {run} (seed {seed}): {}",
                child_error(&format!("the child ended ({status}) before it was ready"))
            );
        }
        let delay = rng.random_range(KILL_DELAY_MS);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if let Some(status) = child.0.try_wait().expect("look at the child") {
            let journal = std::fs::read_to_string(&journal_path).unwrap_or_default();
            let replay = Replay::new(&journal, files.clone());
            panic!(
                "{name}: run {run} (seed {seed}): {}\njournal:\n{}",
                child_error(&format!("the child ended ({status}) before the kill")),
                replay.tail(12)
            );
        }
        child.0.kill().expect("kill the child");
        let status = child.0.wait().expect("wait for the child");
        assert_eq!(status.signal(), Some(9), "{name}: the child ended {status}");
        if let Some((relay, _)) = &target.relay {
            let waited = Instant::now();
            bounded("the server's last answers to a killed child", relay.quiet()).await;
            tally.server_wait = tally.server_wait.max(waited.elapsed());
        }

        let journal = std::fs::read_to_string(&journal_path).expect("read the journal");
        let replay = Replay::new(&journal, files.clone());
        *tally
            .landed
            .entry(
                replay
                    .pending
                    .as_ref()
                    .map_or("between operations", Op::kind),
            )
            .or_default() += 1;
        if let Some(Op::Write { spec, .. }) = &replay.pending
            && spec.len >= 1 << 20
        {
            tally.large_writes_cut += 1;
        }
        tally.completed += replay.completed;

        let driver = create().await;
        let (found, problems) = bounded(
            "the checks after a kill",
            check(&*driver, &replay, &mut tally),
        )
        .await;
        if !problems.is_empty() {
            let report = format!(
                "{name}: inconsistent after kill {run} ({delay} ms after ready; seed {seed}):\n\
                 {}\n\
                 the tree before this child: {}\n\
                 the journal (begin = about to call, done = returned):\n{}\
                 reproduce: WHARF_CRASH_SEED={seed} cargo test -p wharf-reliability --test crash \
                 -- --nocapture (and the servers' environment)",
                problems
                    .iter()
                    .map(|p| format!("  - {}", p.text))
                    .collect::<Vec<_>>()
                    .join("\n"),
                show_tree(&files),
                replay.tail(16)
            );
            assert!(keep_going, "{report}");
            println!("{report}\n");
            inconsistent += 1;
            for p in &problems {
                *classes.entry(p.class).or_default() += 1;
            }
        }
        files = found;
    }

    let hidden = hidden_files(&target);
    let driver = create().await;
    for dir in DIRS.iter().chain([&UPLOADS]) {
        match driver.delete(dir).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => panic!("{name}: delete {dir}: {e}"),
        }
    }
    let left = driver
        .list("/")
        .await
        .unwrap_or_else(|e| panic!("{name}: list /: {e}"));
    assert!(
        left.is_empty(),
        "{name}: the tree is not empty after deleting it: {left:?}"
    );
    let leftovers = hidden.unwrap_or_else(|| rados_leftovers(&target));
    println!(
        "crash[{name}]: {kills} kills in {:.1} s; the kills landed in {}; {} of them in a \
         writer of 1 MiB or more; {} operations returned before their kill; {} uploads resumed \
         exactly ({} after a session cut by the kill), {} cut before their first close; {} path \
         checks; {leftovers}{}",
        started.elapsed().as_secs_f64(),
        tally
            .landed
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        tally.large_writes_cut,
        tally.completed,
        tally.resumed,
        tally.resumed_after_cut,
        tally.uploads_cut_unclosed,
        tally.checked_paths,
        if target.relay.is_some() {
            format!(
                "; the longest wait for the server to finish a killed child's requests: {} ms",
                tally.server_wait.as_millis()
            )
        } else {
            String::new()
        },
    );
    assert!(
        inconsistent == 0,
        "{name}: {inconsistent} of {kills} kills left the storage inconsistent (seed {seed}); \
         problems by kind: {}",
        classes
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn show_tree(files: &BTreeMap<String, Spec>) -> String {
    if files.is_empty() {
        return "empty".into();
    }
    files
        .iter()
        .map(|(p, s)| format!("{p}: {}", describe(Some(*s))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The staging and temporary files a filesystem driver's crashes left, which its API does not
/// show (reported, not asserted: the driver documents them).
fn hidden_files(target: &Target) -> Option<String> {
    let dir = target.dir.as_ref()?;
    let mut count = 0;
    let mut stack = vec![dir.path().to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if entry.file_name().to_string_lossy().starts_with('~') {
                count += 1;
            }
        }
    }
    Some(format!(
        "left behind: {count} staging and temporary files (hidden from the API)"
    ))
}

/// The RADOS objects the crashes left unreferenced (the driver documents them; nothing collects
/// them yet), counted once the tree is deleted, and removed.
fn rados_leftovers(target: &Target) -> String {
    if let Some((conffile, pool, namespace)) = &target.rados {
        let rados = |args: &[&str]| {
            Command::new("timeout")
                .args([
                    "120", "rados", "--conf", conffile, "-p", pool, "-N", namespace,
                ])
                .args(args)
                .output()
        };
        let objects: Vec<String> = match rados(&["ls"]) {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .collect(),
            Ok(out) => {
                return format!(
                    "could not list the namespace: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Err(e) => return format!("could not run `rados ls`: {e}"),
        };
        for batch in objects.chunks(64) {
            let mut args = vec!["rm"];
            args.extend(batch.iter().map(String::as_str));
            let _ = rados(&args);
        }
        return format!(
            "left behind: {} unreferenced RADOS objects in namespace {namespace} (removed now)",
            objects.len()
        );
    }
    "left behind: (not counted for this driver)".into()
}

// ---------------------------------------------------------------------------------------------
// The parent: the checks after a kill.

/// One thing found wrong after a kill: its class (for the summary) and the details.
struct Problem {
    class: &'static str,
    text: String,
}

fn problem(class: &'static str, text: String) -> Problem {
    Problem { class, text }
}

/// Checks what the driver holds against what the journal allows; answers the tree found (a
/// damaged file is deleted, so that a run kept going starts clean) and every problem seen.
async fn check(
    driver: &dyn StorageDriver,
    replay: &Replay,
    tally: &mut Tally,
) -> (BTreeMap<String, Spec>, Vec<Problem>) {
    let mut problems = Vec::new();
    let allowed = replay.allowed();
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut found = BTreeMap::new();
    for (path, states) in &allowed {
        tally.checked_paths += 1;
        let now = match driver.get_content(path).await {
            Ok(bytes) => Seen::of(&bytes),
            Err(e) if e.is_not_found() => Seen::Missing,
            Err(e) => {
                problems.push(problem("error", format!("get_content {path} failed: {e}")));
                continue;
            }
        };
        let empty = states.iter().flatten().find(|s| s.len == 0).copied();
        let allowed = match &now {
            Seen::Missing => states.contains(&None),
            Seen::Empty => empty.is_some(),
            Seen::Whole(spec) => states.contains(&Some(*spec)),
            Seen::Damaged(_) => false,
        };
        if !allowed {
            problems.push(problem(
                "content neither old nor new",
                format!(
                    "{path} holds {now}; allowed: {}",
                    states
                        .iter()
                        .map(|s| describe(*s))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            ));
        }
        match &now {
            Seen::Missing => {}
            Seen::Empty => {
                let spec = empty.unwrap_or(Spec {
                    generation: 0,
                    len: 0,
                });
                found.insert(path.clone(), spec);
            }
            Seen::Whole(spec) => {
                found.insert(path.clone(), *spec);
            }
            Seen::Damaged(_) => match driver.delete(path).await {
                Ok(()) => {}
                Err(e) => problems.push(problem("error", format!("delete {path} failed: {e}"))),
            },
        }
        seen.insert(path.clone(), now);
    }
    if let Some(Op::Move { from, to }) = &replay.pending
        && seen.get(from) == Some(&Seen::Missing)
        && let Some(moved) = replay.files.get(from)
        && found.get(to) != Some(moved)
        // Empty contents carry no header: any empty file at `to` may be the moved one.
        && !(moved.len == 0 && seen.get(to) == Some(&Seen::Empty))
    {
        problems.push(problem(
            "move lost its content",
            format!(
                "the interrupted move lost its content: {from} is gone and {to} holds {} \
                 instead of {}",
                seen.get(to).map_or("(not read)".into(), Seen::to_string),
                describe(Some(*moved))
            ),
        ));
    }
    // Uploads are resumed once their invisibility is checked.
    visible(driver, &seen, &mut problems).await;
    resume(driver, replay, tally, &mut problems).await;
    (found, problems)
}

/// `walk` and `list` show the files `get_content` finds, with their sizes, and nothing else but
/// the tree's directories.
async fn visible(
    driver: &dyn StorageDriver,
    seen: &BTreeMap<String, Seen>,
    problems: &mut Vec<Problem>,
) {
    let mut entries: Vec<FileInfo> = Vec::new();
    let walked = driver
        .walk("/", &WalkOptions::default(), &mut |info: &FileInfo| {
            entries.push(info.clone());
            Ok(WalkControl::Continue)
        })
        .await;
    if let Err(e) = walked {
        problems.push(problem("error", format!("walk / failed: {e}")));
        return;
    }
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::from([("/".to_owned(), vec![])]);
    let mut walked_files = BTreeSet::new();
    for entry in &entries {
        let parent = match entry.path.rsplit_once('/') {
            Some(("", _)) => "/".to_owned(),
            Some((parent, _)) => parent.to_owned(),
            None => {
                problems.push(problem(
                    "walk shows an unknown entry",
                    format!("walk shows a relative path {:?}", entry.path),
                ));
                continue;
            }
        };
        children.entry(parent).or_default().push(entry.path.clone());
        if entry.is_dir {
            children.entry(entry.path.clone()).or_default();
            if !DIRS.contains(&entry.path.as_str()) && entry.path != UPLOADS {
                problems.push(problem(
                    "walk shows an unknown entry",
                    format!("walk shows an unknown directory {}", entry.path),
                ));
            }
            continue;
        }
        walked_files.insert(entry.path.clone());
        match seen.get(&entry.path).and_then(Seen::size) {
            Some(size) if size == entry.size => {}
            Some(size) => problems.push(problem(
                "walk shows a wrong size",
                format!(
                    "walk shows {} with {} bytes; get_content reads {size}",
                    entry.path, entry.size
                ),
            )),
            None => problems.push(problem(
                "walk shows an unknown entry",
                format!(
                    "walk shows {} ({} bytes), which is not a file: get_content finds {}",
                    entry.path,
                    entry.size,
                    seen.get(&entry.path).map_or(
                        "nothing the journal wrote (an upload or a temporary file?)".into(),
                        Seen::to_string
                    )
                ),
            )),
        }
    }
    for (path, now) in seen {
        if now.size().is_some() && !walked_files.contains(path) {
            problems.push(problem(
                "walk misses a file",
                format!("walk misses {path}, where get_content reads {now}"),
            ));
        }
        if let Some(size) = now.size() {
            match driver.stat(path).await {
                Ok(info) if !info.is_dir && info.size == size => {}
                Ok(info) => problems.push(problem(
                    "stat differs",
                    format!(
                        "stat {path}: is_dir {}, {} bytes; get_content reads {size}",
                        info.is_dir, info.size
                    ),
                )),
                Err(e) => problems.push(problem(
                    "stat differs",
                    format!("stat {path} failed: {e} (get_content reads {now})"),
                )),
            }
        }
    }
    for (dir, kids) in &children {
        match driver.list(dir).await {
            Ok(listed) if &listed == kids => {}
            Ok(listed) => problems.push(problem(
                "list differs from walk",
                format!("list {dir} answers {listed:?}; walk shows {kids:?}"),
            )),
            Err(e) => problems.push(problem(
                "list differs from walk",
                format!("list {dir} failed: {e} (walk shows {kids:?})"),
            )),
        }
    }
}

/// Every upload closed before the kill resumes on this fresh instance at its closed size (or
/// within the session the kill cut), is finished, committed, read back exactly and deleted.
async fn resume(
    driver: &dyn StorageDriver,
    replay: &Replay,
    tally: &mut Tally,
    problems: &mut Vec<Problem>,
) {
    for (path, upload) in &replay.uploads {
        let Some(closed) = upload.closed else {
            tally.uploads_cut_unclosed += 1;
            continue;
        };
        let content = upload.spec.bytes();
        let result: wharf::Result<Option<String>> = async {
            let mut writer = driver.writer(path, true).await?;
            let size = writer.size();
            let fits = match upload.cut_at {
                None => size == closed,
                Some(cut) => (closed..=cut).contains(&size),
            };
            if !fits {
                let _ = writer.cancel().await;
                return Ok(Some(format!(
                    "the upload {path} ({}) closed at {closed} bytes{} resumes at {size}",
                    upload.spec,
                    upload.cut_at.map_or(String::new(), |cut| format!(
                        ", then a session cut on its way to {cut},"
                    ))
                )));
            }
            let mut at = size as usize;
            while at < content.len() {
                let n = (content.len() - at).min(1 << 20);
                writer.write(content.slice(at..at + n)).await?;
                at += n;
            }
            writer.commit().await?;
            writer.close().await?;
            let got = driver.get_content(path).await?;
            if got != content {
                return Ok(Some(format!(
                    "the upload {path} closed at {closed} bytes, resumed at {size} and \
                     finished: it holds {} instead of {}",
                    Seen::of(&got),
                    upload.spec
                )));
            }
            driver.delete(path).await?;
            Ok(None)
        }
        .await;
        match result {
            Ok(None) => {
                tally.resumed += 1;
                if upload.cut_at.is_some() {
                    tally.resumed_after_cut += 1;
                }
            }
            Ok(Some(text)) => problems.push(problem("upload resumed wrongly", text)),
            Err(e) => problems.push(problem(
                "upload resumed wrongly",
                format!(
                    "resuming the upload {path} ({}, closed at {closed} bytes) failed: {e}",
                    upload.spec
                ),
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The drivers.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem() {
    crash_test(filesystem_target("filesystem")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_filesystem() {
    crash_test(filesystem_target(wharf::guests::FILESYSTEM)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_on_moto() {
    crash_test(s3_target().await).await;
}

/// The rados driver on the test Ceph (moves across directories mark both entries, directories
/// are linked before a file appears in them, and `list` takes a directory entry without its
/// object for an empty directory: docs/RELIABILITY.md, section 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rados() {
    crash_test(rados_target()).await;
}
