//! Resumable uploads as S3 multipart uploads, with all their state in S3 so that a writer closed
//! by one driver instance is resumed by any other:
//!
//! - the **multipart upload** for the target key holds the upload's full parts, each exactly one
//!   part size (`chunksize` when the upload began), numbered from 1; found again with
//!   ListMultipartUploads and ListParts;
//! - the **tail**, the bytes after the last full part (fewer than a part), which S3 cannot keep
//!   as a part (every part but the last must be at least 5 MiB, and stores such as R2 want them
//!   all the same size) and cannot read back from an unfinished upload. `close` saves it as the
//!   hidden object `~<name>.upload` beside the target (see `layout`), tagged with the upload id
//!   and the offset it starts at; a resumed writer downloads it into its buffer. A tail whose tag
//!   does not match the upload (left by a writer that failed half-way) is ignored, and the writer
//!   resumes after the last full part: a shorter but correct prefix.
//!
//! The multipart upload is created only when needed (the first full part, or `close`), so a small
//! file written and committed in one go costs one PutObject. Full parts are uploaded in the
//! background, at most [`WINDOW`] at a time. `size()` counts bytes S3 has confirmed: it lags while
//! parts are buffered or in flight, and is exact after `close` and `commit`.
//!
//! `commit` completes the upload with a last part from the buffer (or, with no full part, puts
//! the buffer with PutObject and aborts the upload); `cancel` aborts it; both remove the tail.
//! A new upload (`append = false`) aborts every earlier upload for the key. Resuming with no
//! upload in progress starts from the committed object: empty (size 0), copied part by part with
//! UploadPartCopy, its last partial part downloaded into the buffer; nothing there at all is
//! `PathNotFound`. Dropping an open writer closes it in the background.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::CompletedPart;
use bytes::Bytes;
use wharf_object_store::PartPipeline;
use wharf_runtime::stream::collect;
use wharf_runtime::{Error, FileWriter, Result};

use crate::error::{from_sdk, has_code, is_not_found, is_not_implemented};
use crate::layout::{tail_key, tail_of_key};
use crate::reader::object_body;
use crate::{Bucket, multipart, object_options};

/// Part uploads (or copies) one writer keeps in flight at once.
pub(crate) const WINDOW: usize = 4;

/// Metadata keys of a saved tail.
const META_UPLOAD: &str = "wharf-upload-id";
const META_OFFSET: &str = "wharf-offset";
const META_PART_SIZE: &str = "wharf-part-size";

/// An upload in progress for a key, as ListMultipartUploads reports it.
struct InProgress {
    upload_id: String,
    initiated: Option<aws_smithy_types::DateTime>,
}

