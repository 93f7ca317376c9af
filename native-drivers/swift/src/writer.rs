//! Resumable uploads as segments of a future Static Large Object, with their state in Swift.
//!
//! An upload to `path` writes segments under a fresh segment prefix
//! (`<prefix>/segments/<3 hex>/<37 hex>/<%016d>`) and keeps its state in one small JSON object,
//! `<prefix>/wharf-uploads/<sha256(path)>`: the path, the segment prefix and each segment's size
//! and MD5. Neither lies under `<prefix>/files/`, so listings and walks never see them, and the
//! committed content at `path` is not touched before `commit` (so `cancel` leaves it as it was).
//!
//! - `writer(path, false)` discards the upload the state object names (its segments and the
//!   state) and starts afresh. The state is first written just before the first segment, so a
//!   one-shot upload that fits in one segment costs no state at all.
//! - `close` uploads what is buffered as one more segment and rewrites the state; `size()` is
//!   then exactly the sum of the segments Swift holds.
//! - `writer(path, true)` reads the state (on any driver instance) and goes on from there;
//!   without state, an empty committed file resumes at 0 and a missing path is `PathNotFound`.
//! - `commit` writes the manifest at `<prefix>/files<path>` (or, when everything fits in one
//!   segment and nothing was uploaded yet, the object whole, as `put_content` writes it; a
//!   whole segment waits in the buffer for more data, so that such a file stays one object;
//!   an empty upload is an empty object,
//!   with no waiting of any kind), then removes the state, segments a dropped writer left beyond
//!   the committed ones, and the segments of the large object the path held before.
//! - `cancel` removes the segments and the state.
//!
//! Writes are buffered up to the segment size and up to four segments are uploaded at once.
//! `size()` counts only segments Swift acknowledged, in order, so it never runs ahead.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use wharf_object_store::PartPipeline;
use wharf_runtime::{Error, FileWriter, Result};

use wharf_http::malformed;

use crate::client::Target;
use crate::error::Failure;
use crate::manifest::{self, Part};
use crate::{SEGMENTS_IN_FLIGHT, Store};

/// What Swift keeps about an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    version: u32,
    path: String,
    segments: String,
    parts: Vec<Part>,
}

const STATE_VERSION: u32 = 1;

async fn read_state(inner: &Store, name: &str, path: &str, append: bool) -> Result<Option<State>> {
    let req = inner.client.request(Method::GET, Target::Object(name));
    // A new upload only looks for an old one to replace: one request (a concurrent writer's
    // state missed in a moment of 404 leaves its segments behind; concurrent writers of one
    // path replace each other anyway). A resumption must not miss its state.
    let answer = if append {
        inner.client.call(&req).await
    } else {
        inner.client.call_once(&req).await
    };
    match answer {
        Ok(answer) => {
            let state: State = serde_json::from_slice(&answer.body)
                .map_err(|e| malformed("writer", path, format!("upload state {name}: {e}")))?;
            if state.version != STATE_VERSION || state.path != path {
                return Err(malformed(
                    "writer",
                    path,
                    format!(
                        "upload state {name} is of version {} for {}",
                        state.version, state.path
                    ),
                ));
            }
            Ok(Some(state))
        }
        Err(f) if f.is_not_found() => Ok(None),
        Err(f) => Err(f.into_error("writer", path)),
    }
}

/// The writer of one upload.
pub(crate) struct SwiftWriter {
    inner: Arc<Store>,
    path: String,
    state_name: String,
    segments: String,
    /// The buffer and the segments, each one's size and ETag once Swift acknowledged it; a
    /// failed segment breaks it, since what Swift holds past the acknowledged segments is then
    /// uncertain (closing keeps the acknowledged ones).
    parts: PartPipeline<Part>,
    /// The index of the next segment to upload.
    next_index: usize,
    /// True once the state object exists in Swift.
    state_written: bool,
    /// True when the upload was resumed: a writer before it may have left segments behind.
    resumed: bool,
    committed: bool,
}

impl SwiftWriter {
    /// Starts an upload to `path`, or resumes the one an earlier writer closed.
    pub(crate) async fn open(inner: Arc<Store>, path: &str, append: bool) -> Result<Self> {
        let state_name = inner.upload_state_name(path);
        let state = read_state(&inner, &state_name, path, append).await?;
        let mut w = Self {
            segments: inner.new_segment_prefix(),
            inner,
            path: path.to_owned(),
            state_name,
            parts: PartPipeline::new(path, SEGMENTS_IN_FLIGHT, 0),
            next_index: 0,
            state_written: false,
            resumed: false,
            committed: false,
        };
        match (append, state) {
            (true, Some(state)) => {
                let acknowledged = state.parts.iter().map(|p| p.size).sum();
                w.next_index = state.parts.len();
                w.parts = PartPipeline::new(path, SEGMENTS_IN_FLIGHT, acknowledged);
                w.parts.extend_settled(state.parts);
                w.segments = state.segments;
                w.state_written = true;
                w.resumed = true;
            }
            (true, None) => {
                let name = w.inner.object_name(path);
                let meta = w
                    .inner
                    .client
                    .head(&name)
                    .await
                    .map_err(|f| f.into_error("writer", path))?;
                match meta {
                    None => return Err(Error::not_found(path)),
                    Some(m) if m.size == 0 => {}
                    Some(_) => {
                        return Err(Error::unsupported(format!(
                            "append to the committed content of {path} (only an upload closed \
                             without commit, or an empty file, can be resumed)"
                        )));
                    }
                }
            }
            (false, Some(old)) => {
                // An earlier uncommitted upload is discarded.
                w.inner
                    .delete_prefix(&format!("{}/", old.segments), path)
                    .await?;
                w.inner
                    .client
                    .delete(&w.state_name, false)
                    .await
                    .map_err(|f| f.into_error("writer", path))?;
            }
            (false, None) => {}
        }
        Ok(w)
    }

