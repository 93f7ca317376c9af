//! Resumable uploads whose state lives in the cluster.
//!
//! An upload to `D/n` is the omap key `~upload:n` in the directory object of `D`, whose value
//! (an [`Upload`] record) names the upload's data id, chunk size, the bytes persisted by the
//! last `close`, and how many chunk objects it may have written (`reserved`). Any driver
//! instance resumes it from that record. The writer sends each chunk as it fills (a few at
//! once), and raises `reserved` in the record *before* writing a chunk beyond it, so that
//! whoever discards the upload knows every object to remove.
//!
//! The record is only ever changed by compare-and-swap against the value this writer last
//! wrote. When that fails, another writer replaced the upload (`writer(path, false)`), or a
//! `delete` discarded it, or another instance resumed it: this writer is then *lost*. It frees
//! its data unless the record or the entry still refers to it, and its operations fail.
//!
//! `commit` switches the entry to the upload's data and removes the record in one atomic
//! operation on the directory, then frees the content the entry held before. `cancel` removes
//! the record, then the data. A writer dropped without `close` is closed in the background
//! when a tokio runtime is at hand (otherwise the upload resumes from its last `close`); it
//! never commits.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt, TryStreamExt};
use wharf_runtime::{Error, FileWriter, Result};

use crate::content::Switched;
use crate::dir::{MAX_ATTEMPTS, contended, is_a_directory};
use crate::error::from_errno;
use crate::ffi::WriteOp;
use crate::layout::{Entry, FileMeta, Upload, chunks, now_ns, split, upload_key};
use crate::store::Store;

/// Chunk writes of one upload in flight at once.
const WRITES_IN_FLIGHT: usize = 4;
/// How many chunks one raise of `reserved` covers.
const RESERVE_STEP: u64 = 8;

/// Opens a writer: a new upload, or (`append`) the one an earlier writer closed.
pub(crate) async fn open(store: Arc<Store>, path: &str, append: bool) -> Result<RadosWriter> {
    let (dir, name) = split(path);
    let key = upload_key(name);
    let mut at_path = store.read_path_entry(path, "writer").await?;
    if append {
        if let Some((upload, record)) = at_path.upload {
            return Ok(RadosWriter::new(store, path, upload, record));
        }
        match &at_path.entry {
            // An empty committed file resumes from 0: a new upload replaces it on commit.
            Some((Entry::File(meta), _)) if meta.size == 0 => {}
            Some((Entry::File(_), _)) => {
                return Err(Error::unsupported(
                    "writer(append) on non-empty committed content",
                ));
            }
            _ => return Err(Error::not_found(path)),
        }
    }
    let upload = Upload::new(store.chunk);
    let record = upload.encode();
    let mut replaced = None;
    let mut stored = false;
    for _ in 0..MAX_ATTEMPTS {
        if matches!(at_path.entry, Some((Entry::Dir(_), _))) {
            return Err(is_a_directory(path));
        }
        let previous = at_path.upload.as_ref().map(|(_, raw)| raw.as_slice());
        let set = [(key.clone(), record.clone())];
        if store
            .swap(dir, &[(&key, previous)], &set, &[], "writer", path)
            .await?
        {
            replaced = at_path.upload.take().map(|(up, _)| up);
            stored = true;
            break;
        }
        at_path = store.read_path_entry(path, "writer").await?;
    }
    if !stored {
        return Err(contended("writer", path));
    }
    // An earlier uncommitted upload is discarded (its writer, if still at work, finds out).
    if let Some(old) = replaced {
        store.free(old.data, 0..old.reserved).await;
    }
    // The upload's directory must be reachable, so that a delete of an ancestor finds it.
    if let Err(e) = store.link(dir, "writer", path).await {
        let removed = store
            .swap(
                dir,
                &[(&key, Some(&record))],
                &[],
                std::slice::from_ref(&key),
                "writer",
                path,
            )
            .await;
        if let Ok(true) = removed {
            store.prune(dir).await;
        }
        return Err(e);
    }
    Ok(RadosWriter::new(store, path, upload, record))
}

/// A resumable upload to one path.
pub(crate) struct RadosWriter {
    inner: Option<InProgress>,
}

