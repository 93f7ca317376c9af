//! Wharf's native s3 driver: Amazon S3 and S3-compatible stores through the official AWS SDK,
//! registered as `s3` with the alias `s3aws`. Content is laid out exactly as the reference
//! registry's s3 driver lays it out (see `layout`), so Wharf and an existing registry share a
//! bucket.
//!
//! How the contract maps onto S3 (README.md has the full story):
//! - `put_content` is one PutObject; `get_content` and readers are GetObject (ranged from an
//!   offset); `stat` is HeadObject, then a one-key listing of `<key>/` for directories;
//! - `list` pages ListObjectsV2 with a `/` delimiter; `walk` pages it without one and derives the
//!   directories (`walk`); `delete` lists `<key>/` and deletes in DeleteObjects pages of 1000;
//! - `move` is CopyObject, or a concurrent multipart UploadPartCopy above
//!   `multipartcopythresholdsize` (`copy`), then DeleteObject of the source;
//! - writers are multipart uploads whose state lives in S3 (`writer`);
//! - `redirect_url` pre-signs a GET or HEAD, for `redirectendpoint` when one is set.
//!
//! By role: `bucket` holds the bucket and the object calls every operation shares, `client`
//! builds the SDK clients, `config` reads the parameters, `error` classifies S3's answers,
//! `layout` places paths, `reader`, `writer`, `walk` and `copy` implement those operations, and
//! this file the driver itself.

#![forbid(unsafe_code)]

mod bucket;
mod client;
mod config;
mod copy;
mod error;
mod layout;
mod multipart;
mod reader;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
mod walk;
mod writer;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use bytes::Bytes;
use wharf_runtime::path::{ROOT, join};
use wharf_runtime::{
    ByteStream, DriverRegistry, Error, FileInfo, FileWriter, Params, RedirectMethod, Result,
    StorageDriver, Visitor, WalkOptions,
};

pub(crate) use bucket::{Bucket, object_options};
pub use client::RequestCounter;
pub use config::{
    Checksums, Config, DEFAULT_CHUNK_SIZE, DEFAULT_MULTIPART_COPY_CHUNK_SIZE,
    DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY, DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE, Dialect,
    Encryption, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, StaticCredentials, endpoint_url,
};

use crate::error::from_sdk;
use crate::layout::{Layout, name_is_visible};
use wharf_runtime::deletion_log::DeletionLog;

/// The name this driver registers under.
pub const NAME: &str = "s3";
/// The reference registry's other name for it.
pub const ALIAS: &str = "s3aws";

/// Keys per ListObjectsV2 page and per DeleteObjects call (S3's maximum for both).
const PAGE: usize = 1000;

/// The longest validity S3 accepts for a pre-signed URL (7 days).
const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);

/// Registers the s3 driver under [`NAME`] and [`ALIAS`].
pub fn register(registry: &mut DriverRegistry) -> Result<()> {
    registry.register(NAME, |params: Params| async move {
        let config = Config::from_params(params)?;
        let driver = S3Driver::new(config).await?;
        Ok(Arc::new(driver) as Arc<dyn StorageDriver>)
    })?;
    registry.alias(ALIAS, NAME)
}

/// The s3 driver: one bucket (and key prefix), one SDK client.
pub struct S3Driver {
    bucket: Arc<Bucket>,
}

impl std::fmt::Debug for S3Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Driver")
            .field("dialect", &self.bucket.dialect)
            .field("config", &self.bucket.config)
            .finish_non_exhaustive()
    }
}

impl S3Driver {
    /// Builds the SDK client for `config`. No request is sent: a wrong bucket or credentials
    /// show on the first call.
    pub async fn new(config: Config) -> Result<Self> {
        Self::with_dialect(config, Dialect::S3).await
    }

    /// Builds the driver for another store that speaks the S3 protocol: `config` holds that
    /// store's parameters mapped onto S3's (endpoint, addressing, credentials, part size, root
    /// …), `dialect` its name and request rules. Everything else is the s3 driver's.
    pub async fn with_dialect(config: Config, dialect: Dialect) -> Result<Self> {
        let clients = client::build(&config).await?;
        let endpoint = config
            .region_endpoint
            .clone()
            .unwrap_or_else(|| format!("aws:{}", config.region));
        let deletion_log = DeletionLog::shared(
            &format!("s3|{endpoint}|{}", config.bucket),
            wharf_object_store::walk::DELETIONS_KEPT,
        );
        tracing::debug!(driver = dialect.name, bucket = %config.bucket, root = %config.root,
            endpoint, "S3-protocol driver created");
        Ok(Self {
            bucket: Arc::new(Bucket {
                s3: clients.s3,
                presign: clients.presign,
                layout: Layout::new(&config.root),
                config,
                dialect,
                deletion_log,
                requests: clients.requests,
            }),
        })
    }

    /// The configuration the driver was built from.
    pub fn config(&self) -> &Config {
        &self.bucket.config
    }

    /// The store's name and request rules the driver was built with.
    pub fn dialect(&self) -> Dialect {
        self.bucket.dialect
    }

    /// The HTTP requests this driver sent so far, by S3 operation.
    pub fn requests(&self) -> &RequestCounter {
        &self.bucket.requests
    }

    /// The SDK client the driver sends its requests with (for tools and tests that need to
    /// reach the bucket directly).
    pub fn sdk_client(&self) -> &aws_sdk_s3::Client {
        &self.bucket.s3
    }

    /// The object key a contract path is stored under.
    pub fn key_of(&self, path: &str) -> String {
        self.bucket.layout.key(path)
    }
}

