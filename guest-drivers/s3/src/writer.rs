//! Resumable uploads as S3 multipart uploads, with all their state in the bucket and the same
//! protocol as the native `s3` driver, so an upload one closed is resumed by the other:
//!
//! - the **multipart upload** for the target key holds the full parts, each exactly one part
//!   size (`chunksize` when the upload began), numbered from 1 (ListMultipartUploads and
//!   ListParts find them again);
//! - the **tail**, the bytes after the last full part, saved by `close` as the hidden object
//!   `~<name>.upload` beside the target, with the upload id, the offset it starts at and the part
//!   size in its metadata; a tail that does not match is ignored (a shorter, correct prefix).
//!
//! The host writes every part's bytes straight into the body of its request (`begin-part`), so
//! they never pass through the guest. Only a resumed tail is held in guest memory (less than one
//! part): it goes first into the next part, whose host bytes are the rest of that part
//! (`first-part`). The last bytes go where they belong: before `commit`, into the object itself
//! (no multipart upload yet) or the last part; before `close`, into the tail.

use wharf_guest_sdk::http::{Method, StatusCode, Upload as HttpUpload, transient};
use wharf_guest_sdk::{Error, OutputStream, PartKind, Result, Upload};

use crate::client::{InProgress, Initiated, Part, PartsPage, UploadsPage, failure, xml};
use crate::{MIN_CHUNK_SIZE, S3Driver};

const META_UPLOAD: &str = "x-amz-meta-wharf-upload-id";
const META_OFFSET: &str = "x-amz-meta-wharf-offset";
const META_PART_SIZE: &str = "x-amz-meta-wharf-part-size";

/// The largest part the host gathers for a guest (`wit/storage.wit`, `part-size`).
pub const HOST_MAX_PART: u64 = 64 << 20;

/// The key of the saved tail of an upload to `key`.
fn tail_of_key(key: &str) -> String {
    match key.rfind('/') {
        Some(i) => format!("{}~{}.upload", &key[..=i], &key[i + 1..]),
        None => format!("~{key}.upload"),
    }
}

/// Uploads in progress for exactly `key`; `None` when the store cannot list them (s3s-fs).
fn uploads(d: &S3Driver, key: &str, path: &str) -> Result<Option<Vec<InProgress>>> {
    let mut found = Vec::new();
    let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
    loop {
        let mut query = vec![("prefix", key), ("uploads", "")];
        if let Some(k) = &key_marker {
            query.push(("key-marker", k));
        }
        if let Some(u) = &id_marker {
            query.push(("upload-id-marker", u));
        }
        let r = d.client.send(Method::GET, "", &query, &[], Vec::new())?;
        if r.status == StatusCode::NOT_IMPLEMENTED {
            return Ok(None);
        }
        if !r.status.is_success() {
            return Err(failure(
                &format!("list uploads of {path}"),
                r.status,
                &r.body,
            ));
        }
        let page: UploadsPage = xml(&format!("list uploads of {path}"), &r.body)?;
        found.extend(page.upload.into_iter().filter(|u| u.key == key));
        if !page.is_truncated {
            return Ok(Some(found));
        }
        key_marker = page.next_key_marker;
        id_marker = page.next_upload_id_marker;
        if key_marker.is_none() && id_marker.is_none() {
            return Ok(Some(found));
        }
    }
}

fn abort(d: &S3Driver, key: &str, upload_id: &str, path: &str) -> Result<()> {
    let r = d.client.send(
        Method::DELETE,
        key,
        &[("uploadId", upload_id)],
        &[],
        Vec::new(),
    )?;
    if r.status.is_success() || r.status == StatusCode::NOT_FOUND {
        Ok(())
    } else {
        Err(failure(
            &format!("abort upload of {path}"),
            r.status,
            &r.body,
        ))
    }
}

/// The ETag S3 gives a multipart object of parts with these ETags: the MD5 of their MD5s, then
/// `-` and their count; `None` when a part's ETag is not an MD5.
fn multipart_etag(parts: &[String]) -> Option<String> {
    use md5::Digest;
    let mut md5s = md5::Md5::new();
    for etag in parts {
        let hex = etag.trim_matches('"');
        if hex.len() != 32 {
            return None;
        }
        for i in (0..32).step_by(2) {
            md5s.update([u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()?]);
        }
    }
    let hex: String = md5s.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("{hex}-{}", parts.len()))
}

