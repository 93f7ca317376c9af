//! The glue between a [`Driver`] and the generated WIT traits: resource types that wrap the
//! author's driver, reader and writer, convert arguments and results, keep the writer state
//! rules, and the [`export_driver!`](crate::export_driver) macro that exports them.

use std::cell::{Cell, RefCell};
use std::sync::Once;

use crate::bindings::exports::wharf::storage::driver as wit;
use crate::bindings::exports::wharf::storage::manifest;
use crate::bindings::wharf::storage::types as wit_types;
use crate::log::{Level, log};
use crate::{
    Capability, Driver, Error, FileInfo, Params, ReadChunks, RedirectMethod, Result, Resume,
    Upload, WIT_VERSION, since_epoch,
};

/// Exports a [`Driver`] as the component's `driver` and `manifest`.
///
/// ```ignore
/// wharf_guest_sdk::export_driver!(MyDriver, name = "mydriver", stateful = true);
/// wharf_guest_sdk::export_driver!(
///     FsDriver,
///     name = "filesystem",
///     stateful = false,
///     requested = [Capability::Directory("/data".into())],
/// );
/// ```
///
/// - `name`: the name operators register the driver under;
/// - `stateful`: true when the driver keeps state in instance memory (the host then runs one
///   instance and serialises calls), false when all state lives in the backend (the host may
///   run a pool of instances in parallel);
/// - `requested` (optional): [`Capability`](crate::Capability) values the guest would like
///   (`Capability` is in scope inside the brackets); the operator's policy decides.
///
/// Use it once per crate, at the top level of a `cdylib`.
#[macro_export]
macro_rules! export_driver {
    (
        $driver:ty,
        name = $name:expr,
        stateful = $stateful:expr
        $(, requested = [$($capability:expr),* $(,)?])?
        $(,)?
    ) => {
        #[doc(hidden)]
        pub struct __WharfGuestComponent;

        impl $crate::__private::ManifestGuest for __WharfGuestComponent {
            fn describe() -> $crate::__private::Info {
                #[allow(unused_imports)]
                use $crate::Capability;
                $crate::__private::info($name, $stateful, ::std::vec![$($($capability),*)?])
            }
        }

        impl $crate::__private::DriverGuest for __WharfGuestComponent {
            type Driver = $crate::__private::DriverResource<$driver>;
            type Reader = $crate::__private::ReaderResource;
            type Writer =
                $crate::__private::WriterResource<<$driver as $crate::Driver>::Writer>;
            type Put = $crate::__private::PutResource;
        }

        impl $crate::__private::ResumeGuest for __WharfGuestComponent {
            fn reopen(
                reader: $crate::__private::ReaderBorrow<'_>,
                offset: u64,
            ) -> ::core::result::Result<
                ::core::option::Option<$crate::InputStream>,
                $crate::__private::WitError,
            > {
                $crate::__private::reopen(reader, offset)
            }
        }

        $crate::__private::export!(__WharfGuestComponent with_types_in $crate::bindings);
    };
}

/// The manifest a guest reports.
pub fn info(name: &str, stateful: bool, requested: Vec<Capability>) -> manifest::Info {
    manifest::Info {
        name: name.to_owned(),
        wit_version: WIT_VERSION.to_owned(),
        stateful,
        requested: requested
            .into_iter()
            .map(|c| match c {
                Capability::Directory(p) => manifest::Capability::Directory(p),
                Capability::Http(h) => manifest::Capability::Http(h),
                Capability::Environment(v) => manifest::Capability::Environment(v),
            })
            .collect(),
    }
}

impl From<Error> for wit::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::PathNotFound(p) => Self::PathNotFound(p),
            Error::InvalidPath(p) => Self::InvalidPath(p),
            Error::InvalidOffset { path, offset } => {
                Self::InvalidOffset(wit_types::InvalidOffset { path, offset })
            }
            Error::Unsupported(op) => Self::Unsupported(op),
            Error::PermissionDenied(m) => Self::PermissionDenied(m),
            Error::Timeout(m) => Self::Timeout(m),
            Error::Backend { message, temporary } => {
                Self::Backend(wit_types::BackendError { message, temporary })
            }
        }
    }
}

