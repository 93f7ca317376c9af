//! Host-side readers of a guest's files: chunk by chunk through the guest's `read`, or straight
//! from the input stream the guest's reader handed over.

use bytes::Bytes;
use wasmtime_wasi::p2::DynInputStream;

use super::CHUNK;
use crate::driver::ByteStream;
use crate::error::{Error, ErrorKind, Result};
use crate::wasm::pool::PinnedResource;
use crate::wasm::streams;

/// A reader that calls the guest's `read` for every chunk (0.1.0 guests, and 0.2.0 readers that
/// gave no stream).
pub(super) fn chunked(reader: PinnedResource) -> ByteStream {
    let stream = futures::stream::try_unfold(Some(reader), |state| async move {
        let Some(reader) = state else {
            return Ok(None);
        };
        let chunk = reader
            .call(
                "read",
                on_resource!(reader.resource, |w, s, r| w.read(s, r, CHUNK as u32)),
            )
            .await?
            .value;
        if chunk.len() > CHUNK {
            let what = format!(
                "a chunk of {} bytes, asked for at most {CHUNK}",
                chunk.len()
            );
            let pool = &reader.pool;
            return Err(pool
                .fault_broken_contract(&reader.instance, "read", what)
                .await);
        }
        if chunk.is_empty() {
            return Ok(None);
        }
        Ok(Some((Bytes::from(chunk), Some(reader))))
    });
    Box::pin(stream)
}

/// A reader over the input stream the guest's reader handed over: the host reads it directly.
/// The guest's reader (`reader`) stays alive until the stream is done with, since the stream
/// may depend on what it holds.
///
/// When the stream breaks off (a temporary failure), the host drops it and asks the guest's
/// reader for the rest from the byte it reached (`resume.reopen`, pinned by the guest to the
/// version it began with), after a back-off, up to [`super::PART_RETRIES`] times in a row
/// without a byte of progress. A guest without `resume` fails the read as before; a read never
/// restarts silently and never ends short because of a break.
pub(super) fn streamed(
    reader: PinnedResource,
    stream: DynInputStream,
    path: &str,
    offset: u64,
) -> ByteStream {
    struct Streamed {
        // Declared first: dropped before the guest's reader.
        stream: Option<DynInputStream>,
        reader: PinnedResource,
        what: String,
        /// Chunks read and not yet handed on (at most [`CHUNK`] bytes together).
        pending: std::collections::VecDeque<Bytes>,
        ended: bool,
        /// A failure met after the pending chunks, for after them.
        failed: Option<Error>,
        /// The offset in the file of the next byte the stream gives.
        position: u64,
        /// Reopens since the last byte read.
        retries: u32,
    }
    let state = Streamed {
        stream: Some(stream),
        reader,
        what: format!("read {path}"),
        pending: std::collections::VecDeque::new(),
        ended: false,
        failed: None,
        position: offset,
        retries: 0,
    };
    let stream = futures::stream::try_unfold(state, |mut state| async move {
        loop {
            if let Some(bytes) = state.pending.pop_front() {
                return Ok(Some((bytes, state)));
            }
            if let Some(e) = state.failed.take() {
                if !super::worth_again(&e) || state.retries >= super::PART_RETRIES {
                    return Err(e);
                }
                state.stream = None;
                state.retries += 1;
                tokio::time::sleep(crate::backoff::Backoff::default().delay(state.retries)).await;
                match reopen(&state.reader, state.position).await {
                    // The guest cannot resume (no `resume` export, or a reader that answers
                    // `unsupported`): the break is the read's end, with its own error.
                    Ok(None) => return Err(e),
                    Err(again) if matches!(again.kind(), ErrorKind::Unsupported { .. }) => {
                        return Err(e);
                    }
                    Ok(Some(Some(stream))) => {
                        tracing::debug!(what = %state.what, at = state.position, "stream resumed");
                        state.stream = Some(stream);
                    }
                    Ok(Some(None)) => state.ended = true,
                    Err(again) => state.failed = Some(again),
                }
                continue;
            }
            if state.ended {
                return Ok(None);
            }
            let Some(stream) = state.stream.as_mut() else {
                return Ok(None);
            };
            let pool = &state.reader.pool;
            let (blocking, timeout) = (pool.blocking(), pool.policy.call_timeout);
            let read = streams::read(stream, CHUNK, blocking, timeout, &state.what).await?;
            let got: u64 = read.chunks.iter().map(|c| c.len() as u64).sum();
            if got > 0 {
                state.retries = 0;
            }
            state.position = state.position.saturating_add(got);
            state.pending.extend(read.chunks);
            state.ended = read.ended;
            state.failed = read.failed;
        }
    });
    Box::pin(stream)
}

/// `resume.reopen` on the guest's reader, from `offset`: `None` when the guest cannot resume
/// (no `resume` export), else the new stream, taken out of the instance, or `None` at the end.
async fn reopen(reader: &PinnedResource, offset: u64) -> Result<Option<Option<DynInputStream>>> {
    reader
        .call(
            "reopen",
            on_resource!(reader.resource, |w, s, r| async move {
                Ok(match w.reopen(s, r, offset).await? {
                    None => Ok(None),
                    Some(Ok(Some(stream))) => Ok(Some(Some(streams::take_input(
                        s.data_mut().table_mut(),
                        stream,
                    )?))),
                    Some(Ok(None)) => Ok(Some(None)),
                    Some(Err(e)) => Err(e),
                })
            }),
        )
        .await
        .map(|placed| placed.value)
}
