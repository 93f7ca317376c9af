//! Resumable uploads: one resumable upload session per upload, whose state lives in the bucket
//! in an *upload placeholder* object, as the reference driver keeps it — the session URI and the
//! committed offset in the object's metadata (`Session-URI`, `Offset`), the tail that is not yet
//! a whole 256 KiB quantum as its content, and the content type
//! `application/x-docker-upload-session`.
//!
//! Unlike the reference, the placeholder is not written over the upload's own path (that would
//! destroy committed content there before the commit, so `cancel` could not restore it): it
//! lives under `~wharf-uploads/` beside the storage root, a name no contract path can spell, so
//! `stat`, `list`, `walk` and readers never see it and it makes no directory appear.
//!
//! - Writes are buffered; each time `chunksize` bytes are buffered they are sent as the next
//!   chunk of the session (started with the first chunk), one chunk in flight while the caller
//!   fills the next. A chunk is sent once: some servers store a re-sent chunk twice, so a chunk
//!   whose answer is lost breaks the writer rather than being sent again. The server's `Range`
//!   answer is checked after every chunk, and a chunk it kept only in part goes on from there.
//! - `close` sends the whole quanta of the buffer, then writes the placeholder with the session,
//!   the offset and the remaining tail (under 256 KiB). When a placeholder exists, it is also
//!   brought up to date after each chunk, so a writer dropped without `close` leaves a state
//!   that a resume can trust.
//! - `writer(path, true)` reads the placeholder back: `size()` is the offset plus the tail, and
//!   the tail goes back into the buffer. The session's status is never queried (the test server
//!   finalizes a truncated object when asked).
//! - `commit` sends the buffer as the last chunk with the total size (or uploads it in one
//!   request when no session was started), which replaces the object atomically, then deletes
//!   the placeholder. A commit that fails keeps its data, for a retry or for `close`. `cancel` deletes the placeholder and cancels the session; committed
//!   content is never touched before a commit.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use wharf_object_store::PartPipeline;
use wharf_runtime::{Error, FileWriter, Result};

use crate::client::{ChunkAnswer, Client, Failure, Object};
use crate::config::CHUNK_QUANTUM;

/// The content type of upload placeholders (the reference's, so its tools recognise them).
pub const SESSION_CONTENT_TYPE: &str = "application/x-docker-upload-session";
/// The metadata key of a placeholder's session URI.
pub const META_SESSION: &str = "Session-URI";
/// The metadata key of a placeholder's committed offset.
pub const META_OFFSET: &str = "Offset";
/// How often a chunk the server kept only in part is continued before giving up.
const MAX_PARTIAL_CONTINUATIONS: u32 = 8;

/// True for an object that is an upload's state rather than content (the reference writes them
/// at the upload's own path): it is shown as absent.
pub(crate) fn is_placeholder(object: &Object) -> bool {
    object.content_type.as_deref() == Some(SESSION_CONTENT_TYPE)
}

/// Where the writer of one path keeps things.
#[derive(Clone)]
pub(crate) struct Names {
    /// The object the upload becomes.
    pub object: Arc<str>,
    /// The upload placeholder.
    pub placeholder: Arc<str>,
    /// The contract path, for errors.
    pub path: Arc<str>,
}

/// An upload found (or started) in the bucket.
pub(crate) struct Opened {
    session: Option<String>,
    offset: u64,
    tail: Bytes,
    placeholder: bool,
}

