//! The one place where filesystem failures become Wharf errors: a missing entry (or a file where
//! a directory was needed) is `PathNotFound` for the path the caller asked about, a refusal —
//! including cap-std's refusal to follow a path out of the root — is `PermissionDenied`, and
//! everything else is `Backend`, keeping the `io::Error` as its source.

use std::io;

use tokio::task::JoinError;
use wharf_runtime::{Error, ErrorKind};

/// Maps `err`, met while doing `op` on the contract path `path`.
pub(crate) fn from_io(err: io::Error, op: &str, path: &str) -> Error {
    match err.kind() {
        // ENOTDIR means a component of the path is a file: the path cannot exist.
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Error::not_found(path),
        io::ErrorKind::PermissionDenied => Error::new(ErrorKind::PermissionDenied)
            .with_detail(format!("{op} {path}"))
            .with_source(err),
        kind => Error::new(ErrorKind::Backend {
            temporary: is_temporary(kind),
        })
        .with_detail(format!("{op} {path}"))
        .with_source(err),
    }
}

/// True for failures that may go away when the same call is retried.
fn is_temporary(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::ResourceBusy
    )
}

/// A blocking task that panicked or was dropped because the runtime is shutting down.
pub(crate) fn from_join(err: JoinError, op: &str, path: &str) -> Error {
    Error::backend(format!("{op} {path}: blocking task failed")).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_entries_name_the_requested_path() {
        for kind in [io::ErrorKind::NotFound, io::ErrorKind::NotADirectory] {
            let e = from_io(io::Error::from(kind), "stat", "/a/b");
            assert_eq!(
                e.kind(),
                &ErrorKind::PathNotFound {
                    path: "/a/b".into()
                }
            );
            assert_eq!(e.to_string(), "path not found: /a/b");
        }
    }

    #[test]
    fn refusals_are_permission_denied() {
        let escape = io::Error::new(
            io::ErrorKind::PermissionDenied,
            "a path led outside of the filesystem",
        );
        let e = from_io(escape, "open", "/link/x");
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
        assert!(format!("{e:#}").contains("outside"), "{e:#}");
    }

    #[test]
    fn others_are_backend_errors_with_source() {
        let e = from_io(io::Error::other("disk on fire"), "write", "/a");
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false });
        assert_eq!(e.to_string(), "write /a");
        assert_eq!(format!("{e:#}"), "write /a: disk on fire");
        assert!(std::error::Error::source(&e).is_some());
        let e = from_io(io::Error::from(io::ErrorKind::Interrupted), "read", "/a");
        assert!(e.is_temporary());
    }
}
