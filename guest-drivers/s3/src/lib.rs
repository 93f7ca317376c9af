//! The S3 storage driver as a WebAssembly guest: it runs entirely in the sandbox and reaches its
//! endpoint only through `wasi:http`, so the operator's allow-list decides where it may go.
//!
//! - **Layout**: the object key of `/a/b` is `<rootdirectory>/a/b` (`a/b` with no root), as the
//!   native `s3` driver and the reference registry lay it out, so any of them reads what another
//!   wrote. An upload's saved tail sits beside its target as `~<name>.upload`, hidden from
//!   listings (see `writer`).
//! - **Stateless**: everything is in the bucket, so the host runs a pool of instances and any of
//!   them resumes an upload another one closed.
//! - **Bulk data never passes through the guest**: a reader hands the host the response body's
//!   stream; a writer's parts are request bodies the host writes itself.
//!
//! Parameters are the native driver's: `bucket` (required), `region`, `regionendpoint`,
//! `forcepathstyle`, `secure`, `accesskey`/`secretkey`/`sessiontoken`, `rootdirectory`,
//! `chunksize`, `storageclass`, `objectacl`, `encrypt`/`keyid`, `useragent`; `v4auth` must stay
//! true and `skipverify` false; the multipart-copy tuning keys are accepted and ignored (moves
//! copy whole objects). Any other key is an error naming it.

#![forbid(unsafe_code)]

mod client;
mod writer;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use base64::Engine;
use md5::{Digest, Md5};
use std::cell::RefCell;
use std::collections::HashMap;
use wharf_guest_sdk::http::{Method, Network, StatusCode, Streamed};

use wharf_guest_sdk::path::{is_ancestor, join};
use wharf_guest_sdk::walk::{self, Resume, WalkPage};
use wharf_guest_sdk::{
    Content, Driver, Error, FileInfo, OutputStream, Params, Put, RedirectMethod, Result,
    StreamReader,
};

use crate::client::{Client, ListPage, failure, xml};
use crate::writer::S3Writer;

/// Smallest part S3 takes (all but the last part of an upload).
pub const MIN_CHUNK_SIZE: u64 = 5 << 20;
/// Largest part size: what the host gathers at most per part for a guest (S3 itself takes up to
/// 5 GiB).
pub const MAX_CHUNK_SIZE: u64 = writer::HOST_MAX_PART;
/// The part size when `chunksize` is not given.
pub const DEFAULT_CHUNK_SIZE: u64 = 10 << 20;
/// Keys per DeleteObjects request.
const DELETE_BATCH: usize = 1000;

/// The driver: where the bucket is, and the layout under `rootdirectory`.
#[derive(Clone)]
pub struct S3Driver {
    pub(crate) client: Client,
    /// The root without leading or trailing `/`; empty for the bucket's root.
    pub(crate) root: String,
    pub(crate) chunk_size: u64,
}

fn bad(key: &str, message: impl std::fmt::Display) -> Error {
    Error::backend(format!("invalid parameter {key}: {message}"), false)
}

