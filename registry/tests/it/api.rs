//! What skopeo and oras do not exercise, as a client script (what depends on the driver, on
//! inmemory, filesystem, s3 on moto and the filesystem guest): chunked uploads (out of order,
//! resumed after a restart of the server over the same storage, a wrong digest), cross-repository
//! mounts, range GETs, pagination, authentication, reload, bad names and digests refused with the
//! spec's codes, the storage layout the reference registry reads, upload purging (and its
//! settings changed by a reload).

use std::time::{Duration, SystemTime};

use crate::common::{
    Backend, Kind, Running, client, code_of, config, digest, finish_upload, patch,
};
use reqwest::StatusCode;
use serde_json::json;

/// POSTs an upload; its location.
async fn start_upload(url: &str, repo: &str) -> String {
    let r = client()
        .post(format!("{url}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["range"], "0-0");
    assert!(r.headers().contains_key("docker-upload-uuid"));
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    format!("{url}{location}")
}

async fn push_blob(url: &str, repo: &str, data: &[u8]) -> String {
    let d = digest(data);
    let r = client()
        .post(format!("{url}/v2/{repo}/blobs/uploads/?digest={d}"))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    d
}

fn image_manifest(config: &str, layers: &[(&str, usize)]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": layers.iter().map(|(d, s)| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s
        })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

async fn put_manifest(url: &str, repo: &str, reference: &str, body: &[u8]) -> reqwest::Response {
    client()
        .put(format!("{url}/v2/{repo}/manifests/{reference}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

async fn chunked_upload_resumes_after_a_restart(kind: Kind) {
    let backend = Backend::new(kind).await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (first, rest) = data.split_at(1_234_567);
    let registry = Running::serve(&backend).await;
    let location = start_upload(&registry.url, "r/up").await;
    let path = location.strip_prefix(&registry.url).unwrap().to_owned();
    let r = patch(&location, 0, first).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        r.headers()["range"],
        format!("0-{}", first.len() - 1).as_str()
    );
    // A chunk that does not start where the upload ends is refused, and says where it ends.
    let r = patch(&location, 5, rest).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers()["range"],
        format!("0-{}", first.len() - 1).as_str()
    );
    registry.stop().await;

    // A new server, a new driver instance, the same storage.
    let driver = backend.open().await;
    let registry = Running::start(driver, config("")).await;
    let location = format!("{}{path}", registry.url);
    let r = finish_upload(&location, &data, first.len()).await;
    let d = digest(&data);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    let mut blob = client()
        .get(format!("{}/v2/r/up/blobs/{d}", registry.url))
        .send()
        .await
        .unwrap();
    if kind == Kind::S3 {
        // s3 redirects to a presigned URL of the object.
        assert_eq!(blob.status(), StatusCode::TEMPORARY_REDIRECT);
        let to = blob.headers()["location"].to_str().unwrap().to_owned();
        blob = client().get(to).send().await.unwrap();
    }
    assert_eq!(blob.status(), StatusCode::OK);
    assert_eq!(blob.bytes().await.unwrap(), data);
    // The finished upload is gone.
    let r = client().get(&location).send().await.unwrap();
    assert_eq!(code_of(r).await, "BLOB_UPLOAD_UNKNOWN");
    registry.stop().await;
}

#[tokio::test]
async fn a_chunked_upload_resumes_after_a_restart_on_inmemory() {
    chunked_upload_resumes_after_a_restart(Kind::InMemory).await;
}

#[tokio::test]
async fn a_chunked_upload_resumes_after_a_restart_on_filesystem() {
    chunked_upload_resumes_after_a_restart(Kind::Filesystem).await;
}

#[tokio::test]
async fn a_chunked_upload_resumes_after_a_restart_on_s3() {
    chunked_upload_resumes_after_a_restart(Kind::S3).await;
}

#[tokio::test]
async fn a_chunked_upload_resumes_after_a_restart_on_the_filesystem_guest() {
    chunked_upload_resumes_after_a_restart(Kind::GuestFilesystem).await;
}

#[tokio::test]
async fn a_wrong_digest_leaves_nothing_visible_on_inmemory() {
    wrong_digest(Kind::InMemory).await;
}

#[tokio::test]
async fn a_wrong_digest_leaves_nothing_visible_on_filesystem() {
    wrong_digest(Kind::Filesystem).await;
}

#[tokio::test]
async fn a_wrong_digest_leaves_nothing_visible_on_s3() {
    wrong_digest(Kind::S3).await;
}

#[tokio::test]
async fn a_wrong_digest_leaves_nothing_visible_on_the_filesystem_guest() {
    wrong_digest(Kind::GuestFilesystem).await;
}

async fn wrong_digest(kind: Kind) {
    let backend = Backend::new(kind).await;
    let registry = Running::serve(&backend).await;
    let location = start_upload(&registry.url, "r/bad").await;
    assert_eq!(patch(&location, 0, b"some bytes").await.status(), 202);
    let wrong = digest(b"other bytes");
    let r = client()
        .put(format!("{location}?digest={wrong}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code_of(r).await, "DIGEST_INVALID");
    for d in [wrong, digest(b"some bytes")] {
        let r = client()
            .head(format!("{}/v2/r/bad/blobs/{d}", registry.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{d}");
    }
    let r = client().get(&location).send().await.unwrap();
    assert_eq!(code_of(r).await, "BLOB_UPLOAD_UNKNOWN");
    // A missing digest, and one that is not a digest.
    let location = start_upload(&registry.url, "r/bad").await;
    let r = client().put(&location).send().await.unwrap();
    assert_eq!(code_of(r).await, "DIGEST_INVALID");
    let r = client()
        .put(format!("{location}?digest=sha256:abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, "DIGEST_INVALID");
    // Cancelled.
    let r = client().delete(&location).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = client().delete(&location).send().await.unwrap();
    assert_eq!(code_of(r).await, "BLOB_UPLOAD_UNKNOWN");
    registry.stop().await;
}

/// A blob request that follows a redirect to the driver's URL (s3's presigned URLs) with the
/// same method and range; the answer and whether it was redirected.
async fn blob_request(
    method: reqwest::Method,
    url: &str,
    range: Option<&str>,
) -> (reqwest::Response, bool) {
    let send = |to: String| {
        let mut request = client().request(method.clone(), to);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        request.send()
    };
    let r = send(url.to_owned()).await.unwrap();
    if r.status() != StatusCode::TEMPORARY_REDIRECT {
        return (r, false);
    }
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    (send(to).await.unwrap(), true)
}

#[tokio::test]
async fn blobs_mount_across_repositories_and_serve_ranges_on_inmemory() {
    mounts_and_ranges(Kind::InMemory).await;
}

#[tokio::test]
async fn blobs_mount_across_repositories_and_serve_ranges_on_filesystem() {
    mounts_and_ranges(Kind::Filesystem).await;
}

#[tokio::test]
async fn blobs_mount_across_repositories_and_serve_ranges_on_s3() {
    mounts_and_ranges(Kind::S3).await;
}

#[tokio::test]
async fn blobs_mount_across_repositories_and_serve_ranges_on_the_filesystem_guest() {
    mounts_and_ranges(Kind::GuestFilesystem).await;
}

async fn mounts_and_ranges(kind: Kind) {
    let backend = Backend::new(kind).await;
    let registry = Running::serve(&backend).await;
    let url = &registry.url;
    let data: Vec<u8> = (0..100u8).collect();
    let d = push_blob(url, "src/a", &data).await;

    let r = client()
        .post(format!(
            "{url}/v2/dst/b/blobs/uploads/?mount={d}&from=src/a"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers()["location"],
        format!("/v2/dst/b/blobs/{d}").as_str()
    );
    // Not in the source: an upload starts instead.
    let missing = digest(b"nowhere");
    let r = client()
        .post(format!(
            "{url}/v2/dst/b/blobs/uploads/?mount={missing}&from=src/a"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // Not linked into a third repository.
    let r = client()
        .get(format!("{url}/v2/other/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, "BLOB_UNKNOWN");

    let blob = format!("{url}/v2/dst/b/blobs/{d}");
    let get = |range: &'static str| blob_request(reqwest::Method::GET, &blob, Some(range));
    let (r, _) = get("bytes=10-19").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/100");
    assert_eq!(r.bytes().await.unwrap(), &data[10..20]);
    let (r, _) = get("bytes=95-").await;
    assert_eq!(r.bytes().await.unwrap(), &data[95..]);
    let (r, _) = get("bytes=-3").await;
    assert_eq!(r.bytes().await.unwrap(), &data[97..]);
    let (r, _) = get("bytes=100-").await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let (r, redirected) = blob_request(reqwest::Method::HEAD, &blob, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], "100");
    assert_eq!(redirected, kind == Kind::S3, "only s3 has redirect URLs");
    if !redirected {
        assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    }

    // Deleting from one repository leaves the other's.
    let r = client()
        .delete(format!("{url}/v2/dst/b/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (r, _) = blob_request(reqwest::Method::HEAD, &blob, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let source = format!("{url}/v2/src/a/blobs/{d}");
    let (r, _) = blob_request(reqwest::Method::HEAD, &source, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    registry.stop().await;
}

/// Follows `Link` headers from `first`; every page's entries under `key`.
async fn pages(url: &str, first: &str, key: &str) -> Vec<Vec<String>> {
    let mut next = Some(first.to_owned());
    let mut pages = Vec::new();
    while let Some(path) = next {
        let r = client().get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with(">; rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_owned()
        });
        let body: serde_json::Value = r.json().await.unwrap();
        pages.push(
            body[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect(),
        );
        assert!(pages.len() < 100, "the pages never end");
    }
    pages
}

#[tokio::test]
async fn tags_and_the_catalog_come_in_pages_on_inmemory() {
    pagination(Kind::InMemory).await;
}

#[tokio::test]
async fn tags_and_the_catalog_come_in_pages_on_filesystem() {
    pagination(Kind::Filesystem).await;
}

#[tokio::test]
async fn tags_and_the_catalog_come_in_pages_on_s3() {
    pagination(Kind::S3).await;
}

#[tokio::test]
async fn tags_and_the_catalog_come_in_pages_on_the_filesystem_guest() {
    pagination(Kind::GuestFilesystem).await;
}

async fn pagination(kind: Kind) {
    let backend = Backend::new(kind).await;
    let registry = Running::serve(&backend).await;
    let url = &registry.url;
    // Prefix siblings and nesting: `a`, `a-b`, `a/b`, `a/b/c`.
    let repos = ["a", "a-b", "a/b", "a/b/c", "z"];
    for repo in repos {
        let config = push_blob(url, repo, b"{}").await;
        let m = image_manifest(&config, &[]);
        for tag in ["t1", "t2", "t3", "t4", "t5"] {
            assert_eq!(put_manifest(url, repo, tag, &m).await.status(), 201);
        }
    }
    let tags = pages(url, "/v2/a/b/tags/list?n=2", "tags").await;
    assert_eq!(tags, [vec!["t1", "t2"], vec!["t3", "t4"], vec!["t5"]]);
    let all = pages(url, "/v2/a/b/tags/list", "tags").await;
    assert_eq!(all, [vec!["t1", "t2", "t3", "t4", "t5"]]);
    let after = pages(url, "/v2/a/b/tags/list?last=t3", "tags").await;
    assert_eq!(after, [vec!["t4", "t5"]]);

    let catalog: Vec<String> = pages(url, "/v2/_catalog?n=2", "repositories")
        .await
        .into_iter()
        .flatten()
        .collect();
    let whole = pages(url, "/v2/_catalog", "repositories").await;
    assert_eq!(whole.len(), 1);
    assert_eq!(catalog, whole[0]);
    let mut sorted = catalog.clone();
    sorted.sort();
    assert_eq!(sorted, repos);
    let r = client()
        .get(format!("{url}/v2/_catalog?n=100000"))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, "PAGINATION_NUMBER_INVALID");
    let r = client()
        .get(format!("{url}/v2/nothing/tags/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, "NAME_UNKNOWN");
    registry.stop().await;
}

#[tokio::test]
async fn bad_names_references_and_manifests_are_refused_with_the_specs_codes() {
    let backend = Backend::new(Kind::InMemory).await;
    let registry = Running::serve(&backend).await;
    let url = &registry.url;
    let zero = format!("sha256:{}", "0".repeat(64));
    for (path, code) in [
        ("/v2/Upper/tags/list".to_owned(), "NAME_INVALID"),
        ("/v2/a/../b/tags/list".to_owned(), "NAME_INVALID"),
        ("/v2/a/%2e%2e/manifests/x".to_owned(), "NAME_INVALID"),
        ("/v2/a//b/tags/list".to_owned(), "NAME_INVALID"),
        ("/v2/a/_layers/tags/list".to_owned(), "NAME_INVALID"),
        ("/v2/a/manifests/-x".to_owned(), "TAG_INVALID"),
        ("/v2/a/manifests/sha256:abc".to_owned(), "DIGEST_INVALID"),
        ("/v2/a/blobs/md5:abc".to_owned(), "DIGEST_INVALID"),
        (format!("/v2/a/blobs/{zero}"), "BLOB_UNKNOWN"),
        (format!("/v2/a/manifests/{zero}"), "MANIFEST_UNKNOWN"),
        ("/v2/a/manifests/latest".to_owned(), "MANIFEST_UNKNOWN"),
        ("/v2/a/blobs/uploads/..".to_owned(), "BLOB_UPLOAD_UNKNOWN"),
        ("/v2/a/blobs/uploads/0000".to_owned(), "BLOB_UPLOAD_UNKNOWN"),
    ] {
        let (status, body) = raw_get(registry.addr, &path).await;
        assert!((400..500).contains(&status), "{path}: {status}");
        assert_eq!(body["errors"][0]["code"], code, "{path}");
    }
    // A manifest naming a blob the repository does not have.
    let m = image_manifest(&zero, &[]);
    let r = put_manifest(url, "a", "v1", &m).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code_of(r).await, "MANIFEST_BLOB_UNKNOWN");
    // Its digest is not the one in the URL.
    let config = push_blob(url, "a", b"{}").await;
    let m = image_manifest(&config, &[]);
    let r = put_manifest(url, "a", &zero, &m).await;
    assert_eq!(code_of(r).await, "DIGEST_INVALID");
    let r = put_manifest(url, "a", "v1", b"{not json").await;
    assert_eq!(code_of(r).await, "MANIFEST_INVALID");
    let big = vec![b' '; (4 << 20) + 1];
    let r = put_manifest(url, "a", "v1", &big).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // By digest, with its subject answered.
    let d = digest(&m);
    let r = put_manifest(url, "a", &d, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = client()
        .get(format!("{url}/v2/a/manifests/{d}"))
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        code_of(r).await,
        "MANIFEST_UNKNOWN",
        "an OCI manifest to a client that takes none"
    );
    let r = client()
        .get(format!("{url}/v2/a/manifests/{d}"))
        .header("if-none-match", format!("\"{d}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    registry.stop().await;

    // Deletes are off unless the configuration says so.
    let registry = Running::start(backend.driver(), config_without_deletes()).await;
    let r = client()
        .delete(format!("{}/v2/a/manifests/{d}", registry.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(code_of(r).await, "UNSUPPORTED");
    registry.stop().await;
}

/// A GET of `path` exactly as written (HTTP clients would resolve `..` first), on a connection
/// of its own: the status and the JSON body.
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or_default())
}

fn config_without_deletes() -> wharf_registry::config::Config {
    wharf_registry::config::Config::parse("storage: {inmemory: {}}", &[]).unwrap()
}

#[tokio::test]
async fn only_users_of_the_htpasswd_file_get_in_and_a_reload_changes_who() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(
        &htpasswd,
        format!("alice:{}\n", bcrypt::hash("wonderland", 4).unwrap()),
    )
    .unwrap();
    let backend = Backend::new(Kind::InMemory).await;
    let with_auth = config(&format!(
        "auth:\n  htpasswd:\n    realm: wharf-test\n    path: {}\n",
        htpasswd.display()
    ));
    let registry = Running::start(backend.driver(), with_auth).await;
    let url = format!("{}/v2/", registry.url);
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"wharf-test\""
    );
    assert_eq!(code_of(r).await, "UNAUTHORIZED");
    let r = client()
        .get(&url)
        .basic_auth("alice", Some("looking-glass"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .get(&url)
        .basic_auth("alice", Some("wonderland"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // A configuration that fails to load leaves the old one serving; a good one replaces it.
    registry.reload(Err("a broken file".into()));
    registry.reload(Ok(config("")));
    let mut open = false;
    for _ in 0..100 {
        if client().get(&url).send().await.unwrap().status() == StatusCode::OK {
            open = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(open, "the reload without auth never took effect");
    registry.stop().await;
}

#[tokio::test]
async fn the_storage_tree_is_the_reference_registrys() {
    let backend = Backend::new(Kind::Filesystem).await;
    let root = backend.tree();
    let registry = Running::serve(&backend).await;
    let url = &registry.url;
    let layer = b"layer bytes".to_vec();
    let config_digest = push_blob(url, "lib/x", b"{}").await;
    let layer_digest = push_blob(url, "lib/x", &layer).await;
    let m = image_manifest(&config_digest, &[(&layer_digest, layer.len())]);
    let manifest_digest = digest(&m);
    assert_eq!(put_manifest(url, "lib/x", "latest", &m).await.status(), 201);
    let hex = |d: &str| d.strip_prefix("sha256:").unwrap().to_owned();
    let read = |p: String| std::fs::read(root.join(&p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let repo = "repositories/lib/x";
    let h = hex(&layer_digest);
    assert_eq!(read(format!("blobs/sha256/{}/{h}/data", &h[..2])), layer);
    assert_eq!(
        read(format!("{repo}/_layers/sha256/{h}/link")),
        layer_digest.as_bytes(),
        "a link is the digest, without a newline"
    );
    let mh = hex(&manifest_digest);
    assert_eq!(read(format!("blobs/sha256/{}/{mh}/data", &mh[..2])), m);
    for link in [
        format!("{repo}/_manifests/revisions/sha256/{mh}/link"),
        format!("{repo}/_manifests/tags/latest/current/link"),
        format!("{repo}/_manifests/tags/latest/index/sha256/{mh}/link"),
    ] {
        assert_eq!(read(link), manifest_digest.as_bytes());
    }
    // An upload in progress: its start time and the hash state after its bytes, in Go's form.
    let location = start_upload(url, "lib/x").await;
    let id = location.rsplit('/').next().unwrap().to_owned();
    assert_eq!(patch(&location, 0, b"0123456789").await.status(), 202);
    let started = String::from_utf8(read(format!("{repo}/_uploads/{id}/startedat"))).unwrap();
    assert!(
        humantime::parse_rfc3339(&started).is_ok() && started.ends_with('Z') && started.len() == 20,
        "{started:?}"
    );
    let state = read(format!("{repo}/_uploads/{id}/hashstates/sha256/10"));
    assert_eq!(state.len(), 108);
    assert_eq!(&state[..4], b"sha\x03");
    assert_eq!(&state[36..46], b"0123456789");
    assert_eq!(u64::from_be_bytes(state[100..].try_into().unwrap()), 10);

    // Purging: an upload younger than the age stays, older goes (a dry run only counts).
    let storage = wharf_registry::storage::Storage::new(backend.driver(), Default::default());
    let now = SystemTime::now();
    assert_eq!(
        storage
            .purge_uploads(now - Duration::from_secs(3600), false)
            .await
            .unwrap(),
        0
    );
    let later = now + Duration::from_secs(5);
    assert_eq!(storage.purge_uploads(later, true).await.unwrap(), 1);
    assert!(root.join(format!("{repo}/_uploads/{id}")).exists());
    assert_eq!(storage.purge_uploads(later, false).await.unwrap(), 1);
    assert!(!root.join(format!("{repo}/_uploads/{id}")).exists());
    let r = client().get(&location).send().await.unwrap();
    assert_eq!(code_of(r).await, "BLOB_UPLOAD_UNKNOWN");
    registry.stop().await;
}

#[tokio::test]
async fn referrers_are_listed_filtered_and_forgotten_with_their_manifest_on_inmemory() {
    referrers(Kind::InMemory).await;
}

#[tokio::test]
async fn referrers_are_listed_filtered_and_forgotten_with_their_manifest_on_filesystem() {
    referrers(Kind::Filesystem).await;
}

#[tokio::test]
async fn referrers_are_listed_filtered_and_forgotten_with_their_manifest_on_s3() {
    referrers(Kind::S3).await;
}

#[tokio::test]
async fn referrers_are_listed_filtered_and_forgotten_with_their_manifest_on_the_filesystem_guest() {
    referrers(Kind::GuestFilesystem).await;
}

async fn referrers(kind: Kind) {
    let backend = Backend::new(kind).await;
    let registry = Running::serve(&backend).await;
    let url = &registry.url;
    let config_digest = push_blob(url, "r", b"{}").await;
    let subject = image_manifest(&config_digest, &[]);
    let subject_digest = digest(&subject);
    assert_eq!(put_manifest(url, "r", "v1", &subject).await.status(), 201);
    let mut referrer: serde_json::Value =
        serde_json::from_slice(&image_manifest(&config_digest, &[])).unwrap();
    referrer["artifactType"] = json!("application/x-signature");
    referrer["subject"] = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": subject_digest, "size": subject.len()
    });
    let referrer = serde_json::to_vec(&referrer).unwrap();
    let referrer_digest = digest(&referrer);
    let r = put_manifest(url, "r", &referrer_digest, &referrer).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["oci-subject"], subject_digest.as_str());

    let list = |filter: &'static str| {
        client()
            .get(format!("{url}/v2/r/referrers/{subject_digest}{filter}"))
            .send()
    };
    let r = list("").await.unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    let index: serde_json::Value = r.json().await.unwrap();
    assert_eq!(index["manifests"][0]["digest"], referrer_digest.as_str());
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/x-signature"
    );
    assert_eq!(index["manifests"][0]["size"], referrer.len());
    let r = list("?artifactType=application/x-other").await.unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let index: serde_json::Value = r.json().await.unwrap();
    assert_eq!(index["manifests"], json!([]));

    let r = client()
        .delete(format!("{url}/v2/r/manifests/{referrer_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let index: serde_json::Value = list("").await.unwrap().json().await.unwrap();
    assert_eq!(index["manifests"], json!([]));
    registry.stop().await;
}

#[tokio::test]
async fn tls_serves_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let backend = Backend::new(Kind::InMemory).await;
    let tls = config(&format!(
        "http:\n  tls:\n    certificate: {}\n    key: {}\n",
        cert.display(),
        key.display()
    ));
    let registry = Running::start(backend.driver(), tls).await;
    let trusted = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .resolve("localhost", registry.addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/v2/", registry.addr.port());
    let r = trusted.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Plain HTTP is not served on a TLS port, and a client that does not trust the certificate
    // gets no answer.
    assert!(
        client()
            .get(format!("{}/v2/", registry.url))
            .send()
            .await
            .is_err()
    );
    assert!(client().get(&url).send().await.is_err());
    registry.stop().await;

    // A key that is not there fails at start, naming the key.
    let broken = config(&format!(
        "http:\n  tls:\n    certificate: {}\n    key: {}\n",
        cert.display(),
        dir.path().join("missing.pem").display()
    ));
    let e = wharf_registry::server::Server::bind(broken, Some("127.0.0.1:0".parse().unwrap()), {
        std::sync::Arc::new(|_| Box::pin(async { Err("unused".to_owned()) }))
    })
    .await
    .err()
    .expect("a missing key is refused");
    assert!(e.contains("http.tls.key"), "{e}");
}

/// Whether the upload at `location` is still known.
async fn upload_known(location: &str) -> bool {
    let r = client().get(location).send().await.unwrap();
    match r.status() {
        StatusCode::NO_CONTENT => true,
        StatusCode::NOT_FOUND => {
            assert_eq!(code_of(r).await, "BLOB_UPLOAD_UNKNOWN");
            false
        }
        other => panic!("upload status answered {other}"),
    }
}

/// Waits for the upload at `location` to be purged; fails with `failure` after 30 s.
async fn purged_within_30_s(location: &str, failure: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while upload_known(location).await {
        assert!(std::time::Instant::now() < deadline, "{failure}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_reload_gives_upload_purging_its_new_settings() {
    let purging = |enabled: bool, age: &str| {
        config(&format!(
            "  maintenance:\n    uploadpurging: {{enabled: {enabled}, age: {age}, interval: 1s, dryrun: false}}\n"
        ))
    };
    let backend = Backend::new(Kind::InMemory).await;
    let registry = Running::start(backend.driver(), purging(false, "1s")).await;
    let first = start_upload(&registry.url, "lib/purged").await;
    assert_eq!(patch(&first, 0, b"0123456789").await.status(), 202);

    // Turned on by a reload: the upload, older than a second by then, goes.
    registry.reload(Ok(purging(true, "1s")));
    purged_within_30_s(&first, "the upload outlived 30 s of purging every second").await;

    // An age longer than the clock has run purges nothing and leaves the purger alive: turned
    // back to one second, it removes the next upload.
    registry.reload(Ok(purging(true, "300000000000y")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let kept = start_upload(&registry.url, "lib/old").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        upload_known(&kept).await,
        "purged under an age of 3 × 10^11 years"
    );
    registry.reload(Ok(purging(true, "1s")));
    purged_within_30_s(&kept, "the purger did not survive the long age").await;

    // Turned off again: a new upload outlives several of the old intervals.
    registry.reload(Ok(purging(false, "1s")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = start_upload(&registry.url, "lib/kept").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        upload_known(&second).await,
        "purging went on after it was turned off"
    );
    registry.stop().await;
}

#[tokio::test]
async fn manifests_are_kept_by_digest_but_served_only_through_their_links() {
    let backend = Backend::new(Kind::Filesystem).await;
    let blobs = backend.tree().join("blobs");
    let registry = Running::serve(&backend).await;
    let url = &registry.url;
    let config_digest = push_blob(url, "lib/c", b"{}").await;
    let m = image_manifest(&config_digest, &[]);
    let d = digest(&m);
    assert_eq!(put_manifest(url, "lib/c", "v1", &m).await.status(), 201);
    let get = |url: String, reference: String| async move {
        let r = client()
            .get(format!("{url}/v2/lib/c/manifests/{reference}"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap();
        (r.status(), r.bytes().await.unwrap())
    };
    let served = (StatusCode::OK, bytes::Bytes::from(m.clone()));
    assert_eq!(get(url.clone(), "v1".into()).await, served);

    // The manifest's bytes leave the storage behind the registry's back: the tag and the
    // digest still answer with them (the digest names them for good)…
    let hex = d.strip_prefix("sha256:").unwrap();
    std::fs::remove_file(blobs.join(format!("sha256/{}/{hex}/data", &hex[..2]))).unwrap();
    assert_eq!(get(url.clone(), "v1".into()).await, served);
    assert_eq!(get(url.clone(), d.clone()).await, served);
    // …where a second server over the same storage, which has kept nothing, finds them gone.
    let second = Running::serve(&backend).await;
    assert_eq!(
        get(second.url.clone(), "v1".into()).await.0,
        StatusCode::NOT_FOUND
    );
    second.stop().await;

    // What is served is still decided by the links: a tag moved away, a deleted manifest, a
    // repository that never had it.
    let other = image_manifest(&config_digest, &[(&config_digest, 2)]);
    assert_eq!(put_manifest(url, "lib/c", "v1", &other).await.status(), 201);
    assert_eq!(
        get(url.clone(), "v1".into()).await,
        (StatusCode::OK, bytes::Bytes::from(other))
    );
    let r = client()
        .delete(format!("{url}/v2/lib/c/manifests/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(get(url.clone(), d.clone()).await.0, StatusCode::NOT_FOUND);
    let r = client()
        .get(format!("{url}/v2/lib/other/manifests/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    registry.stop().await;
}

#[tokio::test]
async fn a_manifest_is_refused_by_its_size_before_it_is_read() {
    // A layer's digest asked for as a manifest: the reference's early layout links manifests
    // under `_layers` too, so the link is followed; the blob (a sparse TiB here) is refused by
    // its size, never read into memory.
    let backend = Backend::new(Kind::Filesystem).await;
    let tree = backend.tree();
    let hex = "ab".repeat(32);
    let link = tree.join(format!("repositories/lib/big/_layers/sha256/{hex}/link"));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::fs::write(&link, format!("sha256:{hex}")).unwrap();
    let data = tree.join(format!("blobs/sha256/ab/{hex}/data"));
    std::fs::create_dir_all(data.parent().unwrap()).unwrap();
    std::fs::File::create(&data)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let registry = Running::serve(&backend).await;
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        client()
            .get(format!(
                "{}/v2/lib/big/manifests/sha256:{hex}",
                registry.url
            ))
            .send(),
    )
    .await
    .expect("refused within 30 s, not read")
    .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_INVALID", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("larger than 4 MiB"),
        "{body}"
    );
    registry.stop().await;
}
