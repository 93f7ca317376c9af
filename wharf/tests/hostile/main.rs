//! Hostile guests: the component `guest-drivers/hostile` (built by `guest-artifacts`, feature
//! `hostile`, for these tests only) misbehaves on cue — it loops, blocks in host calls, grows its memory or the host's,
//! overflows its stack, panics, tries to leave its preopen, answers oversized or malformed
//! records, traps in the middle of an upload, and asks for capabilities it was not granted. For each, the call must
//! fail with the right kind within the deadline (or, for denied capabilities, with a clean
//! `PermissionDenied` from a guest that did not trap), the next call must work on a fresh
//! instance, other drivers in the process must keep working meanwhile, the host's memory must
//! stay bounded, and nothing may be committed or written outside the sandbox.
//!
//! Timings here are hang guards (deadline + 5 s), never performance assertions.
//!
//! [`bounds`] attacks the host's bounds rather than the sandbox's walls: instantiation,
//! memories and pool shares, open files, answer sizes and texts, endless walks, user
//! information in HTTP authorities.

mod bounds;
mod streams;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, RwLock};
use wharf::wasm::{DirGrant, GuestComponent, GuestRuntime, SandboxPolicy, register_guest};
use wharf::{
    DriverRegistry, ErrorKind, FileInfo, Params, RedirectMethod, Result, StorageDriver,
    WalkControl, WalkOptions,
};

/// The per-call deadline of the hostile drivers.
const DEADLINE: Duration = Duration::from_millis(1500);
/// How long a call may take before the test calls it a hang.
const HANG_GUARD: Duration = DEADLINE.saturating_add(Duration::from_secs(5));
/// The hostile drivers' memory limit.
const MEMORY_LIMIT: u64 = 64 << 20;
/// Where the guest sees its directory.
const GUEST_DATA: &str = "/data";

/// Tests take this shared; the memory tests take it alone, so no other test's allocations blur
/// their measurements of the process's resident memory.
static SERIAL: RwLock<()> = RwLock::const_new(());

static NEXT: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The hostile component, compiled once for the whole test binary.
async fn component() -> Arc<GuestComponent> {
    static COMPONENT: OnceCell<Arc<GuestComponent>> = OnceCell::const_new();
    COMPONENT
        .get_or_init(|| async {
            GuestRuntime::global()
                .expect("the component host")
                .load_file(Path::new(wharf_guest_artifacts::HOSTILE_PATH))
                .await
                .expect("load the hostile component")
        })
        .await
        .clone()
}

/// A sandbox policy with a short deadline, a small memory limit, one instance (so "the next
/// call" reaches the same slot), and the given directory granted at `/data`.
fn policy(data: Option<&Path>) -> SandboxPolicy {
    SandboxPolicy {
        memory_limit: MEMORY_LIMIT,
        call_timeout: DEADLINE,
        instances: 1,
        dirs: data
            .map(|host| {
                vec![DirGrant {
                    host: host.to_owned(),
                    guest: GUEST_DATA.into(),
                    read_only: false,
                    quota: None,
                }]
            })
            .unwrap_or_default(),
        // Plenty, so that only the budget test meets the back-off.
        restart_budget: 1000,
        ..SandboxPolicy::default()
    }
}

/// A temporary directory whose `data` subdirectory is the guest's preopen.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir(dir.path().join("data")).expect("create data");
        Self { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

/// Registers the hostile component as `hostile` under `policy` in a registry that also holds
/// every built-in driver, and creates it with `params`.
async fn hostile_with(
    policy: SandboxPolicy,
    params: &[(&str, &str)],
) -> (DriverRegistry, Arc<dyn StorageDriver>) {
    let mut registry = wharf::builtin_registry();
    register_guest(&mut registry, "hostile", component().await, policy)
        .expect("register the hostile guest");
    let params = Params::from_pairs(params.iter().map(|&(k, v)| (k, v)));
    let driver = registry
        .create("hostile", params)
        .await
        .unwrap_or_else(|e| panic!("create the hostile driver: {e}"));
    (registry, driver)
}

async fn hostile(sandbox: &Sandbox, params: &[(&str, &str)]) -> Arc<dyn StorageDriver> {
    hostile_with(policy(Some(&sandbox.data())), params).await.1
}

/// The id of the instance that serves the driver's next call.
async fn instance(driver: &Arc<dyn StorageDriver>) -> String {
    driver
        .redirect_url(RedirectMethod::Get, "/whoami", Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("whoami: {e}"))
        .expect("the hostile guest names its instance")
}

/// Runs `fut`, failing the test if it takes longer than [`HANG_GUARD`]; returns its output and
/// how long it took.
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    match tokio::time::timeout(HANG_GUARD, fut).await {
        Ok(value) => (value, started.elapsed()),
        Err(_) => panic!("{what} hung: no answer within {HANG_GUARD:?}"),
    }
}

