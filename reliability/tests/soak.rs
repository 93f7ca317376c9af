//! Soak: long runs of many clients on the drivers that need no server, and a guest whose
//! instances the host keeps replacing, with the host's resident memory watched.
//!
//! - Each serverless driver (inmemory, filesystem, guest-inmemory, guest-filesystem,
//!   guest-js-inmemory) serves 64 concurrent clients, each on a subtree of its own, doing mixed
//!   operations — `put_content`, `get_content`, readers at random offsets, writers with
//!   `commit`, uploads closed and resumed, `stat`, `list`, `walk`, `move`, `delete` — against a
//!   model of its subtree: every answer is checked, and any error fails the test.
//! - The hostile guest faults on cue, again and again — it panics (a trap), or, one time in 25,
//!   fills its memory up to its limit: each fault discards the instance, and the next call runs
//!   on a new one (checked: the instance's id changes each time, and a file written before
//!   stays readable). `WHARF_REPLACEMENTS` sets how many (10 000 by default).
//!
//! The host's resident memory (`VmRSS`) is sampled: at the start (after a warm-up, the first
//! fifth of a run), its peak, and at the end; each is printed, and the end may exceed the start
//! by at most a bound ([`CLIENTS_RSS_BOUND`], [`REPLACEMENT_RSS_BOUND`]) far above the noise of
//! a run and far below what a leak per operation or per instance would add over the long runs.
//! Nothing here asserts a timing. The tests take turns, so no test's allocations blur another's
//! measurement.
//!
//! By default each driver runs for 12 s and the guest is replaced 10 000 times (a few
//! seconds). The long run, 10 minutes per driver (`WHARF_SOAK_SEED` replays the clients'
//! choices):
//!
//! ```sh
//! WHARF_SOAK_SECS=600 cargo test --locked -p wharf-reliability --test soak -- --nocapture
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::sync::Mutex;
use wharf::wasm::{DirGrant, GuestRuntime, SandboxPolicy, register_guest};
use wharf::{
    DriverRegistry, ErrorKind, FileInfo, Params, RedirectMethod, StorageDriver, WalkControl,
    WalkOptions, WithBuiltin,
};

/// Concurrent clients per driver.
const CLIENTS: usize = 64;
/// Seconds per driver unless `WHARF_SOAK_SECS` says otherwise.
const DEFAULT_SECS: u64 = 12;
/// Guest instances replaced unless `WHARF_REPLACEMENTS` says otherwise.
const DEFAULT_REPLACEMENTS: u64 = 10_000;
/// One replacement in this many follows a fault that filled the instance's memory.
const GROW_EVERY: u64 = 25;
/// How far the resident memory at the end of a clients' run may be above its value after the
/// warm-up. The clients' data alone — 64 × up to 9 files, 5 % of them up to 1 MiB — moves by
/// tens of MiB as files come and go, and allocators keep freed memory; a leak of 1 KiB per
/// operation passes this bound within the first minute of a 10-minute run.
const CLIENTS_RSS_BOUND: u64 = 96 << 20;
/// How far the resident memory after the replacements may be above its value after the first
/// tenth of them: a new instance's memory is a fresh mapping that is unmapped with it; 1 KiB
/// kept per instance would pass this bound at 10 000.
const REPLACEMENT_RSS_BOUND: u64 = 8 << 20;

/// The tests take turns, each from the creation of its driver on (a guest's first instance
/// weighs tens of MiB): the resident memory is the whole process's.
static SERIAL: Mutex<()> = Mutex::const_new(());

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

/// The process's resident memory in bytes (`VmRSS`).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib << 10
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Samples the resident memory every 100 ms while the run lasts, on a thread of its own (busy
/// clients would delay a task): its peak, and its value at each `every` (from the start) for
/// the trend.
struct RssWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u64, Vec<(Duration, u64)>)>,
}