impl S3Driver {
    /// The object key of a (non-root) path.
    pub(crate) fn key(&self, path: &str) -> String {
        let rel = path.trim_start_matches('/');
        if self.root.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.root)
        }
    }

    /// The key prefix of everything under `path`.
    fn dir_prefix(&self, path: &str) -> String {
        if path == "/" {
            if self.root.is_empty() {
                String::new()
            } else {
                format!("{}/", self.root)
            }
        } else {
            format!("{}/", self.key(path))
        }
    }

    /// HEAD of `key`: its size and time, or `None` when there is no such object.
    ///
    /// Stores that keep keys as files and directories (s3s-fs) fail a HEAD of a key that is a
    /// directory on their disk with a 500; a failed HEAD is therefore checked against a listing
    /// before it is retried: when the first key starting with `key` is not `key` itself (which
    /// would come first), there is no object at `key`.
    pub(crate) fn head(&self, key: &str, path: &str) -> Result<Option<(u64, SystemTime)>> {
        // Sent again only when it got no answer: a 500 here is first checked against a listing.
        let mut r = self.client.network.retry(
            || {
                self.client
                    .send_once(Method::HEAD, key, &[], &[], Vec::new())
            },
            |outcome| matches!(outcome, Err(e) if e.is_temporary()),
        )?;
        if r.status.is_server_error() {
            let first = self.list_page(key, false, None, Some(1), path)?;
            if first.contents.first().is_none_or(|o| o.key != key) {
                return Ok(None);
            }
            r = self.client.send(Method::HEAD, key, &[], &[], Vec::new())?;
        }
        match r.status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let size = r
                    .header("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let time = r
                    .header("last-modified")
                    .and_then(client::parse_http_date)
                    .unwrap_or(UNIX_EPOCH);
                Ok(Some((size, time)))
            }
            s => Err(failure(&format!("stat {path}"), s, &r.body)),
        }
    }

    /// HEAD of `key` (sent again while it fails for a while): its size and ETag, or `None`
    /// when there is no such object.
    pub(crate) fn head_etag(&self, key: &str, path: &str) -> Result<Option<(u64, String)>> {
        let r = self.client.send(Method::HEAD, key, &[], &[], Vec::new())?;
        match r.status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some((
                r.header("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                r.header("etag").unwrap_or_default().to_owned(),
            ))),
            s => Err(failure(&format!("stat {path}"), s, &r.body)),
        }
    }

    /// One page of ListObjectsV2 under `prefix` (with `/` as delimiter when `delimited`).
    pub(crate) fn list_page(
        &self,
        prefix: &str,
        delimited: bool,
        token: Option<&str>,
        max: Option<u32>,
        path: &str,
    ) -> Result<ListPage> {
        let max = max.map(|m| m.to_string());
        let mut query = vec![("list-type", "2"), ("prefix", prefix)];
        if delimited {
            query.push(("delimiter", "/"));
        }
        if let Some(token) = token {
            query.push(("continuation-token", token));
        }
        if let Some(max) = &max {
            query.push(("max-keys", max));
        }
        query.sort_unstable();
        let r = self.client.send(Method::GET, "", &query, &[], Vec::new())?;
        if !r.status.is_success() {
            return Err(failure(&format!("list {path}"), r.status, &r.body));
        }
        xml(&format!("list {path}"), &r.body)
    }

    /// Every key under `prefix`, hidden ones included.
    fn keys_under(&self, prefix: &str, path: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(prefix, false, token.as_deref(), None, path)?;
            keys.extend(page.contents.into_iter().map(|o| o.key));
            match page.next_continuation_token {
                Some(next) if page.is_truncated => token = Some(next),
                _ => return Ok(keys),
            }
        }
    }

    /// Deletes `keys` with DeleteObjects, a thousand at a time.
    pub(crate) fn delete_keys(&self, keys: &[String], path: &str) -> Result<()> {
        for batch in keys.chunks(DELETE_BATCH) {
            let mut body = String::from("<Delete><Quiet>true</Quiet>");
            for key in batch {
                body.push_str("<Object><Key>");
                body.push_str(&quick_xml::escape::escape(key.as_str()));
                body.push_str("</Key></Object>");
            }
            body.push_str("</Delete>");
            let md5 =
                base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
            let headers = [("content-md5", md5)];
            // Sent again when its answer is lost: deleting the same keys twice is harmless.
            let r = self.client.send_repeatable(
                Method::POST,
                "",
                &[("delete", "")],
                &headers,
                body.into_bytes(),
                true,
            )?;
            if !r.status.is_success() {
                return Err(failure(&format!("delete {path}"), r.status, &r.body));
            }
            if String::from_utf8_lossy(&r.body).contains("<Error>") {
                return Err(Error::backend(
                    format!("delete {path}: some objects were not deleted"),
                    true,
                ));
            }
        }
        Ok(())
    }

    /// A GET of `path`'s object whose body is left unread, sent again after a back-off while the
    /// server fails it for a while or the connection does. `whole`: the body is then read here,
    /// within the same retries, when the object is at most that long.
    fn get_stream(&self, path: &str, headers: &[(&str, String)], whole: u64) -> Result<Got> {
        let key = self.key(path);
        self.client.network.retry(
            || {
                let request =
                    self.client
                        .request(Method::GET, &key, &[], headers, Vec::new(), false)?;
                let (parts, _) = request.into_parts();
                let streamed = self
                    .client
                    .network
                    .get_stream(http::Request::from_parts(parts, ()))?;
                let length = wharf_guest_sdk::http::header(&streamed.headers, "content-length")
                    .and_then(|v| v.parse::<u64>().ok());
                if streamed.status.is_success() && length.is_some_and(|l| l <= whole) {
                    Ok(Got::Whole(streamed.read_to_end()?))
                } else {
                    Ok(Got::Stream(streamed, length))
                }
            },
            |outcome| match outcome {
                Ok(Got::Stream(streamed, _)) => wharf_guest_sdk::http::transient(streamed.status),
                Ok(Got::Whole(_)) => false,
                Err(e) => e.is_temporary(),
            },
        )
    }

    /// The direct children of `path` from a delimited listing, in byte order of their paths,
    /// each as the listing describes it: a common prefix is a directory, a key a file. A name
    /// that is both comes twice, the directory first (a file wins, as `stat` says). Missing
    /// (nothing under a path other than the root) → `PathNotFound`.
    fn children(&self, path: &str) -> Result<Vec<FileInfo>> {
        let prefix = self.dir_prefix(path);
        let mut children = Vec::new();
        let mut any = false;
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(&prefix, true, token.as_deref(), None, path)?;
            any |= !page.contents.is_empty() || !page.common_prefixes.is_empty();
            for common in &page.common_prefixes {
                let name =
                    common.prefix[prefix.len().min(common.prefix.len())..].trim_end_matches('/');
                if visible(name) {
                    children.push(FileInfo::dir(join(path, name), UNIX_EPOCH));
                }
            }
            for object in &page.contents {
                let name = &object.key[prefix.len().min(object.key.len())..];
                if visible(name) {
                    let time = client::parse_iso8601(&object.last_modified).unwrap_or(UNIX_EPOCH);
                    children.push(FileInfo::file(join(path, name), object.size, time));
                }
            }
            match page.next_continuation_token {
                Some(next) if page.is_truncated => token = Some(next),
                _ => break,
            }
        }
        if path != "/" && !any {
            return Err(Error::not_found(path));
        }
        // Stable: a directory stays before a file of the same name.
        children.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(children)
    }

    /// Deletes one object (a missing one is no error).
    pub(crate) fn delete_key(&self, key: &str, path: &str) -> Result<()> {
        let r = self
            .client
            .send(Method::DELETE, key, &[], &[], Vec::new())?;
        if r.status.is_success() || r.status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(failure(&format!("delete {path}"), r.status, &r.body))
        }
    }

    /// Copies the object `from` to `to` (server side).
    fn copy(&self, from: &str, to: &str, path: &str) -> Result<()> {
        let source = format!(
            "/{}/{}",
            self.client.bucket,
            percent_encoding::utf8_percent_encode(from, percent_encoding::NON_ALPHANUMERIC)
        );
        let mut headers = vec![("x-amz-copy-source", source)];
        headers.extend(self.client.write_headers());
        let r = self
            .client
            .send(Method::PUT, to, &[], &headers, Vec::new())?;
        // A copy can fail after its 200 status: the error is then in the body.
        if !r.status.is_success() || String::from_utf8_lossy(&r.body).contains("<Error>") {
            let status = if r.status.is_success() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                r.status
            };
            return Err(failure(&format!("move {path}"), status, &r.body));
        }
        Ok(())
    }
}

