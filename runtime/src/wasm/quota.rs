//! Disk quotas of directory grants (`quota = "10GiB"`): the bytes of file content under a
//! granted directory, counted for one driver (all its instances together).
//!
//! The count starts from a scan of the directory when the driver starts. Every write through
//! the guest's descriptors and streams adds what it makes files grow by; shrinking and removing
//! files are not followed one by one. Instead, when a write would pass the quota, the directory
//! is scanned again (at most once per [`RESCAN_EVERY`]) and the write is allowed if the real
//! usage leaves room for it. So the count never lets usage pass the quota, and a write is
//! refused only when the directory really is near it (within what was written since the last
//! scan).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::policy::DirGrant;
use crate::error::{Error, Result};

/// The quotas of a driver's directory grants, in the policy's order (`None`: no quota).
pub(crate) type GrantQuotas = Arc<[Option<Arc<DiskQuota>>]>;

/// The quotas of `dirs`, each counted from a scan now (blocking: see [`DiskQuota::new`]).
pub(crate) fn for_grants(dirs: &[DirGrant]) -> Result<GrantQuotas> {
    dirs.iter()
        .map(|g| {
            g.quota
                .map(|limit| DiskQuota::new(&g.host, limit).map(Arc::new))
                .transpose()
        })
        .collect()
}

/// Least time between two scans prompted by writes near the quota.
pub const RESCAN_EVERY: Duration = Duration::from_secs(1);

/// The quota of one granted directory, for one driver.
#[derive(Debug)]
pub(crate) struct DiskQuota {
    host: PathBuf,
    limit: u64,
    /// Bytes counted as used: the last scan plus growth written since.
    used: AtomicU64,
    last_scan: Mutex<Instant>,
}

impl DiskQuota {
    /// The quota `limit` of the host directory `host`, counted from a scan now (as long as it
    /// takes: call it where blocking is allowed).
    pub fn new(host: &Path, limit: u64) -> Result<Self> {
        let used = usage(host, None).map_err(|e| {
            Error::invalid_parameter(
                "dirs",
                format!("cannot measure {} for its quota", host.display()),
            )
            .with_source(e)
        })?;
        Ok(Self {
            host: host.to_owned(),
            limit,
            used: AtomicU64::new(used),
            last_scan: Mutex::new(Instant::now()),
        })
    }

    /// Takes `more` bytes of growth, or says no when the directory would pass its quota.
    pub fn take(&self, more: u64) -> bool {
        if more == 0 || self.try_take(more) {
            return true;
        }
        // Over by the count: the count may be stale (files were removed or cut since the last
        // scan). Count again, unless that was just done.
        let Ok(mut last) = self.last_scan.try_lock() else {
            // Another instance is counting: this write waits for nothing, it is refused.
            return false;
        };
        if last.elapsed() < RESCAN_EVERY {
            return false;
        }
        *last = Instant::now();
        let before = self.used.load(Ordering::Acquire);
        match usage(&self.host, Some(MAX_RESCAN_TIME)) {
            Ok(scanned) => {
                // What was taken while the scan ran is kept on top of it.
                let _ = self
                    .used
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                        Some(scanned.saturating_add(now.saturating_sub(before)))
                    });
            }
            Err(e) => {
                tracing::warn!(dir = %self.host.display(), error = %e, "cannot measure a granted directory for its quota; the write is refused");
                return false;
            }
        }
        drop(last);
        self.try_take(more)
    }

    /// Gives back `bytes` taken for a write that failed.
    pub fn give_back(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    fn try_take(&self, more: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(more).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }
}

/// Directories below the granted one that a scan descends (one descriptor each).
const MAX_SCAN_DEPTH: usize = 256;
/// Longest a scan prompted by a write may take: it runs inside the guest's call, where the
/// call's deadline cannot interrupt it.
const MAX_RESCAN_TIME: Duration = Duration::from_secs(2);

/// Bytes of file content under `dir` (links not followed; entries that vanish while counting
/// are skipped). A tree deeper than [`MAX_SCAN_DEPTH`], any other failure, or a scan past
/// `within` is an error: what cannot be counted is not taken as free.
fn usage(dir: &Path, within: Option<Duration>) -> std::io::Result<u64> {
    use cap_std::fs::Dir;
    let started = Instant::now();
    let top = Dir::open_ambient_dir(dir, cap_std::ambient_authority())?;
    let mut total = 0u64;
    let mut stack = vec![top.entries()?];
    let mut dirs = vec![top];
    while let Some(entries) = stack.last_mut() {
        let Some(entry) = entries.next() else {
            stack.pop();
            dirs.pop();
            continue;
        };
        if within.is_some_and(|w| started.elapsed() > w) {
            return Err(std::io::Error::other("the scan took too long"));
        }
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let metadata = match entry.metadata() {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if metadata.is_dir() {
            if stack.len() > MAX_SCAN_DEPTH {
                return Err(std::io::Error::other(format!(
                    "deeper than {MAX_SCAN_DEPTH} directories"
                )));
            }
            let parent = dirs.last().expect("a directory per listing");
            let dir = match parent.open_dir(entry.file_name()) {
                Ok(dir) => dir,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            stack.push(dir.entries()?);
            dirs.push(dir);
        } else if metadata.is_file() {
            total = total.saturating_add(metadata.len());
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_a_scan_and_scans_again_when_full() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(tmp.path().join("sub")).expect("sub");
        std::fs::write(tmp.path().join("sub/a"), vec![0; 600]).expect("a");
        let quota = DiskQuota::new(tmp.path(), 1000).expect("quota");
        assert!(quota.take(300));
        assert!(!quota.take(200), "600 + 300 + 200 passes 1000");
        // The file is removed: once a scan may run again, the room is found.
        std::fs::remove_file(tmp.path().join("sub/a")).expect("rm");
        *quota.last_scan.lock().unwrap() -= RESCAN_EVERY;
        assert!(quota.take(900));
        assert!(!quota.take(200));
        assert!(quota.take(0));
        quota.give_back(900);
        assert!(quota.take(900), "what a failed write took is given back");
    }

    #[test]
    fn what_cannot_be_counted_is_not_free() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = cap_std::fs::Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority())
            .expect("root");
        // Deeper than a scan goes, made through descriptors (the path would be too long).
        let mut here = root.try_clone().expect("clone");
        for _ in 0..MAX_SCAN_DEPTH + 5 {
            here.create_dir("a").expect("mkdir");
            here = here.open_dir("a").expect("descend");
        }
        here.write("deep", vec![0; 4096])
            .expect("a file down there");
        let e = usage(tmp.path(), None).expect_err("a tree too deep to count");
        assert!(e.to_string().contains("deeper"), "{e}");
        assert!(DiskQuota::new(tmp.path(), 1 << 20).is_err());
    }
}
