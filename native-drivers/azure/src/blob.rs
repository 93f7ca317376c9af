//! The Blob service operations the driver is built from, as methods of [`Client`]: Get Blob
//! Properties, Put Blob, Delete Blob, Put Block, Get Block List, Put Block List, Copy Blob (with
//! its status) and List Blobs. Each returns the service's answer in the driver's terms and leaves
//! the mapping of failures to the caller, which knows the contract path.

use std::time::SystemTime;

use bytes::Bytes;
use reqwest::Method;

use wharf_http::Answer;

use crate::client::{Client, Failure, Target};
use crate::xml::{self, BlockList, ListPage};

/// What Get Blob Properties says about a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Properties {
    pub size: u64,
    pub last_modified: SystemTime,
    /// `BlockBlob`, `AppendBlob` or `PageBlob`.
    pub blob_type: String,
    pub etag: String,
    /// The state of the last copy into this blob: `pending`, `success`, `aborted`, `failed`.
    pub copy_status: Option<String>,
    pub copy_id: Option<String>,
    /// `copied/total` bytes of the last copy.
    pub copy_progress: Option<String>,
    pub copy_status_description: Option<String>,
}

impl Properties {
    fn from_headers(answer: &Answer) -> Result<Self, Failure> {
        let bad = |what: &str| Failure::malformed(format!("the answer has no valid {what}"));
        let size = answer
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("Content-Length"))?;
        let last_modified = answer
            .header("last-modified")
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .ok_or_else(|| bad("Last-Modified"))?;
        let text = |name: &str| answer.header(name).map(str::to_owned);
        Ok(Self {
            size,
            last_modified,
            blob_type: text("x-ms-blob-type").unwrap_or_else(|| "BlockBlob".into()),
            etag: text("etag").unwrap_or_default(),
            copy_status: text("x-ms-copy-status"),
            copy_id: text("x-ms-copy-id"),
            copy_progress: text("x-ms-copy-progress"),
            copy_status_description: text("x-ms-copy-status-description"),
        })
    }
}

/// What a Copy Blob started.
#[derive(Debug, Clone)]
pub(crate) struct CopyStarted {
    pub id: String,
    pub status: String,
}

impl Client {
    /// Get Blob Properties: `None` when the blob has no committed content.
    pub(crate) async fn properties(&self, blob: &str) -> Result<Option<Properties>, Failure> {
        let req = self.request(Method::HEAD, Target::Blob(blob));
        match self.call(&req).await {
            Ok(answer) => Properties::from_headers(&answer).map(Some),
            Err(f) if f.is_not_found() => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// Put Blob: replaces `blob` with a block blob holding `content`, atomically.
    pub(crate) async fn put_blob(
        &self,
        blob: &str,
        content: Bytes,
        if_match: Option<&str>,
    ) -> Result<(), Failure> {
        let mut req = self
            .request(Method::PUT, Target::Blob(blob))
            .header("x-ms-blob-type", "BlockBlob")
            .header("content-type", "application/octet-stream")
            .body(content);
        if let Some(etag) = if_match {
            req = req.header("if-match", etag);
        }
        self.call(&req).await.map(drop)
    }

    /// Delete Blob (with its snapshots): `false` when there was nothing to delete.
    pub(crate) async fn delete_blob(
        &self,
        blob: &str,
        if_match: Option<&str>,
    ) -> Result<bool, Failure> {
        let mut req = self
            .request(Method::DELETE, Target::Blob(blob))
            .header("x-ms-delete-snapshots", "include");
        if let Some(etag) = if_match {
            req = req.header("if-match", etag);
        }
        match self.call(&req).await {
            Ok(_) => Ok(true),
            // An earlier attempt that got no answer may be what deleted it.
            Err(f) if f.is_not_found() => Ok(f.maybe_applied()),
            Err(f) => Err(f),
        }
    }

    /// Put Block: stages `data` as block `id` (base64) of `blob`. Staging the same ID again
    /// replaces the block, so a retried block is never stored twice.
    pub(crate) async fn put_block(&self, blob: &str, id: &str, data: Bytes) -> Result<(), Failure> {
        let req = self
            .request(Method::PUT, Target::Blob(blob))
            .query("comp", "block")
            .query("blockid", id)
            .body(data);
        self.call(&req).await.map(drop)
    }

    /// Get Block List (committed and uncommitted): `None` when the blob has neither.
    pub(crate) async fn block_list(&self, blob: &str) -> Result<Option<BlockList>, Failure> {
        let req = self
            .request(Method::GET, Target::Blob(blob))
            .query("comp", "blocklist")
            .query("blocklisttype", "all");
        match self.call(&req).await {
            Ok(answer) => xml::block_list(&answer.body)
                .map(Some)
                .map_err(Failure::malformed),
            Err(f) if f.is_not_found() => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// Put Block List: commits `ids` in order as the content of `blob`; the service discards
    /// every other uncommitted block of the blob.
    pub(crate) async fn put_block_list(&self, blob: &str, ids: &[String]) -> Result<(), Failure> {
        let req = self
            .request(Method::PUT, Target::Blob(blob))
            .query("comp", "blocklist")
            .header("content-type", "application/xml")
            .body(xml::commit_body(ids.iter().map(String::as_str)));
        self.call(&req).await.map(drop)
    }

    /// Copy Blob: starts a server-side copy of `source` (a blob of this container) to `dest`.
    pub(crate) async fn start_copy(
        &self,
        source: &str,
        dest: &str,
    ) -> Result<CopyStarted, Failure> {
        let req = self
            .request(Method::PUT, Target::Blob(dest))
            .header("x-ms-copy-source", self.blob_url(source));
        let answer = self.call(&req).await?;
        Ok(CopyStarted {
            id: answer.header("x-ms-copy-id").unwrap_or_default().to_owned(),
            status: answer
                .header("x-ms-copy-status")
                .unwrap_or("success")
                .to_owned(),
        })
    }

    /// Abort Copy Blob.
    pub(crate) async fn abort_copy(&self, dest: &str, copy_id: &str) -> Result<(), Failure> {
        let req = self
            .request(Method::PUT, Target::Blob(dest))
            .query("comp", "copy")
            .query("copyid", copy_id)
            .header("x-ms-copy-action", "abort");
        self.call(&req).await.map(drop)
    }

    /// One page of List Blobs under `prefix`, hierarchical when `delimiter` is given.
    pub(crate) async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        marker: Option<&str>,
        max_results: Option<u32>,
    ) -> Result<ListPage, Failure> {
        let mut req = self
            .request(Method::GET, Target::Container)
            .query("restype", "container")
            .query("comp", "list");
        if !prefix.is_empty() {
            req = req.query("prefix", prefix);
        }
        if let Some(d) = delimiter {
            req = req.query("delimiter", d);
        }
        if let Some(m) = marker {
            req = req.query("marker", m);
        }
        if let Some(n) = max_results {
            req = req.query("maxresults", n.to_string());
        }
        let answer = self.call(&req).await?;
        xml::list_page(&answer.body).map_err(Failure::malformed)
    }

    /// Create Container (for tests and tools; the driver itself expects the container to
    /// exist). `false` when it already existed.
    pub(crate) async fn create_container(&self) -> Result<bool, Failure> {
        let req = self
            .request(Method::PUT, Target::Container)
            .query("restype", "container");
        match self.call(&req).await {
            Ok(_) => Ok(true),
            Err(f) if f.is("ContainerAlreadyExists") => Ok(false),
            Err(f) => Err(f),
        }
    }
}
