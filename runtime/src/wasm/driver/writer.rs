//! The host side of a guest's writer: bytes through the guest's `write` in chunks, or gathered
//! into parts the host writes into the stream the guest hands over for each (`begin-part`,
//! `end-part`); a writer dropped while open is closed, so its upload stays resumable.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use bytes::Bytes;

use super::CHUNK;
use crate::driver::FileWriter;
use crate::error::{Error, Result};
use crate::wasm::bindings::PartKind;
use crate::wasm::pool::{GuestCall, InstancePool, PinnedResource, Placed};
use crate::wasm::streams;
use crate::wasm::world::OpenedWriter;

/// The largest part the host gathers for a writer that takes parts, whatever part size it asks
/// for: the host's memory per open writer.
pub const MAX_PART: usize = 64 << 20;

/// A guest writer seen from the host.
pub(super) struct GuestWriter {
    writer: PinnedResource,
    path: String,
    /// Bytes the guest acknowledged (parts ended, or `size` after writes).
    size: u64,
    /// False once closed, committed or cancelled: a drop then only releases the resource.
    open: bool,
    /// The part size (0: bytes go through `write`).
    part: usize,
    /// The length of the next full part when it is not `part` (a resumed upload's first), else 0.
    first_part: usize,
    /// Bytes gathered for the next part, not yet handed to the guest.
    gathered: std::collections::VecDeque<Bytes>,
    gathered_len: usize,
    /// A part failed: what was gathered is gone, so the writer takes nothing more (the upload
    /// resumes from `size` through a new writer).
    broken: bool,
}

impl GuestWriter {
    /// The host side of the writer a guest opened at `path` (`placed`, on the instance that
    /// holds it).
    pub(super) async fn new(
        pool: Arc<InstancePool>,
        path: &str,
        placed: Placed<OpenedWriter>,
    ) -> Result<Self> {
        let opened = placed.value;
        let mut writer = GuestWriter {
            writer: PinnedResource::new(
                pool,
                Placed {
                    value: opened.writer,
                    instance: placed.instance,
                },
            ),
            path: path.to_owned(),
            size: 0,
            open: true,
            part: usize::try_from(opened.part_size)
                .unwrap_or(MAX_PART)
                .min(MAX_PART),
            first_part: usize::try_from(opened.first_part)
                .unwrap_or(MAX_PART)
                .min(MAX_PART),
            gathered: std::collections::VecDeque::new(),
            gathered_len: 0,
            broken: false,
        };
        writer.size = match opened.size {
            Some(size) => size,
            None => writer.query_size().await?,
        };
        Ok(writer)
    }

    async fn writer_call(&self, op: &'static str, call: GuestCall<()>) -> Result<()> {
        self.writer.call(op, call).await?;
        Ok(())
    }

    async fn query_size(&self) -> Result<u64> {
        Ok(self
            .writer
            .call(
                "size",
                on_resource!(self.writer.resource, |w, s, r| async move {
                    w.size(s, r).await.map(Ok)
                }),
            )
            .await?
            .value)
    }

    /// Takes the size the guest reports after `op` (`close` or `commit`), exact from now on: it
    /// may have lagged before, never run ahead, so it is never below what the host saw.
    async fn settle_size(&mut self, op: &'static str) -> Result<()> {
        let size = self.query_size().await?;
        if size < self.size {
            let what = format!("size went back from {} to {size} at {op}", self.size);
            let pool = &self.writer.pool;
            return Err(pool
                .fault_broken_contract(&self.writer.instance, op, what)
                .await);
        }
        self.size = size;
        Ok(())
    }

    async fn finish(&mut self, op: &'static str, which: Finish) -> Result<()> {
        self.writer_call(
            op,
            on_resource!(self.writer.resource, |w, s, r| async move {
                match which {
                    Finish::Close => w.close(s, r).await,
                    Finish::Commit => w.commit(s, r).await,
                    Finish::Cancel => w.cancel(s, r).await,
                }
            }),
        )
        .await
    }

