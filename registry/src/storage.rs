//! The registry's operations on a storage driver, in the reference registry's layout
//! ([`crate::layout`]): blobs, uploads, manifests, tags, the catalog and referrers. The HTTP
//! layer ([`crate::http`]) only translates requests into these calls.
//!
//! Uploads keep all their state in the storage (the driver's resumable writer at
//! `_uploads/<id>/data`, the start time, the hash state after each request), so an upload goes on
//! after a restart of the server, or on another server over the same storage. A blob becomes
//! visible — moved into `blobs/` and linked into the repository — only after its digest was
//! verified.
//!
//! Manifests read or written are kept in memory by digest ([`ManifestCache`], bounded): a
//! digest names its bytes for good, so an entry never goes stale; what a request may see is
//! still decided by the links it reads (tags, revisions), never by the cache.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use serde_json::Value;
use sha2::Digest as _;
use wharf_runtime::{
    ByteStream, FileWriter, RedirectMethod, StorageDriver, WalkControl, WalkOptions,
};

use crate::error::{ApiError, ApiResult, Code};
use crate::hasher::ResumableSha256;
use crate::layout;
use crate::manifest::{self, MAX_MANIFEST_BYTES, Parsed};
use crate::names::{Algorithm, Digest, Name, Reference, Tag};

/// A request body, as the HTTP layer hands it over.
pub type Body = Pin<Box<dyn Stream<Item = ApiResult<Bytes>> + Send>>;

/// Writes reach the driver in pieces of this size (request bodies arrive in small frames; each
/// driver call, above all a guest's, has a fixed cost).
const WRITE_CHUNK: usize = 1 << 20;

/// The most bytes of manifests kept in memory ([`ManifestCache`]), and the largest one kept.
const MANIFEST_CACHE_BYTES: usize = 16 << 20;
const MANIFEST_CACHE_LARGEST: usize = 1 << 20;

/// How long a redirect URL stays valid (the reference registry's 20 minutes).
const REDIRECT_EXPIRY: Duration = Duration::from_secs(20 * 60);

/// What the registry's configuration decides about storage.
#[derive(Debug, Clone)]
pub struct Options {
    /// Deleting blobs and manifests is allowed (`storage.delete.enabled`).
    pub delete_enabled: bool,
    /// Blob GETs are redirected to the driver's URL when it has one (`storage.redirect.disable`
    /// not set).
    pub redirect: bool,
    /// The most repositories one catalog page lists (`catalog.maxentries`).
    pub catalog_max_entries: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            delete_enabled: false,
            redirect: true,
            catalog_max_entries: 1000,
        }
    }
}

/// A blob in a repository.
#[derive(Debug, Clone)]
pub struct BlobInfo {
    /// The digest it is stored under (SHA-256).
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

/// How a client is to get a blob's bytes.
pub enum BlobBody {
    /// From this URL (the driver's redirect).
    Redirect(String),
    /// From the registry: a stream from the requested offset.
    Stream(ByteStream),
}

/// A stored manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its bytes, exactly as they were put.
    pub bytes: Bytes,
}

/// What storing a manifest did.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its subject, for the `OCI-Subject` answer.
    pub subject: Option<Digest>,
}

/// The registry's storage: a driver and the options that govern it.
pub struct Storage {
    driver: Arc<dyn StorageDriver>,
    options: Options,
    uploads: UploadLocks,
    manifests: ManifestCache,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("driver", &self.driver.name())
            .field("options", &self.options)
            .finish()
    }
}

fn not_found(e: &wharf_runtime::Error) -> bool {
    e.is_not_found()
}

