//! Reading blobs: `get_content` in one Get Blob, and readers that stream a Get Blob from an
//! offset. A reader whose connection breaks mid-stream asks again from where it stopped, pinned
//! to the same version of the blob (`If-Match` its ETag), up to `max_retries` times, so a long
//! download survives a reset without ever mixing two versions.

use std::sync::Arc;

use bytes::Bytes;
use reqwest::Method;
use wharf_runtime::network::replaced_while_read;
use wharf_runtime::resumable::{Body, Reopen, resumable};
use wharf_runtime::{ByteStream, Error, Result};

use wharf_http::{Request, header, transport_error};

use crate::client::{Client, Target};

/// The whole content of `blob`.
pub(crate) async fn get_content(client: &Client, blob: &str, path: &str) -> Result<Bytes> {
    let req = client.request(Method::GET, Target::Blob(blob));
    client
        .call(&req)
        .await
        .map(|answer| answer.body)
        .map_err(|f| f.into_error("get_content", path))
}

fn ranged(client: &Client, blob: &str, offset: u64, etag: Option<&str>) -> Request {
    let mut req = client.request(Method::GET, Target::Blob(blob));
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
    let response = match client
        .call_streaming(&ranged(&client, blob, offset, None))
        .await
    {
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
    let source = BlobDownload {
        client,
        blob: blob.to_owned(),
    };
    let body = Box::pin(response.bytes_stream());
    let network = source.client.network();
    Ok(resumable(source, path, offset, etag, &network, body))
}

/// Asks for a blob again from an offset, pinned by `If-Match` to its ETag.
struct BlobDownload {
    client: Arc<Client>,
    blob: String,
}

impl Reopen for BlobDownload {
    type Error = reqwest::Error;
    const DRIVER: &'static str = "azure";

    async fn reopen(
        &self,
        path: &str,
        offset: u64,
        etag: &str,
    ) -> Result<Option<Body<Self::Error>>> {
        let req = ranged(&self.client, &self.blob, offset, Some(etag));
        match self.client.call_streaming(&req).await {
            Ok(response) => Ok(Some(Box::pin(response.bytes_stream()))),
            // The blob ended exactly where the broken answer stopped.
            Err(f) if f.is("InvalidRange") => Ok(None),
            Err(f) if f.is("ConditionNotMet") => Err(replaced_while_read(path)),
            Err(f) => Err(f.into_error("reader", path)),
        }
    }

    fn broken(&self, path: &str, error: reqwest::Error) -> Error {
        transport_error(error, "reader", path)
    }
}
