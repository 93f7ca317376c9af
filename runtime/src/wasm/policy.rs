//! The operator's sandbox policy for one guest driver: memory, per-call deadline, instance
//! count, directory preopens, outbound HTTP hosts and environment. The default grants nothing:
//! 256 MiB, 30 s per call, no directories, no hosts, no environment.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::params::{Params, Value};

/// A host directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it (an absolute guest path such as `/data`).
    pub guest: String,
    /// True to refuse writes.
    pub read_only: bool,
    /// Most bytes of file content the directory may hold (writes through the guest that would
    /// pass it fail with `insufficient-space`); `None`: no quota.
    pub quota: Option<u64>,
}

impl DirGrant {
    /// Parses `host:guest[:ro|:rw]` (the `--allow-dir` form).
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = || {
            Error::invalid_parameter(
                "dirs",
                format!("expected HOST:GUEST[:ro|:rw], got {spec:?}"),
            )
        };
        let mut parts: Vec<&str> = spec.split(':').collect();
        let read_only = match parts.last() {
            Some(&"ro") if parts.len() == 3 => {
                parts.pop();
                true
            }
            Some(&"rw") if parts.len() == 3 => {
                parts.pop();
                false
            }
            _ => false,
        };
        match parts.as_slice() {
            [host, guest] if !host.is_empty() && guest.starts_with('/') => Ok(DirGrant {
                host: PathBuf::from(host),
                guest: (*guest).to_owned(),
                read_only,
                quota: None,
            }),
            _ => Err(bad()),
        }
    }
}

/// What a guest driver may use.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxPolicy {
    /// Most linear memory one instance may grow to, in bytes.
    pub memory_limit: u64,
    /// Wall-clock deadline of one call into the guest.
    pub call_timeout: Duration,
    /// Instances of a stateless guest that may run at once (a stateful guest always gets one).
    pub instances: usize,
    /// Directory preopens.
    pub dirs: Vec<DirGrant>,
    /// Hosts the guest may reach over outbound HTTP (`host` or `host:port`).
    pub http_hosts: Vec<String>,
    /// Environment variables the guest sees.
    pub env: Vec<(String, String)>,
    /// Files, directories and streams one instance may hold open at once.
    pub open_files: usize,
    /// Outbound HTTP requests one instance may have in flight at once.
    pub http_requests: usize,
    /// Faults tolerated within [`SandboxPolicy::restart_window`] before new instances are
    /// refused for a back-off period.
    pub restart_budget: u32,
    /// The window the restart budget counts faults in.
    pub restart_window: Duration,
    /// Bounds of what the host takes from the guest's answers.
    pub answers: AnswerLimits,
}

/// Bounds of the guest's answers that the host holds or walks through (chunks, walk pages and
/// texts have fixed bounds of their own). An answer over a bound is a broken contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerLimits {
    /// Bytes the host copies out of the guest for one answer (content, a list, a page, an
    /// error), or takes as the arguments of one host call the guest makes.
    pub bytes: u64,
    /// Children one `list` may answer.
    pub list_entries: usize,
    /// Bytes of paths one `list` may answer.
    pub list_bytes: u64,
    /// Entries one walk may visit (over all its pages).
    pub walk_entries: u64,
    /// Bytes of paths one walk may visit.
    pub walk_bytes: u64,
}

impl Default for AnswerLimits {
    fn default() -> Self {
        Self {
            bytes: 64 << 20,
            list_entries: 1_000_000,
            list_bytes: 64 << 20,
            walk_entries: 50_000_000,
            walk_bytes: 8 << 30,
        }
    }
}

/// Upper bound of the memory limit: a 32-bit guest cannot address more.
pub const MAX_MEMORY: u64 = 4 << 30;

impl Default for SandboxPolicy {
    fn default() -> Self {
        Self {
            memory_limit: 256 << 20,
            call_timeout: Duration::from_secs(30),
            instances: 4,
            dirs: Vec::new(),
            http_hosts: Vec::new(),
            env: Vec::new(),
            open_files: 256,
            http_requests: 16,
            restart_budget: 10,
            restart_window: Duration::from_secs(60),
            answers: AnswerLimits::default(),
        }
    }
}

