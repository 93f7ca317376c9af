//! The Blob service's XML documents the driver reads (a listing page, a block list, an error, a
//! user delegation key) and the one it writes (a block list to commit), through serde.

use std::time::SystemTime;

use percent_encoding::percent_decode_str;
use serde::Deserialize;

/// A blob in a listing page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedBlob {
    pub name: String,
    pub size: u64,
    pub last_modified: SystemTime,
}

/// One page of List Blobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListPage {
    pub blobs: Vec<ListedBlob>,
    /// Virtual directories (`BlobPrefix`), each ending with the delimiter.
    pub prefixes: Vec<String>,
    /// Where the next page starts, if there is one.
    pub next_marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnumerationResults {
    #[serde(default)]
    blobs: Option<Blobs>,
    #[serde(default)]
    next_marker: Option<String>,
}

#[derive(Deserialize, Default)]
struct Blobs {
    #[serde(rename = "$value", default)]
    items: Vec<BlobsItem>,
}

#[derive(Deserialize)]
enum BlobsItem {
    Blob(BlobXml),
    BlobPrefix(PrefixXml),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BlobXml {
    name: NameXml,
    properties: PropertiesXml,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrefixXml {
    name: NameXml,
}

/// A name, percent-encoded by the service when it holds characters XML cannot carry.
#[derive(Deserialize)]
struct NameXml {
    #[serde(rename = "@Encoded", default)]
    encoded: Option<String>,
    #[serde(rename = "$text", default)]
    value: String,
}

impl NameXml {
    fn decoded(self) -> String {
        if self.encoded.as_deref() == Some("true") {
            percent_decode_str(&self.value)
                .decode_utf8_lossy()
                .into_owned()
        } else {
            self.value
        }
    }
}

#[derive(Deserialize)]
struct PropertiesXml {
    #[serde(rename = "Last-Modified")]
    last_modified: String,
    #[serde(rename = "Content-Length")]
    content_length: u64,
}

/// Parses a List Blobs page; `Err` names what is wrong.
pub(crate) fn list_page(body: &[u8]) -> Result<ListPage, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the listing is not UTF-8".to_owned())?;
    let results: EnumerationResults =
        quick_xml::de::from_str(text).map_err(|e| format!("cannot read the listing: {e}"))?;
    let mut page = ListPage {
        next_marker: results.next_marker.filter(|m| !m.is_empty()),
        ..ListPage::default()
    };
    for item in results.blobs.unwrap_or_default().items {
        match item {
            BlobsItem::Blob(b) => {
                let last_modified = httpdate::parse_http_date(&b.properties.last_modified)
                    .map_err(|_| format!("bad Last-Modified {:?}", b.properties.last_modified))?;
                page.blobs.push(ListedBlob {
                    name: b.name.decoded(),
                    size: b.properties.content_length,
                    last_modified,
                });
            }
            BlobsItem::BlobPrefix(p) => page.prefixes.push(p.name.decoded()),
            BlobsItem::Other => {}
        }
    }
    Ok(page)
}

/// A block of a block list: its ID (base64, as the service shows it) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub id: String,
    pub size: u64,
}

