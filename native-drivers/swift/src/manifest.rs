//! Static Large Object manifests: the segments of a large object, named
//! `<segment prefix>/<%016d>` from 1 (as the reference names its segments), joined by one
//! manifest PUT with `?multipart-manifest=put`. Swift checks every segment when the manifest is
//! written, so a manifest that exists is complete: no reader or `stat` ever waits for segments.
//!
//! A manifest may list at most `max_manifest_segments` entries (1000 by default); a longer
//! object gets sub-manifests (`<segment prefix>/manifest-<level>-<%06d>`, themselves Static
//! Large Objects) and a manifest of those, as deep as needed. The top manifest carries the
//! segment prefix in `X-Object-Meta-Wharf-Segments`, so whatever replaces the object later can
//! remove the segments it leaves behind.

use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::Store;
use crate::client::{SEGMENTS_META, Target};
use crate::error::Failure;

/// Sub-manifests written at once.
const IN_FLIGHT: usize = 4;

/// One uploaded segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Part {
    pub size: u64,
    /// The MD5 Swift reported for it (checked again when the manifest is written).
    pub etag: String,
}

/// The name of segment `index` (from 0) under `prefix`.
pub(crate) fn segment_name(prefix: &str, index: usize) -> String {
    format!("{prefix}/{:016}", index + 1)
}

/// The index of a segment name under `prefix` (`None` for anything else, such as a
/// sub-manifest).
pub(crate) fn segment_index(prefix: &str, name: &str) -> Option<usize> {
    let n = name.strip_prefix(prefix)?.strip_prefix('/')?;
    if n.len() != 16 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse::<usize>().ok()?.checked_sub(1)
}

/// A sub-manifest to write: its name and entries.
pub(crate) type SubManifest = (String, Vec<Json>);

/// The manifest entries of `parts`, grouped into sub-manifests until one manifest can hold
/// them all: returns the top manifest's entries and the sub-manifests to write first, deepest
/// level first (each as its name and entries).
pub(crate) fn plan(
    container: &str,
    prefix: &str,
    parts: &[Part],
    max: usize,
) -> (Vec<Json>, Vec<Vec<SubManifest>>) {
    let max = max.max(2);
    let mut entries: Vec<(Json, u64)> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let entry = json!({
                "path": format!("/{container}/{}", segment_name(prefix, i)),
                "etag": p.etag,
                "size_bytes": p.size,
            });
            (entry, p.size)
        })
        .collect();
    let mut levels = Vec::new();
    let mut level = 0;
    while entries.len() > max {
        level += 1;
        let mut subs = Vec::new();
        let mut next = Vec::new();
        for (k, group) in entries.chunks(max).enumerate() {
            let name = format!("{prefix}/manifest-{level}-{k:06}");
            let size: u64 = group.iter().map(|(_, s)| s).sum();
            subs.push((name.clone(), group.iter().map(|(e, _)| e.clone()).collect()));
            // A sub-manifest's ETag is not its content's MD5: let Swift fill it in.
            next.push((
                json!({ "path": format!("/{container}/{name}"), "etag": null, "size_bytes": size }),
                size,
            ));
        }
        levels.push(subs);
        entries = next;
    }
    (entries.into_iter().map(|(e, _)| e).collect(), levels)
}

/// Writes one manifest, with `?heartbeat=on`: Swift checks every segment before it stores a
/// manifest, which takes a while for many segments on a busy cluster, so it answers 202 at once
/// and sends white space (every `yield_frequency` seconds of the `slo` filter) until it is done,
/// then the real outcome in the body. Without it, that check alone could outlast the driver's
/// `read_timeout` before the first byte, attempt after attempt. An outcome that is temporary
/// (a 503 while checking) is tried again, as the kit retries a temporary answer.
async fn put_manifest(
    inner: &Store,
    name: &str,
    entries: &[Json],
    segments: Option<&str>,
) -> Result<(), Failure> {
    let network = inner.config.network;
    let mut retry = 0;
    loop {
        let mut req = inner
            .client
            .request(Method::PUT, Target::Object(name))
            .query("multipart-manifest", "put")
            .query("heartbeat", "on")
            .header("accept", "application/json")
            .header("content-type", "application/octet-stream")
            .body(Json::Array(entries.to_vec()).to_string());
        if let Some(prefix) = segments {
            req = req.header(SEGMENTS_META, prefix);
        }
        let answer = inner.client.call(&req).await?;
        match heartbeat_outcome(answer) {
            Err(f) if f.is_temporary() && retry < network.max_retries => {
                retry += 1;
                tracing::debug!(name, retry, error = %f, "manifest PUT failed; again");
                tokio::time::sleep(network.backoff.delay(retry)).await;
            }
            outcome => return outcome,
        }
    }
}

