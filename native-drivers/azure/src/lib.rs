//! Wharf's native Azure Blob Storage driver, registered as `azure`: committed content is laid
//! out as the reference registry's azure driver lays it out (the blob
//! `<rootdirectory>/<path without its leading />` in the configured container), so Wharf and an
//! existing registry share one container.
//!
//! The driver speaks the Blob service REST API through its own small client (`client`, `blob`,
//! `batch`) on the shared HTTP kit (`wharf-http`, reqwest with rustls), signing with Shared Key
//! (`sign`) or Entra ID tokens (`token`). `put_content` is one atomic Put Blob; uploads are staged blocks of the target blob
//! committed with Put Block List (`writer`); `list` and `stat` use delimiter listings (`list`),
//! `walk` flat listings, a page per 5000 blobs (`walk`);
//! `delete` removes a blob and everything under `path/` in batches of 256; `move` is a
//! server-side copy, polled until done, then a delete; `redirect_url` is a read-only SAS. See
//! README.md for the parameters, the mapping and its limits.

#![forbid(unsafe_code)]

mod batch;
mod blob;
mod client;
mod config;
mod error;
mod list;
mod reader;
mod sign;
mod token;
mod walk;
mod writer;
mod xml;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use wharf_object_store::KeyLayout;
use wharf_object_store::walk::DELETIONS_KEPT;
use wharf_runtime::deletion_log::DeletionLog;
use wharf_runtime::path::ROOT;
use wharf_runtime::{
    ByteStream, DriverRegistry, Error, FileInfo, FileWriter, Params, RedirectMethod, Result,
    StorageDriver, Visitor, WalkOptions,
};

pub use config::{
    ACCOUNT_KEY, ACCOUNT_NAME, CONTAINER, CREDENTIALS, Config, Credentials, DEFAULT_MAX_RETRIES,
    DEFAULT_REALM, DEFAULT_RETRY_DELAY, MAX_RETRIES, REALM, RETRY_DELAY, ROOT_DIRECTORY,
    SERVICE_URL, SKIP_VERIFY,
};

use crate::batch::{MAX_BATCH, Outcome};
use crate::client::{Client, Failure};
use crate::writer::{AzureWriter, Kind, UploadKey, block_id};

/// The name this driver registers under.
pub const NAME: &str = "azure";

/// Content up to this size is stored with one Put Blob; larger content is staged in blocks and
/// committed with one Put Block List (just as atomic).
const PUT_BLOB_MAX: usize = 256 << 20;
/// The block size of large `put_content` calls.
const PUT_BLOCK: usize = 64 << 20;
/// Batches (or single deletes, without batches) in flight at once.
const DELETE_BATCHES_IN_FLIGHT: usize = 4;
const DELETES_IN_FLIGHT: usize = 16;
/// The longest pause between two polls of a pending copy.
const MAX_POLL_DELAY: Duration = Duration::from_secs(5);

/// Registers the azure driver under [`NAME`].
pub fn register(registry: &mut DriverRegistry) -> Result<()> {
    registry.register(NAME, |params: Params| async move {
        let config = Config::from_params(params)?;
        Ok(Arc::new(AzureDriver::new(config)?) as Arc<dyn StorageDriver>)
    })
}

/// The azure driver: one container, reached through one HTTP client.
#[derive(Debug)]
pub struct AzureDriver {
    client: Arc<Client>,
    config: Config,
    /// Where contract paths live in the container: under `rootdirectory`.
    layout: KeyLayout,
    /// Set once the account refused a batch: deletes then go one blob at a time.
    batch_unsupported: AtomicBool,
    /// Deletions and moves made through this process in the container, for walks.
    deletion_log: Arc<DeletionLog>,
}

