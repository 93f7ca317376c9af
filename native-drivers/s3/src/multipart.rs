//! The two steps of a multipart upload that are not idempotent, sent so that a lost answer
//! costs nothing (shared by writers and large moves):
//!
//! - **CreateMultipartUpload** whose answer was lost leaves an upload nobody knows the id of.
//!   It is sent again; once one attempt answers, the uploads of the same key that the lost
//!   attempts may have created (those begun since the first attempt, a clock's second of slack
//!   included) are aborted. A writer resuming picks the latest upload, which is the one kept.
//! - **CompleteMultipartUpload** whose answer was lost may have completed: the next attempt
//!   gets `NoSuchUpload`. The object is then looked at: when it has the ETag S3 gives exactly
//!   these parts (the MD5 of their MD5s, `-` their count) and the expected size, the commit took
//!   effect; anything else is an error that says so.
//!
//! Each is tried up to `max_retries` more times after a temporary failure, with the driver's
//! back-off.

use std::time::SystemTime;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use md5::{Digest, Md5};
use wharf_runtime::{Error, ErrorKind, Result};

use crate::error::{from_sdk, has_code};
use crate::{Bucket, client, object_options};

/// True when `e` may go away if the request is sent again.
fn is_transient(e: &Error) -> bool {
    e.is_temporary() || matches!(e.kind(), ErrorKind::Timeout)
}

/// Creates a multipart upload for `key`; `op` names the operation in errors.
pub(crate) async fn create(s: &Bucket, key: &str, op: &str, path: &str) -> Result<String> {
    let network = s.config.network;
    let began = SystemTime::now();
    let mut attempt = 0;
    let id = loop {
        attempt += 1;
        let sent = object_options!(s.s3.create_multipart_upload(), &s.config)
            .bucket(s.bucket())
            .key(key)
            .customize()
            .config_override(client::once())
            .send()
            .await
            .map_err(|e| from_sdk(e, op, path));
        match sent {
            Ok(created) => {
                break created
                    .upload_id()
                    .map(str::to_owned)
                    .ok_or_else(|| Error::backend(format!("{op} {path}: S3 gave no upload id")))?;
            }
            Err(e) if is_transient(&e) && attempt <= network.max_retries => {
                tracing::debug!(path, attempt, "CreateMultipartUpload failed ({e}); again");
                tokio::time::sleep(network.backoff.delay(attempt)).await;
            }
            Err(e) => return Err(e),
        }
    };
    if attempt > 1 {
        abort_strays(s, key, &id, began, path).await;
    }
    Ok(id)
}

/// Aborts the uploads of `key` other than `kept` begun since `since` (less a second of clock
/// slack): those the attempts whose answers were lost may have created.
async fn abort_strays(s: &Bucket, key: &str, kept: &str, since: SystemTime, path: &str) {
    let since = since
        .checked_sub(std::time::Duration::from_secs(1))
        .unwrap_or(since);
    let listed =
        s.s3.list_multipart_uploads()
            .bucket(s.bucket())
            .prefix(key)
            .send()
            .await;
    let Ok(listed) = listed else {
        tracing::debug!(path, "could not list uploads to abort strays");
        return;
    };
    for upload in listed.uploads() {
        let (Some(k), Some(id)) = (upload.key(), upload.upload_id()) else {
            continue;
        };
        let begun = upload
            .initiated()
            .and_then(|t| SystemTime::try_from(*t).ok());
        if k == key && id != kept && begun.is_some_and(|t| t >= since) {
            tracing::debug!(path, upload = id, "aborting an upload a lost answer left");
            crate::writer::abort_upload(s, key, id, path).await;
        }
    }
}

/// Completes upload `upload_id` of `key` with `parts` (`size` bytes in all).
pub(crate) async fn complete(
    s: &Bucket,
    key: &str,
    upload_id: &str,
    parts: Vec<CompletedPart>,
    size: u64,
    op: &str,
    path: &str,
) -> Result<()> {
    let network = s.config.network;
    let expected = etag_of(&parts);
    let mut attempt = 0;
    let mut lost = false;
    loop {
        attempt += 1;
        let sent =
            s.s3.complete_multipart_upload()
                .bucket(s.bucket())
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts.clone()))
                        .build(),
                )
                .customize()
                .config_override(client::once())
                .send()
                .await;
        let e = match sent {
            Ok(_) => return Ok(()),
            Err(e) if lost && has_code(&e, "NoSuchUpload") => {
                return took_effect(s, key, expected.as_deref(), size, op, path).await;
            }
            Err(e) => from_sdk(e, op, path),
        };
        if !is_transient(&e) || attempt > network.max_retries {
            return Err(e);
        }
        // Any failure but an error answer may have completed the upload.
        lost = true;
        tracing::debug!(path, attempt, "CompleteMultipartUpload failed ({e}); again");
        tokio::time::sleep(network.backoff.delay(attempt)).await;
    }
}

/// After a completion whose answer was lost: Ok when `key` is the completed object.
async fn took_effect(
    s: &Bucket,
    key: &str,
    expected: Option<&str>,
    size: u64,
    op: &str,
    path: &str,
) -> Result<()> {
    let head =
        s.s3.head_object()
            .bucket(s.bucket())
            .key(key)
            .send()
            .await
            .map_err(|e| from_sdk(e, op, path))?;
    let etag = head.e_tag().unwrap_or_default().trim_matches('"');
    let same_size = head.content_length().and_then(|n| u64::try_from(n).ok()) == Some(size);
    match expected {
        Some(expected) if same_size && etag.eq_ignore_ascii_case(expected) => Ok(()),
        // A store whose ETags are not MD5s: the size is what can be checked.
        None if same_size => Ok(()),
        _ => Err(Error::backend(format!(
            "{op} {path}: the upload was completed, but not with this writer's parts \
             (ETag {etag:?}, expected {expected:?} of {size} bytes)"
        ))),
    }
}

/// The ETag S3 gives a multipart object of `parts`: the MD5 of the parts' MD5s, then `-` and
/// their count; `None` when a part's ETag is not an MD5.
fn etag_of(parts: &[CompletedPart]) -> Option<String> {
    let mut md5s = Md5::new();
    for part in parts {
        let hex = part.e_tag()?.trim_matches('"');
        if hex.len() != 32 {
            return None;
        }
        for i in (0..32).step_by(2) {
            md5s.update([u8::from_str_radix(&hex[i..i + 2], 16).ok()?]);
        }
    }
    Some(format!("{}-{}", hex::encode(md5s.finalize()), parts.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_etag_is_the_md5_of_the_parts_md5s() {
        // Two parts whose MD5s are those of "a" and "b".
        let parts = [
            "0cc175b9c0f1b6a831c399e269772661",
            "92eb5ffee6ae2fec3ad71c777531578f",
        ]
        .map(|etag| {
            CompletedPart::builder()
                .e_tag(format!("\"{etag}\""))
                .part_number(1)
                .build()
        });
        // md5(md5("a") ‖ md5("b")), as S3 and moto compute it.
        assert_eq!(
            etag_of(&parts).as_deref(),
            Some("96e024ba2074fe77e8e965ba43a704be-2")
        );
        let odd = [CompletedPart::builder().e_tag("not-an-md5").build()];
        assert_eq!(etag_of(&odd), None);
    }
}
