//! The walk: the object stores' walk on flat listings ([`wharf_object_store::walk`]) over
//! container listings without a delimiter, a page per `container_listing_limit` names (10 000
//! by default), started after a name with
//! `marker` (which is also how pages follow each other).
//!
//! A listing gives a Static Large Object's whole size, but a Dynamic Large Object's manifest
//! (as the reference's older uploads wrote them) is listed with its own size, zero: an entry
//! listed empty is looked up for its size (a HEAD gives the large object's), so a walk costs a
//! request per empty file besides its pages.

use std::time::SystemTime;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use wharf_object_store::KeyLayout;
use wharf_object_store::walk::{FlatListing, From, Listed, Page};
use wharf_runtime::Result;
use wharf_runtime::deletion_log::DeletionLog;

use crate::Store;
use crate::error::Failure;

/// Look-ups of possible Dynamic Large Objects in flight at once within one page.
const LOOKS_IN_FLIGHT: usize = 16;

#[async_trait]
impl FlatListing for Store {
    const STARTS_AFTER: bool = true;

    fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    fn deletion_log(&self) -> &DeletionLog {
        &self.deletion_log
    }

    async fn list_page(&self, prefix: &str, from: From, path: &str) -> Result<Page> {
        let fail = |f: Failure| f.into_error("walk", path);
        let marker = match &from {
            From::Start => None,
            From::After(name) | From::Next(name) => Some(name.as_str()),
        };
        let (entries, next) = self.page(prefix, None, marker).await.map_err(fail)?;
        // Possibly Dynamic Large Objects, looked up a few at a time: a HEAD tells the whole
        // size. One gone since the listing is listed as it was (the walk's deletion rules
        // decide).
        let looks: Vec<_> = entries
            .iter()
            .map(|e| async move {
                match &e.name {
                    Some(name) if e.bytes == 0 && e.slo_etag.is_none() => {
                        self.client.look_up(name).await.map(|m| m.map(|m| m.size))
                    }
                    _ => Ok(None),
                }
            })
            .collect();
        let sizes: Vec<Option<u64>> = futures::stream::iter(looks)
            .buffered(LOOKS_IN_FLIGHT)
            .try_collect()
            .await
            .map_err(fail)?;
        let objects = entries
            .into_iter()
            .zip(sizes)
            .filter_map(|(entry, size)| {
                Some(Listed {
                    size: size.unwrap_or(entry.bytes),
                    mod_time: mod_time(&entry.last_modified),
                    name: entry.name?,
                })
            })
            .collect();
        Ok(Page { objects, next })
    }

    async fn file_exists(&self, name: &str, path: &str) -> Result<bool> {
        let meta = self
            .client
            .head(name)
            .await
            .map_err(|f| f.into_error("walk", path))?;
        Ok(meta.is_some())
    }

    async fn any_under(&self, path: &str) -> Result<bool> {
        self.has_object_under(path, "walk").await
    }
}

/// A listing's `last_modified` (UTC, `2026-11-26T21:49:02.612370`, no zone).
fn mod_time(last_modified: &Option<String>) -> SystemTime {
    last_modified
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_times_are_utc() {
        let t = mod_time(&Some("2026-11-26T21:49:02.612370".to_owned()));
        assert_eq!(
            t,
            humantime::parse_rfc3339("2026-11-26T21:49:02.612370Z").unwrap()
        );
        assert_eq!(mod_time(&None), SystemTime::UNIX_EPOCH);
        assert_eq!(
            mod_time(&Some("not a time".to_owned())),
            SystemTime::UNIX_EPOCH
        );
    }
}
