//! Wharf's native OpenStack Swift driver, registered as `swift`: committed content is laid out
//! as the reference registry's swift driver lays it out (the object `<prefix>/files<path>` in
//! the configured container, segments of large objects under `<prefix>/segments/`), so Wharf and
//! an existing registry share one container.
//!
//! The driver speaks the Swift API through its own small client (`client`) on reqwest,
//! authenticating with tempauth or Keystone v2/v3 (`auth`). Small content is one PUT; larger
//! content is uploaded as segments joined by a Static Large Object manifest (`manifest`), so no
//! read ever waits for segments to appear. Uploads keep their state in Swift (`writer`);
//! `list` and `stat` use delimiter listings (`list`), `walk` flat listings, a page per the
//! cluster's `container_listing_limit` (`walk`); `delete` uses the bulk-delete middleware
//! when `/info` offers it and removes large objects' segments too (`delete`); `move` copies
//! only the manifest of a large object; the segments of replaced large objects are removed after
//! a grace period (`garbage`); `redirect_url` is a TempURL (`tempurl`). See README.md for the
//! parameters, the mapping and its limits.

#![forbid(unsafe_code)]

mod auth;
mod client;
mod config;
mod delete;
mod error;
mod garbage;
mod list;
mod manifest;
mod reader;
mod tempurl;
mod walk;
mod writer;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use reqwest::StatusCode;
use sha2::Digest as _;
use wharf_object_store::KeyLayout;
use wharf_object_store::walk::DELETIONS_KEPT;
use wharf_runtime::deletion_log::DeletionLog;
use wharf_runtime::path::ROOT;
use wharf_runtime::{
    ByteStream, DriverRegistry, Error, FileInfo, FileWriter, Params, RedirectMethod, Result,
    StorageDriver, Visitor, WalkOptions,
};

pub use config::{
    ACCESS_KEY, AUTH_URL, AUTH_VERSION, AuthVersion, CHUNK_SIZE, CONTAINER, Config,
    DEFAULT_CHUNK_SIZE, DOMAIN, DOMAIN_ID, ENDPOINT_TYPE, EndpointType, INSECURE_SKIP_VERIFY,
    MIN_CHUNK_SIZE, PASSWORD, PREFIX, REGION, SECRET_KEY, TEMPURL_CONTAINER_KEY, TEMPURL_METHODS,
    TENANT, TENANT_DOMAIN, TENANT_DOMAIN_ID, TENANT_ID, TRUST_ID, USERNAME,
};

use crate::client::{Client, ObjectMeta};
use crate::error::Failure;
use crate::tempurl::TempUrl;

/// The name this driver registers under.
pub const NAME: &str = "swift";

/// Entries per listing page when `/info` does not give the cluster's `container_listing_limit`
/// (Swift's default).
const DEFAULT_PAGE: usize = 10_000;
/// Segments uploaded at once by one upload.
const SEGMENTS_IN_FLIGHT: usize = 4;
/// Swift's own default limits, used when the cluster does not publish `/info`.
const DEFAULT_MAX_FILE_SIZE: u64 = 5 * 1024 * 1024 * 1024 + 2;
const DEFAULT_MAX_SEGMENTS: usize = 1000;

/// Registers the swift driver under [`NAME`].
pub fn register(registry: &mut DriverRegistry) -> Result<()> {
    registry.register(NAME, |params: Params| async move {
        let config = Config::from_params(params)?;
        Ok(Arc::new(SwiftDriver::connect(config).await?) as Arc<dyn StorageDriver>)
    })
}

/// The swift driver: one container, reached through one HTTP client.
#[derive(Debug, Clone)]
pub struct SwiftDriver {
    inner: Arc<Store>,
}