impl Storage {
    /// Storage over `driver`.
    pub fn new(driver: Arc<dyn StorageDriver>, options: Options) -> Self {
        Storage {
            driver,
            options,
            uploads: UploadLocks::default(),
            manifests: ManifestCache::default(),
        }
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The driver.
    pub fn driver(&self) -> &Arc<dyn StorageDriver> {
        &self.driver
    }

    async fn read_link(&self, path: &str) -> ApiResult<Option<Digest>> {
        match self.driver.get_content(path).await {
            Ok(bytes) => {
                let text = std::str::from_utf8(&bytes).unwrap_or("");
                Digest::parse(text).map(Some).map_err(|_| {
                    ApiError::new(
                        Code::Unknown,
                        format!("the link {path} does not hold a digest"),
                    )
                })
            }
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(ApiError::storage("reading a link", e)),
        }
    }

    async fn write_link(&self, path: &str, target: &Digest) -> ApiResult<()> {
        self.driver
            .put_content(path, Bytes::from(target.to_string()))
            .await
            .map_err(|e| ApiError::storage("writing a link", e))
    }

    async fn delete_if_present(&self, path: &str, what: &str) -> ApiResult<bool> {
        match self.driver.delete(path).await {
            Ok(()) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(ApiError::storage(what, e)),
        }
    }

    async fn blob_size(&self, target: &Digest) -> ApiResult<Option<u64>> {
        match self.driver.stat(&layout::blob_data(target)).await {
            Ok(info) if !info.is_dir => Ok(Some(info.size)),
            Ok(_) => Ok(None),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(ApiError::storage("looking a blob up", e)),
        }
    }

    /// The blob `digest` of repository `name`, if the repository has it (its link and its data).
    pub async fn stat_blob(&self, name: &Name, digest: &Digest) -> ApiResult<Option<BlobInfo>> {
        let Some(target) = self.read_link(&layout::layer_link(name, digest)).await? else {
            return Ok(None);
        };
        Ok(self.blob_size(&target).await?.map(|size| BlobInfo {
            digest: target,
            size,
        }))
    }

    /// A known blob's bytes from `offset`, or the URL to fetch them from.
    pub async fn blob_body(
        &self,
        blob: &BlobInfo,
        offset: u64,
        method: RedirectMethod,
    ) -> ApiResult<BlobBody> {
        let path = layout::blob_data(&blob.digest);
        if self.options.redirect {
            match self
                .driver
                .redirect_url(method, &path, REDIRECT_EXPIRY)
                .await
            {
                Ok(Some(url)) => return Ok(BlobBody::Redirect(url)),
                Ok(None) => {}
                Err(e) => return Err(ApiError::storage("making a redirect URL", e)),
            }
        }
        if method == RedirectMethod::Head {
            return Ok(BlobBody::Stream(Box::pin(futures::stream::empty())));
        }
        self.driver
            .reader(&path, offset)
            .await
            .map(BlobBody::Stream)
            .map_err(|e| ApiError::storage("reading a blob", e))
    }

    fn deletes_allowed(&self) -> ApiResult<()> {
        if self.options.delete_enabled {
            Ok(())
        } else {
            Err(ApiError::new(
                Code::Unsupported,
                "deletes are disabled on this registry (storage.delete.enabled)",
            ))
        }
    }

    /// Removes a blob from a repository (its link; the bytes stay for other repositories and
    /// the garbage collector).
    pub async fn delete_blob(&self, name: &Name, digest: &Digest) -> ApiResult<()> {
        self.deletes_allowed()?;
        if self.stat_blob(name, digest).await?.is_none() {
            return Err(blob_unknown(digest));
        }
        self.delete_if_present(&layout::layer_link(name, digest), "deleting a blob link")
            .await?;
        Ok(())
    }

    /// Links blob `digest` of repository `from` into `name`; false when `from` does not have it.
    pub async fn mount(&self, name: &Name, from: &Name, digest: &Digest) -> ApiResult<bool> {
        let Some(blob) = self.stat_blob(from, digest).await? else {
            return Ok(false);
        };
        self.write_link(&layout::layer_link(name, digest), &blob.digest)
            .await?;
        Ok(true)
    }

    // Uploads.

    /// Starts an upload; its id.
    pub async fn start_upload(&self, name: &Name) -> ApiResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let started = rfc3339_seconds(SystemTime::now());
        self.driver
            .put_content(&layout::upload_started_at(name, &id), Bytes::from(started))
            .await
            .map_err(|e| ApiError::storage("starting an upload", e))?;
        Ok(id)
    }

