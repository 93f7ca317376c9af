//! The state of an in-memory driver: the committed tree and the uploads that were closed but not
//! committed. It lives in the instance's memory, which the host keeps (a stateful guest runs as
//! one instance), so a writer closed through one driver resource is resumed through another one
//! with the same configuration.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::SystemTime;

use wharf_guest_sdk::path::{base_name, components, is_ancestor, parent};
use wharf_guest_sdk::{Error, Result};

/// Writes smaller than this are appended to the last chunk instead of kept as their own.
const COALESCE_BELOW: usize = 64 << 10;
/// A chunk stops taking small writes once it is this long.
const CHUNK: usize = 1 << 20;

/// A file's content as the chunks it was written in: appending never moves earlier bytes.
#[derive(Clone, Default)]
pub struct Rope {
    chunks: Vec<Vec<u8>>,
    len: u64,
}

impl Rope {
    /// A rope of one chunk (no copy).
    pub fn from_vec(data: Vec<u8>) -> Self {
        let mut rope = Self::default();
        rope.push(data);
        rope
    }

    /// Appends `data`: small writes are copied onto the last chunk, large ones kept as they are.
    pub fn push(&mut self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        self.len += data.len() as u64;
        if data.len() < COALESCE_BELOW
            && let Some(last) = self.chunks.last_mut()
            && last.len() < CHUNK
        {
            last.extend_from_slice(&data);
            return;
        }
        self.chunks.push(data);
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// The whole content in one buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        out
    }

    /// Up to `max` bytes from `offset` (fewer at a chunk's end; empty at the end of the rope).
    pub fn read_at(&self, mut offset: u64, max: usize) -> Vec<u8> {
        for chunk in &self.chunks {
            let len = chunk.len() as u64;
            if offset >= len {
                offset -= len;
                continue;
            }
            // offset < len, and len came from a usize.
            let start = offset as usize;
            let end = start.saturating_add(max).min(chunk.len());
            return chunk[start..end].to_vec();
        }
        Vec::new()
    }
}

/// A committed file.
pub struct File {
    pub content: Rc<Rope>,
    pub mod_time: SystemTime,
}

/// A directory; children in byte order of their names.
#[derive(Default)]
pub struct Dir {
    pub children: BTreeMap<String, Node>,
}

pub enum Node {
    File(File),
    Dir(Dir),
}

impl Dir {
    /// The node at a non-root `path`. Every lookup walks components from the root, so `/a/a`
    /// and `/a` are never confused.
    pub fn lookup(&self, path: &str) -> Option<&Node> {
        let mut parts = components(path);
        let mut node = self.children.get(parts.next()?)?;
        for part in parts {
            match node {
                Node::Dir(d) => node = d.children.get(part)?,
                Node::File(_) => return None,
            }
        }
        Some(node)
    }

    /// The directory at `path` (the root for `/`), creating missing ones; fails on a file in the
    /// way.
    fn make_dirs(&mut self, path: &str) -> Result<&mut Dir> {
        let mut dir = self;
        for part in components(path) {
            let node = dir
                .children
                .entry(part.to_owned())
                .or_insert_with(|| Node::Dir(Dir::default()));
            dir = match node {
                Node::Dir(d) => d,
                Node::File(_) => {
                    return Err(Error::backend(
                        format!("cannot create the directory {path}: a file is in the way"),
                        false,
                    ));
                }
            };
        }
        Ok(dir)
    }

    /// Removes and returns the node at `path`, pruning directories left empty on the way up.
    fn remove(&mut self, path: &str) -> Option<Node> {
        let parts: Vec<&str> = components(path).collect();
        Self::remove_in(self, &parts)
    }

    fn remove_in(dir: &mut Dir, parts: &[&str]) -> Option<Node> {
        match parts {
            [] => None,
            [last] => dir.children.remove(*last),
            [first, rest @ ..] => {
                let Some(Node::Dir(child)) = dir.children.get_mut(*first) else {
                    return None;
                };
                let removed = Self::remove_in(child, rest)?;
                if child.children.is_empty() {
                    dir.children.remove(*first);
                }
                Some(removed)
            }
        }
    }
}

/// The committed tree plus parked uploads.
#[derive(Default)]
pub struct Store {
    pub tree: Dir,
    pub uploads: HashMap<String, Rope>,
}

thread_local! {
    /// Stores by the `namespace` parameter: drivers created with the same configuration share
    /// one, the way two processes share one bucket.
    static STORES: RefCell<HashMap<Option<String>, Rc<RefCell<Store>>>> =
        RefCell::new(HashMap::new());
}

/// The store of `namespace` in this instance, created on first use.
pub fn named(namespace: Option<String>) -> Rc<RefCell<Store>> {
    STORES.with(|stores| stores.borrow_mut().entry(namespace).or_default().clone())
}

impl Store {
    /// The committed file at `path`, if any.
    pub fn file(&self, path: &str) -> Option<&File> {
        match self.tree.lookup(path) {
            Some(Node::File(f)) => Some(f),
            _ => None,
        }
    }

