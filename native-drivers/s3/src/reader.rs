//! Reading committed content: `get_content` is one GetObject collected in memory; a reader is a
//! GetObject from `offset` (a `Range: bytes=<offset>-` request) whose body is streamed as it
//! arrives. S3 answers a range that starts at or past the end with 416, so that case costs one
//! HeadObject more to tell "at the end" (an empty stream) from "beyond it" (`InvalidOffset`).
//!
//! A body that breaks (a reset connection, no data within `read_timeout`) is resumed with a
//! GetObject of the rest (`Range` from the byte reached) conditional on the ETag the first
//! answer gave (`If-Match`): the object replaced meanwhile ends the read with an error rather
//! than splicing two versions ([`wharf_runtime::resumable`]).
//!
//! Some stores (Aliyun OSS) answer a range they find invalid with 200 and the whole object
//! instead. An answer without `Content-Range` to a ranged request is therefore read as the whole
//! object: its length decides between an empty stream and `InvalidOffset`, and below it the
//! first `offset` bytes are dropped, so the reader always starts at `offset`.

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_smithy_types::byte_stream::error::Error as BodyError;
use bytes::Bytes;
use futures::StreamExt;
use wharf_runtime::network::{is_replaced_while_read, replaced_while_read};
use wharf_runtime::resumable::{Body, Reopen, resumable};
use wharf_runtime::{ByteStream, Error, Result};

use crate::Bucket;
use crate::error::{from_body, from_sdk, has_code, status};

/// The whole content of `path`. Nothing is handed out before the end, so a read that broke
/// while the object was replaced starts again, and returns the new content whole.
pub(crate) async fn get_content(s: &Bucket, path: &str) -> Result<Bytes> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let out =
            s.s3.get_object()
                .bucket(s.bucket())
                .key(s.layout.key(path))
                .send()
                .await
                .map_err(|e| from_sdk(e, "get_content", path))?;
        match wharf_runtime::stream::collect(resumed(s, path, 0, out)).await {
            Err(e) if is_replaced_while_read(&e) && attempt <= s.config.network.max_retries => {
                tracing::debug!(path, "replaced while read; reading the new content");
            }
            read => return read,
        }
    }
}

/// `path` from `offset` to its end.
pub(crate) async fn reader(s: &Bucket, path: &str, offset: u64) -> Result<ByteStream> {
    let key = s.layout.key(path);
    let mut request = s.s3.get_object().bucket(s.bucket()).key(&key);
    if offset > 0 {
        request = request.range(format!("bytes={offset}-"));
    }
    match request.send().await {
        Ok(out) if offset > 0 && out.content_range().is_none() => {
            let size = out.content_length().and_then(|n| u64::try_from(n).ok());
            match size {
                Some(size) if offset > size => Err(Error::invalid_offset(path, offset)),
                Some(size) if offset == size => Ok(Box::pin(futures::stream::empty())),
                _ => Ok(skip(resumed(s, path, 0, out), offset, path)),
            }
        }
        Ok(out) => Ok(resumed(s, path, offset, out)),
        Err(e) if offset > 0 && (has_code(&e, "InvalidRange") || status(&e) == Some(416)) => {
            match s.head(&key, path).await? {
                None => Err(Error::not_found(path)),
                Some((size, _)) if offset == size => Ok(Box::pin(futures::stream::empty())),
                Some((size, _)) if offset > size => Err(Error::invalid_offset(path, offset)),
                // The object grew between the two calls: read it again.
                Some(_) => Box::pin(reader(s, path, offset)).await,
            }
        }
        Err(e) => Err(from_sdk(e, "reader", path)),
    }
}

/// The body of `out` (the object from `offset`), resumed where it breaks with ranged
/// GetObjects of the same version.
fn resumed(s: &Bucket, path: &str, offset: u64, out: GetObjectOutput) -> ByteStream {
    object_body(s, &s.layout.key(path), path, offset, out)
}

