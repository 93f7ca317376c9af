//! Recent deletions made through this process, for drivers whose walk is built on listing pages:
//! a walk can skip what was deleted after it read the page holding it without a request per
//! entry (the contract: a file removed during a walk is skipped; a walk costs one request per
//! page).
//!
//! A driver records each deleted path (or key) and each move source once the backend confirmed
//! the change; every record gets a sequence number. A walk notes the [`DeletionLog::mark`]
//! before each page read and, before emitting an entry from that page, asks whether a deletion
//! recorded since covers it (the entry itself or a directory above it). The log keeps a bounded
//! number of deletions; when a page is older than what the log still holds and no kept record
//! covers the entry, the answer is [`Verdict::Unknown`] and the walk looks the entry up instead.
//! Deletions made by other processes while a walk runs are not seen: a page is a snapshot.
//!
//! Names are compared as `/`-separated paths: `a/b` covers `a/b` and `a/b/c`, not `a/bc`; a
//! name ending in `/` (the root `/`) covers everything below it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

/// Whether an entry was deleted since a mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A deletion recorded since covers the entry: skip it.
    Deleted,
    /// No deletion recorded since covers it: it still exists, as far as this process knows.
    NotDeleted,
    /// The log no longer reaches back that far.
    Unknown,
}

#[derive(Debug, Default)]
struct Log {
    /// The sequence number of the last deletion recorded.
    last: u64,
    /// The highest sequence number dropped from the front.
    dropped: u64,
    entries: VecDeque<(u64, String)>,
}

/// The deletion log of one store (a bucket, a pool's namespace, …). Its `Debug` shows its
/// size, not the names it holds.
pub struct DeletionLog {
    capacity: usize,
    log: Mutex<Log>,
}

static STORES: LazyLock<Mutex<HashMap<String, Weak<DeletionLog>>>> =
    LazyLock::new(Default::default);

impl DeletionLog {
    /// A log of its own that keeps the last `capacity` deletions.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            log: Mutex::new(Log::default()),
        }
    }

    /// The log of the store `id` (name the driver in it, e.g. `s3|<endpoint>|<bucket>`), shared
    /// by every driver instance on that store in this process while one holds it.
    pub fn shared(id: &str, capacity: usize) -> Arc<Self> {
        let mut stores = STORES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = stores.get(id).and_then(Weak::upgrade) {
            return log;
        }
        stores.retain(|_, log| log.strong_count() > 0);
        let log = Arc::new(Self::new(capacity));
        stores.insert(id.to_owned(), Arc::downgrade(&log));
        log
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current point in the log (note it before reading a page).
    pub fn mark(&self) -> u64 {
        self.lock().last
    }

    /// Records that `name` and everything under it were deleted.
    pub fn record(&self, name: impl Into<String>) {
        let mut log = self.lock();
        log.last += 1;
        let seq = log.last;
        log.entries.push_back((seq, name.into()));
        while log.entries.len() > self.capacity {
            if let Some((seq, _)) = log.entries.pop_front() {
                log.dropped = seq;
            }
        }
    }

    /// Whether `name` was deleted (itself or under a deleted directory) after the mark `since`.
    pub fn since(&self, since: u64, name: &str) -> Verdict {
        let log = self.lock();
        let covered = log
            .entries
            .iter()
            .rev()
            .take_while(|(seq, _)| *seq > since)
            .any(|(_, gone)| covers(gone, name));
        if covered {
            Verdict::Deleted
        } else if log.dropped > since {
            Verdict::Unknown
        } else {
            Verdict::NotDeleted
        }
    }
}

impl std::fmt::Debug for DeletionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let log = self.lock();
        f.debug_struct("DeletionLog")
            .field("capacity", &self.capacity)
            .field("kept", &log.entries.len())
            .field("last", &log.last)
            .finish()
    }
}

/// Whether deleting `gone` deleted `name`.
fn covers(gone: &str, name: &str) -> bool {
    name == gone
        || (name.len() > gone.len()
            && name.starts_with(gone)
            && (gone.ends_with('/') || name.as_bytes()[gone.len()] == b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletions_after_a_mark_cover_names_and_subtrees() {
        let log = DeletionLog::new(16);
        log.record("/old");
        let mark = log.mark();
        log.record("/a");
        log.record("/b/c");
        assert_eq!(log.since(mark, "/a"), Verdict::Deleted);
        assert_eq!(log.since(mark, "/a/x"), Verdict::Deleted);
        assert_eq!(log.since(mark, "/ab"), Verdict::NotDeleted);
        assert_eq!(log.since(mark, "/b"), Verdict::NotDeleted);
        assert_eq!(log.since(mark, "/b/c"), Verdict::Deleted);
        assert_eq!(log.since(mark, "/old"), Verdict::NotDeleted);
        assert_eq!(log.since(0, "/old"), Verdict::Deleted);
        // Keys without a leading slash, as object stores name them.
        log.record("r/k");
        assert_eq!(log.since(mark, "r/k/x"), Verdict::Deleted);
        assert_eq!(log.since(mark, "r/kx"), Verdict::NotDeleted);
        // The root covers everything under it.
        let mark = log.mark();
        log.record("/");
        assert_eq!(log.since(mark, "/any/thing"), Verdict::Deleted);
    }

    #[test]
    fn an_overflowed_log_says_unknown_unless_a_kept_record_covers_the_name() {
        let log = DeletionLog::new(8);
        let mark = log.mark();
        for i in 0..=8 {
            log.record(format!("/f{i}"));
        }
        assert_eq!(log.since(mark, "/x"), Verdict::Unknown);
        assert_eq!(log.since(mark, "/f8"), Verdict::Deleted);
        assert_eq!(log.since(log.mark(), "/x"), Verdict::NotDeleted);
    }

    #[test]
    fn stores_share_a_log_by_id() {
        let a = DeletionLog::shared("test|store-a", 8);
        let b = DeletionLog::shared("test|store-a", 8);
        let other = DeletionLog::shared("test|store-b", 8);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &other));
    }
}
