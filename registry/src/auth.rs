//! `auth.htpasswd`: HTTP basic authentication against an htpasswd file of bcrypt hashes, as the
//! reference registry does it (bcrypt only; the file is read again when it changes).
//!
//! A bcrypt comparison costs tens of milliseconds by design, so credentials that passed are
//! remembered — by a SHA-256 of the user, the password and the hash they matched, never the
//! password itself — until the file changes.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use base64::Engine as _;
use http::HeaderMap;
use sha2::Digest as _;

/// Credentials remembered at most (a bound on memory; the set is emptied when full).
const REMEMBERED: usize = 4096;

/// An htpasswd file and the realm to name in challenges.
pub struct Htpasswd {
    realm: String,
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    modified: Option<SystemTime>,
    users: HashMap<String, String>,
    passed: HashSet<[u8; 32]>,
}

impl std::fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Htpasswd")
            .field("realm", &self.realm)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn parse(text: &str, path: &Path) -> Result<HashMap<String, String>, String> {
    let mut users = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err(format!(
                "{} line {}: expected USER:BCRYPT-HASH",
                path.display(),
                i + 1
            ));
        };
        if !hash.starts_with("$2") {
            return Err(format!(
                "{} line {}: the hash of {user:?} is not bcrypt (htpasswd -B makes one)",
                path.display(),
                i + 1
            ));
        }
        users.insert(user.to_owned(), hash.to_owned());
    }
    Ok(users)
}

impl Htpasswd {
    /// Reads `path`; fails naming the file and line when it cannot be used.
    pub fn load(realm: &str, path: &Path) -> Result<Self, String> {
        let auth = Htpasswd {
            realm: realm.to_owned(),
            path: path.to_owned(),
            state: Mutex::new(State::default()),
        };
        auth.refresh()?;
        Ok(auth)
    }

    /// Reads the file again if it changed.
    fn refresh(&self) -> Result<(), String> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        let mut state = self.state.lock().expect("never poisoned");
        if state.modified == Some(modified) {
            return Ok(());
        }
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        *state = State {
            modified: Some(modified),
            users: parse(&text, &self.path)?,
            passed: HashSet::new(),
        };
        Ok(())
    }

    /// The `WWW-Authenticate` challenge.
    pub fn challenge(&self) -> String {
        format!("Basic realm={:?}", self.realm)
    }

    /// Whether the request's `Authorization: Basic` credentials match a user.
    pub async fn check(&self, headers: &HeaderMap) -> bool {
        let Some((user, password)) = credentials(headers) else {
            return false;
        };
        if let Err(e) = self.refresh() {
            // The last good file stays in force.
            tracing::warn!(error = %e, "the htpasswd file could not be read again");
        }
        let (hash, key) = {
            let state = self.state.lock().expect("never poisoned");
            let Some(hash) = state.users.get(&user).cloned() else {
                return false;
            };
            let key: [u8; 32] = sha2::Sha256::new()
                .chain_update(user.as_bytes())
                .chain_update([0])
                .chain_update(password.as_bytes())
                .chain_update([0])
                .chain_update(hash.as_bytes())
                .finalize()
                .into();
            if state.passed.contains(&key) {
                return true;
            }
            (hash, key)
        };
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if ok {
            let mut state = self.state.lock().expect("never poisoned");
            if state.passed.len() >= REMEMBERED {
                state.passed.clear();
            }
            state.passed.insert(key);
        }
        ok
    }
}

fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        h.insert(
            http::header::AUTHORIZATION,
            format!("Basic {token}").parse().unwrap(),
        );
        h
    }

    #[tokio::test]
    async fn only_matching_bcrypt_credentials_pass() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        std::fs::write(&path, format!("# users\nalice:{hash}\n\n")).unwrap();
        let auth = Htpasswd::load("wharf", &path).unwrap();
        assert!(auth.check(&basic("alice", "s3cret")).await);
        assert!(auth.check(&basic("alice", "s3cret")).await, "remembered");
        assert!(!auth.check(&basic("alice", "wrong")).await);
        assert!(!auth.check(&basic("bob", "s3cret")).await);
        assert!(!auth.check(&HeaderMap::new()).await);
        assert_eq!(auth.challenge(), "Basic realm=\"wharf\"");
        // A changed file is read again: alice's password changes.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let hash = bcrypt::hash("other", 4).unwrap();
        std::fs::write(&path, format!("alice:{hash}\n")).unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(!auth.check(&basic("alice", "s3cret")).await);
        assert!(auth.check(&basic("alice", "other")).await);
    }

    #[test]
    fn files_without_bcrypt_hashes_are_refused_by_line() {
        let e = parse("a:$2y$05$x\nb:{SHA}abc\n", Path::new("/h")).unwrap_err();
        assert!(e.contains("/h line 2") && e.contains("not bcrypt"), "{e}");
        let e = parse("nocolon\n", Path::new("/h")).unwrap_err();
        assert!(e.contains("line 1"), "{e}");
    }
}
