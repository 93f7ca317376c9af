//! Wharf's in-memory storage driver: the whole namespace in process memory, for tests, caches and
//! as the reference implementation of the contract. Files are ropes of `Bytes` chunks, so writes
//! are linear in the data and reads copy nothing. Uploads in progress are kept beside the tree
//! (invisible to `stat`, `list` and `walk`) and survive their writer being dropped.
//!
//! Instances created with the same `namespace` parameter in one process share one store, which
//! is this driver's notion of "another instance with the same configuration".

#![forbid(unsafe_code)]

mod config;
mod store;
mod tree;
mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use wharf_runtime::path::{ROOT, join};
use wharf_runtime::{
    ByteStream, DriverRegistry, Error, FileInfo, FileWriter, Params, Result, StorageDriver,
};

pub use config::Config;
use store::Store;
use tree::Node;

/// The registered name.
pub const NAME: &str = "inmemory";

/// Largest chunk a reader yields (slices of the stored chunks; no copy).
const READ_CHUNK: usize = 1 << 20;

/// Registers `inmemory` in `registry`.
pub fn register(registry: &mut DriverRegistry) -> Result<()> {
    registry.register(NAME, |params: Params| async move {
        let config = Config::from_params(params)?;
        Ok(Arc::new(InMemoryDriver::with_config(&config)) as Arc<dyn StorageDriver>)
    })
}

/// The in-memory driver. Cloning gives another instance over the same store.
#[derive(Clone)]
pub struct InMemoryDriver {
    store: Arc<Store>,
}

impl Default for InMemoryDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryDriver {
    /// A driver over a fresh, private store.
    pub fn new() -> Self {
        Self {
            store: Arc::new(Store::default()),
        }
    }

    /// A driver as `config` says: a private store, or the process-wide one named by
    /// `namespace`.
    pub fn with_config(config: &Config) -> Self {
        match &config.namespace {
            None => Self::new(),
            Some(name) => Self {
                store: store::named(name),
            },
        }
    }
}