impl AzureDriver {
    /// A driver for `config`. No request is sent until the first operation.
    pub fn new(config: Config) -> Result<Self> {
        let client = Client::new(&config)?;
        tracing::debug!(service = %config.service_url, container = %config.container,
            credentials = config.credentials.type_name(), "azure driver created");
        let deletion_log = DeletionLog::shared(
            &format!("azure|{}|{}", config.service_url, config.container),
            DELETIONS_KEPT,
        );
        Ok(Self {
            client,
            layout: KeyLayout::new(&config.root_directory),
            config,
            batch_unsupported: AtomicBool::new(false),
            deletion_log,
        })
    }

    /// The configuration the driver was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Creates the configured container; `false` if it already existed. The driver itself never
    /// creates containers (as the reference); this is for tests and tools.
    pub async fn create_container(&self) -> Result<bool> {
        self.client
            .create_container()
            .await
            .map_err(|f| f.into_error("create container", ROOT).with_driver(NAME))
    }

    async fn put_blob(&self, blob: &str, path: &str, content: Bytes) -> Result<()> {
        let fail = |f: Failure| f.into_error("put_content", path);
        let result = if content.len() <= PUT_BLOB_MAX {
            self.client.put_blob(blob, content.clone(), None).await
        } else {
            self.put_in_blocks(blob, &content).await
        };
        match result {
            Ok(()) => Ok(()),
            // An append or page blob (as the reference driver writes them) cannot be
            // overwritten by a block blob: remove it, unless it changed meanwhile, and put again.
            Err(f) if f.is("InvalidBlobType") => {
                if let Some(props) = self.client.properties(blob).await.map_err(fail)? {
                    self.client
                        .delete_blob(blob, Some(&props.etag))
                        .await
                        .map_err(fail)?;
                }
                let again = if content.len() <= PUT_BLOB_MAX {
                    self.client.put_blob(blob, content, None).await
                } else {
                    self.put_in_blocks(blob, &content).await
                };
                again.map_err(fail)
            }
            Err(f) => Err(fail(f)),
        }
    }

    async fn put_in_blocks(&self, blob: &str, content: &Bytes) -> std::result::Result<(), Failure> {
        let key = UploadKey::for_put();
        let ids: Vec<String> = (0..content.len().div_ceil(PUT_BLOCK))
            .map(|i| block_id(key, Kind::Put, i as u32))
            .collect();
        // Futures built up front (not in a stream's closure) keep the driver's futures `Send`.
        let stages: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let end = ((i + 1) * PUT_BLOCK).min(content.len());
                self.client
                    .put_block(blob, id, content.slice(i * PUT_BLOCK..end))
            })
            .collect();
        futures::stream::iter(stages)
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
        self.client.put_block_list(blob, &ids).await
    }

    /// Deletes `blobs`, in batches where the account allows; blobs already gone are fine.
    async fn delete_blobs(&self, blobs: Vec<String>, path: &str) -> Result<()> {
        if !self.batch_unsupported.load(Ordering::Relaxed) {
            let chunks: Vec<Vec<String>> = blobs.chunks(MAX_BATCH).map(<[_]>::to_vec).collect();
            let batches: Vec<_> = chunks
                .iter()
                .map(|chunk| batch::delete(&self.client, chunk))
                .collect();
            let results: Vec<std::result::Result<Vec<Outcome>, Failure>> =
                futures::stream::iter(batches)
                    .buffered(DELETE_BATCHES_IN_FLIGHT)
                    .collect()
                    .await;
            let mut unsupported = false;
            for (chunk, result) in chunks.iter().zip(results) {
                match result {
                    Ok(outcomes) => {
                        for (blob, outcome) in chunk.iter().zip(outcomes) {
                            if let Outcome::Failed(status, code) = outcome {
                                return Err(Error::backend(format!(
                                    "delete {path}: deleting blob {blob} failed: HTTP {status} \
                                     {code}"
                                )));
                            }
                        }
                    }
                    Err(f) if batch_not_offered(&f) => unsupported = true,
                    Err(f) => return Err(f.into_error("delete", path)),
                }
            }
            if !unsupported {
                return Ok(());
            }
            tracing::debug!("azure: the account refused a batch; deleting blob by blob");
            self.batch_unsupported.store(true, Ordering::Relaxed);
        }
        let deletes: Vec<_> = blobs
            .iter()
            .map(|blob| self.client.delete_blob(blob, None))
            .collect();
        futures::stream::iter(deletes)
            .buffer_unordered(DELETES_IN_FLIGHT)
            .try_collect::<Vec<bool>>()
            .await
            .map_err(|f| f.into_error("delete", path))?;
        Ok(())
    }

    /// Waits for a pending copy into `dest` to end, as long as it makes progress.
    async fn wait_for_copy(&self, dest: &str, source_path: &str, copy_id: &str) -> Result<()> {
        let fail = |f: Failure| f.into_error("move", source_path);
        let mut last_progress = None;
        let mut stalled = 0u32;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let delay = (self.client.retry_delay() * attempt).min(MAX_POLL_DELAY);
            tokio::time::sleep(delay).await;
            let props = self
                .client
                .properties(dest)
                .await
                .map_err(fail)?
                .ok_or_else(|| Error::backend(format!("move {source_path}: the copy vanished")))?;
            if props.copy_id.as_deref() != Some(copy_id) {
                return Err(Error::backend(format!(
                    "move {source_path}: another copy replaced this one"
                )));
            }
            match props.copy_status.as_deref() {
                Some("success") => return Ok(()),
                Some("pending") => {}
                other => {
                    return Err(Error::backend(format!(
                        "move {source_path}: the copy ended as {}: {}",
                        other.unwrap_or("unknown"),
                        props.copy_status_description.unwrap_or_default()
                    )));
                }
            }
            if props.copy_progress == last_progress {
                stalled += 1;
                if stalled > self.client.max_retries() {
                    // Leave nothing half-copied behind.
                    let _ = self.client.abort_copy(dest, copy_id).await;
                    return Err(Error::temporary(format!(
                        "move {source_path}: the copy made no progress in {stalled} polls; \
                         aborted"
                    )));
                }
            } else {
                stalled = 0;
                last_progress = props.copy_progress;
            }
        }
    }
}

