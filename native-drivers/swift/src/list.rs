//! Directories, which Swift does not have: a directory is any prefix `<files>/dir/` of object
//! names. `list` asks for one level with the `/` delimiter (paging with `marker`), `stat` of a
//! non-object asks whether one object exists under `dir/`. The trailing `/` is what keeps `/a`
//! from being a directory because `/ab` exists.

use std::time::UNIX_EPOCH;

use wharf_runtime::path::{ROOT, parent};
use wharf_runtime::{Error, FileInfo, Result};

use crate::Store;
use crate::client::Entry;
use crate::error::Failure;

impl Store {
    /// The direct children of the directory `path`, sorted by byte order.
    pub(crate) async fn list_dir(&self, path: &str) -> Result<Vec<String>> {
        let prefix = self.layout.dir_prefix(path);
        let mut children = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (page, next) = self
                .page(&prefix, Some('/'), marker.as_deref())
                .await
                .map_err(|f| f.into_error("list", path))?;
            for entry in &page {
                // Names no contract path can spell (written by other tools) are not shown.
                if let Some(child) = self.layout.path_of(entry.key().trim_end_matches('/'))
                    && parent(&child) == path
                {
                    children.push(child);
                }
            }
            match next {
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

    /// What is at `path`: an object, or a directory holding at least one object.
    pub(crate) async fn stat_path(&self, path: &str) -> Result<FileInfo> {
        if path == ROOT {
            return Ok(FileInfo::dir(ROOT, UNIX_EPOCH));
        }
        // One look for the object; a directory answers its listing; only when neither is
        // there does the object get its second look (a stat racing an overwrite, see
        // `Client::send`). A file costs one request, a directory two.
        let name = self.object_name(path);
        let fail = |f: Failure| f.into_error("stat", path);
        if let Some(meta) = self.client.look_up(&name).await.map_err(fail)? {
            return Ok(FileInfo::file(path, meta.size, meta.mod_time));
        }
        if self.has_object_under(path, "stat").await? {
            return Ok(FileInfo::dir(path, UNIX_EPOCH));
        }
        match self.client.look_up(&name).await.map_err(fail)? {
            Some(meta) => Ok(FileInfo::file(path, meta.size, meta.mod_time)),
            None => Err(Error::not_found(path)),
        }
    }

    /// One page (the cluster's listing limit) of the names starting with `prefix` after
    /// `marker`, and the marker of the next page (`None` after the last: a page that is not
    /// full).
    pub(crate) async fn page(
        &self,
        prefix: &str,
        delimiter: Option<char>,
        marker: Option<&str>,
    ) -> std::result::Result<(Vec<Entry>, Option<String>), Failure> {
        let page = self
            .client
            .list(prefix, delimiter, marker, self.page)
            .await?;
        let next = match page.last() {
            Some(last) if page.len() >= self.page => Some(last.key().to_owned()),
            _ => None,
        };
        Ok((page, next))
    }

    /// True when at least one object lies under `path/`.
    pub(crate) async fn has_object_under(&self, path: &str, op: &str) -> Result<bool> {
        let page = self
            .client
            .list(&self.layout.dir_prefix(path), None, None, 1)
            .await
            .map_err(|f| f.into_error(op, path))?;
        Ok(!page.is_empty())
    }
}