/// The outcome of a manifest PUT sent with `?heartbeat=on`: a 202 whose JSON body says the
/// real status (`"Response Status": "201 Created"`) and, on failure, the segments at fault
/// (`"Errors": [[path, status], …]`). Any other success status is the outcome itself (a
/// cluster that ignores `heartbeat`).
fn heartbeat_outcome(answer: wharf_http::Answer) -> Result<(), Failure> {
    if answer.status != reqwest::StatusCode::ACCEPTED {
        return Ok(());
    }
    #[derive(Deserialize)]
    struct Outcome {
        #[serde(rename = "Response Status")]
        status: String,
        #[serde(rename = "Response Body", default)]
        body: String,
        #[serde(rename = "Errors", default)]
        errors: Vec<Vec<String>>,
    }
    let text = answer.body.trim_ascii();
    let outcome: Outcome = serde_json::from_slice(text).map_err(|e| {
        Failure::malformed(format!(
            "the outcome of a manifest PUT is not the JSON expected: {e}"
        ))
    })?;
    let code = outcome
        .status
        .split_whitespace()
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| reqwest::StatusCode::from_u16(c).ok())
        .ok_or_else(|| {
            Failure::malformed(format!(
                "the outcome of a manifest PUT has no status: {:?}",
                outcome.status
            ))
        })?;
    if code.is_success() {
        return Ok(());
    }
    // The segments at fault first (`/c/seg, 404 Not Found`), then Swift's explanation.
    let mut detail: Vec<String> = outcome.errors.iter().map(|e| e.join(", ")).collect();
    if !outcome.body.trim().is_empty() {
        detail.push(outcome.body);
    }
    let mut failed =
        wharf_http::ErrorAnswer::new(code, answer.headers, bytes::Bytes::from(detail.join("; ")));
    crate::error::read_error(&mut failed);
    Err(failed.into())
}

/// Writes the manifest `name` joining `parts` (segments under `prefix`).
pub(crate) async fn put(
    inner: &Store,
    name: &str,
    prefix: &str,
    parts: &[Part],
) -> Result<(), Failure> {
    let (top, levels) = plan(&inner.config.container, prefix, parts, inner.max_segments);
    for subs in &levels {
        let puts: Vec<_> = subs
            .iter()
            .map(|(sub, entries)| put_manifest(inner, sub, entries, None))
            .collect();
        futures::stream::iter(puts)
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
    }
    put_manifest(inner, name, &top, Some(prefix)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(n: usize) -> Vec<Part> {
        (0..n)
            .map(|i| Part {
                size: 10 + i as u64,
                etag: format!("e{i}"),
            })
            .collect()
    }

    fn accepted(body: &str) -> wharf_http::Answer {
        wharf_http::Answer {
            status: reqwest::StatusCode::ACCEPTED,
            headers: reqwest::header::HeaderMap::new(),
            // As Swift sends it: heartbeats of white space, then the outcome.
            body: bytes::Bytes::from(format!(" \n \n{body}")),
        }
    }

    #[test]
    fn a_heartbeat_outcome_is_read_from_the_body() {
        let created = r#"{"Response Status": "201 Created", "Etag": "\"60ad\"", "Response Body": "", "Errors": []}"#;
        assert!(heartbeat_outcome(accepted(created)).is_ok());
        let missing = r#"{"Response Status": "400 Bad Request", "Response Body": "Bad Request\nThe server could not comply", "Errors": [["/c/seg", "404 Not Found"]]}"#;
        let f = heartbeat_outcome(accepted(missing)).unwrap_err();
        assert_eq!(f.status(), Some(reqwest::StatusCode::BAD_REQUEST));
        assert!(!f.is_temporary());
        let message = &f.answer().expect("an answer").message;
        assert!(message.contains("/c/seg, 404 Not Found"), "{message}");
        let busy = r#"{"Response Status": "503 Service Unavailable", "Errors": []}"#;
        assert!(
            heartbeat_outcome(accepted(busy))
                .unwrap_err()
                .is_temporary()
        );
        for bad in ["", "not json", r#"{"Response Status": "soon"}"#] {
            let f = heartbeat_outcome(accepted(bad)).unwrap_err();
            assert!(!f.is_temporary() && f.answer().is_none(), "{bad:?}");
        }
        // A cluster that ignores `heartbeat` answers the outcome itself.
        let direct = wharf_http::Answer {
            status: reqwest::StatusCode::CREATED,
            ..accepted("")
        };
        assert!(heartbeat_outcome(direct).is_ok());
    }

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(segment_name("s/abc/def", 0), "s/abc/def/0000000000000001");
        assert_eq!(
            segment_index("s/abc/def", "s/abc/def/0000000000000001"),
            Some(0)
        );
        assert_eq!(
            segment_index("s/abc/def", "s/abc/def/0000000000000000"),
            None
        );
        assert_eq!(
            segment_index("s/abc/def", "s/abc/def/manifest-1-000000"),
            None
        );
        assert_eq!(
            segment_index("s/abc/def", "s/abc/deff/0000000000000001"),
            None
        );
    }

    #[test]
    fn a_short_object_has_one_manifest() {
        let (top, levels) = plan("c", "seg", &parts(3), 1000);
        assert!(levels.is_empty());
        assert_eq!(
            top[2],
            json!({"path": "/c/seg/0000000000000003", "etag": "e2", "size_bytes": 12})
        );
    }

    #[test]
    fn a_long_object_gets_sub_manifests() {
        // 10 parts, at most 3 per manifest: 4 sub-manifests, then 2, then the top of 2.
        let (top, levels) = plan("c", "seg", &parts(10), 3);
        assert_eq!(levels.len(), 2);
        assert_eq!(levels[0].len(), 4);
        assert_eq!(levels[0][3].1.len(), 1);
        assert_eq!(levels[1].len(), 2);
        assert_eq!(top.len(), 2);
        let total: u64 = top.iter().map(|e| e["size_bytes"].as_u64().unwrap()).sum();
        assert_eq!(total, parts(10).iter().map(|p| p.size).sum::<u64>());
        assert_eq!(top[0]["path"], json!("/c/seg/manifest-2-000000"));
        assert_eq!(levels[1][0].1[0]["path"], json!("/c/seg/manifest-1-000000"));
    }
}