    async fn write_state(&mut self) -> Result<()> {
        let state = State {
            version: STATE_VERSION,
            path: self.path.clone(),
            segments: self.segments.clone(),
            parts: self.parts.settled().to_vec(),
        };
        let body = serde_json::to_vec(&state)
            .map_err(|e| Error::backend(format!("encoding upload state: {e}")))?;
        self.inner
            .client
            .put(&self.state_name, Bytes::from(body), &[])
            .await
            .map_err(|f| f.into_error("write", &self.path))?;
        self.state_written = true;
        Ok(())
    }

    /// Uploads every full segment in the buffer, and the rest too when `all`.
    async fn flush(&mut self, all: bool) -> Result<()> {
        let size = self.inner.segment_size as usize;
        while let Some(data) = self.parts.next_part(size, all) {
            if !self.state_written {
                // Make the segments findable before the first one exists.
                self.write_state().await?;
            }
            let name = manifest::segment_name(&self.segments, self.next_index);
            self.next_index += 1;
            let (inner, path) = (self.inner.clone(), self.path.clone());
            let len = data.len() as u64;
            let upload = async move {
                let etag = inner
                    .client
                    .put(&name, data, &[])
                    .await
                    .map_err(|f| f.into_error("write", &path))?;
                Ok(Part { size: len, etag })
            };
            self.parts.send(len, upload).await?;
        }
        Ok(())
    }

    /// Removes segments under this upload's prefix that the committed manifest does not name
    /// (left by a writer that was dropped without `close`).
    async fn remove_strays(&self) -> Result<()> {
        let mut strays = Vec::new();
        let mut marker: Option<String> = None;
        let prefix = format!("{}/", self.segments);
        loop {
            let (page, next) = self
                .inner
                .page(&prefix, None, marker.as_deref())
                .await
                .map_err(|f| f.into_error("commit", &self.path))?;
            strays.extend(page.into_iter().filter_map(|e| e.name).filter(|n| {
                manifest::segment_index(&self.segments, n)
                    .is_some_and(|i| i >= self.parts.settled().len())
            }));
            match next {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        self.inner.delete_names(strays, &self.path).await
    }
}

#[async_trait]
impl FileWriter for SwiftWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.parts.check()?;
        self.parts.buffer(&data);
        // A whole segment waits for more data: if the commit comes first, the file is written
        // as one object (no upload state, segment or manifest).
        if self.parts.buffered() as u64 > self.inner.segment_size {
            self.flush(false).await?;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.parts.acknowledged()
    }

    async fn close(&mut self) -> Result<()> {
        if self.committed {
            return Ok(());
        }
        if !self.parts.is_broken() {
            self.flush(true).await?;
        }
        self.parts.clear_buffer();
        self.parts.settle_all().await?;
        self.write_state().await
    }

    async fn commit(&mut self) -> Result<()> {
        self.parts.check()?;
        let fail = |f: Failure, path: &str| f.into_error("commit", path);
        let name = self.inner.object_name(&self.path);
        let fits = self.parts.buffered() as u64 <= self.inner.segment_size;
        let old = if self.parts.settled().is_empty() && self.parts.in_flight() == 0 && fits {
            // Written whole, as put_content writes (one request for a new file).
            let content = self.parts.take_buffer();
            let len = content.len() as u64;
            let put = self
                .inner
                .put_object("commit", &name, &self.path, content.clone())
                .await;
            if let Err(e) = put {
                // The writer stays open for another commit (or a close that saves the bytes):
                // they must still be there.
                self.parts.buffer(&content);
                return Err(e);
            }
            self.parts.acknowledge(len);
            None
        } else {
            // The old object must be seen (its segments go once it is replaced): two looks.
            let old = self
                .inner
                .client
                .head(&name)
                .await
                .map_err(|f| fail(f, &self.path))?;
            self.flush(true).await?;
            self.parts.settle_all().await?;
            manifest::put(&self.inner, &name, &self.segments, self.parts.settled())
                .await
                .map_err(|f| fail(f, &self.path))?;
            old
        };
        self.committed = true;
        if self.state_written {
            self.inner
                .client
                .delete(&self.state_name, false)
                .await
                .map_err(|f| fail(f, &self.path))?;
        }
        if self.resumed {
            self.remove_strays().await?;
        }
        let kept = (!self.parts.settled().is_empty()).then_some(self.segments.as_str());
        self.inner
            .remove_replaced(old.as_ref(), kept, &self.path)
            .await
    }

    async fn cancel(&mut self) -> Result<()> {
        self.parts.clear_buffer();
        // Segments in flight may land or not; the prefix is removed after they settle.
        let _ = self.parts.settle_all().await;
        if self.state_written || self.next_index > 0 {
            self.inner
                .delete_prefix(&format!("{}/", self.segments), &self.path)
                .await?;
        }
        if self.state_written {
            self.inner
                .client
                .delete(&self.state_name, false)
                .await
                .map_err(|f| f.into_error("cancel", &self.path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_as_json() {
        let state = State {
            version: STATE_VERSION,
            path: "/a/b".into(),
            segments: "segments/abc/def".into(),
            parts: vec![Part {
                size: 5,
                etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
            }],
        };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            json,
            r#"{"version":1,"path":"/a/b","segments":"segments/abc/def","parts":[{"size":5,"etag":"d41d8cd98f00b204e9800998ecf8427e"}]}"#
        );
        assert_eq!(serde_json::from_str::<State>(&json).unwrap(), state);
    }
}
