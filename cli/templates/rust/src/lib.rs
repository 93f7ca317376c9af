//! rust-inmemory: a Wharf storage driver as a WebAssembly component, written against the WIT
//! bindings alone (world `storage-driver` of `wharf:storage@0.2.0`, in `wit/`).
//!
//! The whole namespace lives in the instance's memory. The driver is stateful (the host runs one
//! instance and serialises calls), so an upload closed without commit is parked in the
//! instance's store, and a later `open-writer(path, true)` through any driver with the same
//! configuration resumes it.
//!
//! Parameters: `namespace` (optional: drivers created with the same value share a store) and
//! nothing else.
//!
//! The host validates every path before a call reaches the guest: a path here is `/`, or `/`
//! followed by non-empty components of `[A-Za-z0-9._-]`; `/` reaches only stat, list and walk.
//! The host also keeps the writer state rules (nothing after `commit` or `cancel`), so the
//! code below only does storage.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

wit_bindgen::generate!({
    path: "wit",
    world: "storage-driver",
    // Also the bindings of the wasi:io streams the world uses (in wit/deps/). A driver that
    // hands the host streams opened through the `wasip2` crate maps them to that crate
    // instead: `with: { "wasi:io/streams@0.2.12": wasip2::io::streams, … }`.
    generate_all,
});

use exports::wharf::storage::driver::{
    self as wit, Error, FileInfo, OpenedPut, OpenedReader, OpenedWriter, Param, PartKind,
    RedirectMethod, ResumePoint, WalkPage,
};
use exports::wharf::storage::manifest::{self, Info};
use wharf::storage::host_log::{Level, log};
use wharf::storage::types::{BackendError, Datetime, InvalidOffset};

/// The driver's name, as operators register it.
const NAME: &str = "rust-inmemory";

type Result<T> = std::result::Result<T, Error>;

// ---------------------------------------------------------------------------------------------
// The store. Files are kept under a *key*: the path with every `/` replaced by `\x01`. Every
// character a path may hold sorts after `\x01`, so the keys' byte order is the walk order
// (depth first, siblings in byte order of their names): `/a/b` → `\x01a\x01b` comes before
// `/a-b` → `\x01a-b`, as the contract wants, although `"/a-b" < "/a/b"`. Directories are not
// stored: a path is a directory when some file's key starts with its key followed by `\x01`.

const SEP: char = '\u{1}';

fn key(path: &str) -> String {
    if path == "/" {
        String::new()
    } else {
        path.replace('/', "\u{1}")
    }
}

fn path_of(key: &str) -> String {
    key.replace(SEP, "/")
}

/// The key every descendant of `key`'s directory starts with.
fn below(key: &str) -> String {
    format!("{key}{SEP}")
}

struct File {
    content: Rc<Vec<u8>>,
    modified: Datetime,
}

#[derive(Default)]
struct Store {
    files: BTreeMap<String, File>,
    /// Uploads closed without commit, by path, until resumed, replaced or cancelled.
    parked: HashMap<String, Vec<u8>>,
}

impl Store {
    fn file(&self, path: &str) -> Option<&File> {
        self.files.get(&key(path))
    }

