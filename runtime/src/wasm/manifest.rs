//! What a guest says about itself: its manifest (driver name, WIT version, whether it keeps
//! state in its instance, the capabilities it would like), as the host keeps it once checked
//! (see `answer::manifest`).

/// A capability a guest asks for in its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedCapability {
    /// A directory preopened at this guest path.
    Directory(String),
    /// Outbound HTTP to this host.
    Http(String),
    /// This environment variable.
    Environment(String),
}

impl std::fmt::Display for RequestedCapability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestedCapability::Directory(p) => write!(f, "directory {p}"),
            RequestedCapability::Http(h) => write!(f, "http {h}"),
            RequestedCapability::Environment(v) => write!(f, "environment {v}"),
        }
    }
}

/// What a guest says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The driver's name.
    pub name: String,
    /// The WIT package version the component was built against (`0.1.0`, `0.2.0`).
    pub wit_version: String,
    /// True when the guest keeps state in its instance (one instance, calls serialised).
    pub stateful: bool,
    /// The capabilities it would like the operator to grant.
    pub requested: Vec<RequestedCapability>,
}
