//! The one place where librados failures become Wharf errors: a request past its deadline is
//! `Timeout`; a refused user or key is `PermissionDenied`; a busy or unreachable cluster is a
//! temporary `Backend` error; a full cluster and everything else are permanent `Backend` errors
//! naming the operation, the path and librados' errno. Connection failures name the parameter
//! to look at. No message carries a key: the driver never reads the keyring, only passes its
//! path to librados.

use wharf_runtime::{Error, ErrorKind};

use crate::config::{CONF_FILE, KEYRING, POOL_NAME, USER_NAME};
use crate::ffi::{ConnectError, ConnectStep, Errno};

/// A failed request for `op` on `path`.
pub(crate) fn from_errno(op: &str, path: &str, errno: Errno) -> Error {
    let detail = format!("{op} {path}");
    let error = match errno.0 {
        // ETIMEDOUT
        110 => Error::new(ErrorKind::Timeout).with_detail(detail),
        // EPERM, EACCES
        1 | 13 => Error::new(ErrorKind::PermissionDenied).with_detail(detail),
        // EAGAIN, EBUSY, ENOTCONN, ESHUTDOWN, ECONNREFUSED, ECONNRESET
        11 | 16 | 107 | 108 | 111 | 104 => Error::temporary(detail),
        // ENOSPC, EDQUOT
        28 | 122 => Error::backend(format!("{detail}: the cluster or pool is full")),
        _ => Error::backend(detail),
    };
    error.with_source(errno)
}

/// A failure to connect, naming the parameter most likely at fault.
pub(crate) fn from_connect(e: ConnectError, pool: &str, conf_file: Option<&str>) -> Error {
    let ConnectError { step, errno } = e;
    let error = match step {
        ConnectStep::User => {
            Error::invalid_parameter(USER_NAME, "librados does not accept this user name")
        }
        ConnectStep::ReadConf => match conf_file {
            Some(path) => {
                Error::invalid_parameter(CONF_FILE, format!("cannot read {path} as a ceph.conf"))
            }
            None => Error::invalid_parameter(
                CONF_FILE,
                "no ceph.conf found ($CEPH_CONF, /etc/ceph/ceph.conf, ~/.ceph/config, ./ceph.conf); \
                 name one with conffile",
            ),
        },
        ConnectStep::SetOption("keyring") => {
            Error::invalid_parameter(KEYRING, "librados does not accept this keyring path")
        }
        ConnectStep::SetOption(option) => {
            Error::backend(format!("cannot set the librados option {option}"))
        }
        ConnectStep::Connect => match errno.0 {
            1 | 13 => Error::new(ErrorKind::PermissionDenied)
                .with_detail("the cluster refused the user (check username and keyring)"),
            110 => Error::new(ErrorKind::Timeout)
                .with_detail("no monitor answered (check conffile and the cluster)"),
            _ => Error::temporary("cannot connect to the cluster (check conffile and keyring)"),
        },
        ConnectStep::OpenPool if errno == Errno::ENOENT => {
            Error::invalid_parameter(POOL_NAME, format!("the pool {pool:?} does not exist"))
        }
        ConnectStep::OpenPool => Error::backend(format!("cannot open the pool {pool:?}")),
    };
    error.with_source(errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            from_errno("read", "/a", Errno(110)).kind(),
            &ErrorKind::Timeout
        );
        assert_eq!(
            from_errno("read", "/a", Errno(13)).kind(),
            &ErrorKind::PermissionDenied
        );
        assert!(from_errno("read", "/a", Errno(16)).is_temporary());
        let full = from_errno("put_content", "/a", Errno(28));
        assert!(!full.is_temporary());
        assert!(full.to_string().contains("full"), "{full}");
        let other = from_errno("stat", "/a/b", Errno::EIO);
        assert_eq!(other.to_string(), "stat /a/b");
        assert_eq!(format!("{other:#}"), "stat /a/b: EIO: Input/output error");
    }

    #[test]
    fn connect_failures_name_the_parameter() {
        let e = from_connect(
            ConnectError {
                step: ConnectStep::OpenPool,
                errno: Errno::ENOENT,
            },
            "nope",
            None,
        );
        assert_eq!(
            e.kind(),
            &ErrorKind::InvalidParameter {
                key: "poolname".into()
            }
        );
        let e = from_connect(
            ConnectError {
                step: ConnectStep::ReadConf,
                errno: Errno::ENOENT,
            },
            "p",
            None,
        );
        assert!(e.to_string().contains("conffile"), "{e}");
    }
}
