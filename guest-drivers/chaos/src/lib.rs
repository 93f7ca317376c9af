//! A guest driver that answers every call with values drawn from its input, for the fuzzing of
//! the guest boundary (`fuzz/`, target `guest_boundary`); it is built with the other guests but
//! never bundled into Wharf.
//!
//! The parameter `input` (hex) is the tape ([`tape`]): each call reads its fate from it (a plain
//! answer, a lie, an error, a trap) and every value of its answer: records with any path, size
//! and time, errors of every variant with texts up to 2 MiB, lists and walk pages of any length
//! in any order, readers that answer more or less than asked, writers whose size runs ahead or
//! goes back and that ask for any part size, contents handed over as streams with a size that
//! lies, redirect URLs of any text, log lines and output of any text. The driver is stateful (one
//! instance); a fresh instance, after a fault, reads the tape again from its start.
//!
//! Like the hostile guest, it implements the WIT exports with the SDK's bindings rather than
//! through `export_driver!`, whose glue would protect the host from these answers.

mod tape;

use std::cell::Cell;
use std::rc::Rc;

use wharf_guest_sdk::bindings::exports::wharf::storage::driver as wit;
use wharf_guest_sdk::bindings::wharf::storage::types::{BackendError, Datetime};
use wharf_guest_sdk::log::{Level, log};

use crate::tape::{Fate, PLAIN_TIME, Tape};

type WitResult<T> = std::result::Result<T, wit::Error>;

/// The exported component.
pub struct Component;

impl wharf_guest_sdk::__private::ManifestGuest for Component {
    fn describe() -> wharf_guest_sdk::__private::Info {
        wharf_guest_sdk::__private::info("chaos", true, Vec::new())
    }
}

impl wit::Guest for Component {
    type Driver = ChaosDriver;
    type Reader = ChaosReader;
    type Writer = ChaosWriter;
    type Put = ChaosPut;
}

wharf_guest_sdk::__private::export!(Component with_types_in wharf_guest_sdk::bindings);

/// A trap of a kind the tape picks, after writing `near` on standard error (which the host
/// quotes, cleaned, in its fault).
fn trap(tape: &Tape, near: &str) -> ! {
    eprintln!("chaos: {}", tape.text(near));
    match tape.choice(4) {
        0 => panic!("chaos: a panic on cue"),
        1 => std::process::abort(),
        // Far past any memory limit: the growth is refused and the allocation aborts.
        2 => {
            let hoard = std::hint::black_box(vec![1u8; 1 << 31]);
            panic!("chaos: {} bytes allocated past the limit", hoard.len())
        }
        _ => core::arch::wasm32::unreachable(),
    }
}

/// Runs the common part of every call: maybe a log line of any text, then the call's fate. A
/// trap does not return.
fn fate_of(tape: &Tape, near: &str) -> Fate {
    if tape.choice(8) == 7 {
        let level = match tape.choice(5) {
            0 => Level::Trace,
            1 => Level::Debug,
            2 => Level::Info,
            3 => Level::Warn,
            _ => Level::Error,
        };
        log(level, &tape.text(near));
    }
    match tape.fate() {
        Fate::Trap => trap(tape, near),
        fate => fate,
    }
}

/// The answer of a call that returns nothing but success or failure.
fn done(tape: &Tape, near: &str) -> WitResult<()> {
    match fate_of(tape, near) {
        Fate::Fail => Err(tape.error(near)),
        _ => Ok(()),
    }
}

/// `n` bytes of a pattern (never read from the tape: only the length is drawn).
fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// The stream of the guest's standard input: empty, but a real `wasi:io` input stream to hand
/// the host.
fn input_stream() -> wharf_guest_sdk::InputStream {
    wasip2::cli::stdin::get_stdin()
}

/// The stream of the guest's standard output (kept by the host as a bounded tail).
fn output_stream() -> wharf_guest_sdk::OutputStream {
    wasip2::cli::stdout::get_stdout()
}

/// The driver: the tape, and a counter that names plain walk entries in walk order.
pub struct ChaosDriver {
    tape: Rc<Tape>,
    walked: Cell<u64>,
}

impl ChaosDriver {
    fn reader(&self) -> wit::Reader {
        wit::Reader::new(ChaosReader {
            tape: self.tape.clone(),
        })
    }

    /// A plain file record of `path`.
    fn plain_file(&self, path: String) -> wit::FileInfo {
        wit::FileInfo {
            path,
            size: u64::from(self.tape.byte()),
            mod_time: Datetime {
                seconds: PLAIN_TIME,
                nanoseconds: 0,
            },
            is_dir: false,
        }
    }
}

impl wit::GuestDriver for ChaosDriver {
    fn create(params: Vec<wit::Param>) -> WitResult<wit::Driver> {
        let mut input = None;
        for p in params {
            match p.key.as_str() {
                "input" => input = Some(p.value),
                other => {
                    return Err(wit::Error::Backend(BackendError {
                        message: format!("invalid parameter {other}: unknown (accepted: input)"),
                        temporary: false,
                    }));
                }
            }
        }
        let tape = Tape::from_hex(input.as_deref().unwrap_or("")).ok_or_else(|| {
            wit::Error::Backend(BackendError {
                message: "invalid parameter input: expected hex digits".into(),
                temporary: false,
            })
        })?;
        match fate_of(&tape, "/") {
            Fate::Fail => Err(tape.error("/")),
            _ => Ok(wit::Driver::new(Self {
                tape: Rc::new(tape),
                walked: Cell::new(0),
            })),
        }
    }

