//! `move`: entries are switched, data is never copied.
//!
//! Within one directory, the source's entry moves to the destination's key in one atomic
//! operation (both compared with what was read). Across directories no one operation can do
//! it, so the two entries hold the content at once for a while, and marks on their values
//! (`layout::Mark`) say which one is the file:
//!
//! 1. the source's value gets the mark `To(dest)` (compared with what was read): it stays the
//!    file as long as the destination does not hold the same content;
//! 2. the destination's directory is linked;
//! 3. the destination's entry is set to the content with the mark `From(source)`: from here
//!    on the destination is the file, and the source a leftover that `stat`, `get_content`,
//!    `list`, `walk`, `delete` and `move` take for missing;
//! 4. the destination's directory is linked again (against a concurrent prune);
//! 5. the source's entry is removed (compared with its marked value);
//! 6. the destination's previous content is freed, the source's directory pruned.
//!
//! A crash between any two steps leaves the content at exactly one visible path. A leftover
//! source never frees the content when it is replaced or deleted (the destination holds it),
//! and before the destination's entry changes, the leftover is removed ([`Store::release`]), so
//! it cannot become a file again once the content is freed or moved on. A failure puts the
//! source back.
//!
//! A directory cannot be moved (its subtree's directory objects are named by path): that fails
//! with `Unsupported` and changes nothing, as the contract allows.

use wharf_runtime::{Error, Result};

use crate::content::Switched;
use crate::dir::{MAX_ATTEMPTS, contended, is_a_directory};
use crate::layout::{Entry, FileMeta, Mark, split};
use crate::store::Store;

impl Store {
    pub(crate) async fn rename(&self, source: &str, dest: &str) -> Result<()> {
        for _ in 0..MAX_ATTEMPTS {
            let (meta, raw) = match self.lookup_visible(source, "move").await? {
                Some((Entry::File(meta), raw)) => (meta, raw),
                Some((Entry::Dir(_), _)) => {
                    return Err(Error::unsupported(format!(
                        "move of the directory {source}"
                    )));
                }
                None => return Err(Error::not_found(source)),
            };
            if source == dest {
                return Ok(());
            }
            let replaced = if split(source).0 == split(dest).0 {
                match self.move_within(source, dest, meta, &raw).await? {
                    Some(replaced) => replaced,
                    // The source changed meanwhile: read it again.
                    None => continue,
                }
            } else {
                match self.move_across(source, dest, meta, &raw).await? {
                    Some(replaced) => replaced,
                    None => continue,
                }
            };
            if let Some((old, old_raw)) = replaced
                && old.data != meta.data
            {
                self.free_replaced(&old, &old_raw).await;
            }
            self.deletion_log.record(source);
            return Ok(());
        }
        Err(contended("move", source))
    }

    /// Moves within one directory. `None` when the source no longer holds `raw`; else the
    /// file the destination held.
    async fn move_within(
        &self,
        source: &str,
        dest: &str,
        meta: FileMeta,
        raw: &[u8],
    ) -> Result<Option<Option<(FileMeta, Vec<u8>)>>> {
        let (dir, from) = split(source);
        let to = split(dest).1;
        // The moved value carries no mark: it is the only entry holding the content.
        let set = [(to.to_owned(), Entry::File(meta).encode())];
        let rm = [from.to_owned()];
        self.release(source, &meta, raw).await?;
        // Optimistic: the destination is new.
        let mut expected: Option<(FileMeta, Vec<u8>)> = None;
        for _ in 0..MAX_ATTEMPTS {
            if let Some((old, old_raw)) = &expected {
                self.release(dest, old, old_raw).await?;
            }
            let guards = [
                (from, Some(raw)),
                (to, expected.as_ref().map(|(_, r)| r.as_slice())),
            ];
            if self.swap(dir, &guards, &set, &rm, "move", source).await? {
                return Ok(Some(expected));
            }
            if self
                .lookup(source, "move")
                .await?
                .map(|(_, r)| r)
                .as_deref()
                != Some(raw)
            {
                return Ok(None);
            }
            expected = match self.lookup(dest, "move").await? {
                None => None,
                Some((Entry::File(meta), r)) => Some((meta, r)),
                Some((Entry::Dir(_), _)) => return Err(is_a_directory(dest)),
            };
        }
        Err(contended("move", source))
    }

