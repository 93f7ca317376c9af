//! Resumable uploads as staged blocks of the target block blob, committed with one Put Block
//! List.
//!
//! An upload's state lives only in Azure, in the uncommitted block list of the blob it will
//! become, which no listing, read or `stat` ever shows. Each block ID names the upload and the
//! block's place in it (`wharf-v1-<generation>-<nonce>-<kind>-<index>`, base64):
//!
//! - **data** blocks `d` hold the bytes, index 0, 1, 2, … Staging a block under an ID that is
//!   already staged replaces it, so a retried block is never stored twice.
//! - an **open** marker `o` records an upload that holds no data yet (a new upload that must
//!   supersede an earlier one, or an empty upload being closed).
//! - a **cancel** marker `c` records that the upload was cancelled.
//!
//! `writer(path, false)` starts generation *g + 1* where *g* is the newest generation staged, so
//! earlier uncommitted uploads are discarded by being superseded (Azure drops their blocks at the
//! next commit, or after a week). `writer(path, true)` resumes the newest generation unless it
//! was cancelled: its size is the sum of its data blocks 0…k that are all present, which is
//! exactly what Azure holds (a block staged after a gap is overwritten when the upload goes on).
//! `commit` lists the data blocks in order; the committed content replaces the blob atomically
//! and Azure discards every other uncommitted block. Committed content is never touched before
//! then, so `cancel` leaves the path as it was.
//!
//! Writes are buffered into blocks of 4 MiB (32 MiB from the 8192nd block on, so an upload can
//! reach the service's 50 000-block limit only beyond a terabyte) and up to four blocks are
//! staged at once. `size()` counts only blocks Azure acknowledged, in order, so it never runs
//! ahead of what Azure holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use wharf_object_store::PartPipeline;
use wharf_runtime::{Error, FileWriter, Result};

use crate::blob::Properties;
use crate::client::{Client, Failure};
use crate::xml::BlockList;

const ID_PREFIX: &str = "wharf-v1-";
/// The length of every block ID before base64 (a multiple of 3, so the encoding has no
/// padding). Azure wants all block IDs of a blob to have the same length.
const ID_LEN: usize = 45;
const SMALL_BLOCK: usize = 4 << 20;
const LARGE_BLOCK: usize = 32 << 20;
const LARGE_FROM_INDEX: u32 = 8192;
const IN_FLIGHT: usize = 4;

/// The size of the block at `index`.
fn block_size(index: u32) -> usize {
    if index < LARGE_FROM_INDEX {
        SMALL_BLOCK
    } else {
        LARGE_BLOCK
    }
}

/// Which upload a block belongs to: newer generations supersede older ones; the nonce keeps two
/// writers that (against the contract) opened the same generation apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct UploadKey {
    generation: u32,
    nonce: u64,
}

impl UploadKey {
    fn after(latest: Option<UploadKey>) -> Self {
        Self {
            generation: latest.map_or(1, |k| k.generation.saturating_add(1)),
            nonce: rand::random(),
        }
    }

    /// A key for the blocks of a large `put_content` (never an upload).
    pub(crate) fn for_put() -> Self {
        Self {
            generation: 0,
            nonce: rand::random(),
        }
    }
}

/// What a block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Data,
    Open,
    Cancelled,
    /// A part of a large `put_content`.
    Put,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Data => 'd',
            Kind::Open => 'o',
            Kind::Cancelled => 'c',
            Kind::Put => 'p',
        }
    }

    fn from_letter(c: u8) -> Option<Self> {
        Some(match c {
            b'd' => Kind::Data,
            b'o' => Kind::Open,
            b'c' => Kind::Cancelled,
            b'p' => Kind::Put,
            _ => return None,
        })
    }
}

/// The base64 block ID of block `index` of kind `kind` of upload `key`.
pub(crate) fn block_id(key: UploadKey, kind: Kind, index: u32) -> String {
    let raw = format!(
        "{ID_PREFIX}{:08x}-{:016x}-{}-{index:08x}",
        key.generation,
        key.nonce,
        kind.letter()
    );
    debug_assert_eq!(raw.len(), ID_LEN);
    STANDARD.encode(raw)
}

