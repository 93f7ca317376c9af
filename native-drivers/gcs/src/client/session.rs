//! The calls of resumable upload sessions: start one, send it a chunk (the last one with the
//! total size), cancel it. The session URI authorises the upload by itself, so these requests
//! carry no token.

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use wharf_http::{Idempotency, Request, Unsigned};

use super::{Client, Failure, Object, parse};

/// What a chunk of a resumable upload led to.
#[derive(Debug)]
pub(crate) enum ChunkAnswer {
    /// The session goes on and holds this many bytes.
    Incomplete { persisted: u64 },
    /// The upload is finished: the object it created.
    Done(Object),
}

impl Client {
    /// Starts a resumable upload session for `object` and returns its URI.
    pub(crate) async fn start_session(&self, object: &str) -> Result<String, Failure> {
        let resource =
            serde_json::json!({"name": object, "contentType": "application/octet-stream"})
                .to_string();
        let req = Request::new(Method::POST, self.upload_url())
            .query("uploadType", "resumable")
            .query("name", object)
            .header("x-upload-content-type", "application/octet-stream")
            .header("content-type", "application/json; charset=UTF-8")
            .body(resource)
            // Sending this again only opens another session; the first is never used.
            .idempotency(Idempotency::Idempotent);
        let answer = self.call_naming_no_object(&req).await?;
        let location = answer
            .header("location")
            .map(str::to_owned)
            .ok_or_else(|| Failure::malformed("a resumable upload started without a Location"))?;
        if !self.is_own_session(&location) {
            return Err(Failure::malformed("a session URI on another host"));
        }
        Ok(location)
    }

    /// A request to the session `session`: the URI authorises the upload by itself, so no
    /// token goes with it, and its `upload_id` is a secret.
    fn session_request(method: Method, session: &str) -> Request {
        Request::new(method, session).secret_query_param("upload_id")
    }

    /// Sends `data` as the bytes from `from` of the session `session`; with `total`, this is the
    /// last chunk and the upload ends at `total` bytes (`data` may then be empty).
    ///
    /// A chunk whose answer is lost is not sent again ([`Idempotency::RefusedOnly`]): a chunk
    /// sent twice is stored twice by some servers.
    pub(crate) async fn put_chunk(
        &self,
        session: &str,
        from: u64,
        data: Bytes,
        total: Option<u64>,
    ) -> Result<ChunkAnswer, Failure> {
        let len = data.len() as u64;
        let total_text = total.map_or_else(|| "*".to_owned(), |t| t.to_string());
        let range = if len == 0 {
            format!("bytes */{total_text}")
        } else {
            format!("bytes {from}-{}/{total_text}", from + len - 1)
        };
        let req = Self::session_request(Method::PUT, session)
            .header("content-range", range)
            .header("content-type", "application/octet-stream")
            .body(data)
            .idempotency(Idempotency::RefusedOnly)
            .accept(StatusCode::PERMANENT_REDIRECT);
        let answer = self.http.call(&req, &Unsigned).await?;
        if answer.status == StatusCode::PERMANENT_REDIRECT {
            // `Range: bytes=0-N` tells what the session holds; no header means nothing.
            let persisted = match answer.header("range") {
                None => 0,
                Some(r) => r
                    .strip_prefix("bytes=0-")
                    .and_then(|end| end.trim().parse::<u64>().ok())
                    .map(|end| end + 1)
                    .ok_or_else(|| Failure::malformed("a session Range header of another form"))?,
            };
            return Ok(ChunkAnswer::Incomplete { persisted });
        }
        Ok(ChunkAnswer::Done(parse(&answer.body)?))
    }

    /// Cancels the session `session` (its bytes are dropped). Sent once, and failures are
    /// ignored: an unused session expires by itself after a week.
    pub(crate) async fn cancel_session(&self, session: &str) {
        let req = Self::session_request(Method::DELETE, session)
            .header("content-length", "0")
            .idempotency(Idempotency::NotIdempotent);
        if let Err(f) = self.http.call(&req, &Unsigned).await {
            tracing::debug!(error = %f, "gcs: cancelling an upload session failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::client;
    use wharf_http::testing::{MockServer, Reply};

    #[tokio::test]
    async fn a_chunk_whose_answer_is_lost_is_not_sent_again() {
        let server = MockServer::start();
        server.push(Reply::hang_up());
        let c = client(server.url());
        let session = format!("{}/upload/storage/v1/b/b12/o?upload_id=1", server.url());
        let f = c
            .put_chunk(&session, 0, Bytes::from(vec![7u8; 1000]), None)
            .await
            .unwrap_err();
        assert!(f.is_transport(), "{f:?}");
        assert_eq!(server.requests().len(), 1);

        // An error answer means the chunk was refused whole: it is sent again.
        let server = MockServer::start();
        server.push(Reply::json(503, "{}"));
        server.push(Reply::json(200, r#"{"name":"o","size":"1000"}"#));
        let session = format!("{}/upload/storage/v1/b/b12/o?upload_id=1", server.url());
        let answer = client(server.url())
            .put_chunk(&session, 0, Bytes::from(vec![7u8; 1000]), Some(1000))
            .await
            .unwrap();
        assert!(matches!(answer, ChunkAnswer::Done(o) if o.size() == 1000));
        let seen = server.requests();
        assert_eq!(seen.len(), 2);
        // The session URI authorises the chunk by itself: no token goes with it.
        assert!(seen.iter().all(|r| r.header("authorization").is_none()));
    }
}
