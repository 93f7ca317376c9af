//! `reader`: a file's content from an offset, as a stream of chunks (one `Bytes` per data
//! object, straight from librados' read buffer), with a few chunks read ahead.
//!
//! The first [`EAGER_BYTES`] (at least the first chunk) are read before the stream is handed
//! out, so a file replaced between reading its entry and reading its data is simply read again,
//! and a file that small is read whole from one content however soon it is replaced. Past that
//! point, a chunk that vanishes (the file was replaced or deleted while a long stream was being
//! read) ends the stream with an error, never with a mix of two contents or a silent
//! truncation.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use wharf_runtime::{ByteStream, Error, Result};

use crate::content::read_error;
use crate::data::{READS_IN_FLIGHT, ReadFailure};
use crate::layout::FileMeta;
use crate::store::Store;

/// How often `reader` starts over because the file was replaced while it opened.
const OPEN_RESTARTS: usize = 8;
/// What a reader reads before it is handed out.
pub(crate) const EAGER_BYTES: u64 = 16 << 20;

pub(crate) async fn reader(store: Arc<Store>, path: &str, offset: u64) -> Result<ByteStream> {
    let mut last: Option<FileMeta> = None;
    for _ in 0..OPEN_RESTARTS {
        let meta = store.file(path, "reader").await?;
        if offset > meta.size {
            return Err(Error::invalid_offset(path, offset));
        }
        if offset == meta.size {
            return Ok(Box::pin(stream::empty()));
        }
        let first_index = offset / meta.chunk;
        let eager_end = meta
            .size
            .min((offset + EAGER_BYTES).max((first_index + 1) * meta.chunk));
        let eager_indices = first_index..eager_end.div_ceil(meta.chunk);
        let reads: Vec<_> = eager_indices
            .clone()
            .map(|index| {
                let from = if index == first_index {
                    offset % meta.chunk
                } else {
                    0
                };
                store.read_chunk(&meta, index, from)
            })
            .collect();
        let eager: Result<Vec<Bytes>, ReadFailure> = stream::iter(reads)
            .buffered(READS_IN_FLIGHT)
            .try_collect()
            .await;
        let eager = match eager {
            Ok(eager) => eager,
            Err(ReadFailure::Missing) if last != Some(meta) => {
                last = Some(meta);
                continue;
            }
            Err(failure) => return Err(read_error("reader", path, failure)),
        };
        let path = path.to_owned();
        let rest = stream::iter(eager_indices.end..meta.chunks())
            .map(move |index| {
                let (store, path) = (store.clone(), path.clone());
                async move {
                    store
                        .read_chunk(&meta, index, 0)
                        .await
                        .map_err(|failure| match failure {
                            ReadFailure::Missing => Error::backend(format!(
                                "reader {path}: the file was replaced or deleted while being read"
                            )),
                            other => read_error("reader", &path, other),
                        })
                }
            })
            .buffered(READS_IN_FLIGHT);
        return Ok(Box::pin(
            stream::iter(eager.into_iter().map(Ok)).chain(rest),
        ));
    }
    Err(Error::temporary(format!(
        "reader {path}: the file was replaced {OPEN_RESTARTS} times while being opened"
    )))
}
