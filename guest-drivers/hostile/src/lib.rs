//! A guest driver that misbehaves on cue, for Wharf's hostile-guest tests (`wharf/tests/
//! hostile/`); it is built with the other guests but never bundled into Wharf.
//!
//! Its normal operations are an honest filesystem driver over the preopen `/data` (see
//! [`honest`]); the `mode` parameter picks one misbehaviour, which fires on operations on the
//! `trigger` path (default `/hostile`). Every other call stays honest, so a test can check that
//! the next call works and whether it reached a fresh instance: `redirect_url` answers
//! `hostile://instance/<id>`, an id drawn once per instance.
//!
//! The component implements the WIT exports itself, with the SDK's bindings, errors, parameters
//! and paged walk, rather than through `export_driver!`: the SDK's glue protects the host (it
//! splits long chunks, reports `stat` for the requested path, keeps writer states), and these
//! tests need a guest that does not.
//!
//! | mode | what happens on `trigger` |
//! |---|---|
//! | `honest` | nothing |
//! | `loop` | `get_content` spins forever |
//! | `sleep` | `get_content` blocks in a host call (a one-hour sleep) |
//! | `sleep-create` | `create` blocks in a host call, whatever the path |
//! | `sleep-close` | closing a writer there blocks in a host call |
//! | `grow` | `get_content` allocates (and touches) memory without bound |
//! | `grow-host` | `get_content` makes the host allocate without bound: `wasi:http` header fields of 32 KiB each, kept forever (no grant is needed to make them) |
//! | `stack` | `get_content` recurses without bound |
//! | `panic` | `get_content` panics (a trap) |
//! | `escape` | `get_content` tries to reach outside `/data` and answers a report (see [`escape`]); parameter `outside` |
//! | `oversized-read` | a reader opened there answers four times `max` bytes |
//! | `oversized-list` | `list` answers 3000 strings of 8 KiB |
//! | `oversized-walk` | `walk` answers `limit + 100` entries |
//! | `list-malformed` | `list` answers a bad child, chosen by `variant` (see [`bad_children`]) |
//! | `stat-malformed` | `stat` answers a bad record, chosen by `variant` (see [`bad_stat`]) |
//! | `walk-malformed` | `walk` answers a bad page, chosen by `variant` (see [`bad_walk`]) |
//! | `trap-writer` | a writer there traps on write number `trap_after + 1` (default 3) |
//! | `shrinking-writer` | a writer there reports a size that goes back after the second write |
//! | `http` | `get_content` does `GET http://<authority>/` through `wasi:http` (`https` with `scheme=https`) |
//! | `socket` | `get_content` opens a TCP connection to `addr` through `std::net` |
//! | `env` | `get_content` answers every environment variable it sees, `KEY=value` lines |
//! | `bad-url` | `redirect_url` answers a bad URL, chosen by `variant` (see [`attack::bad_url`]) |
//! | `loud-error` | `get_content` fails with 1 MiB of error text full of terminal escapes |
//! | `endless-walk` | `walk` answers well-ordered pages that never end |
//! | `http-stream` | `get_content` and readers there hand the host the body stream of `GET http://<authority>/` (0.2.0 streams; the test's server decides what the body does) |
//! | `http-part` | a writer there asks for parts of `size` bytes (0: `u64::MAX`) and gives the host the body stream of `POST http://<authority>/` for each |
//! | `hoard-files` | `get_content` opens files and never closes them; answers how many it got |
//! | `deep-tree` | `get_content` makes `/data/deep/d/d/…` `depth` levels deep; answers the depth |
//! | `huge-answer` | `get_content` answers `size` bytes |
//! | `fill` | `get_content` makes files of `size` bytes three ways (see [`attack::fill`]) |
//! | `http-flood` | `get_content` sends 1000 requests to `authority` at once, reads no answer |
//! | `listings` | `get_content` holds 100 listings of `/data` at once |
//! | `http-unread` | `get_content` gets `http://<authority>/` and never reads the body |
//! | `http-unfinished` | `get_content` posts a body of `size` bytes to `authority`, never finished |
//! | `cross-move` | `get_content` moves a file from `/data` to `/other`, another grant |
//!
//! Whatever the mode, the environment variable `WHARF_HOSTILE_AT_INSTANTIATION` can make the
//! component block for an hour in a host call while it is being initialised (see
//! [`attack::at_instantiation`]).

mod attack;
mod escape;
mod honest;
mod net;

