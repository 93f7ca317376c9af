//! The suite checked against itself: a deliberately plain model of the contract (a map of paths
//! to contents under one lock, uploads parked beside it) must pass every check. A check that
//! fails here is a bug in the check, not in a driver. The model also proves that
//! `conformance_tests!` expands as a driver crate uses it.
//!
//! The trait methods are written out in the form `#[async_trait]` generates, so that the suite
//! needs no dependency of its own for this test.

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

#[derive(Default)]
struct Store {
    files: BTreeMap<String, (Bytes, SystemTime)>,
    /// Closed, uncommitted uploads by path.
    uploads: HashMap<String, Vec<u8>>,
}

impl Store {
    fn is_dir(&self, path: &str) -> bool {
        path == "/" || self.files.keys().any(|f| is_ancestor(path, f))
    }
}

#[derive(Clone)]
struct Model {
    store: Arc<Mutex<Store>>,
}

impl Model {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, path: &str) -> Result<Bytes> {
        let store = self.lock();
        store
            .files
            .get(path)
            .map(|(b, _)| b.clone())
            .ok_or_else(|| Error::not_found(path))
    }

    fn stat_now(&self, path: &str) -> Result<FileInfo> {
        let store = self.lock();
        if let Some((b, t)) = store.files.get(path) {
            return Ok(FileInfo::file(path, b.len() as u64, *t));
        }
        if store.is_dir(path) {
            return Ok(FileInfo::dir(path, SystemTime::UNIX_EPOCH));
        }
        Err(Error::not_found(path))
    }

    fn list_now(&self, path: &str) -> Result<Vec<String>> {
        let store = self.lock();
        if !store.is_dir(path) {
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
        Ok(children)
    }

    fn rename_now(&self, source: &str, dest: &str) -> Result<()> {
        let mut store = self.lock();
        let moved: Vec<String> = store
            .files
            .keys()
            .filter(|f| *f == source || is_ancestor(source, f))
            .cloned()
            .collect();
        if moved.is_empty() {
            return Err(Error::not_found(source));
        }
        for from in moved {
            let to = format!("{dest}{}", &from[source.len()..]);
            if let Some(v) = store.files.remove(&from) {
                store.files.insert(to, v);
            }
        }
        Ok(())
    }

    fn delete_now(&self, path: &str) -> Result<()> {
        let mut store = self.lock();
        let before = store.files.len();
        store
            .files
            .retain(|f, _| f != path && !is_ancestor(path, f));
        store
            .uploads
            .retain(|f, _| f != path && !is_ancestor(path, f));
        if store.files.len() == before {
            return Err(Error::not_found(path));
        }
        Ok(())
    }

    fn open_writer(&self, path: &str, append: bool) -> Result<ModelWriter> {
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
        Ok(ModelWriter {
            model: self.clone(),
            path: path.to_owned(),
            buf,
            open: true,
        })
    }
}

impl StorageDriver for Model {
    fn name(&self) -> &str {
        "model"
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
            let mut store = self.lock();
            store
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
            // Small, odd-sized chunks, so the suite's stream handling is exercised.
            Ok(from_bytes(content.slice(offset as usize..), 100_003))
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

struct ModelWriter {
    model: Model,
    path: String,
    buf: Vec<u8>,
    /// False once committed, closed or cancelled (the base layer enforces the order).
    open: bool,
}

impl ModelWriter {
    fn park(&mut self) {
        if self.open {
            self.open = false;
            let buf = std::mem::take(&mut self.buf);
            let size = buf.len();
            self.model.lock().uploads.insert(self.path.clone(), buf);
            // Keep `size()` exact after close.
            self.buf = vec![0; size];
        }
    }
}

impl Drop for ModelWriter {
    fn drop(&mut self) {
        self.park();
    }
}

impl FileWriter for ModelWriter {
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
        self.buf.len() as u64
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
            self.model
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

struct ModelFixture {
    store: Arc<Mutex<Store>>,
    driver: Arc<dyn StorageDriver>,
}

impl Fixture for ModelFixture {
    fn driver(&self) -> Arc<dyn StorageDriver> {
        self.driver.clone()
    }

    fn second_instance(&self) -> BoxFuture<'_, Result<Arc<dyn StorageDriver>>> {
        let model = Model {
            store: self.store.clone(),
        };
        Box::pin(async move { Ok(Base::wrap(Arc::new(model))) })
    }
}

async fn make_fixture() -> Arc<dyn Fixture> {
    let store = Arc::new(Mutex::new(Store::default()));
    let driver = Base::wrap(Arc::new(Model {
        store: store.clone(),
    }));
    Arc::new(ModelFixture { store, driver })
}

wharf_testsuite::conformance_tests!(make_fixture);