/// A saved tail: its bytes and what its metadata says.
struct Tail {
    upload_id: String,
    offset: Option<u64>,
    part_size: Option<u64>,
    bytes: Vec<u8>,
}

/// A part being written by the host.
struct Pending {
    upload: HttpUpload,
    /// Host bytes in it (the carry comes first).
    length: u64,
    kind: PartKind,
    /// It is a part of the multipart upload (not the object, nor the tail).
    as_part: bool,
    number: u32,
}

/// An upload to one path.
pub struct S3Writer {
    d: S3Driver,
    path: String,
    key: String,
    tail_key: String,
    part_size: u64,
    upload_id: Option<String>,
    /// ETags of the full parts, in order from part 1.
    parts: Vec<String>,
    /// Accepted bytes not in a part: a resumed tail, held until the next part.
    carry: Vec<u8>,
    /// A tail object may exist for the key (it goes when the upload ends).
    tail_exists: bool,
    /// The tail object holds exactly `carry`, as matching metadata says.
    carry_saved: bool,
    pending: Option<Pending>,
    /// The object itself was written (a last part before `commit` with no multipart upload).
    direct: bool,
    /// The upload's length once its last part before `commit` is in.
    last: Option<u64>,
    /// The tail a last part before `close` saved: its length.
    closed_tail: Option<u64>,
    /// When this writer first sent CreateMultipartUpload, and whether an attempt got no answer
    /// (kept across the host's retries of a part, for [`S3Writer::abort_strays`]).
    create_began: Option<std::time::SystemTime>,
    create_lost: bool,
}

/// Opens a new upload, or resumes the one an earlier writer closed.
pub fn open(d: &S3Driver, path: &str, append: bool) -> Result<S3Writer> {
    let key = d.key(path);
    let mut w = S3Writer {
        d: d.clone(),
        path: path.to_owned(),
        tail_key: tail_of_key(&key),
        key,
        part_size: d.chunk_size,
        upload_id: None,
        parts: Vec::new(),
        carry: Vec::new(),
        tail_exists: true,
        carry_saved: false,
        pending: None,
        direct: false,
        last: None,
        closed_tail: None,
        create_began: None,
        create_lost: false,
    };
    if !append {
        let in_progress = uploads(d, &w.key, path)?;
        for u in in_progress.iter().flatten() {
            abort(d, &w.key, &u.upload_id, path)?;
        }
        d.delete_key(&w.tail_key, path)?;
        w.tail_exists = false;
        return Ok(w);
    }
    let in_progress = uploads(d, &w.key, path)?;
    // The saved tail names the upload it belongs to (this driver saves one on every close);
    // otherwise the most recent upload in progress is the one a resume continues.
    if let Some(tail) = w.load_tail()?
        && !tail.upload_id.is_empty()
        && w.resume(tail.upload_id.clone(), Some(tail))?
    {
        return Ok(w);
    }
    let mut in_progress = in_progress.unwrap_or_default();
    in_progress.sort_by(|a, b| a.initiated.cmp(&b.initiated));
    match in_progress.pop() {
        Some(u) => {
            let tail = w.load_tail()?;
            if !w.resume(u.upload_id, tail)? {
                w.start_from_committed()?;
            }
        }
        None => w.start_from_committed()?,
    }
    Ok(w)
}

impl S3Writer {
    fn offset(&self) -> u64 {
        self.parts.len() as u64 * self.part_size
    }

    /// The saved tail, if there is one.
    fn load_tail(&mut self) -> Result<Option<Tail>> {
        let r = self
            .d
            .client
            .send(Method::GET, &self.tail_key, &[], &[], Vec::new())?;
        match r.status {
            StatusCode::NOT_FOUND => {
                self.tail_exists = false;
                Ok(None)
            }
            s if !s.is_success() => Err(failure(
                &format!("load upload of {}", self.path),
                s,
                &r.body,
            )),
            _ => Ok(Some(Tail {
                upload_id: r.header(META_UPLOAD).unwrap_or_default().to_owned(),
                offset: r.header(META_OFFSET).and_then(|v| v.parse().ok()),
                part_size: r.header(META_PART_SIZE).and_then(|v| v.parse().ok()),
                bytes: r.body,
            })),
        }
    }

