//! The error a driver returns: the WIT `error` variant as a Rust enum, with constructors for the
//! common cases and the one mapping from `std::io::Error` that filesystem-like drivers share.

use std::fmt;
use std::io;

/// Why an operation failed; one case per case of the WIT `error` variant. The host adds the
/// driver's name to the message it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The path (or a needed parent) does not exist. Carries the path.
    PathNotFound(String),
    /// The path breaks the path rules (the host checks paths first, so drivers rarely need it).
    InvalidPath(String),
    /// A reader was asked to start beyond the end of the file.
    InvalidOffset {
        /// The file.
        path: String,
        /// The offset that was asked for.
        offset: u64,
    },
    /// The driver does not implement an optional behaviour. Carries the operation's name.
    Unsupported(String),
    /// The backend or the sandbox refused. Carries a human explanation.
    PermissionDenied(String),
    /// A backend deadline passed. Carries a human explanation.
    Timeout(String),
    /// Anything else the backend reported.
    Backend {
        /// A human explanation; never include credentials.
        message: String,
        /// True when retrying the same call may succeed.
        temporary: bool,
    },
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// `path` (or a needed parent) does not exist.
    pub fn not_found(path: impl Into<String>) -> Self {
        Self::PathNotFound(path.into())
    }

    /// `path` breaks the path rules.
    pub fn invalid_path(path: impl Into<String>) -> Self {
        Self::InvalidPath(path.into())
    }

    /// A reader of `path` was asked to start at `offset`, beyond the end.
    pub fn invalid_offset(path: impl Into<String>, offset: u64) -> Self {
        Self::InvalidOffset {
            path: path.into(),
            offset,
        }
    }

    /// The driver does not implement `operation`.
    pub fn unsupported(operation: impl Into<String>) -> Self {
        Self::Unsupported(operation.into())
    }

    /// The backend or the sandbox refused.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::PermissionDenied(message.into())
    }

    /// A deadline passed.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::Timeout(message.into())
    }

    /// Any other backend failure; `temporary` when retrying may succeed.
    pub fn backend(message: impl Into<String>, temporary: bool) -> Self {
        Self::Backend {
            message: message.into(),
            temporary,
        }
    }

    /// True when trying again may succeed: a temporary backend error or a timeout.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            Self::Backend {
                temporary: true,
                ..
            } | Self::Timeout(_)
        )
    }

    /// True for [`Error::PathNotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::PathNotFound(_))
    }

    /// Maps an I/O failure met while doing `op` on the contract path `path`: a missing entry (or
    /// a file where a directory was needed) is `PathNotFound` for `path`, a refusal (including a
    /// read-only preopen) is `PermissionDenied`, anything else is `Backend`.
    pub fn from_io(err: io::Error, op: &str, path: &str) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Self::not_found(path),
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                Self::permission_denied(format!("{op} {path}: {err}"))
            }
            kind => Self::backend(format!("{op} {path}: {err}"), is_temporary(kind)),
        }
    }
}

/// True for I/O failures that may go away when the same call is retried.
fn is_temporary(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::ResourceBusy
    )
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PathNotFound(path) => write!(f, "path not found: {path}"),
            Self::InvalidPath(path) => write!(f, "invalid path: {path}"),
            Self::InvalidOffset { path, offset } => write!(f, "invalid offset {offset} in {path}"),
            Self::Unsupported(operation) => write!(f, "unsupported: {operation}"),
            Self::PermissionDenied(message) => write!(f, "permission denied: {message}"),
            Self::Timeout(message) => write!(f, "timeout: {message}"),
            Self::Backend { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_kinds() {
        for kind in [io::ErrorKind::NotFound, io::ErrorKind::NotADirectory] {
            let e = Error::from_io(io::Error::from(kind), "stat", "/a/b");
            assert_eq!(e, Error::not_found("/a/b"));
        }
        let e = Error::from_io(
            io::Error::from(io::ErrorKind::PermissionDenied),
            "write",
            "/a",
        );
        assert!(matches!(e, Error::PermissionDenied(ref m) if m.starts_with("write /a")));
        let e = Error::from_io(io::Error::other("disk on fire"), "write", "/a");
        assert_eq!(e, Error::backend("write /a: disk on fire", false));
        let e = Error::from_io(io::Error::from(io::ErrorKind::Interrupted), "read", "/a");
        assert!(matches!(
            e,
            Error::Backend {
                temporary: true,
                ..
            }
        ));
    }

    #[test]
    fn messages() {
        assert_eq!(Error::not_found("/x").to_string(), "path not found: /x");
        assert_eq!(
            Error::invalid_offset("/x", 9).to_string(),
            "invalid offset 9 in /x"
        );
        assert_eq!(Error::backend("boom", true).to_string(), "boom");
    }
}