/// The store the driver and its readers and writers share: one container through one client.
#[derive(Debug)]
pub(crate) struct Store {
    pub client: Client,
    pub config: Config,
    /// Where contract paths live in the container: under `<prefix>/files`.
    pub layout: KeyLayout,
    /// The largest segment written: `chunksize`, capped at the cluster's `max_file_size`.
    pub segment_size: u64,
    /// The most segments one manifest may list.
    pub max_segments: usize,
    /// The most names one bulk delete may carry, if the cluster offers bulk delete.
    pub bulk_max: Option<usize>,
    /// Entries per listing page: the cluster's `container_listing_limit`.
    pub page: usize,
    pub tempurl: Option<TempUrl>,
    /// When this instance last swept replaced segments (see `garbage`).
    pub last_sweep: std::sync::Mutex<Option<std::time::Instant>>,
    /// Deletions and moves made through this process under the prefix, for walks.
    pub deletion_log: Arc<DeletionLog>,
}

impl SwiftDriver {
    /// Authenticates, creates the container if it is missing, and reads the cluster's limits
    /// and middleware from `/info` (and sets up the TempURL key, as the reference does).
    pub async fn connect(config: Config) -> Result<Self> {
        let client = Client::new(&config)?;
        // The first authentication, retried like any request: the driver is not created
        // before it succeeds.
        let mut attempt = 0;
        while let Err(e) = client.session().await {
            attempt += 1;
            if !e.is_temporary() || attempt > config.network.max_retries {
                return Err(e);
            }
            tokio::time::sleep(config.network.backoff.delay(attempt)).await;
        }
        let root = "/";
        if client
            .head_container()
            .await
            .map_err(|f| f.into_error("open the container for", root))?
            .is_none()
        {
            client
                .create_container()
                .await
                .map_err(|f| f.into_error("create the container for", root))?;
            tracing::info!(container = %config.container, "swift: created the container");
        }
        let info = client.info().await?;
        let info = info.as_ref();
        let max_file_size = info
            .and_then(|i| i["swift"]["max_file_size"].as_u64())
            .unwrap_or(DEFAULT_MAX_FILE_SIZE);
        let max_segments = info
            .and_then(|i| i["slo"]["max_manifest_segments"].as_u64())
            .map_or(DEFAULT_MAX_SEGMENTS, |n| n.max(2) as usize);
        let page = info
            .and_then(|i| i["swift"]["container_listing_limit"].as_u64())
            .map_or(DEFAULT_PAGE, |n| n.clamp(1, DEFAULT_PAGE as u64) as usize);
        let bulk_max = info.and_then(|i| {
            let b = i.get("bulk_delete")?;
            Some(b["max_deletes_per_request"].as_u64().unwrap_or(1000).max(1) as usize)
        });
        let tempurl = tempurl::set_up(&client, &config, info).await?;
        let deletion_log = DeletionLog::shared(
            &format!(
                "swift|{}|{:?}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}",
                config.auth_url,
                config.region,
                config.username,
                config.domain,
                config.domain_id,
                config.tenant,
                config.tenant_id,
                config.tenant_domain,
                config.tenant_domain_id,
                config.container,
                config.prefix
            ),
            DELETIONS_KEPT,
        );
        let inner = Store {
            deletion_log,
            segment_size: config.chunk_size.min(max_file_size).max(1),
            max_segments,
            bulk_max,
            page,
            tempurl,
            client,
            layout: KeyLayout::new(&format!("{}/files", config.prefix)),
            config,
            last_sweep: std::sync::Mutex::new(None),
        };
        tracing::debug!(container = %inner.config.container, segment_size = inner.segment_size,
            max_segments, bulk = ?inner.bulk_max, tempurl = inner.tempurl.is_some(),
            "swift driver created");
        let inner = Arc::new(inner);
        // Segments that earlier instances replaced may be due for removal.
        inner.maybe_sweep();
        Ok(Self { inner })
    }

    /// Deletes the segments of replaced large objects recorded more than `grace` ago (the
    /// driver does this by itself with a grace of 15 minutes); returns how many replaced
    /// objects' segments it removed.
    pub async fn sweep_replaced_segments(&self, grace: Duration) -> Result<usize> {
        self.inner
            .sweep(grace)
            .await
            .map_err(|e| e.with_driver(NAME))
    }

