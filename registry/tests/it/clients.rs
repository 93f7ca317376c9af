//! Real registry clients against `wharf serve`'s registry, on inmemory, filesystem, s3 (moto)
//! and the filesystem guest: skopeo copies a multi-layer image and a two-platform index in and
//! out (digests unchanged), inspects, lists tags and deletes; oras pushes an artifact and one
//! whose subject it is, finds that through the referrers API and pulls both back.
//!
//! skopeo and oras come from `scripts/registry-clients` (`WHARF_SKOPEO`, `WHARF_ORAS_PYTHON`).

use crate::common;

use std::path::Path;

use crate::common::{Backend, Kind, Running, client};

fn tool(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: run scripts/registry-clients, then `. target/registry-clients/env`"
        )
    })
}

async fn run(program: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn blob_names(layout: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
        .expect("an OCI layout's blobs")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn skopeo_round_trip(kind: Kind) {
    let skopeo = tool("WHARF_SKOPEO");
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("image");
    let made = run(
        "python3",
        &[&fixture("make_image.py"), image.to_str().unwrap()],
    )
    .await;
    let digests: serde_json::Value = serde_json::from_str(&made).unwrap();
    let backend = Backend::new(kind).await;
    let registry = Running::serve(&backend).await;
    let host = registry.addr.to_string();
    let oci = |tag: &str| format!("oci:{}:{tag}", image.display());
    let remote = |repo: &str| format!("docker://{host}/{repo}");

    run(
        &skopeo,
        &[
            "copy",
            "--dest-tls-verify=false",
            &oci("single"),
            &remote("lib/single:v1"),
        ],
    )
    .await;
    run(
        &skopeo,
        &[
            "copy",
            "--all",
            "--dest-tls-verify=false",
            &oci("multi"),
            &remote("lib/multi:v1"),
        ],
    )
    .await;
    run(
        &skopeo,
        &[
            "copy",
            "--dest-tls-verify=false",
            &oci("single"),
            &remote("lib/single:v2"),
        ],
    )
    .await;

    // The manifests are stored byte for byte: their digests do not change.
    for (repo, key) in [("lib/single:v1", "single"), ("lib/multi:v1", "multi")] {
        let raw = run(
            &skopeo,
            &["inspect", "--raw", "--tls-verify=false", &remote(repo)],
        )
        .await;
        assert_eq!(common::digest(raw.as_bytes()), digests[key], "{repo}");
    }
    let inspected: serde_json::Value = serde_json::from_str(
        &run(
            &skopeo,
            &["inspect", "--tls-verify=false", &remote("lib/single:v1")],
        )
        .await,
    )
    .unwrap();
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 3);
    let tags: serde_json::Value = serde_json::from_str(
        &run(
            &skopeo,
            &["list-tags", "--tls-verify=false", &remote("lib/single")],
        )
        .await,
    )
    .unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["v1", "v2"]));

    // Out again: every blob of the index and its images comes back with its digest.
    let out = work.path().join("out");
    run(
        &skopeo,
        &[
            "copy",
            "--all",
            "--src-tls-verify=false",
            &remote("lib/multi:v1"),
            &format!("oci:{}:multi", out.display()),
        ],
    )
    .await;
    assert_eq!(blob_names(&out), blob_names(&image));

    run(
        &skopeo,
        &["delete", "--tls-verify=false", &remote("lib/single:v1")],
    )
    .await;
    let gone = client()
        .get(format!("{}/v2/lib/single/manifests/v2", registry.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        gone.status(),
        404,
        "deleting by digest untags every tag of it"
    );
    registry.stop().await;
}

async fn oras_referrers(kind: Kind) {
    let python = tool("WHARF_ORAS_PYTHON");
    let work = tempfile::tempdir().unwrap();
    let backend = Backend::new(kind).await;
    let registry = Running::serve(&backend).await;
    let out = run(
        &python,
        &[
            &fixture("oras_referrers.py"),
            &registry.addr.to_string(),
            "art/signed",
            work.path().to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.trim(), "ok");
    registry.stop().await;
}

#[tokio::test]
async fn skopeo_copies_images_and_indexes_in_and_out_on_inmemory() {
    skopeo_round_trip(Kind::InMemory).await;
}

#[tokio::test]
async fn skopeo_copies_images_and_indexes_in_and_out_on_filesystem() {
    skopeo_round_trip(Kind::Filesystem).await;
}

#[tokio::test]
async fn skopeo_copies_images_and_indexes_in_and_out_on_s3() {
    skopeo_round_trip(Kind::S3).await;
}

#[tokio::test]
async fn skopeo_copies_images_and_indexes_in_and_out_on_the_filesystem_guest() {
    skopeo_round_trip(Kind::GuestFilesystem).await;
}

#[tokio::test]
async fn oras_finds_an_artifact_through_its_subject_on_inmemory() {
    oras_referrers(Kind::InMemory).await;
}

#[tokio::test]
async fn oras_finds_an_artifact_through_its_subject_on_filesystem() {
    oras_referrers(Kind::Filesystem).await;
}

#[tokio::test]
async fn oras_finds_an_artifact_through_its_subject_on_s3() {
    oras_referrers(Kind::S3).await;
}

#[tokio::test]
async fn oras_finds_an_artifact_through_its_subject_on_the_filesystem_guest() {
    oras_referrers(Kind::GuestFilesystem).await;
}