impl RssWatch {
    fn start(every: Option<Duration>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let started = Instant::now();
                let (mut peak, mut marks, mut next) = (0, Vec::new(), every);
                while !stop.load(Ordering::Relaxed) {
                    let now = rss();
                    peak = peak.max(now);
                    if let (Some(mark), Some(every)) = (next, every)
                        && started.elapsed() >= mark
                    {
                        marks.push((mark, now));
                        next = Some(mark + every);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                (peak, marks)
            }
        });
        Self { stop, thread }
    }

    /// The peak, and the marks as text.
    fn finish(self) -> (u64, String) {
        self.stop.store(true, Ordering::Relaxed);
        let (peak, marks) = self.thread.join().expect("the sampling thread");
        let trend = marks
            .iter()
            .map(|(t, bytes)| format!("{:.1} s {}", t.as_secs_f64(), mib(*bytes)))
            .collect::<Vec<_>>()
            .join(", ");
        (peak.max(rss()), trend)
    }
}

// ---------------------------------------------------------------------------------------------
// 64 clients.

/// What the clients did, by operation.
type Counts = BTreeMap<&'static str, u64>;

/// One client: a subtree `/c<i>` with files `f0`..`f5` and a subdirectory `s` with `f0`..`f2`,
/// and the model of what they hold.
struct Client {
    driver: Arc<dyn StorageDriver>,
    root: String,
    rng: StdRng,
    files: BTreeMap<String, Bytes>,
    counts: Counts,
}

impl Client {
    fn paths(&self) -> Vec<String> {
        let top = (0..6).map(|f| format!("{}/f{f}", self.root));
        let sub = (0..3).map(|f| format!("{}/s/f{f}", self.root));
        top.chain(sub).collect()
    }

    fn sub(&self) -> String {
        format!("{}/s", self.root)
    }

    fn any_path(&mut self) -> String {
        let paths = self.paths();
        paths[self.rng.random_range(0..paths.len())].clone()
    }

    fn existing(&mut self) -> Option<String> {
        let n = self.files.len();
        if n == 0 {
            return None;
        }
        self.files.keys().nth(self.rng.random_range(0..n)).cloned()
    }

    fn content(&mut self) -> Bytes {
        let len = match self.rng.random_range(0..100) {
            0..5 => 0,
            5..95 => self.rng.random_range(1..=64 << 10),
            _ => self.rng.random_range(256 << 10..=1 << 20),
        };
        let mut data = vec![0u8; len];
        self.rng.fill_bytes(&mut data);
        data.into()
    }

    fn count(&mut self, op: &'static str) {
        *self.counts.entry(op).or_default() += 1;
    }