    /// The configuration the driver was created with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The object name of a contract path, built exactly as the reference builds it.
    pub fn object_name(&self, path: &str) -> String {
        self.inner.object_name(path)
    }

    /// The largest segment the driver writes.
    pub fn segment_size(&self) -> u64 {
        self.inner.segment_size
    }

    /// True when deletes go through the bulk-delete middleware.
    pub fn uses_bulk_delete(&self) -> bool {
        self.inner.bulk_max.is_some()
    }

    /// Replaces the driver's token by `token`, so that the next request is refused and the
    /// driver must authenticate again (for tests of re-authentication).
    #[doc(hidden)]
    pub fn replace_token_for_tests(&self, token: &str) {
        self.inner.client.replace_token(token);
    }
}

impl Store {
    /// `<prefix>/files<path>` without leading or trailing `/`, as the reference (the root
    /// itself is `<prefix>/files`).
    pub(crate) fn object_name(&self, path: &str) -> String {
        if path == ROOT {
            self.layout.root_prefix().trim_end_matches('/').to_owned()
        } else {
            self.layout.key(path)
        }
    }

    /// A fresh, unique segment prefix: `<prefix>/segments/<3 hex>/<37 hex>`, as the reference
    /// names its segment directories.
    pub(crate) fn new_segment_prefix(&self) -> String {
        let id: [u8; 20] = rand::random();
        let digits = hex::encode(id);
        format!(
            "{}/segments/{}/{}",
            self.config.prefix,
            &digits[..3],
            &digits[3..]
        )
        .trim_start_matches('/')
        .to_owned()
    }

    /// The object holding the state of the upload to `path`.
    pub(crate) fn upload_state_name(&self, path: &str) -> String {
        let digest = sha2::Sha256::digest(path.as_bytes());
        format!(
            "{}/wharf-uploads/{}",
            self.config.prefix,
            hex::encode(digest)
        )
        .trim_start_matches('/')
        .to_owned()
    }

    /// Writes `content` as the object `name`: one PUT, or segments and a manifest when it is
    /// larger than a segment. Whatever `name` held before is replaced atomically, and the
    /// segments of a large object it held are removed afterwards.
    pub(crate) async fn put_object(
        self: &Arc<Self>,
        op: &str,
        name: &str,
        path: &str,
        content: Bytes,
    ) -> Result<()> {
        let fail = |f: Failure| f.into_error(op, path);
        let small = content.len() as u64 <= self.segment_size;
        if small {
            // A new file, a registry's usual write, costs one request: a PUT that Swift
            // refuses (412) if the object exists. Only then is the old object looked at (it may
            // be a large object whose segments must go) and overwritten.
            let new = [("if-none-match", "*".to_owned())];
            match self.client.put(name, content.clone(), &new).await {
                Ok(_) => return Ok(()),
                Err(f) if f.status() == Some(StatusCode::PRECONDITION_FAILED) => {}
                Err(f) => return Err(fail(f)),
            }
        }
        // After a 412 the object is known to exist: a 404 now is suspect, and the old object
        // must be seen (its segments go once it is replaced), so it gets the second look.
        let old = self.client.head(name).await.map_err(fail)?;
        if small {
            self.client.put(name, content, &[]).await.map_err(fail)?;
        } else {
            let prefix = self.new_segment_prefix();
            let size = self.segment_size as usize;
            let uploads: Vec<_> = (0..content.len().div_ceil(size))
                .map(|i| {
                    let part = content.slice(i * size..((i + 1) * size).min(content.len()));
                    let segment = manifest::segment_name(&prefix, i);
                    async move {
                        let len = part.len() as u64;
                        let etag = self.client.put(&segment, part, &[]).await?;
                        Ok::<_, Failure>(manifest::Part { size: len, etag })
                    }
                })
                .collect();
            let parts: Vec<manifest::Part> = futures::stream::iter(uploads)
                .buffered(SEGMENTS_IN_FLIGHT)
                .try_collect()
                .await
                .map_err(fail)?;
            manifest::put(self, name, &prefix, &parts)
                .await
                .map_err(fail)?;
        }
        self.remove_replaced(old.as_ref(), None, path).await
    }

