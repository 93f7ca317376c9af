//! The driver's parameters, read the way the reference filesystem driver reads them so that an
//! existing registry `config.yml` `storage: filesystem:` section works unchanged:
//! `rootdirectory` (default `/var/lib/registry`) and `maxthreads` (default 100, values below 25
//! raised to 25, a negative number counts as below 25, anything that is not an integer an error).

use std::path::PathBuf;

use wharf_runtime::{Error, Params, Result, Value};

/// The parameter naming the directory everything is stored under.
pub const ROOT_DIRECTORY: &str = "rootdirectory";
/// The parameter bounding how many calls run at once.
pub const MAX_THREADS: &str = "maxthreads";

/// `rootdirectory` when none is given (the reference's default).
pub const DEFAULT_ROOT_DIRECTORY: &str = "/var/lib/registry";
/// `maxthreads` when none is given (the reference's default).
pub const DEFAULT_MAX_THREADS: usize = 100;
/// The smallest `maxthreads`; smaller values are raised to it, as the reference does.
pub const MIN_THREADS: usize = 25;

/// What a filesystem driver is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The directory holding the storage; created when missing.
    pub root: PathBuf,
    /// How many calls may run at once (the driver's concurrency limit).
    pub max_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            root: PathBuf::from(DEFAULT_ROOT_DIRECTORY),
            max_threads: DEFAULT_MAX_THREADS,
        }
    }
}

impl Config {
    /// A configuration rooted at `root` with the default thread limit.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            ..Self::default()
        }
    }

    /// Reads `rootdirectory` and `maxthreads`, then rejects any other key.
    pub fn from_params(mut params: Params) -> Result<Self> {
        let root = match params.string(ROOT_DIRECTORY)? {
            None => PathBuf::from(DEFAULT_ROOT_DIRECTORY),
            Some(root) if root.trim().is_empty() => {
                return Err(Error::invalid_parameter(
                    ROOT_DIRECTORY,
                    "expected a directory path, got an empty string",
                ));
            }
            Some(root) => PathBuf::from(root),
        };
        let max_threads = max_threads(&mut params)?;
        params.finish()?;
        Ok(Self { root, max_threads })
    }
}

/// `maxthreads` with the reference's rules (its `base.GetLimitFromParameter`): an integer or an
/// integer string (decimal, `0x`, `0o`, `0b`), raised to [`MIN_THREADS`]; a negative number is
/// raised too rather than rejected, while a negative string is an error, as there.
fn max_threads(params: &mut Params) -> Result<usize> {
    if let Some(Value::Int(n)) = params.get(MAX_THREADS)
        && *n < 0
    {
        // Taking the key as a string marks it used; its value no longer matters.
        params.string(MAX_THREADS)?;
        return Ok(MIN_THREADS);
    }
    let Some(limit) = params.u64(MAX_THREADS)? else {
        return Ok(DEFAULT_MAX_THREADS);
    };
    // A limit beyond usize (only on 32-bit hosts) means "no practical limit" all the same.
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    Ok(limit.max(MIN_THREADS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_runtime::ErrorKind;

    fn config(pairs: &[(&str, Value)]) -> Result<Config> {
        Config::from_params(Params::from_pairs(pairs.iter().cloned()))
    }

    fn key_of(e: &Error) -> &str {
        match e.kind() {
            ErrorKind::InvalidParameter { key } => key,
            other => panic!("expected InvalidParameter, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_reference() {
        let c = config(&[]).unwrap();
        assert_eq!(c.root, PathBuf::from("/var/lib/registry"));
        assert_eq!(c.max_threads, 100);
        assert_eq!(c, Config::default());
    }

    #[test]
    fn values_are_taken_as_given() {
        let c = config(&[
            ("rootdirectory", "/srv/registry".into()),
            ("maxthreads", 50.into()),
        ])
        .unwrap();
        assert_eq!(c.root, PathBuf::from("/srv/registry"));
        assert_eq!(c.max_threads, 50);
        assert_eq!(
            config(&[("maxthreads", "0x40".into())])
                .unwrap()
                .max_threads,
            64
        );
        assert_eq!(
            config(&[("maxthreads", "200".into())]).unwrap().max_threads,
            200
        );
    }

    #[test]
    fn small_and_negative_limits_are_raised_to_the_minimum() {
        for v in [Value::from(0), Value::from(24), Value::from(-5), "3".into()] {
            assert_eq!(
                config(&[("maxthreads", v.clone())]).unwrap().max_threads,
                MIN_THREADS,
                "{v:?}"
            );
        }
        assert_eq!(
            config(&[("maxthreads", 25.into())]).unwrap().max_threads,
            25
        );
    }

    #[test]
    fn bad_limit_names_the_key() {
        for v in [Value::from("lots"), Value::from("-5"), Value::from(true)] {
            let e = config(&[("maxthreads", v.clone())]).unwrap_err();
            assert_eq!(key_of(&e), "maxthreads", "{v:?}");
            assert!(e.to_string().contains("maxthreads"), "{e}");
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let e = config(&[("rootdirectroy", "/x".into())]).unwrap_err();
        assert_eq!(key_of(&e), "rootdirectroy");
        assert!(e.to_string().contains("rootdirectory"), "{e}");
    }

    #[test]
    fn empty_root_is_refused() {
        let e = config(&[("rootdirectory", "".into())]).unwrap_err();
        assert_eq!(key_of(&e), "rootdirectory");
    }
}
