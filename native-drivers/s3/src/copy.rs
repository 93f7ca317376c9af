//! Moving large objects: CopyObject stops at 5 GiB, so above `multipartcopythresholdsize` a
//! move copies the source in UploadPartCopy parts, several at once, into a multipart upload.

use aws_sdk_s3::types::CompletedPart;
use futures::StreamExt;
use wharf_runtime::{Error, Result};

use crate::bucket::Bucket;
use crate::error::from_sdk;
use crate::{multipart, writer};

impl Bucket {
    /// Copies `source_key` (of `size` bytes) to `dest_key` with UploadPartCopy parts of
    /// `multipartcopychunksize`, at most `multipartcopymaxconcurrency` at once.
    pub(crate) async fn multipart_copy(
        &self,
        source_key: &str,
        dest_key: &str,
        size: u64,
        path: &str,
    ) -> Result<()> {
        let s = self;
        let upload_id = multipart::create(s, dest_key, "move", path).await?;
        let chunk = s.config.multipart_copy_chunk_size;
        let count = size.div_ceil(chunk);
        let source = s.copy_source(source_key);
        let copies = futures::stream::iter(0..count)
            .map(|i| {
                let (first, last) = (i * chunk, ((i + 1) * chunk).min(size) - 1);
                let request =
                    s.s3.upload_part_copy()
                        .bucket(s.bucket())
                        .key(dest_key)
                        .upload_id(&upload_id)
                        .part_number(i as i32 + 1)
                        .copy_source(&source)
                        .copy_source_range(format!("bytes={first}-{last}"));
                async move {
                    let out = request
                        .send()
                        .await
                        .map_err(|e| from_sdk(e, "move", path))?;
                    let etag = out
                        .copy_part_result()
                        .and_then(|r| r.e_tag())
                        .unwrap_or_default()
                        .to_owned();
                    Ok::<_, Error>(
                        CompletedPart::builder()
                            .part_number(i as i32 + 1)
                            .e_tag(etag)
                            .build(),
                    )
                }
            })
            .buffer_unordered(s.config.multipart_copy_max_concurrency);
        let copied: Result<Vec<CompletedPart>> =
            copies.collect::<Vec<_>>().await.into_iter().collect();
        let completed = match copied {
            Ok(mut parts) => {
                parts.sort_by_key(|p| p.part_number());
                multipart::complete(s, dest_key, &upload_id, parts, size, "move", path).await
            }
            Err(e) => Err(e),
        };
        if completed.is_err() {
            writer::abort_upload(s, dest_key, &upload_id, path).await;
        }
        completed
    }
}