/// Reads a block ID of ours; `None` for anyone else's.
fn parse_block_id(id: &str) -> Option<(UploadKey, Kind, u32)> {
    let raw = STANDARD.decode(id).ok()?;
    let raw = std::str::from_utf8(&raw).ok()?;
    let rest = raw.strip_prefix(ID_PREFIX)?;
    if raw.len() != ID_LEN {
        return None;
    }
    let mut parts = rest.split('-');
    let generation = u32::from_str_radix(parts.next()?, 16).ok()?;
    let nonce = u64::from_str_radix(parts.next()?, 16).ok()?;
    let kind = parts.next()?.as_bytes();
    let kind = if kind.len() == 1 {
        Kind::from_letter(kind[0])?
    } else {
        return None;
    };
    let index = u32::from_str_radix(parts.next()?, 16).ok()?;
    parts
        .next()
        .is_none()
        .then_some((UploadKey { generation, nonce }, kind, index))
}

/// The uploads Azure holds for one blob.
#[derive(Debug, Default, PartialEq, Eq)]
struct Uploads {
    /// The newest upload (cancelled or not).
    latest: Option<UploadKey>,
    /// The newest upload if it was not cancelled, with the sizes of its data blocks 0…k.
    live: Option<(UploadKey, Vec<u64>)>,
}

impl Uploads {
    fn of(list: &BlockList) -> Self {
        #[derive(Default)]
        struct Seen {
            cancelled: bool,
            data: BTreeMap<u32, u64>,
        }
        let mut uploads: BTreeMap<UploadKey, Seen> = BTreeMap::new();
        for block in &list.uncommitted {
            let Some((key, kind, index)) = parse_block_id(&block.id) else {
                continue;
            };
            match kind {
                Kind::Put => {}
                Kind::Open => {
                    uploads.entry(key).or_default();
                }
                Kind::Cancelled => uploads.entry(key).or_default().cancelled = true,
                Kind::Data => {
                    uploads
                        .entry(key)
                        .or_default()
                        .data
                        .insert(index, block.size);
                }
            }
        }
        let Some((&latest, seen)) = uploads.last_key_value() else {
            return Self::default();
        };
        let live = (!seen.cancelled).then(|| {
            let sizes = seen
                .data
                .iter()
                .enumerate()
                .take_while(|(expected, (index, _))| **index as usize == *expected)
                .map(|(_, (_, size))| *size)
                .collect();
            (latest, sizes)
        });
        Self {
            latest: Some(latest),
            live,
        }
    }
}

/// A writer's upload, found or started in Azure.
pub(crate) struct Opened {
    key: UploadKey,
    next_index: u32,
    size: u64,
    /// True when Azure holds a trace of this upload (a block or a marker).
    visible: bool,
}

/// Finds the upload to resume (`append`) or starts a new one, as the module docs describe.
pub(crate) async fn open(client: &Client, blob: &str, path: &str, append: bool) -> Result<Opened> {
    let fail = |f: Failure| f.into_error("writer", path);
    let list = match client.block_list(blob).await {
        Ok(list) => list,
        // An append or page blob (as the reference driver writes them) has no block list.
        Err(f) if f.is("InvalidBlobType") => {
            return open_over_other_blob_type(client, blob, path, append).await;
        }
        Err(f) => return Err(fail(f)),
    };
    let Some(list) = list else {
        if append {
            return Err(Error::not_found(path));
        }
        return Ok(Opened {
            key: UploadKey::after(None),
            next_index: 0,
            size: 0,
            visible: false,
        });
    };
    let uploads = Uploads::of(&list);
    if append {
        if let Some((key, sizes)) = uploads.live {
            return Ok(Opened {
                key,
                next_index: sizes.len() as u32,
                size: sizes.iter().sum(),
                visible: true,
            });
        }
        let committed = client.properties(blob).await.map_err(fail)?;
        return match committed {
            None => Err(Error::not_found(path)),
            Some(p) if p.size == 0 => Ok(Opened {
                key: UploadKey::after(uploads.latest),
                next_index: 0,
                size: 0,
                visible: false,
            }),
            Some(_) => Err(append_unsupported(path)),
        };
    }
    let key = UploadKey::after(uploads.latest);
    let visible = uploads.live.is_some();
    if visible {
        // An earlier upload would otherwise still be the newest: supersede it now.
        stage_marker(client, blob, path, key, Kind::Open).await?;
    }
    Ok(Opened {
        key,
        next_index: 0,
        size: 0,
        visible,
    })
}

