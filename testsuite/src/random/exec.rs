//! Running calls on the driver under test and recording what came back, in a form the model can
//! judge and a mismatch can print. The calls of a batch run as separate tasks, so they really
//! overlap on a multi-thread runtime.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wharf_runtime::{Error, ErrorKind, FileInfo, FileWriter, StorageDriver, WalkControl};

use super::ops::{Call, Instance, Op, WalkEnd};

/// How long one call may take before the run counts it as hung (a guard, far above any
/// backend's normal latency, so a hung driver fails the run instead of blocking it).
pub(crate) const CALL_LIMIT: Duration = Duration::from_secs(120);

/// The text of the error a hung call gets.
pub(crate) const HUNG: &str = "no answer within the random run's limit of 120 s";

/// Runs one driver call under [`CALL_LIMIT`].
pub(crate) async fn limited<T>(
    call: impl Future<Output = wharf_runtime::Result<T>>,
) -> wharf_runtime::Result<T> {
    match tokio::time::timeout(CALL_LIMIT, call).await {
        Ok(result) => result,
        Err(_) => Err(Error::new(ErrorKind::Timeout).with_detail(HUNG)),
    }
}

/// How long a redirect URL is asked to stay valid.
const REDIRECT_EXPIRY: Duration = Duration::from_secs(20 * 60);

/// The error a walk's visitor returns for `fail=PATH`: the walk must return it unchanged.
pub(crate) fn visitor_error() -> Error {
    Error::unsupported("the random run's visitor failing on purpose")
}

/// An error as the model compares it: its kind (never its message), and the text for humans.
#[derive(Debug, Clone)]
pub(crate) struct Failed {
    pub(crate) kind: ErrorKind,
    pub(crate) text: String,
}

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        Self {
            kind: e.kind().clone(),
            text: format!("{e:#}"),
        }
    }
}

/// What a call returned when it succeeded.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// `put_content`, `move`, `delete`, `cancel`.
    Done,
    /// `get_content`, or a reader read to its end.
    Content(Bytes),
    /// `stat`.
    Info(FileInfo),
    /// `list`.
    Children(Vec<String>),
    /// `walk`: the entries the visitor saw and the walk's own result.
    Walked {
        entries: Vec<FileInfo>,
        error: Option<Failed>,
    },
    /// `redirect_url`.
    Url(Option<String>),
    /// `writer`, `write`, `close`: the writer's `size()` afterwards.
    Size(u64),
    /// `commit` then `close`: `size()` after each.
    Committed(u64, u64),
}

/// What a call returned.
pub(crate) type Outcome = Result<Answer, Failed>;

/// Writers open during a replay, by their number in the sequence.
pub(crate) type Writers = HashMap<u32, Box<dyn FileWriter>>;

/// The two instances of the fixture.
#[derive(Clone)]
pub(crate) struct Drivers {
    pub(crate) first: Arc<dyn StorageDriver>,
    pub(crate) second: Arc<dyn StorageDriver>,
}

impl Drivers {
    fn on(&self, instance: Instance) -> Arc<dyn StorageDriver> {
        match instance {
            Instance::First => self.first.clone(),
            Instance::Second => self.second.clone(),
        }
    }
}

/// Runs the calls of one step (together, when there are several) and returns their outcomes in
/// order. Writers opened are added to `writers`; writers finished are dropped from it.
pub(crate) async fn run_calls(
    drivers: &Drivers,
    writers: &mut Writers,
    calls: &[Call],
) -> Vec<Outcome> {
    let mut tasks = Vec::with_capacity(calls.len());
    for call in calls {
        let writer = match &call.op {
            Op::OpenWriter { .. } => None,
            op => op.writer().and_then(|w| writers.remove(&w)),
        };
        let driver = drivers.on(call.on);
        let op = call.op.clone();
        let run = async move {
            match tokio::time::timeout(CALL_LIMIT, run_op(driver, writer, op)).await {
                Ok(done) => done,
                Err(_) => (
                    Err(Failed {
                        kind: ErrorKind::Timeout,
                        text: HUNG.into(),
                    }),
                    None,
                ),
            }
        };
        if calls.len() == 1 {
            // One call runs in place: no task to spawn, and a panic reaches the caller as is.
            let (outcome, writer) = run.await;
            keep(writers, &call.op, writer);
            return vec![outcome];
        }
        tasks.push(tokio::spawn(run));
    }
    let mut outcomes = Vec::with_capacity(calls.len());
    for (call, task) in calls.iter().zip(tasks) {
        let (outcome, writer) = match task.await {
            Ok(done) => done,
            Err(e) => (
                Err(Failed {
                    kind: ErrorKind::Backend { temporary: false },
                    text: format!("the call panicked: {e}"),
                }),
                None,
            ),
        };
        keep(writers, &call.op, writer);
        outcomes.push(outcome);
    }
    outcomes
}

fn keep(writers: &mut Writers, op: &Op, writer: Option<Box<dyn FileWriter>>) {
    if let (Some(w), Some(number)) = (writer, op.writer()) {
        writers.insert(number, w);
    }
}

