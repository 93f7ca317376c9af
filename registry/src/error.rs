//! The Distribution Specification's error codes and the JSON body that carries them
//! (`{"errors":[{"code","message","detail"}]}`).

use http::StatusCode;
use serde_json::Value;

/// An error code of the specification, with the status the reference registry answers it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A blob the request names is not in the repository.
    BlobUnknown,
    /// The upload failed or its state is not usable (also: a chunk out of order).
    BlobUploadInvalid,
    /// The upload named does not exist (finished, cancelled, purged or never started).
    BlobUploadUnknown,
    /// The digest given is not a digest, or does not match the content.
    DigestInvalid,
    /// A manifest references a blob the repository does not have.
    ManifestBlobUnknown,
    /// The manifest could not be parsed or fails validation.
    ManifestInvalid,
    /// The manifest is not in the repository.
    ManifestUnknown,
    /// The repository name breaks the spec's grammar.
    NameInvalid,
    /// The repository is not known.
    NameUnknown,
    /// `n` is not a usable page size.
    PaginationNumberInvalid,
    /// A range that the upload or blob cannot satisfy.
    RangeInvalid,
    /// The content length does not match.
    SizeInvalid,
    /// The tag breaks the spec's grammar.
    TagInvalid,
    /// No credentials, or wrong ones.
    Unauthorized,
    /// The operation is not enabled on this registry (deletes, when `storage.delete` is off).
    Unsupported,
    /// The request is too large.
    TooLarge,
    /// Anything else: the storage failed.
    Unknown,
}

impl Code {
    /// The code's name in error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            Code::RangeInvalid => "RANGE_INVALID",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::TagInvalid => "TAG_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Unsupported => "UNSUPPORTED",
            Code::TooLarge => "SIZE_INVALID",
            Code::Unknown => "UNKNOWN",
        }
    }

    /// The HTTP status (the reference registry's, where it has the code).
    pub fn status(self) -> StatusCode {
        match self {
            Code::BlobUnknown
            | Code::BlobUploadInvalid
            | Code::BlobUploadUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown => StatusCode::NOT_FOUND,
            Code::DigestInvalid
            | Code::ManifestBlobUnknown
            | Code::ManifestInvalid
            | Code::NameInvalid
            | Code::PaginationNumberInvalid
            | Code::SizeInvalid
            | Code::TagInvalid => StatusCode::BAD_REQUEST,
            Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Code::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answered to a client: its code, a message and an optional detail.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The spec's code.
    pub code: Code,
    /// What went wrong, for a person.
    pub message: String,
    /// Structured detail (the digest, the name…), when there is one.
    pub detail: Option<Value>,
}

/// Results of the registry's operations.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

impl ApiError {
    /// An error with a message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// Adds a detail.
    pub fn with_detail(mut self, detail: impl Into<Value>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        let mut entry = serde_json::json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(detail) = &self.detail {
            entry["detail"] = detail.clone();
        }
        let mut body = serde_json::to_vec(&serde_json::json!({ "errors": [entry] }))
            .expect("a JSON value serialises");
        body.push(b'\n');
        body
    }

    /// A failure of the storage driver while doing `what`.
    pub fn storage(what: &str, error: wharf_runtime::Error) -> Self {
        tracing::warn!(what, error = %error, "storage failed");
        ApiError::new(Code::Unknown, format!("{what}: {error}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}