fn append_unsupported(path: &str) -> Error {
    Error::unsupported(format!(
        "append to the committed content of {path} (only an upload closed without commit, or \
         an empty file, can be resumed)"
    ))
}

/// A blob of another type (append or page blob) is where the upload must go: an empty one is
/// turned into an empty block blob (same content) for an append; for a new upload it is deleted,
/// since blocks cannot be staged beside it.
async fn open_over_other_blob_type(
    client: &Client,
    blob: &str,
    path: &str,
    append: bool,
) -> Result<Opened> {
    let fail = |f: Failure| f.into_error("writer", path);
    let Some(props) = client.properties(blob).await.map_err(fail)? else {
        return if append {
            Err(Error::not_found(path))
        } else {
            Ok(Opened {
                key: UploadKey::after(None),
                next_index: 0,
                size: 0,
                visible: false,
            })
        };
    };
    if append && props.size > 0 {
        return Err(append_unsupported(path));
    }
    replace_other_blob_type(client, blob, &props, append)
        .await
        .map_err(fail)?;
    Ok(Opened {
        key: UploadKey::after(None),
        next_index: 0,
        size: 0,
        visible: false,
    })
}

async fn replace_other_blob_type(
    client: &Client,
    blob: &str,
    props: &Properties,
    keep_empty_file: bool,
) -> std::result::Result<(), Failure> {
    tracing::debug!(blob, blob_type = %props.blob_type, "azure: replacing a blob of another type");
    // Put Blob may not change a blob's type: delete the old blob (only if unchanged) first.
    client.delete_blob(blob, Some(&props.etag)).await?;
    if keep_empty_file {
        client.put_blob(blob, Bytes::new(), None).await?;
    }
    Ok(())
}

async fn stage_marker(
    client: &Client,
    blob: &str,
    path: &str,
    key: UploadKey,
    kind: Kind,
) -> Result<()> {
    let id = block_id(key, kind, 0);
    client
        .put_block(blob, &id, Bytes::from_static(b"-"))
        .await
        .map_err(|f| f.into_error("writer", path))
}

/// The writer of one upload.
pub(crate) struct AzureWriter {
    client: Arc<Client>,
    blob: Arc<str>,
    key: UploadKey,
    next_index: u32,
    /// The buffer and the blocks being staged; a failed block breaks it, since the upload's
    /// tail in Azure is then uncertain (closing keeps what Azure holds for a resume).
    blocks: PartPipeline<()>,
    visible: bool,
    committed: bool,
}

impl AzureWriter {
    pub(crate) fn new(client: Arc<Client>, blob: &str, path: &str, opened: Opened) -> Self {
        Self {
            client,
            blob: Arc::from(blob),
            key: opened.key,
            next_index: opened.next_index,
            blocks: PartPipeline::new(path, IN_FLIGHT, opened.size),
            visible: opened.visible,
            committed: false,
        }
    }

    fn path(&self) -> &str {
        self.blocks.path()
    }

    /// Stages every full block in the buffer, and the rest too when `all`.
    async fn flush(&mut self, all: bool) -> Result<()> {
        while let Some(data) = self.blocks.next_part(block_size(self.next_index), all) {
            let id = block_id(self.key, Kind::Data, self.next_index);
            self.next_index += 1;
            self.visible = true;
            let len = data.len() as u64;
            let (client, blob) = (self.client.clone(), self.blob.clone());
            let path: Arc<str> = Arc::from(self.path());
            let stage = async move {
                client
                    .put_block(&blob, &id, data)
                    .await
                    .map_err(|f| f.into_error("write", &path))
            };
            self.blocks.send(len, stage).await?;
        }
        Ok(())
    }