    /// Runs mixed operations until `deadline`, then deletes the subtree.
    async fn run(mut self, deadline: Instant) -> Result<Counts, String> {
        while Instant::now() < deadline {
            let roll = self.rng.random_range(0..100);
            match roll {
                0..18 => self.put().await?,
                18..32 => self.get().await?,
                32..40 => self.read().await?,
                40..50 => self.write().await?,
                50..56 => self.resume().await?,
                56..66 => self.stat().await?,
                66..74 => self.list().await?,
                74..80 => self.walk().await?,
                80..92 => self.rename().await?,
                _ => self.delete().await?,
            }
        }
        match self.driver.delete(&self.root).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() && self.files.is_empty() => {}
            Err(e) => return Err(format!("delete {}: {e}", self.root)),
        }
        Ok(self.counts)
    }

    async fn put(&mut self) -> Result<(), String> {
        self.count("put");
        let (path, content) = (self.any_path(), self.content());
        self.driver
            .put_content(&path, content.clone())
            .await
            .map_err(|e| format!("put {path}: {e}"))?;
        self.files.insert(path, content);
        Ok(())
    }

    async fn get(&mut self) -> Result<(), String> {
        self.count("get");
        let path = self.any_path();
        match (self.driver.get_content(&path).await, self.files.get(&path)) {
            (Ok(got), Some(want)) if got == want => Ok(()),
            (Err(e), None) if e.is_not_found() => Ok(()),
            (Ok(got), want) => Err(format!(
                "get {path}: {} bytes, the model holds {:?} bytes",
                got.len(),
                want.map(Bytes::len)
            )),
            (Err(e), want) => Err(format!(
                "get {path}: {e} (the model holds {:?} bytes)",
                want.map(Bytes::len)
            )),
        }
    }

    async fn read(&mut self) -> Result<(), String> {
        self.count("reader");
        let Some(path) = self.existing() else {
            return Ok(());
        };
        let want = self.files[&path].clone();
        let offset = self.rng.random_range(0..=want.len());
        let got = match self.driver.reader(&path, offset as u64).await {
            Ok(stream) => wharf::stream::collect(stream).await,
            Err(e) => Err(e),
        }
        .map_err(|e| format!("reader {path} at {offset}: {e}"))?;
        if got != want.slice(offset..) {
            return Err(format!(
                "reader {path} at {offset}: {} bytes, not the model's {} from there",
                got.len(),
                want.len() - offset
            ));
        }
        Ok(())
    }

    /// Writes `content[from..]` in chunks of up to 64 KiB.
    async fn write_from(
        &mut self,
        writer: &mut Box<dyn wharf::FileWriter>,
        content: &Bytes,
        from: usize,
        to: usize,
    ) -> wharf::Result<()> {
        let mut at = from;
        while at < to {
            let n = self.rng.random_range(1..=64 << 10).min(to - at);
            writer.write(content.slice(at..at + n)).await?;
            at += n;
        }
        Ok(())
    }

    async fn write(&mut self) -> Result<(), String> {
        self.count("writer");
        let (path, content) = (self.any_path(), self.content());
        let fail = |e: wharf::Error| format!("writer {path}: {e}");
        let mut writer = self.driver.writer(&path, false).await.map_err(fail)?;
        self.write_from(&mut writer, &content, 0, content.len())
            .await
            .map_err(fail)?;
        writer.commit().await.map_err(fail)?;
        writer.close().await.map_err(fail)?;
        if writer.size() != content.len() as u64 {
            return Err(format!(
                "writer {path}: size {} after commit, wrote {}",
                writer.size(),
                content.len()
            ));
        }
        self.files.insert(path, content);
        Ok(())
    }

    async fn resume(&mut self) -> Result<(), String> {
        self.count("resume");
        let (path, content) = (self.any_path(), self.content());
        let split = self.rng.random_range(0..=content.len());
        let fail = |e: wharf::Error| format!("upload {path} resumed at {split}: {e}");
        let mut first = self.driver.writer(&path, false).await.map_err(fail)?;
        self.write_from(&mut first, &content, 0, split)
            .await
            .map_err(fail)?;
        first.close().await.map_err(fail)?;
        let mut second = self.driver.writer(&path, true).await.map_err(fail)?;
        if second.size() != split as u64 {
            return Err(format!(
                "upload {path}: closed at {split}, resumed at {}",
                second.size()
            ));
        }
        self.write_from(&mut second, &content, split, content.len())
            .await
            .map_err(fail)?;
        second.commit().await.map_err(fail)?;
        second.close().await.map_err(fail)?;
        self.files.insert(path, content);
        Ok(())
    }

    async fn stat(&mut self) -> Result<(), String> {
        self.count("stat");
        let path = self.any_path();
        match (self.driver.stat(&path).await, self.files.get(&path)) {
            (Ok(info), Some(want))
                if !info.is_dir && info.size == want.len() as u64 && info.path == path =>
            {
                Ok(())
            }
            (Err(e), None) if e.is_not_found() => Ok(()),
            (Ok(info), want) => Err(format!(
                "stat {path}: {info:?}; the model holds {:?} bytes",
                want.map(Bytes::len)
            )),
            (Err(e), want) => Err(format!(
                "stat {path}: {e} (the model holds {:?} bytes)",
                want.map(Bytes::len)
            )),
        }
    }

    /// The subdirectory must be listed while it holds files; once emptied it may stay (the
    /// contract leaves that to the driver).
    fn expected_children(&self, dir: &str) -> (BTreeSet<String>, Option<String>) {
        let prefix = format!("{dir}/");
        let mut files = BTreeSet::new();
        let mut optional = None;
        for p in self.files.keys() {
            if let Some(rest) = p.strip_prefix(&prefix) {
                match rest.split_once('/') {
                    None => files.insert(p.clone()),
                    Some((d, _)) => files.insert(format!("{dir}/{d}")),
                };
            }
        }
        let sub = self.sub();
        if dir == self.root && !files.contains(&sub) {
            optional = Some(sub);
        }
        (files, optional)
    }

    async fn list(&mut self) -> Result<(), String> {
        self.count("list");
        let dir = if self.rng.random_bool(0.5) {
            self.root.clone()
        } else {
            self.sub()
        };
        let (want, optional) = self.expected_children(&dir);
        match self.driver.list(&dir).await {
            Ok(got) => {
                let mut sorted = got.clone();
                sorted.sort();
                let set: BTreeSet<String> = got.iter().cloned().collect();
                let extra_ok = |p: &String| want.contains(p) || optional.as_ref() == Some(p);
                if sorted != got
                    || set.len() != got.len()
                    || !want.is_subset(&set)
                    || !set.iter().all(extra_ok)
                {
                    return Err(format!("list {dir}: {got:?}, the model has {want:?}"));
                }
                Ok(())
            }
            // A directory without files may be gone.
            Err(e) if e.is_not_found() && want.is_empty() => Ok(()),
            Err(e) => Err(format!("list {dir}: {e} (the model has {want:?})")),
        }
    }

    async fn walk(&mut self) -> Result<(), String> {
        self.count("walk");
        let root = self.root.clone();
        let mut entries: Vec<FileInfo> = Vec::new();
        let walked = self
            .driver
            .walk(&root, &WalkOptions::default(), &mut |info: &FileInfo| {
                entries.push(info.clone());
                Ok(WalkControl::Continue)
            })
            .await;
        match walked {
            Ok(()) => {}
            Err(e) if e.is_not_found() && self.files.is_empty() => return Ok(()),
            Err(e) => return Err(format!("walk {root}: {e}")),
        }
        let sub = self.sub();
        let mut want: Vec<(String, Option<u64>)> = Vec::new();
        let has_sub = self.files.keys().any(|p| p.starts_with(&format!("{sub}/")));
        let walked_sub = entries.iter().any(|e| e.path == sub);
        for (p, content) in &self.files {
            if p.starts_with(&format!("{sub}/")) {
                continue;
            }
            want.push((p.clone(), Some(content.len() as u64)));
        }
        if has_sub || walked_sub {
            want.push((sub.clone(), None));
            for (p, content) in &self.files {
                if p.starts_with(&format!("{sub}/")) {
                    want.push((p.clone(), Some(content.len() as u64)));
                }
            }
        }
        // The contract's order: depth-first, siblings by name; `s` sorts after `f…`.
        let got: Vec<(String, Option<u64>)> = entries
            .iter()
            .map(|e| (e.path.clone(), (!e.is_dir).then_some(e.size)))
            .collect();
        if got != want {
            return Err(format!("walk {root}: {got:?}, the model has {want:?}"));
        }
        Ok(())
    }

    async fn rename(&mut self) -> Result<(), String> {
        self.count("move");
        let Some(from) = self.existing() else {
            return Ok(());
        };
        let mut to = self.any_path();
        while to == from {
            to = self.any_path();
        }
        self.driver
            .rename(&from, &to)
            .await
            .map_err(|e| format!("move {from} {to}: {e}"))?;
        let content = self.files.remove(&from).expect("the model's file");
        self.files.insert(to, content);
        Ok(())
    }

    async fn delete(&mut self) -> Result<(), String> {
        self.count("delete");
        let path = if self.rng.random_bool(0.2) {
            self.sub()
        } else {
            self.any_path()
        };
        let under = format!("{path}/");
        let exists = self
            .files
            .keys()
            .any(|p| p == &path || p.starts_with(&under));
        match self.driver.delete(&path).await {
            Ok(()) => {}
            // An emptied subdirectory may stay, and be deleted.
            Err(e) if e.is_not_found() && !exists => {}
            Err(e) => {
                return Err(format!(
                    "delete {path}: {e} (exists in the model: {exists})"
                ));
            }
        }
        self.files
            .retain(|p, _| p != &path && !p.starts_with(&under));
        Ok(())
    }
}

