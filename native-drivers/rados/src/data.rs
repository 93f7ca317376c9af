//! File content striped over data objects: writing a whole content, reading chunks back
//! (checking each is as long as the entry says), and freeing the objects of a content that
//! nothing refers to any more. Requests run several at once, bounded, and within the store's
//! budget of bytes in flight.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt, stream};

use crate::ffi::{Errno, RadosResult, WriteOp};
use crate::layout::{DataId, FileMeta, chunks};
use crate::store::Store;

/// Chunk writes of one content in flight at once.
pub(crate) const WRITES_IN_FLIGHT: usize = 8;
/// Chunk reads of one content in flight at once (also a reader's read-ahead).
pub(crate) const READS_IN_FLIGHT: usize = 4;
/// Object removals in flight at once.
pub(crate) const REMOVES_IN_FLIGHT: usize = 32;

/// What went wrong reading a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadFailure {
    /// The object is gone: the content was replaced or deleted meanwhile (or lost).
    Missing,
    /// The object is shorter than the entry says.
    Short { expected: usize, got: usize },
    /// Any other librados error.
    Rados(Errno),
}

impl Store {
    /// Writes `content` as the chunks of `data`. On failure, removes what it wrote.
    pub(crate) async fn write_content(
        &self,
        data: DataId,
        chunk: u64,
        content: &Bytes,
    ) -> RadosResult<()> {
        let len = content.len() as u64;
        let n = chunks(len, chunk);
        let writes: Vec<_> = (0..n)
            .map(|i| {
                let start = (i * chunk) as usize;
                let end = ((i + 1) * chunk).min(len) as usize;
                self.write_chunk(data.object(i), content.slice(start..end))
            })
            .collect();
        let written = stream::iter(writes)
            .buffer_unordered(WRITES_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await;
        if let Err(e) = written {
            self.free(data, 0..n).await;
            return Err(e);
        }
        Ok(())
    }

    async fn write_chunk(&self, object: String, piece: Bytes) -> RadosResult<()> {
        let bytes = piece.len();
        self.write_data(&object, WriteOp::new().write_full(piece), bytes)
            .await
    }

    /// Chunk `index` of the file `meta`, from `from` bytes into the chunk to its end.
    pub(crate) async fn read_chunk(
        &self,
        meta: &FileMeta,
        index: u64,
        from: u64,
    ) -> Result<Bytes, ReadFailure> {
        let start = index * meta.chunk;
        let end = (start + meta.chunk).min(meta.size);
        let expected = end.saturating_sub(start + from) as usize;
        match self
            .read_data(&meta.data.object(index), from, expected)
            .await
        {
            Ok(bytes) if bytes.len() == expected => Ok(bytes),
            Ok(bytes) => Err(ReadFailure::Short {
                expected,
                got: bytes.len(),
            }),
            Err(Errno::ENOENT) => Err(ReadFailure::Missing),
            Err(e) => Err(ReadFailure::Rados(e)),
        }
    }

    /// The whole content of the file `meta`.
    pub(crate) async fn read_content(&self, meta: &FileMeta) -> Result<Bytes, ReadFailure> {
        let n = meta.chunks();
        let reads: Vec<_> = (0..n).map(|i| self.read_chunk(meta, i, 0)).collect();
        let parts: Vec<Bytes> = stream::iter(reads)
            .buffered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        if parts.len() == 1 {
            return Ok(parts.into_iter().next().unwrap_or_default());
        }
        let mut all = BytesMut::with_capacity(meta.size as usize);
        for part in parts {
            all.extend_from_slice(&part);
        }
        Ok(all.freeze())
    }

    /// Removes the data objects `range` of `data`; objects already gone are fine. Failures are
    /// logged (they leave objects behind, nothing worse) and counted in the result.
    pub(crate) async fn free(&self, data: DataId, range: Range<u64>) -> usize {
        self.free_all(vec![(data, range)]).await
    }

    /// Removes the data objects of several contents, all in one bounded stream of requests.
    pub(crate) async fn free_all(&self, contents: Vec<(DataId, Range<u64>)>) -> usize {
        let objects: Vec<String> = contents
            .into_iter()
            .flat_map(|(data, range)| range.map(move |i| data.object(i)))
            .collect();
        // Futures built up front (not in a stream's closure) keep the callers' futures `Send`.
        let removes: Vec<_> = objects.iter().map(|o| self.remove_counted(o)).collect();
        stream::iter(removes)
            .buffer_unordered(REMOVES_IN_FLIGHT)
            .fold(0, |failed, f| async move { failed + f })
            .await
    }

    /// Removes one data object: 0 when done (or already gone), 1 when it failed.
    async fn remove_counted(&self, object: &str) -> usize {
        match self.remove_data(object).await {
            Ok(()) | Err(Errno::ENOENT) => 0,
            Err(e) => {
                tracing::warn!(object, error = %format_args!("{e:#}"), "rados: cannot remove a data object");
                1
            }
        }
    }

    /// Frees the content of a file entry that nothing refers to any more.
    pub(crate) async fn free_file(&self, meta: &FileMeta) {
        self.free(meta.data, 0..meta.chunks()).await;
    }
}