    /// After `name` was overwritten, schedules the removal of the segments the object it held
    /// (`old`) used, unless the new object uses them too (`kept`); see `garbage`.
    pub(crate) async fn remove_replaced(
        self: &Arc<Self>,
        old: Option<&ObjectMeta>,
        kept: Option<&str>,
        path: &str,
    ) -> Result<()> {
        let Some(old) = old else { return Ok(()) };
        // Our segment prefixes are directories (`…/<id>/`); a reference DLO's prefix is a
        // plain string prefix, as DLO reads it.
        let prefix = if old.slo {
            old.segments.as_ref().map(|s| (s.clone(), format!("{s}/")))
        } else {
            old.dlo
                .as_deref()
                .and_then(|m| self.dlo_prefix(m))
                .map(|p| (p.clone(), p))
        };
        match prefix {
            Some((id, p)) if Some(id.as_str()) != kept => self.record_garbage(&p, path).await,
            _ => Ok(()),
        }
    }

    /// The segment prefix of a Dynamic Large Object manifest (`container/prefix`), if it lies
    /// in this container.
    pub(crate) fn dlo_prefix(&self, manifest: &str) -> Option<String> {
        let decoded = percent_encoding::percent_decode_str(manifest)
            .decode_utf8()
            .ok()?;
        let (container, prefix) = decoded.split_once('/')?;
        (container == self.config.container && !prefix.is_empty()).then(|| prefix.to_owned())
    }
}

