//! The one error type of the runtime: an [`ErrorKind`] the caller can branch on, the name of the
//! driver that produced it, an optional detail and the underlying cause (CONTRACT §2).

use std::error::Error as StdError;
use std::fmt;

/// Result alias used throughout Wharf.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in the terms of the contract. Callers branch on this.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The path (or a needed parent) does not exist.
    PathNotFound {
        /// The path asked for.
        path: String,
    },
    /// The path breaks the path rules of CONTRACT §1.
    InvalidPath {
        /// The path as given.
        path: String,
    },
    /// A reader was asked to start beyond the end of the file.
    InvalidOffset {
        /// The file.
        path: String,
        /// The offset asked for.
        offset: u64,
    },
    /// The driver does not implement an optional behaviour.
    Unsupported {
        /// The operation or behaviour.
        operation: String,
    },
    /// The backend or the sandbox refused.
    PermissionDenied,
    /// A deadline passed.
    Timeout,
    /// A guest driver trapped or broke its contract.
    DriverFault,
    /// A file writer was used in a state that does not allow the operation
    /// (for example `write` after `commit`).
    WriterState,
    /// A driver parameter is unknown, missing or ill-typed; `key` names it.
    InvalidParameter {
        /// The parameter's key.
        key: String,
    },
    /// The factory was asked for a driver name it does not know, or to register one twice.
    Registry,
    /// Anything else the backend reported; `temporary` says whether retrying may help.
    Backend {
        /// True when retrying the same call may succeed.
        temporary: bool,
    },
}