    /// Moves across directories (see the module docs). `None` when the source no longer holds
    /// `raw`; else the file the destination held.
    async fn move_across(
        &self,
        source: &str,
        dest: &str,
        meta: FileMeta,
        raw: &[u8],
    ) -> Result<Option<Option<(FileMeta, Vec<u8>)>>> {
        let (source_dir, from) = split(source);
        // A leftover of an earlier move to the source goes before the source's mark changes.
        self.release(source, &meta, raw).await?;
        let moving = Mark::To(dest.to_owned()).on(meta);
        let set = [(from.to_owned(), moving.clone())];
        if !self
            .swap(source_dir, &[(from, Some(raw))], &set, &[], "move", source)
            .await?
        {
            return Ok(None);
        }
        let (dest_dir, to) = split(dest);
        if let Err(e) = self.link(dest_dir, "move", dest).await {
            self.prune(dest_dir).await;
            self.unmark(source, meta, &moving).await?;
            return Err(e);
        }
        let ours = Mark::From(source.to_owned()).on(meta);
        let replaced = match self.switch_entry(dest, &ours, None, "move").await {
            Ok(Switched::Done { replaced }) => replaced,
            Ok(Switched::GuardFailed) => unreachable!("no upload guard was given"),
            Err(e) => {
                self.prune(dest_dir).await;
                self.unmark(source, meta, &moving).await?;
                return Err(e);
            }
        };
        if let Err(e) = self.link(dest_dir, "move", dest).await {
            // The destination lies under a file: take the entry back out, and the source back
            // (unless the destination changed meanwhile, and with it who holds the content).
            let (set, rm) = match &replaced {
                Some((_, old)) => (vec![(to.to_owned(), old.clone())], vec![]),
                None => (vec![], vec![to.to_owned()]),
            };
            let undone = self
                .swap(dest_dir, &[(to, Some(&ours))], &set, &rm, "move", dest)
                .await?;
            self.prune(dest_dir).await;
            if undone {
                self.unmark(source, meta, &moving).await?;
            }
            return Err(e);
        }
        let rm = [from.to_owned()];
        // Changed meanwhile: whatever replaced the leftover did not free the content.
        self.swap(
            source_dir,
            &[(from, Some(&moving))],
            &[],
            &rm,
            "move",
            source,
        )
        .await?;
        self.prune(source_dir).await;
        Ok(Some(replaced))
    }

    /// Takes the mark of a failed move off the source again (unless the source changed
    /// meanwhile: then whatever replaced it already treated the content as the source's).
    async fn unmark(&self, source: &str, meta: FileMeta, moving: &[u8]) -> Result<()> {
        let (dir, name) = split(source);
        let set = [(name.to_owned(), Entry::File(meta).encode())];
        self.swap(dir, &[(name, Some(moving))], &set, &[], "move", source)
            .await?;
        Ok(())
    }

    /// True when the file value `raw` (of `meta`) is the leftover of a move: marked
    /// `To(dest)`, and `dest` holds the same content.
    pub(crate) async fn moved_on(&self, meta: &FileMeta, raw: &[u8], op: &str) -> Result<bool> {
        let Some(Mark::To(dest)) = Mark::of(raw) else {
            return Ok(false);
        };
        Ok(matches!(
            self.lookup(&dest, op).await?,
            Some((Entry::File(there), _)) if there.data == meta.data
        ))
    }

    /// The child at `path` as the contract sees it: a move's leftover is missing.
    pub(crate) async fn lookup_visible(
        &self,
        path: &str,
        op: &str,
    ) -> Result<Option<(Entry, Vec<u8>)>> {
        match self.lookup(path, op).await? {
            Some((Entry::File(meta), raw)) if self.moved_on(&meta, &raw, op).await? => Ok(None),
            found => Ok(found),
        }
    }

    /// Before the file value `raw` (of `meta`) at `path` changes: if it came by a move, removes
    /// the move's leftover at the source (only while it is exactly that leftover).
    pub(crate) async fn release(&self, path: &str, meta: &FileMeta, raw: &[u8]) -> Result<()> {
        let Some(Mark::From(source)) = Mark::of(raw) else {
            return Ok(());
        };
        let leftover = Mark::To(path.to_owned()).on(*meta);
        let (dir, name) = split(&source);
        let rm = [name.to_owned()];
        if self
            .swap(dir, &[(name, Some(&leftover))], &[], &rm, "move", &source)
            .await?
        {
            self.prune(dir).await;
        }
        Ok(())
    }

    /// Frees the content of a file value that was replaced or removed, unless it was a move's
    /// leftover (the destination holds the content). When that cannot be told, the content
    /// stays (unreferenced at worst).
    pub(crate) async fn free_replaced(&self, meta: &FileMeta, raw: &[u8]) {
        match self.moved_on(meta, raw, "free").await {
            Ok(false) => self.free_file(meta).await,
            Ok(true) => {}
            Err(e) => {
                tracing::debug!(error = %format_args!("{e:#}"), "cannot tell whether a content moved on; it stays");
            }
        }
    }
}