fn to_wit_info(info: FileInfo) -> wit::FileInfo {
    let (seconds, nanoseconds) = since_epoch(info.mod_time);
    wit::FileInfo {
        path: info.path,
        size: info.size,
        mod_time: wit_types::Datetime {
            seconds,
            nanoseconds,
        },
        is_dir: info.is_dir,
    }
}

type WitResult<T> = std::result::Result<T, wit::Error>;

/// Reports a panic before the trap, through `host-log` and on stderr, whose last lines the host
/// quotes in the error that says the instance failed.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|panic| {
            let message = format!("guest panicked: {panic}");
            log(Level::Error, &message);
            eprintln!("{message}");
        }));
    });
}

/// The exported `driver` resource: the author's [`Driver`].
pub struct DriverResource<D: Driver> {
    driver: D,
}

impl<D: Driver> wit::GuestDriver for DriverResource<D> {
    fn create(params: Vec<wit::Param>) -> WitResult<wit::Driver> {
        install_panic_hook();
        let params = Params::new(params.into_iter().map(|p| (p.key, p.value)));
        let driver = D::new(params)?;
        Ok(wit::Driver::new(Self { driver }))
    }

    fn get_content(&self, path: String) -> WitResult<wit::Content> {
        Ok(match self.driver.content(&path)? {
            crate::Content::Bytes(bytes) => wit::Content::Bytes(bytes),
            crate::Content::Stream(mut reader) => match reader.stream() {
                Some(stream) => wit::Content::Stream(wit::StreamedContent {
                    size: reader.size(),
                    keep: wit::Reader::new(ReaderResource::new(reader)),
                    stream,
                }),
                // A reader whose stream is gone: its content is read here.
                None => {
                    let mut bytes = Vec::new();
                    loop {
                        let chunk = reader.read(1 << 20)?;
                        if chunk.is_empty() {
                            break wit::Content::Bytes(bytes);
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                }
            },
        })
    }

    fn begin_put(&self, path: String, length: u64) -> WitResult<Option<wit::OpenedPut>> {
        Ok(self
            .driver
            .begin_put(&path, length)?
            .map(|(put, stream)| wit::OpenedPut {
                put: wit::Put::new(PutResource(std::cell::RefCell::new(put))),
                stream,
            }))
    }

    fn put_content(&self, path: String, content: Vec<u8>) -> WitResult<()> {
        Ok(self.driver.put_content(&path, content)?)
    }

    fn open_reader(&self, path: String, offset: u64) -> WitResult<wit::OpenedReader> {
        let mut reader = self.driver.reader(&path, offset)?;
        let stream = reader.stream();
        Ok(wit::OpenedReader {
            reader: wit::Reader::new(ReaderResource::new(reader)),
            stream,
        })
    }

    fn open_writer(&self, path: String, append: bool) -> WitResult<wit::OpenedWriter> {
        let writer = self.driver.writer(&path, append)?;
        let (size, part_size, first_part) =
            (writer.size(), writer.part_size(), writer.first_part());
        Ok(wit::OpenedWriter {
            writer: wit::Writer::new(WriterResource::new(writer)),
            size,
            part_size,
            first_part,
        })
    }

    fn stat(&self, path: String) -> WitResult<wit::FileInfo> {
        let mut info = self.driver.stat(&path)?;
        // The contract: `stat` reports exactly the requested path.
        info.path = path;
        Ok(to_wit_info(info))
    }

    fn list(&self, path: String) -> WitResult<Vec<String>> {
        Ok(self.driver.list(&path)?)
    }

    fn move_(&self, source: String, dest: String) -> WitResult<()> {
        Ok(self.driver.rename(&source, &dest)?)
    }

    fn delete(&self, path: String) -> WitResult<()> {
        Ok(self.driver.delete(&path)?)
    }

    fn redirect_url(
        &self,
        method: wit::RedirectMethod,
        path: String,
        expiry_seconds: u64,
    ) -> WitResult<Option<String>> {
        let method = match method {
            wit::RedirectMethod::Get => RedirectMethod::Get,
            wit::RedirectMethod::Head => RedirectMethod::Head,
        };
        Ok(self.driver.redirect_url(method, &path, expiry_seconds)?)
    }

    fn walk(
        &self,
        path: String,
        resume: Option<wit::ResumePoint>,
        limit: u32,
    ) -> WitResult<wit::WalkPage> {
        let resume = resume.map(|r| match r {
            wit::ResumePoint::After(p) => Resume::After(p),
            wit::ResumePoint::AfterSubtree(p) => Resume::AfterSubtree(p),
        });
        let page = self.driver.walk_page(&path, resume.as_ref(), limit)?;
        Ok(wit::WalkPage {
            entries: page.entries.into_iter().map(to_wit_info).collect(),
            done: page.done,
        })
    }
}

/// The exported `put` resource: the driver's [`Put`](crate::Put).
pub struct PutResource(std::cell::RefCell<Box<dyn crate::Put>>);

impl wit::GuestPut for PutResource {
    fn finish(&self, written: u64) -> WitResult<()> {
        Ok(self.0.borrow_mut().finish(written)?)
    }
}

/// The exported `reader` resource: the author's [`ReadChunks`], with longer chunks split so the
/// host never gets more than `max` bytes. One type for every reader (the driver's, and those that
/// keep a content's stream alive), as the component model wants one per resource.
pub struct ReaderResource {
    state: RefCell<ReaderState>,
}

struct ReaderState {
    reader: Box<dyn ReadChunks>,
    /// A chunk the reader returned that was longer than the host asked for, and how much of it
    /// was handed out.
    pending: Vec<u8>,
    consumed: usize,
}

impl ReaderResource {
    fn new(reader: impl ReadChunks) -> Self {
        Self {
            state: RefCell::new(ReaderState {
                reader: Box::new(reader),
                pending: Vec::new(),
                consumed: 0,
            }),
        }
    }
}

impl ReaderState {
    fn read(&mut self, max: usize) -> Result<Vec<u8>> {
        if self.consumed >= self.pending.len() {
            let chunk = self.reader.read(max)?;
            if chunk.len() <= max {
                return Ok(chunk);
            }
            self.pending = chunk;
            self.consumed = 0;
        }
        let end = self.pending.len().min(self.consumed + max);
        let out = self.pending[self.consumed..end].to_vec();
        self.consumed = end;
        if self.consumed == self.pending.len() {
            self.pending = Vec::new();
            self.consumed = 0;
        }
        Ok(out)
    }
}

/// `resume.reopen` on a reader: its [`ReadChunks::reopen`]. A reader holding a chunk it split
/// (one read through `read`, not a stream) has nothing to reopen.
pub fn reopen(reader: wit::ReaderBorrow<'_>, offset: u64) -> WitResult<Option<crate::InputStream>> {
    let reader = reader.get::<ReaderResource>();
    let mut state = reader.state.borrow_mut();
    state.pending = Vec::new();
    state.consumed = 0;
    Ok(state.reader.reopen(offset)?)
}

impl wit::GuestReader for ReaderResource {
    fn read(&self, max: u32) -> WitResult<Vec<u8>> {
        // An empty chunk means the end, so a request for nothing still gets a byte.
        let max = usize::try_from(max.max(1)).unwrap_or(usize::MAX);
        Ok(self.state.borrow_mut().read(max)?)
    }
}

/// Where a writer is in its life (CONTRACT §3's writer state rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriterState {
    Open,
    Closed,
    Committed,
    Cancelled,
}

impl WriterState {
    fn refusal(self, op: &str) -> Error {
        let state = match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Committed => "committed",
            Self::Cancelled => "cancelled",
        };
        Error::backend(format!("{op}: writer already {state}"), false)
    }
}

