//! A native walk. Each directory is read once (`readdir`; names filtered and sorted by byte
//! order), and each entry gets one `fstatat` through the open directory at the moment it is
//! emitted — so an entry removed while the walk runs, even by the visitor itself, is skipped —
//! with no path resolution from the root and no list/stat round trips. Subtrees wholly before
//! `start_after` are neither read nor stat'ed.
//!
//! The walk is synchronous I/O interleaved with visitor calls, so it runs where blocking is
//! allowed: on a multi-thread runtime in `block_in_place` (the worker hands its other tasks to
//! another thread, and the walk makes no hop at all); elsewhere on the blocking pool, passing
//! each entry to the visitor on the async side through a pair of channels.
//!
//! Order, `start_after`, skip-directory and stop follow CONTRACT §3 through
//! [`wharf_runtime::walk::position_after`], like every other driver. Symbolic links are followed
//! inside the root (as `stat` and `list` do); a directory reached again through a link to one of
//! its ancestors is shown but not descended into a second time, a directory reached through a
//! link is descended only if the walk has not been inside it yet (so links cannot multiply the
//! walk), and a link that cannot be followed inside the root (it leads out, loops or dangles)
//! is left out of the walk.
//!
//! A directory may be shared with others (a guest driver granted the same directory) who leave
//! trees no registry makes: a subdirectory is opened through its parent's descriptor, so no
//! path grows past the system's limit, and a walk descends at most [`MAX_DEPTH`] directories
//! below its start (one descriptor each), failing with an error that says so beyond.

use std::io;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::fs::{Dir, Metadata};
use tokio::runtime::{Handle, RuntimeFlavor};
use wharf_runtime::path::{ROOT, join};
use wharf_runtime::walk::{Position, position_after};
use wharf_runtime::{Error, ErrorKind, FileInfo, Result, Visitor, WalkControl, WalkOptions};

use crate::error::{from_io, from_join};
use crate::layout::{is_visible, relative};

/// Directories a walk may descend below the one it starts at.
pub(crate) const MAX_DEPTH: usize = 256;

/// Identifies a directory on its filesystem, to notice link cycles.
type DirId = Option<(u64, u64)>;

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

/// A directory being walked.
struct Frame {
    dir: Dir,
    path: String,
    /// Visible names not visited yet, in byte order.
    names: std::vec::IntoIter<String>,
    id: DirId,
}

/// Opens the directory at the contract path `path` and reads its visible names.
fn open_frame(root: &Dir, path: &str) -> io::Result<Frame> {
    let dir = if path == ROOT {
        root.try_clone()?
    } else {
        root.open_dir(relative(path))?
    };
    read_frame(dir, path)
}