    /// Fails when `path` cannot hold a file: a directory is there, or a file is where one of
    /// its parents would be.
    pub fn check_file_path(&self, path: &str) -> Result<()> {
        if let Some(Node::Dir(_)) = self.tree.lookup(path) {
            return Err(Error::backend(
                format!("cannot write {path}: it is a directory"),
                false,
            ));
        }
        let mut ancestor = parent(path);
        while ancestor != "/" {
            if let Some(Node::File(_)) = self.tree.lookup(ancestor) {
                return Err(Error::backend(
                    format!("cannot write {path}: {ancestor} is a file"),
                    false,
                ));
            }
            ancestor = parent(ancestor);
        }
        Ok(())
    }

    /// Makes `content` the file at `path` in one step, creating parents.
    pub fn commit_file(&mut self, path: &str, content: Rope) -> Result<()> {
        self.check_file_path(path)?;
        let dir = self.tree.make_dirs(parent(path))?;
        dir.children.insert(
            base_name(path).to_owned(),
            Node::File(File {
                content: Rc::new(content),
                mod_time: SystemTime::now(),
            }),
        );
        Ok(())
    }

    /// Moves the node at `source` (a file or a whole directory) to `dest`, replacing what is
    /// there; on error nothing changed.
    pub fn rename(&mut self, source: &str, dest: &str) -> Result<()> {
        if self.tree.lookup(source).is_none() {
            return Err(Error::not_found(source));
        }
        if source == dest {
            return Ok(());
        }
        if is_ancestor(source, dest) {
            return Err(Error::backend(
                format!("cannot move {source} into itself ({dest})"),
                false,
            ));
        }
        // Checked before anything moves, so a failure leaves the tree as it was.
        let mut ancestor = parent(dest);
        while ancestor != "/" {
            if let Some(Node::File(_)) = self.tree.lookup(ancestor) {
                return Err(Error::backend(
                    format!("cannot move {source} to {dest}: {ancestor} is a file"),
                    false,
                ));
            }
            ancestor = parent(ancestor);
        }
        let node = self
            .tree
            .remove(source)
            .ok_or_else(|| Error::not_found(source))?;
        let dir = self.tree.make_dirs(parent(dest))?;
        dir.children.insert(base_name(dest).to_owned(), node);
        Ok(())
    }

    /// Removes `path` and everything under `path/` (never string-prefix siblings), with the
    /// uploads parked there.
    pub fn delete(&mut self, path: &str) -> Result<()> {
        self.tree
            .remove(path)
            .ok_or_else(|| Error::not_found(path))?;
        self.uploads
            .retain(|p, _| p != path && !is_ancestor(path, p));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(store: &Store, paths: &[&str]) -> Vec<bool> {
        paths.iter().map(|p| store.file(p).is_some()).collect()
    }

    #[test]
    fn ropes_coalesce_small_writes_and_read_across_chunks() {
        let mut rope = Rope::default();
        for i in 0..100u8 {
            rope.push(vec![i; 10]);
        }
        rope.push(vec![7; CHUNK]);
        assert_eq!(rope.len(), 1000 + CHUNK as u64);
        assert_eq!(rope.chunks.len(), 2);
        assert_eq!(rope.read_at(995, 10), vec![99; 5]);
        assert_eq!(rope.read_at(1000, 3), vec![7; 3]);
        assert!(rope.read_at(rope.len(), 3).is_empty());
        assert_eq!(rope.to_vec().len() as u64, rope.len());
    }

    #[test]
    fn delete_never_touches_string_prefix_siblings() {
        let mut s = Store::default();
        for p in ["/d/f", "/d/fsuffix", "/d/d/x", "/d/dsuffix/f"] {
            s.commit_file(p, Rope::from_vec(b"x".to_vec())).unwrap();
        }
        s.uploads.insert("/d/d/up".into(), Rope::default());
        s.uploads.insert("/d/dd".into(), Rope::default());
        s.delete("/d/f").unwrap();
        s.delete("/d/d").unwrap();
        assert_eq!(
            files(&s, &["/d/f", "/d/fsuffix", "/d/d/x", "/d/dsuffix/f"]),
            [false, true, false, true]
        );
        assert!(!s.uploads.contains_key("/d/d/up") && s.uploads.contains_key("/d/dd"));
        assert!(s.delete("/d/d").unwrap_err().is_not_found());
    }

    #[test]
    fn moves_are_whole_or_nothing() {
        let mut s = Store::default();
        for p in ["/a/x", "/a/y/z", "/f"] {
            s.commit_file(p, Rope::from_vec(p.as_bytes().to_vec()))
                .unwrap();
        }
        assert!(s.rename("/a", "/a/inner").is_err());
        assert!(s.rename("/a", "/f/under").is_err());
        assert_eq!(files(&s, &["/a/x", "/a/y/z", "/f"]), [true, true, true]);
        s.rename("/a", "/b/c").unwrap();
        assert_eq!(
            files(&s, &["/a/x", "/b/c/x", "/b/c/y/z"]),
            [false, true, true]
        );
        assert!(s.tree.lookup("/a").is_none(), "emptied parents are pruned");
        assert!(s.rename("/nope", "/x").unwrap_err().is_not_found());
        assert!(s.tree.lookup("/x").is_none());
    }
}
