//! Segments of replaced large objects, removed after a grace period rather than at once: a
//! reader that started on the old object before it was replaced goes on reading it whole (the
//! contract lets a concurrent reader see the old content or the new, never a part).
//!
//! Replacing a large object (put, commit or move onto it) records its segment prefix in
//! `<prefix>/wharf-garbage/<unix millis>-<random>`, which lies outside `files/`. Any driver
//! instance sweeps the records older than [`GRACE`] — when it starts, and at most once a minute
//! after it records one — deleting the segments and then the record, so a crash anywhere leaves
//! the work for the next sweep.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::Method;
use wharf_runtime::Result;

use crate::Store;
use crate::client::Target;

/// How long replaced segments are kept for readers that are still on them.
pub(crate) const GRACE: Duration = Duration::from_secs(15 * 60);
/// The shortest time between two sweeps of one driver instance.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

impl Store {
    fn garbage_dir(&self) -> String {
        format!("{}/wharf-garbage/", self.config.prefix)
            .trim_start_matches('/')
            .to_owned()
    }

    /// Records that every object named with `name_prefix` is to be deleted after [`GRACE`].
    pub(crate) async fn record_garbage(
        self: &Arc<Self>,
        name_prefix: &str,
        path: &str,
    ) -> Result<()> {
        let name = format!(
            "{}{:016}-{}",
            self.garbage_dir(),
            millis(SystemTime::now()),
            hex::encode(rand::random::<[u8; 8]>())
        );
        self.client
            .put(&name, Bytes::from(name_prefix.to_owned()), &[])
            .await
            .map_err(|f| f.into_error("record the replaced segments of", path))?;
        self.maybe_sweep();
        Ok(())
    }

    /// Starts a sweep in the background unless one started less than a minute ago.
    pub(crate) fn maybe_sweep(self: &Arc<Self>) {
        {
            let mut last = self.last_sweep.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let inner = self.clone();
        tokio::spawn(async move {
            if let Err(e) = inner.sweep(GRACE).await {
                tracing::warn!(error = %format_args!("{e:#}"), "swift: sweeping replaced segments failed");
            }
        });
    }

    /// Deletes the segments recorded more than `grace` ago; returns how many records it
    /// finished.
    pub(crate) async fn sweep(&self, grace: Duration) -> Result<usize> {
        let dir = self.garbage_dir();
        let cutoff = millis(SystemTime::now().checked_sub(grace).unwrap_or(UNIX_EPOCH));
        let op = |f: crate::error::Failure| f.into_error("sweep", "/");
        let mut done = 0;
        let mut marker: Option<String> = None;
        loop {
            let (page, next) = self.page(&dir, None, marker.as_deref()).await.map_err(op)?;
            for name in page.into_iter().filter_map(|e| e.name) {
                let recorded = name
                    .strip_prefix(&dir)
                    .and_then(|n| n.get(..16))
                    .and_then(|t| t.parse::<u128>().ok());
                match recorded {
                    // Records are named by time: the rest are younger still.
                    Some(t) if t > cutoff => return Ok(done),
                    Some(_) => {}
                    None => continue,
                }
                let req = self.client.request(Method::GET, Target::Object(&name));
                let prefix = match self.client.call(&req).await {
                    Ok(a) => String::from_utf8_lossy(&a.body).into_owned(),
                    Err(f) if f.is_not_found() => continue,
                    Err(f) => return Err(op(f)),
                };
                // Never a prefix that could reach committed files or other records.
                let root = format!("{}/segments/", self.config.prefix);
                if prefix.starts_with(root.trim_start_matches('/')) {
                    self.delete_prefix(&prefix, "/").await?;
                } else {
                    tracing::warn!(record = %name, prefix = %prefix,
                        "swift: not deleting replaced segments outside a segments directory");
                }
                self.client.delete(&name, false).await.map_err(op)?;
                done += 1;
            }
            match next {
                Some(next) => marker = Some(next),
                None => return Ok(done),
            }
        }
    }
}
