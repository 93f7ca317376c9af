//! `move`: entries are switched, data is never copied.
//!
//! Within one directory, the source's entry moves to the destination's key in one atomic
//! operation (both compared with what was read). Across directories, the source's entry is
//! first taken out (compared with what was read), then set at the destination, then the
//! destination's directory is linked; a failure puts the source back. Taking the source out
//! first means no two entries ever share a content, so whatever replaces either path later
//! frees only what it replaced; a crash in between leaves the content unreferenced, never
//! referenced twice. The destination's previous content is freed once nothing refers to it.
//!
//! A directory cannot be moved (its subtree's directory objects are named by path): that fails
//! with `Unsupported` and changes nothing, as the contract allows.

use wharf_runtime::{Error, Result};

use crate::content::Switched;
use crate::dir::{MAX_ATTEMPTS, contended, is_a_directory};
use crate::layout::{Entry, FileMeta, split};
use crate::store::Store;

impl Store {
    pub(crate) async fn rename(&self, source: &str, dest: &str) -> Result<()> {
        for _ in 0..MAX_ATTEMPTS {
            let (meta, raw) = match self.lookup(source, "move").await? {
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
                match self.move_within(source, dest, &raw).await? {
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
            if let Some(old) = replaced
                && old.data != meta.data
            {
                self.free_file(&old).await;
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
        raw: &[u8],
    ) -> Result<Option<Option<FileMeta>>> {
        let (dir, from) = split(source);
        let to = split(dest).1;
        let set = [(to.to_owned(), raw.to_vec())];
        let rm = [from.to_owned()];
        // Optimistic: the destination is new.
        let mut expected: Option<(FileMeta, Vec<u8>)> = None;
        for _ in 0..MAX_ATTEMPTS {
            let guards = [
                (from, Some(raw)),
                (to, expected.as_ref().map(|(_, r)| r.as_slice())),
            ];
            if self.swap(dir, &guards, &set, &rm, "move", source).await? {
                return Ok(Some(expected.map(|(meta, _)| meta)));
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
    ) -> Result<Option<Option<FileMeta>>> {
        let (source_dir, from) = split(source);
        let rm = [from.to_owned()];
        if !self
            .swap(source_dir, &[(from, Some(raw))], &[], &rm, "move", source)
            .await?
        {
            return Ok(None);
        }
        let (dest_dir, to) = split(dest);
        let replaced = match self
            .switch_entry(dest, &Entry::File(meta), None, "move")
            .await
        {
            Ok(Switched::Done { replaced }) => replaced,
            Ok(Switched::GuardFailed) => unreachable!("no upload guard was given"),
            Err(e) => {
                self.put_back(source, meta, raw).await?;
                return Err(e);
            }
        };
        if let Err(e) = self.link(dest_dir, "move", dest).await {
            // The destination lies under a file: take the entry back out, and the source back
            // in (unless the destination changed meanwhile, and with it who holds the content).
            let (set, rm) = match &replaced {
                Some(old) => (vec![(to.to_owned(), Entry::File(*old).encode())], vec![]),
                None => (vec![], vec![to.to_owned()]),
            };
            let undone = self
                .swap(dest_dir, &[(to, Some(raw))], &set, &rm, "move", dest)
                .await?;
            self.prune(dest_dir).await;
            if undone {
                self.put_back(source, meta, raw).await?;
            }
            return Err(e);
        }
        self.prune(source_dir).await;
        Ok(Some(replaced))
    }

    /// Puts a source taken out by a failed move back, or frees its content when something new
    /// took its place meanwhile.
    async fn put_back(&self, source: &str, meta: FileMeta, raw: &[u8]) -> Result<()> {
        let (dir, name) = split(source);
        let set = [(name.to_owned(), raw.to_vec())];
        if !self
            .swap(dir, &[(name, None)], &set, &[], "move", source)
            .await?
        {
            self.free_file(&meta).await;
        }
        Ok(())
    }
}