#[async_trait]
impl StorageDriver for SwiftDriver {
    fn name(&self) -> &str {
        NAME
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        reader::get_content(&self.inner, path).await
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        self.inner
            .put_object("put_content", &self.inner.object_name(path), path, content)
            .await
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteStream> {
        reader::reader(self.inner.clone(), path, offset).await
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        let w = writer::SwiftWriter::open(self.inner.clone(), path, append).await?;
        tracing::debug!(path, append, size = w.size(), "upload opened");
        Ok(Box::new(w))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        self.inner.stat_path(path).await
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        self.inner.list_dir(path).await
    }

    async fn rename(&self, source: &str, dest: &str) -> Result<()> {
        let inner = &self.inner;
        let fail = |f: Failure| f.into_error("move", source);
        let (from, to) = (inner.object_name(source), inner.object_name(dest));
        let Some(meta) = inner.client.head(&from).await.map_err(fail)? else {
            return Err(if inner.has_object_under(source, "move").await? {
                // Moving a directory would take one copy per object and could not be undone
                // halfway: refuse it, changing nothing.
                Error::unsupported(format!("move of the directory {source}"))
            } else {
                Error::not_found(source)
            });
        };
        if from == to {
            return Ok(());
        }
        let old = inner.client.head(&to).await.map_err(fail)?;
        let kept = if meta.slo {
            // Only the manifest is copied; both manifests name the same segments until the
            // source manifest (alone) is deleted.
            inner.client.copy(&from, &to, true).await.map_err(fail)?;
            meta.segments.clone()
        } else if let Some(dlo) = &meta.dlo {
            inner
                .client
                .put(&to, Bytes::new(), &[("x-object-manifest", dlo.clone())])
                .await
                .map_err(fail)?;
            inner.dlo_prefix(dlo)
        } else {
            inner.client.copy(&from, &to, false).await.map_err(fail)?;
            None
        };
        inner.client.delete(&from, false).await.map_err(fail)?;
        inner.deletion_log.record(from);
        inner
            .remove_replaced(old.as_ref(), kept.as_deref(), dest)
            .await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let inner = &self.inner;
        let name = inner.object_name(path);
        let mut meta = inner
            .client
            .look_up(&name)
            .await
            .map_err(|f| f.into_error("delete", path))?;
        let prefix = inner.layout.dir_prefix(path);
        let mut found = false;
        let mut marker: Option<String> = None;
        loop {
            let (page, next) = inner
                .page(&prefix, None, marker.as_deref())
                .await
                .map_err(|f| f.into_error("delete", path))?;
            found |= !page.is_empty();
            inner.delete_entries(page, path).await?;
            match next {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        if meta.is_none() && !found {
            // Nothing at the path nor under it: the object gets its second look (a moment of
            // 404 while another writer overwrites it must not make this delete NotFound).
            meta = inner
                .client
                .head(&name)
                .await
                .map_err(|f| f.into_error("delete", path))?;
        }
        if let Some(meta) = meta {
            // It was there when asked: whether this delete, a concurrent one or an attempt
            // whose answer was lost removed it, the path is gone.
            inner.delete_object(&name, &meta, path).await?;
            found = true;
        }
        if found {
            inner.deletion_log.record(name);
            Ok(())
        } else {
            Err(Error::not_found(path))
        }
    }

    async fn redirect_url(
        &self,
        method: RedirectMethod,
        path: &str,
        expiry: Duration,
    ) -> Result<Option<String>> {
        let Some(tempurl) = &self.inner.tempurl else {
            return Ok(None);
        };
        let session = self.inner.client.session().await?;
        let name = self.inner.object_name(path);
        Ok(tempurl.sign(
            &self.inner.client,
            &session,
            &name,
            method,
            SystemTime::now() + expiry,
        ))
    }

    async fn walk(
        &self,
        path: &str,
        options: &WalkOptions,
        visitor: &mut Visitor<'_>,
    ) -> Result<()> {
        wharf_object_store::walk::walk(self.inner.as_ref(), path, options, visitor).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner(prefix: &str) -> Store {
        let config = Config::from_params(Params::from_pairs([
            ("authurl", "http://127.0.0.1:1/auth/v1.0"),
            ("username", "test:tester"),
            ("password", "testing"),
            ("container", "registry"),
            ("prefix", prefix),
        ]))
        .unwrap();
        Store {
            client: Client::new(&config).unwrap(),
            layout: KeyLayout::new(&format!("{}/files", config.prefix)),
            config,
            segment_size: 1 << 20,
            max_segments: 1000,
            bulk_max: None,
            page: DEFAULT_PAGE,
            tempurl: None,
            last_sweep: std::sync::Mutex::new(None),
            deletion_log: Arc::new(DeletionLog::new(DELETIONS_KEPT)),
        }
    }

    #[test]
    fn layout_follows_the_reference() {
        let d = inner("");
        assert_eq!(d.object_name("/a/b"), "files/a/b");
        assert_eq!(d.object_name("/"), "files");
        assert_eq!(d.layout.dir_prefix("/"), "files/");
        assert_eq!(d.layout.dir_prefix("/a"), "files/a/");
        assert_eq!(d.layout.path_of("files/a/b").as_deref(), Some("/a/b"));
        assert_eq!(d.layout.path_of("filesx/a"), None);
        assert_eq!(d.layout.path_of("files/a b"), None);
        assert!(d.new_segment_prefix().starts_with("segments/"));
        assert_eq!(d.new_segment_prefix().len(), "segments/".len() + 41);
        assert!(d.upload_state_name("/a").starts_with("wharf-uploads/"));

        let d = inner("/docker/registry");
        assert_eq!(d.object_name("/a"), "docker/registry/files/a");
        assert_eq!(d.layout.dir_prefix("/"), "docker/registry/files/");
        assert_eq!(
            d.layout.path_of("docker/registry/files/a").as_deref(),
            Some("/a")
        );
        assert!(
            d.new_segment_prefix()
                .starts_with("docker/registry/segments/")
        );
        assert_eq!(
            d.dlo_prefix("registry/docker/registry/segments/abc/def"),
            Some("docker/registry/segments/abc/def".into())
        );
        assert_eq!(d.dlo_prefix("other/segments/abc"), None);
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let d = inner("");
        let debug = format!("{d:?}");
        assert!(debug.contains("registry"), "{debug}");
        assert!(!debug.contains("testing"), "{debug}");
    }
}
