//! Directories, which Azure does not have: a directory is any prefix `dir/` of committed blob
//! names. `list` asks for one level with the `/` delimiter (paging through `NextMarker`), `stat`
//! of a non-blob asks whether one blob exists under `dir/`, and deleting a directory pages
//! through the flat listing of `dir/`. The trailing `/` is what keeps `/a` from being a
//! directory because `/ab` exists.

use std::time::UNIX_EPOCH;

use wharf_runtime::path::ROOT;
use wharf_runtime::{Error, FileInfo, Result};

use crate::AzureDriver;
use crate::xml::ListedBlob;

/// The most entries one List Blobs page holds.
pub(crate) const PAGE: u32 = 5000;

impl AzureDriver {
    /// The direct children of the directory `path`, sorted by byte order.
    pub(crate) async fn list_dir(&self, path: &str) -> Result<Vec<String>> {
        let prefix = self.layout.dir_prefix(path);
        let mut children = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_page(&prefix, Some("/"), marker.as_deref(), Some(PAGE))
                .await
                .map_err(|f| f.into_error("list", path))?;
            let names = page
                .blobs
                .iter()
                .map(|b| b.name.as_str())
                .chain(page.prefixes.iter().map(|p| p.trim_end_matches('/')));
            for name in names {
                // Names no contract path can spell (written by other tools) are not shown.
                if let Some(child) = self.layout.path_of(name)
                    && wharf_runtime::path::parent(&child) == path
                {
                    children.push(child);
                }
            }
            match page.next_marker {
                Some(next) => marker = Some(next),
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

    /// What is at `path`: a blob, or a directory holding at least one blob.
    pub(crate) async fn stat_path(&self, path: &str) -> Result<FileInfo> {
        if path == ROOT {
            return Ok(FileInfo::dir(ROOT, UNIX_EPOCH));
        }
        let blob = self.layout.key(path);
        if let Some(props) = self
            .client
            .properties(&blob)
            .await
            .map_err(|f| f.into_error("stat", path))?
        {
            return Ok(FileInfo::file(path, props.size, props.last_modified));
        }
        if self.has_blob_under(path, "stat").await? {
            Ok(FileInfo::dir(path, UNIX_EPOCH))
        } else {
            Err(Error::not_found(path))
        }
    }

    /// True when at least one committed blob lies under `path/`.
    pub(crate) async fn has_blob_under(&self, path: &str, op: &str) -> Result<bool> {
        let page = self
            .client
            .list_page(&self.layout.dir_prefix(path), None, None, Some(1))
            .await
            .map_err(|f| f.into_error(op, path))?;
        Ok(!page.blobs.is_empty())
    }

    /// One page of the flat listing of every committed blob under `path/`, in name order, and
    /// the marker of the next page.
    pub(crate) async fn page_under(
        &self,
        path: &str,
        op: &str,
        marker: Option<&str>,
    ) -> Result<(Vec<ListedBlob>, Option<String>)> {
        let page = self
            .client
            .list_page(&self.layout.dir_prefix(path), None, marker, Some(PAGE))
            .await
            .map_err(|f| f.into_error(op, path))?;
        Ok((page.blobs, page.next_marker))
    }
}
