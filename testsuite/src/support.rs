//! What every check shares: the failure type, assertion macros, matching of expected errors
//! (which must also name the driver), comparing and streaming position-dependent data, random
//! paths, cleanup, and the final "no files left" verification.

use std::fmt::{self, Display};
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use wharf_runtime::{
    ByteStream, Error, ErrorKind, FileInfo, FileWriter, StorageDriver, WalkControl, WalkOptions,
};

use crate::data;

/// Why a check failed: a message for a human, saying what was done and what was seen.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckError {
    message: String,
}

impl CheckError {
    /// A failure with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The failure message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Puts what was being done in front of the message.
    pub fn context(self, what: impl Display) -> Self {
        Self::new(format!("{what}: {}", self.message))
    }
}

impl Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

// Debug shows the bare message so that `unwrap()` on a result in a test reads well.
impl fmt::Debug for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CheckError {}

impl From<Error> for CheckError {
    fn from(e: Error) -> Self {
        Self::new(format!("unexpected error: {e:#}"))
    }
}

/// The outcome of a check.
pub type CheckResult = Result<(), CheckError>;

/// Turns a driver error into a failure that says which call failed.
pub(crate) trait Context<T> {
    /// `Err(e)` becomes a failure "`what` failed: `e`".
    fn context(self, what: impl Display) -> Result<T, CheckError>;
}

impl<T> Context<T> for wharf_runtime::Result<T> {
    fn context(self, what: impl Display) -> Result<T, CheckError> {
        self.map_err(|e| CheckError::new(format!("{what} failed: {e:#}")))
    }
}

/// Returns a failure built like `format!`.
macro_rules! fail {
    ($($arg:tt)+) => {
        return Err($crate::support::CheckError::new(format!($($arg)+)))
    };
}

/// Fails with the message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::support::fail!($($arg)+);
        }
    };
}

/// Fails unless `got == want`, showing both (use [`ensure_bytes`] for file content).
macro_rules! ensure_eq {
    ($got:expr, $want:expr, $($arg:tt)+) => {
        match (&$got, &$want) {
            (got, want) => {
                if got != want {
                    $crate::support::fail!(
                        "{}: got {:?}, expected {:?}",
                        format_args!($($arg)+),
                        got,
                        want
                    );
                }
            }
        }
    };
}

pub(crate) use {ensure, ensure_eq, fail};

/// Checks that an error names the driver that produced it (CONTRACT §2), both as
/// [`Error::driver`] and in its message.
pub(crate) fn ensure_named(
    err: &Error,
    driver: &dyn StorageDriver,
    what: impl Display,
) -> CheckResult {
    let name = driver.name();
    ensure!(
        err.driver() == Some(name),
        "{what}: error \"{err}\" carries driver {:?}, expected {name:?}",
        err.driver()
    );
    ensure!(
        err.to_string().contains(name),
        "{what}: error message \"{err}\" does not name the driver {name:?}"
    );
    Ok(())
}

/// Expects `result` to be an error whose kind satisfies `matches` (described by `expected`) and
/// that names the driver; returns the error for further checks.
pub(crate) fn expect_error<T>(
    result: wharf_runtime::Result<T>,
    driver: &dyn StorageDriver,
    what: impl Display,
    expected: &str,
    matches: impl FnOnce(&ErrorKind) -> bool,
) -> Result<Error, CheckError> {
    let err = match result {
        Ok(_) => fail!("{what}: succeeded, expected {expected}"),
        Err(e) => e,
    };
    ensure!(
        matches(err.kind()),
        "{what}: failed with \"{err:#}\" (kind {:?}), expected {expected}",
        err.kind()
    );
    ensure_named(&err, driver, &what)?;
    Ok(err)
}

/// Expects `PathNotFound` (for any path: the contract allows naming a missing parent).
pub(crate) fn expect_not_found<T>(
    result: wharf_runtime::Result<T>,
    driver: &dyn StorageDriver,
    what: impl Display,
) -> CheckResult {
    expect_error(result, driver, what, "PathNotFound", |k| {
        matches!(k, ErrorKind::PathNotFound { .. })
    })
    .map(drop)
}

