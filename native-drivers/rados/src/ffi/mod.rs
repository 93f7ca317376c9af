//! The one place where the driver calls librados: a safe, async API over the C library that the
//! rest of the crate uses without `unsafe`.
//!
//! [`Connection`] is a cluster handle plus an I/O context on one pool and namespace. Its
//! operations return futures driven by AIO completions ([`aio`]): data reads, object removal,
//! compound write operations ([`WriteOp`]: omap comparisons, sets and removals, version
//! assertions, exclusive creation, data writes) and omap reads (a page of keys and values after
//! a key, or the values of given keys), each with the object's version.
//!
//! Thread safety: librados' cluster and I/O context handles may be used from many threads at
//! once; the only calls that change an I/O context's state (its namespace) are made while the
//! connection is being set up, before anything else can see it. Operation handles are never
//! shared: each is built, submitted and released by one operation. So a `Connection` is `Send`
//! and `Sync`.
//!
//! Buffers: librados copies what a write operation carries (data, keys, values) into its own
//! buffers while the operation is built, so those need to live only during the call. What
//! librados writes into later (a read's buffer, an omap iterator, the `more` flag) lives in the
//! operation's landing until its callback.

mod aio;
mod sys;

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::{c_char, c_int, c_uchar};
use std::path::Path;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use self::aio::{InFlight, Landing, submit};

/// A librados error: a positive `errno` value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Errno(pub i32);

impl Errno {
    pub const ENOENT: Errno = Errno(2);
    pub const EIO: Errno = Errno(5);
    pub const EEXIST: Errno = Errno(17);
    pub const EINVAL: Errno = Errno(22);
    /// `assert_version` found a newer object.
    pub const ERANGE: Errno = Errno(34);
    /// `assert_version` found an older object.
    pub const EOVERFLOW: Errno = Errno(75);
    /// An omap comparison failed.
    pub const ECANCELED: Errno = Errno(125);

    fn from_ret(ret: c_int) -> Errno {
        Errno(ret.saturating_neg())
    }

    /// The symbolic name of the common values, for messages.
    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            5 => "EIO",
            13 => "EACCES",
            16 => "EBUSY",
            17 => "EEXIST",
            22 => "EINVAL",
            27 => "EFBIG",
            28 => "ENOSPC",
            34 => "ERANGE",
            75 => "EOVERFLOW",
            90 => "EMSGSIZE",
            95 => "EOPNOTSUPP",
            107 => "ENOTCONN",
            108 => "ESHUTDOWN",
            110 => "ETIMEDOUT",
            111 => "ECONNREFUSED",
            122 => "EDQUOT",
            125 => "ECANCELED",
            _ => return None,
        })
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = std::io::Error::from_raw_os_error(self.0).to_string();
        // `io::Error` appends " (os error N)"; the symbolic name says more.
        let text = text.split(" (os error").next().unwrap_or(&text);
        match self.name() {
            Some(name) => write!(f, "{name}: {text}"),
            None => write!(f, "errno {}: {text}", self.0),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Errno({self})")
    }
}

impl std::error::Error for Errno {}

/// The result of librados operations.
pub(crate) type RadosResult<T> = Result<T, Errno>;

/// What a connection is made from.
pub(crate) struct ConnectOptions<'a> {
    /// The client's id (`admin`) or full name (`client.admin`); librados' default when `None`.
    pub user: Option<&'a str>,
    /// The ceph.conf to read; librados' search ($CEPH_CONF, /etc/ceph/ceph.conf, …) when `None`.
    pub conffile: Option<&'a Path>,
    /// A keyring file, for clusters with cephx.
    pub keyring: Option<&'a Path>,
    pub pool: &'a str,
    /// The RADOS namespace within the pool ("" for the default one).
    pub namespace: &'a str,
    /// Deadlines for OSD and monitor requests and for connecting, unless the configuration file
    /// sets its own.
    pub op_timeout: Duration,
    pub connect_timeout: Duration,
}

