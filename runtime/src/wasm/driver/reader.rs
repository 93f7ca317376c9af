//! Host-side readers of a guest's files: chunk by chunk through the guest's `read`, or straight
//! from the input stream the guest's reader handed over.

use bytes::Bytes;
use wasmtime_wasi::p2::DynInputStream;

use super::CHUNK;
use crate::driver::ByteStream;
use crate::error::Error;
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
pub(super) fn streamed(reader: PinnedResource, stream: DynInputStream, path: &str) -> ByteStream {
    struct Streamed {
        // Declared first: dropped before the guest's reader.
        stream: DynInputStream,
        reader: PinnedResource,
        what: String,
        /// Chunks read and not yet handed on (at most [`CHUNK`] bytes together).
        pending: std::collections::VecDeque<Bytes>,
        ended: bool,
        /// A failure met after the pending chunks, for after them.
        failed: Option<Error>,
    }
    let state = Streamed {
        stream,
        reader,
        what: format!("read {path}"),
        pending: std::collections::VecDeque::new(),
        ended: false,
        failed: None,
    };
    let stream = futures::stream::try_unfold(state, |mut state| async move {
        loop {
            if let Some(bytes) = state.pending.pop_front() {
                return Ok(Some((bytes, state)));
            }
            if let Some(e) = state.failed.take() {
                return Err(e);
            }
            if state.ended {
                return Ok(None);
            }
            let pool = &state.reader.pool;
            let (blocking, timeout) = (pool.blocking(), pool.policy.call_timeout);
            let read =
                streams::read(&mut state.stream, CHUNK, blocking, timeout, &state.what).await?;
            state.pending.extend(read.chunks);
            state.ended = read.ended;
            state.failed = read.failed;
        }
    });
    Box::pin(stream)
}