/// Expects `PathNotFound` naming exactly `path`.
pub(crate) fn expect_not_found_at<T>(
    result: wharf_runtime::Result<T>,
    driver: &dyn StorageDriver,
    what: impl Display,
    path: &str,
) -> CheckResult {
    let expected = format!("PathNotFound {{ path: {path:?} }}");
    expect_error(
        result,
        driver,
        what,
        &expected,
        |k| matches!(k, ErrorKind::PathNotFound { path: p } if p == path),
    )
    .map(drop)
}

/// Expects `InvalidPath` naming exactly `path`.
pub(crate) fn expect_invalid_path<T>(
    result: wharf_runtime::Result<T>,
    driver: &dyn StorageDriver,
    what: impl Display,
    path: &str,
) -> CheckResult {
    let expected = format!("InvalidPath {{ path: {path:?} }}");
    expect_error(
        result,
        driver,
        what,
        &expected,
        |k| matches!(k, ErrorKind::InvalidPath { path: p } if p == path),
    )
    .map(drop)
}

/// Expects `InvalidOffset` naming exactly `path` and `offset`.
pub(crate) fn expect_invalid_offset<T>(
    result: wharf_runtime::Result<T>,
    driver: &dyn StorageDriver,
    what: impl Display,
    path: &str,
    offset: u64,
) -> CheckResult {
    let expected = format!("InvalidOffset {{ path: {path:?}, offset: {offset} }}");
    expect_error(result, driver, what, &expected, |k| {
        matches!(k, ErrorKind::InvalidOffset { path: p, offset: o } if p == path && *o == offset)
    })
    .map(drop)
}

/// Expects a `WriterState` error whose message names the state (`state` is a word such as
/// "closed", "committed" or "cancel").
pub(crate) fn expect_writer_state<T>(
    result: wharf_runtime::Result<T>,
    driver: &dyn StorageDriver,
    what: impl Display,
    state: &str,
) -> CheckResult {
    let err = expect_error(result, driver, &what, "WriterState", |k| {
        matches!(k, ErrorKind::WriterState)
    })?;
    ensure!(
        err.to_string().contains(state),
        "{what}: writer-state error \"{err}\" does not name the state ({state:?})"
    );
    Ok(())
}

/// Compares file content, reporting lengths and the first differing offset instead of dumping
/// megabytes.
pub(crate) fn ensure_bytes(got: &[u8], want: &[u8], what: impl Display) -> CheckResult {
    if got == want {
        return Ok(());
    }
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(i) => fail!(
            "{what}: content differs at offset {i} (got 0x{:02x}, expected 0x{:02x}); got {} bytes, expected {}",
            got[i],
            want[i],
            got.len(),
            want.len()
        ),
        None => fail!(
            "{what}: got {} bytes, expected {} (the shorter is a prefix of the longer)",
            got.len(),
            want.len()
        ),
    }
}

/// Compares `got` with the position-dependent stream for `seed` at `offset..offset + len`.
pub(crate) fn ensure_data(
    got: &[u8],
    seed: u64,
    offset: u64,
    len: u64,
    what: impl Display,
) -> CheckResult {
    if let Some(i) = data::mismatch(seed, offset, &got[..got.len().min(len as usize)]) {
        fail!(
            "{what}: content differs at file offset {} (got 0x{:02x}, expected 0x{:02x})",
            offset + i as u64,
            got[i],
            data::byte_at(seed, offset + i as u64)
        );
    }
    ensure!(
        got.len() as u64 == len,
        "{what}: got {} bytes, expected {len}",
        got.len()
    );
    Ok(())
}

/// Reads a reader stream to its end.
pub(crate) async fn read_all(stream: ByteStream, what: &str) -> Result<Bytes, CheckError> {
    wharf_runtime::stream::collect(stream).await.context(what)
}

