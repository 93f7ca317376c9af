//! The random model checker checked against itself: a small in-memory driver that follows the
//! contract agrees with the model over thousands of operations, and the same driver with one
//! deliberate bug — the kind real drivers had — is caught and shrunk to a handful of steps that
//! replay to the same disagreement.
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
use wharf_testsuite::random::{self, Mismatch, Options, parse_steps};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The deliberate bug a driver carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
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
    files: BTreeMap<String, Bytes>,
    uploads: HashMap<String, Vec<u8>>,
    /// Set once the one-time lie has been told.
    lied: bool,
}

#[derive(Clone)]
struct Memory {
    store: Arc<Mutex<Store>>,
    bug: Bug,
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
            .cloned()
            .ok_or_else(|| Error::not_found(path))
    }

    fn stat_now(&self, path: &str) -> Result<FileInfo> {
        let mut store = self.lock();
        if let Some(b) = store.files.get(path) {
            let mut size = b.len() as u64;
            if self.bug == Bug::StatLiesOnce && !store.lied {
                store.lied = true;
                size += 1;
            }
            return Ok(FileInfo::file(path, size, SystemTime::now()));
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
                    Some(b) => b.to_vec(),
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
            self.lock().files.insert(path.to_owned(), content);
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
            Ok(from_bytes(content.slice(offset as usize..), 1009))
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
            self.memory.lock().files.insert(self.path.clone(), content);
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

fn fixture(bug: Bug) -> Arc<dyn Fixture> {
    let memory = Memory {
        store: Arc::new(Mutex::new(Store::default())),
        bug,
    };
    let driver = Base::wrap(Arc::new(memory.clone()));
    Arc::new(MemoryFixture { memory, driver })
}

/// The first of seeds 1, 2, … whose sequence catches `bug`.
async fn caught(bug: Bug) -> Mismatch {
    for seed in 1..=20 {
        let options = Options {
            seed,
            ..Options::default()
        };
        if let Err(mismatch) = random::run(fixture(bug), options).await {
            return mismatch;
        }
    }
    panic!("{bug:?}: 20 runs of 300 operations found nothing");
}

/// `bug` is caught, shrunk to at most `steps` steps that end with `op`, and the printed
/// sequence replays to the same disagreement.
async fn caught_and_shrunk(bug: Bug, steps: usize, op: &str) {
    let mismatch = caught(bug).await;
    let text = mismatch.to_string();
    println!("{bug:?}: {text}");
    assert!(mismatch.steps.len() <= steps, "{bug:?}: {text}");
    assert!(mismatch.call.contains(op), "{bug:?}: {text}");
    assert!(text.contains("seed "), "{text}");
    let printed: String = text
        .lines()
        .filter(|l| l.starts_with("    ") && !l.trim_start().starts_with("driver:"))
        .filter(|l| !l.trim_start().starts_with("model:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let steps = parse_steps(&printed).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(steps, mismatch.steps);
    let again = random::replay(fixture(bug), steps, 0)
        .await
        .expect_err("the shrunk sequence replays to a disagreement");
    assert_eq!(again.call, mismatch.call, "{again}");
    assert_eq!(again.driver, mismatch.driver, "{again}");
    // Only the bug makes the difference.
    let fine = random::replay(fixture(Bug::None), mismatch.steps.clone(), 0).await;
    assert!(
        fine.is_ok(),
        "{bug:?}: the sequence fails without the bug too: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_that_follows_the_contract_agrees() {
    for seed in 1..=10 {
        let options = Options {
            ops: 1000,
            seed,
            ..Options::default()
        };
        if let Err(mismatch) = random::run(fixture(Bug::None), options).await {
            panic!("{mismatch}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_drops_an_entry_is_caught() {
    caught_and_shrunk(Bug::ListDropsLast, 4, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_of_prefix_siblings_is_caught() {
    caught_and_shrunk(Bug::DeletePrefixSiblings, 4, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_of_prefix_siblings_is_caught() {
    caught_and_shrunk(Bug::MovePrefixSiblings, 4, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_size_that_lies_is_caught() {
    caught_and_shrunk(Bug::ResumeSizeOffByOne, 4, "writer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disagreement_that_does_not_come_back_is_not_shrunk() {
    let mismatch = caught(Bug::StatLiesOnce).await;
    let text = mismatch.to_string();
    assert!(!mismatch.reproducible, "{text}");
    assert_eq!(mismatch.replays, 1, "{text}");
    assert!(text.contains("did not fail the same way"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_finds_the_same_sequence() {
    let a = caught(Bug::DeletePrefixSiblings).await;
    let b = caught(Bug::DeletePrefixSiblings).await;
    assert_eq!(a.to_string(), b.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_that_is_not_empty_is_refused() {
    let fx = fixture(Bug::None);
    fx.driver()
        .put_content("/existing", Bytes::from_static(b"data"))
        .await
        .expect("put_content");
    let mismatch = random::run(fx, Options::default())
        .await
        .expect_err("a run over existing data");
    assert!(mismatch.to_string().contains("/existing"), "{mismatch}");
}