/// Which step of connecting failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectStep {
    /// A name librados does not accept as a client name.
    User,
    /// Reading the configuration file (the named one, or the search when none was named).
    ReadConf,
    /// Setting one configuration option.
    SetOption(&'static str),
    /// Reaching the monitors and authenticating.
    Connect,
    /// Opening the pool.
    OpenPool,
}

/// A failure to connect: the step and librados' error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectError {
    pub step: ConnectStep,
    pub errno: Errno,
}

/// One cluster connection with an I/O context on a pool and namespace.
pub(crate) struct Connection {
    cluster: sys::rados_t,
    ioctx: sys::rados_ioctx_t,
    in_flight: Arc<InFlight>,
    fsid: String,
    pool_id: i64,
    /// How long to wait at drop for callbacks of operations whose futures were dropped.
    drain_limit: Duration,
}

// SAFETY: librados' `rados_t` and `rados_ioctx_t` are thread-safe handles (the library locks
// internally); the only state-changing call on the I/O context (`rados_ioctx_set_namespace`)
// is made in `connect` before the value exists for anyone else. Moving the handles to another
// thread is therefore fine.
unsafe impl Send for Connection {}
// SAFETY: see `Send`: every operation through `&Connection` is one of librados' thread-safe
// calls (AIO submission on the I/O context), so sharing references across threads is fine.
unsafe impl Sync for Connection {}

fn cstring(what: &str, value: &str) -> RadosResult<CString> {
    CString::new(value).map_err(|_| {
        tracing::debug!(what, "value holds a NUL byte");
        Errno::EINVAL
    })
}

/// An object name as C wants it (object names are valid paths and hex, never with NUL bytes).
fn oid(name: &str) -> RadosResult<CString> {
    cstring("object name", name)
}