/// Wharf's error: a kind, the driver it came from, a human detail and an optional cause.
///
/// Displayed as `"<driver>: <kind text>[: <detail>]"`, e.g. `"s3: path not found: /a/b"`. The
/// cause is not part of that text: it is [`std::error::Error::source`], and the alternate form
/// (`{:#}`, as anyhow's) appends the whole chain of causes, e.g. `"s3: backend error: list /:
/// connection refused"`.
pub struct Error {
    kind: ErrorKind,
    driver: Option<String>,
    detail: Option<String>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` with no driver name yet (the base layer adds it).
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            driver: None,
            detail: None,
            source: None,
        }
    }

    /// `PathNotFound` for `path`.
    pub fn not_found(path: impl Into<String>) -> Self {
        Self::new(ErrorKind::PathNotFound { path: path.into() })
    }

    /// `InvalidPath` for `path`.
    pub fn invalid_path(path: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidPath { path: path.into() })
    }

    /// `InvalidOffset` for `path` at `offset`.
    pub fn invalid_offset(path: impl Into<String>, offset: u64) -> Self {
        Self::new(ErrorKind::InvalidOffset {
            path: path.into(),
            offset,
        })
    }

    /// `Unsupported` naming the operation.
    pub fn unsupported(operation: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported {
            operation: operation.into(),
        })
    }

    /// `WriterState` with a message naming the state, e.g. "writer already closed".
    pub fn writer_state(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::WriterState).with_detail(message)
    }

    /// `InvalidParameter` naming the key and saying what was expected.
    pub fn invalid_parameter(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter { key: key.into() }).with_detail(message)
    }

    /// A non-temporary `Backend` error with a message.
    pub fn backend(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Backend { temporary: false }).with_detail(message)
    }

    /// A temporary `Backend` error with a message.
    pub fn temporary(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Backend { temporary: true }).with_detail(message)
    }

    /// Adds or replaces the human detail shown after the kind.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Keeps `source` as the underlying cause.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Keeps an already boxed cause.
    pub fn with_boxed_source(mut self, source: Box<dyn StdError + Send + Sync + 'static>) -> Self {
        self.source = Some(source);
        self
    }

    /// Sets the driver name unless one is already set (an error keeps the name of the driver
    /// that first produced it).
    pub fn with_driver(mut self, driver: &str) -> Self {
        if self.driver.is_none() {
            self.driver = Some(driver.to_owned());
        }
        self
    }

    /// The kind the caller can branch on.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The driver that produced this error, if known.
    pub fn driver(&self) -> Option<&str> {
        self.driver.as_deref()
    }

    /// The human detail, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// True for `PathNotFound`.
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, ErrorKind::PathNotFound { .. })
    }

    /// True when retrying the same call may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Backend { temporary: true } | ErrorKind::Timeout
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::PathNotFound { path } => write!(f, "path not found: {path}"),
            ErrorKind::InvalidPath { path } => write!(f, "invalid path: {path:?}"),
            ErrorKind::InvalidOffset { path, offset } => {
                write!(f, "invalid offset {offset} for {path}")
            }
            ErrorKind::Unsupported { operation } => write!(f, "unsupported operation: {operation}"),
            ErrorKind::PermissionDenied => f.write_str("permission denied"),
            ErrorKind::Timeout => f.write_str("timed out"),
            ErrorKind::DriverFault => f.write_str("driver fault"),
            ErrorKind::WriterState => f.write_str("invalid writer state"),
            ErrorKind::InvalidParameter { key } => write!(f, "invalid parameter {key:?}"),
            ErrorKind::Registry => f.write_str("driver registry"),
            ErrorKind::Backend { temporary: true } => f.write_str("temporary backend error"),
            ErrorKind::Backend { temporary: false } => f.write_str("backend error"),
        }
    }
}

impl Error {
    /// The error's own text: driver, kind and detail, without its causes.
    fn message(&self) -> String {
        let mut text = String::new();
        if let Some(driver) = &self.driver {
            text.push_str(driver);
            text.push_str(": ");
        }
        match (&self.kind, &self.detail) {
            // For these kinds the detail says it all; the kind text would only repeat it.
            (ErrorKind::WriterState | ErrorKind::Registry | ErrorKind::Backend { .. }, Some(d)) => {
                text.push_str(d)
            }
            (kind, Some(d)) => text.push_str(&format!("{kind}: {d}")),
            (kind, None) => text.push_str(&kind.to_string()),
        }
        text
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut previous = self.message();
        f.write_str(&previous)?;
        if f.alternate() {
            // Each cause once: one whose text the previous one already ends with (an error that
            // shows its own source) is left out.
            let mut cause = self.source();
            while let Some(error) = cause {
                let text = error.to_string();
                if !previous.ends_with(&text) {
                    write!(f, ": {text}")?;
                }
                previous = text;
                cause = error.source();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("driver", &self.driver)
            .field("detail", &self.detail)
            .field("source", &self.source)
            .finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_driver_and_path() {
        let e = Error::not_found("/a/b").with_driver("s3");
        assert_eq!(e.to_string(), "s3: path not found: /a/b");
    }

    #[test]
    fn first_driver_name_wins() {
        let e = Error::not_found("/a").with_driver("one").with_driver("two");
        assert_eq!(e.driver(), Some("one"));
    }

    #[test]
    fn writer_state_shows_only_the_state() {
        let e = Error::writer_state("writer already closed").with_driver("inmemory");
        assert_eq!(e.to_string(), "inmemory: writer already closed");
    }

    #[test]
    fn source_is_kept_and_shown() {
        let io = std::io::Error::other("disk on fire");
        let e = Error::backend("write failed").with_source(io);
        assert_eq!(e.to_string(), "write failed");
        assert_eq!(format!("{e:#}"), "write failed: disk on fire");
        assert_eq!(
            StdError::source(&e).map(|s| s.to_string()).as_deref(),
            Some("disk on fire")
        );
        // A chain: each cause once, even when a cause shows its own source too.
        let inner = Error::backend("connect").with_source(std::io::Error::other("refused"));
        let outer = Error::temporary("list /").with_source(inner);
        assert_eq!(format!("{outer:#}"), "list /: connect: refused");
    }
}