    async fn check_upload(&self, name: &Name, id: &str) -> ApiResult<()> {
        match self
            .driver
            .get_content(&layout::upload_started_at(name, id))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Err(ApiError::new(
                Code::BlobUploadUnknown,
                format!("no upload {id} in {name}"),
            )),
            Err(e) => Err(ApiError::storage("looking an upload up", e)),
        }
    }

    /// Opens the upload's writer where earlier requests left it.
    async fn open_upload(&self, name: &Name, id: &str) -> ApiResult<Box<dyn FileWriter>> {
        let path = layout::upload_data(name, id);
        match self.driver.writer(&path, true).await {
            Ok(w) => Ok(w),
            // No request has written to it yet.
            Err(e) if not_found(&e) => self
                .driver
                .writer(&path, false)
                .await
                .map_err(|e| ApiError::storage("opening an upload", e)),
            Err(e) => Err(ApiError::storage("resuming an upload", e)),
        }
    }

    /// The hash state saved after `offset` bytes, if there is one for exactly that offset (the
    /// reference registry also leaves states for other offsets, which say nothing).
    async fn hash_state(&self, name: &Name, id: &str, offset: u64) -> Option<ResumableSha256> {
        if offset == 0 {
            return Some(ResumableSha256::new());
        }
        let bytes = self
            .driver
            .get_content(&layout::upload_hash_state(name, id, offset))
            .await
            .ok()?;
        ResumableSha256::from_state(&bytes)
            .ok()
            .filter(|h| h.len() == offset)
    }

    /// The bytes an upload holds.
    pub async fn upload_size(&self, name: &Name, id: &str) -> ApiResult<u64> {
        let _lock = self.uploads.lock(name, id).await;
        self.check_upload(name, id).await?;
        let mut writer = self.open_upload(name, id).await?;
        let size = writer.size();
        writer
            .close()
            .await
            .map_err(|e| ApiError::storage("closing an upload", e))?;
        Ok(size)
    }

    /// Appends `body` to an upload whose size must be `start` when given (a chunk's
    /// `Content-Range`); the upload's new size.
    pub async fn append(
        &self,
        name: &Name,
        id: &str,
        start: Option<u64>,
        body: Body,
    ) -> ApiResult<u64> {
        let _lock = self.uploads.lock(name, id).await;
        self.check_upload(name, id).await?;
        let mut writer = self.open_upload(name, id).await?;
        let size = writer.size();
        if let Some(start) = start
            && start != size
        {
            let _ = writer.close().await;
            return Err(ApiError::new(
                Code::RangeInvalid,
                format!("the chunk starts at {start}, the upload holds {size} bytes"),
            )
            .with_detail(serde_json::json!({ "size": size })));
        }
        let mut hasher = self.hash_state(name, id, size).await;
        let written = write_body(writer.as_mut(), body, hasher.as_mut()).await;
        let closed = writer
            .close()
            .await
            .map_err(|e| ApiError::storage("closing an upload", e));
        let new_size = writer.size();
        if let Some(h) = &hasher
            && closed.is_ok()
            && h.len() == new_size
        {
            // Without it the digest is computed from the stored bytes at the end.
            let _ = self
                .driver
                .put_content(
                    &layout::upload_hash_state(name, id, new_size),
                    Bytes::copy_from_slice(&h.to_state()),
                )
                .await;
        }
        written?;
        closed?;
        Ok(new_size)
    }

    /// Appends `body`, checks that the upload's content has `digest`, and makes it the blob
    /// `digest` of repository `name`. On a digest mismatch the upload is discarded.
    pub async fn complete(
        &self,
        name: &Name,
        id: &str,
        digest: &Digest,
        body: Body,
    ) -> ApiResult<Digest> {
        let _lock = self.uploads.lock(name, id).await;
        self.check_upload(name, id).await?;
        let mut writer = self.open_upload(name, id).await?;
        let mut hasher = self.hash_state(name, id, writer.size()).await;
        if let Err(e) = write_body(writer.as_mut(), body, hasher.as_mut()).await {
            let _ = writer.close().await;
            return Err(e);
        }
        if let Err(e) = writer.commit().await {
            let _ = writer.close().await;
            return Err(ApiError::storage("committing an upload", e));
        }
        let _ = writer.close().await;
        let size = writer.size();
        let data = layout::upload_data(name, id);
        let canonical = match hasher.filter(|h| h.len() == size) {
            Some(h) if digest.algorithm() == Algorithm::Sha256 => Digest::sha256(h.hex()),
            _ => {
                let (canonical, given) = self.rehash(&data, digest.algorithm()).await?;
                if given != digest.hex() {
                    self.discard_upload(name, id).await;
                    return Err(digest_mismatch(digest));
                }
                canonical
            }
        };
        if digest.algorithm() == Algorithm::Sha256 && canonical != *digest {
            self.discard_upload(name, id).await;
            return Err(digest_mismatch(digest));
        }
        if self.blob_size(&canonical).await?.is_none() {
            self.driver
                .rename(&data, &layout::blob_data(&canonical))
                .await
                .map_err(|e| ApiError::storage("moving an upload into place", e))?;
        }
        self.write_link(&layout::layer_link(name, &canonical), &canonical)
            .await?;
        if *digest != canonical {
            self.write_link(&layout::layer_link(name, digest), &canonical)
                .await?;
        }
        self.delete_if_present(&layout::upload(name, id), "removing a finished upload")
            .await?;
        Ok(canonical)
    }

    /// Reads `path` back: its SHA-256 hex, and its hex in `algorithm`.
    async fn rehash(&self, path: &str, algorithm: Algorithm) -> ApiResult<(Digest, String)> {
        let mut stream = self
            .driver
            .reader(path, 0)
            .await
            .map_err(|e| ApiError::storage("reading an upload back", e))?;
        let mut sha256 = sha2::Sha256::new();
        let mut sha384 = sha2::Sha384::new();
        let mut sha512 = sha2::Sha512::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ApiError::storage("reading an upload back", e))?;
            sha256.update(&chunk);
            match algorithm {
                Algorithm::Sha256 => {}
                Algorithm::Sha384 => sha384.update(&chunk),
                Algorithm::Sha512 => sha512.update(&chunk),
            }
        }
        let canonical = Digest::sha256(hex::encode(sha256.finalize()));
        let given = match algorithm {
            Algorithm::Sha256 => canonical.hex().to_owned(),
            Algorithm::Sha384 => hex::encode(sha384.finalize()),
            Algorithm::Sha512 => hex::encode(sha512.finalize()),
        };
        Ok((canonical, given))
    }

    async fn discard_upload(&self, name: &Name, id: &str) {
        if let Err(e) = self.driver.delete(&layout::upload(name, id)).await
            && !not_found(&e)
        {
            tracing::warn!(%name, id, error = %e, "removing an upload failed");
        }
    }

    /// Cancels an upload.
    pub async fn cancel_upload(&self, name: &Name, id: &str) -> ApiResult<()> {
        let _lock = self.uploads.lock(name, id).await;
        self.check_upload(name, id).await?;
        let path = layout::upload_data(name, id);
        match self.driver.writer(&path, true).await {
            Ok(mut w) => {
                let _ = w.cancel().await;
            }
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(ApiError::storage("cancelling an upload", e)),
        }
        self.delete_if_present(&layout::upload(name, id), "removing an upload")
            .await?;
        Ok(())
    }

    /// Removes uploads started before `before` (the reference registry's upload purging); how
    /// many. With `dry_run`, only counts them.
    pub async fn purge_uploads(&self, before: SystemTime, dry_run: bool) -> ApiResult<usize> {
        let root = layout::repositories();
        let mut upload_dirs = Vec::new();
        let walked = self
            .driver
            .walk(&root, &WalkOptions::default(), &mut |info| {
                if !info.is_dir {
                    return Ok(WalkControl::Continue);
                }
                let base = info.path.rsplit('/').next().unwrap_or("");
                if base == "_uploads" {
                    upload_dirs.push(info.path.clone());
                }
                Ok(if base.starts_with('_') {
                    WalkControl::SkipDir
                } else {
                    WalkControl::Continue
                })
            })
            .await;
        match walked {
            Ok(()) => {}
            Err(e) if not_found(&e) => return Ok(0),
            Err(e) => return Err(ApiError::storage("looking for old uploads", e)),
        }
        let mut purged = 0;
        for dir in upload_dirs {
            let ids = match self.driver.list(&dir).await {
                Ok(ids) => ids,
                Err(e) if not_found(&e) => continue,
                Err(e) => return Err(ApiError::storage("listing uploads", e)),
            };
            for upload in ids {
                let started = match self
                    .driver
                    .get_content(&format!("{upload}/startedat"))
                    .await
                {
                    Ok(bytes) => parse_rfc3339(std::str::from_utf8(&bytes).unwrap_or("")),
                    Err(e) if not_found(&e) => None,
                    Err(e) => return Err(ApiError::storage("reading an upload's start", e)),
                };
                // Without a readable start time an upload is never purged (as the reference).
                if started.is_some_and(|t| t < before) {
                    purged += 1;
                    if !dry_run {
                        self.delete_if_present(&upload, "purging an upload").await?;
                    }
                }
            }
        }
        Ok(purged)
    }

    // Manifests.

    /// The digest `reference` names in `name`.
    pub async fn resolve(&self, name: &Name, reference: &Reference) -> ApiResult<Digest> {
        match reference {
            Reference::Tag(tag) => self
                .read_link(&layout::tag_current(name, tag))
                .await?
                .ok_or_else(|| manifest_unknown(&tag.to_string())),
            Reference::Digest(d) => {
                if self.has_manifest(name, d).await? {
                    Ok(d.clone())
                } else {
                    Err(manifest_unknown(&d.to_string()))
                }
            }
        }
    }

    async fn has_manifest(&self, name: &Name, d: &Digest) -> ApiResult<bool> {
        // The reference registry 2.1 linked manifests under `_layers`; it still reads those.
        let link = match self.read_link(&layout::revision_link(name, d)).await? {
            Some(target) => Some(target),
            None => self.read_link(&layout::layer_link(name, d)).await?,
        };
        Ok(match link {
            Some(target) => {
                self.manifests.get(&target).is_some() || self.blob_size(&target).await?.is_some()
            }
            None => false,
        })
    }

    /// The manifest `reference` names in `name`.
    pub async fn manifest(&self, name: &Name, reference: &Reference) -> ApiResult<Manifest> {
        let digest = self.resolve(name, reference).await?;
        let too_large = || {
            ApiError::new(
                Code::ManifestInvalid,
                format!("the stored manifest {digest} is larger than 4 MiB"),
            )
        };
        let bytes = match self.manifests.get(&digest) {
            Some(bytes) => bytes,
            None => {
                // Its size first: a digest linked under `_layers` (where the reference's early
                // versions linked manifests too) may name a layer of any size, which must not
                // be read into memory to be refused.
                let path = layout::blob_data(&digest);
                match self.driver.stat(&path).await {
                    Ok(info) if info.size > MAX_MANIFEST_BYTES as u64 => return Err(too_large()),
                    Ok(_) => {}
                    Err(e) if not_found(&e) => return Err(manifest_unknown(&digest.to_string())),
                    Err(e) => return Err(ApiError::storage("looking a manifest up", e)),
                }
                match self.driver.get_content(&path).await {
                    Ok(bytes) => {
                        // Kept only when the bytes are the digest's (a damaged blob is served
                        // as stored, as the reference does, but not remembered).
                        if bytes.len() <= MANIFEST_CACHE_LARGEST && Digest::of(&bytes) == digest {
                            self.manifests.insert(&digest, &bytes);
                        }
                        bytes
                    }
                    Err(e) if not_found(&e) => {
                        return Err(manifest_unknown(&digest.to_string()));
                    }
                    Err(e) => return Err(ApiError::storage("reading a manifest", e)),
                }
            }
        };
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(too_large());
        }
        Ok(Manifest {
            media_type: manifest::stored_media_type(&bytes),
            digest,
            bytes,
        })
    }

    /// Stores a manifest under `reference` (a tag, or the digest it must have).
    pub async fn put_manifest(
        &self,
        name: &Name,
        reference: &Reference,
        content_type: Option<&str>,
        bytes: Bytes,
    ) -> ApiResult<Stored> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ApiError::new(
                Code::TooLarge,
                "a manifest is at most 4 MiB".to_owned(),
            ));
        }
        let parsed = manifest::parse(&bytes, content_type)?;
        let digest = Digest::of(&bytes);
        if let Reference::Digest(d) = reference
            && *d != digest
        {
            return Err(ApiError::new(
                Code::DigestInvalid,
                format!("the manifest's digest is {digest}, not {d}"),
            )
            .with_detail(serde_json::json!({ "digest": d.to_string() })));
        }
        self.check_references(name, &parsed).await?;
        if self.blob_size(&digest).await?.is_none() {
            self.driver
                .put_content(&layout::blob_data(&digest), bytes.clone())
                .await
                .map_err(|e| ApiError::storage("storing a manifest", e))?;
            // Kept as stored; bytes already there are kept when first read (and checked).
            self.manifests.insert(&digest, &bytes);
        }
        self.write_link(&layout::revision_link(name, &digest), &digest)
            .await?;
        if let Some(subject) = &parsed.subject {
            self.write_link(&layout::referrer_link(name, subject, &digest), &digest)
                .await?;
        }
        if let Reference::Tag(tag) = reference {
            self.write_link(&layout::tag_index(name, tag, &digest), &digest)
                .await?;
            self.write_link(&layout::tag_current(name, tag), &digest)
                .await?;
        }
        Ok(Stored {
            digest,
            subject: parsed.subject,
        })
    }

    async fn check_references(&self, name: &Name, parsed: &Parsed) -> ApiResult<()> {
        let blobs =
            futures::future::try_join_all(parsed.blobs.iter().map(|d| self.stat_blob(name, d)));
        let manifests = futures::future::try_join_all(
            parsed.manifests.iter().map(|d| self.has_manifest(name, d)),
        );
        let (blobs, manifests) = futures::try_join!(blobs, manifests)?;
        let missing = parsed
            .blobs
            .iter()
            .zip(&blobs)
            .filter(|(_, b)| b.is_none())
            .map(|(d, _)| d)
            .chain(
                parsed
                    .manifests
                    .iter()
                    .zip(&manifests)
                    .filter(|(_, m)| !**m)
                    .map(|(d, _)| d),
            )
            .next();
        match missing {
            None => Ok(()),
            Some(d) => Err(ApiError::new(
                Code::ManifestBlobUnknown,
                format!("the manifest references {d}, which is not in {name}"),
            )
            .with_detail(serde_json::json!({ "digest": d.to_string() }))),
        }
    }

    /// Deletes a manifest (by digest: it, and the tags naming it) or a tag.
    pub async fn delete_manifest(&self, name: &Name, reference: &Reference) -> ApiResult<()> {
        self.deletes_allowed()?;
        let digest = match reference {
            Reference::Tag(tag) => {
                if self
                    .read_link(&layout::tag_current(name, tag))
                    .await?
                    .is_none()
                {
                    return Err(manifest_unknown(tag.as_str()));
                }
                self.delete_if_present(&layout::tag(name, tag), "deleting a tag")
                    .await?;
                return Ok(());
            }
            Reference::Digest(d) => d,
        };
        let stored = self.manifest(name, reference).await?;
        if let Ok(parsed) = manifest::parse(&stored.bytes, None)
            && let Some(subject) = parsed.subject
        {
            self.delete_if_present(
                &layout::referrer_link(name, &subject, digest),
                "deleting a referrer link",
            )
            .await?;
        }
        self.delete_if_present(&layout::revision_link(name, digest), "deleting a manifest")
            .await?;
        self.delete_if_present(&layout::layer_link(name, digest), "deleting a manifest")
            .await?;
        for tag in self.tags(name).await.unwrap_or_default() {
            let Ok(tag) = Tag::parse(&tag) else { continue };
            if self.read_link(&layout::tag_current(name, &tag)).await? == Some(digest.clone()) {
                self.delete_if_present(&layout::tag(name, &tag), "untagging a manifest")
                    .await?;
            }
        }
        Ok(())
    }

    /// A repository's tags, in byte order.
    pub async fn tags(&self, name: &Name) -> ApiResult<Vec<String>> {
        match self.driver.list(&layout::tags(name)).await {
            Ok(paths) => {
                let mut tags: Vec<String> = paths
                    .iter()
                    .filter_map(|p| p.rsplit('/').next())
                    .map(str::to_owned)
                    .collect();
                tags.sort();
                Ok(tags)
            }
            Err(e) if not_found(&e) => Err(ApiError::new(
                Code::NameUnknown,
                format!("repository {name} is not known"),
            )
            .with_detail(serde_json::json!({ "name": name.as_str() }))),
            Err(e) => Err(ApiError::storage("listing tags", e)),
        }
    }

    /// Up to `n` repositories after `last`, in walk order, and whether more follow. A
    /// repository is a directory holding `_layers`, as for the reference registry; the walk
    /// starts after `last` (never a listing of everything per page).
    pub async fn catalog(&self, n: usize, last: Option<&Name>) -> ApiResult<(Vec<String>, bool)> {
        let root = layout::repositories();
        let options = WalkOptions {
            start_after: last.map(|l| format!("{root}/{l}/_layers")),
        };
        let prefix = format!("{root}/");
        let mut found = Vec::new();
        let walked = self
            .driver
            .walk(&root, &options, &mut |info| {
                if !info.is_dir {
                    return Ok(WalkControl::Continue);
                }
                let Some((parent, base)) = info.path.rsplit_once('/') else {
                    return Ok(WalkControl::Continue);
                };
                if !base.starts_with('_') {
                    return Ok(WalkControl::Continue);
                }
                if base == "_layers"
                    && let Some(repo) = parent.strip_prefix(&prefix)
                {
                    found.push(repo.to_owned());
                    if found.len() > n {
                        return Ok(WalkControl::Stop);
                    }
                }
                Ok(WalkControl::SkipDir)
            })
            .await;
        match walked {
            Ok(()) => {}
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(ApiError::storage("walking the repositories", e)),
        }
        let more = found.len() > n;
        found.truncate(n);
        Ok((found, more))
    }

    /// Descriptors of the manifests of `name` whose subject is `subject`, of `artifact_type`
    /// when given.
    pub async fn referrers(
        &self,
        name: &Name,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> ApiResult<Vec<Value>> {
        let mut digests = Vec::new();
        let algorithms = match self.driver.list(&layout::referrers(name, subject)).await {
            Ok(dirs) => dirs,
            Err(e) if not_found(&e) => Vec::new(),
            Err(e) => return Err(ApiError::storage("listing referrers", e)),
        };
        for dir in algorithms {
            let alg = dir.rsplit('/').next().unwrap_or("").to_owned();
            let entries = match self.driver.list(&dir).await {
                Ok(entries) => entries,
                Err(e) if not_found(&e) => continue,
                Err(e) => return Err(ApiError::storage("listing referrers", e)),
            };
            for entry in entries {
                let hex = entry.rsplit('/').next().unwrap_or("");
                if let Ok(d) = Digest::parse(&format!("{alg}:{hex}")) {
                    digests.push(d);
                }
            }
        }
        let mut descriptors = Vec::new();
        for d in digests {
            // A referrer deleted (or collected) since is skipped.
            let stored = match self.manifest(name, &Reference::Digest(d)).await {
                Ok(m) => m,
                Err(e) if e.code == Code::ManifestUnknown => continue,
                Err(e) => return Err(e),
            };
            let Ok(parsed) = manifest::parse(&stored.bytes, None) else {
                continue;
            };
            if artifact_type.is_some() && parsed.artifact_type.as_deref() != artifact_type {
                continue;
            }
            let mut descriptor = serde_json::json!({
                "mediaType": stored.media_type,
                "digest": stored.digest.to_string(),
                "size": stored.bytes.len(),
            });
            if let Some(t) = parsed.artifact_type {
                descriptor["artifactType"] = Value::String(t);
            }
            if let Some(a) = parsed.annotations {
                descriptor["annotations"] = a;
            }
            descriptors.push(descriptor);
        }
        Ok(descriptors)
    }
}

