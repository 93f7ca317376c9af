//! A native walk: one blocking hop per directory reads it (`readdir` names the type of each
//! entry, and one `fstatat` through the open directory gives sizes and times), filters the
//! driver's own files, sorts siblings by byte order and hands the entries back; the visitor then
//! runs on the async side. Compared with the generic walk (a `list` plus a `stat` per entry, each
//! resolving the full path from the root), this saves a path resolution and a hop per entry.
//!
//! Order, `start_after`, skip-directory and stop follow CONTRACT §3 through
//! [`wharf_runtime::walk::position`], like every other driver. Subtrees wholly before
//! `start_after` are never read. Entries that vanish during the walk are skipped. Symbolic
//! links are followed inside the root (as `stat` and `list` do); a directory reached again
//! through a link to one of its ancestors is not descended into a second time.

use std::io;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::fs::{Dir, Metadata};
use wharf_runtime::walk::{Position, position};
use wharf_runtime::{FileInfo, Result, Visitor, WalkControl, WalkOptions};

use crate::error::{from_io, from_join};
use crate::layout::{is_visible, relative};

/// Identifies a directory on its filesystem, to notice link cycles.
type DirId = Option<(u64, u64)>;

/// One entry of a directory read for the walk.
struct Entry {
    info: FileInfo,
    id: DirId,
}

#[cfg(unix)]
fn dir_id(metadata: &Metadata) -> DirId {
    use cap_std::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn dir_id(_: &Metadata) -> DirId {
    None
}

fn mod_time(metadata: &Metadata) -> SystemTime {
    metadata
        .modified()
        .map(|t| t.into_std())
        .unwrap_or(UNIX_EPOCH)
}

fn child_path(dir: &str, name: &str) -> String {
    wharf_runtime::path::join(dir, name)
}

/// Reads the directory `dir` (blocking): its visible entries that `start_after` does not
/// exclude, sorted by name, with what the walk reports about them; and the directory's identity.
fn read_dir(root: &Dir, dir: &str, start_after: Option<&str>) -> io::Result<(Vec<Entry>, DirId)> {
    let opened;
    let handle = if dir == wharf_runtime::path::ROOT {
        root
    } else {
        opened = root.open_dir(relative(dir))?;
        &opened
    };
    let id = dir_id(&handle.dir_metadata()?);
    let entries = handle.entries()?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if !is_visible(&name) {
            continue;
        }
        // Visible names are ASCII, so this never loses anything.
        let path = child_path(dir, &name.to_string_lossy());
        if position(&path, start_after) == Position::Before {
            continue;
        }
        let metadata = match entry.file_type() {
            Ok(kind) if kind.is_symlink() => root.metadata(relative(&path)),
            Ok(_) => entry.metadata(),
            Err(e) => Err(e),
        };
        let metadata = match metadata {
            Ok(metadata) => metadata,
            // Removed since the directory was read, or a link to nothing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let entry = if metadata.is_dir() {
            Entry {
                info: FileInfo::dir(path, mod_time(&metadata)),
                id: dir_id(&metadata),
            }
        } else {
            Entry {
                info: FileInfo::file(path, metadata.len(), mod_time(&metadata)),
                id: None,
            }
        };
        found.push(entry);
    }
    found.sort_unstable_by(|a, b| a.info.path.cmp(&b.info.path));
    Ok((found, id))
}

async fn read_dir_blocking(
    root: &Arc<Dir>,
    dir: &str,
    start_after: Option<&str>,
) -> Result<(Vec<Entry>, DirId)> {
    let root = root.clone();
    let owned_dir = dir.to_owned();
    let start_after = start_after.map(str::to_owned);
    tokio::task::spawn_blocking(move || read_dir(&root, &owned_dir, start_after.as_deref()))
        .await
        .map_err(|e| from_join(e, "walk", dir))?
        .map_err(|e| from_io(e, "walk", dir))
}

/// Walks `path` in the contract's order.
pub(crate) async fn walk(
    root: &Arc<Dir>,
    path: &str,
    options: &WalkOptions,
    visitor: &mut Visitor<'_>,
) -> Result<()> {
    let start_after = options.start_after.as_deref();
    let (entries, id) = read_dir_blocking(root, path, start_after).await?;
    // Directories being walked, each with its entries not visited yet.
    let mut stack = vec![(entries.into_iter(), id)];
    while let Some((entries, _)) = stack.last_mut() {
        let Some(entry) = entries.next() else {
            stack.pop();
            continue;
        };
        let descend = match position(&entry.info.path, start_after) {
            Position::After => match visitor(&entry.info)? {
                WalkControl::Stop => return Ok(()),
                WalkControl::SkipDir => false,
                WalkControl::Continue => entry.info.is_dir,
            },
            Position::Ancestor => entry.info.is_dir,
            Position::Before => false,
        };
        let cycle = entry.id.is_some() && stack.iter().any(|(_, id)| *id == entry.id);
        if !descend || cycle {
            continue;
        }
        match read_dir_blocking(root, &entry.info.path, start_after).await {
            Ok((children, id)) => stack.push((children.into_iter(), id)),
            // Removed (or replaced by a file) since it was seen.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