    /// Loads upload `upload_id`: its full parts, and `tail` if it matches them. False when the
    /// upload is gone.
    fn resume(&mut self, upload_id: String, tail: Option<Tail>) -> Result<bool> {
        let mut listed: Vec<Part> = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut query = vec![("uploadId", upload_id.as_str())];
            if let Some(m) = &marker {
                query.push(("part-number-marker", m));
            }
            let r = self
                .d
                .client
                .send(Method::GET, &self.key, &query, &[], Vec::new())?;
            if r.status == StatusCode::NOT_FOUND {
                return Ok(false);
            }
            if !r.status.is_success() {
                return Err(failure(
                    &format!("list parts of {}", self.path),
                    r.status,
                    &r.body,
                ));
            }
            let page: PartsPage = xml(&format!("list parts of {}", self.path), &r.body)?;
            listed.extend(page.part);
            match page.next_part_number_marker {
                Some(next) if page.is_truncated => marker = Some(next),
                _ => break,
            }
        }
        listed.sort_by_key(|p| p.part_number);
        // The parts that count: 1, 2, … with no gap, all the size of the first.
        let part_size = listed
            .first()
            .filter(|p| p.part_number == 1 && p.size >= MIN_CHUNK_SIZE && p.size <= HOST_MAX_PART)
            .map(|p| p.size)
            .unwrap_or(self.d.chunk_size);
        for p in listed {
            if p.part_number as usize != self.parts.len() + 1 || p.size != part_size {
                break;
            }
            self.parts.push(p.etag);
        }
        self.part_size = part_size;
        self.upload_id = Some(upload_id.clone());
        if let Some(tail) = tail
            && tail.upload_id == upload_id
            && tail.offset == Some(self.offset())
            && tail.part_size == Some(part_size)
            && (tail.bytes.len() as u64) < part_size
        {
            self.carry = tail.bytes;
            self.carry_saved = true;
        }
        Ok(true)
    }

    /// No upload in progress: continues from the committed object, its full parts copied on the
    /// server, the rest read into the carry. Nothing there is `PathNotFound`.
    fn start_from_committed(&mut self) -> Result<()> {
        let Some((size, _)) = self.d.head(&self.key, &self.path)? else {
            return Err(Error::not_found(&self.path));
        };
        let full = size / self.part_size;
        if full > 0 {
            let id = self.create()?;
            let source = format!(
                "/{}/{}",
                self.d.client.bucket,
                percent_encoding::utf8_percent_encode(
                    &self.key,
                    percent_encoding::NON_ALPHANUMERIC
                )
            );
            for i in 0..full {
                let (from, to) = (i * self.part_size, (i + 1) * self.part_size - 1);
                let number = (i + 1).to_string();
                let headers = [
                    ("x-amz-copy-source", source.clone()),
                    ("x-amz-copy-source-range", format!("bytes={from}-{to}")),
                ];
                let query = [("partNumber", number.as_str()), ("uploadId", id.as_str())];
                let r = self
                    .d
                    .client
                    .send(Method::PUT, &self.key, &query, &headers, Vec::new())?;
                let text = String::from_utf8_lossy(&r.body);
                if !r.status.is_success() || text.contains("<Error>") {
                    return Err(failure(
                        &format!("copy {} for appending", self.path),
                        r.status,
                        &r.body,
                    ));
                }
                #[derive(serde::Deserialize, Default)]
                #[serde(default)]
                struct CopyPartResult {
                    #[serde(rename = "ETag")]
                    etag: String,
                }
                let copied: CopyPartResult = xml(&format!("copy {}", self.path), &r.body)?;
                self.parts.push(copied.etag);
            }
        }
        let rest = size - full * self.part_size;
        if rest > 0 {
            let range = [(
                "range",
                format!("bytes={}-{}", full * self.part_size, size - 1),
            )];
            let r = self
                .d
                .client
                .send(Method::GET, &self.key, &[], &range, Vec::new())?;
            if !r.status.is_success() {
                return Err(failure(
                    &format!("read {} for appending", self.path),
                    r.status,
                    &r.body,
                ));
            }
            self.carry = r.body;
        }
        Ok(())
    }

    /// The multipart upload, created if there is none yet. CreateMultipartUpload is sent again
    /// when its answer is lost; the uploads of the key the lost attempts may have created (begun
    /// since the first attempt, a second of clock slack included) are then aborted, so a resume
    /// finds the one kept.
    fn create(&mut self) -> Result<String> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let headers: Vec<(&str, String)> = self.d.client.write_headers();
        let began = *self
            .create_began
            .get_or_insert_with(std::time::SystemTime::now);
        let mut lost = self.create_lost;
        let r = self.d.client.network.retry(
            || {
                let r = self.d.client.send_once(
                    Method::POST,
                    &self.key,
                    &[("uploads", "")],
                    &headers,
                    Vec::new(),
                );
                lost |= matches!(&r, Err(e) if e.is_temporary());
                r
            },
            |outcome| match outcome {
                Ok(r) => transient(r.status),
                Err(e) => e.is_temporary(),
            },
        );
        self.create_lost = lost;
        let r = r?;
        if !r.status.is_success() {
            return Err(failure(
                &format!("start upload of {}", self.path),
                r.status,
                &r.body,
            ));
        }
        let started: Initiated = xml(&format!("start upload of {}", self.path), &r.body)?;
        if lost {
            self.abort_strays(&started.upload_id, began);
        }
        self.upload_id = Some(started.upload_id.clone());
        Ok(started.upload_id)
    }

    /// Aborts the uploads of the key that attempts whose answers were lost may have created:
    /// begun since this writer's first attempt (less a second of clock slack) and no later than
    /// the upload kept (by the store's clock, so a writer that began after it is never touched).
    /// Best effort: a stray left behind is older than the kept upload, which a resume prefers.
    fn abort_strays(&self, kept: &str, since: std::time::SystemTime) {
        let since = since
            .checked_sub(std::time::Duration::from_secs(1))
            .unwrap_or(since);
        let Ok(Some(listed)) = uploads(&self.d, &self.key, &self.path) else {
            return;
        };
        let initiated = |u: &InProgress| crate::client::parse_iso8601(&u.initiated);
        let Some(kept_at) = listed
            .iter()
            .find(|u| u.upload_id == kept)
            .and_then(initiated)
        else {
            return;
        };
        for upload in &listed {
            let begun = initiated(upload);
            if upload.upload_id != kept && begun.is_some_and(|t| t >= since && t <= kept_at) {
                wharf_guest_sdk::log::debug!(
                    "aborting upload {} of {}: a lost answer left it",
                    upload.upload_id,
                    self.path
                );
                let _ = abort(&self.d, &self.key, &upload.upload_id, &self.path);
            }
        }
    }

    /// Starts a request whose body is `self.carry` then `length` bytes from the host.
    fn start(
        &mut self,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        length: u64,
    ) -> Result<(HttpUpload, OutputStream)> {
        let total = self.carry.len() as u64 + length;
        let request = self
            .d
            .client
            .request(Method::PUT, key, query, headers, Vec::new(), true)?;
        let (parts, _) = request.into_parts();
        let (upload, stream) = self
            .d
            .client
            .network
            .upload(http::Request::from_parts(parts, ()), total)?;
        wharf_guest_sdk::http::write_all(&stream, &self.carry)?;
        Ok((upload, stream))
    }

    /// Saves `carry` (with `extra` host bytes to come) as the tail, for a resume.
    fn tail_headers(&mut self) -> Result<Vec<(&'static str, String)>> {
        // Even an empty multipart upload must be found again by a resume.
        let id = self.create()?;
        let mut headers: Vec<(&str, String)> = vec![
            (META_UPLOAD, id),
            (META_OFFSET, self.offset().to_string()),
            (META_PART_SIZE, self.part_size.to_string()),
        ];
        headers.extend(self.d.client.write_headers());
        Ok(headers)
    }

    /// CompleteMultipartUpload, sent again after a temporary failure. One whose answer was lost
    /// may have completed: the next attempt then gets `NoSuchUpload`, and the object is looked
    /// at: with the ETag S3 gives exactly these parts (the MD5 of their MD5s, `-` their count)
    /// and this writer's size, the commit took effect; anything else, or a store whose ETags are
    /// not MD5s, is an error that says so (never a success it cannot prove).
    fn complete(&mut self) -> Result<()> {
        let Some(id) = self.upload_id.clone() else {
            return Ok(());
        };
        let mut body = String::from("<CompleteMultipartUpload>");
        for (i, etag) in self.parts.iter().enumerate() {
            body.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                i + 1,
                quick_xml::escape::escape(etag.as_str())
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let what = format!("commit {}", self.path);
        let mut lost = false;
        let outcome = self.d.client.network.retry(
            || {
                let r = self.d.client.send_once(
                    Method::POST,
                    &self.key,
                    &[("uploadId", id.as_str())],
                    &[],
                    body.clone().into_bytes(),
                );
                let r = match r {
                    Ok(r) if r.status == StatusCode::NOT_FOUND && lost => return Ok(None),
                    Ok(r) => r,
                    Err(e) => {
                        lost |= e.is_temporary();
                        return Err(e);
                    }
                };
                // A completion can fail after its 200 status: the error is then in the body.
                if !r.status.is_success() || String::from_utf8_lossy(&r.body).contains("<Error>") {
                    let status = if r.status.is_success() {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        r.status
                    };
                    let e = failure(&what, status, &r.body);
                    lost |= e.is_temporary();
                    return Err(e);
                }
                Ok(Some(()))
            },
            |outcome| matches!(outcome, Err(e) if e.is_temporary()),
        )?;
        match outcome {
            Some(()) => Ok(()),
            None => self.took_effect(&what),
        }
    }

    /// After a completion whose answer was lost: Ok when the key holds the completed object.
    fn took_effect(&self, what: &str) -> Result<()> {
        let size = self.size();
        let Some(expected) = multipart_etag(&self.parts) else {
            // Without MD5 ETags (encrypted with KMS, say), a same-sized object could be anyone's.
            return Err(Error::backend(
                format!(
                    "{what}: an attempt's answer was lost and the upload is gone; the store's \
                     ETags cannot tell whether this writer's parts were committed"
                ),
                false,
            ));
        };
        match self.d.head_etag(&self.key, &self.path)? {
            Some((length, etag))
                if length == size && etag.trim_matches('"').eq_ignore_ascii_case(&expected) =>
            {
                Ok(())
            }
            None => Err(Error::backend(
                format!(
                    "{what}: the upload is gone and no object is there: it was not committed \
                     (another writer cancelled it?)"
                ),
                false,
            )),
            Some(found) => Err(Error::backend(
                format!(
                    "{what}: the upload is gone and the object there is not this writer's \
                     (found {found:?}, expected ETag {expected:?} of {size} bytes)"
                ),
                false,
            )),
        }
    }

    /// Removes the tail object, if one may exist.
    fn remove_tail(&mut self) -> Result<()> {
        if self.tail_exists {
            self.d.delete_key(&self.tail_key, &self.path)?;
            self.tail_exists = false;
            self.carry_saved = false;
        }
        Ok(())
    }

    /// Puts `carry` where it belongs from guest memory (no host part came after a resume).
    fn put_carry(&mut self, kind: PartKind) -> Result<()> {
        let carry = std::mem::take(&mut self.carry);
        // Where it goes: the tail (before close), the last part, or the object itself.
        let part_query;
        let (key, query, headers) = match (kind, self.upload_id.clone()) {
            (PartKind::BeforeClose, _) => (self.tail_key.clone(), Vec::new(), self.tail_headers()?),
            (_, Some(id)) => {
                part_query = [(self.parts.len() + 1).to_string(), id];
                let query = vec![
                    ("partNumber", part_query[0].as_str()),
                    ("uploadId", part_query[1].as_str()),
                ];
                (self.key.clone(), query, Vec::new())
            }
            (_, None) => (self.key.clone(), Vec::new(), self.d.client.write_headers()),
        };
        let total = self.offset() + carry.len() as u64;
        let r = self
            .d
            .client
            .send(Method::PUT, &key, &query, &headers, carry.clone())?;
        if !r.status.is_success() {
            self.carry = carry;
            return Err(failure(&format!("write {}", self.path), r.status, &r.body));
        }
        match kind {
            PartKind::BeforeClose => {
                self.carry = carry;
                self.carry_saved = true;
                self.tail_exists = true;
            }
            _ if self.upload_id.is_some() => {
                self.parts
                    .push(r.header("etag").unwrap_or_default().to_owned());
                self.last = Some(total);
            }
            _ => {
                self.direct = true;
                self.last = Some(total);
            }
        }
        Ok(())
    }
}