/// Runs one operation; returns the writer to keep open, if any.
async fn run_op(
    driver: Arc<dyn StorageDriver>,
    writer: Option<Box<dyn FileWriter>>,
    op: Op,
) -> (Outcome, Option<Box<dyn FileWriter>>) {
    let d = driver.as_ref();
    let outcome = match op {
        Op::PutContent { path, content } => d
            .put_content(&path, content.bytes())
            .await
            .map(|()| Answer::Done),
        Op::GetContent { path } => d.get_content(&path).await.map(Answer::Content),
        Op::Read { path, offset } => match d.reader(&path, offset).await {
            Ok(stream) => wharf_runtime::stream::collect(stream)
                .await
                .map(Answer::Content),
            Err(e) => Err(e),
        },
        Op::Stat { path } => d.stat(&path).await.map(Answer::Info),
        Op::List { path } => d.list(&path).await.map(Answer::Children),
        Op::Walk {
            path,
            start_after,
            skip,
            end,
        } => {
            let options = wharf_runtime::WalkOptions { start_after };
            let mut entries = Vec::new();
            let result = d
                .walk(&path, &options, &mut |info: &FileInfo| {
                    entries.push(info.clone());
                    match &end {
                        Some(WalkEnd { at, fail: true }) if *at == info.path => {
                            Err(visitor_error())
                        }
                        Some(WalkEnd { at, fail: false }) if *at == info.path => {
                            Ok(WalkControl::Stop)
                        }
                        _ if skip.contains(&info.path) => Ok(WalkControl::SkipDir),
                        _ => Ok(WalkControl::Continue),
                    }
                })
                .await;
            Ok(Answer::Walked {
                entries,
                error: result.err().map(Failed::from),
            })
        }
        Op::Move { source, dest } => d.rename(&source, &dest).await.map(|()| Answer::Done),
        Op::Delete { path } => d.delete(&path).await.map(|()| Answer::Done),
        Op::RedirectUrl { method, path } => d
            .redirect_url(method, &path, REDIRECT_EXPIRY)
            .await
            .map(Answer::Url),
        Op::OpenWriter { path, append, .. } => match d.writer(&path, append).await {
            Ok(w) => return (Ok(Answer::Size(w.size())), Some(w)),
            Err(e) => Err(e),
        },
        Op::Write { content, .. } => {
            let Some(mut w) = writer else {
                return (no_writer(), None);
            };
            return match w.write(content.bytes()).await {
                Ok(()) => (Ok(Answer::Size(w.size())), Some(w)),
                Err(e) => (Err(e.into()), Some(w)),
            };
        }
        Op::Commit { .. } => {
            let Some(mut w) = writer else {
                return (no_writer(), None);
            };
            match w.commit().await {
                Ok(()) => {
                    let after_commit = w.size();
                    w.close()
                        .await
                        .map(|()| Answer::Committed(after_commit, w.size()))
                }
                Err(e) => Err(e),
            }
        }
        Op::Close { .. } => {
            let Some(mut w) = writer else {
                return (no_writer(), None);
            };
            w.close().await.map(|()| Answer::Size(w.size()))
        }
        Op::Cancel { .. } => {
            let Some(mut w) = writer else {
                return (no_writer(), None);
            };
            w.cancel().await.map(|()| Answer::Done)
        }
    };
    (outcome.map_err(Failed::from), None)
}

/// A writer operation whose writer the driver never opened (the model only lets it run when
/// the opening succeeded, so this is a runner bug, reported rather than panicked on).
fn no_writer() -> Outcome {
    Err(Failed {
        kind: ErrorKind::WriterState,
        text: "the random run holds no such writer".into(),
    })
}

/// Ends every writer still open (cancel, then drop), ignoring failures: the run is over.
pub(crate) async fn cancel_all(writers: &mut Writers) {
    for (_, mut w) in writers.drain() {
        let _ = tokio::time::timeout(CALL_LIMIT, w.cancel()).await;
    }
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {:?} (\"{}\")", self.kind, self.text)
    }
}

/// A file or directory entry, as outcomes print them.
pub(crate) struct Entry<'a>(pub(crate) &'a FileInfo);

impl fmt::Display for Entry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_dir {
            write!(f, "{} (dir)", self.0.path)
        } else {
            write!(f, "{} ({} B)", self.0.path, self.0.size)
        }
    }
}

/// Writes a list of displayable items as `[a, b, …]`, cut after 20.
pub(crate) fn write_list<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl ExactSizeIterator<Item = T>,
) -> fmt::Result {
    let n = items.len();
    f.write_str("[")?;
    for (i, item) in items.enumerate().take(20) {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    if n > 20 {
        write!(f, ", … {} more", n - 20)?;
    }
    f.write_str("]")
}

/// An outcome as a mismatch prints it.
pub(crate) struct Shown<'a>(pub(crate) &'a Outcome);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Err(e) => e.fmt(f),
            Ok(Answer::Done) => f.write_str("ok"),
            Ok(Answer::Content(b)) => write!(f, "{} bytes", b.len()),
            Ok(Answer::Info(info)) => {
                write!(f, "{}", Entry(info))?;
                if info.is_dir && info.size != 0 {
                    write!(f, " of size {}", info.size)?;
                }
                Ok(())
            }
            Ok(Answer::Children(children)) => write_list(f, children.iter()),
            Ok(Answer::Walked { entries, error }) => {
                f.write_str("visited ")?;
                write_list(f, entries.iter().map(Entry))?;
                match error {
                    Some(e) => write!(f, ", then {e}"),
                    None => f.write_str(", then ok"),
                }
            }
            Ok(Answer::Url(None)) => f.write_str("no URL"),
            Ok(Answer::Url(Some(url))) => write!(f, "URL {url}"),
            Ok(Answer::Size(n)) => write!(f, "ok, size() = {n}"),
            Ok(Answer::Committed(a, b)) => {
                write!(f, "ok, size() = {a} after commit, {b} after close")
            }
        }
    }
}
