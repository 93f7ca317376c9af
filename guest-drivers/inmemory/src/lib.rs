//! The in-memory storage driver as a WebAssembly guest: the whole namespace in the instance's
//! memory. It is stateful (the host runs one instance and serialises calls), so uploads closed
//! without commit are parked in the instance's store, and a later `writer(path, true)` through
//! any driver resource with the same configuration resumes them.
//!
//! Parameters: `namespace` (optional; it only tells configurations apart: drivers created with
//! the same value share a store) and nothing else.

#![forbid(unsafe_code)]

mod store;

use std::cell::RefCell;
use std::mem;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use wharf_guest_sdk::path::{ROOT, join};
use wharf_guest_sdk::{Driver, Error, FileInfo, Params, ReadChunks, Result, Upload};

use crate::store::{Node, Rope, Store};

/// The in-memory driver: a handle on its namespace's store.
pub struct InMemoryDriver {
    store: Rc<RefCell<Store>>,
}

impl Driver for InMemoryDriver {
    type Reader = MemReader;
    type Writer = MemWriter;

    fn new(mut params: Params) -> Result<Self> {
        let namespace = params.string("namespace")?;
        params.finish()?;
        Ok(Self {
            store: store::named(namespace),
        })
    }

    fn get_content(&self, path: &str) -> Result<Vec<u8>> {
        let store = self.store.borrow();
        let file = store.file(path).ok_or_else(|| Error::not_found(path))?;
        Ok(file.content.to_vec())
    }

    fn put_content(&self, path: &str, content: Vec<u8>) -> Result<()> {
        self.store
            .borrow_mut()
            .commit_file(path, Rope::from_vec(content))
    }

    fn reader(&self, path: &str, offset: u64) -> Result<MemReader> {
        let store = self.store.borrow();
        let file = store.file(path).ok_or_else(|| Error::not_found(path))?;
        if offset > file.content.len() {
            return Err(Error::invalid_offset(path, offset));
        }
        // The reader keeps the content it started with: a later put or commit replaces the
        // file's rope, never changes it.
        Ok(MemReader {
            content: file.content.clone(),
            position: offset,
        })
    }

    fn writer(&self, path: &str, append: bool) -> Result<MemWriter> {
        let mut store = self.store.borrow_mut();
        let content = if append {
            // A parked upload moves into the writer (the SDK parks it again when the writer is
            // closed or dropped); committed content is copied, so it stays intact until commit.
            match store.uploads.remove(path) {
                Some(parked) => parked,
                None => match store.file(path) {
                    Some(file) => (*file.content).clone(),
                    None => return Err(Error::not_found(path)),
                },
            }
        } else {
            store.uploads.remove(path);
            Rope::default()
        };
        Ok(MemWriter {
            store: self.store.clone(),
            path: path.to_owned(),
            size: content.len(),
            content,
        })
    }

    fn stat(&self, path: &str) -> Result<FileInfo> {
        if path == ROOT {
            return Ok(FileInfo::dir(ROOT, UNIX_EPOCH));
        }
        match self.store.borrow().tree.lookup(path) {
            Some(Node::File(f)) => Ok(FileInfo::file(path, f.content.len(), f.mod_time)),
            Some(Node::Dir(_)) => Ok(FileInfo::dir(path, UNIX_EPOCH)),
            None => Err(Error::not_found(path)),
        }
    }

    fn list(&self, path: &str) -> Result<Vec<String>> {
        let store = self.store.borrow();
        let dir = if path == ROOT {
            &store.tree
        } else {
            match store.tree.lookup(path) {
                Some(Node::Dir(d)) => d,
                _ => return Err(Error::not_found(path)),
            }
        };
        // BTreeMap keys are in byte order already.
        Ok(dir.children.keys().map(|name| join(path, name)).collect())
    }

    fn rename(&self, source: &str, dest: &str) -> Result<()> {
        self.store.borrow_mut().rename(source, dest)
    }

    fn delete(&self, path: &str) -> Result<()> {
        self.store.borrow_mut().delete(path)
    }
}

/// A reader over the content a file had when the reader opened.
pub struct MemReader {
    content: Rc<Rope>,
    position: u64,
}

impl ReadChunks for MemReader {
    fn read(&mut self, max: usize) -> Result<Vec<u8>> {
        let chunk = self.content.read_at(self.position, max);
        self.position += chunk.len() as u64;
        Ok(chunk)
    }
}

/// An upload: its content accumulates in the writer until `close` parks it in the store or
/// `commit` makes it the file.
pub struct MemWriter {
    store: Rc<RefCell<Store>>,
    path: String,
    content: Rope,
    /// Bytes accepted, earlier sessions included; kept when the content moves out on `close`
    /// or `commit`, so `size()` stays exact afterwards.
    size: u64,
}

impl Upload for MemWriter {
    fn write(&mut self, data: Vec<u8>) -> Result<()> {
        self.size += data.len() as u64;
        self.content.push(data);
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn close(&mut self) -> Result<()> {
        let content = mem::take(&mut self.content);
        self.store
            .borrow_mut()
            .uploads
            .insert(self.path.clone(), content);
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let mut store = self.store.borrow_mut();
        // Checked first: the content moves into the tree only when the commit cannot fail, so
        // a refused commit leaves the upload whole for a close or a cancel.
        store.check_file_path(&self.path)?;
        store.commit_file(&self.path, mem::take(&mut self.content))?;
        store.uploads.remove(&self.path);
        Ok(())
    }

    fn cancel(&mut self) -> Result<()> {
        self.content = Rope::default();
        self.store.borrow_mut().uploads.remove(&self.path);
        Ok(())
    }
}

wharf_guest_sdk::export_driver!(InMemoryDriver, name = "inmemory", stateful = true);