/// The exported `writer` resource: the author's [`Upload`] behind the writer state rules.
pub struct WriterResource<W: Upload> {
    upload: RefCell<W>,
    state: Cell<WriterState>,
}

impl<W: Upload> WriterResource<W> {
    fn new(upload: W) -> Self {
        Self {
            upload: RefCell::new(upload),
            state: Cell::new(WriterState::Open),
        }
    }

    fn write(&self, data: Vec<u8>) -> Result<()> {
        match self.state.get() {
            WriterState::Open => self.upload.borrow_mut().write(data),
            other => Err(other.refusal("write")),
        }
    }

    fn begin_part(&self, length: u64, kind: crate::PartKind) -> Result<crate::OutputStream> {
        match self.state.get() {
            WriterState::Open => self.upload.borrow_mut().begin_part(length, kind),
            other => Err(other.refusal("begin-part")),
        }
    }

    fn end_part(&self, written: u64) -> Result<()> {
        match self.state.get() {
            WriterState::Open => self.upload.borrow_mut().end_part(written),
            other => Err(other.refusal("end-part")),
        }
    }

    fn close(&self) -> Result<()> {
        match self.state.get() {
            WriterState::Open => {
                // Closed even when persisting fails: the writer is done either way, and a drop
                // must not try again.
                self.state.set(WriterState::Closed);
                self.upload.borrow_mut().close()
            }
            // After commit or cancel, close only frees resources (the drop does that).
            WriterState::Committed | WriterState::Cancelled => Ok(()),
            WriterState::Closed => Err(WriterState::Closed.refusal("close")),
        }
    }