/// Asserts that `result` failed with `kind`, and returns the error's text.
fn failed<T: std::fmt::Debug>(what: &str, result: Result<T>, kind: &ErrorKind) -> String {
    match result {
        Ok(value) => panic!("{what}: expected {kind:?}, got Ok({value:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{what}: wrong kind: {e}");
            e.to_string()
        }
    }
}

/// Drivers that share the process with the hostile one: the native in-memory driver, the
/// bundled in-memory guest, and another driver of the hostile component that behaves.
async fn bystanders(registry: &DriverRegistry, honest_data: &Path) -> Vec<Arc<dyn StorageDriver>> {
    let native = registry
        .create("inmemory", Params::new())
        .await
        .expect("native inmemory");
    let guest = registry
        .create(
            wharf::guests::INMEMORY,
            Params::from_pairs([("namespace", unique("hostile-bystander"))]),
        )
        .await
        .expect("bundled in-memory guest");
    let mut registry = wharf::builtin_registry();
    register_guest(
        &mut registry,
        "hostile-bystander",
        component().await,
        policy(Some(honest_data)),
    )
    .expect("register the honest hostile");
    let honest = registry
        .create("hostile-bystander", Params::new())
        .await
        .expect("honest driver of the hostile component");
    vec![native, guest, honest]
}

/// What the bystanders did while a hostile call ran.
#[derive(Debug)]
struct Busy {
    /// Rounds (a put, a get and a stat on every bystander) finished before the hostile call
    /// returned.
    rounds_during: u64,
    /// The slowest round.
    slowest: Duration,
}

