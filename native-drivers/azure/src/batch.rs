//! Blob Batch: up to 256 Delete Blob sub-requests in one `multipart/mixed` POST to the
//! container, each sub-request signed on its own, and the per-blob outcome read back from the
//! multipart answer. Accounts that do not offer batches (hierarchical namespaces, some
//! emulators) answer the POST with an error, and the caller falls back to one request per blob.

use std::time::SystemTime;

use reqwest::{Method, StatusCode};

use crate::client::{Client, Failure, Target};
use crate::error::is_blob_not_found;

/// The most sub-requests one batch may hold.
pub(crate) const MAX_BATCH: usize = 256;

/// What happened to one blob of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Deleted,
    NotFound,
    Failed(u16, String),
}

/// Deletes `blobs` (at most [`MAX_BATCH`]) in one Blob Batch request; the outcomes are in the
/// order of `blobs`.
pub(crate) async fn delete(client: &Client, blobs: &[String]) -> Result<Vec<Outcome>, Failure> {
    debug_assert!(!blobs.is_empty() && blobs.len() <= MAX_BATCH);
    let boundary = format!("batch_{:032x}", rand::random::<u128>());
    let mut body = String::with_capacity(blobs.len() * 400);
    for (i, blob) in blobs.iter().enumerate() {
        let url = reqwest::Url::parse(&client.url(Target::Blob(blob)))
            .map_err(|e| Failure::malformed(format!("cannot build a URL: {e}")))?;
        let headers = vec![
            (
                "x-ms-date".to_owned(),
                httpdate::fmt_http_date(SystemTime::now()),
            ),
            ("x-ms-delete-snapshots".to_owned(), "include".to_owned()),
            ("content-length".to_owned(), "0".to_owned()),
        ];
        let authorization = client
            .authorization("DELETE", url.path(), &[], &headers)
            .await?;
        if i > 0 {
            body.push_str("\r\n");
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: \
             binary\r\nContent-ID: {i}\r\n\r\nDELETE {} HTTP/1.1\r\n",
            url.path()
        ));
        for (name, value) in &headers {
            body.push_str(&format!("{name}: {value}\r\n"));
        }
        body.push_str(&format!("authorization: {authorization}\r\n\r\n"));
    }
    body.push_str(&format!("\r\n--{boundary}--\r\n"));
    let req = client
        .request(Method::POST, Target::Container)
        .query("restype", "container")
        .query("comp", "batch")
        .header(
            "content-type",
            format!("multipart/mixed; boundary={boundary}"),
        )
        .body(body);
    let answer = client.call(&req).await?;
    let content_type = answer.header("content-type").unwrap_or_default().to_owned();
    let text = String::from_utf8_lossy(&answer.body);
    parse_answer(&content_type, &text, blobs.len())
        .map_err(|why| Failure::malformed(format!("cannot read the batch answer: {why}")))
}

/// Reads the multipart answer of a batch of `count` sub-requests.
fn parse_answer(content_type: &str, body: &str, count: usize) -> Result<Vec<Outcome>, String> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"'))
        .ok_or_else(|| format!("no boundary in Content-Type {content_type:?}"))?;
    let delimiter = format!("--{boundary}");
    let mut outcomes: Vec<Option<Outcome>> = vec![None; count];
    for (position, part) in body.split(delimiter.as_str()).skip(1).enumerate() {
        if part.starts_with("--") {
            break;
        }
        let mut id = None;
        let mut status = None;
        let mut code = String::new();
        for line in part.lines() {
            let line = line.trim();
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-id:") {
                id = v.trim().parse::<usize>().ok();
            } else if let Some(rest) = line.strip_prefix("HTTP/1.1 ") {
                status = rest.split(' ').next().and_then(|s| s.parse::<u16>().ok());
            } else if lower.starts_with("x-ms-error-code:") {
                code = line["x-ms-error-code:".len()..].trim().to_owned();
            }
        }
        let status = status.ok_or_else(|| format!("part {position} has no status line"))?;
        let index = id.unwrap_or(position);
        let slot = outcomes
            .get_mut(index)
            .ok_or_else(|| format!("part {position} answers sub-request {index} of {count}"))?;
        let not_found = is_blob_not_found(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            &code,
        );
        *slot = Some(if (200..300).contains(&status) {
            Outcome::Deleted
        } else if not_found {
            Outcome::NotFound
        } else {
            Outcome::Failed(status, code)
        });
    }
    outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| o.ok_or_else(|| format!("no answer for sub-request {i}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_matched_by_content_id() {
        let body = "--batchresponse_1\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
                    HTTP/1.1 404 The specified blob does not exist.\r\nx-ms-error-code: BlobNotFound\r\n\
                    x-ms-version: 2021-12-02\r\n\r\n\
                    --batchresponse_1\r\nContent-Type: application/http\r\nContent-ID: 0\r\n\r\n\
                    HTTP/1.1 202 Accepted\r\nx-ms-delete-type-permanent: true\r\n\r\n\
                    --batchresponse_1\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\n\
                    HTTP/1.1 403 Forbidden\r\nx-ms-error-code: AuthorizationFailure\r\n\r\n\
                    --batchresponse_1--\r\n";
        let outcomes = parse_answer("multipart/mixed; boundary=batchresponse_1", body, 3).unwrap();
        assert_eq!(
            outcomes,
            [
                Outcome::Deleted,
                Outcome::NotFound,
                Outcome::Failed(403, "AuthorizationFailure".into())
            ]
        );
        assert!(parse_answer("multipart/mixed", body, 3).is_err());
        assert!(parse_answer("multipart/mixed; boundary=batchresponse_1", body, 4).is_err());
    }
}