/// Writes `body` to `writer` in [`WRITE_CHUNK`] pieces, hashing what it writes.
async fn write_body(
    writer: &mut dyn FileWriter,
    mut body: Body,
    mut hasher: Option<&mut ResumableSha256>,
) -> ApiResult<()> {
    let mut pending = BytesMut::new();
    loop {
        let next = body.next().await;
        let flush = match &next {
            Some(Ok(chunk)) => {
                if let Some(h) = hasher.as_deref_mut() {
                    h.update(chunk);
                }
                if pending.is_empty() && chunk.len() >= WRITE_CHUNK {
                    writer
                        .write(chunk.clone())
                        .await
                        .map_err(|e| ApiError::storage("writing an upload", e))?;
                    continue;
                }
                pending.extend_from_slice(chunk);
                pending.len() >= WRITE_CHUNK
            }
            Some(Err(_)) | None => !pending.is_empty(),
        };
        if flush {
            writer
                .write(pending.split().freeze())
                .await
                .map_err(|e| ApiError::storage("writing an upload", e))?;
        }
        match next {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => return Ok(()),
        }
    }
}

fn blob_unknown(d: &Digest) -> ApiError {
    ApiError::new(
        Code::BlobUnknown,
        format!("blob {d} is not in the repository"),
    )
    .with_detail(serde_json::json!({ "digest": d.to_string() }))
}

