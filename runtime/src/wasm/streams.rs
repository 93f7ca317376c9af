//! Streams a 0.2.0 guest hands the host (`wharf:storage@0.2.0`): an input stream a reader
//! opened (a file's `read-via-stream`, an HTTP response body) and the output stream of one part
//! of a writer (a file's append stream, an HTTP request body). The host takes them out of the
//! instance's resource table and moves the bytes itself, so bulk data never passes through the
//! guest's memory and no guest code runs per chunk.
//!
//! Nothing here widens the sandbox: a stream is only what the guest opened under its grants,
//! and writes into a granted directory still count against its quota (the stream is the
//! counted one, see `files.rs`). Each wait on a stream ends at the call deadline (a stalled
//! backend is a `Timeout`), and what one read or write holds is bounded (a read asks for at most
//! `max` bytes; writes go in pieces of at most [`PIECE`]).

use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, StreamError};

use super::deadline::enter;
use crate::error::{Error, ErrorKind, Result};

/// Largest piece written into an output stream in one wait.
pub(crate) const PIECE: usize = 1 << 20;

/// How a stream wait ended before the deadline: the stream's outcome, or the deadline.
fn timed<T>(outcome: wasmtime::Result<T>, what: &str, timeout: Duration) -> Result<T> {
    outcome.map_err(|_| {
        Error::new(ErrorKind::Timeout).with_detail(format!(
            "{what}: the guest's stream made no progress within {} ms",
            timeout.as_millis()
        ))
    })
}

fn failed(e: StreamError, what: &str) -> Error {
    match e {
        StreamError::Closed => Error::temporary(format!("{what}: the stream closed early")),
        StreamError::LastOperationFailed(e) => Error::temporary(format!(
            "{what}: {}",
            super::answer::clean_text_within(&format!("{e:#}"), 400)
        )),
        StreamError::Trap(e) => Error::backend(format!(
            "{what}: {}",
            super::answer::clean_text_within(&format!("{e:#}"), 400)
        )),
    }
}

/// The next bytes of `stream` (at most `max`), or `None` at its end. `blocking`: the stream
/// may do its file I/O on this thread (a guest with a directory), as the guest's calls do.
pub(crate) async fn read(
    stream: &mut DynInputStream,
    max: usize,
    blocking: bool,
    timeout: Duration,
    what: &str,
) -> Result<Option<Bytes>> {
    let deadline = Instant::now() + timeout;
    let outcome = enter(blocking, deadline, async {
        Ok(stream.blocking_read(max).await)
    })
    .await;
    match timed(outcome, what, timeout)? {
        Ok(bytes) if bytes.is_empty() => {
            // `blocking_read` returns data or an error; an empty answer is the end.
            Ok(None)
        }
        Ok(bytes) => Ok(Some(bytes)),
        Err(StreamError::Closed) => Ok(None),
        Err(e) => Err(failed(e, what)),
    }
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
        let deadline = Instant::now() + timeout;
        let outcome = enter(blocking, deadline, async {
            Ok(stream.blocking_write_and_flush(piece).await)
        })
        .await;
        timed(outcome, what, timeout)?.map_err(|e| failed(e, what))?;
    }
    Ok(())
}