/// 64 clients on `driver` for the configured time; prints the counts and the resident memory
/// (after the warm-up, peak, end) and checks that the end stays within [`CLIENTS_RSS_BOUND`].
async fn soak(name: &str, driver: Arc<dyn StorageDriver>) {
    let secs = env_u64("WHARF_SOAK_SECS", DEFAULT_SECS);
    let seed = env_u64("WHARF_SOAK_SEED", rand::random());
    // The first fifth of the run is the warm-up: the clients' trees fill, a guest's memory grows
    // to what they need.
    let warmup = Duration::from_secs(secs).div_f64(5.0);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let before = rss();
    let watch = RssWatch::start(Some(Duration::from_secs(secs).div_f64(10.0)));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let client = Client {
                driver: driver.clone(),
                root: format!("/c{i}"),
                rng: StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                files: BTreeMap::new(),
                counts: Counts::new(),
            };
            tokio::spawn(client.run(deadline))
        })
        .collect();
    tokio::time::sleep(warmup).await;
    let start = rss();
    let mut counts = Counts::new();
    let mut failures = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(Ok(c)) => {
                for (op, n) in c {
                    *counts.entry(op).or_default() += n;
                }
            }
            Ok(Err(e)) => failures.push(format!("client {i}: {e}")),
            Err(e) => failures.push(format!("client {i} panicked: {e}")),
        }
    }
    let end = rss();
    let (peak, trend) = watch.finish();
    let elapsed = started.elapsed();
    assert!(
        failures.is_empty(),
        "{name} (seed {seed}, WHARF_SOAK_SEED replays the clients' choices): {} of {CLIENTS} \
         clients failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let root = driver
        .list("/")
        .await
        .unwrap_or_else(|e| panic!("{name}: list / after the run: {e}"));
    assert!(
        root.is_empty(),
        "{name}: the clients' trees stayed: {root:?}"
    );
    let total: u64 = counts.values().sum();
    println!(
        "soak[{name}]: {CLIENTS} clients, {total} operations in {:.1} s ({:.0}/s), no error; \
         {}; resident memory: {} before, {} after the {:.1} s warm-up, peak {}, end {} \
         (end − start {:+.1} MiB); along the way: {trend}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        counts
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        mib(before),
        mib(start),
        warmup.as_secs_f64(),
        mib(peak),
        mib(end),
        (end as f64 - start as f64) / (1 << 20) as f64,
    );
    assert!(
        end <= start + CLIENTS_RSS_BOUND,
        "{name}: the resident memory grew from {} after the warm-up to {} at the end (bound {})",
        mib(start),
        mib(end),
        mib(CLIENTS_RSS_BOUND)
    );
}