fn manifest_unknown(reference: &str) -> ApiError {
    ApiError::new(
        Code::ManifestUnknown,
        format!("manifest {reference} is not in the repository"),
    )
    .with_detail(serde_json::json!({ "reference": reference }))
}

fn digest_mismatch(d: &Digest) -> ApiError {
    ApiError::new(
        Code::DigestInvalid,
        format!("the uploaded content does not have the digest {d}"),
    )
    .with_detail(serde_json::json!({ "digest": d.to_string() }))
}

/// `time` as RFC 3339 in UTC, to the second (the reference's `startedat`).
pub fn rfc3339_seconds(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Parses an RFC 3339 time as the reference registry writes and reads it.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim()).ok()
}

/// Manifests by digest, least recently used dropped first once they hold more than
/// [`MANIFEST_CACHE_BYTES`]; none larger than [`MANIFEST_CACHE_LARGEST`]. Each entry is its own
/// copy (never a slice pinning a larger buffer), counted with its digest.
struct ManifestCache(Mutex<CachedManifests>);

struct CachedManifests {
    entries: lru::LruCache<Digest, Bytes>,
    bytes: usize,
}

impl Default for ManifestCache {
    fn default() -> Self {
        ManifestCache(Mutex::new(CachedManifests {
            entries: lru::LruCache::unbounded(),
            bytes: 0,
        }))
    }
}

