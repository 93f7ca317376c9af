//! A small in-memory driver that follows the contract, written plainly (a map of paths to
//! contents under one lock, closed uploads parked beside it), with a hook for one deliberate
//! bug. Shared by the suite's tests of itself: `model.rs` runs every check on it (a check that
//! fails there is a bug in the check), `random.rs` runs the random model checker on it with and
//! without a bug.
//!
//! The trait methods are written out in the form `#[async_trait]` generates, so that the suite
//! needs no dependency of its own for this test.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use futures::future::BoxFuture;
use wharf_runtime::path::{is_ancestor, parent};
use wharf_runtime::{
    Base, ByteStream, Error, FileInfo, FileWriter, Result, StorageDriver, stream::from_bytes,
};
use wharf_testsuite::Fixture;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The deliberate bug a driver carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    None,
    /// `list` leaves out the last child of a directory with three or more.
    ListDropsLast,
    /// `delete("/a")` also deletes string-prefix siblings such as `/a-b` and `/ab/c`.
    DeletePrefixSiblings,
    /// `move("/a", …)` also moves string-prefix siblings such as `/a-b`.
    MovePrefixSiblings,
    /// A resumed upload reports one byte less than it holds.
    ResumeSizeOffByOne,
    /// The first `stat` of a file, and only that one, reports a size one byte too large.
    StatLiesOnce,
}

#[derive(Default)]
struct Store {
    files: BTreeMap<String, (Bytes, SystemTime)>,
    /// Closed, uncommitted uploads by path.
    uploads: HashMap<String, Vec<u8>>,
    /// Set once the one-time lie has been told.
    lied: bool,
}

#[derive(Clone)]
struct Memory {
    store: Arc<Mutex<Store>>,
    bug: Bug,
    /// The size of the chunks readers hand out.
    chunk: usize,
}

impl Memory {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when `path` is `prefix` or lies under it — or, with a prefix bug, merely starts
    /// with it.
    fn covers(&self, prefix: &str, path: &str, bug: Bug) -> bool {
        if self.bug == bug {
            path.starts_with(prefix)
        } else {
            path == prefix || is_ancestor(prefix, path)
        }
    }

    fn is_dir(store: &Store, path: &str) -> bool {
        path == "/" || store.files.keys().any(|f| is_ancestor(path, f))
    }

    fn get(&self, path: &str) -> Result<Bytes> {
        self.lock()
            .files
            .get(path)
            .map(|(b, _)| b.clone())
            .ok_or_else(|| Error::not_found(path))
    }

    fn stat_now(&self, path: &str) -> Result<FileInfo> {
        let mut store = self.lock();
        if let Some((b, modified)) = store.files.get(path) {
            let (mut size, modified) = (b.len() as u64, *modified);
            if self.bug == Bug::StatLiesOnce && !store.lied {
                store.lied = true;
                size += 1;
            }
            return Ok(FileInfo::file(path, size, modified));
        }
        if Self::is_dir(&store, path) {
            return Ok(FileInfo::dir(path, SystemTime::UNIX_EPOCH));
        }
        Err(Error::not_found(path))
    }

    fn list_now(&self, path: &str) -> Result<Vec<String>> {
        let store = self.lock();
        if !Self::is_dir(&store, path) {
            return Err(Error::not_found(path));
        }
        let mut children: Vec<String> = store
            .files
            .keys()
            .filter(|f| is_ancestor(path, f))
            .map(|f| {
                let mut child = f.as_str();
                while parent(child) != path {
                    child = parent(child);
                }
                child.to_owned()
            })
            .collect();
        children.sort();
        children.dedup();
        if self.bug == Bug::ListDropsLast && children.len() >= 3 {
            children.pop();
        }
        Ok(children)
    }

    fn rename_now(&self, source: &str, dest: &str) -> Result<()> {
        let mut store = self.lock();
        let mut above = parent(source);
        while above != "/" {
            if store.files.contains_key(above) {
                return Err(Error::not_found(source));
            }
            above = parent(above);
        }
        let moved: Vec<String> = store
            .files
            .keys()
            .filter(|f| self.covers(source, f, Bug::MovePrefixSiblings))
            .cloned()
            .collect();
        if moved.is_empty() {
            return Err(Error::not_found(source));
        }
        for from in moved {
            if let Some(v) = store.files.remove(&from) {
                store
                    .files
                    .insert(format!("{dest}{}", &from[source.len()..]), v);
            }
        }
        Ok(())
    }

    fn delete_now(&self, path: &str) -> Result<()> {
        let mut store = self.lock();
        let before = store.files.len();
        store
            .files
            .retain(|f, _| !self.covers(path, f, Bug::DeletePrefixSiblings));
        store
            .uploads
            .retain(|f, _| !self.covers(path, f, Bug::DeletePrefixSiblings));
        if store.files.len() == before {
            return Err(Error::not_found(path));
        }
        Ok(())
    }