impl Connection {
    /// Connects to the cluster and opens the pool. Blocking: call it off the async runtime.
    pub(crate) fn connect(options: &ConnectOptions<'_>) -> Result<Connection, ConnectError> {
        let fail = |step: ConnectStep| move |errno: Errno| ConnectError { step, errno };
        let mut cluster: sys::rados_t = ptr::null_mut();
        let r = match options.user {
            // A full `type.id` name.
            Some(user) if user.contains('.') => {
                let name = cstring("user", user).map_err(fail(ConnectStep::User))?;
                // SAFETY: `cluster` is a valid out-pointer; both strings are NUL-terminated and
                // live across the call (librados copies them).
                unsafe { sys::rados_create2(&mut cluster, c"ceph".as_ptr(), name.as_ptr(), 0) }
            }
            Some(user) => {
                let id = cstring("user", user).map_err(fail(ConnectStep::User))?;
                // SAFETY: as above.
                unsafe { sys::rados_create(&mut cluster, id.as_ptr()) }
            }
            // SAFETY: a null id asks for librados' default client name.
            None => unsafe { sys::rados_create(&mut cluster, ptr::null()) },
        };
        if r < 0 {
            return Err(fail(ConnectStep::User)(Errno::from_ret(r)));
        }
        // From here on the handle is ours to shut down; `Handle` does it on every early return.
        let handle = Handle(cluster);
        let conffile = options
            .conffile
            .map(|p| cstring("conffile", &p.to_string_lossy()))
            .transpose()
            .map_err(fail(ConnectStep::ReadConf))?;
        // SAFETY: the cluster handle is valid and not yet connected; a null path asks for the
        // default search; a given path is NUL-terminated and outlives the call.
        let r = unsafe {
            sys::rados_conf_read_file(
                handle.0,
                conffile.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            )
        };
        if r < 0 {
            return Err(fail(ConnectStep::ReadConf)(Errno::from_ret(r)));
        }
        if let Some(keyring) = options.keyring {
            let value = cstring("keyring", &keyring.to_string_lossy())
                .map_err(fail(ConnectStep::SetOption("keyring")))?;
            handle
                .set("keyring", &value)
                .map_err(fail(ConnectStep::SetOption("keyring")))?;
        }
        // Librados waits forever for an unresponsive cluster by default; give every request a
        // deadline, unless the configuration file chose one.
        let op = options.op_timeout.as_secs().max(1).to_string();
        let connect = options.connect_timeout.as_secs().max(1).to_string();
        for (option, default, ours) in [
            ("rados_osd_op_timeout", "0", &op),
            ("rados_mon_op_timeout", "0", &op),
            ("client_mount_timeout", "300", &connect),
        ] {
            if handle.get(option).as_deref() == Some(default) {
                let value = cstring(option, ours).map_err(fail(ConnectStep::SetOption(option)))?;
                handle
                    .set(option, &value)
                    .map_err(fail(ConnectStep::SetOption(option)))?;
            }
        }
        // SAFETY: the handle is valid and configured; connecting blocks this thread only.
        let r = unsafe { sys::rados_connect(handle.0) };
        if r < 0 {
            return Err(fail(ConnectStep::Connect)(Errno::from_ret(r)));
        }
        let pool = cstring("poolname", options.pool).map_err(fail(ConnectStep::OpenPool))?;
        let mut ioctx: sys::rados_ioctx_t = ptr::null_mut();
        // SAFETY: the handle is connected; `ioctx` is a valid out-pointer; the pool name is
        // NUL-terminated and outlives the call.
        let r = unsafe { sys::rados_ioctx_create(handle.0, pool.as_ptr(), &mut ioctx) };
        if r < 0 {
            return Err(fail(ConnectStep::OpenPool)(Errno::from_ret(r)));
        }
        let namespace =
            cstring("namespace", options.namespace).map_err(fail(ConnectStep::OpenPool))?;
        // SAFETY: `ioctx` was just created and nobody else has it yet, so changing its
        // namespace races with nothing; librados copies the string.
        unsafe { sys::rados_ioctx_set_namespace(ioctx, namespace.as_ptr()) };
        // SAFETY: `ioctx` is valid; the call only reads the pool id it holds.
        let pool_id = unsafe { sys::rados_ioctx_get_id(ioctx) };
        let fsid = handle.fsid();
        Ok(Connection {
            cluster: handle.into_inner(),
            ioctx,
            in_flight: Arc::default(),
            fsid,
            pool_id,
            drain_limit: options.op_timeout + Duration::from_secs(5),
        })
    }

    /// The cluster's fsid (identifies the cluster, for keys of process-wide state).
    pub(crate) fn fsid(&self) -> &str {
        &self.fsid
    }

    /// The pool's id.
    pub(crate) fn pool_id(&self) -> i64 {
        self.pool_id
    }

    /// Reads up to `len` bytes of `object` from `offset`; fewer at the end of the object.
    pub(crate) async fn read(&self, object: &str, offset: u64, len: usize) -> RadosResult<Bytes> {
        let rx = self.start_read(object, offset, len)?;
        receive(rx).await?
    }

    fn start_read(
        &self,
        object: &str,
        offset: u64,
        len: usize,
    ) -> RadosResult<oneshot::Receiver<RadosResult<Bytes>>> {
        let oid = oid(object)?;
        let (tx, rx) = oneshot::channel();
        let mut landing = Box::new(DataRead {
            buf: Vec::with_capacity(len),
            tx: Some(tx),
        });
        let buf = landing.buf.as_mut_ptr().cast::<c_char>();
        let io = self.ioctx;
        submit(landing, &self.in_flight, |completion| {
            // SAFETY: `io` is this connection's valid I/O context; `oid` is NUL-terminated and
            // outlives the call (librados copies it); `buf` points to `len` writable bytes of
            // the landing's buffer, which the callback owns and keeps alive until the read
            // completed.
            unsafe { sys::rados_aio_read(io, oid.as_ptr(), completion, buf, len, offset) }
        })?;
        Ok(rx)
    }