/// Every upload in progress whose key is `key` exactly (`exact`) or starts with `key/`
/// (`!exact`; the key itself included). `Ok(None)` when the store lacks ListMultipartUploads.
async fn uploads(
    s: &Bucket,
    key: &str,
    exact: bool,
    path: &str,
) -> Result<Option<Vec<(String, InProgress)>>> {
    let mut found = Vec::new();
    let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page =
            s.s3.list_multipart_uploads()
                .bucket(s.bucket())
                .prefix(key)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await;
        let page = match page {
            Ok(page) => page,
            Err(e) if is_not_implemented(&e) => return Ok(None),
            Err(e) => return Err(from_sdk(e, "list uploads of", path)),
        };
        for upload in page.uploads() {
            let (Some(k), Some(id)) = (upload.key(), upload.upload_id()) else {
                continue;
            };
            let under =
                k.len() > key.len() && k.starts_with(key) && k.as_bytes()[key.len()] == b'/';
            if k == key || (!exact && under) {
                found.push((
                    k.to_owned(),
                    InProgress {
                        upload_id: id.to_owned(),
                        initiated: upload.initiated().copied(),
                    },
                ));
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        id_marker = page.next_upload_id_marker().map(str::to_owned);
        if key_marker.is_none() && id_marker.is_none() {
            break;
        }
    }
    Ok(Some(found))
}

/// Aborts one upload; an upload already gone is fine, other failures are logged.
pub(crate) async fn abort_upload(s: &Bucket, key: &str, upload_id: &str, path: &str) {
    let aborted =
        s.s3.abort_multipart_upload()
            .bucket(s.bucket())
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
    if let Err(e) = aborted
        && !has_code(&e, "NoSuchUpload")
        && !is_not_found(&e)
    {
        tracing::warn!(path, error = %from_sdk(e, "abort upload of", path),
            "could not abort a multipart upload");
    }
}

/// Aborts every upload in progress at `key` or under `key/`, with their saved tails; returns how
/// many. Best effort: failures are logged, stores without ListMultipartUploads abort nothing.
pub(crate) async fn abort_uploads_under(s: &Bucket, key: &str, path: &str) -> usize {
    let found = match uploads(s, key, false, path).await {
        Ok(Some(found)) => found,
        Ok(None) => return 0,
        Err(e) => {
            tracing::warn!(path, error = %format_args!("{e:#}"), "could not list the uploads under a deleted path");
            return 0;
        }
    };
    for (k, upload) in &found {
        abort_upload(s, k, &upload.upload_id, path).await;
    }
    // Tails under `key/` went with the listing; the tail of `key` itself sits beside it.
    if found.iter().any(|(k, _)| k == key)
        && let Err(e) = s.delete_key(&tail_of_key(key), path).await
    {
        tracing::warn!(path, error = %format_args!("{e:#}"), "could not remove the saved tail of an aborted upload");
    }
    found.len()
}

/// A file writer over a multipart upload.
pub(crate) struct S3Writer {
    /// `None` once committed, closed or cancelled (or handed to a background close on drop).
    upload: Option<Upload>,
    /// What `size()` reports once the upload is finished.
    final_size: u64,
}

/// The state of one upload.
struct Upload {
    s: Arc<Bucket>,
    path: String,
    key: String,
    tail_key: String,
    /// The multipart upload, once created or found.
    upload_id: Option<String>,
    part_size: u64,
    /// The buffer and the parts: number and ETag of each confirmed one, in order.
    parts: PartPipeline<(i32, String)>,
    next_part: i32,
    /// Bytes at the start of the buffer that S3 already keeps (a loaded tail, or the end of the
    /// committed object a resume started from), after the parts confirmed when it was loaded.
    kept: (u64, u64),
    /// A tail object may exist for this upload (loaded or saved by it).
    tail_saved: bool,
}

impl Upload {
    fn new(s: Arc<Bucket>, path: &str) -> Self {
        let key = s.layout.key(path);
        Self {
            tail_key: tail_key(&s.layout, path),
            part_size: s.config.chunk_size,
            s,
            path: path.to_owned(),
            key,
            upload_id: None,
            parts: PartPipeline::new(path, WINDOW, 0),
            next_part: 1,
            kept: (0, 0),
            tail_saved: false,
        }
    }

    /// The bytes S3 keeps for this upload: its confirmed parts, or the kept bytes after the
    /// parts confirmed before them (the first new part holds those bytes again).
    fn persisted(&self) -> u64 {
        let (after, kept) = self.kept;
        self.parts.acknowledged().max(after + kept)
    }

    /// Bytes in the confirmed parts.
    fn in_parts(&self) -> u64 {
        self.parts.settled().len() as u64 * self.part_size
    }

    /// Puts bytes S3 already keeps into the buffer (a loaded tail, the end of committed content).
    fn keep(&mut self, bytes: &[u8]) {
        self.parts.buffer(bytes);
        self.kept = (self.parts.acknowledged(), bytes.len() as u64);
    }

    /// Creates the multipart upload if there is none yet.
    async fn upload_id(&mut self) -> Result<String> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let id = multipart::create(&self.s, &self.key, "start upload of", &self.path).await?;
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    /// Starts uploading `data` as the next part, once the window has room.
    async fn send_part(&mut self, data: Bytes) -> Result<()> {
        let upload_id = self.upload_id().await?;
        let number = self.next_part;
        self.next_part += 1;
        let (s, key, path) = (self.s.clone(), self.key.clone(), self.path.clone());
        let len = data.len() as u64;
        self.parts
            .send(len, async move {
                let etag = upload_part(&s, &key, &upload_id, number, data, &path).await?;
                Ok((number, etag))
            })
            .await
    }

    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.parts.check()?;
        self.parts.buffer(&data);
        while let Some(part) = self.parts.next_part(self.part_size as usize, false) {
            self.send_part(part).await?;
        }
        Ok(())
    }

    /// The parts to complete the upload with, in order.
    fn completed_parts(&self) -> Vec<CompletedPart> {
        self.parts
            .settled()
            .iter()
            .map(|(number, etag)| {
                CompletedPart::builder()
                    .part_number(*number)
                    .e_tag(etag)
                    .build()
            })
            .collect()
    }

    /// Removes the saved tail if this upload may have one.
    async fn remove_tail(&mut self) -> Result<()> {
        if self.tail_saved {
            self.s.delete_key(&self.tail_key, &self.path).await?;
            self.tail_saved = false;
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        self.parts.settle_all().await?;
        self.parts.check()?;
        // Even an empty upload must be found again by a resume.
        let upload_id = self.upload_id().await?;
        if self.parts.buffered() > 0 {
            let offset = self.in_parts();
            let tail = self.parts.buffered_copy();
            let len = tail.len() as u64;
            let s = &self.s;
            object_options!(s.s3.put_object(), &s.config)
                .bucket(s.bucket())
                .key(&self.tail_key)
                .metadata(META_UPLOAD, upload_id)
                .metadata(META_OFFSET, offset.to_string())
                .metadata(META_PART_SIZE, self.part_size.to_string())
                .content_length(len as i64)
                .body(SdkBody::from(tail))
                .send()
                .await
                .map_err(|e| from_sdk(e, "save upload of", &self.path))?;
            self.tail_saved = true;
            // The buffer stays: S3 keeps it now.
            self.kept = (self.parts.acknowledged(), len);
        } else {
            self.remove_tail().await?;
        }
        tracing::debug!(path = %self.path, size = self.persisted(), "upload closed");
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        self.parts.settle_all().await?;
        self.parts.check()?;
        let s = self.s.clone();
        // The last bytes stay buffered until S3 has them, for a close after a failed commit.
        let last = self.parts.buffered_copy();
        let total = self.in_parts() + last.len() as u64;
        if self.parts.settled().is_empty() {
            // Less than one part in all: one PutObject.
            s.put_object(&self.key, last, &self.path).await?;
            if let Some(id) = self.upload_id.take() {
                abort_upload(&s, &self.key, &id, &self.path).await;
            }
        } else {
            let upload_id = self.upload_id().await?;
            if !last.is_empty() {
                let number = self.next_part;
                let etag = upload_part(&s, &self.key, &upload_id, number, last, &self.path).await?;
                self.parts.extend_settled([(number, etag)]);
                self.next_part += 1;
            }
            multipart::complete(
                &s,
                &self.key,
                &upload_id,
                self.completed_parts(),
                total,
                "commit",
                &self.path,
            )
            .await?;
            self.upload_id = None;
        }
        self.parts.clear_buffer();
        self.kept = (0, total);
        if let Err(e) = self.remove_tail().await {
            tracing::warn!(path = %self.path, error = %format_args!("{e:#}"),
                "committed, but could not remove the saved tail (it is ignored from now on)");
        }
        tracing::debug!(path = %self.path, size = total, "upload committed");
        Ok(())
    }

    async fn cancel(&mut self) -> Result<()> {
        self.parts.abort_all().await;
        self.parts.clear_buffer();
        if let Some(id) = self.upload_id.take() {
            abort_upload(&self.s, &self.key, &id, &self.path).await;
            // A tail saved by an earlier writer of this upload goes too.
            self.tail_saved = true;
        }
        self.remove_tail().await?;
        tracing::debug!(path = %self.path, "upload cancelled");
        Ok(())
    }
}

/// UploadPart of `data` as part `number`; returns its ETag.
async fn upload_part(
    s: &Bucket,
    key: &str,
    upload_id: &str,
    number: i32,
    data: Bytes,
    path: &str,
) -> Result<String> {
    let out =
        s.s3.upload_part()
            .bucket(s.bucket())
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(data.len() as i64)
            .body(SdkBody::from(data))
            .send()
            .await
            .map_err(|e| from_sdk(e, "upload part of", path))?;
    Ok(out.e_tag().unwrap_or_default().to_owned())
}

impl S3Writer {
    fn open(upload: Upload) -> Self {
        Self {
            final_size: upload.persisted(),
            upload: Some(upload),
        }
    }

    /// A new upload to `path`; earlier uploads in progress for it are aborted.
    pub(crate) async fn create(s: Arc<Bucket>, path: &str) -> Result<Self> {
        let upload = Upload::new(s.clone(), path);
        match uploads(&s, &upload.key, true, path).await? {
            Some(stale) if !stale.is_empty() => {
                for (key, earlier) in &stale {
                    abort_upload(&s, key, &earlier.upload_id, path).await;
                }
                s.delete_key(&upload.tail_key, path).await?;
            }
            Some(_) => {}
            None => tracing::debug!(path, "the store cannot list uploads; none aborted"),
        }
        Ok(Self::open(upload))
    }

    /// Resumes the upload in progress for `path`, or starts one from its committed content.
    pub(crate) async fn resume(s: Arc<Bucket>, path: &str) -> Result<Self> {
        let mut upload = Upload::new(s.clone(), path);
        let found = uploads(&s, &upload.key, true, path).await?.ok_or_else(|| {
            Error::unsupported("resuming an upload: the store does not list multipart uploads")
        })?;
        // Normally there is one; after a race, the latest one is the one to resume.
        let latest = found.into_iter().map(|(_, u)| u).max_by(|a, b| {
            let time = |u: &InProgress| u.initiated.map(|t| (t.secs(), t.subsec_nanos()));
            time(a).cmp(&time(b))
        });
        match latest {
            Some(in_progress) => resume_upload(&mut upload, in_progress.upload_id).await?,
            None => start_from_committed(&mut upload).await?,
        }
        tracing::debug!(path, size = upload.persisted(), "upload resumed");
        Ok(Self::open(upload))
    }

    fn upload(&mut self) -> Result<&mut Upload> {
        self.upload
            .as_mut()
            .ok_or_else(|| Error::backend("the upload is already finished"))
    }
}

/// Loads the state of upload `upload_id`: its full parts, and the saved tail if it matches.
async fn resume_upload(upload: &mut Upload, upload_id: String) -> Result<()> {
    let s = upload.s.clone();
    let path = upload.path.clone();
    let mut listed: Vec<(i32, u64, String)> = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page =
            s.s3.list_parts()
                .bucket(s.bucket())
                .key(&upload.key)
                .upload_id(&upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| from_sdk(e, "list parts of", &path))?;
        for part in page.parts() {
            if let (Some(number), Some(size)) = (part.part_number(), part.size()) {
                let etag = part.e_tag().unwrap_or_default().to_owned();
                listed.push((number, size.max(0) as u64, etag));
            }
        }
        match page.next_part_number_marker() {
            Some(next) if page.is_truncated() == Some(true) => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    listed.sort_by_key(|(number, _, _)| *number);
    // The parts that count: 1, 2, … without a gap, all the size of the first (which is at least
    // S3's minimum); anything after a gap or an odd size is overwritten by the next parts.
    let part_size = listed
        .first()
        .filter(|(number, size, _)| *number == 1 && *size >= crate::MIN_CHUNK_SIZE)
        .map(|(_, size, _)| *size)
        .unwrap_or(s.config.chunk_size);
    let mut confirmed = Vec::new();
    for (number, size, etag) in listed {
        if number != upload.next_part || size != part_size {
            break;
        }
        confirmed.push((number, etag));
        upload.next_part += 1;
    }
    upload.part_size = part_size;
    let in_parts = confirmed.len() as u64 * part_size;
    upload.parts = PartPipeline::new(&path, WINDOW, in_parts);
    upload.parts.extend_settled(confirmed);
    upload.upload_id = Some(upload_id.clone());

    let tail =
        s.s3.get_object()
            .bucket(s.bucket())
            .key(&upload.tail_key)
            .send()
            .await;
    let tail = match tail {
        Ok(tail) => tail,
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(from_sdk(e, "load upload of", &path)),
    };
    // Matching or not, it is this key's tail: it goes when the upload ends.
    upload.tail_saved = true;
    let meta: HashMap<String, String> = tail.metadata().cloned().unwrap_or_default();
    let matches = meta.get(META_UPLOAD) == Some(&upload_id)
        && meta.get(META_OFFSET) == Some(&in_parts.to_string())
        && meta.get(META_PART_SIZE) == Some(&part_size.to_string());
    if !matches {
        tracing::debug!(path, "ignoring a saved tail that does not match the upload");
        return Ok(());
    }
    // A body that breaks off is resumed from the byte it reached, of the same version.
    let tail_key = upload.tail_key.clone();
    let bytes = collect(object_body(&s, &tail_key, &path, 0, tail)).await?;
    upload.keep(&bytes);
    Ok(())
}

/// Starts an upload that appends to the committed object at the path.
async fn start_from_committed(upload: &mut Upload) -> Result<()> {
    let s = upload.s.clone();
    let path = upload.path.clone();
    let Some((size, _)) = s.head(&upload.key, &path).await? else {
        return Err(Error::not_found(&path));
    };
    let part = upload.part_size;
    let full_parts = size / part;
    if full_parts > 0 {
        let upload_id = upload.upload_id().await?;
        let source = s.copy_source(&upload.key);
        for i in 0..full_parts {
            let (s, key, id, source, path) = (
                s.clone(),
                upload.key.clone(),
                upload_id.clone(),
                source.clone(),
                path.clone(),
            );
            let copy = async move {
                let number = i as i32 + 1;
                let out =
                    s.s3.upload_part_copy()
                        .bucket(s.bucket())
                        .key(&key)
                        .upload_id(&id)
                        .part_number(number)
                        .copy_source(&source)
                        .copy_source_range(format!("bytes={}-{}", i * part, (i + 1) * part - 1))
                        .send()
                        .await
                        .map_err(|e| from_sdk(e, "copy committed content of", &path))?;
                let etag = out
                    .copy_part_result()
                    .and_then(|r| r.e_tag())
                    .unwrap_or_default()
                    .to_owned();
                Ok((number, etag))
            };
            upload.parts.send(part, copy).await?;
        }
        upload.parts.settle_all().await?;
        upload.next_part = full_parts as i32 + 1;
    }
    let rest = size - full_parts * part;
    if rest > 0 {
        let out =
            s.s3.get_object()
                .bucket(s.bucket())
                .key(&upload.key)
                .range(format!("bytes={}-{}", full_parts * part, size - 1))
                .send()
                .await
                .map_err(|e| from_sdk(e, "read committed content of", &path))?;
        // The range asked for runs to the object's end, as a resumed read does.
        let bytes = collect(object_body(&s, &upload.key, &path, full_parts * part, out)).await?;
        upload.keep(&bytes);
    }
    Ok(())
}

#[async_trait]
impl FileWriter for S3Writer {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.upload()?.write(data).await
    }

    fn size(&self) -> u64 {
        match &self.upload {
            Some(upload) => upload.persisted(),
            None => self.final_size,
        }
    }

    async fn close(&mut self) -> Result<()> {
        let Some(upload) = self.upload.as_mut() else {
            // After commit or cancel: nothing left to free.
            return Ok(());
        };
        let closed = upload.close().await;
        self.final_size = upload.persisted();
        self.upload = None;
        closed
    }

    async fn commit(&mut self) -> Result<()> {
        let upload = self.upload()?;
        upload.commit().await?;
        self.final_size = upload.persisted();
        self.upload = None;
        Ok(())
    }

    async fn cancel(&mut self) -> Result<()> {
        let upload = self.upload()?;
        let cancelled = upload.cancel().await;
        self.final_size = 0;
        self.upload = None;
        cancelled
    }
}

impl Drop for S3Writer {
    /// A writer dropped while open is closed in the background (its parts finish and its tail is
    /// saved), so a later resume finds what it accepted; without a runtime, its full parts stay.
    fn drop(&mut self) {
        let Some(mut upload) = self.upload.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if let Err(e) = upload.close().await {
                        tracing::warn!(path = %upload.path, error = %format_args!("{e:#}"),
                            "upload dropped without close; closing it failed");
                    }
                });
            }
            Err(_) => tracing::warn!(path = %upload.path,
                "upload dropped without close outside a runtime; its buffer is lost"),
        }
    }
}