use std::cell::{Cell, RefCell};
use std::hash::BuildHasher;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wharf_guest_sdk::bindings::exports::wharf::storage::driver as wit;
use wharf_guest_sdk::bindings::wharf::storage::types::Datetime;
use wharf_guest_sdk::log::{Level, log};
use wharf_guest_sdk::{
    Capability, Driver, Error, FileInfo, Params, ReadChunks, Result, Resume, Upload,
};

use crate::honest::{FileReader, FileUpload, Honest};

/// Which misbehaviour the driver shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Honest,
    Loop,
    Sleep,
    SleepCreate,
    SleepClose,
    Grow,
    GrowHost,
    Stack,
    Panic,
    Escape,
    OversizedRead,
    OversizedList,
    OversizedWalk,
    ListMalformed,
    StatMalformed,
    WalkMalformed,
    TrapWriter,
    ShrinkingWriter,
    Http,
    Socket,
    Env,
    BadUrl,
    LoudError,
    EndlessWalk,
    HoardFiles,
    DeepTree,
    HugeAnswer,
    Fill,
    HttpFlood,
    Listings,
    CrossMove,
    HttpUnread,
    HttpUnfinished,
    HttpStream,
    HttpPart,
}

const MODES: [(&str, Mode); 35] = [
    ("honest", Mode::Honest),
    ("loop", Mode::Loop),
    ("sleep", Mode::Sleep),
    ("sleep-create", Mode::SleepCreate),
    ("sleep-close", Mode::SleepClose),
    ("grow", Mode::Grow),
    ("grow-host", Mode::GrowHost),
    ("stack", Mode::Stack),
    ("panic", Mode::Panic),
    ("escape", Mode::Escape),
    ("oversized-read", Mode::OversizedRead),
    ("oversized-list", Mode::OversizedList),
    ("oversized-walk", Mode::OversizedWalk),
    ("list-malformed", Mode::ListMalformed),
    ("stat-malformed", Mode::StatMalformed),
    ("walk-malformed", Mode::WalkMalformed),
    ("trap-writer", Mode::TrapWriter),
    ("shrinking-writer", Mode::ShrinkingWriter),
    ("http", Mode::Http),
    ("socket", Mode::Socket),
    ("env", Mode::Env),
    ("bad-url", Mode::BadUrl),
    ("loud-error", Mode::LoudError),
    ("endless-walk", Mode::EndlessWalk),
    ("hoard-files", Mode::HoardFiles),
    ("deep-tree", Mode::DeepTree),
    ("huge-answer", Mode::HugeAnswer),
    ("fill", Mode::Fill),
    ("http-flood", Mode::HttpFlood),
    ("listings", Mode::Listings),
    ("cross-move", Mode::CrossMove),
    ("http-unread", Mode::HttpUnread),
    ("http-unfinished", Mode::HttpUnfinished),
    ("http-stream", Mode::HttpStream),
    ("http-part", Mode::HttpPart),
];

/// The driver's parameters.
struct Settings {
    mode: Mode,
    trigger: String,
    variant: u64,
    trap_after: u64,
    authority: String,
    addr: String,
    outside: String,
    depth: u64,
    size: u64,
    tls: bool,
}

impl Settings {
    fn from_params(mut params: Params) -> Result<Self> {
        let mode = match params.string("mode")? {
            None => Mode::Honest,
            Some(name) => MODES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, m)| *m)
                .ok_or_else(|| {
                    let known: Vec<&str> = MODES.iter().map(|(n, _)| *n).collect();
                    Error::backend(
                        format!(
                            "invalid parameter mode: expected one of {}, got {name:?}",
                            known.join(", ")
                        ),
                        false,
                    )
                })?,
        };
        let settings = Self {
            mode,
            trigger: params
                .string("trigger")?
                .unwrap_or_else(|| "/hostile".into()),
            variant: params.u64("variant")?.unwrap_or(0),
            trap_after: params.u64("trap_after")?.unwrap_or(2),
            authority: params.string("authority")?.unwrap_or_default(),
            addr: params.string("addr")?.unwrap_or_default(),
            outside: params.string("outside")?.unwrap_or_default(),
            depth: params.u64("depth")?.unwrap_or(2000),
            size: params.u64("size")?.unwrap_or(100 << 20),
            tls: params.string("scheme")?.as_deref() == Some("https"),
        };
        params.finish()?;
        Ok(settings)
    }

    fn fires(&self, mode: Mode, path: &str) -> bool {
        self.mode == mode && path == self.trigger
    }
}