    /// Runs `op` on `object` as one atomic operation; the object's version afterwards.
    pub(crate) async fn write(&self, object: &str, op: WriteOp) -> RadosResult<u64> {
        let rx = self.start_write(object, &op)?;
        let (ret, version) = receive(rx).await?;
        if ret < 0 {
            return Err(Errno::from_ret(ret));
        }
        Ok(version)
    }

    fn start_write(
        &self,
        object: &str,
        op: &WriteOp,
    ) -> RadosResult<oneshot::Receiver<(c_int, u64)>> {
        let oid = oid(object)?;
        let (tx, rx) = oneshot::channel();
        let handle = WriteOpHandle::build(op)?;
        let raw = handle.0;
        let landing = Box::new(Completed {
            _op: Some(handle),
            tx: Some(tx),
        });
        let io = self.ioctx;
        let flags = op.flags;
        submit(landing, &self.in_flight, |completion| {
            // SAFETY: `raw` is the write op the landing owns, released only after the
            // callback; librados copied everything the op carries while it was built; `oid` is
            // NUL-terminated and outlives the call; a null mtime means "now".
            unsafe {
                sys::rados_aio_write_op_operate(
                    raw,
                    io,
                    completion,
                    oid.as_ptr(),
                    ptr::null_mut(),
                    flags,
                )
            }
        })?;
        Ok(rx)
    }

    /// Removes `object`, even when the cluster is marked full.
    pub(crate) async fn remove(&self, object: &str) -> RadosResult<()> {
        self.write(object, WriteOp::new().remove().full_try())
            .await
            .map(drop)
    }

    /// Up to `max` omap entries of `object` after `start_after` (all from the first when
    /// empty), with whether more follow and the object's version.
    pub(crate) async fn omap_page(
        &self,
        object: &str,
        start_after: &str,
        max: u64,
    ) -> RadosResult<OmapRead> {
        let rx = self.start_omap_page(object, start_after, max)?;
        self.finish_omap(object, rx).await
    }

    fn start_omap_page(
        &self,
        object: &str,
        start_after: &str,
        max: u64,
    ) -> RadosResult<oneshot::Receiver<RadosResult<OmapRead>>> {
        let start = cstring("omap key", start_after)?;
        let (tx, rx) = oneshot::channel();
        let mut landing = Box::new(OmapLanding::new(tx));
        let op = landing.op.0;
        let iter = &raw mut landing.iter.0;
        let more = &raw mut landing.more;
        // SAFETY: `op` is the landing's fresh read op; `iter` and `more` point into the
        // landing's heap allocation, which stays put and alive until the callback; the strings
        // are NUL-terminated and copied by librados during the call; a null `prval` is allowed.
        unsafe {
            sys::rados_read_op_omap_get_vals2(
                op,
                start.as_ptr(),
                c"".as_ptr(),
                max,
                iter,
                more,
                ptr::null_mut(),
            )
        };
        self.start_read_op(object, op, landing)?;
        Ok(rx)
    }

    /// The omap values of `keys` in `object` (missing keys are left out), with the object's
    /// version.
    pub(crate) async fn omap_get(&self, object: &str, keys: &[&str]) -> RadosResult<OmapRead> {
        let rx = self.start_omap_get(object, keys)?;
        self.finish_omap(object, rx).await
    }

