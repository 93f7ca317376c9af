//! Reading objects: `get_content` in one GET, and readers that stream a GET from an offset
//! (`Range: bytes=<offset>-`). Large objects read the same way: Swift joins the segments. A
//! range Swift cannot satisfy (416) is told apart with a HEAD: an offset equal to the size is an
//! empty stream, a larger one `InvalidOffset`.
//!
//! A reader whose connection breaks mid-stream asks again from where it stopped, pinned to the
//! same version of the object (`If-Match` its ETag), a few times, so a long download survives a
//! reset without ever mixing two versions.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use wharf_runtime::{ByteStream, Error, Result};

use crate::Inner;
use crate::client::{Request, Target, header};
use crate::error::from_transport;

/// How often a broken download is resumed.
const RESUMES: u32 = 3;

/// The whole content of the file at `path`.
pub(crate) async fn get_content(inner: &Inner, path: &str) -> Result<Bytes> {
    let name = inner.object_name(path);
    inner
        .client
        .call(&Request::new(Method::GET, Target::Object(&name)))
        .await
        .map(|a| a.body)
        .map_err(|f| f.into_error("get_content", path))
}

fn ranged<'a>(name: &'a str, offset: u64, etag: Option<&str>) -> Request<'a> {
    let mut req = Request::new(Method::GET, Target::Object(name));
    if offset > 0 {
        req = req.header("range", format!("bytes={offset}-"));
    }
    if let Some(etag) = etag {
        req = req.header("if-match", etag);
    }
    req
}

/// A stream of the file at `path` from `offset` to its end.
pub(crate) async fn reader(inner: Arc<Inner>, path: &str, offset: u64) -> Result<ByteStream> {
    let name = inner.object_name(path);
    let response = match inner.client.send(&ranged(&name, offset, None)).await {
        Ok(r) => r,
        Err(f) if f.status() == Some(StatusCode::RANGE_NOT_SATISFIABLE) => {
            let meta = inner
                .client
                .head(&name)
                .await
                .map_err(|f| f.into_error("reader", path))?
                .ok_or_else(|| Error::not_found(path))?;
            return if offset == meta.size {
                Ok(Box::pin(futures::stream::empty()))
            } else {
                Err(Error::invalid_offset(path, offset))
            };
        }
        Err(f) => return Err(f.into_error("reader", path)),
    };
    let etag = header(response.headers(), "etag").map(str::to_owned);
    let state = Resumable {
        inner,
        name,
        path: path.to_owned(),
        etag,
        offset,
        body: Some(Box::pin(response.bytes_stream())),
        resumes_left: RESUMES,
        done: false,
    };
    Ok(Box::pin(futures::stream::unfold(state, Resumable::next)))
}

type Body = std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// A download that can pick up where it broke off.
struct Resumable {
    inner: Arc<Inner>,
    name: String,
    path: String,
    etag: Option<String>,
    /// The offset of the next byte to hand out.
    offset: u64,
    body: Option<Body>,
    resumes_left: u32,
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
                Some(Err(e)) if self.resumes_left > 0 && self.etag.is_some() => {
                    tracing::debug!(path = %self.path, offset = self.offset, error = %e,
                        "swift: download broke off; resuming");
                    self.resumes_left -= 1;
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
        let req = ranged(&self.name, self.offset, self.etag.as_deref());
        match self.inner.client.send(&req).await {
            Ok(response) => {
                self.body = Some(Box::pin(response.bytes_stream()));
                Ok(())
            }
            // The object ended exactly where the broken answer stopped.
            Err(f) if f.status() == Some(StatusCode::RANGE_NOT_SATISFIABLE) => {
                self.done = true;
                Ok(())
            }
            Err(f) if f.status() == Some(StatusCode::PRECONDITION_FAILED) => {
                Err(Error::backend(format!(
                    "reader {}: the object was replaced while it was being read",
                    self.path
                )))
            }
            Err(f) => Err(f.into_error("reader", &self.path)),
        }
    }
}
