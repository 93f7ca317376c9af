//! One bucket and the object calls every operation shares: PutObject, HeadObject, a one-key
//! listing, DeleteObject(s), with the configured object options.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;
use wharf_runtime::deletion_log::DeletionLog;
use wharf_runtime::{Error, ErrorKind, Result};

use crate::client::{self, RequestCounter};
use crate::config::{Checksums, Config, Dialect};
use crate::error::{self, from_sdk, is_not_found, status};
use crate::layout::Layout;

/// What a driver, its writers and their background tasks share.
pub(crate) struct Bucket {
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) presign: aws_sdk_s3::Client,
    pub(crate) config: Config,
    pub(crate) dialect: Dialect,
    pub(crate) layout: Layout,
    pub(crate) deletion_log: Arc<DeletionLog>,
    pub(crate) requests: Arc<RequestCounter>,
}

/// Applies the configured object options (content type, ACL, storage class, server-side
/// encryption) to a PutObject, CreateMultipartUpload or CopyObject request builder.
macro_rules! object_options {
    ($builder:expr, $config:expr) => {{
        use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption, StorageClass};
        let config: &$crate::config::Config = $config;
        let mut builder = $builder
            .content_type("application/octet-stream")
            .acl(ObjectCannedAcl::from(config.object_acl.as_str()));
        if let Some(class) = &config.storage_class {
            builder = builder.storage_class(StorageClass::from(class.as_str()));
        }
        match &config.encryption {
            $crate::config::Encryption::None => {}
            $crate::config::Encryption::Aes256 => {
                builder = builder.server_side_encryption(ServerSideEncryption::Aes256);
            }
            $crate::config::Encryption::Kms { key_id } => {
                builder = builder
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(key_id);
            }
        }
        builder
    }};
}
pub(crate) use object_options;

impl Bucket {
    pub(crate) fn bucket(&self) -> &str {
        &self.config.bucket
    }

    /// `x-amz-copy-source` for `key`: `bucket/key`, percent-encoded except for `/`.
    pub(crate) fn copy_source(&self, key: &str) -> String {
        let mut out = format!("{}/", self.bucket());
        for b in key.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// PutObject of `content` at `key` with the configured object options.
    pub(crate) async fn put_object(&self, key: &str, content: Bytes, path: &str) -> Result<()> {
        object_options!(self.s3.put_object(), &self.config)
            .bucket(self.bucket())
            .key(key)
            .content_length(content.len() as i64)
            .body(SdkBody::from(content))
            .send()
            .await
            .map_err(|e| from_sdk(e, "put", path))?;
        Ok(())
    }

    /// The size and modification time of the object at `key`, or `None` if there is none.
    pub(crate) async fn head(&self, key: &str, path: &str) -> Result<Option<(u64, SystemTime)>> {
        match self
            .s3
            .head_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some((
                head.content_length().unwrap_or(0).max(0) as u64,
                head.last_modified()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .unwrap_or(UNIX_EPOCH),
            ))),
            Err(e) if is_not_found(&e) => Ok(None),
            // Stores that keep keys as files and directories (s3s-fs) fail a HEAD of a key that
            // is a directory on their disk with a 500: when the first key starting with `key`
            // is not `key` itself (which would come first), there is no object at `key`.
            Err(e) if status(&e).is_some_and(|s| s >= 500) => {
                match self.first_key(key, path).await?.as_deref() {
                    Some(first) if first == key => Err(from_sdk(e, "stat", path)),
                    _ => Ok(None),
                }
            }
            Err(e) => Err(from_sdk(e, "stat", path)),
        }
    }

    /// True when at least one key starts with `prefix`.
    pub(crate) async fn any_under(&self, prefix: &str, path: &str) -> Result<bool> {
        Ok(self.first_key(prefix, path).await?.is_some())
    }

    /// The first key (in the store's byte order) that starts with `prefix`.
    async fn first_key(&self, prefix: &str, path: &str) -> Result<Option<String>> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(self.bucket())
            .prefix(prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| from_sdk(e, "list", path))?;
        Ok(listed
            .contents()
            .first()
            .and_then(|o| o.key())
            .map(str::to_owned))
    }

    /// DeleteObject of one key (a missing key is fine).
    pub(crate) async fn delete_key(&self, key: &str, path: &str) -> Result<()> {
        self.s3
            .delete_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
            .map_err(|e| from_sdk(e, "delete", path))?;
        Ok(())
    }

    /// DeleteObjects of up to [`PAGE`] keys, failing on the first key S3 could not delete.
    pub(crate) async fn delete_batch(&self, keys: Vec<String>, path: &str) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let objects = keys
            .into_iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::backend(format!("delete {path}")).with_source(e))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| Error::backend(format!("delete {path}")).with_source(e))?;
        let request = self
            .s3
            .delete_objects()
            .bucket(self.bucket())
            .delete(delete);
        let sent = match self.dialect.checksums {
            Checksums::WhenRequired => request.send().await,
            Checksums::ContentMd5 => {
                request
                    .customize()
                    .config_override(client::content_md5_only())
                    .send()
                    .await
            }
        };
        let out = sent.map_err(|e| from_sdk(e, "delete", path))?;
        if let Some(failed) = out.errors().first() {
            let code = failed.code().unwrap_or("error");
            let detail = format!(
                "delete {path}: {} of the keys could not be deleted, e.g. {}: {code}: {}",
                out.errors().len(),
                failed.key().unwrap_or("?"),
                failed.message().unwrap_or("")
            );
            let kind = match error::classify(Some(code), None) {
                error::Class::Denied => ErrorKind::PermissionDenied,
                error::Class::Temporary => ErrorKind::Backend { temporary: true },
                _ => ErrorKind::Backend { temporary: false },
            };
            return Err(Error::new(kind).with_detail(detail));
        }
        Ok(())
    }
}
