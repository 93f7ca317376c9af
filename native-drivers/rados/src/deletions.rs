//! Recent deletions made through this process, per pool and namespace, so that a walk can skip
//! what was deleted after it read the page holding it, without a request per entry (the
//! contract: a file removed during a walk is skipped; a walk costs one request per page).
//!
//! `delete` records the deleted path and `move` its source, once the cluster confirmed the
//! change, each with a sequence number. A walk notes the sequence before each page read and,
//! before emitting an entry from that page, asks whether a deletion recorded since covers it.
//! The log keeps the last [`CAPACITY`] deletions; when a page is older than what the log still
//! holds, the answer is [`Verdict::Unknown`] and the walk looks the entry up instead. Deletions
//! made by other processes while a walk runs are not seen: a page is a snapshot.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use wharf_runtime::path::is_ancestor;

/// Deletions kept per store.
pub(crate) const CAPACITY: usize = 4096;

/// Whether an entry was deleted since a point in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Deleted,
    NotDeleted,
    /// The log no longer reaches back that far.
    Unknown,
}

#[derive(Debug, Default)]
struct Log {
    last: u64,
    /// The highest sequence number dropped from the front.
    dropped: u64,
    entries: VecDeque<(u64, String)>,
}

/// The deletion log of one pool and namespace, shared by the driver instances on it in this
/// process.
#[derive(Debug, Default)]
pub(crate) struct Deletions {
    log: Mutex<Log>,
}

static STORES: LazyLock<Mutex<HashMap<String, Weak<Deletions>>>> = LazyLock::new(Default::default);

impl Deletions {
    /// The log of the namespace `namespace` of pool `pool` in the cluster `fsid`.
    pub(crate) fn for_store(fsid: &str, pool: i64, namespace: &str) -> Arc<Self> {
        let id = format!("{fsid}/{pool}/{namespace}");
        let mut stores = STORES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = stores.get(&id).and_then(Weak::upgrade) {
            return log;
        }
        stores.retain(|_, log| log.strong_count() > 0);
        let log = Arc::new(Self::default());
        stores.insert(id, Arc::downgrade(&log));
        log
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current point in the log.
    pub(crate) fn mark(&self) -> u64 {
        self.lock().last
    }

    /// Records that `path` (and everything under it) was deleted.
    pub(crate) fn record(&self, path: &str) {
        let mut log = self.lock();
        log.last += 1;
        let seq = log.last;
        log.entries.push_back((seq, path.to_owned()));
        while log.entries.len() > CAPACITY {
            if let Some((dropped, _)) = log.entries.pop_front() {
                log.dropped = dropped;
            }
        }
    }

    /// Whether `path` was deleted after the point `since`.
    pub(crate) fn since(&self, since: u64, path: &str) -> Verdict {
        let log = self.lock();
        if since < log.dropped {
            return Verdict::Unknown;
        }
        let deleted = log
            .entries
            .iter()
            .rev()
            .take_while(|(seq, _)| *seq > since)
            .any(|(_, gone)| gone == path || is_ancestor(gone, path));
        if deleted {
            Verdict::Deleted
        } else {
            Verdict::NotDeleted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_paths_and_subtrees_after_the_mark() {
        let log = Deletions::default();
        log.record("/old");
        let mark = log.mark();
        log.record("/b");
        assert_eq!(log.since(mark, "/old"), Verdict::NotDeleted);
        assert_eq!(log.since(mark, "/b"), Verdict::Deleted);
        assert_eq!(log.since(mark, "/b/c"), Verdict::Deleted);
        assert_eq!(log.since(mark, "/bc"), Verdict::NotDeleted);
        assert_eq!(log.since(0, "/old"), Verdict::Deleted);
    }

    #[test]
    fn too_old_a_mark_is_unknown() {
        let log = Deletions::default();
        let mark = log.mark();
        for i in 0..=CAPACITY {
            log.record(&format!("/f{i}"));
        }
        assert_eq!(log.since(mark, "/x"), Verdict::Unknown);
        assert_eq!(log.since(log.mark(), "/x"), Verdict::NotDeleted);
    }

    #[test]
    fn shared_per_store() {
        let a = Deletions::for_store("fsid", 1, "ns");
        let b = Deletions::for_store("fsid", 1, "ns");
        let c = Deletions::for_store("fsid", 1, "other");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