/// Runs `hostile` while the bystanders do round after round of work; every bystander call
/// must succeed and read back what it wrote.
async fn while_busy<T>(
    bystanders: &[Arc<dyn StorageDriver>],
    hostile: impl Future<Output = T>,
) -> (T, Busy) {
    let stop = Arc::new(AtomicBool::new(false));
    let during = Arc::new(AtomicU64::new(0));
    let work = {
        let (stop, during, drivers) = (stop.clone(), during.clone(), bystanders.to_vec());
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut round = 0u64;
            // At least three rounds after the hostile call, so the bystanders are shown to
            // work afterwards too.
            let mut after = 0;
            while after < 3 {
                if stop.load(Ordering::Relaxed) {
                    after += 1;
                }
                let started = Instant::now();
                for (i, d) in drivers.iter().enumerate() {
                    let path = format!("/bystander/{i}/{}", round % 4);
                    let content = format!("round {round} of bystander {i}");
                    d.put_content(&path, content.clone().into())
                        .await
                        .map_err(|e| format!("{}: put: {e}", d.name()))?;
                    let got = d
                        .get_content(&path)
                        .await
                        .map_err(|e| format!("{}: get: {e}", d.name()))?;
                    if got != content.as_bytes() {
                        return Err(format!("{}: read back {got:?}", d.name()));
                    }
                    let info = d
                        .stat(&path)
                        .await
                        .map_err(|e| format!("{}: stat: {e}", d.name()))?;
                    if info.size != content.len() as u64 {
                        return Err(format!("{}: stat says {info:?}", d.name()));
                    }
                }
                slowest = slowest.max(started.elapsed());
                round += 1;
                if !stop.load(Ordering::Relaxed) {
                    during.store(round, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok::<Duration, String>(slowest)
        })
    };
    let value = hostile.await;
    stop.store(true, Ordering::Relaxed);
    let (joined, _) = bounded("the bystanders", work).await;
    let slowest = joined
        .expect("the bystander task")
        .unwrap_or_else(|e| panic!("a bystander failed while the hostile call ran: {e}"));
    let busy = Busy {
        rounds_during: during.load(Ordering::Relaxed),
        slowest,
    };
    (value, busy)
}

/// The bystanders kept working through a call of about the deadline: several rounds, none held
/// up for anything like the hostile call's time.
fn kept_working(busy: &Busy) {
    assert!(
        busy.rounds_during >= 3,
        "the bystanders made little progress during the hostile call: {busy:?}"
    );
    assert!(
        busy.slowest < DEADLINE,
        "a bystander round waited for the hostile call: {busy:?}"
    );
}

/// Puts a file through the driver, so later calls can show the driver still works.
async fn put_kept(driver: &Arc<dyn StorageDriver>) {
    driver
        .put_content("/kept", "kept content".into())
        .await
        .unwrap_or_else(|e| panic!("put /kept: {e}"));
}

/// The driver serves a normal call on a fresh instance (`before` is the old one's id).
async fn recovered(driver: &Arc<dyn StorageDriver>, before: &str) {
    let (got, _) = bounded("the call after the fault", driver.get_content("/kept")).await;
    let got = got.unwrap_or_else(|e| panic!("the call after the fault failed: {e}"));
    assert_eq!(got, "kept content".as_bytes());
    let now = instance(driver).await;
    assert_ne!(now, before, "the faulted instance was not replaced");
}

/// Runs one hostile call while bystanders work; asserts its kind and the hang guard, and that
/// the driver recovers on a fresh instance. Returns the error text and the bystanders' record.
async fn fault_case<T: std::fmt::Debug>(
    mode: &str,
    kind: ErrorKind,
    call: impl AsyncFnOnce(&Arc<dyn StorageDriver>) -> Result<T>,
) -> (String, Busy) {
    let sandbox = Sandbox::new();
    let bystander_dir = Sandbox::new();
    let (registry, driver) = hostile_with(
        policy(Some(&sandbox.data())),
        &[("mode", mode), ("trigger", "/hostile")],
    )
    .await;
    let others = bystanders(&registry, &bystander_dir.data()).await;
    put_kept(&driver).await;
    let before = instance(&driver).await;
    let ((result, busy), elapsed) = bounded(mode, while_busy(&others, call(&driver))).await;
    let text = failed(mode, result, &kind);
    assert!(elapsed < HANG_GUARD, "{mode}: took {elapsed:?}");
    assert!(
        text.starts_with("hostile: "),
        "{mode}: error not named: {text}"
    );
    recovered(&driver, &before).await;
    (text, busy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_loop_times_out() {
    let _shared = SERIAL.read().await;
    let (text, busy) = fault_case("loop", ErrorKind::Timeout, async |d| {
        d.get_content("/hostile").await
    })
    .await;
    assert!(text.contains("deadline"), "{text}");
    kept_working(&busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_sleep_in_a_host_call_times_out() {
    let _shared = SERIAL.read().await;
    let (text, busy) = fault_case("sleep", ErrorKind::Timeout, async |d| {
        d.get_content("/hostile").await
    })
    .await;
    assert!(text.contains("deadline"), "{text}");
    kept_working(&busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_sleep_in_create_times_out() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let mut registry = wharf::builtin_registry();
    register_guest(
        &mut registry,
        "hostile",
        component().await,
        policy(Some(&sandbox.data())),
    )
    .expect("register the hostile guest");
    let params = Params::from_pairs([("mode", "sleep-create")]);
    let (result, _) = bounded("create", registry.create("hostile", params)).await;
    let text = failed("create", result.map(|_| ()), &ErrorKind::Timeout);
    assert!(text.contains("deadline"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_whose_close_blocks_does_not_wedge_the_driver() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let driver = hostile(&sandbox, &[("mode", "sleep-close"), ("trigger", "/blob")]).await;
    put_kept(&driver).await;

    // Dropped while open: the host closes it in the background, holding the instance.
    let before = instance(&driver).await;
    let mut writer = driver.writer("/blob", false).await.expect("open a writer");
    writer.write(vec![1; 10].into()).await.expect("write");
    drop(writer);
    // The background close may start before or after the next call; either way calls keep
    // working, and once the close has run past its deadline a fresh instance serves them.
    bounded("calls after the drop", async {
        loop {
            let got = driver.get_content("/kept").await;
            assert_eq!(
                got.expect("a call after the drop"),
                "kept content".as_bytes()
            );
            if instance(&driver).await != before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // Closed by the caller: the close itself times out.
    let before = instance(&driver).await;
    let mut writer = driver.writer("/blob", false).await.expect("open a writer");
    writer.write(vec![1; 10].into()).await.expect("write");
    let (closed, _) = bounded("close", writer.close()).await;
    let text = failed("close", closed, &ErrorKind::Timeout);
    assert!(text.contains("deadline"), "{text}");
    drop(writer);
    recovered(&driver, &before).await;
    let missing = driver.get_content("/blob").await;
    assert!(
        matches!(
            missing.as_ref().map_err(|e| e.kind()),
            Err(ErrorKind::PathNotFound { .. })
        ),
        "the upload was committed: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_overflow_is_a_fault() {
    let _shared = SERIAL.read().await;
    let (text, _) = fault_case("stack", ErrorKind::DriverFault, async |d| {
        d.get_content("/hostile").await
    })
    .await;
    assert!(text.contains("trapped"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_is_a_fault() {
    let _shared = SERIAL.read().await;
    let (text, _) = fault_case("panic", ErrorKind::DriverFault, async |d| {
        d.get_content("/hostile").await
    })
    .await;
    assert!(text.contains("trapped"), "{text}");
    // Where it happened: the guest's own functions, past Rust's panic machinery.
    assert!(
        text.contains(
            "trapped (wasm trap: wasm `unreachable` instruction executed) in wharf_guest_hostile::"
        ),
        "{text}"
    );
    // The panic message the guest wrote on stderr, quoted.
    assert!(
        text.contains("its output ended: «guest panicked: ")
            && text.contains("hostile guest: panic on cue"),
        "{text}"
    );
}

/// Measures how far the process's resident memory rises above what it is now while `work`
/// runs: the peak (`VmHWM`, reset first) where the kernel lets it be reset, else what is left
/// afterwards (which glibc mostly keeps anyway).
async fn growth<T>(work: impl Future<Output = T>) -> (T, u64) {
    let before = resident();
    let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let value = work.await;
    let after = if peak_reset {
        let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/self/status");
        kib << 10
    } else {
        resident()
    };
    (value, after.saturating_sub(before))
}

/// The process's resident memory in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages in /proc/self/statm");
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_allocation_is_a_fault_and_host_memory_stays_bounded() {
    let _alone = SERIAL.write().await;
    let (text, busy) = fault_case("grow", ErrorKind::DriverFault, async |d| {
        d.get_content("/hostile").await
    })
    .await;
    assert!(text.contains("memory limit"), "{text}");
    assert!(busy.slowest < DEADLINE, "{busy:?}");

    // Six more rounds, each filling the guest's memory to its limit: if instances (or their
    // memory) were kept, the process would grow by the limit each time.
    let sandbox = Sandbox::new();
    let driver = hostile(&sandbox, &[("mode", "grow")]).await;
    let ((), grown) = growth(async {
        for round in 0..6 {
            let (result, _) = bounded("grow", driver.get_content("/hostile")).await;
            let text = failed(
                &format!("grow round {round}"),
                result,
                &ErrorKind::DriverFault,
            );
            assert!(text.contains("memory limit"), "{text}");
        }
    })
    .await;
    assert!(
        grown < 2 * MEMORY_LIMIT,
        "the host grew by {} MiB over six guest rounds of {} MiB each",
        grown >> 20,
        MEMORY_LIMIT >> 20
    );
    put_kept(&driver).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_side_resources_are_bounded() {
    let _alone = SERIAL.write().await;
    // Header fields need no grant, and what they hold lives in the host, outside the guest's
    // memory limit: the guest makes them until the host says no.
    let sandbox = Sandbox::new();
    let driver = hostile(&sandbox, &[("mode", "grow-host")]).await;
    put_kept(&driver).await;
    let before = instance(&driver).await;
    let ((result, _), grown) = growth(bounded("grow-host", driver.get_content("/hostile"))).await;
    let text = failed("grow-host", result, &ErrorKind::DriverFault);
    assert!(text.contains("no free keys"), "{text}");
    assert!(
        grown < 2 * MEMORY_LIMIT,
        "a guest limited to {} MiB grew the host by {} MiB",
        MEMORY_LIMIT >> 20,
        grown >> 20
    );
    recovered(&driver, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_read_chunk_is_a_fault() {
    let _shared = SERIAL.read().await;
    let (text, _) = fault_case("oversized-read", ErrorKind::DriverFault, async |d| {
        let stream = d.reader("/hostile", 0).await?;
        wharf::stream::collect(stream).await
    })
    .await;
    assert!(text.contains("chunk"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_list_is_a_fault() {
    let _shared = SERIAL.read().await;
    let (text, _) = fault_case("oversized-list", ErrorKind::DriverFault, async |d| {
        d.list("/hostile").await
    })
    .await;
    assert!(text.contains("not a child"), "{text}");
    // The message quotes the offending name, not all 24 MiB of them.
    assert!(text.len() < 64 << 10, "a {} byte message", text.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_walk_page_is_a_fault() {
    let _shared = SERIAL.read().await;
    let (text, _) = fault_case("oversized-walk", ErrorKind::DriverFault, async |d| {
        walk(d, "/hostile").await
    })
    .await;
    assert!(text.contains("page of"), "{text}");
}

/// Walks `path`, collecting the entries.
async fn walk(driver: &Arc<dyn StorageDriver>, path: &str) -> Result<Vec<FileInfo>> {
    let mut seen = Vec::new();
    driver
        .walk(path, &WalkOptions::default(), &mut |info: &FileInfo| {
            seen.push(info.clone());
            Ok(WalkControl::Continue)
        })
        .await?;
    Ok(seen)
}

/// Each variant of a malformed answer is a `DriverFault`, and the instance is replaced.
async fn malformed(mode: &str, variants: u64) {
    let sandbox = Sandbox::new();
    for variant in 0..variants {
        let v = variant.to_string();
        let driver = hostile(&sandbox, &[("mode", mode), ("variant", &v)]).await;
        put_kept(&driver).await;
        let before = instance(&driver).await;
        let what = format!("{mode} variant {variant}");
        let (result, _) = bounded(&what, async {
            match mode {
                "list-malformed" => driver.list("/hostile").await.map(|l| format!("{l:?}")),
                "stat-malformed" => driver.stat("/hostile").await.map(|i| format!("{i:?}")),
                _ => walk(&driver, "/hostile").await.map(|w| format!("{w:?}")),
            }
        })
        .await;
        let text = failed(&what, result, &ErrorKind::DriverFault);
        assert!(text.contains("broke the contract"), "{what}: {text}");
        recovered(&driver, &before).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_list_answers_are_faults() {
    let _shared = SERIAL.read().await;
    malformed("list-malformed", 9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_stat_answers_are_faults() {
    let _shared = SERIAL.read().await;
    malformed("stat-malformed", 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_walk_pages_are_faults() {
    let _shared = SERIAL.read().await;
    malformed("walk-malformed", 9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_in_the_middle_of_an_upload_commits_nothing() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let driver = hostile(
        &sandbox,
        &[
            ("mode", "trap-writer"),
            ("trigger", "/blob"),
            ("trap_after", "2"),
        ],
    )
    .await;
    put_kept(&driver).await;
    driver
        .put_content("/blob", "old content".into())
        .await
        .expect("put the old content");
    let before = instance(&driver).await;

    let mut writer = driver.writer("/blob", false).await.expect("open a writer");
    writer
        .write(vec![b'a'; 300 << 10].into())
        .await
        .expect("first write");
    writer
        .write(vec![b'b'; 300 << 10].into())
        .await
        .expect("second write");
    let (third, _) = bounded("the trapping write", writer.write(vec![b'c'; 10].into())).await;
    failed("the trapping write", third, &ErrorKind::DriverFault);
    // The writer's instance is gone: it can neither commit nor close there, nor anywhere else.
    let (commit, _) = bounded("commit after the trap", writer.commit()).await;
    let text = failed("commit after the trap", commit, &ErrorKind::DriverFault);
    assert!(text.contains("replaced"), "{text}");
    let (close, _) = bounded("close after the trap", writer.close()).await;
    failed("close after the trap", close, &ErrorKind::DriverFault);
    drop(writer);

    recovered(&driver, &before).await;
    assert_eq!(
        driver.get_content("/blob").await.expect("get /blob"),
        "old content".as_bytes()
    );
    let info = driver.stat("/blob").await.expect("stat /blob");
    assert_eq!(info.size, "old content".len() as u64);
    assert_eq!(
        driver.list("/").await.expect("list /"),
        ["/blob", "/kept"],
        "a staged upload became visible"
    );
    assert_eq!(
        std::fs::read(sandbox.data().join("blob")).expect("the committed file"),
        b"old content",
        "the target file changed on disk"
    );

    // A fresh instance serves uploads elsewhere, whole.
    let mut writer = driver.writer("/other", false).await.expect("open a writer");
    for _ in 0..4 {
        writer.write(vec![b'z'; 1000].into()).await.expect("write");
    }
    writer.commit().await.expect("commit");
    writer.close().await.expect("close");
    assert_eq!(
        driver.get_content("/other").await.expect("get /other"),
        vec![b'z'; 4000]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_size_going_back_is_a_fault() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let driver = hostile(
        &sandbox,
        &[("mode", "shrinking-writer"), ("trigger", "/blob")],
    )
    .await;
    put_kept(&driver).await;
    let before = instance(&driver).await;
    let mut writer = driver.writer("/blob", false).await.expect("open a writer");
    writer
        .write(vec![1; 100].into())
        .await
        .expect("first write");
    let (second, _) = bounded("the shrinking write", writer.write(vec![2; 100].into())).await;
    let text = failed("the shrinking write", second, &ErrorKind::DriverFault);
    assert!(text.contains("went back"), "{text}");
    let (commit, _) = bounded("commit after the fault", writer.commit()).await;
    failed("commit after the fault", commit, &ErrorKind::DriverFault);
    drop(writer);
    recovered(&driver, &before).await;
    let missing = driver.get_content("/blob").await;
    assert!(
        matches!(
            missing.as_ref().map_err(|e| e.kind()),
            Err(ErrorKind::PathNotFound { .. })
        ),
        "the upload was committed: {missing:?}"
    );
}

/// Every file under `dir` (following nothing) with its content, and every directory.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                stack.push(path.clone());
                out.insert(path, None);
            } else if meta.is_symlink() {
                let target = std::fs::read_link(&path).expect("read_link");
                out.insert(path, Some(target.to_string_lossy().as_bytes().to_vec()));
            } else {
                out.insert(path.clone(), Some(std::fs::read(&path).expect("read")));
            }
        }
    }
    out
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_attempts_stay_inside_the_preopen() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let outside = sandbox.root().join("outside");
    std::fs::create_dir(&outside).expect("create outside");
    let secret = format!("TOP-SECRET-{}", unique("s"));
    std::fs::write(outside.join("secret.txt"), &secret).expect("write the secret");
    let data = sandbox.data();
    std::fs::write(data.join("inside.txt"), "inside").expect("write inside.txt");
    std::os::unix::fs::symlink(outside.join("secret.txt"), data.join("abs-link"))
        .expect("abs-link");
    std::os::unix::fs::symlink("../outside/secret.txt", data.join("rel-link")).expect("rel-link");
    std::os::unix::fs::symlink(&outside, data.join("dir-link")).expect("dir-link");
    std::os::unix::fs::symlink("../outside", data.join("rel-dir-link")).expect("rel-dir-link");
    let outside_before = snapshot(&outside);
    let root_before = names(sandbox.root());

    let outside_text = outside.to_string_lossy().into_owned();
    let driver = hostile(&sandbox, &[("mode", "escape"), ("outside", &outside_text)]).await;
    let before = instance(&driver).await;
    let (report, _) = bounded("the escape attempts", driver.get_content("/hostile")).await;
    let report = String::from_utf8(report.expect("the escape report").to_vec()).expect("utf-8");

    let lines: Vec<&str> = report.lines().collect();
    assert!(lines.len() >= 40, "too few attempts ran:\n{report}");
    let controls = lines.iter().filter(|l| l.starts_with("CONTROL\t")).count();
    assert_eq!(
        controls, 3,
        "the reads inside the preopen (and a link that stays inside) must work:\n{report}"
    );
    for line in &lines {
        assert!(
            ["DENIED\t", "CONTROL\t"]
                .iter()
                .any(|p| line.starts_with(p)),
            "an attempt got out: {line}\n{report}"
        );
    }
    // No link the guest made leads out of its grant: the only links that do are the test's own.
    let placed = ["abs-link", "rel-link", "dir-link", "rel-dir-link"];
    for (path, content) in snapshot(&data) {
        let Ok(target) = std::fs::read_link(&path) else {
            continue;
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if placed.contains(&name) {
            continue;
        }
        assert!(
            target.is_relative()
                && !target
                    .components()
                    .any(|c| c == std::path::Component::ParentDir),
            "the guest made {} -> {} ({content:?})",
            path.display(),
            target.display()
        );
    }
    assert!(!report.contains(&secret), "the secret leaked:\n{report}");
    assert!(!report.contains("root:"), "/etc/passwd leaked:\n{report}");

    assert_eq!(
        snapshot(&outside),
        outside_before,
        "the outside directory changed"
    );
    assert_eq!(
        names(sandbox.root()),
        root_before,
        "something appeared beside the preopen"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).expect("the secret"),
        secret
    );
    // Refusals are errors the guest saw, not traps: the instance lives on.
    assert_eq!(instance(&driver).await, before);

    // The links, reached through the driver's own operations, lead nowhere either.
    for path in [
        "/abs-link",
        "/rel-link",
        "/dir-link/secret.txt",
        "/rel-dir-link/secret.txt",
    ] {
        let (got, _) = bounded(path, driver.get_content(path)).await;
        match got {
            Ok(bytes) => panic!(
                "{path} read {:?} from outside",
                String::from_utf8_lossy(&bytes)
            ),
            Err(e) => {
                assert_ne!(e.kind(), &ErrorKind::DriverFault, "{path}: {e}");
                assert!(!e.to_string().contains(&secret), "{path}: {e}");
            }
        }
    }
    for path in ["/dir-link", "/rel-dir-link"] {
        let (got, _) = bounded(path, driver.list(path)).await;
        assert!(got.is_err(), "{path} listed the outside: {got:?}");
    }
    let (put, _) = bounded(
        "put through a link",
        driver.put_content("/dir-link/x", "x".into()),
    )
    .await;
    assert!(put.is_err(), "a put through dir-link worked");
    assert_eq!(
        snapshot(&outside),
        outside_before,
        "the outside directory changed"
    );
    assert_eq!(instance(&driver).await, before);
}

/// A TCP listener nobody was allowed to reach; says whether anyone connected.
struct Untouched(TcpListener);

impl Untouched {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        Self(listener)
    }

    fn addr(&self) -> String {
        self.0.local_addr().expect("local address").to_string()
    }

    fn assert_untouched(&self) {
        match self.0.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("the guest reached the listener: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_without_a_grant_is_permission_denied() {
    let _shared = SERIAL.read().await;
    let listener = Untouched::new();
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    // A grant for another port of the same host does not open this one.
    p.http_hosts = vec!["127.0.0.1:1".into()];
    let addr = listener.addr();
    let (_registry, driver) = hostile_with(p, &[("mode", "http"), ("authority", &addr)]).await;
    let before = instance(&driver).await;
    let (result, _) = bounded("http", driver.get_content("/hostile")).await;
    let text = failed("http", result, &ErrorKind::PermissionDenied);
    assert!(text.contains("refused by the sandbox"), "{text}");
    // A clean error from the guest, not a trap: the same instance serves the next call.
    assert_eq!(instance(&driver).await, before);
    listener.assert_untouched();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_with_a_grant_reaches_the_granted_host() {
    let _shared = SERIAL.read().await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = [0; 4096];
        let n = stream.read(&mut request).expect("read the request");
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
            .expect("answer");
        String::from_utf8_lossy(&request[..n]).into_owned()
    });
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    p.http_hosts = vec![addr.clone()];
    let (_registry, driver) = hostile_with(p, &[("mode", "http"), ("authority", &addr)]).await;
    let (result, _) = bounded("http", driver.get_content("/hostile")).await;
    let answer = result.unwrap_or_else(|e| panic!("granted HTTP failed: {e}"));
    assert_eq!(answer, "200 hello".as_bytes());
    let request = server.join().expect("the server thread");
    assert!(request.starts_with("GET / HTTP/1.1"), "{request}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_permission_denied() {
    let _shared = SERIAL.read().await;
    let listener = Untouched::new();
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    // Even a host granted for HTTP is not reachable over a raw socket.
    p.http_hosts = vec![listener.addr()];
    let addr = listener.addr();
    let (_registry, driver) = hostile_with(p, &[("mode", "socket"), ("addr", &addr)]).await;
    let before = instance(&driver).await;
    let (result, _) = bounded("socket", driver.get_content("/hostile")).await;
    let text = failed("socket", result, &ErrorKind::PermissionDenied);
    assert!(text.contains("refused by the sandbox"), "{text}");
    assert_eq!(instance(&driver).await, before);
    listener.assert_untouched();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_shows_only_granted_variables() {
    let _shared = SERIAL.read().await;
    assert!(
        std::env::var_os("PATH").is_some(),
        "the host has a PATH to hide"
    );
    let sandbox = Sandbox::new();
    let driver = hostile(&sandbox, &[("mode", "env")]).await;
    let seen = driver.get_content("/hostile").await.expect("env report");
    assert_eq!(
        seen,
        "".as_bytes(),
        "the guest saw variables it was not granted"
    );

    let mut p = policy(Some(&sandbox.data()));
    p.env = vec![("WHARF_GRANTED".into(), "yes".into())];
    let (_registry, driver) = hostile_with(p, &[("mode", "env")]).await;
    let seen = driver.get_content("/hostile").await.expect("env report");
    assert_eq!(seen, "WHARF_GRANTED=yes\n".as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_read_only_directory_grants_fail_cleanly() {
    let _shared = SERIAL.read().await;
    // No directory at all: a clean error, not a trap.
    let (_registry, driver) = hostile_with(policy(None), &[]).await;
    let before = instance(&driver).await;
    let (put, _) = bounded("put without a grant", driver.put_content("/a", "x".into())).await;
    let e = put.expect_err("a put without a directory worked");
    assert_ne!(e.kind(), &ErrorKind::DriverFault, "{e}");
    assert_eq!(instance(&driver).await, before);

    // A read-only grant: reads work, writes are PermissionDenied.
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.data().join("file"), "read me").expect("write");
    let mut p = policy(None);
    p.dirs = vec![DirGrant {
        host: sandbox.data(),
        guest: GUEST_DATA.into(),
        read_only: true,
        quota: None,
    }];
    let (_registry, driver) = hostile_with(p, &[]).await;
    let before = instance(&driver).await;
    assert_eq!(
        driver.get_content("/file").await.expect("read"),
        "read me".as_bytes()
    );
    let (put, _) = bounded(
        "put on a read-only grant",
        driver.put_content("/file", "x".into()),
    )
    .await;
    failed(
        "put on a read-only grant",
        put,
        &ErrorKind::PermissionDenied,
    );
    let (w, _) = bounded("writer on a read-only grant", driver.writer("/new", false)).await;
    failed(
        "writer on a read-only grant",
        w.map(|_| ()),
        &ErrorKind::PermissionDenied,
    );
    assert_eq!(
        std::fs::read(sandbox.data().join("file")).expect("read"),
        b"read me"
    );
    assert_eq!(instance(&driver).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_budget_backs_off_a_crash_loop() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    p.restart_budget = 2;
    p.restart_window = Duration::from_secs(60);
    let (registry, driver) = hostile_with(p, &[("mode", "panic")]).await;
    put_kept(&driver).await;
    // Another driver of the same component has a budget of its own.
    let other_dir = Sandbox::new();
    let others = bystanders(&registry, &other_dir.data()).await;

    let crash_loop = async || {
        for i in 0..3 {
            let (result, _) = bounded("panic", driver.get_content("/hostile")).await;
            let text = failed(&format!("panic {i}"), result, &ErrorKind::DriverFault);
            assert!(text.contains("trapped"), "{text}");
        }
    };
    let refused = async || {
        let (result, _) = bounded("a call during the back-off", driver.get_content("/kept")).await;
        failed(
            "a call during the back-off",
            result,
            &ErrorKind::DriverFault,
        )
    };

    crash_loop().await;
    let text = refused().await;
    assert!(text.contains("no new instance"), "{text}");
    // The others are not held back.
    let ((), busy) = while_busy(&others, async {}).await;
    assert!(busy.slowest < DEADLINE, "{busy:?}");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        driver
            .get_content("/kept")
            .await
            .expect("after the back-off"),
        "kept content".as_bytes()
    );

    // A second crash loop backs off longer (2 s).
    crash_loop().await;
    let text = refused().await;
    assert!(text.contains("no new instance"), "{text}");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    refused().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        driver
            .get_content("/kept")
            .await
            .expect("after the longer back-off"),
        "kept content".as_bytes()
    );
}