/// The body of `out` (the object `key`, for `path`, from `offset` to its end), resumed where it
/// breaks with ranged GetObjects of the same version.
pub(crate) fn object_body(
    s: &Bucket,
    key: &str,
    path: &str,
    offset: u64,
    out: GetObjectOutput,
) -> ByteStream {
    let source = ObjectDownload {
        s3: s.s3.clone(),
        bucket: s.bucket().to_owned(),
        key: key.to_owned(),
    };
    let etag = out.e_tag.clone();
    resumable(
        source,
        path,
        offset,
        etag,
        &s.config.network,
        body(out.body),
    )
}

/// A response body as the chunks the network delivers.
fn body(body: SdkBody) -> Body<BodyError> {
    Box::pin(futures::stream::unfold(body, |mut body| async move {
        body.next().await.map(|chunk| (chunk, body))
    }))
}

/// Asks for an object again from an offset, pinned by `If-Match` to its ETag.
struct ObjectDownload {
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
}

impl Reopen for ObjectDownload {
    type Error = BodyError;
    const DRIVER: &'static str = "s3";

    async fn reopen(&self, path: &str, offset: u64, etag: &str) -> Result<Option<Body<BodyError>>> {
        let sent = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .range(format!("bytes={offset}-"))
            .if_match(etag)
            .send()
            .await;
        match sent {
            Ok(out) if out.content_range().is_some() => Ok(Some(body(out.body))),
            Ok(_) => Err(Error::backend(format!(
                "reader {path}: the store answered the rest of the object without a range"
            ))),
            // The object ended exactly where the broken answer stopped.
            Err(e) if has_code(&e, "InvalidRange") || status(&e) == Some(416) => Ok(None),
            Err(e) if status(&e) == Some(412) || has_code(&e, "PreconditionFailed") => {
                Err(replaced_while_read(path))
            }
            Err(e) => Err(from_sdk(e, "reader", path)),
        }
    }

    fn broken(&self, path: &str, error: BodyError) -> Error {
        from_body(error, "read", path)
    }
}

/// `whole` without its first `offset` bytes; `InvalidOffset` if it ends before them (an answer
/// that gave no length).
fn skip(whole: ByteStream, offset: u64, path: &str) -> ByteStream {
    Box::pin(futures::stream::try_unfold(
        (whole, offset, path.to_owned()),
        move |(mut whole, mut left, path)| async move {
            while let Some(chunk) = whole.next().await {
                let chunk = chunk?;
                if left >= chunk.len() as u64 {
                    left -= chunk.len() as u64;
                    continue;
                }
                let rest = chunk.slice(left as usize..);
                return Ok(Some((rest, (whole, 0, path))));
            }
            if left > 0 {
                return Err(Error::invalid_offset(path, offset));
            }
            Ok(None)
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_runtime::ErrorKind;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let parts: Vec<Result<Bytes>> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(futures::stream::iter(parts))
    }

    async fn collect(s: ByteStream) -> Result<Vec<u8>> {
        wharf_runtime::stream::collect(s).await.map(|b| b.to_vec())
    }

    #[tokio::test]
    async fn skip_drops_exactly_offset_bytes_across_chunks() {
        let whole: &[&[u8]] = &[b"abc", b"", b"defg", b"h"];
        for offset in 0..=8u64 {
            let got = collect(skip(chunks(whole), offset, "/f")).await.unwrap();
            assert_eq!(got, &b"abcdefgh"[offset as usize..], "offset {offset}");
        }
    }

    #[tokio::test]
    async fn skip_past_the_end_is_invalid_offset() {
        let e = collect(skip(chunks(&[b"abc", b"de"]), 6, "/f"))
            .await
            .unwrap_err();
        assert_eq!(
            e.kind(),
            &ErrorKind::InvalidOffset {
                path: "/f".into(),
                offset: 6
            }
        );
    }
}
