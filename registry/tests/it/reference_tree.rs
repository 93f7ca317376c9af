//! A tree written by the reference registry (tests/reference-tree, see its README) served as it
//! is: skopeo gets every blob and manifest back with its digest, tags and the catalog list
//! what the reference wrote, and the reference's half-done upload finishes here.

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::{Backend, Running, client};

const SINGLE: &str = "sha256:4bb29c93d5b48391863dc7c0a1f0ef6606853c36f2a8aad778455f5681d34bc5";
const MULTI: &str = "sha256:3ac40b7bd20218c9fe6027aca38555fdf0a76f3d9852c4e69c12a5b09be14945";
const UPLOAD: &str = "733d2750-b184-4f72-8e61-752dbbce507b";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference-tree")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for fan in std::fs::read_dir(dir).unwrap() {
        for blob in std::fs::read_dir(fan.unwrap().path()).unwrap() {
            names.push(blob.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    names
}

#[tokio::test]
async fn a_tree_the_reference_registry_wrote_is_served_as_it_is() {
    let skopeo = std::env::var("WHARF_SKOPEO").unwrap_or_else(|_| {
        panic!("WHARF_SKOPEO is not set: run scripts/registry-clients, then `. target/registry-clients/env`")
    });
    let backend = Backend::new(common::Kind::Filesystem).await;
    let root = backend.dir.as_ref().unwrap().path().to_owned();
    copy_tree(&fixture().join("docker"), &root.join("docker"));
    let registry = Running::serve(&backend).await;
    let url = &registry.url;
    let host = registry.addr.to_string();

    let r = client()
        .get(format!("{url}/v2/_catalog"))
        .send()
        .await
        .unwrap();
    let catalog: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        catalog["repositories"],
        serde_json::json!(["lib/multi", "lib/single"])
    );
    for (repo, digest) in [("lib/single", SINGLE), ("lib/multi", MULTI)] {
        let raw = tokio::process::Command::new(&skopeo)
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{host}/{repo}:v1"))
            .output()
            .await
            .unwrap();
        assert!(
            raw.status.success(),
            "{}",
            String::from_utf8_lossy(&raw.stderr)
        );
        assert_eq!(common::digest(&raw.stdout), digest, "{repo}");
    }
    let out = tempfile::tempdir().unwrap();
    let copied = tokio::process::Command::new(&skopeo)
        .args([
            "--insecure-policy",
            "copy",
            "--all",
            "--src-tls-verify=false",
        ])
        .arg(format!("docker://{host}/lib/multi:v1"))
        .arg(format!("oci:{}:multi", out.path().display()))
        .output()
        .await
        .unwrap();
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    let mut pulled: Vec<String> = std::fs::read_dir(out.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pulled.sort();
    assert_eq!(pulled, names(&root.join("docker/registry/v2/blobs/sha256")));

    // The reference's upload: 3000 bytes in, its Go hash state beside them.
    let data = std::fs::read(fixture().join("upload.bin")).unwrap();
    let location = format!("{url}/v2/lib/single/blobs/uploads/{UPLOAD}");
    common::finish_upload(&location, &data, 3000).await;
    let d = common::digest(&data);
    let got = client()
        .get(format!("{url}/v2/lib/single/blobs/{d}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got, data);
    registry.stop().await;
}
