//! The walk: the object stores' walk on flat listings ([`wharf_object_store::walk`]) over List
//! Blobs without a delimiter, 5000 committed blobs per request. List Blobs cannot start after a
//! name (its marker is the service's own), so a walk resumed after a point or skipping a
//! directory pages through what it passes over.

use async_trait::async_trait;
use wharf_object_store::KeyLayout;
use wharf_object_store::walk::{FlatListing, From, Listed, Page};
use wharf_runtime::Result;
use wharf_runtime::deletion_log::DeletionLog;

use crate::AzureDriver;
use crate::list::PAGE;

#[async_trait]
impl FlatListing for AzureDriver {
    const STARTS_AFTER: bool = false;

    fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    fn deletion_log(&self) -> &DeletionLog {
        &self.deletion_log
    }

    async fn list_page(&self, prefix: &str, from: From, path: &str) -> Result<Page> {
        let marker = match &from {
            From::Next(marker) => Some(marker.as_str()),
            From::Start | From::After(_) => None,
        };
        let page = self
            .client
            .list_page(prefix, None, marker, Some(PAGE))
            .await
            .map_err(|f| f.into_error("walk", path))?;
        let objects = page
            .blobs
            .into_iter()
            .map(|b| Listed {
                name: b.name,
                size: b.size,
                mod_time: b.last_modified,
            })
            .collect();
        Ok(Page {
            objects,
            next: page.next_marker,
        })
    }

    async fn file_exists(&self, name: &str, path: &str) -> Result<bool> {
        let props = self
            .client
            .properties(name)
            .await
            .map_err(|f| f.into_error("walk", path))?;
        Ok(props.is_some())
    }

    async fn any_under(&self, path: &str) -> Result<bool> {
        self.has_blob_under(path, "walk").await
    }
}
