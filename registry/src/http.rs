//! The Distribution Specification's HTTP API over [`Storage`]: routing (repository names hold
//! slashes, so a URL is read from its end), headers, status codes and error bodies.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyDataStream, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use serde_json::json;
use wharf_runtime::RedirectMethod;

use crate::auth::Htpasswd;
use crate::error::{ApiError, ApiResult, Code};
use crate::manifest::{self, MAX_MANIFEST_BYTES};
use crate::metrics::Metrics;
use crate::names::{Digest, Name, Reference, check_upload_id};
use crate::storage::{BlobBody, Storage};

/// Response bodies: whole, or a blob streamed from the driver.
pub type ResponseBody = UnsyncBoxBody<Bytes, wharf_runtime::Error>;

/// The API version header every answer carries.
const API_VERSION: &str = "registry/2.0";

/// A tags list or catalog page holds at most this many entries unless `n` says otherwise.
const DEFAULT_PAGE: usize = 100;

/// The registry's HTTP API: storage, authentication and the extra headers to send.
pub struct Api {
    storage: Storage,
    auth: Option<Htpasswd>,
    headers: HeaderMap,
    metrics: Option<Metrics>,
}

/// What a request's path names.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    Uploads(String),
    Upload(String, String),
    Referrers(String, String),
}

fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name.to_owned()));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::Uploads(name.to_owned()));
    }
    let (head, last) = rest.rsplit_once('/')?;
    let (name, kind) = head.rsplit_once('/')?;
    let (name, last) = (name.to_owned(), last.to_owned());
    match kind {
        "manifests" => Some(Route::Manifest(name, last)),
        "blobs" => Some(Route::Blob(name, last)),
        "referrers" => Some(Route::Referrers(name, last)),
        "uploads" => name
            .strip_suffix("/blobs")
            .map(|name| Route::Upload(name.to_owned(), last)),
        _ => None,
    }
}

/// The kind of endpoint a path names, for metrics.
pub fn route_kind(path: &str) -> &'static str {
    match route(path) {
        Some(Route::Base) => "base",
        Some(Route::Catalog) => "catalog",
        Some(Route::Tags(_)) => "tags",
        Some(Route::Manifest(..)) => "manifest",
        Some(Route::Blob(..)) => "blob",
        Some(Route::Uploads(_)) | Some(Route::Upload(..)) => "upload",
        Some(Route::Referrers(..)) => "referrers",
        None if path == "/metrics" => "metrics",
        None => "other",
    }
}

fn query_pairs(uri: &http::Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn query<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn empty() -> ResponseBody {
    full(Bytes::new())
}

fn respond(status: StatusCode) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header("Docker-Distribution-API-Version", API_VERSION)
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    let mut body = serde_json::to_vec(value).expect("a JSON value serialises");
    body.push(b'\n');
    respond(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::CONTENT_LENGTH, body.len())
        .body(full(body))
        .expect("a response of valid parts")
}

/// The answer to a failed request.
pub fn error_response(e: &ApiError) -> Response<ResponseBody> {
    let body = e.body();
    respond(e.code.status())
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::CONTENT_LENGTH, body.len())
        .body(full(body))
        .expect("a response of valid parts")
}

fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn upload_location(name: &Name, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// `Range: bytes=a-b` (one range) against a blob of `size`: the first byte and the length, or
/// `None` to send it whole.
fn byte_range(headers: &HeaderMap, size: u64) -> ApiResult<Option<(u64, u64)>> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let unsatisfiable = || {
        ApiError::new(
            Code::RangeInvalid,
            format!("the range {value:?} is not within the blob's {size} bytes"),
        )
    };
    let Some(spec) = value.to_str().ok().and_then(|v| v.strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Several ranges: answered whole, as HTTP allows.
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Err(unsatisfiable());
    };
    let (start, end) = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(a), Ok(b)) if a <= b => (a, b.min(size.saturating_sub(1))),
        (Ok(a), Err(_)) if last.is_empty() => (a, size.saturating_sub(1)),
        (Err(_), Ok(n)) if first.is_empty() && n > 0 => {
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        _ => return Err(unsatisfiable()),
    };
    if start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end - start + 1)))
}

