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

/// The quotas of `dirs`, each counted from a scan now.
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
    /// The quota `limit` of the host directory `host`, counted from a scan now.
    pub fn new(host: &Path, limit: u64) -> Result<Self> {
        let used = usage(host).map_err(|e| {
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
        let mut last = self.last_scan.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() < RESCAN_EVERY {
            return false;
        }
        *last = Instant::now();
        match usage(&self.host) {
            Ok(used) => self.used.store(used, Ordering::Release),
            Err(e) => {
                tracing::warn!(dir = %self.host.display(), error = %e, "cannot measure a granted directory for its quota");
                return false;
            }
        }
        drop(last);
        self.try_take(more)
    }

    fn try_take(&self, more: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(more).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }
}

/// Bytes of file content under `dir` (links not followed; entries that vanish while counting
/// are skipped).
fn usage(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0u64;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(e) if d != dir => {
                tracing::debug!(dir = %d.display(), error = %e, "not counted for the quota");
                continue;
            }
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if metadata.is_dir() {
                stack.push(entry.path());
            } else if metadata.is_file() {
                total = total.saturating_add(metadata.len());
            }
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
    }
}
