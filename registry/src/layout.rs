//! Storage paths: the reference registry's layout (distribution v2.8, `/docker/registry/v2/…`),
//! so a tree written by either registry is served by the other. Every path here is built from
//! checked [`Name`]s, [`Tag`]s, [`Digest`]s and upload ids only.
//!
//! ```text
//! blobs/<alg>/<first two hex>/<hex>/data                   a blob's bytes (manifests too)
//! repositories/<name>/_layers/<alg>/<hex>/link             the blob is in the repository
//! repositories/<name>/_manifests/revisions/<alg>/<hex>/link  the manifest is in the repository
//! repositories/<name>/_manifests/tags/<tag>/current/link   the tag's manifest
//! repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link  manifests the tag named
//! repositories/<name>/_uploads/<id>/{data,startedat,hashstates/sha256/<offset>}
//! repositories/<name>/_referrers/<alg>/<hex>/<alg>/<hex>/link  (Wharf's) a manifest whose
//!                                                          subject is the first digest
//! ```
//!
//! Link files hold the digest alone, without a newline. `_referrers` is Wharf's: the reference
//! never looks into `_`-directories it does not know, and Wharf checks each referrer's
//! revision before answering it, so links left behind by the reference's garbage collection
//! are harmless.

use crate::names::{Digest, Name, Tag};

/// Where the registry's tree starts.
pub const ROOT: &str = "/docker/registry/v2";

/// The directory of every repository.
pub fn repositories() -> String {
    format!("{ROOT}/repositories")
}

/// A repository's directory.
pub fn repository(name: &Name) -> String {
    format!("{ROOT}/repositories/{name}")
}

/// A blob's directory.
pub fn blob_dir(d: &Digest) -> String {
    format!(
        "{ROOT}/blobs/{}/{}/{}",
        d.algorithm().as_str(),
        &d.hex()[..2],
        d.hex()
    )
}

/// A blob's bytes.
pub fn blob_data(d: &Digest) -> String {
    format!("{}/data", blob_dir(d))
}

fn digest_dirs(d: &Digest) -> String {
    format!("{}/{}", d.algorithm().as_str(), d.hex())
}

/// The link that puts a blob in a repository.
pub fn layer_link(name: &Name, d: &Digest) -> String {
    format!("{}/_layers/{}/link", repository(name), digest_dirs(d))
}

/// The link that puts a manifest in a repository.
pub fn revision_link(name: &Name, d: &Digest) -> String {
    format!(
        "{}/_manifests/revisions/{}/link",
        repository(name),
        digest_dirs(d)
    )
}

/// The directory of a repository's tags.
pub fn tags(name: &Name) -> String {
    format!("{}/_manifests/tags", repository(name))
}

/// A tag's directory.
pub fn tag(name: &Name, tag: &Tag) -> String {
    format!("{}/{tag}", tags(name))
}

/// The link to the manifest a tag names now.
pub fn tag_current(name: &Name, t: &Tag) -> String {
    format!("{}/current/link", tag(name, t))
}

/// The link recording that a tag once named a manifest.
pub fn tag_index(name: &Name, t: &Tag, d: &Digest) -> String {
    format!("{}/index/{}/link", tag(name, t), digest_dirs(d))
}

/// An upload's directory.
pub fn upload(name: &Name, id: &str) -> String {
    format!("{}/_uploads/{id}", repository(name))
}

/// An upload's bytes so far.
pub fn upload_data(name: &Name, id: &str) -> String {
    format!("{}/data", upload(name, id))
}

/// When an upload started (RFC 3339, seconds, UTC).
pub fn upload_started_at(name: &Name, id: &str) -> String {
    format!("{}/startedat", upload(name, id))
}

/// The SHA-256 state after `offset` bytes of an upload (Go's `crypto/sha256` binary form).
pub fn upload_hash_state(name: &Name, id: &str, offset: u64) -> String {
    format!("{}/hashstates/sha256/{offset}", upload(name, id))
}

/// The directory of the manifests whose subject is `subject`.
pub fn referrers(name: &Name, subject: &Digest) -> String {
    format!("{}/_referrers/{}", repository(name), digest_dirs(subject))
}

/// The link recording that manifest `referrer` has subject `subject`.
pub fn referrer_link(name: &Name, subject: &Digest, referrer: &Digest) -> String {
    format!(
        "{}/{}/link",
        referrers(name, subject),
        digest_dirs(referrer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_reference_registrys() {
        let name = Name::parse("library/alpine").unwrap();
        let hex = format!("ab{}", "c".repeat(62));
        let d = Digest::parse(&format!("sha256:{hex}")).unwrap();
        let tag = Tag::parse("latest").unwrap();
        let repo = "/docker/registry/v2/repositories/library/alpine";
        assert_eq!(
            blob_data(&d),
            format!("/docker/registry/v2/blobs/sha256/ab/{hex}/data")
        );
        assert_eq!(
            layer_link(&name, &d),
            format!("{repo}/_layers/sha256/{hex}/link")
        );
        assert_eq!(
            revision_link(&name, &d),
            format!("{repo}/_manifests/revisions/sha256/{hex}/link")
        );
        assert_eq!(
            tag_current(&name, &tag),
            format!("{repo}/_manifests/tags/latest/current/link")
        );
        assert_eq!(
            tag_index(&name, &tag, &d),
            format!("{repo}/_manifests/tags/latest/index/sha256/{hex}/link")
        );
        assert_eq!(upload_data(&name, "u"), format!("{repo}/_uploads/u/data"));
        assert_eq!(
            upload_hash_state(&name, "u", 1024),
            format!("{repo}/_uploads/u/hashstates/sha256/1024")
        );
    }
}