    fn data_ids(&self) -> Vec<String> {
        (0..self.next_index)
            .map(|i| block_id(self.key, Kind::Data, i))
            .collect()
    }
}

#[async_trait]
impl FileWriter for AzureWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.blocks.check()?;
        self.blocks.buffer(&data);
        self.flush(false).await
    }

    fn size(&self) -> u64 {
        self.blocks.acknowledged()
    }

    async fn close(&mut self) -> Result<()> {
        if self.committed {
            return Ok(());
        }
        if !self.blocks.is_broken() {
            self.flush(true).await?;
        }
        self.blocks.clear_buffer();
        self.blocks.settle_all().await?;
        if !self.visible {
            // An upload with no data leaves a marker, so that it can be resumed (at size 0).
            stage_marker(&self.client, &self.blob, self.path(), self.key, Kind::Open).await?;
            self.visible = true;
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        self.blocks.check()?;
        self.flush(true).await?;
        self.blocks.settle_all().await?;
        let ids = self.data_ids();
        self.client
            .put_block_list(&self.blob, &ids)
            .await
            .map_err(|f| f.into_error("commit", self.path()))?;
        self.committed = true;
        Ok(())
    }

    async fn cancel(&mut self) -> Result<()> {
        self.blocks.clear_buffer();
        // Blocks in flight may land or not; the cancel marker makes the whole upload void.
        let _ = self.blocks.settle_all().await;
        if self.visible {
            stage_marker(
                &self.client,
                &self.blob,
                self.path(),
                self.key,
                Kind::Cancelled,
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::Block;

    fn key(generation: u32, nonce: u64) -> UploadKey {
        UploadKey { generation, nonce }
    }

    fn block(key: UploadKey, kind: Kind, index: u32, size: u64) -> Block {
        Block {
            id: block_id(key, kind, index),
            size,
        }
    }

    #[test]
    fn block_ids_round_trip_and_have_one_length() {
        let k = key(0xfffffffe, u64::MAX);
        for kind in [Kind::Data, Kind::Open, Kind::Cancelled, Kind::Put] {
            for index in [0, 7, 49_999, u32::MAX] {
                let id = block_id(k, kind, index);
                assert_eq!(id.len(), 60, "{id}");
                assert!(!id.contains('='), "{id}");
                assert_eq!(parse_block_id(&id), Some((k, kind, index)));
            }
        }
        assert_eq!(parse_block_id("YWFhYQ=="), None);
        assert_eq!(parse_block_id("not base64!"), None);
    }

    #[test]
    fn the_newest_upload_is_live_unless_cancelled() {
        let (old, new) = (key(1, 9), key(2, 3));
        let list = BlockList {
            committed: vec![],
            uncommitted: vec![
                block(old, Kind::Data, 0, 10),
                block(new, Kind::Data, 1, 5),
                block(new, Kind::Open, 0, 1),
                block(new, Kind::Data, 0, 4),
                block(new, Kind::Data, 3, 7),
                Block {
                    id: "Zm9yZWlnbg==".into(),
                    size: 3,
                },
                block(UploadKey::for_put(), Kind::Put, 0, 100),
            ],
        };
        let uploads = Uploads::of(&list);
        assert_eq!(uploads.latest, Some(new));
        // Block 3 follows a gap: it is not counted (and is overwritten when the upload goes on).
        assert_eq!(uploads.live, Some((new, vec![4, 5])));

        let mut list = list;
        list.uncommitted.push(block(new, Kind::Cancelled, 0, 1));
        let uploads = Uploads::of(&list);
        assert_eq!(uploads.latest, Some(new));
        assert_eq!(uploads.live, None);
        assert_eq!(UploadKey::after(uploads.latest).generation, 3);
        assert_eq!(Uploads::of(&BlockList::default()), Uploads::default());
    }

    #[test]
    fn blocks_grow_late() {
        assert_eq!(block_size(0), 4 << 20);
        assert_eq!(block_size(8191), 4 << 20);
        assert_eq!(block_size(8192), 32 << 20);
    }
}
