//! What a URL names — repository names, tags, digests and upload ids — checked against the
//! Distribution Specification's grammar before any storage path is built from them, so a
//! crafted name never reaches outside its repository.

use std::fmt;

use crate::error::{ApiError, Code};

/// The longest repository name the reference registry accepts.
pub const MAX_NAME_LEN: usize = 255;

/// A repository name: path components of `[a-z0-9]+` joined by `.`, `_`, `__` or `-`s, separated
/// by `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// Checks `s` against the grammar.
    pub fn parse(s: &str) -> Result<Name, ApiError> {
        let invalid = |why: &str| {
            ApiError::new(Code::NameInvalid, format!("invalid repository name: {why}"))
                .with_detail(serde_json::json!({ "name": s }))
        };
        if s.is_empty() {
            return Err(invalid("it is empty"));
        }
        if s.len() > MAX_NAME_LEN {
            return Err(invalid("it is longer than 255 characters"));
        }
        for component in s.split('/') {
            if !is_component(component) {
                return Err(invalid(&format!(
                    "{component:?} is not lowercase letters and digits joined by '.', '_', '__' or '-'"
                )));
            }
        }
        Ok(Name(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_component(c: &str) -> bool {
    let b = c.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && is_alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Checks `s` against the grammar.
    pub fn parse(s: &str) -> Result<Tag, ApiError> {
        let b = s.as_bytes();
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let ok = !b.is_empty()
            && b.len() <= 128
            && word(b[0])
            && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-');
        if ok {
            Ok(Tag(s.to_owned()))
        } else {
            Err(ApiError::new(
                Code::TagInvalid,
                format!(
                    "invalid tag {s:?}: a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
                ),
            ))
        }
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A digest algorithm the registry can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the canonical one: blobs are stored under it.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name in digests and storage paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A content digest, `algorithm:hex`, with lowercase hex of the algorithm's length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parses and checks a digest.
    pub fn parse(s: &str) -> Result<Digest, ApiError> {
        let invalid = |why: String| {
            ApiError::new(Code::DigestInvalid, format!("invalid digest {s:?}: {why}"))
                .with_detail(serde_json::json!({ "digest": s }))
        };
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(invalid("expected ALGORITHM:HEX".into()));
        };
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha384" => Algorithm::Sha384,
            "sha512" => Algorithm::Sha512,
            other => {
                return Err(invalid(format!(
                    "unsupported algorithm {other:?} (sha256, sha384 and sha512 are)"
                )));
            }
        };
        if hex.len() != algorithm.hex_len()
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid(format!(
                "{} takes {} lowercase hex digits",
                algorithm.as_str(),
                algorithm.hex_len()
            )));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }

    /// The SHA-256 digest whose hex is `hex` (already computed, so valid).
    pub fn sha256(hex: String) -> Digest {
        debug_assert_eq!(hex.len(), 64);
        Digest {
            algorithm: Algorithm::Sha256,
            hex,
        }
    }

    /// The SHA-256 digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest::sha256(hex::encode(sha2::Sha256::digest(data)))
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

/// What a manifest URL names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// By tag.
    Tag(Tag),
    /// By digest.
    Digest(Digest),
}

impl Reference {
    /// A digest when it has the shape of one (`alg:…`), a tag otherwise.
    pub fn parse(s: &str) -> Result<Reference, ApiError> {
        if s.contains(':') {
            Digest::parse(s).map(Reference::Digest)
        } else {
            Tag::parse(s).map(Reference::Tag)
        }
    }
}

/// An upload id: the registry makes UUIDs; anything else that reaches a path is refused.
pub fn check_upload_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::BlobUploadUnknown,
            format!("no upload {id:?}: upload ids are letters, digits, '-' and '_'"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_grammar() {
        for ok in [
            "a",
            "library/alpine",
            "a.b/c_d/e__f/g---h",
            "0/1/2",
            &"a".repeat(255),
        ] {
            assert!(Name::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "a/",
            "/a",
            "a//b",
            "a/../b",
            "..",
            "a/.b",
            "a___b",
            "a.-b",
            "a-",
            "a:b",
            "a/_layers",
            "a/b%2f",
            &"a".repeat(256),
        ] {
            let e = Name::parse(bad).unwrap_err();
            assert_eq!(e.code, Code::NameInvalid, "{bad}");
        }
    }

    #[test]
    fn tags_follow_the_grammar() {
        for ok in ["latest", "v1.2.3", "_x", "A-b_c.d", &"t".repeat(128)] {
            assert!(Tag::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "..", &"t".repeat(129)] {
            assert_eq!(Tag::parse(bad).unwrap_err().code, Code::TagInvalid, "{bad}");
        }
    }

    #[test]
    fn digests_are_checked_and_print_back() {
        let hex64 = "a".repeat(64);
        let d = Digest::parse(&format!("sha256:{hex64}")).unwrap();
        assert_eq!(d.to_string(), format!("sha256:{hex64}"));
        assert!(Digest::parse(&format!("sha512:{}", "0".repeat(128))).is_ok());
        for bad in [
            "sha256".to_owned(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("md5:{}", "a".repeat(32)),
            format!("sha256:{}/..", "a".repeat(61)),
        ] {
            assert_eq!(
                Digest::parse(&bad).unwrap_err().code,
                Code::DigestInvalid,
                "{bad}"
            );
        }
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn references_are_tags_or_digests() {
        assert!(matches!(Reference::parse("v1"), Ok(Reference::Tag(_))));
        let d = format!("sha256:{}", "b".repeat(64));
        assert!(matches!(Reference::parse(&d), Ok(Reference::Digest(_))));
        assert_eq!(
            Reference::parse("sha256:xyz").unwrap_err().code,
            Code::DigestInvalid
        );
        assert!(check_upload_id("0f1e-ab_c").is_ok());
        assert!(check_upload_id("../x").is_err());
        assert!(check_upload_id("").is_err());
    }
}
