//! The state an in-memory driver instance works on: the committed tree and the uploads that were
//! closed but not committed. Several instances may share one store (by namespace), the way
//! several processes share one bucket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, Weak};
use std::time::SystemTime;

use wharf_runtime::path::{is_ancestor, parent};
use wharf_runtime::{Error, Result};

use crate::tree::{Dir, File, Node, Rope};

/// The committed tree plus pending uploads.
#[derive(Default)]
pub struct Store {
    tree: RwLock<Dir>,
    uploads: Mutex<HashMap<String, Rope>>,
}

/// The process-wide store called `name`, created on first use and freed when no driver holds it.
pub fn named(name: &str) -> Arc<Store> {
    static NAMED: OnceLock<Mutex<HashMap<String, Weak<Store>>>> = OnceLock::new();
    let mut map = NAMED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    map.retain(|_, weak| weak.strong_count() > 0);
    if let Some(store) = map.get(name).and_then(Weak::upgrade) {
        return store;
    }
    let store = Arc::new(Store::default());
    map.insert(name.to_owned(), Arc::downgrade(&store));
    store
}

impl Store {
    /// The tree, for reading. Every mutation finishes before its lock is released, so a
    /// poisoned lock still guards a consistent tree and is used as it is.
    pub fn read(&self) -> RwLockReadGuard<'_, Dir> {
        self.tree.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Dir> {
        self.tree.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Pending uploads by path.
    pub fn uploads(&self) -> MutexGuard<'_, HashMap<String, Rope>> {
        self.uploads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Atomically makes `content` the file at `path`, creating parents.
    pub fn commit_file(&self, path: &str, content: Rope) -> Result<()> {
        let mut tree = self.write();
        if let Some(Node::Dir(_)) = tree.lookup(path) {
            return Err(Error::backend(format!("a directory exists at {path}")));
        }
        let dir = tree.make_dirs(parent(path))?;
        let name = wharf_runtime::path::base_name(path).to_owned();
        dir.children.insert(
            name,
            Node::File(File {
                content,
                mod_time: SystemTime::now(),
            }),
        );
        Ok(())
    }

    /// Moves the node at `source` to `dest`, replacing what is there; nothing changes on error.
    pub fn rename(&self, source: &str, dest: &str) -> Result<()> {
        let mut tree = self.write();
        if tree.lookup(source).is_none() {
            return Err(Error::not_found(source));
        }
        if source == dest {
            return Ok(());
        }
        if is_ancestor(source, dest) {
            return Err(Error::backend(format!(
                "cannot move {source} into itself ({dest})"
            )));
        }
        // Every ancestor of dest must be a directory or missing, else the move cannot finish.
        let mut ancestor = parent(dest);
        while ancestor != "/" {
            if let Some(Node::File(_)) = tree.lookup(ancestor) {
                return Err(Error::backend(format!(
                    "cannot move to {dest}: {ancestor} is a file"
                )));
            }
            ancestor = parent(ancestor);
        }
        let node = tree
            .remove(source)
            .ok_or_else(|| Error::not_found(source))?;
        let dir = tree.make_dirs(parent(dest))?;
        dir.children
            .insert(wharf_runtime::path::base_name(dest).to_owned(), node);
        Ok(())
    }

    /// Removes `path` and everything under it, with any uploads pending there.
    pub fn delete(&self, path: &str) -> Result<()> {
        let mut tree = self.write();
        tree.remove(path).ok_or_else(|| Error::not_found(path))?;
        self.uploads()
            .retain(|p, _| p != path && !is_ancestor(path, p));
        Ok(())
    }

    /// The committed file at `path`, if any.
    pub fn committed(&self, path: &str) -> Option<Rope> {
        match self.read().lookup(path) {
            Some(Node::File(f)) => Some(f.content.clone()),
            _ => None,
        }
    }
}
