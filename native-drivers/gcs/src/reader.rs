//! Reading objects: `get_content` in one download, and readers that stream a download from an
//! offset. A reader whose connection breaks mid-stream asks again from where it stopped, pinned
//! to the same generation of the object, so a long download survives a reset without ever mixing
//! two versions. Upload placeholders the reference driver leaves at a path read as absent.

use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use wharf_http::{header, transport_error};
use wharf_runtime::network::replaced_while_read;
use wharf_runtime::resumable::{Body, Reopen, resumable};
use wharf_runtime::{ByteStream, Error, Result};

use crate::client::Client;
use crate::writer::SESSION_CONTENT_TYPE;

fn is_placeholder(headers: &HeaderMap) -> bool {
    header(headers, "content-type").is_some_and(|t| t.starts_with(SESSION_CONTENT_TYPE))
}

/// The whole content of `object`.
pub(crate) async fn get_content(client: &Client, object: &str, path: &str) -> Result<Bytes> {
    let answer = client
        .download_all(object, None)
        .await
        .map_err(|f| f.into_error("get_content", path))?;
    if is_placeholder(&answer.headers) {
        return Err(Error::not_found(path));
    }
    Ok(answer.body)
}

/// A stream of `object` from `offset` to its end.
pub(crate) async fn reader(
    client: Arc<Client>,
    object: &str,
    path: &str,
    offset: u64,
) -> Result<ByteStream> {
    let beyond_the_end = || async {
        let meta = client
            .get_object(object)
            .await
            .map_err(|f| f.into_error("reader", path))?
            .filter(|o| !crate::writer::is_placeholder(o))
            .ok_or_else(|| Error::not_found(path))?;
        if offset == meta.size() {
            Ok(Box::pin(futures::stream::empty()) as ByteStream)
        } else if offset > meta.size() {
            Err(Error::invalid_offset(path, offset))
        } else {
            Err(Error::backend(format!(
                "reader {path}: the server ignored the range from {offset}"
            )))
        }
    };
    let response = match client.download(object, offset, None).await {
        Ok(r) => r,
        // A range that starts at or beyond the end.
        Err(f) if f.status() == Some(reqwest::StatusCode::RANGE_NOT_SATISFIABLE) => {
            return beyond_the_end().await;
        }
        Err(f) => return Err(f.into_error("reader", path)),
    };
    if is_placeholder(response.headers()) {
        return Err(Error::not_found(path));
    }
    // A range the server cannot read (an offset past 2^63) is answered with the whole object.
    if offset > 0 && response.status() != reqwest::StatusCode::PARTIAL_CONTENT {
        return beyond_the_end().await;
    }
    let version = header(response.headers(), "x-goog-generation").map(str::to_owned);
    let body = Box::pin(response.bytes_stream());
    let source = ObjectDownload {
        client,
        object: object.to_owned(),
    };
    let network = source.client.network();
    Ok(resumable(source, path, offset, version, &network, body))
}

/// Asks for an object again from an offset, pinned to its generation.
struct ObjectDownload {
    client: Arc<Client>,
    object: String,
}

impl Reopen for ObjectDownload {
    type Error = reqwest::Error;
    const DRIVER: &'static str = "gcs";

    async fn reopen(
        &self,
        path: &str,
        offset: u64,
        generation: &str,
    ) -> Result<Option<Body<Self::Error>>> {
        match self
            .client
            .download(&self.object, offset, Some(generation))
            .await
        {
            Ok(response) => Ok(Some(Box::pin(response.bytes_stream()))),
            // The object ended exactly where the broken answer stopped.
            Err(f) if f.status() == Some(reqwest::StatusCode::RANGE_NOT_SATISFIABLE) => Ok(None),
            // Replaced or deleted.
            Err(f) if f.is_not_found() => Err(replaced_while_read(path)),
            Err(f) => Err(f.into_error("reader", path)),
        }
    }

    fn broken(&self, path: &str, error: reqwest::Error) -> Error {
        transport_error(error, "reader", path)
    }
}