#[async_trait]
impl StorageDriver for InMemoryDriver {
    fn name(&self) -> &str {
        NAME
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        let tree = self.store.read();
        match tree.lookup(path) {
            Some(Node::File(f)) => Ok(f.content.to_bytes()),
            _ => Err(Error::not_found(path)),
        }
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        self.store
            .commit_file(path, tree::Rope::from_bytes(content))
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteStream> {
        let tree = self.store.read();
        let Some(Node::File(f)) = tree.lookup(path) else {
            return Err(Error::not_found(path));
        };
        if offset > f.content.len() {
            return Err(Error::invalid_offset(path, offset));
        }
        let slices = f.content.slices_from(offset, READ_CHUNK);
        Ok(Box::pin(futures::stream::iter(slices.into_iter().map(Ok))))
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        Ok(Box::new(writer::MemWriter::open(
            self.store.clone(),
            path,
            append,
        )?))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        if path == ROOT {
            return Ok(FileInfo::dir(ROOT, std::time::UNIX_EPOCH));
        }
        let tree = self.store.read();
        match tree.lookup(path) {
            Some(Node::File(f)) => Ok(FileInfo::file(path, f.content.len(), f.mod_time)),
            Some(Node::Dir(_)) => Ok(FileInfo::dir(path, std::time::UNIX_EPOCH)),
            None => Err(Error::not_found(path)),
        }
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        let tree = self.store.read();
        let dir = if path == ROOT {
            &*tree
        } else {
            match tree.lookup(path) {
                Some(Node::Dir(d)) => d,
                _ => return Err(Error::not_found(path)),
            }
        };
        Ok(dir.children.keys().map(|name| join(path, name)).collect())
    }

    async fn rename(&self, source: &str, dest: &str) -> Result<()> {
        self.store.rename(source, dest)
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.store.delete(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use wharf_runtime::Base;

    fn driver() -> Arc<dyn StorageDriver> {
        Base::wrap(Arc::new(InMemoryDriver::new()))
    }

    /// The reference driver confused `/a/a` with `/a` in lookups.
    #[tokio::test]
    async fn child_with_its_parents_name() {
        let d = driver();
        d.put_content("/a/a/a", Bytes::from_static(b"deep"))
            .await
            .unwrap();
        d.put_content("/a/a-b", Bytes::from_static(b"side"))
            .await
            .unwrap();
        assert!(d.stat("/a").await.unwrap().is_dir);
        assert!(d.stat("/a/a").await.unwrap().is_dir);
        assert_eq!(d.get_content("/a/a/a").await.unwrap(), "deep");
        assert_eq!(d.list("/a").await.unwrap(), ["/a/a", "/a/a-b"]);
        assert_eq!(d.list("/a/a").await.unwrap(), ["/a/a/a"]);
        assert!(d.get_content("/a/a").await.unwrap_err().is_not_found());
        d.delete("/a/a").await.unwrap();
        assert_eq!(d.list("/a").await.unwrap(), ["/a/a-b"]);
    }

    /// Large writes are kept as they came: no chunk is copied or reallocated, so a long stream
    /// costs time linear in its length (the reference's writer re-copied the file per write).
    #[tokio::test]
    async fn large_writes_are_not_copied() {
        let d = driver();
        let chunks: Vec<Bytes> = (0..64u8).map(|i| Bytes::from(vec![i; 1 << 20])).collect();
        let mut w = d.writer("/big", false).await.unwrap();
        for c in &chunks {
            w.write(c.clone()).await.unwrap();
        }
        w.commit().await.unwrap();
        w.close().await.unwrap();
        let mut reader = d.reader("/big", 0).await.unwrap();
        let mut n = 0;
        while let Some(piece) = reader.next().await {
            let piece = piece.unwrap();
            assert_eq!(piece.as_ptr(), chunks[n].as_ptr(), "chunk {n} was copied");
            n += 1;
        }
        assert_eq!(n, chunks.len());
    }

    /// Small writes are coalesced, so a stream of tiny writes does not become millions of chunks.
    #[tokio::test]
    async fn small_writes_are_coalesced() {
        let d = driver();
        let mut w = d.writer("/small", false).await.unwrap();
        for i in 0..100_000u32 {
            w.write(Bytes::copy_from_slice(&i.to_le_bytes()))
                .await
                .unwrap();
        }
        assert_eq!(w.size(), 400_000);
        w.commit().await.unwrap();
        w.close().await.unwrap();
        let chunks: Vec<_> = d.reader("/small", 0).await.unwrap().collect().await;
        assert!(chunks.len() <= 2, "{} chunks", chunks.len());
        let all = d.get_content("/small").await.unwrap();
        assert_eq!(&all[4 * 777..4 * 778], &777u32.to_le_bytes());
    }

    #[tokio::test]
    async fn namespaces_share_a_store() {
        let config = Config {
            namespace: Some("inmemory-unit-ns".into()),
        };
        let one = InMemoryDriver::with_config(&config);
        let two = InMemoryDriver::with_config(&config);
        let other = InMemoryDriver::new();
        one.put_content("/x", Bytes::from_static(b"1"))
            .await
            .unwrap();
        assert_eq!(two.get_content("/x").await.unwrap(), "1");
        assert!(other.get_content("/x").await.is_err());
    }

    #[tokio::test]
    async fn dropped_writer_is_resumable_and_not_committed() {
        let d = driver();
        let mut w = d.writer("/up", false).await.unwrap();
        w.write(Bytes::from_static(b"abc")).await.unwrap();
        drop(w);
        assert!(d.stat("/up").await.unwrap_err().is_not_found());
        let mut w = d.writer("/up", true).await.unwrap();
        assert_eq!(w.size(), 3);
        w.write(Bytes::from_static(b"def")).await.unwrap();
        w.commit().await.unwrap();
        w.close().await.unwrap();
        assert_eq!(d.get_content("/up").await.unwrap(), "abcdef");
    }
}