async fn create(name: &str, params: Params) -> Arc<dyn StorageDriver> {
    DriverRegistry::with_builtin()
        .create(name, params)
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inmemory() {
    // Alone from the driver\'s creation on: a guest\'s first instance is part of the run.
    let _alone = SERIAL.lock().await;
    let params = Params::from_pairs([("namespace", "soak")]);
    soak("inmemory", create("inmemory", params).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem() {
    // Alone from the driver\'s creation on: a guest\'s first instance is part of the run.
    let _alone = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let params = Params::from_pairs([("rootdirectory", dir.path().to_string_lossy().into_owned())]);
    soak("filesystem", create("filesystem", params).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_inmemory() {
    // Alone from the driver\'s creation on: a guest\'s first instance is part of the run.
    let _alone = SERIAL.lock().await;
    let name = wharf::guests::INMEMORY;
    let params = Params::from_pairs([("namespace", "soak")]);
    soak(name, create(name, params).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_filesystem() {
    // Alone from the driver\'s creation on: a guest\'s first instance is part of the run.
    let _alone = SERIAL.lock().await;
    let name = wharf::guests::FILESYSTEM;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let params = Params::from_pairs([("rootdirectory", dir.path().to_string_lossy().into_owned())]);
    soak(name, create(name, params).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_js_inmemory() {
    // Alone from the driver\'s creation on: a guest\'s first instance is part of the run.
    let _alone = SERIAL.lock().await;
    let name = wharf::guests::JS_INMEMORY;
    let params = Params::from_pairs([("namespace", "soak")]);
    soak(name, create(name, params).await).await;
}

// ---------------------------------------------------------------------------------------------
// Instances replaced.

/// A driver of the hostile guest with one instance, misbehaving as `mode` says on `/hostile`,
/// over `dir`, under `memory_limit`, its faults replaced at once however many there are.
async fn hostile(
    registry: &mut DriverRegistry,
    mode: &str,
    dir: &Path,
    memory_limit: u64,
) -> Arc<dyn StorageDriver> {
    let component = GuestRuntime::global()
        .expect("the component host")
        .load_file(Path::new(wharf_guest_artifacts::HOSTILE_PATH))
        .await
        .expect("load the hostile component");
    let policy = SandboxPolicy {
        memory_limit,
        instances: 1,
        dirs: vec![DirGrant {
            host: dir.to_owned(),
            guest: "/data".into(),
            read_only: false,
            quota: None,
        }],
        restart_budget: u32::MAX,
        restart_window: Duration::from_secs(1),
        ..SandboxPolicy::default()
    };
    let name = format!("hostile-{mode}");
    register_guest(registry, &name, component, policy).expect("register the guest");
    registry
        .create(&name, Params::from_pairs([("mode", mode)]))
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
}

/// The id of the instance that serves `driver`'s next call.
async fn whoami(driver: &Arc<dyn StorageDriver>) -> String {
    driver
        .redirect_url(RedirectMethod::Get, "/whoami", Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("whoami: {e}"))
        .expect("the hostile guest names its instance")
}

/// The hostile guest faults on cue, again and again: it panics (a trap) on `/hostile`, and one
/// time in [`GROW_EVERY`] another driver of it fills its 16 MiB of memory there until the limit
/// stops it. Each fault discards the instance and the next call instantiates a new one. Checks
/// that each new instance is new (its id), that a file written before stays readable, and that
/// the host's resident memory after the replacements is within [`REPLACEMENT_RSS_BOUND`] of
/// what it was after the first tenth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_instances_replaced() {
    let _alone = SERIAL.lock().await;
    let replacements = env_u64("WHARF_REPLACEMENTS", DEFAULT_REPLACEMENTS);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut registry = DriverRegistry::new();
    let panics = hostile(&mut registry, "panic", dir.path(), 64 << 20).await;
    let grows = hostile(&mut registry, "grow", dir.path(), 16 << 20).await;
    panics
        .put_content("/kept", Bytes::from_static(b"kept across instances"))
        .await
        .unwrap_or_else(|e| panic!("put /kept: {e}"));

    let started = Instant::now();
    let warmup = (replacements / 10).max(1);
    let before = rss();
    let watch = RssWatch::start(None);
    let mut start = before;
    let mut previous = [whoami(&panics).await, whoami(&grows).await];
    let mut trend = Vec::new();
    for i in 1..=replacements {
        let (which, driver) = if i % GROW_EVERY == 0 {
            (1, &grows)
        } else {
            (0, &panics)
        };
        match driver.get_content("/hostile").await {
            Err(e) if e.kind() == &ErrorKind::DriverFault => {}
            other => panic!("replacement {i}: the fault on cue answered {other:?}"),
        }
        let now = whoami(driver).await;
        assert_ne!(
            now, previous[which],
            "replacement {i}: the faulted instance still serves"
        );
        previous[which] = now;
        if i % 100 == 0 || i == replacements {
            let kept = driver
                .get_content("/kept")
                .await
                .unwrap_or_else(|e| panic!("replacement {i}: get /kept: {e}"));
            assert_eq!(&kept[..], b"kept across instances", "replacement {i}");
        }
        if i == warmup {
            start = rss();
        }
        if i % (replacements / 10).max(1) == 0 {
            trend.push(format!("{i}: {}", mib(rss())));
        }
    }
    let end = rss();
    let (peak, _) = watch.finish();
    println!(
        "soak[replacements]: {replacements} guest instances replaced ({} of them after filling \
         their memory) in {:.1} s; resident memory: {} before, {} after {warmup}, peak {}, end \
         {} (end − start {:+.1} MiB); along the way: {}",
        replacements / GROW_EVERY,
        started.elapsed().as_secs_f64(),
        mib(before),
        mib(start),
        mib(peak),
        mib(end),
        (end as f64 - start as f64) / (1 << 20) as f64,
        trend.join(", "),
    );
    assert!(
        end <= start + REPLACEMENT_RSS_BOUND,
        "the resident memory grew from {} after {warmup} replacements to {} after \
         {replacements} (bound {})",
        mib(start),
        mib(end),
        mib(REPLACEMENT_RSS_BOUND)
    );
}