impl Upload for S3Writer {
    fn write(&mut self, _data: Vec<u8>) -> Result<()> {
        Err(Error::backend(
            format!("write {}: this writer takes its bytes as parts", self.path),
            false,
        ))
    }

    fn size(&self) -> u64 {
        match self.last {
            Some(len) => len,
            None => self.offset() + self.carry.len() as u64 + self.closed_tail.unwrap_or(0),
        }
    }

    fn part_size(&self) -> u64 {
        self.part_size
    }

    fn first_part(&self) -> u64 {
        if self.carry.is_empty() {
            0
        } else {
            self.part_size - self.carry.len() as u64
        }
    }

    fn begin_part(&mut self, length: u64, kind: PartKind) -> Result<OutputStream> {
        if self.pending.is_some() {
            return Err(Error::backend(
                format!("write {}: a part is already open", self.path),
                false,
            ));
        }
        let whole = self.carry.len() as u64 + length;
        let write_headers: Vec<(&str, String)> = self.d.client.write_headers();
        let number = self.parts.len() as u32 + 1;
        let as_part = match kind {
            PartKind::Full => {
                if whole != self.part_size {
                    return Err(Error::backend(
                        format!(
                            "write {}: a full part of {whole} bytes, expected {}",
                            self.path, self.part_size
                        ),
                        false,
                    ));
                }
                true
            }
            PartKind::BeforeCommit => self.upload_id.is_some() || whole > HOST_MAX_PART,
            // A whole part before close goes in as a part; less is the tail.
            PartKind::BeforeClose => whole == self.part_size,
        };
        let (upload, stream) = if as_part {
            let id = self.create()?;
            let n = number.to_string();
            let query = [("partNumber", n.as_str()), ("uploadId", id.as_str())];
            let key = self.key.clone();
            self.start(&key, &query, &[], length)?
        } else if kind == PartKind::BeforeClose {
            let headers = self.tail_headers()?;
            let key = self.tail_key.clone();
            self.start(&key, &[], &headers, length)?
        } else {
            let key = self.key.clone();
            self.start(&key, &[], &write_headers, length)?
        };
        self.pending = Some(Pending {
            upload,
            length,
            kind,
            as_part,
            number,
        });
        Ok(stream)
    }

