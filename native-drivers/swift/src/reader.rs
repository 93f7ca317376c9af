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
use reqwest::{Method, StatusCode};
use wharf_http::{Request, header, transport_error};
use wharf_runtime::network::replaced_while_read;
use wharf_runtime::resumable::{Body, Reopen, resumable};
use wharf_runtime::{ByteStream, Error, Result};

use crate::Store;
use crate::client::{Client, Target};

/// The whole content of the file at `path`.
pub(crate) async fn get_content(inner: &Store, path: &str) -> Result<Bytes> {
    let name = inner.object_name(path);
    inner
        .client
        .call(&inner.client.request(Method::GET, Target::Object(&name)))
        .await
        .map(|a| a.body)
        .map_err(|f| f.into_error("get_content", path))
}

fn ranged(client: &Client, name: &str, offset: u64, etag: Option<&str>) -> Request {
    let mut req = client.request(Method::GET, Target::Object(name));
    if offset > 0 {
        req = req.header("range", format!("bytes={offset}-"));
    }
    if let Some(etag) = etag {
        req = req.header("if-match", etag);
    }
    req
}

/// A stream of the file at `path` from `offset` to its end.
pub(crate) async fn reader(inner: Arc<Store>, path: &str, offset: u64) -> Result<ByteStream> {
    let name = inner.object_name(path);
    let response = match inner
        .client
        .send(&ranged(&inner.client, &name, offset, None))
        .await
    {
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
    let body = Box::pin(response.bytes_stream());
    let network = inner.config.network;
    Ok(resumable(
        ObjectDownload { inner, name },
        path,
        offset,
        etag,
        &network,
        body,
    ))
}

/// Asks for an object again from an offset, pinned by `If-Match` to its ETag.
struct ObjectDownload {
    inner: Arc<Store>,
    name: String,
}

impl Reopen for ObjectDownload {
    type Error = reqwest::Error;
    const DRIVER: &'static str = "swift";

    async fn reopen(
        &self,
        path: &str,
        offset: u64,
        etag: &str,
    ) -> Result<Option<Body<Self::Error>>> {
        let req = ranged(&self.inner.client, &self.name, offset, Some(etag));
        match self.inner.client.send(&req).await {
            Ok(response) => Ok(Some(Box::pin(response.bytes_stream()))),
            // The object ended exactly where the broken answer stopped.
            Err(f) if f.status() == Some(StatusCode::RANGE_NOT_SATISFIABLE) => Ok(None),
            Err(f) if f.status() == Some(StatusCode::PRECONDITION_FAILED) => {
                Err(replaced_while_read(path))
            }
            Err(f) => Err(f.into_error("reader", path)),
        }
    }

    fn broken(&self, path: &str, error: reqwest::Error) -> Error {
        transport_error(error, "reader", path)
    }
}
