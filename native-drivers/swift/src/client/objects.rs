//! The object calls: HEAD (with what it says about large objects), PUT, DELETE (a Static
//! Large Object with its segments, through the bulk middleware) and the server-side copy.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;
use wharf_http::{Answer, header};

use super::{Client, Failure, Target, check_bulk_answer, encode_path};

/// What a HEAD of an object says.
#[derive(Debug, Clone)]
pub(crate) struct ObjectMeta {
    pub size: u64,
    pub mod_time: SystemTime,
    /// A Static Large Object manifest.
    pub slo: bool,
    /// A Dynamic Large Object manifest: its `container/prefix`.
    pub dlo: Option<String>,
    /// Where this driver keeps the segments of a large object it wrote.
    pub segments: Option<String>,
}

/// The object metadata naming a large object's segment prefix.
pub(crate) const SEGMENTS_META: &str = "x-object-meta-wharf-segments";

impl ObjectMeta {
    fn of(headers: &HeaderMap) -> Self {
        let mod_time = header(headers, "x-timestamp")
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|t| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t))
            .or_else(|| {
                header(headers, "last-modified").and_then(|t| httpdate::parse_http_date(t).ok())
            })
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Self {
            size: header(headers, "content-length")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            mod_time,
            slo: header(headers, "x-static-large-object")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            dlo: header(headers, "x-object-manifest").map(str::to_owned),
            segments: header(headers, SEGMENTS_META).map(str::to_owned),
        }
    }
}

impl Client {
    /// HEAD of an object; `None` when it does not exist.
    pub(crate) async fn head(
        &self,
        name: &str,
    ) -> std::result::Result<Option<ObjectMeta>, Failure> {
        let req = self.request(Method::HEAD, Target::Object(name));
        meta_of(self.call(&req).await)
    }

    /// What [`Client::head`] tells, for a lookup before a write or a delete of `name`: one
    /// request, a 404 taken at its word (see [`Client::call_once`]).
    pub(crate) async fn look_up(
        &self,
        name: &str,
    ) -> std::result::Result<Option<ObjectMeta>, Failure> {
        let req = self.request(Method::HEAD, Target::Object(name));
        meta_of(self.call_once(&req).await)
    }

    /// Writes a whole object; returns its ETag.
    pub(crate) async fn put(
        &self,
        name: &str,
        body: Bytes,
        headers: &[(&'static str, String)],
    ) -> std::result::Result<String, Failure> {
        let mut req = self
            .request(Method::PUT, Target::Object(name))
            .header("content-type", "application/octet-stream")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v.clone());
        }
        let answer = self.call(&req).await?;
        Ok(header(&answer.headers, "etag")
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned())
    }

    /// Deletes an object (with `?multipart-manifest=delete` when `with_segments`, which also
    /// deletes a Static Large Object's segments); `false` when there was nothing to delete.
    pub(crate) async fn delete(
        &self,
        name: &str,
        with_segments: bool,
    ) -> std::result::Result<bool, Failure> {
        let mut req = self.request(Method::DELETE, Target::Object(name));
        if with_segments {
            req = req
                .query("multipart-manifest", "delete")
                .header("accept", "application/json");
        }
        match self.call(&req).await {
            Ok(answer) if with_segments => {
                // The middleware answers 200 and reports failures in the body.
                check_bulk_answer(&answer.body, name).map(|r| r.deleted + r.not_found > 0)
            }
            Ok(_) => Ok(true),
            Err(f) if f.is_not_found() => Ok(false),
            Err(f) => Err(f),
        }
    }

    /// A server-side copy of `from` to `to`; with `manifest`, a large object's manifest is
    /// copied instead of its content (the copy shares the segments).
    pub(crate) async fn copy(
        &self,
        from: &str,
        to: &str,
        manifest: bool,
    ) -> std::result::Result<(), Failure> {
        let source = format!(
            "/{}/{}",
            encode_path(&self.config.container),
            encode_path(from)
        );
        let mut req = self
            .request(Method::PUT, Target::Object(to))
            .header("x-copy-from", source);
        if manifest {
            req = req.query("multipart-manifest", "get");
        }
        self.call(&req).await.map(|_| ())
    }
}

/// An object's metadata from the answer to its HEAD; `None` for a 404.
fn meta_of(
    answer: std::result::Result<Answer, Failure>,
) -> std::result::Result<Option<ObjectMeta>, Failure> {
    match answer {
        Ok(a) => Ok(Some(ObjectMeta::of(&a.headers))),
        Err(f) if f.is_not_found() => Ok(None),
        Err(f) => Err(f),
    }
}
