//! The bulk-delete middleware: many names deleted in one request, and the JSON answer it (and
//! deleting a Static Large Object with its segments) gives.

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use wharf_http::{ErrorAnswer, Idempotency};

use super::{Client, Failure, Target, encode_path};

impl Client {
    /// Deletes `names` with the bulk-delete middleware in one request.
    pub(crate) async fn bulk_delete(
        &self,
        names: &[String],
    ) -> std::result::Result<BulkResult, Failure> {
        let container = encode_path(&self.config.container);
        let mut body = String::with_capacity(names.len() * 64);
        for n in names {
            body.push('/');
            body.push_str(&container);
            body.push('/');
            body.push_str(&encode_path(n));
            body.push('\n');
        }
        let req = self
            .request(Method::POST, Target::Account)
            .query_flag("bulk-delete")
            .header("content-type", "text/plain")
            .header("accept", "application/json")
            .body(body)
            // Deleting what is already gone is harmless, so a lost answer may be repeated.
            .idempotency(Idempotency::Idempotent);
        let answer = self.call(&req).await?;
        check_bulk_answer(&answer.body, "bulk delete")
    }
}

/// What a bulk operation (bulk delete, or deleting a manifest with its segments) did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BulkResult {
    pub deleted: u64,
    pub not_found: u64,
}

#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(rename = "Response Status")]
    status: String,
    #[serde(rename = "Number Deleted", default)]
    deleted: u64,
    #[serde(rename = "Number Not Found", default)]
    not_found: u64,
    #[serde(rename = "Errors", default)]
    errors: Vec<Vec<String>>,
    #[serde(rename = "Response Body", default)]
    body: String,
}

/// Reads the bulk middleware's JSON answer (which streams whitespace while it works, and says
/// 200 in HTTP whatever happened).
pub(crate) fn check_bulk_answer(
    body: &[u8],
    what: &str,
) -> std::result::Result<BulkResult, Failure> {
    let answer: BulkAnswer = serde_json::from_slice(body.trim_ascii())
        .map_err(|e| Failure::malformed(format!("the bulk answer of {what}: {e}")))?;
    let code: u16 = answer
        .status
        .split_whitespace()
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or(500);
    let failed: Vec<&Vec<String>> = answer
        .errors
        .iter()
        .filter(|e| e.get(1).is_none_or(|s| !s.starts_with("404")))
        .collect();
    if (200..300).contains(&code) && failed.is_empty() || code == 404 {
        return Ok(BulkResult {
            deleted: answer.deleted,
            not_found: answer.not_found,
        });
    }
    let status = StatusCode::from_u16(if (200..300).contains(&code) {
        500
    } else {
        code
    })
    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut message = format!("{}: {}", answer.status, answer.body.trim());
    if let Some(first) = failed.first() {
        message.push_str(&format!(" (first failure: {})", first.join(" ")));
    }
    let mut answer = ErrorAnswer::status(status);
    answer.message = message;
    Err(answer.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_answers() {
        let ok = br#"

        {"Response Status": "200 OK", "Response Body": "", "Number Deleted": 3, "Number Not Found": 1, "Errors": []}"#;
        assert_eq!(
            check_bulk_answer(ok, "x").unwrap(),
            BulkResult {
                deleted: 3,
                not_found: 1
            }
        );
        let bad = br#"{"Response Status": "400 Bad Request", "Response Body": "Invalid", "Number Deleted": 0, "Number Not Found": 0, "Errors": [["/c/o", "409 Conflict"]]}"#;
        let e = check_bulk_answer(bad, "x").unwrap_err();
        assert_eq!(e.status(), Some(StatusCode::BAD_REQUEST));
        let partly = br#"{"Response Status": "200 OK", "Response Body": "", "Number Deleted": 1, "Number Not Found": 0, "Errors": [["/c/o", "503 Service Unavailable"]]}"#;
        assert!(check_bulk_answer(partly, "x").is_err());
    }
}