/// True when a batch failed because the account does not offer batches at all.
fn batch_not_offered(f: &Failure) -> bool {
    f.answer().is_some_and(|a| {
        matches!(a.status.as_u16(), 400 | 404 | 405 | 501)
            && !a.not_found
            && a.code != "ContainerNotFound"
    })
}

#[async_trait]
impl StorageDriver for AzureDriver {
    fn name(&self) -> &str {
        NAME
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        reader::get_content(&self.client, &self.layout.key(path), path).await
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        self.put_blob(&self.layout.key(path), path, content).await
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteStream> {
        reader::reader(self.client.clone(), &self.layout.key(path), path, offset).await
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        let blob = self.layout.key(path);
        let opened = writer::open(&self.client, &blob, path, append).await?;
        tracing::debug!(path, append, "upload opened");
        Ok(Box::new(AzureWriter::new(
            self.client.clone(),
            &blob,
            path,
            opened,
        )))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        self.stat_path(path).await
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        self.list_dir(path).await
    }

    async fn rename(&self, source: &str, dest: &str) -> Result<()> {
        let (from, to) = (self.layout.key(source), self.layout.key(dest));
        let started = match self.client.start_copy(&from, &to).await {
            Ok(started) => started,
            Err(f) if f.is_not_found() => {
                return Err(if self.has_blob_under(source, "move").await? {
                    // Moving a directory would take one copy per blob, and could not be undone
                    // halfway: refuse it, changing nothing.
                    Error::unsupported(format!("move of the directory {source}"))
                } else {
                    Error::not_found(source)
                });
            }
            // A blob of another type at the destination cannot be overwritten by a copy.
            Err(f) if f.is("InvalidBlobType") => {
                self.client
                    .delete_blob(&to, None)
                    .await
                    .map_err(|f| f.into_error("move", source))?;
                self.client
                    .start_copy(&from, &to)
                    .await
                    .map_err(|f| f.into_error("move", source))?
            }
            Err(f) => return Err(f.into_error("move", source)),
        };
        if started.status != "success" {
            self.wait_for_copy(&to, source, &started.id).await?;
        }
        self.client
            .delete_blob(&from, None)
            .await
            .map_err(|f| f.into_error("move", source))?;
        self.deletion_log.record(from);
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<()> {
        // Whether the path is a file is asked before anything is deleted: a delete whose
        // answer is lost and whose retry finds nothing cannot tell a blob it removed from one
        // that never was, and a missing path must still be `PathNotFound`. A file is the whole
        // of its path (as the reference driver takes it), so nothing is listed under it.
        let key = self.layout.key(path);
        let fail = |f: Failure| f.into_error("delete", path);
        if self.client.properties(&key).await.map_err(fail)?.is_some() {
            self.client.delete_blob(&key, None).await.map_err(fail)?;
            self.deletion_log.record(key);
            return Ok(());
        }
        let mut found = false;
        let mut marker: Option<String> = None;
        loop {
            let (blobs, next) = self.page_under(path, "delete", marker.as_deref()).await?;
            if !blobs.is_empty() {
                found = true;
                self.delete_blobs(blobs.into_iter().map(|b| b.name).collect(), path)
                    .await?;
            }
            match next {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        if found {
            self.deletion_log.record(key);
            Ok(())
        } else {
            Err(Error::not_found(path))
        }
    }

    async fn redirect_url(
        &self,
        _method: RedirectMethod,
        path: &str,
        expiry: Duration,
    ) -> Result<Option<String>> {
        // One read SAS serves both GET and HEAD (Get Blob and Get Blob Properties).
        let url = self
            .client
            .signed_url(&self.layout.key(path), SystemTime::now() + expiry)
            .await?;
        Ok(Some(url))
    }

    async fn walk(
        &self,
        path: &str,
        options: &WalkOptions,
        visitor: &mut Visitor<'_>,
    ) -> Result<()> {
        wharf_object_store::walk::walk(self, path, options, visitor).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver(root: &str) -> AzureDriver {
        let params = Params::from_pairs([
            ("accountname", "acct"),
            ("accountkey", "a2V5"),
            ("container", "registry"),
            ("rootdirectory", root),
        ]);
        AzureDriver::new(Config::from_params(params).unwrap()).unwrap()
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let params = Params::from_pairs([
            ("accountname", "acct"),
            ("accountkey", "c2VjcmV0LWtleQ=="),
            ("container", "registry"),
        ]);
        let d = AzureDriver::new(Config::from_params(params).unwrap()).unwrap();
        let debug = format!("{d:?}");
        assert!(
            debug.contains("acct") && debug.contains("registry"),
            "{debug}"
        );
        assert!(!debug.contains("c2VjcmV0LWtleQ=="), "{debug}");
        assert!(!debug.contains("secret-key"), "{debug}");
    }

    #[test]
    fn layout_follows_the_reference() {
        let d = driver("");
        assert_eq!(d.layout.key("/a/b"), "a/b");
        assert_eq!(d.layout.dir_prefix("/"), "");
        assert_eq!(d.layout.dir_prefix("/a"), "a/");
        assert_eq!(d.layout.path_of("a/b").as_deref(), Some("/a/b"));
        assert_eq!(d.layout.path_of("a b"), None);
        assert_eq!(d.layout.path_of("a//b"), None);

        let d = driver("/docker/registry/");
        assert_eq!(d.layout.key("/a/b"), "docker/registry/a/b");
        assert_eq!(d.layout.dir_prefix("/"), "docker/registry/");
        assert_eq!(d.layout.dir_prefix("/a"), "docker/registry/a/");
        assert_eq!(d.layout.path_of("docker/registry/a").as_deref(), Some("/a"));
        assert_eq!(d.layout.path_of("docker/registryx/a"), None);
        assert_eq!(d.layout.path_of("other/a"), None);
    }
}
