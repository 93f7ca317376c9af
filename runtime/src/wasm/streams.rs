//! Streams a 0.2.0 guest hands the host (`wharf:storage@0.2.0`): an input stream a reader
//! opened (a file's `read-via-stream`, an HTTP response body) and the output stream of one part
//! of a writer (a file's append stream, an HTTP request body). The host takes them out of the
//! instance's resource table and moves the bytes itself, so bulk data never passes through the
//! guest's memory and no guest code runs per chunk.
//!
//! Nothing here widens the sandbox: a stream is only what the guest opened under its grants,
//! and writes into a granted directory still count against its quota (the stream is the
//! counted one, see `files.rs`). Each wait on a stream ends at the call deadline (a stalled
//! backend is a `Timeout`, see `deadline.rs`), and what one read or write holds is bounded (a read asks for at most
//! `max` bytes; writes go in pieces of at most [`PIECE`]).

use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, StreamError};

use super::deadline::wait_on_stream;
use crate::error::{Error, Result};

/// Takes an input stream the guest handed over out of its instance's table: the host owns it
/// from now on. Fails (a trap) for a handle the table does not hold.
pub(crate) fn take_input(
    table: &mut ResourceTable,
    stream: Resource<DynInputStream>,
) -> wasmtime::Result<DynInputStream> {
    Ok(table.delete(stream)?)
}

/// Takes an output stream the guest handed over out of its instance's table.
pub(crate) fn take_output(
    table: &mut ResourceTable,
    stream: Resource<DynOutputStream>,
) -> wasmtime::Result<DynOutputStream> {
    Ok(table.delete(stream)?)
}

/// Largest piece written into an output stream in one wait.
pub(crate) const PIECE: usize = 1 << 20;

fn failed(e: StreamError, what: &str) -> Error {
    match e {
        StreamError::Closed => Error::temporary(format!("{what}: the stream closed early")),
        StreamError::LastOperationFailed(e) => {
            let message = format!(
                "{what}: {}",
                super::answer::clean_text_within(&format!("{e:#}"), 400)
            );
            if lasting(&e) {
                Error::backend(message)
            } else {
                Error::temporary(message)
            }
        }
        StreamError::Trap(e) => Error::backend(format!(
            "{what}: {}",
            super::answer::clean_text_within(&format!("{e:#}"), 400)
        )),
    }
}

/// True when a stream's failure is one that the same call retried would meet again: a file
/// stream's disk (or the grant's quota) full, a file too large, a read-only file system, a
/// refusal. Anything else (a connection reset, a timeout) may pass.
fn lasting(e: &wasmtime::Error) -> bool {
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull
                    | std::io::ErrorKind::QuotaExceeded
                    | std::io::ErrorKind::FileTooLarge
                    | std::io::ErrorKind::ReadOnlyFilesystem
                    | std::io::ErrorKind::PermissionDenied
            )
        })
}

/// What one [`read`] gave: the chunks read (at most `max` bytes together), then whether the
/// stream ended after them, or failed (the chunks before the failure are good).
pub(crate) struct Read {
    pub chunks: Vec<Bytes>,
    pub ended: bool,
    pub failed: Option<Error>,
}

/// The next bytes of `stream`, at most `max` in all, within one wait of at most `timeout`: the
/// first read waits, then reads go on while bytes are there at once (a file stream answers at
/// most 64 KiB a read; gathering up to `max` makes one `block_in_place` serve many). `blocking`:
/// the stream does its file I/O on this thread (a guest with a directory), as its calls do.
pub(crate) async fn read(
    stream: &mut DynInputStream,
    max: usize,
    blocking: bool,
    timeout: Duration,
    what: &str,
) -> Result<Read> {
    wait_on_stream(blocking, timeout, what, async {
        let mut read = Read {
            chunks: Vec::new(),
            ended: false,
            failed: None,
        };
        let mut total = 0;
        while total < max {
            // The first read waits; the next ones take only what is there at once (a file
            // read on this thread always is; the frames of a body already received are).
            let next = stream.blocking_read(max - total);
            let answer = if read.chunks.is_empty() {
                next.await
            } else {
                match next.now_or_never() {
                    Some(answer) => answer,
                    None => break,
                }
            };
            match answer {
                // `blocking_read` returns data or an error; an empty answer is the end.
                Ok(bytes) if bytes.is_empty() => read.ended = true,
                Ok(bytes) => {
                    total += bytes.len();
                    read.chunks.push(bytes);
                }
                Err(StreamError::Closed) => read.ended = true,
                Err(e) => {
                    read.failed = Some(failed(e, what));
                    break;
                }
            }
            if read.ended {
                break;
            }
        }
        read
    })
    .await
}

/// Writes all of `data` into `stream` and flushes it, piece by piece, each piece within
/// `timeout`.
pub(crate) async fn write_all(
    stream: &mut DynOutputStream,
    mut data: Bytes,
    blocking: bool,
    timeout: Duration,
    what: &str,
) -> Result<()> {
    while !data.is_empty() {
        let piece = data.split_to(data.len().min(PIECE));
        wait_on_stream(
            blocking,
            timeout,
            what,
            stream.blocking_write_and_flush(piece),
        )
        .await?
        .map_err(|e| failed(e, what))?;
    }
    Ok(())
}