    fn start_omap_get(
        &self,
        object: &str,
        keys: &[&str],
    ) -> RadosResult<oneshot::Receiver<RadosResult<OmapRead>>> {
        let (tx, rx) = oneshot::channel();
        let mut landing = Box::new(OmapLanding::new(tx));
        let op = landing.op.0;
        let iter = &raw mut landing.iter.0;
        let ptrs: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr().cast()).collect();
        let lens: Vec<usize> = keys.iter().map(|k| k.len()).collect();
        // SAFETY: `op` is the landing's fresh read op; `ptrs`/`lens` describe `keys.len()`
        // valid byte strings that librados copies during the call; `iter` points into the
        // landing, which outlives the operation; a null `prval` is allowed.
        unsafe {
            sys::rados_read_op_omap_get_vals_by_keys2(
                op,
                ptrs.as_ptr(),
                keys.len(),
                lens.as_ptr(),
                iter,
                ptr::null_mut(),
            )
        };
        self.start_read_op(object, op, landing)?;
        Ok(rx)
    }

    fn start_read_op(
        &self,
        object: &str,
        op: sys::rados_read_op_t,
        landing: Box<OmapLanding>,
    ) -> RadosResult<()> {
        let oid = oid(object)?;
        let io = self.ioctx;
        submit(landing, &self.in_flight, |completion| {
            // SAFETY: `op` belongs to the landing, which the callback keeps until the operation
            // completed; `oid` is NUL-terminated and copied by librados.
            unsafe { sys::rados_aio_read_op_operate(op, io, completion, oid.as_ptr(), 0) }
        })
    }

    async fn finish_omap(
        &self,
        object: &str,
        rx: oneshot::Receiver<RadosResult<OmapRead>>,
    ) -> RadosResult<OmapRead> {
        let read = receive(rx).await?;
        if let Err(e) = &read
            && *e != Errno::ENOENT
        {
            tracing::debug!(object, error = %format_args!("{e:#}"), "omap read failed");
        }
        read
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Operations whose futures were dropped may still be out; their callbacks must run
        // before the handles go away. They all end within the request deadline.
        if !self.in_flight.wait_idle(self.drain_limit) {
            tracing::warn!("rados: operations still in flight at shutdown; leaking the connection");
            return;
        }
        // SAFETY: no operation is in flight and no other reference to the handles exists (we
        // are being dropped), so destroying the I/O context and then shutting the cluster
        // handle down, each once, is the documented teardown.
        unsafe {
            sys::rados_ioctx_destroy(self.ioctx);
            sys::rados_shutdown(self.cluster);
        }
    }
}

/// A cluster handle being set up, shut down if setting up fails.
struct Handle(sys::rados_t);

impl Handle {
    fn set(&self, option: &str, value: &CStr) -> RadosResult<()> {
        let name = cstring("option", option)?;
        // SAFETY: the handle is valid and not shared yet; both strings are NUL-terminated and
        // copied by librados.
        let r = unsafe { sys::rados_conf_set(self.0, name.as_ptr(), value.as_ptr()) };
        if r < 0 {
            return Err(Errno::from_ret(r));
        }
        Ok(())
    }

    fn get(&self, option: &str) -> Option<String> {
        let name = cstring("option", option).ok()?;
        let mut buf = [0u8; 256];
        // SAFETY: `buf` is writable for its whole length, which is passed; librados writes a
        // NUL-terminated value into it or fails.
        let r = unsafe {
            sys::rados_conf_get(
                self.0,
                name.as_ptr(),
                buf.as_mut_ptr().cast::<c_char>(),
                buf.len(),
            )
        };
        (r == 0).then(|| {
            CStr::from_bytes_until_nul(&buf)
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    }

    fn fsid(&self) -> String {
        let mut buf = [0u8; 64];
        // SAFETY: as in `get`: a writable buffer and its length.
        let r = unsafe {
            sys::rados_cluster_fsid(self.0, buf.as_mut_ptr().cast::<c_char>(), buf.len())
        };
        if r < 0 {
            return String::new();
        }
        CStr::from_bytes_until_nul(&buf)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn into_inner(self) -> sys::rados_t {
        let handle = self.0;
        std::mem::forget(self);
        handle
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was created by `rados_create*`, is not shared, and has no I/O
        // context or operation open (those come after `into_inner`); shutting it down once is
        // its teardown, connected or not.
        unsafe { sys::rados_shutdown(self.0) };
    }
}

/// Waits for a landing's answer.
async fn receive<T>(rx: oneshot::Receiver<T>) -> RadosResult<T> {
    // The sender disappears without an answer only when a callback panicked.
    rx.await.map_err(|_| Errno::EIO)
}

/// A data read: the buffer librados fills.
struct DataRead {
    buf: Vec<u8>,
    tx: Option<oneshot::Sender<RadosResult<Bytes>>>,
}

impl Landing for DataRead {
    fn land(mut self: Box<Self>, ret: c_int, _version: u64) {
        let result = if ret < 0 {
            Err(Errno::from_ret(ret))
        } else {
            let read = usize::try_from(ret).unwrap_or(0).min(self.buf.capacity());
            // SAFETY: a successful read returns how many bytes it wrote to the start of the
            // buffer, and never more than the length it was given (the capacity).
            unsafe { self.buf.set_len(read) };
            Ok(Bytes::from(std::mem::take(&mut self.buf)))
        };
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(result);
        }
    }
}

/// An operation whose answer is its return value and the object's version.
struct Completed {
    /// Declared first so it is released before anything else goes.
    _op: Option<WriteOpHandle>,
    tx: Option<oneshot::Sender<(c_int, u64)>>,
}

impl Landing for Completed {
    fn land(mut self: Box<Self>, ret: c_int, version: u64) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send((ret, version));
        }
    }
}

