//! Reading blobs: `get_content` in one Get Blob, and readers that stream a Get Blob from an
//! offset. A reader whose connection breaks mid-stream asks again from where it stopped, pinned
//! to the same version of the blob (`If-Match` its ETag), up to `max_retries` times, so a long
//! download survives a reset without ever mixing two versions.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::Method;
use wharf_runtime::{ByteStream, Error, Result};

use crate::client::{Client, Request, Target, header};
use crate::error::from_transport;

/// The whole content of `blob`.
pub(crate) async fn get_content(client: &Client, blob: &str, path: &str) -> Result<Bytes> {
    let req = Request::new(Method::GET, Target::Blob(blob));
    client
        .call(&req)
        .await
        .map(|answer| answer.body)
        .map_err(|f| f.into_error("get_content", path))
}

fn ranged<'a>(blob: &'a str, offset: u64, etag: Option<&str>) -> Request<'a> {
    let mut req = Request::new(Method::GET, Target::Blob(blob));
    if offset > 0 {
        req = req.header("x-ms-range", format!("bytes={offset}-"));
    }
    if let Some(etag) = etag {
        req = req.header("if-match", etag);
    }
    req
}

/// A stream of `blob` from `offset` to its end.
pub(crate) async fn reader(
    client: Arc<Client>,
    blob: &str,
    path: &str,
    offset: u64,
) -> Result<ByteStream> {
    let response = match client.call_streaming(&ranged(blob, offset, None)).await {
        Ok(r) => r,
        // A range that starts at or beyond the end (or any range of an empty blob).
        Err(f) if f.is("InvalidRange") => {
            let props = client
                .properties(blob)
                .await
                .map_err(|f| f.into_error("reader", path))?
                .ok_or_else(|| Error::not_found(path))?;
            return if offset == props.size {
                Ok(Box::pin(futures::stream::empty()))
            } else {
                Err(Error::invalid_offset(path, offset))
            };
        }
        Err(f) => return Err(f.into_error("reader", path)),
    };
    let etag = header(response.headers(), "etag").map(str::to_owned);
    let state = Resumable {
        retries_left: client.max_retries(),
        client,
        blob: blob.to_owned(),
        path: path.to_owned(),
        etag,
        offset,
        body: Some(Box::pin(response.bytes_stream())),
        done: false,
    };
    Ok(Box::pin(futures::stream::unfold(state, Resumable::next)))
}

type Body = std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// A download that can pick up where it broke off.
struct Resumable {
    client: Arc<Client>,
    blob: String,
    path: String,
    etag: Option<String>,
    /// The offset of the next byte to hand out.
    offset: u64,
    body: Option<Body>,
    retries_left: u32,
    done: bool,
}

impl Resumable {
    async fn next(mut self) -> Option<(Result<Bytes>, Self)> {
        loop {
            if self.done {
                return None;
            }
            let body = match self.body.as_mut() {
                Some(body) => body,
                None => match self.reopen().await {
                    Ok(()) => continue,
                    Err(e) => {
                        self.done = true;
                        return Some((Err(e), self));
                    }
                },
            };
            match body.next().await {
                Some(Ok(chunk)) => {
                    self.offset += chunk.len() as u64;
                    return Some((Ok(chunk), self));
                }
                None => return None,
                Some(Err(e)) if self.retries_left > 0 && self.etag.is_some() => {
                    tracing::debug!(path = %self.path, offset = self.offset, error = %e,
                        "azure: download broke off; resuming");
                    self.retries_left -= 1;
                    self.body = None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some((Err(from_transport(e, "reader", &self.path)), self));
                }
            }
        }
    }

    async fn reopen(&mut self) -> Result<()> {
        let req = ranged(&self.blob, self.offset, self.etag.as_deref());
        match self.client.call_streaming(&req).await {
            Ok(response) => {
                self.body = Some(Box::pin(response.bytes_stream()));
                Ok(())
            }
            // The blob ended exactly where the broken answer stopped.
            Err(f) if f.is("InvalidRange") => {
                self.done = true;
                Ok(())
            }
            Err(f) if f.is("ConditionNotMet") => Err(Error::backend(format!(
                "reader {}: the blob was replaced while it was being read",
                self.path
            ))),
            Err(f) => Err(f.into_error("reader", &self.path)),
        }
    }
}
