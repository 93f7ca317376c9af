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

#[cfg(test)]
mod tests {
    use super::*;

    fn driver(namespace: &str) -> InMemoryDriver {
        match InMemoryDriver::new(Params::new([("namespace", namespace)])) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    fn read_all(mut r: MemReader, max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let chunk = r.read(max).unwrap();
            if chunk.is_empty() {
                return out;
            }
            assert!(chunk.len() <= max);
            out.extend(chunk);
        }
    }

    #[test]
    fn unknown_parameters_are_rejected() {
        let e = InMemoryDriver::new(Params::new([("bogus", "1")]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("unknown parameter bogus (accepted: namespace)")
        );
    }

    #[test]
    fn closed_uploads_resume_through_another_driver_of_the_namespace() {
        let (one, two, other) = (driver("resume"), driver("resume"), driver("resume-other"));
        let mut w = one.writer("/up", false).unwrap();
        w.write(b"abc".to_vec()).unwrap();
        w.close().unwrap();
        assert!(other.writer("/up", true).is_err_and(|e| e.is_not_found()));
        assert!(two.stat("/up").unwrap_err().is_not_found());
        let mut w = two.writer("/up", true).unwrap();
        assert_eq!(w.size(), 3);
        w.write(vec![b'd'; 70_000]).unwrap();
        w.commit().unwrap();
        assert_eq!(w.size(), 70_003);
        assert_eq!(one.get_content("/up").unwrap().len(), 70_003);
        assert_eq!(read_all(one.reader("/up", 70_000).unwrap(), 2), b"ddd");
    }

    #[test]
    fn cancel_keeps_committed_content_and_readers_keep_theirs() {
        let d = driver("cancel");
        d.put_content("/f", b"old".to_vec()).unwrap();
        let reader = d.reader("/f", 1).unwrap();
        let mut w = d.writer("/f", true).unwrap();
        assert_eq!(w.size(), 3);
        w.write(b"more".to_vec()).unwrap();
        w.cancel().unwrap();
        assert_eq!(d.get_content("/f").unwrap(), b"old");
        d.put_content("/f", b"new content".to_vec()).unwrap();
        assert_eq!(read_all(reader, 1), b"ld");
        assert!(matches!(
            d.reader("/f", 12),
            Err(Error::InvalidOffset { offset: 12, .. })
        ));
        assert!(read_all(d.reader("/f", 11).unwrap(), 4).is_empty());
    }

    #[test]
    fn stat_and_list_follow_components() {
        let d = driver("stat");
        d.put_content("/ab", Vec::new()).unwrap();
        d.put_content("/a/b", b"x".to_vec()).unwrap();
        d.put_content("/a-c/d", b"x".to_vec()).unwrap();
        assert!(d.stat("/a").unwrap().is_dir);
        assert!(!d.stat("/ab").unwrap().is_dir);
        assert!(d.stat("/a/b/c").unwrap_err().is_not_found());
        assert_eq!(d.list("/").unwrap(), ["/a", "/a-c", "/ab"]);
        assert!(d.list("/ab").unwrap_err().is_not_found());
        assert!(
            d.put_content("/a", Vec::new()).is_err(),
            "a directory is there"
        );
        let mut w = d.writer("/ab/x", false).unwrap();
        w.write(b"1".to_vec()).unwrap();
        assert!(w.commit().is_err(), "a file is where a parent would be");
        assert_eq!(w.size(), 1, "a refused commit keeps the upload");
        w.cancel().unwrap();
    }
}