    /// Hands `len` gathered bytes to the guest as one part: `begin-part`, the bytes written into
    /// the part's stream by the host, `end-part` with the count written. A part that fails for a
    /// temporary reason (its request broke, its server answered "later") left the upload as it
    /// was before `begin-part`, so the host, which still holds the bytes, begins it again after
    /// a back-off, up to [`super::PART_RETRIES`] times.
    async fn send_part(&mut self, len: usize, kind: PartKind) -> Result<()> {
        let mut part = Vec::new();
        let mut left = len;
        while left > 0 {
            let Some(mut first) = self.gathered.pop_front() else {
                break;
            };
            if first.len() > left {
                self.gathered.push_front(first.split_off(left));
            }
            left -= first.len();
            part.push(first);
        }
        self.gathered_len -= len;
        let mut retry = 0;
        loop {
            match self.try_part(len, kind, part.clone()).await {
                Err(e) if super::worth_again(&e) && retry < super::PART_RETRIES => {
                    retry += 1;
                    tracing::debug!(path = %self.path, retry, "a part failed ({e}); again");
                    tokio::time::sleep(crate::backoff::Backoff::default().delay(retry)).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// One attempt of [`GuestWriter::send_part`].
    async fn try_part(&mut self, len: usize, kind: PartKind, part: Vec<Bytes>) -> Result<()> {
        let pool = self.writer.pool.clone();
        let placed = self
            .writer
            .call(
                "begin_part",
                on_resource!(self.writer.resource, |w, s, r| async move {
                    match w.begin_part(s, r, len as u64, kind).await? {
                        Ok(stream) => {
                            Ok(Ok(streams::take_output(s.data_mut().table_mut(), stream)?))
                        }
                        Err(e) => Ok(Err(e)),
                    }
                }),
            )
            .await?;
        let mut stream = placed.value;
        let what = format!("write {}", self.path);
        let (blocking, timeout) = (pool.blocking(), pool.policy.call_timeout);
        let mut written = 0u64;
        let mut failure = None;
        for bytes in part {
            let n = bytes.len() as u64;
            match streams::write_all(&mut stream, bytes, blocking, timeout, &what).await {
                Ok(()) => written += n,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(stream);
        let ended = self
            .writer_call(
                "end_part",
                on_resource!(self.writer.resource, |w, s, r| w.end_part(s, r, written)),
            )
            .await;
        match (failure, ended) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            // The size the guest announced when it opened the writer leaves no room for the
            // part: it was a lie.
            (None, Ok(())) => match self.size.checked_add(len as u64) {
                Some(size) => {
                    self.size = size;
                    Ok(())
                }
                None => {
                    let what = format!("a size of {} bytes and a part of {len}", self.size);
                    Err(pool
                        .fault_broken_contract(&self.writer.instance, "end_part", what)
                        .await)
                }
            },
        }
    }

    /// Sends every whole part gathered; with `last` (before close or commit), what is left too,
    /// the last part of all marked as such.
    async fn send_parts(&mut self, last: Option<PartKind>) -> Result<()> {
        if self.broken {
            return Err(Error::backend(format!(
                "write {}: an earlier part failed; open a new writer to resume at {} bytes",
                self.path, self.size
            )));
        }
        loop {
            let whole = match self.first_part {
                0 => self.part,
                first => first,
            };
            if self.gathered_len < whole.max(1) && (last.is_none() || self.gathered_len == 0) {
                return Ok(());
            }
            let len = self.gathered_len.min(whole);
            let kind = match last {
                Some(kind) if len == self.gathered_len => kind,
                _ => PartKind::Full,
            };
            if let Err(e) = self.send_part(len, kind).await {
                self.broken = true;
                self.gathered.clear();
                self.gathered_len = 0;
                return Err(e);
            }
            self.first_part = 0;
        }
    }

    /// Writes through the guest's `write`, in chunks of at most [`CHUNK`].
    async fn write_chunks(&mut self, data: Bytes) -> Result<()> {
        let placed = self
            .writer
            .call(
                "write",
                on_resource!(self.writer.resource, |w, s, r| async move {
                    for piece in data.chunks(CHUNK) {
                        if let Err(e) = w.write(s, r, piece).await? {
                            return Ok(Err(e));
                        }
                    }
                    w.size(s, r).await.map(Ok)
                }),
            )
            .await?;
        let size = placed.value;
        if size < self.size {
            let what = format!("size went back from {} to {size}", self.size);
            let pool = &self.writer.pool;
            return Err(pool
                .fault_broken_contract(&placed.instance, "write", what)
                .await);
        }
        self.size = size;
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Finish {
    Close,
    Commit,
    Cancel,
}

#[async_trait]
impl FileWriter for GuestWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if self.part == 0 {
            return self.write_chunks(data).await;
        }
        if !data.is_empty() {
            self.gathered_len += data.len();
            self.gathered.push_back(data);
        }
        self.send_parts(None).await
    }

    fn size(&self) -> u64 {
        self.size
    }

    async fn close(&mut self) -> Result<()> {
        let was_open = self.open;
        if was_open && self.part > 0 {
            self.send_parts(Some(PartKind::BeforeClose)).await?;
        }
        self.open = false;
        self.finish("close", Finish::Close).await?;
        // A writer that takes parts has just had every byte acknowledged, part by part.
        if was_open && self.part == 0 {
            self.settle_size("close").await?;
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        if self.open && self.part > 0 {
            self.send_parts(Some(PartKind::BeforeCommit)).await?;
        }
        self.finish("commit", Finish::Commit).await?;
        self.open = false;
        // Committed, whatever the size says next.
        self.writer
            .pool
            .component
            .mutations
            .fetch_add(1, Ordering::Relaxed);
        if self.part == 0 {
            self.settle_size("commit").await?;
        }
        Ok(())
    }

    async fn cancel(&mut self) -> Result<()> {
        self.gathered.clear();
        self.gathered_len = 0;
        self.finish("cancel", Finish::Cancel).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for GuestWriter {
    /// A writer dropped while open is closed (its upload stays resumable), never committed.
    fn drop(&mut self) {
        self.writer.close_writer = self.open;
    }
}