    fn get_content(&self, path: String) -> WitResult<wit::Content> {
        let t = &*self.tape;
        match fate_of(t, &path) {
            Fate::Answer => Ok(wit::Content::Bytes(content(usize::from(t.byte())))),
            Fate::Lie => Ok(match t.choice(2) {
                0 => wit::Content::Bytes(content(t.length(64 << 20))),
                _ => wit::Content::Stream(wit::StreamedContent {
                    keep: self.reader(),
                    stream: input_stream(),
                    size: match t.choice(2) {
                        0 => None,
                        _ => Some(t.number()),
                    },
                }),
            }),
            _ => Err(t.error(&path)),
        }
    }

    fn put_content(&self, path: String, _content: Vec<u8>) -> WitResult<()> {
        done(&self.tape, &path)
    }

    fn begin_put(&self, path: String, _length: u64) -> WitResult<Option<wit::OpenedPut>> {
        let t = &*self.tape;
        match fate_of(t, &path) {
            Fate::Answer => Ok(None),
            Fate::Lie => Ok(Some(wit::OpenedPut {
                put: wit::Put::new(ChaosPut {
                    tape: self.tape.clone(),
                }),
                stream: output_stream(),
            })),
            _ => Err(t.error(&path)),
        }
    }

    fn open_reader(&self, path: String, _offset: u64) -> WitResult<wit::OpenedReader> {
        let t = &*self.tape;
        match fate_of(t, &path) {
            Fate::Answer => Ok(wit::OpenedReader {
                reader: self.reader(),
                stream: None,
            }),
            Fate::Lie => Ok(wit::OpenedReader {
                reader: self.reader(),
                stream: Some(input_stream()),
            }),
            _ => Err(t.error(&path)),
        }
    }

    fn open_writer(&self, path: String, _append: bool) -> WitResult<wit::OpenedWriter> {
        let t = &*self.tape;
        let writer = |size: u64, part_size: u64| {
            wit::Writer::new(ChaosWriter {
                tape: self.tape.clone(),
                path: path.clone(),
                size: Cell::new(size),
                parts: part_size > 0,
            })
        };
        match fate_of(t, &path) {
            Fate::Answer => Ok(wit::OpenedWriter {
                writer: writer(0, 0),
                size: 0,
                part_size: 0,
                first_part: 0,
            }),
            Fate::Lie => {
                let size = t.number();
                // Parts of a few bytes are left out: the host makes two calls per part, so a
                // part size of 1 turns each byte written into some 11 µs of host work (a 2 MiB
                // write into half a minute), a known amplification reported with the fuzz
                // figures rather than found again on every run.
                let part_size = match t.choice(4) {
                    0 => u64::from(t.byte()) << 10,
                    1 => (64 << 20) + 1,
                    _ => t.number().max(1 << 10),
                };
                Ok(wit::OpenedWriter {
                    writer: writer(size, part_size),
                    size,
                    part_size,
                    first_part: t.number(),
                })
            }
            _ => Err(t.error(&path)),
        }
    }

    fn stat(&self, path: String) -> WitResult<wit::FileInfo> {
        let t = &*self.tape;
        match fate_of(t, &path) {
            Fate::Answer => Ok(self.plain_file(path)),
            Fate::Lie => Ok(t.file_info(&path)),
            _ => Err(t.error(&path)),
        }
    }

    fn list(&self, path: String) -> WitResult<Vec<String>> {
        let t = &*self.tape;
        let dir = path.trim_end_matches('/');
        match fate_of(t, &path) {
            Fate::Answer => Ok((0..t.choice(8)).map(|i| format!("{dir}/c{i}")).collect()),
            Fate::Lie => {
                let n = t.count(1 << 10);
                let mut children: Vec<String> =
                    (0..n).map(|_| t.text(&format!("{dir}/c"))).collect();
                match t.choice(3) {
                    0 => {}
                    1 => children.reverse(),
                    _ => children.extend(children.clone()),
                }
                Ok(children)
            }
            _ => Err(t.error(&path)),
        }
    }

    fn move_(&self, source: String, _dest: String) -> WitResult<()> {
        done(&self.tape, &source)
    }

    fn delete(&self, path: String) -> WitResult<()> {
        done(&self.tape, &path)
    }