    fn commit(&self) -> Result<()> {
        match self.state.get() {
            WriterState::Open => {
                self.upload.borrow_mut().commit()?;
                self.state.set(WriterState::Committed);
                Ok(())
            }
            other => Err(other.refusal("commit")),
        }
    }

    fn cancel(&self) -> Result<()> {
        match self.state.get() {
            WriterState::Open | WriterState::Closed => {
                self.state.set(WriterState::Cancelled);
                self.upload.borrow_mut().cancel()
            }
            WriterState::Cancelled => Ok(()),
            WriterState::Committed => Err(WriterState::Committed.refusal("cancel")),
        }
    }
}

impl<W: Upload> wit::GuestWriter for WriterResource<W> {
    fn write(&self, data: Vec<u8>) -> WitResult<()> {
        Ok(WriterResource::write(self, data)?)
    }

    fn size(&self) -> u64 {
        self.upload.borrow().size()
    }

    fn begin_part(&self, length: u64, kind: wit::PartKind) -> WitResult<crate::OutputStream> {
        let kind = match kind {
            wit::PartKind::Full => crate::PartKind::Full,
            wit::PartKind::BeforeClose => crate::PartKind::BeforeClose,
            wit::PartKind::BeforeCommit => crate::PartKind::BeforeCommit,
        };
        Ok(WriterResource::begin_part(self, length, kind)?)
    }

    fn end_part(&self, written: u64) -> WitResult<()> {
        Ok(WriterResource::end_part(self, written)?)
    }

    fn close(&self) -> WitResult<()> {
        Ok(WriterResource::close(self)?)
    }

    fn commit(&self) -> WitResult<()> {
        Ok(WriterResource::commit(self)?)
    }

    fn cancel(&self) -> WitResult<()> {
        Ok(WriterResource::cancel(self)?)
    }
}