/// `Content-Range: a-b` of an upload chunk (with or without a `bytes ` prefix): its start.
fn chunk_start(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("");
    let spec = text
        .strip_prefix("bytes ")
        .or_else(|| text.strip_prefix("bytes="))
        .unwrap_or(text);
    let start = spec
        .split_once('-')
        .and_then(|(a, _)| a.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::new(
                Code::RangeInvalid,
                format!("Content-Range {text:?} is not START-END"),
            )
        })?;
    Ok(Some(start))
}

fn page_size(pairs: &[(String, String)], max: usize) -> ApiResult<usize> {
    let Some(n) = query(pairs, "n") else {
        return Ok(DEFAULT_PAGE.min(max));
    };
    match n.parse::<usize>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(ApiError::new(
            Code::PaginationNumberInvalid,
            format!("n={n} is not a page size from 0 to {max}"),
        )
        .with_detail(json!({ "n": n }))),
    }
}

fn next_link(path: &str, n: usize, last: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("last", last)
        .append_pair("n", &n.to_string())
        .finish();
    format!("<{path}?{query}>; rel=\"next\"")
}

/// A request body as the storage reads it.
fn body_stream<B>(body: B) -> crate::storage::Body
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    Box::pin(BodyDataStream::new(body).map(|chunk| {
        chunk.map_err(|e| {
            ApiError::new(
                Code::BlobUploadInvalid,
                format!("reading the request body failed: {e}"),
            )
        })
    }))
}