/// This instance's id, drawn from the host's random source on first use.
fn instance_id() -> u64 {
    static ID: OnceLock<u64> = OnceLock::new();
    *ID.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
}

/// Reports a panic through `host-log` and on stderr (which the host quotes) before it traps.
fn install_panic_hook() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        std::panic::set_hook(Box::new(|panic| {
            let message = format!("guest panicked: {panic}");
            log(Level::Error, &message);
            eprintln!("{message}");
        }));
    });
}

/// Blocks in a host call (`wasi:clocks` through `std::thread::sleep`) for an hour, where
/// epoch interruption cannot reach the guest.
fn sleep_an_hour() {
    std::thread::sleep(Duration::from_secs(3600));
}

fn spin_forever() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn grow_forever() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Filled with non-zero bytes, so every page is really touched.
        let block = vec![hoard.len() as u8 | 1; 1 << 20];
        hoard.push(std::hint::black_box(block));
    }
}

// Unbounded on purpose: the sandbox must turn the overflow into a trap.
#[allow(unconditional_recursion)]
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 32]);
    let deeper = recurse(std::hint::black_box(depth + 1));
    deeper.wrapping_add(frame[(depth % 32) as usize])
}

fn env_report() -> Vec<u8> {
    std::env::vars()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect::<String>()
        .into_bytes()
}

fn wit_time(seconds: u64, nanoseconds: u32) -> Datetime {
    Datetime {
        seconds,
        nanoseconds,
    }
}

fn to_wit(info: FileInfo) -> wit::FileInfo {
    let since = info.mod_time.duration_since(UNIX_EPOCH).unwrap_or_default();
    wit::FileInfo {
        path: info.path,
        size: info.size,
        mod_time: wit_time(since.as_secs(), since.subsec_nanos()),
        is_dir: info.is_dir,
    }
}

fn file(path: impl Into<String>, size: u64) -> wit::FileInfo {
    to_wit(FileInfo::file(path, size, SystemTime::now()))
}

fn dir(path: impl Into<String>) -> wit::FileInfo {
    to_wit(FileInfo::dir(path, UNIX_EPOCH))
}

/// `list(trigger)` in `list-malformed`: one good child and one bad one.
///
/// 0 a path under another directory, 1 a grandchild, 2 a relative name, 3 a `..` component,
/// 4 the directory itself, 5 a trailing slash, 6 a non-ASCII name, 7 an empty string,
/// 8 a space in the name.
fn bad_children(trigger: &str, variant: u64) -> Vec<String> {
    let bad = match variant {
        0 => "/elsewhere/a".to_owned(),
        1 => format!("{trigger}/a/b"),
        2 => "relative".to_owned(),
        3 => format!("{trigger}/../x"),
        4 => trigger.to_owned(),
        5 => format!("{trigger}/a/"),
        6 => format!("{trigger}/ä"),
        7 => String::new(),
        _ => format!("{trigger}/a b"),
    };
    vec![format!("{trigger}/good"), bad]
}

/// `stat(trigger)` in `stat-malformed`.
///
/// 0 the record of another path, 1 nanoseconds of 1.5 s, 2 a directory of 7 bytes, 3 an
/// invalid path, 4 a time too far in the future for the host's clock.
fn bad_stat(trigger: &str, variant: u64) -> wit::FileInfo {
    match variant {
        0 => file("/some/other/path", 3),
        1 => wit::FileInfo {
            mod_time: wit_time(1_700_000_000, 1_500_000_000),
            ..file(trigger, 3)
        },
        2 => wit::FileInfo {
            size: 7,
            ..dir(trigger)
        },
        3 => file(format!("{trigger}/../x"), 3),
        _ => wit::FileInfo {
            mod_time: wit_time(u64::MAX, 0),
            ..file(trigger, 3)
        },
    }
}