/// Finds the upload to resume (`append`) or starts a new one, as the module docs describe.
pub(crate) async fn open(client: &Client, names: &Names, append: bool) -> Result<Opened> {
    let path: &str = &names.path;
    let fail = |f: Failure| f.into_error("writer", path);
    if !append {
        // A new upload discards an earlier uncommitted one (its session expires by itself).
        client.delete(&names.placeholder).await.map_err(fail)?;
        return Ok(Opened {
            session: None,
            offset: 0,
            tail: Bytes::new(),
            placeholder: false,
        });
    }
    let Some(meta) = client.get_object(&names.placeholder).await.map_err(fail)? else {
        return match client.get_object(&names.object).await.map_err(fail)? {
            Some(o) if !is_placeholder(&o) && o.size() == 0 => Ok(Opened {
                session: None,
                offset: 0,
                tail: Bytes::new(),
                placeholder: false,
            }),
            Some(o) if !is_placeholder(&o) => Err(Error::unsupported(format!(
                "append to the committed content of {path} (only an upload closed without \
                 commit, or an empty file, can be resumed)"
            ))),
            _ => Err(Error::not_found(path)),
        };
    };
    let bad = |what: &str| {
        wharf_http::malformed("writer", path, format!("the upload placeholder {what}"))
    };
    let offset = match meta.metadata.get(META_OFFSET).map(|s| s.trim()) {
        None | Some("") => 0,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| bad("has an offset that is not a number"))?,
    };
    let session = meta
        .metadata
        .get(META_SESSION)
        .filter(|s| !s.trim().is_empty())
        .cloned();
    match &session {
        Some(uri) if !client.is_own_session(uri) => {
            return Err(bad("names a session on another host"));
        }
        None if offset > 0 => return Err(bad("has an offset but no session")),
        _ => {}
    }
    let tail = if meta.size() == 0 {
        Bytes::new()
    } else {
        client
            .download_all(&names.placeholder, meta.generation.as_deref())
            .await
            .map_err(fail)?
            .body
    };
    if tail.len() as u64 != meta.size() {
        return Err(bad("changed while it was read"));
    }
    Ok(Opened {
        session,
        offset,
        tail,
        placeholder: true,
    })
}

/// Writes the placeholder of an upload: its session, offset and tail.
async fn write_placeholder(
    client: &Client,
    names: &Names,
    session: Option<&str>,
    offset: u64,
    tail: Bytes,
) -> Result<()> {
    let metadata = [
        (META_SESSION, session.unwrap_or_default().to_owned()),
        (META_OFFSET, offset.to_string()),
    ];
    client
        .upload_with_metadata(&names.placeholder, SESSION_CONTENT_TYPE, &metadata, tail)
        .await
        .map(drop)
        .map_err(|f| f.into_error("write", &names.path))
}

/// Sends `data` as the bytes from `from` of `session` and returns the new offset. A chunk the
/// server kept only in part is continued from where it stopped.
async fn send_chunk(
    client: &Client,
    names: &Names,
    session: &str,
    mut from: u64,
    mut data: Bytes,
) -> Result<u64> {
    let path: &str = &names.path;
    let end = from + data.len() as u64;
    for _ in 0..MAX_PARTIAL_CONTINUATIONS {
        let answer = client
            .put_chunk(session, from, data.clone(), None)
            .await
            .map_err(|f| f.into_error("write", path))?;
        match answer {
            ChunkAnswer::Incomplete { persisted } if persisted == end => return Ok(end),
            ChunkAnswer::Incomplete { persisted } if persisted >= from && persisted < end => {
                tracing::debug!(path, from, persisted, end, "gcs: a chunk was kept in part");
                data = data.slice((persisted - from) as usize..);
                from = persisted;
            }
            ChunkAnswer::Incomplete { persisted } => {
                return Err(Error::backend(format!(
                    "write {path}: the upload session holds {persisted} bytes where {end} were \
                     expected; the upload cannot go on (cancel it and start again)"
                )));
            }
            ChunkAnswer::Done(_) => {
                return Err(Error::backend(format!(
                    "write {path}: the upload session ended before its last chunk"
                )));
            }
        }
    }
    Err(Error::temporary(format!(
        "write {path}: the server keeps accepting only part of a chunk"
    )))
}

/// The writer of one upload.
pub(crate) struct GcsWriter {
    client: Arc<Client>,
    names: Names,
    chunk_size: usize,
    session: Option<String>,
    /// The buffer and the one chunk in flight, which answers with its session; what it counts
    /// as acknowledged is the offset, the bytes the session holds. A failed chunk breaks it:
    /// what the session holds beyond the offset is then unknown, so no more data is accepted
    /// (closing keeps what is known for a resume).
    chunks: PartPipeline<String>,
    /// The first bytes of the buffer that are in the placeholder too.
    durable_tail: u64,
    /// True when the placeholder exists (it then follows every chunk).
    placeholder: bool,
    committed: bool,
}

impl GcsWriter {
    pub(crate) fn new(
        client: Arc<Client>,
        names: Names,
        chunk_size: usize,
        opened: Opened,
    ) -> Self {
        let mut chunks = PartPipeline::new(&names.path, 1, opened.offset);
        chunks.buffer(&opened.tail);
        Self {
            client,
            names,
            chunk_size,
            session: opened.session,
            chunks,
            durable_tail: opened.tail.len() as u64,
            placeholder: opened.placeholder,
            committed: false,
        }
    }