impl SandboxPolicy {
    /// True when a guest under this policy does its file I/O on the thread running it (it has a
    /// directory): its calls, and the file streams it hands over, then run in `block_in_place`.
    pub(crate) fn blocks_on_files(&self) -> bool {
        !self.dirs.is_empty()
    }

    /// Reads a policy from a parameter map (the `sandbox` table of `wharf.toml`): `memory`
    /// (size), `timeout` (duration), `instances`, `dirs` (list of `host:guest[:ro]` strings or
    /// maps with `host`, `guest`, `readonly`, `quota` (size)), `http` (list of hosts), `env` (map),
    /// `open_files`, `http_requests`, `restart_budget`, `restart_window`, and the answer bounds `answer_bytes`
    /// (size), `list_entries`, `list_bytes`
    /// (size), `walk_entries`, `walk_bytes` (size). Unknown keys are errors.
    pub fn from_params(mut p: Params) -> Result<Self> {
        let mut policy = SandboxPolicy::default();
        if let Some(m) = p.size("memory")? {
            if m == 0 || m > MAX_MEMORY {
                return Err(Error::invalid_parameter(
                    "memory",
                    format!("expected a size between 1 byte and 4GiB, got {m}"),
                ));
            }
            policy.memory_limit = m;
        }
        if let Some(t) = p.duration("timeout")? {
            if t.is_zero() {
                return Err(Error::invalid_parameter(
                    "timeout",
                    "expected a positive duration",
                ));
            }
            policy.call_timeout = t;
        }
        if let Some(n) = within("instances", p.u64("instances")?, 1..=256)? {
            policy.instances = n as usize;
        }
        if let Some(n) = p.u64("restart_budget")? {
            policy.restart_budget = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(w) = p.duration("restart_window")? {
            policy.restart_window = w;
        }
        if let Some(n) = within("open_files", p.u64("open_files")?, 8..=65_536)? {
            policy.open_files = n as usize;
        }
        if let Some(n) = within("http_requests", p.u64("http_requests")?, 1..=1024)? {
            policy.http_requests = n as usize;
        }
        let answers = &mut policy.answers;
        if let Some(n) = within("answer_bytes", p.size("answer_bytes")?, POSITIVE)? {
            answers.bytes = n;
        }
        if let Some(n) = within("list_entries", p.u64("list_entries")?, POSITIVE)? {
            answers.list_entries = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = within("list_bytes", p.size("list_bytes")?, POSITIVE)? {
            answers.list_bytes = n;
        }
        if let Some(n) = within("walk_entries", p.u64("walk_entries")?, POSITIVE)? {
            answers.walk_entries = n;
        }
        if let Some(n) = within("walk_bytes", p.size("walk_bytes")?, POSITIVE)? {
            answers.walk_bytes = n;
        }
        for item in list(&mut p, "dirs")? {
            policy.dirs.push(match item {
                Value::String(s) => DirGrant::parse(&s)?,
                Value::Map(m) => {
                    let mut g = Params::from_pairs(m);
                    let grant = DirGrant {
                        host: PathBuf::from(g.required_string("host")?),
                        guest: g.required_string("guest")?,
                        read_only: g.bool("readonly")?.unwrap_or(false),
                        quota: within("quota", g.size("quota")?, POSITIVE)?,
                    };
                    g.finish()?;
                    if !grant.guest.starts_with('/') {
                        return Err(Error::invalid_parameter(
                            "guest",
                            format!("expected an absolute guest path, got {:?}", grant.guest),
                        ));
                    }
                    grant
                }
                other => {
                    return Err(Error::invalid_parameter(
                        "dirs",
                        format!("expected HOST:GUEST[:ro] or a map, got {other:?}"),
                    ));
                }
            });
        }
        for item in list(&mut p, "http")? {
            match item {
                Value::String(host) if !host.is_empty() => {
                    super::http::HttpGrant::parse(&host)?;
                    policy.http_hosts.push(host)
                }
                other => {
                    return Err(Error::invalid_parameter(
                        "http",
                        format!("expected a host name, got {other:?}"),
                    ));
                }
            }
        }
        if let Some(mut env) = p.map("env")? {
            let keys: Vec<String> = env.keys().map(str::to_owned).collect();
            for k in keys {
                let v = env.string(&k)?.unwrap_or_default();
                policy.env.push((k.to_ascii_uppercase(), v));
            }
        }
        p.finish()?;
        Ok(policy)
    }
}

/// Any number above zero.
const POSITIVE: RangeInclusive<u64> = 1..=u64::MAX;

/// `value` of `key`, if given, when it lies in `range`.
fn within(key: &str, value: Option<u64>, range: RangeInclusive<u64>) -> Result<Option<u64>> {
    match value {
        Some(n) if !range.contains(&n) => Err(Error::invalid_parameter(
            key,
            if range == POSITIVE {
                format!("expected more than 0, got {n}")
            } else {
                format!("expected {} to {}, got {n}", range.start(), range.end())
            },
        )),
        n => Ok(n),
    }
}

fn list(p: &mut Params, key: &str) -> Result<Vec<Value>> {
    match p.get(key).cloned() {
        None | Some(Value::Null) => {
            p.string(key).ok();
            Ok(Vec::new())
        }
        Some(Value::List(items)) => {
            p.mark_taken(key);
            Ok(items)
        }
        Some(Value::String(s)) => {
            p.mark_taken(key);
            Ok(s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect())
        }
        Some(other) => Err(Error::invalid_parameter(
            key,
            format!("expected a list, got {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_grants_nothing() {
        let p = SandboxPolicy::default();
        assert!(p.dirs.is_empty() && p.http_hosts.is_empty() && p.env.is_empty());
        assert_eq!(p.memory_limit, 256 << 20);
        assert_eq!(p.call_timeout, Duration::from_secs(30));
    }

    #[test]
    fn dir_grants() {
        assert_eq!(
            DirGrant::parse("/srv/x:/data:ro").unwrap(),
            DirGrant {
                host: "/srv/x".into(),
                guest: "/data".into(),
                read_only: true,
                quota: None,
            }
        );
        assert!(!DirGrant::parse("/srv/x:/data").unwrap().read_only);
        assert!(DirGrant::parse("/srv/x").is_err());
        assert!(DirGrant::parse("/srv/x:data").is_err());
    }

    #[test]
    fn from_params_and_errors() {
        let p = Params::from_pairs([
            ("memory", Value::from("64MiB")),
            ("timeout", Value::from("2s")),
            ("dirs", Value::List(vec![Value::from("/tmp:/data:ro")])),
            ("http", Value::from("example.com, s3.example.com:9000")),
        ]);
        let policy = SandboxPolicy::from_params(p).unwrap();
        assert_eq!(policy.memory_limit, 64 << 20);
        assert_eq!(policy.call_timeout, Duration::from_secs(2));
        assert_eq!(policy.dirs.len(), 1);
        assert_eq!(policy.http_hosts, ["example.com", "s3.example.com:9000"]);
        let mut grant = std::collections::BTreeMap::new();
        grant.insert("host".to_owned(), Value::from("/srv/x"));
        grant.insert("guest".to_owned(), Value::from("/data"));
        grant.insert("quota".to_owned(), Value::from("10GiB"));
        let p = Params::from_pairs([("dirs", Value::List(vec![Value::Map(grant.clone())]))]);
        let policy = SandboxPolicy::from_params(p).unwrap();
        assert_eq!(policy.dirs[0].quota, Some(10 << 30));
        grant.insert("quota".to_owned(), Value::from("lots"));
        let p = Params::from_pairs([("dirs", Value::List(vec![Value::Map(grant)]))]);
        let e = SandboxPolicy::from_params(p).unwrap_err();
        assert!(e.to_string().contains("quota"), "{e}");
        let e = SandboxPolicy::from_params(Params::from_pairs([("memroy", "1")])).unwrap_err();
        assert!(e.to_string().contains("memroy"), "{e}");
        let e = SandboxPolicy::from_params(Params::from_pairs([("memory", "8GiB")])).unwrap_err();
        assert!(e.to_string().contains("4GiB"), "{e}");
    }
}