/// `walk(trigger)` in `walk-malformed`.
///
/// 0 siblings out of order, 1 an entry outside the walked directory, 2 the walked directory
/// itself, 3 an entry twice, 4 a stall (one entry, then empty pages that never say done),
/// 5 a directory with a size, 6 an invalid path, 7 contents before their directory, 8 the same
/// non-final page again and again.
fn bad_walk(trigger: &str, variant: u64, resume: Option<&wit::ResumePoint>) -> wit::WalkPage {
    let t = trigger;
    let (entries, done) = match variant {
        0 => (
            vec![file(format!("{t}/b"), 1), file(format!("{t}/a"), 1)],
            true,
        ),
        1 => (vec![file(format!("{t}/a"), 1), file("/elsewhere", 1)], true),
        2 => (vec![dir(t), file(format!("{t}/a"), 1)], true),
        3 => (
            vec![file(format!("{t}/a"), 1), file(format!("{t}/a"), 1)],
            true,
        ),
        4 => match resume {
            None => (vec![file(format!("{t}/a"), 1)], false),
            Some(_) => (Vec::new(), false),
        },
        5 => (
            vec![wit::FileInfo {
                size: 9,
                ..dir(format!("{t}/d"))
            }],
            true,
        ),
        6 => (vec![file(format!("{t}/a b"), 1)], true),
        7 => (
            vec![file(format!("{t}/d/x"), 1), dir(format!("{t}/d"))],
            true,
        ),
        _ => (vec![file(format!("{t}/a"), 1)], false),
    };
    wit::WalkPage { entries, done }
}

/// A page of `walk(trigger)` in `endless-walk`: files `f000000000`, `f000000001`, … in order,
/// never done.
fn endless_page(trigger: &str, resume: Option<&wit::ResumePoint>, limit: u32) -> wit::WalkPage {
    let next = match resume {
        Some(wit::ResumePoint::After(p) | wit::ResumePoint::AfterSubtree(p)) => p
            .rsplit_once("/f")
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .map_or(0, |n| n + 1),
        None => 0,
    };
    let entries = (next..next + u64::from(limit.max(1)))
        .map(|i| file(format!("{trigger}/f{i:09}"), 1))
        .collect();
    wit::WalkPage {
        entries,
        done: false,
    }
}

/// The core module's initialiser, which the component runs while it is instantiated (before
/// any export is entered).
#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    attack::at_instantiation();
}

/// The exported component.
pub struct Component;

impl wharf_guest_sdk::__private::ManifestGuest for Component {
    fn describe() -> wharf_guest_sdk::__private::Info {
        wharf_guest_sdk::__private::info(
            "hostile",
            false,
            vec![Capability::Directory(honest::DATA.into())],
        )
    }
}

impl wit::Guest for Component {
    type Driver = HostileDriver;
    type Reader = HostileReader;
    type Writer = HostileWriter;
    type Put = NoPut;
}

impl wharf_guest_sdk::__private::ResumeGuest for Component {
    /// Its readers never hand the host a stream, so there is none to resume.
    fn reopen(
        _reader: wit::ReaderBorrow<'_>,
        _offset: u64,
    ) -> WitResult<Option<wharf_guest_sdk::InputStream>> {
        Err(Error::unsupported("reopen").into())
    }
}

/// This guest takes contents through `put-content` only: no put is ever made.
pub enum NoPut {}

impl wit::GuestPut for NoPut {
    fn finish(&self, _written: u64) -> WitResult<()> {
        match *self {}
    }
}

wharf_guest_sdk::__private::export!(Component with_types_in wharf_guest_sdk::bindings);

type WitResult<T> = std::result::Result<T, wit::Error>;

/// The driver: the honest one plus the misbehaviour the settings pick.
pub struct HostileDriver {
    honest: Honest,
    settings: Rc<Settings>,
}

impl wit::GuestDriver for HostileDriver {
    fn create(params: Vec<wit::Param>) -> WitResult<wit::Driver> {
        install_panic_hook();
        let settings =
            Settings::from_params(Params::new(params.into_iter().map(|p| (p.key, p.value))))?;
        if settings.mode == Mode::SleepCreate {
            sleep_an_hour();
        }
        Ok(wit::Driver::new(Self {
            honest: Honest,
            settings: Rc::new(settings),
        }))
    }

    fn get_content(&self, path: String) -> WitResult<wit::Content> {
        let s = &self.settings;
        if s.fires(Mode::HttpStream, &path) {
            let (body, stream) = net::body_stream(&s.authority)?;
            return Ok(wit::Content::Stream(wit::StreamedContent {
                keep: wit::Reader::new(HostileReader::Keeps(Box::new(body))),
                stream,
                // A lie the host must not believe beyond its bound.
                size: Some(u64::MAX),
            }));
        }
        Ok(wit::Content::Bytes(self.content_bytes(path)?))
    }

    fn begin_put(&self, _path: String, _length: u64) -> WitResult<Option<wit::OpenedPut>> {
        Ok(None)
    }

    fn put_content(&self, path: String, content: Vec<u8>) -> WitResult<()> {
        Ok(self.honest.put_content(&path, content)?)
    }