async fn read_limited<B>(body: B, limit: usize) -> ApiResult<Bytes>
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let mut stream = body_stream(body);
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(ApiError::new(
                Code::TooLarge,
                format!("the request body is larger than {limit} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// Limits a stream to `len` bytes.
fn take_bytes(
    stream: wharf_runtime::ByteStream,
    len: u64,
) -> impl futures::Stream<Item = wharf_runtime::Result<Bytes>> + Send {
    futures::stream::unfold((stream, len), |(mut stream, left)| async move {
        if left == 0 {
            return None;
        }
        match stream.next().await? {
            Ok(mut chunk) => {
                if chunk.len() as u64 > left {
                    chunk.truncate(left as usize);
                }
                let left = left - chunk.len() as u64;
                Some((Ok(chunk), (stream, left)))
            }
            Err(e) => Some((Err(e), (stream, 0))),
        }
    })
}

impl Api {
    /// The API over `storage`, with `auth` when clients must log in, adding `headers` to every
    /// answer (`http.headers`).
    pub fn new(storage: Storage, auth: Option<Htpasswd>, headers: HeaderMap) -> Self {
        Api {
            storage,
            auth,
            headers,
            metrics: None,
        }
    }

    /// Also serves `/metrics` (behind the same authentication as the API).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The storage.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Answers one request.
    pub async fn handle<B>(self: Arc<Self>, request: Request<B>) -> Response<ResponseBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display,
    {
        let mut response = if request.uri().path() == "/" {
            // The reference's liveness answer, outside authentication.
            respond(StatusCode::OK)
                .header(header::CACHE_CONTROL, "no-cache")
                .body(empty())
                .expect("a response of valid parts")
        } else if let Some(challenge) = self.challenge(request.headers()).await {
            challenge
        } else if let (Some(metrics), "/metrics") = (&self.metrics, request.uri().path()) {
            let body = metrics.render();
            respond(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
                .header(header::CONTENT_LENGTH, body.len())
                .body(full(body))
                .expect("a response of valid parts")
        } else {
            match self.dispatch(request).await {
                Ok(response) => response,
                Err(e) => error_response(&e),
            }
        };
        for (name, value) in &self.headers {
            response.headers_mut().append(name, value.clone());
        }
        response
    }

    async fn challenge(&self, headers: &HeaderMap) -> Option<Response<ResponseBody>> {
        let auth = self.auth.as_ref()?;
        if auth.check(headers).await {
            return None;
        }
        let mut response = error_response(&ApiError::new(
            Code::Unauthorized,
            "authentication required",
        ));
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&auth.challenge())
                .unwrap_or_else(|_| HeaderValue::from_static("Basic")),
        );
        Some(response)
    }

    async fn dispatch<B>(&self, request: Request<B>) -> ApiResult<Response<ResponseBody>>
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display,
    {
        let Some(route) = route(request.uri().path()) else {
            return Err(ApiError::new(
                Code::NameUnknown,
                format!("no such endpoint {}", request.uri().path()),
            ));
        };
        let method = request.method().clone();
        let pairs = query_pairs(request.uri());
        let unsupported = || {
            Err(ApiError::new(
                Code::Unsupported,
                format!("{method} is not supported here"),
            ))
        };
        match route {
            Route::Base => match method {
                Method::GET | Method::HEAD => Ok(json_response(StatusCode::OK, &json!({}))),
                _ => unsupported(),
            },
            Route::Catalog => match method {
                Method::GET => self.catalog(request.uri().path(), &pairs).await,
                _ => unsupported(),
            },
            Route::Tags(name) => match method {
                Method::GET => {
                    self.tags(&Name::parse(&name)?, request.uri().path(), &pairs)
                        .await
                }
                _ => unsupported(),
            },
            Route::Manifest(name, reference) => {
                let name = Name::parse(&name)?;
                let reference = Reference::parse(&reference)?;
                match method {
                    Method::GET | Method::HEAD => {
                        self.get_manifest(
                            &name,
                            &reference,
                            request.headers(),
                            method == Method::HEAD,
                        )
                        .await
                    }
                    Method::PUT => self.put_manifest(&name, &reference, request).await,
                    Method::DELETE => {
                        self.storage.delete_manifest(&name, &reference).await?;
                        Ok(respond(StatusCode::ACCEPTED)
                            .body(empty())
                            .expect("valid parts"))
                    }
                    _ => unsupported(),
                }
            }
            Route::Blob(name, digest) => {
                let name = Name::parse(&name)?;
                let digest = Digest::parse(&digest)?;
                match method {
                    Method::GET | Method::HEAD => {
                        self.get_blob(&name, &digest, request.headers(), method == Method::HEAD)
                            .await
                    }
                    Method::DELETE => {
                        self.storage.delete_blob(&name, &digest).await?;
                        Ok(respond(StatusCode::ACCEPTED)
                            .header(header::CONTENT_LENGTH, 0)
                            .body(empty())
                            .expect("valid parts"))
                    }
                    _ => unsupported(),
                }
            }
            Route::Uploads(name) => match method {
                Method::POST => {
                    self.start_upload(&Name::parse(&name)?, &pairs, request)
                        .await
                }
                _ => unsupported(),
            },
            Route::Upload(name, id) => {
                let name = Name::parse(&name)?;
                check_upload_id(&id)?;
                match method {
                    Method::GET | Method::HEAD => {
                        let size = self.storage.upload_size(&name, &id).await?;
                        Ok(upload_answer(StatusCode::NO_CONTENT, &name, &id, size))
                    }
                    Method::PATCH => {
                        let start = chunk_start(request.headers())?;
                        let body = body_stream(request.into_body());
                        match self.storage.append(&name, &id, start, body).await {
                            Ok(size) => Ok(upload_answer(StatusCode::ACCEPTED, &name, &id, size)),
                            Err(e) if e.code == Code::RangeInvalid => {
                                let mut response = error_response(&e);
                                let size = e
                                    .detail
                                    .as_ref()
                                    .and_then(|d| d["size"].as_u64())
                                    .unwrap_or(0);
                                let h = response.headers_mut();
                                h.insert(
                                    header::LOCATION,
                                    header_value(&upload_location(&name, &id)),
                                );
                                h.insert(header::RANGE, header_value(&upload_range(size)));
                                Ok(response)
                            }
                            Err(e) => Err(e),
                        }
                    }
                    Method::PUT => {
                        let digest = Digest::parse(query(&pairs, "digest").ok_or_else(|| {
                            ApiError::new(Code::DigestInvalid, "digest missing: PUT …?digest=")
                        })?)?;
                        let body = body_stream(request.into_body());
                        let stored = self.storage.complete(&name, &id, &digest, body).await?;
                        Ok(blob_created(&name, &stored))
                    }
                    Method::DELETE => {
                        self.storage.cancel_upload(&name, &id).await?;
                        Ok(respond(StatusCode::NO_CONTENT)
                            .body(empty())
                            .expect("valid parts"))
                    }
                    _ => unsupported(),
                }
            }
            Route::Referrers(name, digest) => match method {
                Method::GET => {
                    let name = Name::parse(&name)?;
                    let digest = Digest::parse(&digest)?;
                    let artifact_type = query(&pairs, "artifactType");
                    let manifests = self
                        .storage
                        .referrers(&name, &digest, artifact_type)
                        .await?;
                    let body = serde_json::to_vec(&json!({
                        "schemaVersion": 2,
                        "mediaType": manifest::OCI_INDEX,
                        "manifests": manifests,
                    }))
                    .expect("JSON serialises");
                    let mut response = respond(StatusCode::OK)
                        .header(header::CONTENT_TYPE, manifest::OCI_INDEX)
                        .header(header::CONTENT_LENGTH, body.len());
                    if artifact_type.is_some() {
                        response = response.header("OCI-Filters-Applied", "artifactType");
                    }
                    Ok(response.body(full(body)).expect("valid parts"))
                }
                _ => unsupported(),
            },
        }
    }

    async fn catalog(
        &self,
        path: &str,
        pairs: &[(String, String)],
    ) -> ApiResult<Response<ResponseBody>> {
        let n = page_size(pairs, self.storage.options().catalog_max_entries)?;
        let last = query(pairs, "last")
            .filter(|l| !l.is_empty())
            .map(Name::parse)
            .transpose()?;
        let (repositories, more) = if n == 0 {
            (Vec::new(), false)
        } else {
            self.storage.catalog(n, last.as_ref()).await?
        };
        let mut response = json_response(StatusCode::OK, &json!({ "repositories": repositories }));
        if more && let Some(last) = repositories.last() {
            response
                .headers_mut()
                .insert(header::LINK, header_value(&next_link(path, n, last)));
        }
        Ok(response)
    }

    async fn tags(
        &self,
        name: &Name,
        path: &str,
        pairs: &[(String, String)],
    ) -> ApiResult<Response<ResponseBody>> {
        let mut tags = self.storage.tags(name).await?;
        if let Some(last) = query(pairs, "last") {
            tags.retain(|t| t.as_str() > last);
        }
        let mut link = None;
        if query(pairs, "n").is_some() {
            let n = page_size(pairs, usize::MAX)?;
            if tags.len() > n {
                tags.truncate(n);
                link = tags.last().map(|last| next_link(path, n, last));
            }
        }
        let mut response = json_response(
            StatusCode::OK,
            &json!({ "name": name.as_str(), "tags": tags }),
        );
        if let Some(link) = link {
            response
                .headers_mut()
                .insert(header::LINK, header_value(&link));
        }
        Ok(response)
    }

    async fn get_manifest(
        &self,
        name: &Name,
        reference: &Reference,
        headers: &HeaderMap,
        head: bool,
    ) -> ApiResult<Response<ResponseBody>> {
        let stored = self.storage.manifest(name, reference).await?;
        let digest = stored.digest.to_string();
        if let Some(tag) = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            && tag.trim().trim_matches('"') == digest
        {
            return Ok(respond(StatusCode::NOT_MODIFIED)
                .header("Docker-Content-Digest", &digest)
                .header(header::ETAG, format!("\"{digest}\""))
                .body(empty())
                .expect("valid parts"));
        }
        if !accepts(headers, &stored.media_type) {
            return Err(ApiError::new(
                Code::ManifestUnknown,
                format!(
                    "the manifest is {}, which the request's Accept header does not list",
                    stored.media_type
                ),
            ));
        }
        let len = stored.bytes.len();
        let body = if head { empty() } else { full(stored.bytes) };
        Ok(respond(StatusCode::OK)
            .header(header::CONTENT_TYPE, &stored.media_type)
            .header(header::CONTENT_LENGTH, len)
            .header("Docker-Content-Digest", &digest)
            .header(header::ETAG, format!("\"{digest}\""))
            .body(body)
            .expect("valid parts"))
    }

    async fn put_manifest<B>(
        &self,
        name: &Name,
        reference: &Reference,
        request: Request<B>,
    ) -> ApiResult<Response<ResponseBody>>
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display,
    {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = read_limited(request.into_body(), MAX_MANIFEST_BYTES).await?;
        let stored = self
            .storage
            .put_manifest(name, reference, content_type.as_deref(), bytes)
            .await?;
        let digest = stored.digest.to_string();
        let mut response = respond(StatusCode::CREATED)
            .header(header::LOCATION, format!("/v2/{name}/manifests/{digest}"))
            .header(header::CONTENT_LENGTH, 0)
            .header("Docker-Content-Digest", &digest);
        if let Some(subject) = stored.subject {
            response = response.header("OCI-Subject", subject.to_string());
        }
        Ok(response.body(empty()).expect("valid parts"))
    }

    async fn get_blob(
        &self,
        name: &Name,
        digest: &Digest,
        headers: &HeaderMap,
        head: bool,
    ) -> ApiResult<Response<ResponseBody>> {
        let Some(blob) = self.storage.stat_blob(name, digest).await? else {
            return Err(ApiError::new(
                Code::BlobUnknown,
                format!("blob {digest} is not in {name}"),
            )
            .with_detail(json!({ "digest": digest.to_string() })));
        };
        let range = byte_range(headers, blob.size)?;
        let (offset, len) = range.unwrap_or((0, blob.size));
        let method = if head {
            RedirectMethod::Head
        } else {
            RedirectMethod::Get
        };
        let body = self.storage.blob_body(&blob, offset, method).await?;
        let stream = match body {
            BlobBody::Redirect(url) => {
                return Ok(respond(StatusCode::TEMPORARY_REDIRECT)
                    .header(header::LOCATION, url)
                    .header("Docker-Content-Digest", blob.digest.to_string())
                    .body(empty())
                    .expect("valid parts"));
            }
            BlobBody::Stream(stream) => stream,
        };
        let status = if range.is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        };
        let mut response = respond(status)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, len)
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CACHE_CONTROL, "max-age=31536000")
            .header("Docker-Content-Digest", blob.digest.to_string())
            .header(header::ETAG, format!("\"{}\"", blob.digest));
        if range.is_some() {
            response = response.header(
                header::CONTENT_RANGE,
                format!("bytes {offset}-{}/{}", offset + len - 1, blob.size),
            );
        }
        let body = if head {
            empty()
        } else {
            StreamBody::new(take_bytes(stream, len).map_ok(Frame::data)).boxed_unsync()
        };
        Ok(response.body(body).expect("valid parts"))
    }

    async fn start_upload<B>(
        &self,
        name: &Name,
        pairs: &[(String, String)],
        request: Request<B>,
    ) -> ApiResult<Response<ResponseBody>>
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display,
    {
        if let (Some(mount), Some(from)) = (query(pairs, "mount"), query(pairs, "from")) {
            // As the reference: a mount that cannot be made starts an upload instead.
            if let (Ok(digest), Ok(from)) = (Digest::parse(mount), Name::parse(from))
                && self.storage.mount(name, &from, &digest).await?
            {
                return Ok(blob_created(name, &digest));
            }
        }
        let id = self.storage.start_upload(name).await?;
        if let Some(digest) = query(pairs, "digest") {
            // A monolithic upload: the whole blob in this request.
            let digest = Digest::parse(digest)?;
            let body = body_stream(request.into_body());
            let stored = self.storage.complete(name, &id, &digest, body).await?;
            return Ok(blob_created(name, &stored));
        }
        Ok(upload_answer(StatusCode::ACCEPTED, name, &id, 0))
    }
}

