//! The object calls of the JSON API: metadata, downloads, simple and multipart uploads, delete,
//! rewrite (the server-side copy) and listings.

use std::collections::BTreeMap;
use std::time::SystemTime;

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use wharf_http::{Answer, Idempotency, Request, encode};

use super::{Client, Failure, parse};

/// The metadata of an object, as the JSON API describes it (only the fields the driver reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Object {
    pub name: String,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    updated: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub generation: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl Object {
    /// The size in bytes (0 when the service gave none).
    pub(crate) fn size(&self) -> u64 {
        self.size
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The time of the last change of the content.
    pub(crate) fn updated(&self) -> SystemTime {
        self.updated
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// One page of a listing.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListPage {
    #[serde(default)]
    pub items: Vec<Object>,
    #[serde(default)]
    pub prefixes: Vec<String>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RewriteAnswer {
    #[serde(default)]
    done: bool,
    #[serde(default)]
    rewrite_token: Option<String>,
}

impl Client {
    /// The metadata of `object`: `None` when it does not exist.
    pub(crate) async fn get_object(&self, object: &str) -> Result<Option<Object>, Failure> {
        match self
            .call(&Request::new(Method::GET, self.object_url(object)))
            .await
        {
            Ok(answer) => parse(&answer.body).map(Some),
            Err(f) if f.is_not_found() => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// The content of `object` from `offset` (all of it from 0), pinned to `generation` when
    /// given; the answer's body is still to be read. A range beyond the end fails with 416.
    pub(crate) async fn download(
        &self,
        object: &str,
        offset: u64,
        generation: Option<&str>,
    ) -> Result<reqwest::Response, Failure> {
        let mut req = Request::new(Method::GET, self.object_url(object)).query("alt", "media");
        if let Some(g) = generation {
            req = req.query("generation", g);
        }
        if offset > 0 {
            req = req.header("range", format!("bytes={offset}-"));
        }
        self.http.send(&req, self).await
    }

    /// The whole content of `object`, pinned to `generation` when given, read (a body that
    /// breaks off is asked for again, as any lost answer of an idempotent request).
    pub(crate) async fn download_all(
        &self,
        object: &str,
        generation: Option<&str>,
    ) -> Result<Answer, Failure> {
        let mut req = Request::new(Method::GET, self.object_url(object)).query("alt", "media");
        if let Some(g) = generation {
            req = req.query("generation", g);
        }
        self.call(&req).await
    }

    /// Replaces `object` with `content` in one request (a simple upload): atomic, and as
    /// idempotent as the content.
    pub(crate) async fn upload(&self, object: &str, content: Bytes) -> Result<Object, Failure> {
        let req = Request::new(Method::POST, self.upload_url())
            .query("uploadType", "media")
            .query("name", object)
            .header("content-type", "application/octet-stream")
            .body(content)
            .idempotency(Idempotency::Idempotent);
        parse(&self.call_naming_no_object(&req).await?.body)
    }

    /// Replaces `object` with `content` of `content_type` and custom `metadata` in one request
    /// (a multipart upload).
    pub(crate) async fn upload_with_metadata(
        &self,
        object: &str,
        content_type: &str,
        metadata: &[(&str, String)],
        content: Bytes,
    ) -> Result<Object, Failure> {
        let boundary = format!("wharf_{:032x}", rand::random::<u128>());
        let resource = serde_json::json!({
            "name": object,
            "contentType": content_type,
            "metadata": metadata.iter().cloned().collect::<BTreeMap<&str, String>>(),
        });
        let mut body = Vec::with_capacity(content.len() + 512);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{resource}\r\n\
                 --{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = Request::new(Method::POST, self.upload_url())
            .query("uploadType", "multipart")
            .header(
                "content-type",
                format!("multipart/related; boundary={boundary}"),
            )
            .body(body)
            .idempotency(Idempotency::Idempotent);
        parse(&self.call_naming_no_object(&req).await?.body)
    }

    /// Deletes `object`: `false` when there was nothing to delete. A retried delete that finds
    /// nothing after an attempt that got no answer counts as having deleted it.
    pub(crate) async fn delete(&self, object: &str) -> Result<bool, Failure> {
        match self
            .call(&Request::new(Method::DELETE, self.object_url(object)))
            .await
        {
            Ok(_) => Ok(true),
            Err(f) if f.is_not_found() => Ok(f.maybe_applied()),
            Err(f) => Err(f),
        }
    }

    /// Copies `source` to `dest` on the server (Rewrite, repeated until done: large objects
    /// across locations or storage classes take several calls).
    pub(crate) async fn rewrite(&self, source: &str, dest: &str) -> Result<(), Failure> {
        let url = format!(
            "{}/rewriteTo/b/{}/o/{}",
            self.object_url(source),
            self.bucket,
            encode::component(dest)
        );
        let mut token: Option<String> = None;
        loop {
            let mut req = Request::new(Method::POST, url.as_str())
                .header("content-type", "application/json")
                .body("{}")
                .idempotency(Idempotency::Idempotent);
            if let Some(t) = &token {
                req = req.query("rewriteToken", t.as_str());
            }
            let answer: RewriteAnswer = parse(&self.call(&req).await?.body)?;
            if answer.done {
                return Ok(());
            }
            match answer.rewrite_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Err(Failure::malformed("a rewrite neither done nor resumable")),
            }
        }
    }

    /// One page of the listing of objects under `prefix`, one level deep when `delimiter` is
    /// given.
    pub(crate) async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        page_token: Option<&str>,
        max_results: u32,
    ) -> Result<ListPage, Failure> {
        self.list_page_from(prefix, delimiter, None, page_token, max_results)
            .await
    }

    /// [`Client::list_page`] starting at the name `start` (`startOffset`: that name and those
    /// after it).
    pub(crate) async fn list_page_from(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        start: Option<&str>,
        page_token: Option<&str>,
        max_results: u32,
    ) -> Result<ListPage, Failure> {
        let mut req = Request::new(Method::GET, self.objects_url())
            .query("prefix", prefix)
            .query("maxResults", max_results.to_string())
            .query(
                "fields",
                "items(name,size,updated,contentType,generation),prefixes,nextPageToken",
            );
        if let Some(d) = delimiter {
            req = req.query("delimiter", d);
        }
        if let Some(s) = start {
            req = req.query("startOffset", s);
        }
        if let Some(t) = page_token {
            req = req.query("pageToken", t);
        }
        parse(&self.call_naming_no_object(&req).await?.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_read_their_fields() {
        let o: Object = serde_json::from_str(
            r#"{"name":"a/b","size":"524288","updated":"2026-11-26T21:47:02.737416Z",
                "contentType":"application/octet-stream","generation":"17",
                "metadata":{"Offset":"262144"}}"#,
        )
        .unwrap();
        assert_eq!(o.size(), 524288);
        assert_eq!(
            o.updated(),
            humantime::parse_rfc3339("2026-11-26T21:47:02.737416Z").unwrap()
        );
        assert_eq!(o.metadata.get("Offset").map(String::as_str), Some("262144"));
        let o: Object = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!((o.size(), o.updated()), (0, SystemTime::UNIX_EPOCH));
    }
}
