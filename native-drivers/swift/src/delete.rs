//! Deleting objects: plain ones (with bulk deletes when the cluster offers them), everything
//! under a name prefix, and large objects with their segments (ours and the reference's Static
//! and Dynamic Large Objects).

use futures::{StreamExt, TryStreamExt};
use wharf_runtime::Result;

use crate::Store;
use crate::client::{Entry, ObjectMeta};
use crate::error::Failure;

/// Single deletes (or manifest deletes) in flight at once.
const DELETES_IN_FLIGHT: usize = 8;

impl Store {
    /// Deletes every object whose name starts with `prefix`.
    pub(crate) async fn delete_prefix(&self, prefix: &str, path: &str) -> Result<()> {
        let mut marker: Option<String> = None;
        loop {
            let (page, next) = self
                .page(prefix, None, marker.as_deref())
                .await
                .map_err(|f| f.into_error("delete", path))?;
            let names = page.into_iter().filter_map(|e| e.name).collect();
            self.delete_names(names, path).await?;
            match next {
                Some(next) => marker = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Deletes plain objects, with bulk deletes when the cluster offers them.
    pub(crate) async fn delete_names(&self, names: Vec<String>, path: &str) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let fail = |f: Failure| f.into_error("delete", path);
        if let Some(max) = self.bulk_max {
            for chunk in names.chunks(max) {
                self.client.bulk_delete(chunk).await.map_err(fail)?;
            }
            return Ok(());
        }
        let deletes: Vec<_> = names.iter().map(|n| self.client.delete(n, false)).collect();
        futures::stream::iter(deletes)
            .buffer_unordered(DELETES_IN_FLIGHT)
            .try_collect::<Vec<bool>>()
            .await
            .map_err(fail)?;
        Ok(())
    }

    /// Deletes the listed objects, large objects with their segments.
    pub(crate) async fn delete_entries(&self, entries: Vec<Entry>, path: &str) -> Result<()> {
        let mut plain = Vec::with_capacity(entries.len());
        let mut large = Vec::new();
        let mut maybe_dlo = Vec::new();
        for e in entries {
            let Some(name) = e.name else { continue };
            if e.slo_etag.is_some() {
                large.push(name);
            } else if e.bytes == 0 {
                // A Dynamic Large Object manifest (as the reference writes them) is listed
                // with 0 bytes; only a HEAD tells it from an empty file.
                maybe_dlo.push(name);
            } else {
                plain.push(name);
            }
        }
        let heads: Vec<_> = maybe_dlo
            .iter()
            .map(|n| async move { (n, self.client.head(n).await) })
            .collect();
        let heads: Vec<_> = futures::stream::iter(heads)
            .buffer_unordered(DELETES_IN_FLIGHT)
            .collect()
            .await;
        for (name, head) in heads {
            match head.map_err(|f| f.into_error("delete", path))? {
                Some(meta) if meta.dlo.is_some() => {
                    self.delete_object(name, &meta, path).await?;
                }
                Some(meta) if meta.slo => {
                    self.delete_slo(name, Some(&meta), path).await?;
                }
                Some(_) => plain.push(name.clone()),
                None => {}
            }
        }
        let manifests: Vec<_> = large
            .iter()
            .map(|n| self.delete_slo(n, None, path))
            .collect();
        futures::stream::iter(manifests)
            .buffer_unordered(DELETES_IN_FLIGHT)
            .try_collect::<Vec<bool>>()
            .await?;
        self.delete_names(plain, path).await
    }

    /// Deletes a Static Large Object with its segments. For ours (the metadata names the
    /// segment prefix) the manifest goes first, then the prefix, so no segment is ever missing
    /// under a manifest that still exists; this also works for objects with more segments than
    /// Swift deletes in one `?multipart-manifest=delete`, which is used for anyone else's.
    async fn delete_slo(&self, name: &str, meta: Option<&ObjectMeta>, path: &str) -> Result<bool> {
        let fail = |f: Failure| f.into_error("delete", path);
        let head;
        let meta = match meta {
            Some(m) => m,
            None => match self.client.head(name).await.map_err(fail)? {
                Some(m) => {
                    head = m;
                    &head
                }
                None => return Ok(false),
            },
        };
        match &meta.segments {
            Some(segments) => {
                let found = self.client.delete(name, false).await.map_err(fail)?;
                self.delete_prefix(&format!("{segments}/"), path).await?;
                Ok(found)
            }
            None => self.client.delete(name, true).await.map_err(fail),
        }
    }

    /// Deletes one object described by `meta`, with its segments if it is a large object.
    pub(crate) async fn delete_object(
        &self,
        name: &str,
        meta: &ObjectMeta,
        path: &str,
    ) -> Result<bool> {
        let fail = |f: Failure| f.into_error("delete", path);
        if meta.slo {
            return self.delete_slo(name, Some(meta), path).await;
        }
        if let Some(prefix) = meta.dlo.as_deref().and_then(|m| self.dlo_prefix(m)) {
            self.delete_prefix(&prefix, path).await?;
        }
        self.client.delete(name, false).await.map_err(fail)
    }
}