/// Whether a client's `Accept` admits `media_type`. Only OCI types are refused, as the
/// reference registry refuses them; a client that lists no Accept takes what there is.
fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    if media_type != manifest::OCI_MANIFEST && media_type != manifest::OCI_INDEX {
        return true;
    }
    let mut listed = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(manifest::essence)
        .filter(|t| !t.is_empty())
        .peekable();
    if listed.peek().is_none() {
        return true;
    }
    listed.any(|t| t == media_type || t == "*/*" || t == "application/*")
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("registry headers are built from checked names")
}

fn upload_answer(status: StatusCode, name: &Name, id: &str, size: u64) -> Response<ResponseBody> {
    respond(status)
        .header(header::LOCATION, upload_location(name, id))
        .header(header::RANGE, upload_range(size))
        .header("Docker-Upload-UUID", id)
        .header(header::CONTENT_LENGTH, 0)
        .body(empty())
        .expect("valid parts")
}

fn blob_created(name: &Name, digest: &Digest) -> Response<ResponseBody> {
    respond(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{name}/blobs/{digest}"))
        .header(header::CONTENT_LENGTH, 0)
        .header("Docker-Content-Digest", digest.to_string())
        .body(empty())
        .expect("valid parts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_from_their_end() {
        let d = format!("sha256:{}", "a".repeat(64));
        let cases = [
            ("/v2/", Some(Route::Base)),
            ("/v2/_catalog", Some(Route::Catalog)),
            ("/v2/a/b/tags/list", Some(Route::Tags("a/b".into()))),
            (
                "/v2/a/manifests/v1",
                Some(Route::Manifest("a".into(), "v1".into())),
            ),
            (
                "/v2/blobs/blobs/manifests/v1",
                Some(Route::Manifest("blobs/blobs".into(), "v1".into())),
            ),
            (
                &format!("/v2/a/b/blobs/{d}"),
                Some(Route::Blob("a/b".into(), d.clone())),
            ),
            ("/v2/a/blobs/uploads/", Some(Route::Uploads("a".into()))),
            ("/v2/a/blobs/uploads", Some(Route::Uploads("a".into()))),
            (
                "/v2/a/blobs/uploads/u-1",
                Some(Route::Upload("a".into(), "u-1".into())),
            ),
            (
                &format!("/v2/x/referrers/{d}"),
                Some(Route::Referrers("x".into(), d.clone())),
            ),
            ("/v2/a/uploads/u", None),
            ("/v1/a/manifests/v1", None),
            ("/v2/a/nothing/x", None),
        ];
        for (path, want) in cases {
            assert_eq!(route(path), want, "{path}");
        }
    }

    #[test]
    fn ranges_are_read_as_http_says() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
            m
        };
        assert_eq!(byte_range(&HeaderMap::new(), 10).unwrap(), None);
        assert_eq!(byte_range(&h("bytes=2-4"), 10).unwrap(), Some((2, 3)));
        assert_eq!(byte_range(&h("bytes=2-"), 10).unwrap(), Some((2, 8)));
        assert_eq!(byte_range(&h("bytes=-3"), 10).unwrap(), Some((7, 3)));
        assert_eq!(byte_range(&h("bytes=5-100"), 10).unwrap(), Some((5, 5)));
        assert_eq!(byte_range(&h("bytes=0-1,3-4"), 10).unwrap(), None);
        for bad in ["bytes=10-", "bytes=4-2", "bytes=x-1", "bytes=-0"] {
            assert_eq!(
                byte_range(&h(bad), 10).unwrap_err().code,
                Code::RangeInvalid,
                "{bad}"
            );
        }
    }

    #[test]
    fn only_oci_types_are_refused_to_clients_that_do_not_list_them() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(accepts(&HeaderMap::new(), manifest::OCI_MANIFEST));
        assert!(!accepts(
            &h(manifest::DOCKER_MANIFEST),
            manifest::OCI_MANIFEST
        ));
        assert!(accepts(
            &h(&format!(
                "{}; q=0.5, {}",
                manifest::DOCKER_MANIFEST,
                manifest::OCI_INDEX
            )),
            manifest::OCI_INDEX
        ));
        assert!(accepts(&h("*/*"), manifest::OCI_INDEX));
        assert!(accepts(&h("text/plain"), manifest::DOCKER_LIST));
    }
}