    /// True when some file lies under `key`'s directory.
    fn has_below(&self, key: &str) -> bool {
        let prefix = below(key);
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// The keys of the files under `key`'s directory.
    fn keys_below(&self, key: &str) -> Vec<String> {
        let prefix = below(key);
        self.files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Fails when `path` cannot hold a file: a directory is there, or a file is where one of
    /// its parents would be.
    fn check_file_path(&self, path: &str) -> Result<()> {
        let key = key(path);
        if self.has_below(&key) {
            return Err(backend(format!("{path} is a directory")));
        }
        match self.file_above(&key) {
            Some(parent) => Err(backend(format!("{parent} is a file, not a directory"))),
            None => Ok(()),
        }
    }

    /// The path of a file where one of `key`'s parent directories would be, if there is one.
    fn file_above(&self, key: &str) -> Option<String> {
        let mut end = 0;
        while let Some(i) = key[end + 1..].find(SEP) {
            end += 1 + i;
            if self.files.contains_key(&key[..end]) {
                return Some(path_of(&key[..end]));
            }
        }
        None
    }

    fn commit(&mut self, path: &str, content: Vec<u8>) -> Result<()> {
        self.check_file_path(path)?;
        let file = File {
            content: Rc::new(content),
            modified: now(),
        };
        self.files.insert(key(path), file);
        Ok(())
    }
}

thread_local! {
    /// One store per `namespace` parameter.
    static STORES: RefCell<HashMap<String, Rc<RefCell<Store>>>> = RefCell::default();
}

fn now() -> Datetime {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Datetime {
        seconds: since.as_secs(),
        nanoseconds: since.subsec_nanos(),
    }
}

const EPOCH: Datetime = Datetime {
    seconds: 0,
    nanoseconds: 0,
};

fn not_found(path: &str) -> Error {
    Error::PathNotFound(path.to_owned())
}

fn backend(message: String) -> Error {
    Error::Backend(BackendError {
        message,
        temporary: false,
    })
}

fn dir_info(path: String) -> FileInfo {
    FileInfo {
        path,
        size: 0,
        mod_time: EPOCH,
        is_dir: true,
    }
}

// ---------------------------------------------------------------------------------------------
// The exports.

struct Component;

impl manifest::Guest for Component {
    fn describe() -> Info {
        Info {
            name: NAME.to_owned(),
            wit_version: "0.2.0".to_owned(),
            stateful: true,
            requested: Vec::new(),
        }
    }
}

impl wit::Guest for Component {
    type Driver = Driver;
    type Reader = Reader;
    type Writer = Writer;
    type Put = Put;
}

/// A driver: a handle on its namespace's store.
struct Driver {
    store: Rc<RefCell<Store>>,
}

impl wit::GuestDriver for Driver {
    fn create(params: Vec<Param>) -> Result<wit::Driver> {
        // A panic traps, and the host then discards the instance; say why first, in the log and
        // on stderr (the host quotes the last lines written there in its error).
        std::panic::set_hook(Box::new(|panic| {
            log(Level::Error, &format!("panicked: {panic}"));
            eprintln!("panicked: {panic}");
        }));
        let mut namespace = String::new();
        for Param { key, value } in params {
            match key.as_str() {
                "namespace" => namespace = value,
                _ => {
                    return Err(backend(format!(
                        "unknown parameter {key} (accepted: namespace)"
                    )));
                }
            }
        }
        let store = STORES.with(|stores| stores.borrow_mut().entry(namespace).or_default().clone());
        Ok(wit::Driver::new(Driver { store }))
    }

    fn get_content(&self, path: String) -> Result<wit::Content> {
        let store = self.store.borrow();
        let file = store.file(&path).ok_or_else(|| not_found(&path))?;
        Ok(wit::Content::Bytes(file.content.to_vec()))
    }

    fn put_content(&self, path: String, content: Vec<u8>) -> Result<()> {
        self.store.borrow_mut().commit(&path, content)
    }

    fn begin_put(&self, _path: String, _length: u64) -> Result<Option<OpenedPut>> {
        // Contents come through `put-content`.
        Ok(None)
    }

    fn open_reader(&self, path: String, offset: u64) -> Result<OpenedReader> {
        let store = self.store.borrow();
        let file = store.file(&path).ok_or_else(|| not_found(&path))?;
        if offset > file.content.len() as u64 {
            return Err(Error::InvalidOffset(InvalidOffset { path, offset }));
        }
        // The reader keeps the content it started with: a later put or commit replaces the
        // file's content, never changes it.
        let reader = Reader {
            content: file.content.clone(),
            position: RefCell::new(offset as usize),
        };
        Ok(OpenedReader {
            reader: wit::Reader::new(reader),
            stream: None,
        })
    }

    fn open_writer(&self, path: String, append: bool) -> Result<OpenedWriter> {
        let mut store = self.store.borrow_mut();
        let content = if append {
            match store.parked.remove(&path) {
                Some(parked) => parked,
                None => match store.file(&path) {
                    Some(file) => file.content.to_vec(),
                    None => return Err(not_found(&path)),
                },
            }
        } else {
            store.parked.remove(&path);
            Vec::new()
        };
        let size = content.len() as u64;
        let writer = Writer {
            store: self.store.clone(),
            path,
            content: RefCell::new(content),
            size: RefCell::new(size),
        };
        Ok(OpenedWriter {
            writer: wit::Writer::new(writer),
            size,
            part_size: 0,
            first_part: 0,
        })
    }

    fn stat(&self, path: String) -> Result<FileInfo> {
        if path == "/" {
            return Ok(dir_info(path));
        }
        let store = self.store.borrow();
        if let Some(file) = store.file(&path) {
            return Ok(FileInfo {
                size: file.content.len() as u64,
                mod_time: file.modified,
                is_dir: false,
                path,
            });
        }
        if store.has_below(&key(&path)) {
            return Ok(dir_info(path));
        }
        Err(not_found(&path))
    }

    fn list(&self, path: String) -> Result<Vec<String>> {
        let store = self.store.borrow();
        let prefix = below(&key(&path));
        let mut children: Vec<String> = Vec::new();
        for k in store.keys_below(&key(&path)) {
            let name = k[prefix.len()..].split(SEP).next().unwrap_or_default();
            if children.last().map(String::as_str) != Some(name) {
                children.push(name.to_owned());
            }
        }
        if children.is_empty() && path != "/" {
            return Err(not_found(&path));
        }
        let parent = if path == "/" { "" } else { path.as_str() };
        // Keys in byte order list the names in byte order too.
        Ok(children
            .into_iter()
            .map(|name| format!("{parent}/{name}"))
            .collect())
    }

    fn move_(&self, source: String, dest: String) -> Result<()> {
        let mut store = self.store.borrow_mut();
        let (from, to) = (key(&source), key(&dest));
        let is_file = store.files.contains_key(&from);
        let moved = store.keys_below(&from);
        if !is_file && moved.is_empty() {
            return Err(not_found(&source));
        }
        if source == dest {
            return Ok(());
        }
        if to.starts_with(&below(&from)) {
            return Err(backend(format!(
                "cannot move {source} into itself ({dest})"
            )));
        }
        // Checked before anything changes, so a refused move changes nothing.
        if let Some(file) = store.file_above(&to) {
            return Err(backend(format!(
                "cannot move {source} to {dest}: {file} is a file"
            )));
        }
        // The destination, file or directory, is replaced as a whole.
        store.files.remove(&to);
        for k in store.keys_below(&to) {
            store.files.remove(&k);
        }
        if is_file {
            let file = store.files.remove(&from).expect("checked above");
            store.files.insert(to, file);
        } else {
            for k in moved {
                let file = store.files.remove(&k).expect("listed above");
                store
                    .files
                    .insert(format!("{to}{}", &k[from.len()..]), file);
            }
        }
        Ok(())
    }

    fn delete(&self, path: String) -> Result<()> {
        let mut store = self.store.borrow_mut();
        let key = key(&path);
        let mut found = store.files.remove(&key).is_some();
        for k in store.keys_below(&key) {
            store.files.remove(&k);
            found = true;
        }
        if !found {
            return Err(not_found(&path));
        }
        // Uploads parked at or under the path go with it.
        let under = format!("{path}/");
        store
            .parked
            .retain(|p, _| *p != path && !p.starts_with(&under));
        Ok(())
    }

    fn redirect_url(
        &self,
        _method: RedirectMethod,
        _path: String,
        _expiry_seconds: u64,
    ) -> Result<Option<String>> {
        // Nothing to fetch directly: the registry serves the content itself.
        Ok(None)
    }

    fn walk(&self, path: String, resume: Option<ResumePoint>, limit: u32) -> Result<WalkPage> {
        let store = self.store.borrow();
        let root = key(&path);
        let root_below = below(&root);
        if path != "/" && !store.has_below(&root) {
            return Err(not_found(&path));
        }
        // Everything at or before `after` in walk order was reported already; with a skipped
        // subtree, everything under it too.
        let (after, skip) = match resume {
            None => (None, None),
            Some(ResumePoint::After(p)) => (Some(key(&p)), None),
            Some(ResumePoint::AfterSubtree(p)) => (Some(key(&p)), Some(below(&key(&p)))),
        };
        let limit = limit.max(1) as usize;
        let start = match &after {
            Some(a) if *a >= root_below => Bound::Excluded(a.clone()),
            _ => Bound::Included(root_below.clone()),
        };
        let mut entries = Vec::new();
        for (k, file) in store.files.range((start, Bound::Unbounded)) {
            if !k.starts_with(&root_below) {
                break;
            }
            if skip.as_ref().is_some_and(|s| k.starts_with(s)) {
                continue;
            }
            // The file's directories below the root come first, unless reported already.
            let mut end = root_below.len();
            while let Some(i) = k[end..].find(SEP) {
                end += i;
                let dir = &k[..end];
                let reported = after.as_deref().is_some_and(|a| dir <= a)
                    || entries
                        .last()
                        .is_some_and(|(last, _): &(String, _)| last.as_str() >= dir);
                if !reported {
                    entries.push((dir.to_owned(), None));
                }
                end += 1;
            }
            entries.push((k.clone(), Some(file)));
            if entries.len() >= limit {
                break;
            }
        }
        // A page ends early only when the walk is complete.
        let done = entries.len() < limit;
        let mut entries: Vec<FileInfo> = entries
            .into_iter()
            .map(|(k, file)| match file {
                None => dir_info(path_of(&k)),
                Some(f) => FileInfo {
                    path: path_of(&k),
                    size: f.content.len() as u64,
                    mod_time: f.modified,
                    is_dir: false,
                },
            })
            .collect();
        // Directories pushed before the file that filled the page may overflow it; the next
        // page resumes after the last one kept.
        entries.truncate(limit);
        Ok(WalkPage { entries, done })
    }
}

/// A reader over the content a file had when the reader opened.
struct Reader {
    content: Rc<Vec<u8>>,
    position: RefCell<usize>,
}

impl wit::GuestReader for Reader {
    fn read(&self, max: u32) -> Result<Vec<u8>> {
        let mut position = self.position.borrow_mut();
        let end = self.content.len().min(*position + max as usize);
        let chunk = self.content[*position..end].to_vec();
        *position = end;
        Ok(chunk)
    }
}

/// An upload: its bytes accumulate in the writer until `close` parks them in the store or
/// `commit` makes them the file.
struct Writer {
    store: Rc<RefCell<Store>>,
    path: String,
    content: RefCell<Vec<u8>>,
    /// Bytes accepted, earlier sessions included; kept when the content moves out.
    size: RefCell<u64>,
}

impl wit::GuestWriter for Writer {
    fn write(&self, data: Vec<u8>) -> Result<()> {
        *self.size.borrow_mut() += data.len() as u64;
        self.content.borrow_mut().extend_from_slice(&data);
        Ok(())
    }

    fn begin_part(&self, _length: u64, _kind: PartKind) -> Result<wit::OutputStream> {
        // This writer asked for no parts (`part-size` 0), so the host never calls this.
        Err(Error::Unsupported("begin-part".to_owned()))
    }

    fn end_part(&self, _written: u64) -> Result<()> {
        Err(Error::Unsupported("end-part".to_owned()))
    }

    fn size(&self) -> u64 {
        *self.size.borrow()
    }

    fn close(&self) -> Result<()> {
        let content = std::mem::take(&mut *self.content.borrow_mut());
        self.store
            .borrow_mut()
            .parked
            .insert(self.path.clone(), content);
        Ok(())
    }

    fn commit(&self) -> Result<()> {
        let mut store = self.store.borrow_mut();
        // Checked first: a refused commit leaves the upload whole for a close or a cancel.
        store.check_file_path(&self.path)?;
        let content = std::mem::take(&mut *self.content.borrow_mut());
        store.commit(&self.path, content)?;
        store.parked.remove(&self.path);
        Ok(())
    }

    fn cancel(&self) -> Result<()> {
        self.content.borrow_mut().clear();
        self.store.borrow_mut().parked.remove(&self.path);
        Ok(())
    }
}

/// `begin-put` always answers none, so no put is ever made.
struct Put;

impl wit::GuestPut for Put {
    fn finish(&self, _written: u64) -> Result<()> {
        Err(Error::Unsupported("begin-put".to_owned()))
    }
}

export!(Component);
