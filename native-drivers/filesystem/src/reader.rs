//! Reading committed content: `get_content` in one blocking hop, and readers that stream a file
//! in 1 MiB chunks with one chunk of read-ahead, so the disk (or the page cache) and the
//! consumer work at the same time.
//!
//! A reader opens the file once and keeps the descriptor: a `put_content` or `commit` that
//! replaces the path while it streams renames a new file into place and never touches the one
//! being read, so a reader sees the old content whole. It streams up to the size the file had
//! when it was opened.

use std::fs::File;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use cap_std::fs::Dir;
use futures::Stream;
use tokio::task::JoinHandle;
use wharf_runtime::{ByteStream, Error, Result};

use crate::error::{from_io, from_join};
use crate::layout::relative;

/// Bytes read per blocking hop.
const CHUNK: u64 = 1 << 20;

/// Files up to this size are read whole while the reader is opened, saving a hop.
const READ_AT_OPEN: u64 = 64 << 10;

/// Opens `path` for reading: a file, not a directory.
fn open_file(root: &Dir, path: &str) -> Result<(File, u64)> {
    let file = root
        .open(relative(path))
        .map_err(|e| from_io(e, "open", path))?
        .into_std();
    let metadata = file.metadata().map_err(|e| from_io(e, "stat", path))?;
    if metadata.is_dir() {
        return Err(Error::not_found(path));
    }
    Ok((file, metadata.len()))
}

/// Reads up to `limit` bytes from the current position of `file`.
fn read_chunk(file: &File, limit: u64) -> io::Result<Bytes> {
    // `read_to_end` fills the spare capacity without zeroing it first.
    let mut buf = Vec::with_capacity(usize::try_from(limit).unwrap_or(usize::MAX));
    file.take(limit).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}

/// The whole content of `path` (blocking).
pub(crate) fn get_content(root: &Dir, path: &str) -> Result<Bytes> {
    let (file, size) = open_file(root, path)?;
    // Read to the end rather than to `size`, so a file that grows meanwhile is still read whole.
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    (&file)
        .read_to_end(&mut buf)
        .map_err(|e| from_io(e, "read", path))?;
    Ok(Bytes::from(buf))
}

/// What opening a reader found (blocking part).
pub(crate) enum Opened {
    /// The whole rest of the file, already read.
    Whole(Bytes),
    /// A file positioned at the offset, with this many bytes to stream.
    Stream(File, u64),
}

/// Opens `path` at `offset` (blocking): missing → `PathNotFound`, beyond the end →
/// `InvalidOffset`, at the end → an empty read.
pub(crate) fn open(root: &Dir, path: &str, offset: u64) -> Result<Opened> {
    let (mut file, size) = open_file(root, path)?;
    if offset > size {
        return Err(Error::invalid_offset(path, offset));
    }
    let remaining = size - offset;
    if offset > 0 {
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| from_io(e, "seek", path))?;
    }
    if remaining <= READ_AT_OPEN {
        let data = read_chunk(&file, remaining).map_err(|e| from_io(e, "read", path))?;
        return Ok(Opened::Whole(data));
    }
    Ok(Opened::Stream(file, remaining))
}

/// Turns what [`open`] found into a reader.
pub(crate) fn stream(opened: Opened, path: String) -> ByteStream {
    match opened {
        Opened::Whole(data) if data.is_empty() => Box::pin(futures::stream::empty()),
        Opened::Whole(data) => Box::pin(futures::stream::once(async move { Ok(data) })),
        Opened::Stream(file, remaining) => Box::pin(FileStream {
            file: Arc::new(file),
            path,
            remaining,
            in_flight: None,
        }),
    }
}

/// A file streamed in chunks, each read on the blocking pool while the previous one is consumed.
struct FileStream {
    file: Arc<File>,
    path: String,
    /// Bytes not yet handed to a read.
    remaining: u64,
    in_flight: Option<JoinHandle<io::Result<Bytes>>>,
}

impl FileStream {
    /// Starts reading the next chunk, if any is left.
    fn read_ahead(&mut self) {
        if self.remaining == 0 {
            return;
        }
        let limit = self.remaining.min(CHUNK);
        self.remaining -= limit;
        let file = self.file.clone();
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            read_chunk(&file, limit)
        }));
    }
}

impl Stream for FileStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.in_flight.is_none() {
            this.read_ahead();
        }
        let Some(handle) = this.in_flight.as_mut() else {
            return Poll::Ready(None);
        };
        let joined = ready!(Pin::new(handle).poll(cx));
        this.in_flight = None;
        let result = match joined {
            Ok(Ok(chunk)) if chunk.is_empty() => {
                // The file shrank under us (someone truncated it outside the driver): end here.
                this.remaining = 0;
                return Poll::Ready(None);
            }
            Ok(Ok(chunk)) => {
                this.read_ahead();
                Ok(chunk)
            }
            Ok(Err(e)) => Err(from_io(e, "read", &this.path)),
            Err(e) => Err(from_join(e, "read", &this.path)),
        };
        if result.is_err() {
            this.remaining = 0;
        }
        Poll::Ready(Some(result))
    }
}
