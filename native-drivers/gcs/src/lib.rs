//! Wharf's native Google Cloud Storage driver, registered as `gcs`: committed content is laid out
//! as the reference registry's gcs driver lays it out (the object
//! `<rootdirectory>/<path without its leading />` in the configured bucket), so Wharf and an
//! existing registry share one bucket.
//!
//! The driver speaks the JSON API through its own small client (`client`) on reqwest with
//! rustls, with OAuth 2.0 tokens from a service account's key, a user's refresh token or the
//! metadata server (`auth`, `sign`). `put_content` is one atomic upload; uploads are resumable
//! upload sessions whose state lives in the bucket (`writer`); `list` and `stat` use delimiter
//! listings (`list`), `walk` flat listings, a page per thousand names (`walk`); `delete` removes an object and everything under `path/` with bounded
//! concurrency;
//! `move` is a server-side rewrite then a delete; `redirect_url` is a V4 signed URL. See
//! README.md for the parameters, the mapping and its limits.

#![forbid(unsafe_code)]

mod auth;
mod client;
mod config;
mod error;
mod list;
mod reader;
mod sign;
mod walk;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use wharf_object_store::KeyLayout;
use wharf_object_store::walk::DELETIONS_KEPT;
use wharf_runtime::deletion_log::DeletionLog;
use wharf_runtime::path::ROOT;
use wharf_runtime::{
    ByteStream, DriverRegistry, Error, FileInfo, FileWriter, Params, RedirectMethod, Result,
    StorageDriver, Visitor, WalkOptions,
};

pub use config::{
    ANONYMOUS, BUCKET, CHUNK_QUANTUM, CHUNK_SIZE, CREDENTIALS, Config, Credentials,
    DEFAULT_CHUNK_SIZE, DEFAULT_ENDPOINT, DEFAULT_MAX_CONCURRENCY, DEFAULT_TOKEN_URI, ENDPOINT,
    KEYFILE, MAX_CONCURRENCY, MIN_CONCURRENCY, ROOT_DIRECTORY, ServiceAccount, USER_AGENT,
};
pub use sign::{MAX_SIGNED_URL_EXPIRY, RsaKey, SignedUrlRequest, signed_url};
pub use writer::{META_OFFSET, META_SESSION, SESSION_CONTENT_TYPE};

use crate::client::{Client, Failure};
use crate::writer::{GcsWriter, Names};

/// The name this driver registers under.
pub const NAME: &str = "gcs";

/// The folder (beside the storage root's content) that holds upload placeholders. `~` is not
/// allowed in contract paths, so no path can name it and listings never show it.
pub const UPLOADS_FOLDER: &str = "~wharf-uploads";

/// Registers the gcs driver under [`NAME`].
pub fn register(registry: &mut DriverRegistry) -> Result<()> {
    registry.register(NAME, |params: Params| async move {
        let config = Config::from_params(params)?;
        Ok(Arc::new(GcsDriver::new(config)?) as Arc<dyn StorageDriver>)
    })
}

/// The gcs driver: one bucket, reached through one HTTP client.
#[derive(Debug)]
pub struct GcsDriver {
    client: Arc<Client>,
    config: Config,
    /// Where contract paths live in the bucket: under `rootdirectory`.
    layout: KeyLayout,
    /// Deletions and moves made through this process in the bucket, for walks.
    deletion_log: Arc<DeletionLog>,
}

impl GcsDriver {
    /// A driver for `config`. No request is sent until the first operation.
    pub fn new(config: Config) -> Result<Self> {
        let client = Arc::new(Client::new(&config)?);
        tracing::debug!(endpoint = %config.endpoint, bucket = %config.bucket,
            credentials = config.credentials.kind(), "gcs driver created");
        let deletion_log = DeletionLog::shared(
            &format!("gcs|{}|{}", config.endpoint, config.bucket),
            DELETIONS_KEPT,
        );
        Ok(Self {
            client,
            layout: KeyLayout::new(&config.root_directory),
            config,
            deletion_log,
        })
    }

    /// The configuration the driver was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Creates the configured bucket in `project`; `false` if it already existed. The driver
    /// itself never creates buckets (as the reference); this is for tests and tools.
    pub async fn create_bucket(&self, project: &str) -> Result<bool> {
        self.client
            .create_bucket(project)
            .await
            .map_err(|f| f.into_error("create bucket", ROOT).with_driver(NAME))
    }

    /// The object name of a contract path (the reference's layout).
    pub fn object_name(&self, path: &str) -> String {
        self.layout.key(path)
    }

    /// The object name of the upload placeholder of a contract path.
    pub fn placeholder_name(&self, path: &str) -> String {
        format!("{}{UPLOADS_FOLDER}{path}", self.layout.root_prefix())
    }
}

