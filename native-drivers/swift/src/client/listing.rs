//! Container listings: one page of names (or, with a delimiter, names and subdirectories)
//! starting with a prefix, after a marker.

use reqwest::Method;
use serde::Deserialize;

use super::{Client, Failure, Target};

/// One entry of a container listing.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Entry {
    /// An object's name (absent for a `subdir`).
    #[serde(default)]
    pub name: Option<String>,
    /// A common prefix up to the delimiter (listings with a delimiter only).
    #[serde(default)]
    pub subdir: Option<String>,
    #[serde(default)]
    pub bytes: u64,
    /// Present for Static Large Object manifests.
    #[serde(default)]
    pub slo_etag: Option<String>,
    /// When the object was last written, in UTC without a zone (absent for a `subdir`).
    #[serde(default)]
    pub last_modified: Option<String>,
}

impl Entry {
    /// The name or the subdir, whichever this entry is.
    pub(crate) fn key(&self) -> &str {
        self.name
            .as_deref()
            .or(self.subdir.as_deref())
            .unwrap_or_default()
    }
}

impl Client {
    /// One page of the listing of names starting with `prefix`, after `marker`.
    pub(crate) async fn list(
        &self,
        prefix: &str,
        delimiter: Option<char>,
        marker: Option<&str>,
        limit: usize,
    ) -> std::result::Result<Vec<Entry>, Failure> {
        let mut req = self
            .request(Method::GET, Target::Container)
            .query("format", "json")
            .query("limit", limit.to_string());
        if !prefix.is_empty() {
            req = req.query("prefix", prefix);
        }
        if let Some(d) = delimiter {
            req = req.query("delimiter", d.to_string());
        }
        if let Some(m) = marker {
            req = req.query("marker", m);
        }
        let answer = self.call(&req).await?;
        if answer.body.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&answer.body)
            .map_err(|e| Failure::malformed(format!("a listing of {prefix:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_entries() {
        let page: Vec<Entry> = serde_json::from_str(
            r#"[{"subdir": "files/a/"}, {"name": "files/b", "bytes": 3, "hash": "x",
                "last_modified": "2026-11-26T21:49:02.612370", "content_type": "t"},
                {"name": "files/c", "bytes": 1500, "slo_etag": "\"e\""}]"#,
        )
        .unwrap();
        assert_eq!(page[0].key(), "files/a/");
        assert_eq!(page[1].key(), "files/b");
        assert_eq!(page[1].bytes, 3);
        assert!(page[1].slo_etag.is_none());
        assert!(page[2].slo_etag.is_some());
        assert_eq!(
            page[1].last_modified.as_deref(),
            Some("2026-11-26T21:49:02.612370")
        );
    }
}
