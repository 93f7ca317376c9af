//! The in-memory namespace: a tree of directories and files, each file a rope of `Bytes` chunks
//! so that neither writes nor reads copy data. Every lookup walks components from the root, so a
//! directory with a child of its own name (`/a/a`) is just another path (the reference driver's
//! lookup mixed those up).

use std::collections::BTreeMap;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use wharf_runtime::path::components;
use wharf_runtime::{Error, Result};

/// A file's content: chunks in order, with their total length.
#[derive(Clone, Default)]
pub struct Rope {
    chunks: Vec<Bytes>,
    len: u64,
}

impl Rope {
    /// A rope of one chunk (no copy).
    pub fn from_bytes(data: Bytes) -> Self {
        let len = data.len() as u64;
        let chunks = if data.is_empty() { vec![] } else { vec![data] };
        Self { chunks, len }
    }

    /// Appends a chunk (no copy).
    pub fn push(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.len += data.len() as u64;
            self.chunks.push(data);
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// The whole content as one buffer: free for a single chunk, one copy otherwise.
    pub fn to_bytes(&self) -> Bytes {
        match self.chunks.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut buf = BytesMut::with_capacity(self.len as usize);
                for c in many {
                    buf.extend_from_slice(c);
                }
                buf.freeze()
            }
        }
    }

    /// The content from `offset` on, as slices of at most `max_chunk` bytes (no copy).
    pub fn slices_from(&self, mut offset: u64, max_chunk: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        for chunk in &self.chunks {
            let len = chunk.len() as u64;
            if offset >= len {
                offset -= len;
                continue;
            }
            let mut start = offset as usize;
            offset = 0;
            while start < chunk.len() {
                let end = (start + max_chunk).min(chunk.len());
                out.push(chunk.slice(start..end));
                start = end;
            }
        }
        out
    }
}

/// A file in the tree.
#[derive(Clone)]
pub struct File {
    pub content: Rope,
    pub mod_time: SystemTime,
}

/// A directory in the tree; children sorted by byte order of their names.
#[derive(Clone, Default)]
pub struct Dir {
    pub children: BTreeMap<String, Node>,
}

/// A tree node.
#[derive(Clone)]
pub enum Node {
    File(File),
    Dir(Dir),
}

impl Dir {
    /// The node at `path` (`/` is this directory itself, wrapped by the caller).
    pub fn lookup(&self, path: &str) -> Option<&Node> {
        let mut parts = components(path);
        let first = parts.next()?;
        let mut node = self.children.get(first)?;
        for part in parts {
            match node {
                Node::Dir(d) => node = d.children.get(part)?,
                Node::File(_) => return None,
            }
        }
        Some(node)
    }

    /// The directory at `path`, creating missing directories; fails when a file is in the way.
    pub fn make_dirs(&mut self, path: &str) -> Result<&mut Dir> {
        let mut dir = self;
        for part in components(path) {
            let node = dir
                .children
                .entry(part.to_owned())
                .or_insert_with(|| Node::Dir(Dir::default()));
            dir = match node {
                Node::Dir(d) => d,
                Node::File(_) => {
                    return Err(Error::backend(format!(
                        "cannot create a directory over the file at {path}"
                    )));
                }
            };
        }
        Ok(dir)
    }

    /// Removes and returns the node at `path`, then prunes directories left empty on the way up
    /// (the root stays).
    pub fn remove(&mut self, path: &str) -> Option<Node> {
        let parts: Vec<&str> = components(path).collect();
        Self::remove_in(self, &parts)
    }

    fn remove_in(dir: &mut Dir, parts: &[&str]) -> Option<Node> {
        match parts {
            [] => None,
            [last] => dir.children.remove(*last),
            [first, rest @ ..] => {
                let Node::Dir(child) = dir.children.get_mut(*first)? else {
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