    fn redirect_url(
        &self,
        _method: wit::RedirectMethod,
        path: String,
        _expiry_seconds: u64,
    ) -> WitResult<Option<String>> {
        let t = &*self.tape;
        match fate_of(t, &path) {
            Fate::Answer => Ok(match t.choice(2) {
                0 => None,
                _ => Some(format!("https://chaos.example{path}?expires=60")),
            }),
            Fate::Lie => Ok(Some(match t.choice(8) {
                0 => "http://user:password@chaos.example/x".to_owned(),
                1 => "javascript:alert(1)".to_owned(),
                2 => "https:///no-host".to_owned(),
                3 => format!("https://chaos.example/{}", "a".repeat(8 << 10)),
                4 => "http://chaos.example/a\r\nSet-Cookie: x=1".to_owned(),
                5 => format!("http://{}", t.text(&path)),
                _ => t.text(&path),
            })),
            _ => Err(t.error(&path)),
        }
    }

    fn walk(
        &self,
        path: String,
        _resume: Option<wit::ResumePoint>,
        limit: u32,
    ) -> WitResult<wit::WalkPage> {
        let t = &*self.tape;
        let dir = path.trim_end_matches('/');
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        match fate_of(t, &path) {
            // Entries named by a counter that only grows: each page comes after the last.
            Fate::Answer => {
                let n = usize::from(t.choice(8)).min(limit);
                let entries = (0..n)
                    .map(|_| {
                        let i = self.walked.get();
                        self.walked.set(i + 1);
                        let mut info = self.plain_file(format!("{dir}/e{i:012}"));
                        if t.choice(4) == 3 {
                            info.is_dir = true;
                            info.size = 0;
                        }
                        info
                    })
                    .collect::<Vec<_>>();
                Ok(wit::WalkPage {
                    done: entries.is_empty() || t.choice(4) == 0,
                    entries,
                })
            }
            Fate::Lie => {
                let n = t.count(limit);
                let mut entries: Vec<wit::FileInfo> =
                    (0..n).map(|_| t.file_info(&format!("{dir}/e"))).collect();
                match t.choice(3) {
                    0 => {}
                    1 => entries.reverse(),
                    _ => entries.extend(entries.clone()),
                }
                Ok(wit::WalkPage {
                    entries,
                    done: t.byte() & 1 == 0,
                })
            }
            _ => Err(t.error(&path)),
        }
    }
}

/// A reader whose chunks are drawn: the plain answer is a short chunk or the end.
pub struct ChaosReader {
    tape: Rc<Tape>,
}

impl wit::GuestReader for ChaosReader {
    fn read(&self, max: u32) -> WitResult<Vec<u8>> {
        let t = &*self.tape;
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        match fate_of(t, "/read") {
            Fate::Answer => Ok(content(usize::from(t.byte()).min(max))),
            Fate::Lie => Ok(content(t.length(max))),
            _ => Err(t.error("/read")),
        }
    }
}

impl wharf_guest_sdk::__private::ResumeGuest for Component {
    /// A drawn answer: the end, a stream (standard input: empty, so the host reads a short
    /// content and must not loop), or an error of any kind (temporary ones make the host ask
    /// again, within its bound).
    fn reopen(
        reader: wit::ReaderBorrow<'_>,
        _offset: u64,
    ) -> WitResult<Option<wharf_guest_sdk::InputStream>> {
        let t = &*reader.get::<ChaosReader>().tape;
        match fate_of(t, "/reopen") {
            Fate::Answer => Ok(None),
            Fate::Lie => Ok(Some(input_stream())),
            _ => Err(t.error("/reopen")),
        }
    }
}

/// A writer that counts what it was given, unless the tape makes its size lie.
pub struct ChaosWriter {
    tape: Rc<Tape>,
    path: String,
    size: Cell<u64>,
    /// It asked for parts: the host writes into streams rather than calling `write`.
    parts: bool,
}

impl wit::GuestWriter for ChaosWriter {
    fn write(&self, data: Vec<u8>) -> WitResult<()> {
        done(&self.tape, &self.path)?;
        self.size
            .set(self.size.get().saturating_add(data.len() as u64));
        Ok(())
    }

    fn begin_part(
        &self,
        _length: u64,
        _kind: wit::PartKind,
    ) -> WitResult<wharf_guest_sdk::OutputStream> {
        let t = &*self.tape;
        match fate_of(t, &self.path) {
            Fate::Answer | Fate::Lie if self.parts => Ok(output_stream()),
            Fate::Answer | Fate::Lie => Err(wit::Error::Unsupported("begin-part".into())),
            _ => Err(t.error(&self.path)),
        }
    }

    fn end_part(&self, written: u64) -> WitResult<()> {
        done(&self.tape, &self.path)?;
        self.size.set(self.size.get().saturating_add(written));
        Ok(())
    }

    fn size(&self) -> u64 {
        let t = &*self.tape;
        match t.choice(4) {
            3 => t.number(),
            _ => self.size.get(),
        }
    }

    fn close(&self) -> WitResult<()> {
        done(&self.tape, &self.path)
    }

    fn commit(&self) -> WitResult<()> {
        done(&self.tape, &self.path)
    }

    fn cancel(&self) -> WitResult<()> {
        done(&self.tape, &self.path)
    }
}

/// A put whose `finish` is drawn.
pub struct ChaosPut {
    tape: Rc<Tape>,
}

impl wit::GuestPut for ChaosPut {
    fn finish(&self, _written: u64) -> WitResult<()> {
        done(&self.tape, "/put")
    }
}
