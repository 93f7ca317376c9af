//! The values the contract's operations report, the same on both sides of the WIT boundary.

use std::time::SystemTime;

/// What `stat` and `walk` report about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The absolute path, exactly as requested (for `stat`) or as found (for `walk`).
    pub path: String,
    /// Size in bytes; 0 for directories.
    pub size: u64,
    /// Time of the last write (for directories, whatever the backend reports, possibly the epoch).
    pub mod_time: SystemTime,
    /// True when the path is a directory: a component-prefix of an existing file.
    pub is_dir: bool,
}

impl FileInfo {
    /// A file of `size` bytes written at `mod_time`.
    pub fn file(path: impl Into<String>, size: u64, mod_time: SystemTime) -> Self {
        Self {
            path: path.into(),
            size,
            mod_time,
            is_dir: false,
        }
    }

    /// A directory (size 0); pass `UNIX_EPOCH` when the backend keeps no time for it.
    pub fn dir(path: impl Into<String>, mod_time: SystemTime) -> Self {
        Self {
            path: path.into(),
            size: 0,
            mod_time,
            is_dir: true,
        }
    }
}

/// The HTTP method a redirect URL is signed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectMethod {
    /// A pre-signed GET.
    Get,
    /// A pre-signed HEAD.
    Head,
}

impl RedirectMethod {
    /// `"GET"` or `"HEAD"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RedirectMethod::Get => "GET",
            RedirectMethod::Head => "HEAD",
        }
    }
}