/// The rest of the object at `key` from `offset`, only if it still has the ETag `etag` (the
/// version a reader began with): sent once, the host asks again after a temporary failure.
/// 412 (another version) and 404 (deleted) end the read; 416 says it ends at `offset`.
fn reopen(
    client: &Client,
    key: &str,
    etag: &str,
    offset: u64,
    path: &str,
) -> Result<Option<(wharf_guest_sdk::InputStream, Box<dyn std::any::Any>)>> {
    let headers = [
        ("range", format!("bytes={offset}-")),
        ("if-match", etag.to_owned()),
    ];
    let request = client.request(Method::GET, key, &[], &headers, Vec::new(), false)?;
    let (parts, _) = request.into_parts();
    let streamed = client
        .network
        .get_stream(http::Request::from_parts(parts, ()))?;
    match streamed.status {
        s if s.is_success() => {
            ranged(&streamed, offset, path)?;
            Ok(Some((streamed.stream, Box::new(streamed.body))))
        }
        StatusCode::RANGE_NOT_SATISFIABLE => Ok(None),
        StatusCode::PRECONDITION_FAILED | StatusCode::NOT_FOUND => Err(Error::backend(
            format!("read {path}: the content was replaced while it was read"),
            false,
        )),
        s => {
            let body = streamed.read_all(64 << 10);
            Err(failure(&format!("read {path}"), s, &body))
        }
    }
}

