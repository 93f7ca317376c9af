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
//!   `multipartcopythresholdsize`, then DeleteObject of the source;
//! - writers are multipart uploads whose state lives in S3 (`writer`);
//! - `redirect_url` pre-signs a GET or HEAD, for `redirectendpoint` when one is set.

#![forbid(unsafe_code)]

mod client;
mod config;
mod error;
mod layout;
mod reader;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
mod walk;
mod writer;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use bytes::Bytes;
use futures::StreamExt;
use wharf_runtime::path::{ROOT, join};
use wharf_runtime::{
    ByteStream, DriverRegistry, Error, ErrorKind, FileInfo, FileWriter, Params, RedirectMethod,
    Result, StorageDriver, Visitor, WalkOptions,
};

pub use client::RequestCounter;
pub use config::{
    Checksums, Config, DEFAULT_CHUNK_SIZE, DEFAULT_MULTIPART_COPY_CHUNK_SIZE,
    DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY, DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE, Dialect,
    Encryption, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, StaticCredentials, endpoint_url,
};

use crate::error::{from_sdk, is_not_found, status};
use crate::layout::{Layout, name_is_visible};
use wharf_runtime::deletion_log::DeletionLog;

/// Deletions each bucket's log keeps for walks (see [`wharf_runtime::deletion_log`]).
const DELETION_LOG_LEN: usize = 8192;

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

/// What a driver, its writers and their background tasks share.
pub(crate) struct Shared {
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) presign: aws_sdk_s3::Client,
    pub(crate) config: Config,
    pub(crate) dialect: Dialect,
    pub(crate) layout: Layout,
    pub(crate) deletion_log: Arc<DeletionLog>,
    pub(crate) requests: Arc<RequestCounter>,
}

/// Applies the configured object options (content type, ACL, storage class, server-side
/// encryption) to a PutObject, CreateMultipartUpload or CopyObject request builder.
macro_rules! object_options {
    ($builder:expr, $config:expr) => {{
        use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption, StorageClass};
        let config: &$crate::config::Config = $config;
        let mut builder = $builder
            .content_type("application/octet-stream")
            .acl(ObjectCannedAcl::from(config.object_acl.as_str()));
        if let Some(class) = &config.storage_class {
            builder = builder.storage_class(StorageClass::from(class.as_str()));
        }
        match &config.encryption {
            $crate::config::Encryption::None => {}
            $crate::config::Encryption::Aes256 => {
                builder = builder.server_side_encryption(ServerSideEncryption::Aes256);
            }
            $crate::config::Encryption::Kms { key_id } => {
                builder = builder
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(key_id);
            }
        }
        builder
    }};
}
pub(crate) use object_options;

impl Shared {
    pub(crate) fn bucket(&self) -> &str {
        &self.config.bucket
    }

    /// `x-amz-copy-source` for `key`: `bucket/key`, percent-encoded except for `/`.
    pub(crate) fn copy_source(&self, key: &str) -> String {
        let mut out = format!("{}/", self.bucket());
        for b in key.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// PutObject of `content` at `key` with the configured object options.
    pub(crate) async fn put_object(&self, key: &str, content: Bytes, path: &str) -> Result<()> {
        object_options!(self.s3.put_object(), &self.config)
            .bucket(self.bucket())
            .key(key)
            .content_length(content.len() as i64)
            .body(SdkBody::from(content))
            .send()
            .await
            .map_err(|e| from_sdk(e, "put", path))?;
        Ok(())
    }

    /// The size and modification time of the object at `key`, or `None` if there is none.
    pub(crate) async fn head(&self, key: &str, path: &str) -> Result<Option<(u64, SystemTime)>> {
        match self
            .s3
            .head_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some((
                head.content_length().unwrap_or(0).max(0) as u64,
                head.last_modified()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .unwrap_or(UNIX_EPOCH),
            ))),
            Err(e) if is_not_found(&e) => Ok(None),
            // Stores that keep keys as files and directories (s3s-fs) fail a HEAD of a key that
            // is a directory on their disk with a 500: when the first key starting with `key`
            // is not `key` itself (which would come first), there is no object at `key`.
            Err(e) if status(&e).is_some_and(|s| s >= 500) => {
                match self.first_key(key, path).await?.as_deref() {
                    Some(first) if first == key => Err(from_sdk(e, "stat", path)),
                    _ => Ok(None),
                }
            }
            Err(e) => Err(from_sdk(e, "stat", path)),
        }
    }

    /// True when at least one key starts with `prefix`.
    pub(crate) async fn any_under(&self, prefix: &str, path: &str) -> Result<bool> {
        Ok(self.first_key(prefix, path).await?.is_some())
    }

    /// The first key (in the store's byte order) that starts with `prefix`.
    async fn first_key(&self, prefix: &str, path: &str) -> Result<Option<String>> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(self.bucket())
            .prefix(prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| from_sdk(e, "list", path))?;
        Ok(listed
            .contents()
            .first()
            .and_then(|o| o.key())
            .map(str::to_owned))
    }

    /// DeleteObject of one key (a missing key is fine).
    pub(crate) async fn delete_key(&self, key: &str, path: &str) -> Result<()> {
        self.s3
            .delete_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
            .map_err(|e| from_sdk(e, "delete", path))?;
        Ok(())
    }

    /// DeleteObjects of up to [`PAGE`] keys, failing on the first key S3 could not delete.
    async fn delete_batch(&self, keys: Vec<String>, path: &str) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let objects = keys
            .into_iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::backend(format!("delete {path}")).with_source(e))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| Error::backend(format!("delete {path}")).with_source(e))?;
        let request = self
            .s3
            .delete_objects()
            .bucket(self.bucket())
            .delete(delete);
        let sent = match self.dialect.checksums {
            Checksums::WhenRequired => request.send().await,
            Checksums::ContentMd5 => {
                request
                    .customize()
                    .config_override(client::content_md5_only())
                    .send()
                    .await
            }
        };
        let out = sent.map_err(|e| from_sdk(e, "delete", path))?;
        if let Some(failed) = out.errors().first() {
            let code = failed.code().unwrap_or("error");
            let detail = format!(
                "delete {path}: {} of the keys could not be deleted, e.g. {}: {code}: {}",
                out.errors().len(),
                failed.key().unwrap_or("?"),
                failed.message().unwrap_or("")
            );
            let kind = match error::classify(Some(code), None) {
                error::Class::Denied => ErrorKind::PermissionDenied,
                error::Class::Temporary => ErrorKind::Backend { temporary: true },
                _ => ErrorKind::Backend { temporary: false },
            };
            return Err(Error::new(kind).with_detail(detail));
        }
        Ok(())
    }
}

