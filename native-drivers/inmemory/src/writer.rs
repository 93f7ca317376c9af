//! The in-memory file writer: data accumulates as a rope (small writes are coalesced into
//! larger chunks, large ones kept without copying), `close` parks the upload in the store for a
//! later `writer(path, true)`, `commit` swaps it into the tree in one step.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use wharf_runtime::{Error, FileWriter, Result};

use crate::store::Store;
use crate::tree::Rope;

/// Writes smaller than this are copied into a shared buffer instead of kept as their own chunk.
const COALESCE_BELOW: usize = 64 << 10;
/// Size of a coalescing buffer before it becomes a chunk.
const COALESCE_CHUNK: usize = 1 << 20;

pub struct MemWriter {
    store: Arc<Store>,
    path: String,
    content: Rope,
    pending: BytesMut,
    /// Set once the upload was committed, cancelled or parked: dropping then does nothing.
    finished: bool,
}

impl MemWriter {
    /// A new upload, or the resumption of a parked upload or committed file when `append`.
    pub fn open(store: Arc<Store>, path: &str, append: bool) -> Result<Self> {
        let content = if append {
            let parked = store.uploads().get(path).cloned();
            match parked.or_else(|| store.committed(path)) {
                Some(rope) => rope,
                None => return Err(Error::not_found(path)),
            }
        } else {
            store.uploads().remove(path);
            Rope::default()
        };
        Ok(Self {
            store,
            path: path.to_owned(),
            content,
            pending: BytesMut::new(),
            finished: false,
        })
    }

    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            let chunk = self.pending.split().freeze();
            self.content.push(chunk);
        }
    }

    fn park(&mut self) {
        self.flush_pending();
        self.store
            .uploads()
            .insert(self.path.clone(), self.content.clone());
        self.finished = true;
    }
}

#[async_trait]
impl FileWriter for MemWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if data.len() < COALESCE_BELOW {
            if self.pending.capacity() - self.pending.len() < data.len() {
                self.flush_pending();
                self.pending.reserve(COALESCE_CHUNK);
            }
            self.pending.extend_from_slice(&data);
        } else {
            self.flush_pending();
            self.content.push(data);
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.content.len() + self.pending.len() as u64
    }

    async fn close(&mut self) -> Result<()> {
        if !self.finished {
            self.park();
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        self.flush_pending();
        self.store.commit_file(&self.path, self.content.clone())?;
        self.store.uploads().remove(&self.path);
        self.finished = true;
        Ok(())
    }

    async fn cancel(&mut self) -> Result<()> {
        self.store.uploads().remove(&self.path);
        self.content = Rope::default();
        self.pending.clear();
        self.finished = true;
        Ok(())
    }
}

impl Drop for MemWriter {
    /// A writer dropped without `close` is closed: its upload stays resumable, never committed.
    fn drop(&mut self) {
        if !self.finished {
            self.park();
        }
    }
}