    fn open_writer(&self, path: &str, append: bool) -> Result<MemoryWriter> {
        let mut store = self.lock();
        let buf = if append {
            match store.uploads.remove(path) {
                Some(upload) => upload,
                None => match store.files.get(path) {
                    Some((b, _)) => b.to_vec(),
                    None => return Err(Error::not_found(path)),
                },
            }
        } else {
            store.uploads.remove(path);
            Vec::new()
        };
        let lie = usize::from(append && self.bug == Bug::ResumeSizeOffByOne && !buf.is_empty());
        Ok(MemoryWriter {
            memory: self.clone(),
            path: path.to_owned(),
            buf,
            lie,
            open: true,
        })
    }
}

impl StorageDriver for Memory {
    fn name(&self) -> &str {
        "memory"
    }

    fn get_content<'life0, 'life1, 'async_trait>(
        &'life0 self,
        path: &'life1 str,
    ) -> Boxed<'async_trait, Bytes>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.get(path) })
    }

    fn put_content<'life0, 'life1, 'async_trait>(
        &'life0 self,
        path: &'life1 str,
        content: Bytes,
    ) -> Boxed<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.lock()
                .files
                .insert(path.to_owned(), (content, SystemTime::now()));
            Ok(())
        })
    }

    fn reader<'life0, 'life1, 'async_trait>(
        &'life0 self,
        path: &'life1 str,
        offset: u64,
    ) -> Boxed<'async_trait, ByteStream>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let content = self.get(path)?;
            if offset > content.len() as u64 {
                return Err(Error::invalid_offset(path, offset));
            }
            Ok(from_bytes(content.slice(offset as usize..), self.chunk))
        })
    }

    fn writer<'life0, 'life1, 'async_trait>(
        &'life0 self,
        path: &'life1 str,
        append: bool,
    ) -> Boxed<'async_trait, Box<dyn FileWriter>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let w: Box<dyn FileWriter> = Box::new(self.open_writer(path, append)?);
            Ok(w)
        })
    }

    fn stat<'life0, 'life1, 'async_trait>(
        &'life0 self,
        path: &'life1 str,
    ) -> Boxed<'async_trait, FileInfo>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.stat_now(path) })
    }

    fn list<'life0, 'life1, 'async_trait>(
        &'life0 self,
        path: &'life1 str,
    ) -> Boxed<'async_trait, Vec<String>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.list_now(path) })
    }

    fn rename<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        source: &'life1 str,
        dest: &'life2 str,
    ) -> Boxed<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.rename_now(source, dest) })
    }

    fn delete<'life0, 'life1, 'async_trait>(
        &'life0 self,
        path: &'life1 str,
    ) -> Boxed<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.delete_now(path) })
    }
}

struct MemoryWriter {
    memory: Memory,
    path: String,
    buf: Vec<u8>,
    /// Bytes `size()` leaves out (the resume bug).
    lie: usize,
    open: bool,
}

impl MemoryWriter {
    fn park(&mut self) {
        if self.open {
            self.open = false;
            let buf = std::mem::take(&mut self.buf);
            let size = buf.len();
            self.memory.lock().uploads.insert(self.path.clone(), buf);
            self.buf = vec![0; size];
        }
    }
}

impl Drop for MemoryWriter {
    fn drop(&mut self) {
        self.park();
    }
}

impl FileWriter for MemoryWriter {
    fn write<'life0, 'async_trait>(&'life0 mut self, data: Bytes) -> Boxed<'async_trait, ()>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.buf.extend_from_slice(&data);
            Ok(())
        })
    }

    fn size(&self) -> u64 {
        (self.buf.len() - self.lie) as u64
    }

    fn close<'life0, 'async_trait>(&'life0 mut self) -> Boxed<'async_trait, ()>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.park();
            Ok(())
        })
    }

    fn commit<'life0, 'async_trait>(&'life0 mut self) -> Boxed<'async_trait, ()>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.open = false;
            let content = Bytes::copy_from_slice(&self.buf);
            self.memory
                .lock()
                .files
                .insert(self.path.clone(), (content, SystemTime::now()));
            Ok(())
        })
    }

    fn cancel<'life0, 'async_trait>(&'life0 mut self) -> Boxed<'async_trait, ()>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.open = false;
            Ok(())
        })
    }
}

struct MemoryFixture {
    memory: Memory,
    driver: Arc<dyn StorageDriver>,
}

impl Fixture for MemoryFixture {
    fn driver(&self) -> Arc<dyn StorageDriver> {
        self.driver.clone()
    }

    fn second_instance(&self) -> BoxFuture<'_, Result<Arc<dyn StorageDriver>>> {
        let memory = self.memory.clone();
        Box::pin(async move { Ok(Base::wrap(Arc::new(memory))) })
    }
}

/// A fixture on a fresh store whose driver carries `bug` and hands out reads in chunks of
/// `chunk` bytes.
pub fn fixture(bug: Bug, chunk: usize) -> Arc<dyn Fixture> {
    let memory = Memory {
        store: Arc::new(Mutex::new(Store::default())),
        bug,
        chunk,
    };
    let driver = Base::wrap(Arc::new(memory.clone()));
    Arc::new(MemoryFixture { memory, driver })
}