/// Checks that a successful answer to a GET from `offset` starts there: from 0, any success;
/// beyond, a 206 whose `Content-Range` begins at `offset`. A store (or a proxy) that ignored
/// the `Range` would otherwise have the host take the file's first bytes for those at `offset`.
fn ranged(streamed: &Streamed, offset: u64, path: &str) -> Result<()> {
    if offset == 0 {
        return Ok(());
    }
    let start = wharf_guest_sdk::http::header(&streamed.headers, "content-range")
        .and_then(|v| v.trim().strip_prefix("bytes "))
        .and_then(|v| v.split('-').next())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if streamed.status == StatusCode::PARTIAL_CONTENT && start == Some(offset) {
        Ok(())
    } else {
        Err(Error::backend(
            format!(
                "read {path}: asked for the bytes from {offset}, the store answered {} from {start:?}",
                streamed.status
            ),
            false,
        ))
    }
}

/// What [`S3Driver::get_stream`] got: the body read whole, or the answer with its body unread (and
/// its length when the server said it).
enum Got {
    Whole(Vec<u8>),
    Stream(Streamed, Option<u64>),
}

/// True for a name a contract path can spell (keys the driver keeps for itself, such as saved
/// tails, and directory markers are not).
fn visible(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Driver for S3Driver {
    type Reader = StreamReader;
    type Writer = S3Writer;

    fn new(mut params: Params) -> Result<Self> {
        let secret = |params: &mut Params, key: &str| -> Result<Option<String>> {
            Ok(params.string(key)?.filter(|s| !s.trim().is_empty()))
        };
        let access_key = secret(&mut params, "accesskey")?;
        let secret_key = secret(&mut params, "secretkey")?;
        let session_token = secret(&mut params, "sessiontoken")?;
        let credentials = match (access_key, secret_key) {
            (Some(a), Some(s)) => Some(Credentials::new(a, s, session_token, None, "wharf")),
            (None, None) if session_token.is_none() => None,
            (None, None) => {
                return Err(bad(
                    "sessiontoken",
                    "a session token needs accesskey and secretkey too",
                ));
            }
            (Some(_), None) => {
                return Err(bad(
                    "secretkey",
                    "missing: accesskey is set, so secretkey must be set too",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "accesskey",
                    "missing: secretkey is set, so accesskey must be set too",
                ));
            }
        };
        let secure = params.bool("secure")?.unwrap_or(true);
        let region = params.string("region")?.filter(|r| !r.trim().is_empty());
        let endpoint = params
            .string("regionendpoint")?
            .filter(|e| !e.trim().is_empty());
        let (endpoint, region) = match (endpoint, region) {
            (Some(e), region) => {
                let e = if e.contains("://") {
                    e
                } else if secure {
                    format!("https://{e}")
                } else {
                    format!("http://{e}")
                };
                (e, region.unwrap_or_else(|| "us-east-1".to_owned()))
            }
            (None, Some(region)) => {
                let scheme = if secure { "https" } else { "http" };
                (format!("{scheme}://s3.{region}.amazonaws.com"), region)
            }
            (None, None) => {
                return Err(bad(
                    "region",
                    "missing required parameter (expected a region such as us-east-1, or a regionendpoint)",
                ));
            }
        };
        let path_style = params.bool("forcepathstyle")?.unwrap_or(false);
        let bucket = params.required_string("bucket")?;
        if params.bool("v4auth")? == Some(false) {
            return Err(bad(
                "v4auth",
                "expected true: this driver signs with AWS Signature Version 4 only",
            ));
        }
        if params.bool("skipverify")? == Some(true) {
            return Err(bad(
                "skipverify",
                "expected false: the host always verifies TLS certificates",
            ));
        }
        let chunk_size = params.size("chunksize")?.unwrap_or(DEFAULT_CHUNK_SIZE);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(bad(
                "chunksize",
                format!(
                    "expected a number between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} (inclusive; \
                     the host gathers at most that much per part for a guest), got {chunk_size}"
                ),
            ));
        }
        for ignored in [
            "multipartcopychunksize",
            "multipartcopymaxconcurrency",
            "multipartcopythresholdsize",
        ] {
            params.size(ignored)?;
        }
        params.string("loglevel")?;
        let root = params.string("rootdirectory")?.unwrap_or_default();
        let mut write_headers = Vec::new();
        if let Some(class) = params.string("storageclass")? {
            let upper = class.to_ascii_uppercase();
            if upper != "NONE" {
                write_headers.push(("x-amz-storage-class", upper));
            }
        }
        if let Some(acl) = params.string("objectacl")? {
            write_headers.push(("x-amz-acl", acl));
        }
        let encrypt = params.bool("encrypt")?.unwrap_or(false);
        let key_id = params.string("keyid")?.filter(|k| !k.is_empty());
        if encrypt {
            match key_id {
                Some(id) => {
                    write_headers.push(("x-amz-server-side-encryption", "aws:kms".into()));
                    write_headers.push(("x-amz-server-side-encryption-aws-kms-key-id", id));
                }
                None => write_headers.push(("x-amz-server-side-encryption", "AES256".into())),
            }
        }
        let user_agent = params.string("useragent")?;
        let network = Network::from_params(&mut params, Network::default())?;
        params.finish()?;
        let mut client = Client::new(&endpoint, bucket, region, path_style, credentials)
            .map_err(|e| bad("regionendpoint", e))?;
        client.write_headers = write_headers;
        client.user_agent = user_agent;
        client.network = network;
        wharf_guest_sdk::log::debug!("s3 guest driver on {client:?}");
        Ok(Self {
            client,
            root: root.trim_matches('/').to_owned(),
            chunk_size,
        })
    }

    fn get_content(&self, path: &str) -> Result<Vec<u8>> {
        let r = self
            .client
            .send(Method::GET, &self.key(path), &[], &[], Vec::new())?;
        match r.status {
            StatusCode::NOT_FOUND => Err(Error::not_found(path)),
            s if s.is_success() => Ok(r.body),
            s => Err(failure(&format!("get {path}"), s, &r.body)),
        }
    }

    /// Small objects as bytes; larger ones as the response body's stream, which the host reads.
    fn content(&self, path: &str) -> Result<Content> {
        match self.get_stream(path, &[], STREAM_CONTENT)? {
            Got::Whole(bytes) => Ok(Content::Bytes(bytes)),
            Got::Stream(streamed, length) => match streamed.status {
                StatusCode::NOT_FOUND => Err(Error::not_found(path)),
                s if s.is_success() => Ok(Content::Stream(
                    StreamReader::new(streamed.stream, streamed.body).with_size(length),
                )),
                s => {
                    let body = streamed.read_all(64 << 10);
                    Err(failure(&format!("get {path}"), s, &body))
                }
            },
        }
    }

    /// A PUT whose body the host writes.
    fn begin_put(&self, path: &str, length: u64) -> Result<Option<(Box<dyn Put>, OutputStream)>> {
        let headers = self.client.write_headers();
        let request = self.client.request(
            Method::PUT,
            &self.key(path),
            &[],
            &headers,
            Vec::new(),
            true,
        )?;
        let (parts, _) = request.into_parts();
        let (upload, stream) = self
            .client
            .network
            .upload(http::Request::from_parts(parts, ()), length)?;
        let put = S3Put {
            upload: Some(upload),
            length,
            path: path.to_owned(),
        };
        Ok(Some((Box::new(put), stream)))
    }

    fn put_content(&self, path: &str, content: Vec<u8>) -> Result<()> {
        let headers = self.client.write_headers();
        let r = self
            .client
            .send(Method::PUT, &self.key(path), &[], &headers, content)?;
        if r.status.is_success() {
            Ok(())
        } else {
            Err(failure(&format!("put {path}"), r.status, &r.body))
        }
    }

    /// The response body's own stream, handed to the host.
    fn reader(&self, path: &str, offset: u64) -> Result<StreamReader> {
        let key = self.key(path);
        let mut headers = Vec::new();
        if offset > 0 {
            headers.push(("range", format!("bytes={offset}-")));
        }
        let Got::Stream(streamed, _) = self.get_stream(path, &headers, 0)? else {
            // Only an empty object is read whole here.
            return Ok(StreamReader::empty());
        };
        match streamed.status {
            s if s.is_success() => {
                ranged(&streamed, offset, path)?;
                let etag = wharf_guest_sdk::http::header(&streamed.headers, "etag")
                    .unwrap_or_default()
                    .to_owned();
                let reader = StreamReader::new(streamed.stream, streamed.body);
                if etag.is_empty() {
                    // Nothing to pin a second request to: a broken body ends the read.
                    return Ok(reader);
                }
                let (client, path) = (self.client.clone(), path.to_owned());
                Ok(reader.resumable(move |from| reopen(&client, &key, &etag, from, &path)))
            }
            StatusCode::NOT_FOUND => Err(Error::not_found(path)),
            // 416 from S3; 400 from stores that refuse a start beyond any size.
            StatusCode::RANGE_NOT_SATISFIABLE | StatusCode::BAD_REQUEST if offset > 0 => {
                drop(streamed);
                match self.head(&key, path)? {
                    Some((size, _)) if size == offset => Ok(StreamReader::empty()),
                    Some(_) => Err(Error::invalid_offset(path, offset)),
                    None => Err(Error::not_found(path)),
                }
            }
            s => {
                let body = streamed.read_all(64 << 10);
                Err(failure(&format!("read {path}"), s, &body))
            }
        }
    }

    fn writer(&self, path: &str, append: bool) -> Result<S3Writer> {
        writer::open(self, path, append)
    }

    fn stat(&self, path: &str) -> Result<FileInfo> {
        if path != "/"
            && let Some((size, time)) = self.head(&self.key(path), path)?
        {
            return Ok(FileInfo::file(path, size, time));
        }
        if path == "/" {
            return Ok(FileInfo::dir(path, UNIX_EPOCH));
        }
        let page = self.list_page(&self.dir_prefix(path), false, None, Some(1), path)?;
        if page.contents.is_empty() {
            return Err(Error::not_found(path));
        }
        Ok(FileInfo::dir(path, UNIX_EPOCH))
    }

    fn list(&self, path: &str) -> Result<Vec<String>> {
        let mut children: Vec<String> = self
            .children(path)?
            .into_iter()
            .map(|info| info.path)
            .collect();
        children.dedup();
        Ok(children)
    }

    /// The SDK's paged walk over delimited ListObjectsV2 listings, one per directory: a
    /// listing already says what each child is (a key with its size and time, or a common
    /// prefix), so no entry needs a HEAD.
    fn walk_page(&self, path: &str, resume: Option<&Resume>, limit: u32) -> Result<WalkPage> {
        let seen: RefCell<HashMap<String, FileInfo>> = RefCell::default();
        walk::page(
            path,
            resume,
            limit,
            |dir| {
                let children = self.children(dir)?;
                let mut names = Vec::with_capacity(children.len());
                let mut seen = seen.borrow_mut();
                for info in children {
                    if names.last() != Some(&info.path) {
                        names.push(info.path.clone());
                    }
                    seen.insert(info.path.clone(), info);
                }
                Ok(names)
            },
            |entry| match seen.borrow_mut().remove(entry) {
                Some(info) => Ok(info),
                None => self.stat(entry),
            },
        )
    }

    fn rename(&self, source: &str, dest: &str) -> Result<()> {
        let from = self.key(source);
        if self.head(&from, source)?.is_some() {
            if source == dest {
                return Ok(());
            }
            self.copy(&from, &self.key(dest), source)?;
            return self.delete_key(&from, source);
        }
        let prefix = self.dir_prefix(source);
        let keys = self.keys_under(&prefix, source)?;
        if keys.is_empty() {
            return Err(Error::not_found(source));
        }
        if source == dest {
            return Ok(());
        }
        if is_ancestor(source, dest) {
            return Err(Error::backend(
                format!("cannot move {source} into itself ({dest})"),
                false,
            ));
        }
        let to = self.dir_prefix(dest);
        for key in &keys {
            self.copy(key, &format!("{to}{}", &key[prefix.len()..]), source)?;
        }
        self.delete_keys(&keys, source)
    }

    fn delete(&self, path: &str) -> Result<()> {
        let key = self.key(path);
        let mut keys = self.keys_under(&self.dir_prefix(path), path)?;
        if self.head(&key, path)?.is_some() {
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(Error::not_found(path));
        }
        self.delete_keys(&keys, path)
    }

    fn redirect_url(
        &self,
        method: RedirectMethod,
        path: &str,
        expiry_seconds: u64,
    ) -> Result<Option<String>> {
        let method = match method {
            RedirectMethod::Get => Method::GET,
            RedirectMethod::Head => Method::HEAD,
        };
        // S3 signatures last at most a week.
        let expiry = Duration::from_secs(expiry_seconds.clamp(1, 7 * 24 * 3600));
        self.client.presign(method, &self.key(path), expiry)
    }
}

/// Objects up to this size are given whole by `get_content`; larger ones as a stream.
const STREAM_CONTENT: u64 = 1 << 20;

/// A PUT whose body the host is writing (see `begin_put`).
struct S3Put {
    upload: Option<wharf_guest_sdk::http::Upload>,
    length: u64,
    path: String,
}

impl Put for S3Put {
    fn finish(&mut self, written: u64) -> Result<()> {
        let Some(upload) = self.upload.take() else {
            return Err(Error::backend(
                format!("put {}: already finished", self.path),
                false,
            ));
        };
        // Left incomplete (a short count), the request is never stored.
        let path = &self.path;
        upload.conclude(written, self.length, |status, body| {
            failure(&format!("put {path}"), status, body)
        })?;
        Ok(())
    }
}

wharf_guest_sdk::export_driver!(S3Driver, name = "s3", stateful = false);
