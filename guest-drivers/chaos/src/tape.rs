//! The tape: the fuzz input, read a byte per choice. A drained tape reads zeros, and choice 0 is
//! always the plain answer (a valid record, a reader at its end, a walk that is done), so every
//! input, however short, ends in answers that let the host's script finish.

use std::cell::Cell;

use wharf_guest_sdk::bindings::exports::wharf::storage::driver as wit;
use wharf_guest_sdk::bindings::wharf::storage::types::{BackendError, Datetime, InvalidOffset};

/// What a call does with its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// A plain answer, as an honest driver would give.
    Answer,
    /// An answer that breaks the contract in one of the ways the tape picks.
    Lie,
    /// An error, of a variant and with a text the tape picks.
    Fail,
    /// A trap (a panic, an abort, an allocation past the memory limit, `unreachable`).
    Trap,
}

/// The input bytes and how far they have been read.
pub struct Tape {
    bytes: Vec<u8>,
    at: Cell<usize>,
}

/// A plain modification time (2023-11-14).
pub const PLAIN_TIME: u64 = 1_700_000_000;

impl Tape {
    /// The tape of a hex string (pairs of `[0-9a-fA-F]`); `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if !hex.len().is_multiple_of(2) {
            return None;
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(Self {
            bytes,
            at: Cell::new(0),
        })
    }

    /// The next byte, 0 once the tape is drained.
    pub fn byte(&self) -> u8 {
        let at = self.at.get();
        self.at.set(at + 1);
        self.bytes.get(at).copied().unwrap_or(0)
    }

    /// One of `n` choices (0 once drained).
    pub fn choice(&self, n: u8) -> u8 {
        self.byte() % n
    }

    /// Eight bytes, little-endian.
    fn word(&self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }

    /// What the next call does: mostly plain answers, then lies, errors and traps.
    pub fn fate(&self) -> Fate {
        match self.choice(16) {
            0..=6 => Fate::Answer,
            7..=10 => Fate::Lie,
            11..=14 => Fate::Fail,
            _ => Fate::Trap,
        }
    }

    /// A number, favouring the edges (0, 1, the largest values, powers of two).
    pub fn number(&self) -> u64 {
        match self.choice(10) {
            0 => u64::from(self.byte()),
            1 => 0,
            2 => 1,
            3 => u64::MAX,
            4 => u64::MAX - 1,
            5 => 1 << 32,
            6 => 1 << 63,
            7 => i64::MAX as u64,
            8 => u64::from(u32::MAX) + 1,
            _ => self.word(),
        }
    }

    /// A length around `asked` (what the host asked for, when it asked): short, exact, one over,
    /// four times over, or a size of its own from empty to 4 MiB.
    pub fn length(&self, asked: usize) -> usize {
        match self.choice(8) {
            0 => usize::from(self.byte()).min(asked),
            1 => 0,
            2 => asked.saturating_sub(1),
            3 => asked,
            4 => asked.saturating_add(1),
            5 => asked.saturating_mul(4),
            6 => 1024 << self.choice(13),
            _ => usize::from(u16::from_le_bytes([self.byte(), self.byte()])),
        }
    }

    /// A count of list entries or walk entries around `limit` (the host's page size, when it
    /// gave one).
    pub fn count(&self, limit: usize) -> usize {
        match self.choice(6) {
            0 => usize::from(self.choice(8)),
            1 => 0,
            2 => limit,
            3 => limit.saturating_add(1),
            4 => usize::from(self.byte()) * 16,
            _ => 5000 << self.choice(4),
        }
    }

    /// A text: the path `near` itself, a child of it, or a broken path, control characters,
    /// odd Unicode, bytes off the tape, or a text of up to 2 MiB.
    pub fn text(&self, near: &str) -> String {
        let dir = near.trim_end_matches('/');
        match self.choice(13) {
            0 => near.to_owned(),
            1 => format!("{dir}/c{}", self.byte()),
            2 => String::new(),
            3 => {
                let n = usize::from(self.byte());
                let raw: Vec<u8> = (0..n).map(|_| self.byte()).collect();
                String::from_utf8_lossy(&raw).into_owned()
            }
            4 => {
                let unit = char::from(b'!' + self.choice(94)).to_string();
                unit.repeat(1024 << self.choice(12))
            }
            5 => "\x1b[2J\x1b[31mforged\x1b[0m\r\n2026-01-01T00:00:00Z ERROR wharf: forged\0\u{9b}"
                .to_owned(),
            6 => format!("{dir}/\u{202e}txt.exe\u{feff}/ä/日本"),
            7 => "/".to_owned(),
            8 => format!("{dir}/../x"),
            9 => format!("{dir}/"),
            10 => "relative/x".to_owned(),
            11 => format!("{dir}{}", "/d".repeat(1 << self.choice(16))),
            _ => format!("{dir}//x"),
        }
    }

    /// An error of any variant, its texts drawn by [`Tape::text`].
    pub fn error(&self, near: &str) -> wit::Error {
        match self.choice(7) {
            0 => wit::Error::PathNotFound(self.text(near)),
            1 => wit::Error::InvalidPath(self.text(near)),
            2 => wit::Error::InvalidOffset(InvalidOffset {
                path: self.text(near),
                offset: self.number(),
            }),
            3 => wit::Error::Unsupported(self.text(near)),
            4 => wit::Error::PermissionDenied(self.text(near)),
            5 => wit::Error::Timeout(self.text(near)),
            _ => wit::Error::Backend(BackendError {
                message: self.text(near),
                temporary: self.byte() & 1 == 1,
            }),
        }
    }

    /// A modification time: plain, or at the edges of what seconds and nanoseconds can hold.
    pub fn time(&self) -> Datetime {
        let seconds = match self.choice(3) {
            0 => PLAIN_TIME,
            _ => self.number(),
        };
        let nanoseconds = match self.choice(5) {
            0 => 0,
            1 => 999_999_999,
            2 => 1_000_000_000,
            3 => u32::MAX,
            _ => u32::from_le_bytes(std::array::from_fn(|_| self.byte())),
        };
        Datetime {
            seconds,
            nanoseconds,
        }
    }

    /// A file record whose every field is drawn: a path by [`Tape::text`] around `near`, any
    /// size, any time, a directory or not.
    pub fn file_info(&self, near: &str) -> wit::FileInfo {
        wit::FileInfo {
            path: self.text(near),
            size: self.number(),
            mod_time: self.time(),
            is_dir: self.byte() & 1 == 1,
        }
    }
}