/// Reads a stream to its end, checking each chunk as it arrives against the stream for `seed`
/// at `offset..offset + len` (nothing is kept in memory). Returns the SHA-256 of what was read
/// when `hash` is set.
pub(crate) async fn verify_stream(
    mut stream: ByteStream,
    seed: u64,
    offset: u64,
    len: u64,
    hash: bool,
    what: &str,
) -> Result<Option<[u8; 32]>, CheckError> {
    let mut hasher = hash.then(Sha256::new);
    let mut pos = offset;
    let end = offset + len;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.context(format_args!("{what}: reading at file offset {pos}"))?;
        let n = chunk.len() as u64;
        ensure!(
            pos + n <= end,
            "{what}: stream runs past the end: got a chunk of {n} bytes at file offset {pos}, \
             the file ends at {end}"
        );
        if let Some(i) = data::mismatch(seed, pos, &chunk) {
            fail!(
                "{what}: content differs at file offset {} (got 0x{:02x}, expected 0x{:02x})",
                pos + i as u64,
                chunk[i],
                data::byte_at(seed, pos + i as u64)
            );
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        pos += n;
    }
    ensure!(
        pos == end,
        "{what}: stream ended after {} bytes, expected {len}",
        pos - offset
    );
    Ok(hasher.map(|h| h.finalize().into()))
}

/// Writes `data` in pieces of at most `piece` bytes.
pub(crate) async fn write_all(
    writer: &mut dyn FileWriter,
    data: &Bytes,
    piece: usize,
    what: &str,
) -> CheckResult {
    for start in (0..data.len()).step_by(piece.max(1)) {
        let end = (start + piece).min(data.len());
        writer
            .write(data.slice(start..end))
            .await
            .context(format_args!("{what}: write of bytes {start}..{end}"))?;
    }
    Ok(())
}

/// Writes the stream for `seed` at `offset..offset + len` in pieces of `piece` bytes, feeding
/// `hasher` as it goes. `offset` is also the number of bytes the upload held before, so
/// `size()` is checked never to run ahead of `offset` plus what was written.
pub(crate) async fn write_data(
    writer: &mut dyn FileWriter,
    seed: u64,
    offset: u64,
    len: u64,
    piece: usize,
    mut hasher: Option<&mut Sha256>,
    what: &str,
) -> CheckResult {
    let mut pos = offset;
    for chunk in data::chunks(seed, offset, len, piece) {
        if let Some(h) = hasher.as_deref_mut() {
            h.update(&chunk);
        }
        let n = chunk.len() as u64;
        writer
            .write(chunk)
            .await
            .context(format_args!("{what}: write at file offset {pos}"))?;
        ensure!(
            writer.size() <= pos + n,
            "{what}: size() is {} when only {} bytes were written: it may lag, never run ahead",
            writer.size(),
            pos + n
        );
        pos += n;
    }
    Ok(())
}

/// Commits then closes a writer, checking that `size()` is exactly `size` after each.
pub(crate) async fn commit_and_close(
    writer: &mut dyn FileWriter,
    size: u64,
    what: &str,
) -> CheckResult {
    writer
        .commit()
        .await
        .context(format_args!("{what}: commit"))?;
    ensure_eq!(writer.size(), size, "{what}: size() after commit");
    writer
        .close()
        .await
        .context(format_args!("{what}: close after commit"))?;
    ensure_eq!(writer.size(), size, "{what}: size() after close");
    Ok(())
}

/// Waits for every task (all of them, even after a failure, so none outlives the check) and
/// returns the first failure, naming the task.
pub(crate) async fn join_tasks(
    tasks: Vec<tokio::task::JoinHandle<CheckResult>>,
    what: &str,
) -> CheckResult {
    let mut outcome = Ok(());
    for (i, task) in tasks.into_iter().enumerate() {
        let result = match task.await {
            Ok(r) => r.map_err(|e| e.context(format_args!("{what} #{i}"))),
            Err(e) => Err(CheckError::new(format!(
                "{what} #{i} panicked or was cancelled: {e}"
            ))),
        };
        outcome = outcome.and(result);
    }
    outcome
}

/// Deletes `path`; a missing path is fine (it may never have been created).
pub(crate) async fn remove(driver: &dyn StorageDriver, path: &str) -> CheckResult {
    match driver.delete(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => fail!("cleanup: delete({path}) failed: {e}"),
    }
}