/// What an omap read found.
#[derive(Debug, Default)]
pub(crate) struct OmapRead {
    pub entries: Vec<(String, Vec<u8>)>,
    /// More keys follow the page (page reads only).
    pub more: bool,
    /// The object's version when it was read.
    pub version: u64,
}

/// A read op handle, released on drop.
struct ReadOpHandle(sys::rados_read_op_t);

impl Drop for ReadOpHandle {
    fn drop(&mut self) {
        // SAFETY: the handle came from `rados_create_read_op` and is released once; by the
        // time it drops, the operation completed or was never submitted.
        unsafe { sys::rados_release_read_op(self.0) };
    }
}

/// An omap iterator, freed on drop.
struct OmapIter(sys::rados_omap_iter_t);

impl Drop for OmapIter {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the iterator was allocated by the read op's omap step and is freed once;
            // its op was released before (field order in `OmapLanding`).
            unsafe { sys::rados_omap_get_end(self.0) };
        }
    }
}

/// An omap read: the op, the iterator and `more` flag librados fills in.
struct OmapLanding {
    /// Declared before `iter`: the op is released first, then the iterator it filled.
    op: ReadOpHandle,
    iter: OmapIter,
    more: c_uchar,
    tx: Option<oneshot::Sender<RadosResult<OmapRead>>>,
}

impl OmapLanding {
    fn new(tx: oneshot::Sender<RadosResult<OmapRead>>) -> Self {
        // SAFETY: creating a read op has no preconditions; it is released by `ReadOpHandle`.
        let op = unsafe { sys::rados_create_read_op() };
        OmapLanding {
            op: ReadOpHandle(op),
            iter: OmapIter(ptr::null_mut()),
            more: 0,
            tx: Some(tx),
        }
    }

    /// The entries of a completed read's iterator.
    fn entries(&self) -> Vec<(String, Vec<u8>)> {
        let mut entries = Vec::new();
        if self.iter.0.is_null() {
            return entries;
        }
        loop {
            let (mut key, mut val) = (ptr::null_mut(), ptr::null_mut());
            let (mut key_len, mut val_len) = (0usize, 0usize);
            // SAFETY: the iterator belongs to a read op that completed successfully, so
            // librados filled it; the out-pointers are valid locals.
            let r = unsafe {
                sys::rados_omap_get_next2(
                    self.iter.0,
                    &mut key,
                    &mut val,
                    &mut key_len,
                    &mut val_len,
                )
            };
            if r < 0 || key.is_null() {
                break;
            }
            // SAFETY: librados returned `key_len` bytes at `key` and `val_len` bytes at `val`,
            // valid until the iterator moves on; they are copied at once.
            let (k, v) = unsafe {
                (
                    std::slice::from_raw_parts(key.cast::<u8>(), key_len),
                    if val.is_null() {
                        &[][..]
                    } else {
                        std::slice::from_raw_parts(val.cast::<u8>(), val_len)
                    },
                )
            };
            entries.push((String::from_utf8_lossy(k).into_owned(), v.to_vec()));
        }
        entries
    }
}