    fn open_reader(&self, path: String, offset: u64) -> WitResult<wit::OpenedReader> {
        if self.settings.fires(Mode::OversizedRead, &path) {
            return Ok(wit::OpenedReader {
                reader: wit::Reader::new(HostileReader::Oversized),
                stream: None,
            });
        }
        if self.settings.fires(Mode::HttpStream, &path) {
            let (body, stream) = net::body_stream(&self.settings.authority)?;
            return Ok(wit::OpenedReader {
                reader: wit::Reader::new(HostileReader::Keeps(Box::new(body))),
                stream: Some(stream),
            });
        }
        let reader = self.honest.reader(&path, offset)?;
        Ok(wit::OpenedReader {
            reader: wit::Reader::new(HostileReader::Honest(RefCell::new(reader))),
            stream: None,
        })
    }

    fn open_writer(&self, path: String, append: bool) -> WitResult<wit::OpenedWriter> {
        let s = &self.settings;
        let upload = self.honest.writer(&path, append)?;
        let size = upload.size();
        let parts = s.fires(Mode::HttpPart, &path);
        let part_size = match s.size {
            _ if !parts => 0,
            0 => u64::MAX,
            n => n,
        };
        Ok(wit::OpenedWriter {
            writer: wit::Writer::new(HostileWriter {
                upload: RefCell::new(upload),
                writes: Cell::new(0),
                trap_after: s.fires(Mode::TrapWriter, &path).then_some(s.trap_after),
                shrinks: s.fires(Mode::ShrinkingWriter, &path),
                sleeps_on_close: s.fires(Mode::SleepClose, &path),
                parts: parts.then(|| s.authority.clone()),
                part: RefCell::new(None),
            }),
            size,
            part_size,
            first_part: 0,
        })
    }

    fn stat(&self, path: String) -> WitResult<wit::FileInfo> {
        if self.settings.fires(Mode::StatMalformed, &path) {
            return Ok(bad_stat(&path, self.settings.variant));
        }
        let mut info = self.honest.stat(&path)?;
        info.path = path;
        Ok(to_wit(info))
    }

    fn list(&self, path: String) -> WitResult<Vec<String>> {
        let s = &self.settings;
        if s.fires(Mode::OversizedList, &path) {
            return Ok((0..3000)
                .map(|i| format!("{i:04}{}", "x".repeat(8 << 10)))
                .collect());
        }
        if s.fires(Mode::ListMalformed, &path) {
            return Ok(bad_children(&path, s.variant));
        }
        Ok(self.honest.list(&path)?)
    }

    fn move_(&self, source: String, dest: String) -> WitResult<()> {
        Ok(self.honest.rename(&source, &dest)?)
    }

    fn delete(&self, path: String) -> WitResult<()> {
        Ok(self.honest.delete(&path)?)
    }

    fn redirect_url(
        &self,
        _method: wit::RedirectMethod,
        path: String,
        _expiry_seconds: u64,
    ) -> WitResult<Option<String>> {
        if self.settings.fires(Mode::BadUrl, &path) {
            return Ok(Some(attack::bad_url(self.settings.variant)));
        }
        Ok(Some(format!(
            "http://instance.invalid/{:016x}",
            instance_id()
        )))
    }

    fn walk(
        &self,
        path: String,
        resume: Option<wit::ResumePoint>,
        limit: u32,
    ) -> WitResult<wit::WalkPage> {
        let s = &self.settings;
        if s.fires(Mode::OversizedWalk, &path) {
            let entries = (0..limit.saturating_add(100))
                .map(|i| file(format!("{path}/f{i:06}"), 1))
                .collect();
            return Ok(wit::WalkPage {
                entries,
                done: true,
            });
        }
        if s.fires(Mode::EndlessWalk, &path) {
            return Ok(endless_page(&path, resume.as_ref(), limit));
        }
        if s.fires(Mode::WalkMalformed, &path) {
            return Ok(bad_walk(&path, s.variant, resume.as_ref()));
        }
        let resume = resume.map(|r| match r {
            wit::ResumePoint::After(p) => Resume::After(p),
            wit::ResumePoint::AfterSubtree(p) => Resume::AfterSubtree(p),
        });
        let page = self.honest.walk_page(&path, resume.as_ref(), limit)?;
        Ok(wit::WalkPage {
            entries: page.entries.into_iter().map(to_wit).collect(),
            done: page.done,
        })
    }
}