/// Reads the visible names of `dir`, the directory at the contract path `path`.
fn read_frame(dir: Dir, path: &str) -> io::Result<Frame> {
    let id = dir_id(&dir.dir_metadata()?);
    let mut names = Vec::new();
    for entry in dir.entries()? {
        if let Ok(name) = entry?.file_name().into_string()
            && is_visible(name.as_ref())
        {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(Frame {
        dir,
        path: path.to_owned(),
        names: names.into_iter(),
        id,
    })
}

/// What an entry is now: the entry itself, or for a link, what it leads to inside the root
/// (`None`: a link that cannot be followed there), and whether it is a link.
fn entry_metadata(
    root: &Dir,
    frame: &Frame,
    name: &str,
    path: &str,
) -> io::Result<(Option<Metadata>, bool)> {
    let metadata = frame.dir.symlink_metadata(name)?;
    if !metadata.file_type().is_symlink() {
        return Ok((Some(metadata), false));
    }
    match root.metadata(relative(path)) {
        Ok(target) => Ok((Some(target), true)),
        Err(e) => {
            tracing::warn!(path, error = %format_args!("{e:#}"), "walk leaves out a link that cannot be followed inside the root");
            Ok((None, true))
        }
    }
}

/// Opens the subdirectory `name` of `frame` (at `path`): through the parent's descriptor, or
/// for a link from the root, where the link's target is resolved.
fn open_child(root: &Dir, frame: &Frame, name: &str, path: &str, link: bool) -> io::Result<Frame> {
    if link {
        open_frame(root, path)
    } else {
        read_frame(frame.dir.open_dir(name)?, path)
    }
}

fn vanished(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// The walk itself, blocking, calling `visit` for each entry in order.
fn walk_blocking(
    root: &Dir,
    path: &str,
    start_after: Option<&str>,
    visit: &mut dyn FnMut(FileInfo) -> Result<WalkControl>,
) -> Result<()> {
    let mut stack = vec![open_frame(root, path).map_err(|e| from_io(e, "walk", path))?];
    // Directories the walk has been inside, by identity.
    let mut walked: std::collections::HashSet<(u64, u64)> = stack[0].id.into_iter().collect();
    while let Some(frame) = stack.last_mut() {
        let Some(name) = frame.names.next() else {
            stack.pop();
            continue;
        };
        let child = join(&frame.path, &name);
        let position = position_after(&child, start_after);
        if position == Position::Skip {
            continue;
        }
        let (metadata, link) = match entry_metadata(root, frame, &name, &child) {
            Ok((Some(metadata), link)) => (metadata, link),
            Ok((None, _)) => continue,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(from_io(e, "walk", &child)),
        };
        let is_dir = metadata.is_dir();
        let id = if is_dir { dir_id(&metadata) } else { None };
        let descend = match position {
            Position::Emit => {
                let info = if is_dir {
                    FileInfo::dir(child.clone(), mod_time(&metadata))
                } else {
                    FileInfo::file(child.clone(), metadata.len(), mod_time(&metadata))
                };
                match visit(info)? {
                    WalkControl::Stop => return Ok(()),
                    WalkControl::SkipDir => false,
                    WalkControl::Continue => is_dir,
                }
            }
            Position::Descend | Position::Skip => is_dir,
        };
        let cycle = id.is_some() && stack.iter().any(|frame| frame.id == id);
        let again = link && id.is_some_and(|id| walked.contains(&id));
        if !descend || cycle || again {
            continue;
        }
        if stack.len() > MAX_DEPTH {
            return Err(Error::new(ErrorKind::Backend { temporary: false }).with_detail(format!(
                "walk {path}: {child} is more than {MAX_DEPTH} directories below it; the walk stops there"
            )));
        }
        let frame = stack.last().expect("the frame just read");
        match open_child(root, frame, &name, &child, link) {
            Ok(frame) => {
                walked.extend(frame.id);
                stack.push(frame);
            }
            Err(e) if vanished(&e) => {}
            Err(e) => return Err(from_io(e, "walk", &child)),
        }
    }
    Ok(())
}

/// Walks `path` in the contract's order.
pub(crate) async fn walk(
    root: &Arc<Dir>,
    path: &str,
    options: &WalkOptions,
    visitor: &mut Visitor<'_>,
) -> Result<()> {
    let start_after = options.start_after.as_deref();
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| {
                walk_blocking(root, path, start_after, &mut |info| visitor(&info))
            })
        }
        _ => walk_on_blocking_pool(root.clone(), path, start_after, visitor).await,
    }
}

/// The walk on the blocking pool, each entry handed to the visitor here and its answer back.
async fn walk_on_blocking_pool(
    root: Arc<Dir>,
    path: &str,
    start_after: Option<&str>,
    visitor: &mut Visitor<'_>,
) -> Result<()> {
    let (entries, mut entries_here) = tokio::sync::mpsc::channel::<FileInfo>(1);
    let (answers, answers_there) = std::sync::mpsc::sync_channel::<WalkControl>(1);
    let (owned_path, owned_start) = (path.to_owned(), start_after.map(str::to_owned));
    let walker = tokio::task::spawn_blocking(move || {
        walk_blocking(&root, &owned_path, owned_start.as_deref(), &mut |info| {
            // Either side hanging up means the walk is over (a visitor error, or a dropped walk).
            if entries.blocking_send(info).is_err() {
                return Ok(WalkControl::Stop);
            }
            Ok(answers_there.recv().unwrap_or(WalkControl::Stop))
        })
    });
    while let Some(info) = entries_here.recv().await {
        let answer = visitor(&info)?;
        if answers.send(answer).is_err() {
            break;
        }
    }
    walker.await.map_err(|e| from_join(e, "walk", path))?
}