impl Landing for OmapLanding {
    fn land(mut self: Box<Self>, ret: c_int, version: u64) {
        let result = if ret < 0 {
            Err(Errno::from_ret(ret))
        } else {
            Ok(OmapRead {
                entries: self.entries(),
                more: self.more != 0,
                version,
            })
        };
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(result);
        }
    }
}

/// How an omap comparison compares the stored value with the given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    /// Equal (a missing key compares as the empty value).
    Eq,
    /// The stored value sorts before the given one (a missing key is the empty value).
    Lt,
}

/// One step of a compound write operation.
#[derive(Debug, Clone)]
enum Step {
    CreateExclusive,
    AssertVersion(u64),
    OmapCmp {
        key: String,
        cmp: Cmp,
        value: Vec<u8>,
    },
    OmapSet(Vec<(String, Vec<u8>)>),
    OmapRm(Vec<String>),
    Write {
        offset: u64,
        data: Bytes,
    },
    WriteFull(Bytes),
    Remove,
}

/// A compound write operation on one object, applied atomically: every step or none. Steps
/// run in order; a failing comparison or assertion fails the whole operation.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOp {
    steps: Vec<Step>,
    flags: c_int,
}

impl WriteOp {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Creates the object, failing with `EEXIST` if it exists.
    pub(crate) fn create_exclusive(mut self) -> Self {
        self.steps.push(Step::CreateExclusive);
        self
    }

    /// Fails with `ERANGE` or `EOVERFLOW` unless the object is at `version` (and `ENOENT` if
    /// it does not exist).
    pub(crate) fn assert_version(mut self, version: u64) -> Self {
        self.steps.push(Step::AssertVersion(version));
        self
    }

    /// Fails with `ECANCELED` unless the value of `key` compares as asked (a missing key is
    /// the empty value; a missing object fails with `ENOENT`).
    pub(crate) fn omap_cmp(mut self, key: &str, cmp: Cmp, value: &[u8]) -> Self {
        self.steps.push(Step::OmapCmp {
            key: key.to_owned(),
            cmp,
            value: value.to_vec(),
        });
        self
    }

    /// Sets omap entries (creating the object if needed).
    pub(crate) fn omap_set(mut self, entries: Vec<(String, Vec<u8>)>) -> Self {
        self.steps.push(Step::OmapSet(entries));
        self
    }

    /// Removes omap keys (`ENOENT` if the object does not exist).
    pub(crate) fn omap_rm(mut self, keys: Vec<String>) -> Self {
        self.steps.push(Step::OmapRm(keys));
        self
    }

    /// Writes `data` at `offset`.
    pub(crate) fn write(mut self, offset: u64, data: Bytes) -> Self {
        self.steps.push(Step::Write { offset, data });
        self
    }

    /// Replaces the object's data with `data`.
    pub(crate) fn write_full(mut self, data: Bytes) -> Self {
        self.steps.push(Step::WriteFull(data));
        self
    }

    /// Removes the object.
    pub(crate) fn remove(mut self) -> Self {
        self.steps.push(Step::Remove);
        self
    }

    /// Sends the operation even when the cluster is marked full (for operations that free
    /// space).
    pub(crate) fn full_try(mut self) -> Self {
        self.flags |= sys::LIBRADOS_OPERATION_FULL_TRY;
        self
    }
}

/// A write op handle, released on drop.
struct WriteOpHandle(sys::rados_write_op_t);

// SAFETY: a write op handle is a plain heap object that only the operation owning it touches
// (building it, then librados while it is out, then the release); it moves between threads
// with that operation.
unsafe impl Send for WriteOpHandle {}

