//! Recent deletions made through this process, per bucket, so that a walk built on listings can
//! skip what was deleted after its page was listed without asking S3 about every entry (the
//! contract: a file removed during a walk is skipped; a walk costs one request per thousand keys).
//!
//! Every `delete` and every `move` source is recorded here, after S3 confirmed it, with a
//! sequence number. A walk notes the sequence before each listing request and, before emitting an
//! entry from that page, asks whether a deletion recorded since covers it. The log keeps the last
//! [`CAPACITY`] deletions; a walk whose page is older than what the log still holds is told
//! [`Verdict::Unknown`] and checks the entry with S3 instead. Deletions made by other processes
//! while a walk runs are not seen (a listing page is a snapshot).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, Weak};

/// Deletions kept per bucket.
pub(crate) const CAPACITY: usize = 8192;

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
    /// The sequence number of the last deletion recorded.
    last: u64,
    /// The highest sequence number dropped from the front.
    dropped: u64,
    entries: VecDeque<(u64, String)>,
}

/// The deletion log of one bucket (shared by every driver instance on it in this process).
#[derive(Debug, Default)]
pub(crate) struct Tombstones {
    log: Mutex<Log>,
}

static BUCKETS: LazyLock<Mutex<HashMap<String, Weak<Tombstones>>>> =
    LazyLock::new(Default::default);

impl Tombstones {
    /// The log for `bucket` at `endpoint`, shared with other instances in this process.
    pub(crate) fn for_bucket(endpoint: &str, bucket: &str) -> Arc<Self> {
        let id = format!("{endpoint}|{bucket}");
        let mut buckets = BUCKETS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = buckets.get(&id).and_then(Weak::upgrade) {
            return log;
        }
        buckets.retain(|_, log| log.strong_count() > 0);
        let log = Arc::new(Self::default());
        buckets.insert(id, Arc::downgrade(&log));
        log
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current point in the log (note it before listing).
    pub(crate) fn current(&self) -> u64 {
        self.lock().last
    }

    /// Records that `key` and everything under `key/` were deleted.
    pub(crate) fn record(&self, key: String) {
        let mut log = self.lock();
        log.last += 1;
        let seq = log.last;
        log.entries.push_back((seq, key));
        while log.entries.len() > CAPACITY {
            if let Some((seq, _)) = log.entries.pop_front() {
                log.dropped = seq;
            }
        }
    }

    /// Whether `key` was deleted (itself or through an ancestor) after point `since`.
    pub(crate) fn check(&self, since: u64, key: &str) -> Verdict {
        let log = self.lock();
        for (seq, deleted) in log.entries.iter().rev() {
            if *seq <= since {
                break;
            }
            let covers = key == deleted
                || (key.len() > deleted.len()
                    && key.starts_with(deleted.as_str())
                    && key.as_bytes()[deleted.len()] == b'/');
            if covers {
                return Verdict::Deleted;
            }
        }
        if log.dropped > since {
            Verdict::Unknown
        } else {
            Verdict::NotDeleted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletions_after_a_point_cover_keys_and_subtrees() {
        let t = Tombstones::default();
        t.record("r/old".into());
        let since = t.current();
        t.record("r/a".into());
        t.record("r/b/c".into());
        assert_eq!(t.check(since, "r/a"), Verdict::Deleted);
        assert_eq!(t.check(since, "r/a/x"), Verdict::Deleted);
        assert_eq!(t.check(since, "r/ab"), Verdict::NotDeleted);
        assert_eq!(t.check(since, "r/b"), Verdict::NotDeleted);
        assert_eq!(t.check(since, "r/b/c"), Verdict::Deleted);
        assert_eq!(t.check(since, "r/old"), Verdict::NotDeleted);
        assert_eq!(t.check(0, "r/old"), Verdict::Deleted);
    }

    #[test]
    fn an_overflowed_log_says_unknown() {
        let t = Tombstones::default();
        let since = t.current();
        for i in 0..=CAPACITY {
            t.record(format!("k{i}"));
        }
        assert_eq!(t.check(since, "zzz"), Verdict::Unknown);
        assert_eq!(t.check(t.current(), "zzz"), Verdict::NotDeleted);
    }

    #[test]
    fn instances_on_one_bucket_share_a_log() {
        let a = Tombstones::for_bucket("http://e", "bucket-shared-test");
        let b = Tombstones::for_bucket("http://e", "bucket-shared-test");
        let other = Tombstones::for_bucket("http://e", "bucket-other-test");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &other));
    }
}