/// Runs `body`, then deletes every path in `roots` whether it passed or not; the body's failure
/// wins over a cleanup failure.
pub(crate) async fn with_cleanup(
    driver: &dyn StorageDriver,
    roots: &[&str],
    body: impl Future<Output = CheckResult>,
) -> CheckResult {
    let outcome = body.await;
    let mut cleanup = Ok(());
    for root in roots {
        if let Err(e) = remove(driver, root).await {
            cleanup = cleanup.and(Err(e));
        }
    }
    outcome.and(cleanup)
}

const NAME_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const SEPARATORS: &[u8] = b"._-";

/// A random valid path component of `len` characters: letters and digits with an occasional
/// `.`, `_` or `-` inside (never first, so never `.` or `..`).
pub(crate) fn random_name(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut name = String::with_capacity(len);
    let mut after_separator = true;
    for i in 0..len.max(1) {
        if !after_separator && i + 1 < len && rng.random_ratio(1, 4) {
            name.push(SEPARATORS[rng.random_range(0..SEPARATORS.len())] as char);
            after_separator = true;
        } else {
            name.push(NAME_CHARS[rng.random_range(0..NAME_CHARS.len())] as char);
            after_separator = false;
        }
    }
    name
}

/// A random valid path of about `len` characters: a first component of 10 to 13 characters (so
/// that two random paths almost never share it), then components of random lengths.
pub(crate) fn random_path(len: usize) -> String {
    use rand::Rng;
    let first = rand::rng().random_range(10..14);
    let mut path = format!("/{}", random_name(first));
    while path.len() + 2 <= len {
        let room = len - path.len() - 1;
        let n = rand::rng().random_range(1..=room);
        path.push('/');
        path.push_str(&random_name(n));
    }
    path
}

/// A random single-component path (`/` and 12 characters), for a check's own directory.
pub(crate) fn random_root() -> String {
    format!("/{}", random_name(12))
}

/// The first component of a path as a path (`/a/b/c` → `/a`): what a check deletes to clean up.
pub(crate) fn first_part(path: &str) -> &str {
    match path[1..].find('/') {
        Some(i) => &path[..i + 1],
        None => path,
    }
}

/// Walks `path` (optionally resuming after `start_after`), recording every entry the visitor
/// sees; `control` decides the visitor's answer. Returns the entries and the walk's result.
pub(crate) async fn walk_entries(
    driver: &dyn StorageDriver,
    path: &str,
    start_after: Option<&str>,
    mut control: impl FnMut(&FileInfo) -> wharf_runtime::Result<WalkControl> + Send,
) -> (Vec<FileInfo>, wharf_runtime::Result<()>) {
    let options = WalkOptions {
        start_after: start_after.map(str::to_owned),
    };
    let mut seen = Vec::new();
    let result = driver
        .walk(path, &options, &mut |info: &FileInfo| {
            seen.push(info.clone());
            control(info)
        })
        .await;
    (seen, result)
}

/// The paths of `entries`, for messages and comparisons.
pub(crate) fn paths(entries: &[FileInfo]) -> Vec<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}

/// Fails if any file remains anywhere under `/` (empty directories may remain: whether an
/// emptied directory persists is driver-defined).
pub(crate) async fn assert_no_files(driver: &dyn StorageDriver) -> CheckResult {
    let (entries, result) = walk_entries(driver, "/", None, |_| Ok(WalkControl::Continue)).await;
    result.context("after the check, walk(\"/\") to find leftover files")?;
    let files: Vec<&str> = entries
        .iter()
        .filter(|e| !e.is_dir)
        .map(|e| e.path.as_str())
        .collect();
    ensure!(
        files.is_empty(),
        "the check left {} file(s) behind: {:?}",
        files.len(),
        &files[..files.len().min(10)]
    );
    Ok(())
}