/// Get Block List's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BlockList {
    pub committed: Vec<Block>,
    pub uncommitted: Vec<Block>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BlockListXml {
    #[serde(default)]
    committed_blocks: Option<BlocksXml>,
    #[serde(default)]
    uncommitted_blocks: Option<BlocksXml>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct BlocksXml {
    #[serde(default)]
    block: Vec<BlockXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BlockXml {
    name: String,
    size: u64,
}

/// Parses Get Block List's answer.
pub(crate) fn block_list(body: &[u8]) -> Result<BlockList, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the block list is not UTF-8".to_owned())?;
    let xml: BlockListXml =
        quick_xml::de::from_str(text).map_err(|e| format!("cannot read the block list: {e}"))?;
    let blocks = |b: Option<BlocksXml>| {
        b.unwrap_or_default()
            .block
            .into_iter()
            .map(|b| Block {
                id: b.name,
                size: b.size,
            })
            .collect()
    };
    Ok(BlockList {
        committed: blocks(xml.committed_blocks),
        uncommitted: blocks(xml.uncommitted_blocks),
    })
}

/// The body of Put Block List committing `ids` in order (each the latest version of the block:
/// uncommitted if staged, else already committed, so a retried commit is harmless).
pub(crate) fn commit_body<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut body = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for id in ids {
        // Base64 IDs need no escaping.
        body.push_str("<Latest>");
        body.push_str(id);
        body.push_str("</Latest>");
    }
    body.push_str("</BlockList>");
    body
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorXml {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The code and message of an error body, when it has the service's form.
pub(crate) fn error(body: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(body).ok()?;
    let xml: ErrorXml = quick_xml::de::from_str(text.trim_start_matches('\u{feff}')).ok()?;
    Some((xml.code, xml.message))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DelegationKeyXml {
    signed_oid: String,
    signed_tid: String,
    signed_start: String,
    signed_expiry: String,
    signed_service: String,
    signed_version: String,
    value: String,
}

/// Get User Delegation Key's answer: `(oid, tid, start, expiry, service, version, value)`.
pub(crate) type DelegationKeyFields = (String, String, String, String, String, String, String);

/// Parses Get User Delegation Key's answer.
pub(crate) fn delegation_key(body: &[u8]) -> Result<DelegationKeyFields, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the key is not UTF-8".to_owned())?;
    let k: DelegationKeyXml = quick_xml::de::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("cannot read the user delegation key: {e}"))?;
    Ok((
        k.signed_oid,
        k.signed_tid,
        k.signed_start,
        k.signed_expiry,
        k.signed_service,
        k.signed_version,
        k.value,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_pages_with_blobs_and_prefixes() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c">
  <Prefix>r/</Prefix><MaxResults>5000</MaxResults><Delimiter>/</Delimiter>
  <Blobs>
    <Blob><Name>r/a</Name><Properties><Creation-Time>Mon, 01 Jan 2024 00:00:00 GMT</Creation-Time>
      <Last-Modified>Mon, 01 Jan 2024 00:00:01 GMT</Last-Modified><Etag>0x1</Etag>
      <Content-Length>12</Content-Length><BlobType>BlockBlob</BlobType></Properties><Metadata/></Blob>
    <BlobPrefix><Name>r/b/</Name></BlobPrefix>
    <Blob><Name Encoded="true">r/c%20d</Name><Properties>
      <Last-Modified>Mon, 01 Jan 2024 00:00:02 GMT</Last-Modified><Content-Length>0</Content-Length></Properties></Blob>
  </Blobs>
  <NextMarker>next-page</NextMarker>
</EnumerationResults>"#;
        let page = list_page(body).unwrap();
        assert_eq!(page.prefixes, ["r/b/"]);
        assert_eq!(page.blobs.len(), 2);
        assert_eq!(
            (page.blobs[0].name.as_str(), page.blobs[0].size),
            ("r/a", 12)
        );
        assert_eq!(
            page.blobs[0].last_modified,
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_704_067_201)
        );
        assert_eq!(page.blobs[1].name, "r/c d");
        assert_eq!(page.next_marker.as_deref(), Some("next-page"));
        let empty = list_page(
            br#"<EnumerationResults><Prefix>x/</Prefix><Blobs /><NextMarker /></EnumerationResults>"#,
        )
        .unwrap();
        assert_eq!(empty, ListPage::default());
        assert!(list_page(b"<nope").is_err());
    }

    #[test]
    fn block_lists() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?><BlockList>
<CommittedBlocks><Block><Name>YQ==</Name><Size>4</Size></Block></CommittedBlocks>
<UncommittedBlocks><Block><Name>Yg==</Name><Size>5</Size></Block><Block><Name>Yw==</Name><Size>6</Size></Block></UncommittedBlocks>
</BlockList>"#;
        let list = block_list(body).unwrap();
        assert_eq!(
            list.committed,
            [Block {
                id: "YQ==".into(),
                size: 4
            }]
        );
        assert_eq!(list.uncommitted.len(), 2);
        assert_eq!(
            list.uncommitted[1],
            Block {
                id: "Yw==".into(),
                size: 6
            }
        );
        let list =
            block_list(b"<BlockList><CommittedBlocks/><UncommittedBlocks/></BlockList>").unwrap();
        assert_eq!(list, BlockList::default());
        assert_eq!(
            commit_body(["YQ==", "Yg=="]),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>YQ==</Latest>\
             <Latest>Yg==</Latest></BlockList>"
        );
    }

    #[test]
    fn errors_and_delegation_keys() {
        let e = error(
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code>\
             <Message>The specified blob does not exist.\nRequestId:1</Message></Error>"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(e.0, "BlobNotFound");
        assert!(e.1.starts_with("The specified blob does not exist."));
        assert!(error(b"not xml").is_none());
        let k = delegation_key(
            b"<UserDelegationKey><SignedOid>o</SignedOid><SignedTid>t</SignedTid>\
              <SignedStart>s</SignedStart><SignedExpiry>e</SignedExpiry><SignedService>b</SignedService>\
              <SignedVersion>v</SignedVersion><Value>a2V5</Value></UserDelegationKey>",
        )
        .unwrap();
        assert_eq!(k.0, "o");
        assert_eq!(k.6, "a2V5");
    }
}