#[async_trait]
impl StorageDriver for S3Driver {
    fn name(&self) -> &str {
        self.bucket.dialect.name
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        reader::get_content(&self.bucket, path).await
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        let key = self.bucket.layout.key(path);
        self.bucket.put_object(&key, content, path).await
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteStream> {
        reader::reader(&self.bucket, path, offset).await
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        let writer = if append {
            writer::S3Writer::resume(self.bucket.clone(), path).await?
        } else {
            writer::S3Writer::create(self.bucket.clone(), path).await?
        };
        Ok(Box::new(writer))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        if path == ROOT {
            return Ok(FileInfo::dir(ROOT, UNIX_EPOCH));
        }
        let s = &self.bucket;
        if let Some((size, mod_time)) = s.head(&s.layout.key(path), path).await? {
            return Ok(FileInfo::file(path, size, mod_time));
        }
        // Only `<key>/…` makes a directory: `/a` is not one because `/ab` exists.
        if s.any_under(&s.layout.dir_prefix(path), path).await? {
            return Ok(FileInfo::dir(path, UNIX_EPOCH));
        }
        Err(Error::not_found(path))
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        let s = &self.bucket;
        let prefix = s.layout.dir_prefix(path);
        let mut children = BTreeSet::new();
        let mut any = false;
        let mut token: Option<String> = None;
        loop {
            let page =
                s.s3.list_objects_v2()
                    .bucket(s.bucket())
                    .prefix(&prefix)
                    .delimiter("/")
                    .max_keys(PAGE as i32)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| from_sdk(e, "list", path))?;
            let names = page.contents().iter().filter_map(|o| o.key()).chain(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    .map(|p| p.strip_suffix('/').unwrap_or(p)),
            );
            for full in names {
                any = true;
                if let Some(name) = full.strip_prefix(&prefix)
                    && name_is_visible(name)
                {
                    children.insert(join(path, name));
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        if !any && path != ROOT {
            return Err(Error::not_found(path));
        }
        Ok(children.into_iter().collect())
    }

    async fn rename(&self, source: &str, dest: &str) -> Result<()> {
        let s = &self.bucket;
        let (source_key, dest_key) = (s.layout.key(source), s.layout.key(dest));
        let Some((size, _)) = s.head(&source_key, source).await? else {
            if s.any_under(&s.layout.dir_prefix(source), source).await? {
                return Err(Error::unsupported(format!(
                    "move of a directory ({source}): S3 has no atomic directory rename"
                )));
            }
            return Err(Error::not_found(source));
        };
        if source == dest {
            return Ok(());
        }
        if size > s.config.multipart_copy_threshold_size {
            s.multipart_copy(&source_key, &dest_key, size, source)
                .await?;
        } else {
            object_options!(s.s3.copy_object(), &s.config)
                .bucket(s.bucket())
                .key(&dest_key)
                .copy_source(s.copy_source(&source_key))
                .send()
                .await
                .map_err(|e| from_sdk(e, "move", source))?;
        }
        s.delete_key(&source_key, source).await?;
        s.deletion_log.record(source_key);
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let s = &self.bucket;
        let key = s.layout.key(path);
        let prefix = s.layout.dir_prefix(path);
        let mut found = false;
        let mut batch = Vec::with_capacity(PAGE);
        if s.head(&key, path).await?.is_some() {
            found = true;
            batch.push(key.clone());
        }
        let mut token: Option<String> = None;
        loop {
            let page =
                s.s3.list_objects_v2()
                    .bucket(s.bucket())
                    .prefix(&prefix)
                    .max_keys(PAGE as i32)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| from_sdk(e, "delete", path))?;
            for object in page.contents() {
                if let Some(k) = object.key() {
                    found = true;
                    batch.push(k.to_owned());
                    if batch.len() == PAGE {
                        s.delete_batch(std::mem::take(&mut batch), path).await?;
                    }
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        s.delete_batch(batch, path).await?;
        // Uploads in progress at the path or under it go too (they would otherwise be billed
        // forever, invisible); stores without ListMultipartUploads keep them.
        let aborted = writer::abort_uploads_under(s, &key, path).await;
        if !found && aborted == 0 {
            return Err(Error::not_found(path));
        }
        s.deletion_log.record(key);
        Ok(())
    }

    async fn redirect_url(
        &self,
        method: RedirectMethod,
        path: &str,
        expiry: Duration,
    ) -> Result<Option<String>> {
        let s = &self.bucket;
        let key = s.layout.key(path);
        let presigning =
            PresigningConfig::expires_in(expiry.clamp(Duration::from_secs(1), MAX_PRESIGN))
                .map_err(|e| Error::backend(format!("redirect_url {path}")).with_source(e))?;
        let request = match method {
            RedirectMethod::Get => s
                .presign
                .get_object()
                .bucket(s.bucket())
                .key(&key)
                .presigned(presigning)
                .await
                .map_err(|e| from_sdk(e, "redirect_url", path))?,
            RedirectMethod::Head => s
                .presign
                .head_object()
                .bucket(s.bucket())
                .key(&key)
                .presigned(presigning)
                .await
                .map_err(|e| from_sdk(e, "redirect_url", path))?,
        };
        Ok(Some(request.uri().to_owned()))
    }

    async fn walk(
        &self,
        path: &str,
        options: &WalkOptions,
        visitor: &mut Visitor<'_>,
    ) -> Result<()> {
        wharf_object_store::walk::walk(self.bucket.as_ref(), path, options, visitor).await
    }
}