impl RadosWriter {
    fn new(store: Arc<Store>, path: &str, upload: Upload, record: Vec<u8>) -> Self {
        let (dir, name) = split(path);
        RadosWriter {
            inner: Some(InProgress {
                dir: dir.to_owned(),
                key: upload_key(name),
                path: path.to_owned(),
                accepted: upload.size,
                pending: Vec::new(),
                pending_len: 0,
                pending_start: upload.size,
                in_flight: FuturesUnordered::new(),
                upload,
                record,
                state: State::Open,
                store,
            }),
        }
    }

    fn inner(&mut self) -> Result<&mut InProgress> {
        self.inner
            .as_mut()
            .ok_or_else(|| Error::writer_state("writer already gone"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Closed, cancelled or committed: nothing is left to persist.
    Done,
    /// The record is no longer this writer's.
    Lost,
}

struct InProgress {
    store: Arc<Store>,
    path: String,
    dir: String,
    key: String,
    /// The record as this writer last wrote (or read) it: the compare-and-swap expectation.
    upload: Upload,
    record: Vec<u8>,
    /// Bytes accepted so far (persisted, in flight or pending).
    accepted: u64,
    /// Accepted bytes not yet sent, all within one chunk, starting at `pending_start`.
    pending: Vec<Bytes>,
    pending_len: u64,
    pending_start: u64,
    in_flight: FuturesUnordered<BoxFuture<'static, Result<()>>>,
    state: State,
}

impl InProgress {
    fn chunk(&self) -> u64 {
        self.upload.chunk
    }

    fn lost_error(&self) -> Error {
        Error::backend(format!(
            "the upload to {} was replaced, resumed elsewhere or discarded by another writer",
            self.path
        ))
    }

    async fn write(&mut self, mut data: Bytes) -> Result<()> {
        if self.state == State::Lost {
            return Err(self.lost_error());
        }
        while !data.is_empty() {
            let end = self.pending_start + self.pending_len;
            let room = self.chunk() - end % self.chunk();
            let take = room.min(data.len() as u64);
            self.pending.push(data.split_to(take as usize));
            self.pending_len += take;
            self.accepted += take;
            if take == room {
                self.send_pending().await?;
            }
        }
        Ok(())
    }

    /// Sends the pending bytes as one write to their chunk object.
    async fn send_pending(&mut self) -> Result<()> {
        if self.pending_len == 0 {
            return Ok(());
        }
        let index = self.pending_start / self.chunk();
        if index >= self.upload.reserved {
            self.reserve(index + RESERVE_STEP).await?;
        }
        let offset = self.pending_start % self.chunk();
        let data = match self.pending.len() {
            1 => self.pending.pop().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::with_capacity(self.pending_len as usize);
                for piece in self.pending.drain(..) {
                    all.extend_from_slice(&piece);
                }
                all.freeze()
            }
        };
        self.pending.clear();
        self.pending_start += self.pending_len;
        self.pending_len = 0;
        let op = if offset == 0 {
            // A chunk's first bytes replace whatever an abandoned attempt left there.
            WriteOp::new().write_full(data.clone())
        } else {
            WriteOp::new().write(offset, data.clone())
        };
        let store = self.store.clone();
        let object = self.upload.data.object(index);
        let path = self.path.clone();
        self.in_flight.push(Box::pin(async move {
            store
                .write_data(&object, op, data.len())
                .await
                .map_err(|e| from_errno("write", &path, e))
        }));
        // Start the new write now (a future in the set runs only when the set is polled), and
        // collect the ones already done.
        while let Some(Some(result)) = self.in_flight.next().now_or_never() {
            result?;
        }
        while self.in_flight.len() >= WRITES_IN_FLIGHT {
            if let Some(result) = self.in_flight.next().await {
                result?;
            }
        }
        Ok(())
    }

    /// Sends what is pending and waits for every write.
    async fn flush(&mut self) -> Result<()> {
        self.send_pending().await?;
        let in_flight = std::mem::take(&mut self.in_flight);
        in_flight.try_collect::<Vec<()>>().await?;
        Ok(())
    }

    /// Waits for writes in flight, ignoring their results (before removing what they write).
    async fn drain(&mut self) {
        let in_flight = std::mem::take(&mut self.in_flight);
        let _: Vec<Result<()>> = in_flight.collect().await;
        self.pending.clear();
        self.pending_len = 0;
    }

    /// Replaces the record with `next`, if it is still the one this writer knows.
    async fn update(&mut self, next: Upload) -> Result<()> {
        let record = next.encode();
        let set = [(self.key.clone(), record.clone())];
        let swapped = self
            .store
            .swap(
                &self.dir,
                &[(&self.key, Some(&self.record))],
                &set,
                &[],
                "write",
                &self.path,
            )
            .await?;
        if !swapped {
            return Err(self.lose().await);
        }
        self.upload = next;
        self.record = record;
        Ok(())
    }

    async fn reserve(&mut self, reserved: u64) -> Result<()> {
        let next = Upload {
            reserved,
            ..self.upload
        };
        self.update(next).await
    }

    /// This writer's record is gone or changed: frees its data unless something else refers to
    /// it now, and returns the error its operations report from now on.
    async fn lose(&mut self) -> Error {
        self.state = State::Lost;
        self.drain().await;
        let data = self.upload.data;
        match self.store.read_path_entry(&self.path, "write").await {
            Ok(at_path) => {
                let resumed = at_path.upload.is_some_and(|(up, _)| up.data == data);
                let committed =
                    matches!(at_path.entry, Some((Entry::File(meta), _)) if meta.data == data);
                if !resumed && !committed {
                    self.store.free(data, 0..self.upload.reserved).await;
                }
            }
            Err(e) => {
                tracing::warn!(path = %self.path, error = %format_args!("{e:#}"), "rados: cannot check a lost upload");
            }
        }
        self.lost_error()
    }

    async fn close(&mut self) -> Result<()> {
        match self.state {
            State::Done => return Ok(()),
            State::Lost => return Err(self.lost_error()),
            State::Open => {}
        }
        self.flush().await?;
        let next = Upload {
            size: self.accepted,
            reserved: self
                .upload
                .reserved
                .max(chunks(self.accepted, self.chunk())),
            ..self.upload
        };
        self.update(next).await?;
        self.state = State::Done;
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        if self.state == State::Lost {
            return Err(self.lost_error());
        }
        self.flush().await?;
        let meta = FileMeta {
            data: self.upload.data,
            size: self.accepted,
            chunk: self.chunk(),
            mtime_ns: now_ns(),
        };
        let store = self.store.clone();
        let switched = store
            .switch_entry(
                &self.path,
                &Entry::File(meta).encode(),
                Some(&self.record),
                "commit",
            )
            .await?;
        let replaced = match switched {
            Switched::Done { replaced } => replaced,
            Switched::GuardFailed => return Err(self.lose().await),
        };
        self.state = State::Done;
        // Chunk objects past the end (from an abandoned attempt) and the previous content.
        store
            .free(meta.data, meta.chunks()..self.upload.reserved)
            .await;
        if let Some((old, raw)) = replaced
            && old.data != meta.data
        {
            store.free_replaced(&old, &raw).await;
        }
        store.link(&self.dir, "commit", &self.path).await
    }

    async fn cancel(&mut self) -> Result<()> {
        if self.state == State::Lost {
            // `lose` already freed what was ours.
            self.state = State::Done;
            return Ok(());
        }
        self.drain().await;
        let removed = self
            .store
            .swap(
                &self.dir,
                &[(&self.key, Some(&self.record))],
                &[],
                std::slice::from_ref(&self.key),
                "cancel",
                &self.path,
            )
            .await?;
        if !removed {
            let _ = self.lose().await;
            self.state = State::Done;
            return Ok(());
        }
        self.state = State::Done;
        self.store
            .free(self.upload.data, 0..self.upload.reserved)
            .await;
        self.store.prune(&self.dir).await;
        Ok(())
    }
}

#[async_trait]
impl FileWriter for RadosWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.inner()?.write(data).await
    }

    fn size(&self) -> u64 {
        self.inner.as_ref().map_or(0, |i| i.accepted)
    }

    async fn close(&mut self) -> Result<()> {
        self.inner()?.close().await
    }

    async fn commit(&mut self) -> Result<()> {
        self.inner()?.commit().await
    }

    async fn cancel(&mut self) -> Result<()> {
        self.inner()?.cancel().await
    }
}

impl Drop for RadosWriter {
    fn drop(&mut self) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        if inner.state != State::Open || inner.accepted == inner.upload.size {
            return;
        }
        // Like `close`, where a runtime can run it; the upload otherwise resumes from its last
        // close (what was written since is written again).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = inner.close().await {
                    tracing::debug!(path = %inner.path, error = %format_args!("{e:#}"), "closing a dropped writer");
                }
            });
        }
    }
}