    fn end_part(&mut self, written: u64) -> Result<()> {
        let Some(p) = self.pending.take() else {
            return Err(Error::backend(
                format!("write {}: no part was begun", self.path),
                false,
            ));
        };
        // Left incomplete (a short count), the request is never stored.
        let path = &self.path;
        let Some(r) = p.upload.conclude(written, p.length, |status, body| {
            failure(&format!("write {path}"), status, body)
        })?
        else {
            return Ok(());
        };
        let whole = self.carry.len() as u64 + p.length;
        let total = self.offset() + whole;
        match p.kind {
            _ if p.as_part => {
                debug_assert_eq!(p.number as usize, self.parts.len() + 1);
                self.parts
                    .push(r.header("etag").unwrap_or_default().to_owned());
                self.carry.clear();
                self.carry_saved = false;
                if p.kind == PartKind::BeforeCommit {
                    self.last = Some(total);
                }
            }
            PartKind::BeforeClose => {
                // The tail now holds the carry and the host's bytes (the writer closes next).
                self.carry.clear();
                self.tail_exists = true;
                self.carry_saved = false;
                self.closed_tail = Some(whole);
            }
            _ => {
                self.carry.clear();
                self.direct = true;
                self.last = Some(total);
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if self.closed_tail.is_some() || self.carry_saved {
            // The tail is saved and matches the upload.
        } else if !self.carry.is_empty() {
            self.put_carry(PartKind::BeforeClose)?;
        } else {
            // Nothing after the full parts: an empty tail, which names the upload for a resume
            // (on stores that cannot list uploads, it is the only way to find it again).
            self.put_carry(PartKind::BeforeClose)?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        // An upload with no part at all gets an empty last part: S3 completes none without.
        let nothing_yet = self.upload_id.is_none() || self.parts.is_empty();
        if self.last.is_none() && (!self.carry.is_empty() || nothing_yet) {
            self.put_carry(PartKind::BeforeCommit)?;
        }
        if !self.direct {
            self.complete()?;
        }
        self.last = Some(self.size());
        self.remove_tail()
    }

    fn cancel(&mut self) -> Result<()> {
        if let Some(p) = self.pending.take() {
            p.upload.abandon();
        }
        if let Some(id) = self.upload_id.take() {
            abort(&self.d, &self.key, &id, &self.path)?;
        }
        self.carry.clear();
        self.remove_tail()
    }
}
