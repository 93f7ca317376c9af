//! Small helpers around [`ByteStream`] readers: draining one into memory, and making one out of
//! bytes already in memory.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::driver::ByteStream;
use crate::error::Result;

/// Reads a stream to its end into one buffer.
pub async fn collect(mut stream: ByteStream) -> Result<Bytes> {
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if chunk.is_empty() {
            continue;
        }
        // The common single-chunk case hands the chunk back without a copy.
        match first.take() {
            None if buf.is_empty() => first = Some(chunk),
            None => buf.extend_from_slice(&chunk),
            Some(f) => {
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

/// A stream over `data` in chunks of at most `chunk` bytes, without copying.
pub fn from_bytes(data: Bytes, chunk: usize) -> ByteStream {
    let chunk = chunk.max(1);
    let pieces: Vec<Result<Bytes>> = (0..data.len())
        .step_by(chunk)
        .map(|start| Ok(data.slice(start..(start + chunk).min(data.len()))))
        .collect();
    Box::pin(futures::stream::iter(pieces))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_in_chunks() {
        let data = Bytes::from((0..1000u32).map(|i| i as u8).collect::<Vec<_>>());
        for chunk in [1, 7, 999, 1000, 4096] {
            let back = collect(from_bytes(data.clone(), chunk)).await.unwrap();
            assert_eq!(back, data, "chunk {chunk}");
        }
        assert!(
            collect(from_bytes(Bytes::new(), 10))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