    /// Waits for the chunk in flight, if any, and takes the session it answered with.
    async fn settle(&mut self) -> Result<()> {
        let settled = self.chunks.settle_all().await;
        if let Some(session) = self.chunks.take_settled().pop() {
            self.session = Some(session);
        }
        settled
    }

    /// Starts sending the first `len` bytes of the buffer as the next chunk.
    async fn send(&mut self, len: usize) -> Result<()> {
        self.settle().await?;
        let Some(data) = self.chunks.next_part(len, false) else {
            return Ok(());
        };
        let from = self.chunks.acknowledged();
        // The chunk takes the tail the placeholder held with it; the placeholder is updated
        // once the chunk is in.
        self.durable_tail = 0;
        let (client, names, session, placeholder) = (
            self.client.clone(),
            self.names.clone(),
            self.session.clone(),
            self.placeholder,
        );
        let chunk = async move {
            let session = match session {
                Some(s) => s,
                None => client
                    .start_session(&names.object)
                    .await
                    .map_err(|f| f.into_error("write", &names.path))?,
            };
            let offset = send_chunk(&client, &names, &session, from, data).await?;
            if placeholder {
                write_placeholder(&client, &names, Some(&session), offset, Bytes::new()).await?;
            }
            Ok(session)
        };
        self.chunks.send(len as u64, chunk).await
    }

    /// Ends the upload with `data` as its last bytes, `total` in all: the last chunk of the
    /// session, or one upload when no session was started. The object is replaced atomically.
    async fn finish(&self, data: Bytes, total: u64) -> Result<()> {
        let path: &str = &self.names.path;
        let Some(session) = &self.session else {
            return self
                .client
                .upload(&self.names.object, data)
                .await
                .map(drop)
                .map_err(|f| f.into_error("commit", path));
        };
        let answer = self
            .client
            .put_chunk(session, self.chunks.acknowledged(), data, Some(total))
            .await
            .map_err(|f| f.into_error("commit", path))?;
        match answer {
            ChunkAnswer::Done(object) if object.size() == total => Ok(()),
            ChunkAnswer::Done(object) => Err(Error::backend(format!(
                "commit {path}: the upload ended with {} bytes where {total} were sent",
                object.size()
            ))),
            ChunkAnswer::Incomplete { persisted } => Err(Error::backend(format!(
                "commit {path}: the upload session holds {persisted} of {total} bytes and did \
                 not finish"
            ))),
        }
    }
}

