//! The driver's parameters: the reference rados driver's `poolname`, `username` and
//! `chunksize`, plus `conffile` (which ceph.conf to read), `keyring` (for clusters with cephx)
//! and `namespace` (a RADOS namespace in the pool, so that several stores share one pool). Every
//! value is checked here, so a bad configuration fails when the driver is created, naming the
//! key.

use std::path::PathBuf;

use wharf_runtime::{Error, Params, Result};

/// The pool that holds everything (required; it must exist).
pub const POOL_NAME: &str = "poolname";
/// The Ceph user to connect as: an id (`admin`) or a full name (`client.admin`).
pub const USER_NAME: &str = "username";
/// The size of the objects file content is striped over.
pub const CHUNK_SIZE: &str = "chunksize";
/// The ceph.conf to read.
pub const CONF_FILE: &str = "conffile";
/// A keyring file holding the user's key (clusters with cephx).
pub const KEYRING: &str = "keyring";
/// The RADOS namespace within the pool.
pub const NAMESPACE: &str = "namespace";

/// `chunksize` when none is given: 4 MiB, as the reference.
pub const DEFAULT_CHUNK_SIZE: u64 = 4 << 20;
/// The smallest accepted `chunksize`.
pub const MIN_CHUNK_SIZE: u64 = 4 << 10;
/// The largest accepted `chunksize`: Ceph's default `osd_max_object_size`.
pub const MAX_CHUNK_SIZE: u64 = 128 << 20;

/// What a rados driver is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The pool holding the directories and the data.
    pub pool: String,
    /// The user to connect as; librados' default (`client.admin`) when `None`.
    pub user: Option<String>,
    /// The chunk size new content is striped with.
    pub chunk_size: u64,
    /// The ceph.conf to read; when `None`, librados searches `$CEPH_CONF`,
    /// `/etc/ceph/ceph.conf`, `~/.ceph/config` and `./ceph.conf`.
    pub conf_file: Option<PathBuf>,
    /// The keyring file (its path only: the driver never reads or shows the key itself).
    pub keyring: Option<PathBuf>,
    /// The RADOS namespace ("" for the pool's default namespace).
    pub namespace: String,
}

impl Config {
    /// A configuration for `pool` with every other parameter at its default.
    pub fn for_pool(pool: impl Into<String>) -> Self {
        Config {
            pool: pool.into(),
            user: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            conf_file: None,
            keyring: None,
            namespace: String::new(),
        }
    }

    /// Reads every parameter, then rejects any other key.
    pub fn from_params(mut params: Params) -> Result<Self> {
        let pool = params.required_string(POOL_NAME)?;
        if pool.contains('\0') {
            return Err(Error::invalid_parameter(
                POOL_NAME,
                "a pool name holds no NUL byte",
            ));
        }
        let user = non_empty(params.string(USER_NAME)?);
        if let Some(user) = &user
            && (user.contains('\0') || user.ends_with('.') || user.starts_with('.'))
        {
            return Err(Error::invalid_parameter(
                USER_NAME,
                format!(
                    "expected a user id such as `admin` or a name such as `client.admin`, got {user:?}"
                ),
            ));
        }
        let chunk_size = params.size(CHUNK_SIZE)?.unwrap_or(DEFAULT_CHUNK_SIZE);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(Error::invalid_parameter(
                CHUNK_SIZE,
                format!(
                    "expected a size from {MIN_CHUNK_SIZE} (4 KiB) to {MAX_CHUNK_SIZE} (128 MiB, \
                     Ceph's largest object), got {chunk_size}"
                ),
            ));
        }
        let conf_file = file(&mut params, CONF_FILE)?;
        let keyring = file(&mut params, KEYRING)?;
        let namespace = params.string(NAMESPACE)?.unwrap_or_default();
        if namespace.contains('\0') {
            return Err(Error::invalid_parameter(
                NAMESPACE,
                "a namespace holds no NUL byte",
            ));
        }
        params.finish()?;
        Ok(Config {
            pool,
            user,
            chunk_size,
            conf_file,
            keyring,
            namespace,
        })
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A path parameter that must name an existing, readable file.
fn file(params: &mut Params, key: &str) -> Result<Option<PathBuf>> {
    let Some(path) = non_empty(params.string(key)?) else {
        return Ok(None);
    };
    if path.contains('\0') {
        return Err(Error::invalid_parameter(key, "a path holds no NUL byte"));
    }
    let path = PathBuf::from(path);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(Some(path)),
        Ok(_) => Err(Error::invalid_parameter(
            key,
            format!("expected a file, got {} (not a file)", path.display()),
        )),
        Err(e) => Err(Error::invalid_parameter(
            key,
            format!("expected a readable file, got {}", path.display()),
        )
        .with_source(e)),
    }
}

#[cfg(test)]
mod tests {
    use wharf_runtime::ErrorKind;

    use super::*;

    fn key_of(e: &Error) -> &str {
        match e.kind() {
            ErrorKind::InvalidParameter { key } => key,
            other => panic!("expected InvalidParameter, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_every_integer_form_of_chunksize() {
        let c = Config::from_params(Params::from_pairs([("poolname", "registry")])).unwrap();
        assert_eq!(c, Config::for_pool("registry"));
        for (given, expected) in [
            ("1048576", 1 << 20),
            ("0x100000", 1 << 20),
            ("1MiB", 1 << 20),
            ("8M", 8 << 20),
            ("65_536", 65536),
        ] {
            let c = Config::from_params(Params::from_pairs([
                ("poolname", "p"),
                ("chunksize", given),
            ]))
            .unwrap();
            assert_eq!(c.chunk_size, expected, "{given}");
        }
        let mut p = Params::from_pairs([("poolname", "p")]);
        p.insert("chunksize", 65536);
        assert_eq!(Config::from_params(p).unwrap().chunk_size, 65536);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[], "poolname"),
            (&[("poolname", "p"), ("chunksize", "lots")], "chunksize"),
            (&[("poolname", "p"), ("chunksize", "1")], "chunksize"),
            (&[("poolname", "p"), ("chunksize", "1GiB")], "chunksize"),
            (
                &[("poolname", "p"), ("conffile", "/nonexistent/ceph.conf")],
                "conffile",
            ),
            (&[("poolname", "p"), ("poolnmae", "x")], "poolnmae"),
        ];
        for (pairs, key) in cases {
            let e = Config::from_params(Params::from_pairs(pairs.iter().copied())).unwrap_err();
            assert_eq!(key_of(&e), key, "{e}");
        }
        let e = Config::from_params(Params::from_pairs([("poolname", "p"), ("keyring", "/")]))
            .unwrap_err();
        assert_eq!(key_of(&e), "keyring");
        assert!(e.to_string().contains("not a file"), "{e}");
    }

    #[test]
    fn user_and_namespace() {
        let c = Config::from_params(Params::from_pairs([
            ("poolname", "p"),
            ("username", "registry"),
            ("namespace", "tenant-a"),
        ]))
        .unwrap();
        assert_eq!(c.user.as_deref(), Some("registry"));
        assert_eq!(c.namespace, "tenant-a");
        let e = Config::from_params(Params::from_pairs([
            ("poolname", "p"),
            ("username", "client."),
        ]))
        .unwrap_err();
        assert_eq!(key_of(&e), "username");
    }
}