impl<W: Upload> Drop for WriterResource<W> {
    /// A writer dropped while open is closed, so its upload stays resumable; it never commits.
    fn drop(&mut self) {
        if self.state.get() == WriterState::Open {
            self.state.set(WriterState::Closed);
            if let Err(e) = self.upload.get_mut().close() {
                log(
                    Level::Warn,
                    &format!("a writer dropped without close could not keep its upload: {e}"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;

    /// An upload that records the calls it gets.
    struct Recorder {
        calls: Rc<RefCell<Vec<String>>>,
        size: u64,
    }

    impl Upload for Recorder {
        fn write(&mut self, data: Vec<u8>) -> Result<()> {
            self.size += data.len() as u64;
            self.calls
                .borrow_mut()
                .push(format!("write {}", data.len()));
            Ok(())
        }
        fn size(&self) -> u64 {
            self.size
        }
        fn close(&mut self) -> Result<()> {
            self.calls.borrow_mut().push("close".into());
            Ok(())
        }
        fn commit(&mut self) -> Result<()> {
            self.calls.borrow_mut().push("commit".into());
            Ok(())
        }
        fn cancel(&mut self) -> Result<()> {
            self.calls.borrow_mut().push("cancel".into());
            Ok(())
        }
    }

    fn writer() -> (WriterResource<Recorder>, Rc<RefCell<Vec<String>>>) {
        let calls = Rc::new(RefCell::new(Vec::new()));
        let w = WriterResource::new(Recorder {
            calls: calls.clone(),
            size: 0,
        });
        (w, calls)
    }

    fn refused(r: Result<()>, what: &str) {
        match r {
            Err(Error::Backend { message, .. }) => {
                assert!(message.contains(what), "{message} should say {what}")
            }
            other => panic!("expected a refusal naming {what}, got {other:?}"),
        }
    }

    #[test]
    fn commit_then_close() {
        let (w, calls) = writer();
        w.write(vec![1, 2, 3]).unwrap();
        w.commit().unwrap();
        w.close().unwrap();
        refused(w.write(vec![1]), "already committed");
        refused(w.commit(), "already committed");
        refused(w.cancel(), "already committed");
        drop(w);
        assert_eq!(*calls.borrow(), ["write 3", "commit"]);
    }

    #[test]
    fn close_then_nothing_but_cancel() {
        let (w, calls) = writer();
        w.close().unwrap();
        refused(w.write(vec![1]), "already closed");
        refused(w.commit(), "already closed");
        refused(w.close(), "already closed");
        w.cancel().unwrap();
        refused(w.write(vec![1]), "already cancelled");
        drop(w);
        assert_eq!(*calls.borrow(), ["close", "cancel"]);
    }

    #[test]
    fn dropped_open_writer_is_closed_not_committed() {
        let (w, calls) = writer();
        w.write(vec![0; 5]).unwrap();
        drop(w);
        assert_eq!(*calls.borrow(), ["write 5", "close"]);
        let (w, calls) = writer();
        w.cancel().unwrap();
        w.close().unwrap();
        drop(w);
        assert_eq!(*calls.borrow(), ["cancel"]);
    }

    struct Chunks(Vec<Vec<u8>>);

    impl ReadChunks for Chunks {
        fn read(&mut self, _max: usize) -> Result<Vec<u8>> {
            Ok(if self.0.is_empty() {
                Vec::new()
            } else {
                self.0.remove(0)
            })
        }
    }

    #[test]
    fn long_chunks_are_split_to_max() {
        let r = ReaderResource::new(Chunks(vec![(0..10).collect(), vec![10, 11]]));
        let mut state = r.state.borrow_mut();
        let mut got = Vec::new();
        loop {
            let chunk = state.read(4).unwrap();
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= 4);
            got.push(chunk);
        }
        assert_eq!(
            got,
            [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9], vec![10, 11]]
        );
    }

    #[test]
    fn errors_convert_to_the_wit_variant() {
        let e: wit::Error = Error::invalid_offset("/a", 7).into();
        assert!(matches!(e, wit::Error::InvalidOffset(ref o) if o.path == "/a" && o.offset == 7));
        let e: wit::Error = Error::backend("x", true).into();
        assert!(matches!(e, wit::Error::Backend(ref b) if b.temporary && b.message == "x"));
    }

    #[test]
    fn manifest() {
        let i = info("x", false, vec![Capability::Directory("/data".into())]);
        assert_eq!(i.wit_version, WIT_VERSION);
        assert!(matches!(&i.requested[..], [manifest::Capability::Directory(p)] if p == "/data"));
    }
}
