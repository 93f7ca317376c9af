//! The walk: the object stores' walk on flat listings ([`wharf_object_store::walk`]) over the
//! JSON API's object listing without a delimiter, a thousand names per request, started at a
//! name with `startOffset`. Upload placeholders are left out of the pages.

use async_trait::async_trait;
use wharf_object_store::KeyLayout;
use wharf_object_store::walk::{FlatListing, From, Listed, Page};
use wharf_runtime::Result;
use wharf_runtime::deletion_log::DeletionLog;

use crate::list::PAGE;
use crate::{GcsDriver, writer};

#[async_trait]
impl FlatListing for GcsDriver {
    /// `startOffset` starts at a name (inclusive); the walk filters what it has passed.
    const STARTS_AFTER: bool = true;

    fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    fn deletion_log(&self) -> &DeletionLog {
        &self.deletion_log
    }

    async fn list_page(&self, prefix: &str, from: From, path: &str) -> Result<Page> {
        let (start, token) = match &from {
            From::Start => (None, None),
            From::After(name) => (Some(name.as_str()), None),
            From::Next(token) => (None, Some(token.as_str())),
        };
        let page = self
            .client
            .list_page_from(prefix, None, start, token, PAGE)
            .await
            .map_err(|f| f.into_error("walk", path))?;
        let objects = page
            .items
            .into_iter()
            .filter(|o| !writer::is_placeholder(o))
            .map(|o| Listed {
                size: o.size(),
                mod_time: o.updated(),
                name: o.name,
            })
            .collect();
        let next = page.next_page_token.filter(|t| !t.is_empty());
        Ok(Page { objects, next })
    }

    async fn file_exists(&self, name: &str, path: &str) -> Result<bool> {
        let object = self
            .client
            .get_object(name)
            .await
            .map_err(|f| f.into_error("walk", path))?;
        Ok(object.is_some_and(|o| !writer::is_placeholder(&o)))
    }

    async fn any_under(&self, path: &str) -> Result<bool> {
        self.has_object_under(path, "walk").await
    }
}