#[async_trait]
impl FileWriter for GcsWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.chunks.check()?;
        self.chunks.buffer(&data);
        while self.chunks.buffered() >= self.chunk_size {
            self.send(self.chunk_size).await?;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.chunks.acknowledged() + self.durable_tail
    }

    async fn close(&mut self) -> Result<()> {
        if self.committed {
            return Ok(());
        }
        // A chunk that fails now is reported after the known state is saved; one that failed
        // before was reported by `write` already.
        let was_broken = self.chunks.is_broken();
        let mut failure = self.settle().await.err();
        if !self.chunks.is_broken() {
            let whole = self.chunks.buffered() / CHUNK_QUANTUM * CHUNK_QUANTUM;
            if whole > 0 {
                self.send(whole).await?;
                failure = self.settle().await.err();
            }
        }
        // After a failure only what the session is known to hold is kept.
        let tail = if self.chunks.is_broken() {
            self.chunks.clear_buffer();
            Bytes::new()
        } else {
            self.chunks.take_buffer()
        };
        let tail_len = tail.len() as u64;
        write_placeholder(
            &self.client,
            &self.names,
            self.session.as_deref(),
            self.chunks.acknowledged(),
            tail,
        )
        .await?;
        self.placeholder = true;
        self.durable_tail = tail_len;
        match failure {
            Some(e) if !was_broken => Err(e),
            _ => Ok(()),
        }
    }

    async fn commit(&mut self) -> Result<()> {
        // A commit that failed only in removing the placeholder is retried from there.
        if !self.committed {
            self.chunks.check()?;
            self.settle().await?;
            // The buffer stays until the commit is done, for a retry or for `close` to keep.
            let data = self.chunks.buffered_copy();
            let len = data.len() as u64;
            self.finish(data, self.chunks.acknowledged() + len).await?;
            self.chunks.clear_buffer();
            self.chunks.acknowledge(len);
            self.durable_tail = 0;
            self.committed = true;
        }
        if self.placeholder {
            self.client
                .delete(&self.names.placeholder)
                .await
                .map_err(|f| f.into_error("commit", &self.names.path))?;
            self.placeholder = false;
        }
        Ok(())
    }

    async fn cancel(&mut self) -> Result<()> {
        self.chunks.clear_buffer();
        // A chunk in flight may land or not; the session is cancelled either way.
        let _ = self.settle().await;
        if let Some(session) = &self.session {
            self.client.cancel_session(session).await;
        }
        if self.placeholder {
            self.client
                .delete(&self.names.placeholder)
                .await
                .map_err(|f| f.into_error("cancel", &self.names.path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use wharf_http::testing::{MockServer, Reply};
    use wharf_runtime::Params;

    fn writer_parts(endpoint: &str) -> (Arc<Client>, Names) {
        let params = Params::from_pairs([
            ("bucket", "b12"),
            ("anonymous", "true"),
            ("endpoint", endpoint),
        ]);
        let client = Client::new(&Config::from_params(params).unwrap()).unwrap();
        let names = Names {
            object: "f".into(),
            placeholder: "~wharf-uploads/f".into(),
            path: "/f".into(),
        };
        (Arc::new(client), names)
    }

    #[tokio::test]
    async fn a_chunk_whose_answer_is_lost_breaks_the_writer_and_is_never_sent_again() {
        let server = MockServer::start();
        // writer(false) discards an earlier placeholder: there is none.
        server.push(Reply::json(404, "{}"));
        server.push(Reply::status(200).header(
            "location",
            format!("{}/upload/storage/v1/b/b12/o?upload_id=1", server.url()),
        ));
        // The first chunk reaches the server, but its answer is lost.
        server.push(Reply::hang_up());
        // close: the placeholder, with what is known (nothing).
        server.push(Reply::json(200, r#"{"name":"~wharf-uploads/f"}"#));
        let (client, names) = writer_parts(server.url());
        let opened = open(&client, &names, false).await.unwrap();
        let mut w = GcsWriter::new(client, names, CHUNK_QUANTUM, opened);
        w.write(Bytes::from(vec![1u8; CHUNK_QUANTUM + 10]))
            .await
            .unwrap();
        // The next chunk waits for the first, which failed.
        let e = w
            .write(Bytes::from(vec![2u8; CHUNK_QUANTUM]))
            .await
            .unwrap_err();
        assert!(e.is_temporary(), "{e}");
        let e = w.write(Bytes::from_static(b"more")).await.unwrap_err();
        assert!(e.to_string().contains("failed earlier"), "{e}");
        assert!(w.commit().await.is_err());
        // The failure was reported by `write`; close keeps what is known: nothing.
        w.close().await.unwrap();
        assert_eq!(w.size(), 0);
        let requests = server.requests();
        assert_eq!(requests.len(), 4, "the lost chunk was sent again");
        assert_eq!(requests[2].method, "PUT");
        assert_eq!(requests[2].target, "/upload/storage/v1/b/b12/o?upload_id=1");
        // Nothing is known to be in the session: a resume starts a new one.
        let placeholder = requests[3].body_text();
        assert!(
            placeholder.contains(r#""metadata":{"Offset":"0","Session-URI":""}"#),
            "{placeholder}"
        );
    }

    #[tokio::test]
    async fn a_failed_commit_keeps_the_data_for_close() {
        let server = MockServer::start();
        server.push(Reply::json(404, "{}"));
        // The commit's upload is refused for good.
        server.push(Reply::json(
            403,
            r#"{"error":{"message":"denied","errors":[{"reason":"forbidden"}]}}"#,
        ));
        server.push(Reply::json(200, r#"{"name":"~wharf-uploads/f"}"#));
        let (client, names) = writer_parts(server.url());
        let opened = open(&client, &names, false).await.unwrap();
        let mut w = GcsWriter::new(client, names, CHUNK_QUANTUM, opened);
        w.write(Bytes::from_static(b"kept-tail-bytes"))
            .await
            .unwrap();
        let e = w.commit().await.unwrap_err();
        assert_eq!(e.kind(), &wharf_runtime::ErrorKind::PermissionDenied, "{e}");
        w.close().await.unwrap();
        assert_eq!(w.size(), 15);
        let requests = server.requests();
        assert_eq!(requests.len(), 3);
        let body = requests[2].body_text();
        assert!(body.contains("kept-tail-bytes"), "{body}");
        assert!(body.contains(r#""Offset":"0""#), "{body}");
    }
}
