//! Reading committed content: `get_content` is one GetObject collected in memory; a reader is a
//! GetObject from `offset` (a `Range: bytes=<offset>-` request) whose body is streamed as it
//! arrives. S3 answers a range that starts at or past the end with 416, so that case costs one
//! HeadObject more to tell "at the end" (an empty stream) from "beyond it" (`InvalidOffset`).

use aws_sdk_s3::primitives::ByteStream as SdkBody;
use bytes::Bytes;
use wharf_runtime::{ByteStream, Error, Result};

use crate::Shared;
use crate::error::{from_body, from_sdk, has_code, status};

/// The whole content of `path`.
pub(crate) async fn get_content(s: &Shared, path: &str) -> Result<Bytes> {
    let out =
        s.s3.get_object()
            .bucket(s.bucket())
            .key(s.layout.key(path))
            .send()
            .await
            .map_err(|e| from_sdk(e, "get_content", path))?;
    let body = out
        .body
        .collect()
        .await
        .map_err(|e| from_body(e, "get_content", path))?;
    Ok(body.into_bytes())
}

/// `path` from `offset` to its end.
pub(crate) async fn reader(s: &Shared, path: &str, offset: u64) -> Result<ByteStream> {
    let key = s.layout.key(path);
    let mut request = s.s3.get_object().bucket(s.bucket()).key(&key);
    if offset > 0 {
        request = request.range(format!("bytes={offset}-"));
    }
    match request.send().await {
        Ok(out) => Ok(stream(out.body, path.to_owned())),
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

/// A response body as a reader, chunk by chunk as the network delivers it.
fn stream(body: SdkBody, path: String) -> ByteStream {
    Box::pin(futures::stream::try_unfold(
        (body, path),
        |(mut body, path)| async move {
            match body.try_next().await {
                Ok(Some(chunk)) => Ok(Some((chunk, (body, path)))),
                Ok(None) => Ok(None),
                Err(e) => Err(from_body(e, "read", &path)),
            }
        },
    ))
}