impl ManifestCache {
    fn cost(digest: &Digest, bytes: &Bytes) -> usize {
        bytes.len() + digest.to_string().len() + std::mem::size_of::<(Digest, Bytes)>()
    }

    fn get(&self, digest: &Digest) -> Option<Bytes> {
        let mut cache = self.0.lock().expect("the manifest cache is never poisoned");
        cache.entries.get(digest).cloned()
    }

    fn insert(&self, digest: &Digest, bytes: &Bytes) {
        if bytes.len() > MANIFEST_CACHE_LARGEST {
            return;
        }
        let bytes = Bytes::copy_from_slice(bytes);
        let mut cache = self.0.lock().expect("the manifest cache is never poisoned");
        cache.bytes += Self::cost(digest, &bytes);
        if let Some(old) = cache.entries.put(digest.clone(), bytes) {
            cache.bytes -= Self::cost(digest, &old);
        }
        while cache.bytes > MANIFEST_CACHE_BYTES {
            let Some((d, b)) = cache.entries.pop_lru() else {
                break;
            };
            cache.bytes -= Self::cost(&d, &b);
        }
    }
}

/// One lock per upload, so two requests on it do not interleave their writers (in this
/// process; uploads are one client's, which sends its requests in order).
#[derive(Default)]
struct UploadLocks(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl UploadLocks {
    async fn lock(&self, name: &Name, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self
                .0
                .lock()
                .expect("the upload lock table is never poisoned");
            map.retain(|_, weak| weak.strong_count() > 0);
            let key = format!("{name}/{id}");
            match map.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}
