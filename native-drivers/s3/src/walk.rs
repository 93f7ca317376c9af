//! The walk: the object stores' walk on flat listings ([`wharf_object_store::walk`]) over
//! ListObjectsV2 without a delimiter, a thousand keys per request, started after a key with
//! `StartAfter`.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use wharf_object_store::KeyLayout;
use wharf_object_store::walk::{FlatListing, From, Listed, Page};
use wharf_runtime::Result;
use wharf_runtime::deletion_log::DeletionLog;

use crate::error::from_sdk;
use crate::{Bucket, PAGE};

#[async_trait]
impl FlatListing for Bucket {
    const STARTS_AFTER: bool = true;

    fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    fn deletion_log(&self) -> &DeletionLog {
        &self.deletion_log
    }

    async fn list_page(&self, prefix: &str, from: From, path: &str) -> Result<Page> {
        let (start_after, token) = match from {
            From::Start => (None, None),
            From::After(key) => (Some(key), None),
            From::Next(token) => (None, Some(token)),
        };
        let page = self
            .s3
            .list_objects_v2()
            .bucket(self.bucket())
            .prefix(prefix)
            .max_keys(PAGE as i32)
            .set_start_after(start_after)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(e, "walk", path))?;
        let objects = page
            .contents()
            .iter()
            .filter_map(|object| {
                Some(Listed {
                    name: object.key()?.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    mod_time: object
                        .last_modified()
                        .and_then(|t| SystemTime::try_from(*t).ok())
                        .unwrap_or(UNIX_EPOCH),
                })
            })
            .collect();
        let next = page
            .next_continuation_token()
            .filter(|_| page.is_truncated() == Some(true))
            .map(str::to_owned);
        Ok(Page { objects, next })
    }

    async fn file_exists(&self, key: &str, path: &str) -> Result<bool> {
        Ok(self.head(key, path).await?.is_some())
    }

    async fn any_under(&self, path: &str) -> Result<bool> {
        Bucket::any_under(self, &self.layout.dir_prefix(path), path).await
    }
}