/// A reader: honest, or one that answers more than it was asked for.
impl HostileDriver {
    /// `get_content`'s answer as bytes: honest, or the misbehaviour that fires.
    fn content_bytes(&self, path: String) -> WitResult<Vec<u8>> {
        let s = &self.settings;
        if path == s.trigger {
            match s.mode {
                Mode::Loop => spin_forever(),
                Mode::Sleep => {
                    sleep_an_hour();
                    return Ok(b"woke up".to_vec());
                }
                Mode::Grow => grow_forever(),
                Mode::GrowHost => net::grow_host_forever(),
                Mode::Stack => return Ok(recurse(0).to_le_bytes().to_vec()),
                Mode::Panic => panic!("hostile guest: panic on cue"),
                Mode::Escape => return Ok(escape::report(&s.outside).into_bytes()),
                Mode::Http => return Ok(net::http_get(&s.authority, s.tls)?),
                Mode::Socket => return Ok(net::tcp_connect(&s.addr)?),
                Mode::Env => return Ok(env_report()),
                Mode::LoudError => return Err(attack::loud_error().into()),
                Mode::HoardFiles => return Ok(attack::hoard_files(1 << 20)),
                Mode::DeepTree => return Ok(attack::deep_tree("deep", s.depth)?),
                Mode::HugeAnswer => return Ok(vec![b'h'; s.size as usize]),
                Mode::Fill => return Ok(attack::fill(s.size)),
                Mode::HttpFlood => return Ok(net::http_flood(&s.authority, 1000)),
                Mode::Listings => return Ok(attack::hold_listings(100)),
                Mode::CrossMove => return Ok(attack::move_between_grants()),
                Mode::HttpUnread => return Ok(net::http_unread(&s.authority)?),
                Mode::HttpUnfinished => {
                    return Ok(net::http_unfinished_body(&s.authority, s.size)?);
                }
                _ => {}
            }
        }
        Ok(self.honest.get_content(&path)?)
    }
}

pub enum HostileReader {
    Honest(RefCell<FileReader>),
    Oversized,
    /// Keeps what a stream handed to the host depends on; never read.
    Keeps(Box<dyn std::any::Any>),
}

impl wit::GuestReader for HostileReader {
    fn read(&self, max: u32) -> WitResult<Vec<u8>> {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        match self {
            Self::Honest(reader) => Ok(reader.borrow_mut().read(max.max(1))?),
            Self::Oversized => Ok(vec![b'x'; max.saturating_mul(4)]),
            Self::Keeps(_) => Ok(Vec::new()),
        }
    }
}

/// A writer: the honest upload, trapping, lying about its size or blocking on close on cue.
/// The host keeps the writer state rules, so this one does not.
pub struct HostileWriter {
    upload: RefCell<FileUpload>,
    writes: Cell<u64>,
    trap_after: Option<u64>,
    shrinks: bool,
    sleeps_on_close: bool,
    /// Parts go to `POST http://<authority>/` (mode `http-part`).
    parts: Option<String>,
    /// What the part being written depends on.
    part: RefCell<Option<Box<dyn std::any::Any>>>,
}

impl wit::GuestWriter for HostileWriter {
    fn write(&self, data: Vec<u8>) -> WitResult<()> {
        let n = self.writes.get();
        if self.trap_after.is_some_and(|after| n >= after) {
            panic!("hostile guest: trap in the middle of an upload, after {n} writes");
        }
        self.writes.set(n + 1);
        Ok(self.upload.borrow_mut().write(data)?)
    }

    fn size(&self) -> u64 {
        let size = self.upload.borrow().size();
        if self.shrinks && self.writes.get() >= 2 {
            return 1;
        }
        size
    }

    fn begin_part(
        &self,
        length: u64,
        _kind: wit::PartKind,
    ) -> WitResult<wharf_guest_sdk::OutputStream> {
        let Some(authority) = &self.parts else {
            return Err(wit::Error::Unsupported("begin-part".into()));
        };
        let (body, future, stream) = net::upload_stream(authority, length)?;
        *self.part.borrow_mut() = Some(Box::new((body, future)));
        Ok(stream)
    }

    fn end_part(&self, _written: u64) -> WitResult<()> {
        self.part.borrow_mut().take();
        Ok(())
    }

    fn close(&self) -> WitResult<()> {
        if self.sleeps_on_close {
            sleep_an_hour();
        }
        Ok(self.upload.borrow_mut().close()?)
    }

    fn commit(&self) -> WitResult<()> {
        Ok(self.upload.borrow_mut().commit()?)
    }

    fn cancel(&self) -> WitResult<()> {
        Ok(self.upload.borrow_mut().cancel()?)
    }
}