#[async_trait]
impl StorageDriver for GcsDriver {
    fn name(&self) -> &str {
        NAME
    }

    fn concurrency_limit(&self) -> Option<usize> {
        Some(self.config.max_concurrency)
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        reader::get_content(&self.client, &self.object_name(path), path).await
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        self.client
            .upload(&self.object_name(path), content)
            .await
            .map(drop)
            .map_err(|f| f.into_error("put_content", path))
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteStream> {
        reader::reader(self.client.clone(), &self.object_name(path), path, offset).await
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        let names = Names {
            object: self.object_name(path).into(),
            placeholder: self.placeholder_name(path).into(),
            path: path.into(),
        };
        let opened = writer::open(&self.client, &names, append).await?;
        tracing::debug!(path, append, "upload opened");
        Ok(Box::new(GcsWriter::new(
            self.client.clone(),
            names,
            self.config.chunk_size,
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
        if source == dest {
            // Copying onto itself and deleting the source would lose the file.
            let info = self.stat_path(source).await?;
            return if info.is_dir {
                Err(Error::unsupported(format!(
                    "move of the directory {source}"
                )))
            } else {
                Ok(())
            };
        }
        let from = self.object_name(source);
        match self.client.rewrite(&from, &self.object_name(dest)).await {
            Ok(()) => {}
            Err(f) if f.is_not_found() => {
                return Err(if self.has_object_under(source, "move").await? {
                    // Moving a directory would take one copy per object, and could not be undone
                    // halfway: refuse it, changing nothing.
                    Error::unsupported(format!("move of the directory {source}"))
                } else {
                    Error::not_found(source)
                });
            }
            Err(f) => return Err(f.into_error("move", source)),
        }
        self.client
            .delete(&from)
            .await
            .map_err(|f| f.into_error("move", source))?;
        self.deletion_log.record(from);
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<()> {
        // Whether the path is a file is asked before anything is deleted: a delete whose
        // answer is lost and whose retry finds nothing cannot tell an object it removed from
        // one that never was, and a missing path must still be `PathNotFound`. A file is the
        // whole of its path (as the reference driver takes it), so nothing is listed under it.
        let object = self.object_name(path);
        let fail = |f: Failure| f.into_error("delete", path);
        let itself = self
            .client
            .get_object(&object)
            .await
            .map_err(fail)?
            .is_some();
        let under = if itself {
            self.client.delete(&object).await.map_err(fail)?;
            false
        } else {
            self.delete_listed(&self.layout.dir_prefix(path), |_| true, path)
                .await?
        };
        if under || itself {
            // Gone, whatever becomes of the placeholders below.
            self.deletion_log.record(object.clone());
        }
        // Uploads at or under the path go with it (one listing, usually empty).
        let placeholder = self.placeholder_name(path);
        let below = format!("{placeholder}/");
        self.delete_listed(
            &placeholder,
            |n| n == placeholder || n.starts_with(&below),
            path,
        )
        .await?;
        if under || itself {
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
        self.client
            .signed_url(method.as_str(), &self.object_name(path), expiry)
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

    fn driver(root: &str) -> GcsDriver {
        let params = Params::from_pairs([
            ("bucket", "registry"),
            ("anonymous", "true"),
            ("rootdirectory", root),
        ]);
        GcsDriver::new(Config::from_params(params).unwrap()).unwrap()
    }

    #[test]
    fn layout_follows_the_reference() {
        let d = driver("");
        assert_eq!(d.object_name("/a/b"), "a/b");
        assert_eq!(d.layout.dir_prefix("/"), "");
        assert_eq!(d.layout.dir_prefix("/a"), "a/");
        assert_eq!(d.layout.path_of("a/b").as_deref(), Some("/a/b"));
        assert_eq!(d.layout.path_of("a b"), None);
        assert_eq!(d.layout.path_of("a//b"), None);
        assert_eq!(d.placeholder_name("/a/b"), "~wharf-uploads/a/b");
        assert_eq!(d.layout.path_of("~wharf-uploads/a/b"), None);
        assert_eq!(d.layout.path_of("~wharf-uploads"), None);

        let d = driver("/docker/registry/");
        assert_eq!(d.object_name("/a/b"), "docker/registry/a/b");
        assert_eq!(d.layout.dir_prefix("/"), "docker/registry/");
        assert_eq!(d.layout.dir_prefix("/a"), "docker/registry/a/");
        assert_eq!(d.layout.path_of("docker/registry/a").as_deref(), Some("/a"));
        assert_eq!(d.layout.path_of("docker/registryx/a"), None);
        assert_eq!(d.layout.path_of("other/a"), None);
        assert_eq!(d.placeholder_name("/a"), "docker/registry/~wharf-uploads/a");
    }
}