/// Runs `fut` to completion from inside synchronous code running on the runtime (a walk
/// visitor), giving up after `limit`. On a multi-thread runtime `fut` runs as a task of its own
/// while the current thread waits aside (`block_in_place`); elsewhere it runs on a helper
/// thread with its own runtime.
///
/// The task is spawned rather than driven here by `Handle::block_on`: a nested `block_on`
/// parks on the same thread-local parker as a `Runtime::block_on` further up the stack (a
/// `#[tokio::test]` body), can take the wake-ups meant for it, and leaves the caller's other
/// futures asleep for good.
pub(crate) fn block_on_in_visitor<T: Send + 'static>(
    fut: impl Future<Output = T> + Send + 'static,
    limit: Duration,
) -> Option<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            let (tx, rx) = std::sync::mpsc::channel();
            let task = handle.spawn(async move {
                let _ = tx.send(fut.await);
            });
            let outcome = tokio::task::block_in_place(|| rx.recv_timeout(limit).ok());
            task.abort();
            outcome
        }
        _ => {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ = tx.send(rt.block_on(fut));
                }
            });
            rx.recv_timeout(limit).ok()
        }
    }
}

/// Runs the future `make` builds in `Runtime::block_on` on a multi-thread runtime (two workers)
/// of its own, on a thread of its own, and returns its output; `None` when it has not finished
/// after `limit`. For tests of lost wake-ups: a future that sleeps for good fails the test
/// instead of hanging it (the thread is left behind).
pub fn block_on_within<T, F>(
    limit: Duration,
    make: impl FnOnce() -> F + Send + 'static,
) -> Option<T>
where
    T: Send + 'static,
    F: Future<Output = T>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let _ = tx.send(runtime.block_on(make()));
    });
    rx.recv_timeout(limit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A future waiting beside a visitor's blocking call is still woken: the call must not run
    /// in a `block_on` nested in the test's own `block_on`, which would take the wake-up of
    /// the timer below and leave the join asleep for good. The runtime runs on a thread of its
    /// own ([`block_on_within`]) so that a lost wake-up fails the test instead of hanging it.
    #[test]
    fn a_visitor_call_loses_no_wake_up_of_its_neighbours() {
        let outcome = block_on_within(Duration::from_secs(20), || async {
            let neighbour = tokio::time::sleep(Duration::from_millis(20));
            let visitor = async {
                block_on_in_visitor(
                    tokio::time::sleep(Duration::from_millis(300)),
                    Duration::from_secs(5),
                )
            };
            tokio::join!(neighbour, visitor).1
        });
        assert!(
            matches!(outcome, Some(Some(()))),
            "the join beside a visitor's call never finished: {outcome:?}"
        );
    }

    #[test]
    fn random_paths_are_valid() {
        for len in [1, 2, 5, 16, 32, 64] {
            for _ in 0..200 {
                let p = random_path(len);
                assert!(wharf_runtime::path::is_valid(&p), "{p:?}");
                assert!(wharf_runtime::path::is_valid(first_part(&p)), "{p:?}");
                assert!(p.starts_with(first_part(&p)));
            }
        }
        assert_eq!(first_part("/a/b/c"), "/a");
        assert_eq!(first_part("/abc"), "/abc");
    }

    #[test]
    fn byte_comparison_points_at_the_difference() {
        assert!(ensure_bytes(b"abc", b"abc", "x").is_ok());
        let e = ensure_bytes(b"abd", b"abc", "x").unwrap_err();
        assert!(e.message().contains("offset 2"), "{e}");
        let e = ensure_bytes(b"ab", b"abc", "x").unwrap_err();
        assert!(e.message().contains("got 2 bytes, expected 3"), "{e}");
        let d = data::bytes(9, 5, 100);
        assert!(ensure_data(&d, 9, 5, 100, "x").is_ok());
        assert!(ensure_data(&d, 9, 5, 101, "x").is_err());
        assert!(ensure_data(&d, 9, 6, 100, "x").is_err());
    }

    #[test]
    fn macros_fail_with_the_message() {
        fn check(n: u32) -> CheckResult {
            ensure!(n > 1, "n is {n}");
            ensure_eq!(n, 3, "n");
            Ok(())
        }
        assert!(check(3).is_ok());
        assert_eq!(check(1).unwrap_err().message(), "n is 1");
        assert_eq!(check(2).unwrap_err().message(), "n: got 2, expected 3");
    }
}