/// The s3 driver: one bucket (and key prefix), one SDK client.
pub struct S3Driver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for S3Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Driver")
            .field("dialect", &self.shared.dialect)
            .field("config", &self.shared.config)
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
            DELETION_LOG_LEN,
        );
        tracing::debug!(driver = dialect.name, bucket = %config.bucket, root = %config.root,
            endpoint, "S3-protocol driver created");
        Ok(Self {
            shared: Arc::new(Shared {
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
        &self.shared.config
    }

    /// The store's name and request rules the driver was built with.
    pub fn dialect(&self) -> Dialect {
        self.shared.dialect
    }

    /// The HTTP requests this driver sent so far, by S3 operation.
    pub fn requests(&self) -> &RequestCounter {
        &self.shared.requests
    }

    /// The SDK client the driver sends its requests with (for tools and tests that need to
    /// reach the bucket directly).
    pub fn sdk_client(&self) -> &aws_sdk_s3::Client {
        &self.shared.s3
    }

    /// The object key a contract path is stored under.
    pub fn key_of(&self, path: &str) -> String {
        self.shared.layout.key(path)
    }

    /// Copies `source_key` (of `size` bytes) to `dest_key` with UploadPartCopy parts of
    /// `multipartcopychunksize`, at most `multipartcopymaxconcurrency` at once.
    async fn multipart_copy(
        &self,
        source_key: &str,
        dest_key: &str,
        size: u64,
        path: &str,
    ) -> Result<()> {
        let s = &self.shared;
        let created = object_options!(s.s3.create_multipart_upload(), &s.config)
            .bucket(s.bucket())
            .key(dest_key)
            .customize()
            .config_override(client::once())
            .send()
            .await
            .map_err(|e| from_sdk(e, "move", path))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| Error::backend(format!("move {path}: S3 gave no upload id")))?
            .to_owned();
        let chunk = s.config.multipart_copy_chunk_size;
        let count = size.div_ceil(chunk);
        let source = s.copy_source(source_key);
        let copies = futures::stream::iter(0..count)
            .map(|i| {
                let (first, last) = (i * chunk, ((i + 1) * chunk).min(size) - 1);
                let request =
                    s.s3.upload_part_copy()
                        .bucket(s.bucket())
                        .key(dest_key)
                        .upload_id(&upload_id)
                        .part_number(i as i32 + 1)
                        .copy_source(&source)
                        .copy_source_range(format!("bytes={first}-{last}"));
                async move {
                    let out = request
                        .send()
                        .await
                        .map_err(|e| from_sdk(e, "move", path))?;
                    let etag = out
                        .copy_part_result()
                        .and_then(|r| r.e_tag())
                        .unwrap_or_default()
                        .to_owned();
                    Ok::<_, Error>(
                        CompletedPart::builder()
                            .part_number(i as i32 + 1)
                            .e_tag(etag)
                            .build(),
                    )
                }
            })
            .buffer_unordered(s.config.multipart_copy_max_concurrency);
        let copied: Result<Vec<CompletedPart>> =
            copies.collect::<Vec<_>>().await.into_iter().collect();
        let completed = match copied {
            Ok(mut parts) => {
                parts.sort_by_key(|p| p.part_number());
                s.s3.complete_multipart_upload()
                    .bucket(s.bucket())
                    .key(dest_key)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .customize()
                    .config_override(client::once())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| from_sdk(e, "move", path))
            }
            Err(e) => Err(e),
        };
        if completed.is_err() {
            writer::abort_upload(s, dest_key, &upload_id, path).await;
        }
        completed
    }
}

#[async_trait]
impl StorageDriver for S3Driver {
    fn name(&self) -> &str {
        self.shared.dialect.name
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        reader::get_content(&self.shared, path).await
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        let key = self.shared.layout.key(path);
        self.shared.put_object(&key, content, path).await
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteStream> {
        reader::reader(&self.shared, path, offset).await
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        let writer = if append {
            writer::S3Writer::resume(self.shared.clone(), path).await?
        } else {
            writer::S3Writer::create(self.shared.clone(), path).await?
        };
        Ok(Box::new(writer))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        if path == ROOT {
            return Ok(FileInfo::dir(ROOT, UNIX_EPOCH));
        }
        let s = &self.shared;
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
        let s = &self.shared;
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
        let s = &self.shared;
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
            self.multipart_copy(&source_key, &dest_key, size, source)
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
        let s = &self.shared;
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
        let s = &self.shared;
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
        walk::walk(&self.shared, path, options, visitor).await
    }
}
