//! Directories, which Cloud Storage does not have: a directory is any prefix `dir/` of object
//! names. `list` asks for one level with the `/` delimiter (paging through `nextPageToken`),
//! `stat` of a non-object asks whether one object exists under `dir/`, and deleting a directory
//! deletes the flat listing of `dir/` page by page. Upload placeholders are never shown.

use std::time::UNIX_EPOCH;

use futures::{StreamExt, TryStreamExt};
use wharf_runtime::path::ROOT;
use wharf_runtime::{Error, FileInfo, Result};

use crate::client::Failure;
use crate::{GcsDriver, writer};

/// The most entries one listing page holds.
pub(crate) const PAGE: u32 = 1000;
/// Object deletes in flight at once within one `delete`.
const DELETES_IN_FLIGHT: usize = 16;

impl GcsDriver {
    /// True when at least one object lies under `path/`.
    pub(crate) async fn has_object_under(&self, path: &str, op: &str) -> Result<bool> {
        let page = self
            .client
            .list_page(&self.layout.dir_prefix(path), None, None, 1)
            .await
            .map_err(|f| f.into_error(op, path))?;
        Ok(!page.items.is_empty())
    }

    /// Deletes every object of the flat listing of `prefix` whose name `keep` accepts, page by
    /// page, a bounded number at a time; true when at least one was listed.
    pub(crate) async fn delete_listed(
        &self,
        prefix: &str,
        keep: impl Fn(&str) -> bool,
        path: &str,
    ) -> Result<bool> {
        let mut deleted = false;
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_page(prefix, None, token.as_deref(), PAGE)
                .await
                .map_err(|f| f.into_error("delete", path))?;
            let names: Vec<String> = page
                .items
                .into_iter()
                .map(|o| o.name)
                .filter(|n| keep(n))
                .collect();
            // Futures built up front (not in a stream's closure) keep the driver's futures `Send`.
            let deletes: Vec<_> = names.iter().map(|n| self.client.delete(n)).collect();
            // What was listed existed: whether this delete, a concurrent one or an attempt
            // whose answer was lost removed it, it was there to delete.
            let _: Vec<bool> = futures::stream::iter(deletes)
                .buffer_unordered(DELETES_IN_FLIGHT)
                .try_collect()
                .await
                .map_err(|f: Failure| f.into_error("delete", path))?;
            deleted |= !names.is_empty();
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(deleted),
            }
        }
    }

    /// What `path` is: a file (an object that is not a placeholder), a directory (a prefix of
    /// one), or nothing.
    pub(crate) async fn stat_path(&self, path: &str) -> Result<FileInfo> {
        if path == ROOT {
            return Ok(FileInfo::dir(ROOT, UNIX_EPOCH));
        }
        let object = self
            .client
            .get_object(&self.object_name(path))
            .await
            .map_err(|f| f.into_error("stat", path))?;
        if let Some(o) = object.filter(|o| !writer::is_placeholder(o)) {
            return Ok(FileInfo::file(path, o.size(), o.updated()));
        }
        if self.has_object_under(path, "stat").await? {
            Ok(FileInfo::dir(path, UNIX_EPOCH))
        } else {
            Err(Error::not_found(path))
        }
    }

    /// The direct children of the directory `path`, sorted by byte order.
    pub(crate) async fn list_dir(&self, path: &str) -> Result<Vec<String>> {
        let prefix = self.layout.dir_prefix(path);
        let mut children = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_page(&prefix, Some("/"), token.as_deref(), PAGE)
                .await
                .map_err(|f| f.into_error("list", path))?;
            let files = page
                .items
                .iter()
                .filter(|o| o.name != prefix && !writer::is_placeholder(o))
                .map(|o| o.name.as_str());
            let dirs = page.prefixes.iter().map(|p| p.trim_end_matches('/'));
            for name in files.chain(dirs) {
                // Names no contract path can spell (other tools' files, upload placeholders)
                // are not shown.
                if let Some(child) = self.layout.path_of(name)
                    && wharf_runtime::path::parent(&child) == path
                {
                    children.push(child);
                }
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        if children.is_empty() && path != ROOT {
            return Err(Error::not_found(path));
        }
        children.sort_unstable();
        children.dedup();
        Ok(children)
    }
}