impl WriteOpHandle {
    /// Builds librados' op from `op`'s steps (librados copies all of their data).
    fn build(op: &WriteOp) -> RadosResult<Self> {
        // SAFETY: creating a write op has no preconditions.
        let raw = unsafe { sys::rados_create_write_op() };
        if raw.is_null() {
            return Err(Errno(12));
        }
        let handle = WriteOpHandle(raw);
        for step in &op.steps {
            match step {
                // In every arm, `raw` is a valid, unsubmitted write op, and every pointer and
                // length passed describes live Rust memory that librados copies during the call.
                // SAFETY: as just said (no pointers here).
                Step::CreateExclusive => unsafe {
                    sys::rados_write_op_create(raw, sys::LIBRADOS_CREATE_EXCLUSIVE, ptr::null())
                },
                // SAFETY: as above (no pointers).
                Step::AssertVersion(v) => unsafe { sys::rados_write_op_assert_version(raw, *v) },
                Step::OmapCmp { key, cmp, value } => {
                    let op = match cmp {
                        Cmp::Eq => sys::LIBRADOS_CMPXATTR_OP_EQ,
                        Cmp::Lt => sys::LIBRADOS_CMPXATTR_OP_LT,
                    };
                    // SAFETY: key and value are live slices with their lengths; a null prval
                    // is allowed.
                    unsafe {
                        sys::rados_write_op_omap_cmp2(
                            raw,
                            key.as_ptr().cast(),
                            op,
                            value.as_ptr().cast(),
                            key.len(),
                            value.len(),
                            ptr::null_mut(),
                        )
                    }
                }
                Step::OmapSet(entries) => {
                    let keys: Vec<*const c_char> =
                        entries.iter().map(|(k, _)| k.as_ptr().cast()).collect();
                    let vals: Vec<*const c_char> =
                        entries.iter().map(|(_, v)| v.as_ptr().cast()).collect();
                    let key_lens: Vec<usize> = entries.iter().map(|(k, _)| k.len()).collect();
                    let val_lens: Vec<usize> = entries.iter().map(|(_, v)| v.len()).collect();
                    // SAFETY: four arrays of `entries.len()` elements describing live slices.
                    unsafe {
                        sys::rados_write_op_omap_set2(
                            raw,
                            keys.as_ptr(),
                            vals.as_ptr(),
                            key_lens.as_ptr(),
                            val_lens.as_ptr(),
                            entries.len(),
                        )
                    }
                }
                Step::OmapRm(keys) => {
                    let ptrs: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr().cast()).collect();
                    let lens: Vec<usize> = keys.iter().map(|k| k.len()).collect();
                    // SAFETY: two arrays of `keys.len()` elements describing live slices.
                    unsafe {
                        sys::rados_write_op_omap_rm_keys2(
                            raw,
                            ptrs.as_ptr(),
                            lens.as_ptr(),
                            keys.len(),
                        )
                    }
                }
                // SAFETY: `data` is a live slice with its length; librados copies it.
                Step::Write { offset, data } => unsafe {
                    sys::rados_write_op_write(raw, data.as_ptr().cast(), data.len(), *offset)
                },
                // SAFETY: as above.
                Step::WriteFull(data) => unsafe {
                    sys::rados_write_op_write_full(raw, data.as_ptr().cast(), data.len())
                },
                // SAFETY: as above (no pointers).
                Step::Remove => unsafe { sys::rados_write_op_remove(raw) },
            }
        }
        Ok(handle)
    }
}

impl Drop for WriteOpHandle {
    fn drop(&mut self) {
        // SAFETY: created by `rados_create_write_op`, released once, after its operation
        // completed or when it was never submitted.
        unsafe { sys::rados_release_write_op(self.0) };
    }
}

// SAFETY: the landing's handles are used only by the operation that owns them: built on the
// submitting thread, read by librados while the operation is out, and released by whoever
// drops the landing (the callback, or `submit` when submission failed).
unsafe impl Send for OmapLanding {}
