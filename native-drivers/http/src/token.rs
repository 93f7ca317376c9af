//! A credential fetched from an identity service and kept until shortly before it expires: a
//! bearer token, or a whole session (Swift's token with its storage URL). One fetch runs at a
//! time; callers that arrive meanwhile wait for it and take what it fetched, and a token that
//! is still good is handed out without waiting at all.

use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use wharf_runtime::{Error, ErrorKind, Result};

/// The error of a credential fetch that got no answer (`what` names it): a temporary `Backend`
/// error, whatever the driver and however the fetch broke off, without the request's URL.
pub fn fetch_failed(what: &str, error: reqwest::Error) -> Error {
    Error::new(ErrorKind::Backend { temporary: true })
        .with_detail(format!("{what} failed"))
        .with_source(error.without_url())
}

/// A fetched credential and when it runs out (`None`: it is kept until the service refuses
/// it).
#[derive(Clone)]
pub struct Token<T> {
    /// The credential.
    pub value: T,
    /// When it runs out, if the service said.
    pub expires: Option<SystemTime>,
}

impl<T> Token<T> {
    /// A credential valid for `lifetime` from now.
    pub fn valid_for(value: T, lifetime: Duration) -> Self {
        Self {
            value,
            expires: Some(SystemTime::now() + lifetime),
        }
    }

    /// True when the credential is still good at `now` for at least `margin`.
    pub fn good_at(&self, now: SystemTime, margin: Duration) -> bool {
        self.expires.is_none_or(|e| e > now + margin)
    }
}

impl<T> fmt::Debug for Token<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &crate::redact::REDACTED)
            .field("expires", &self.expires)
            .finish()
    }
}

/// The cached credential of a driver.
pub struct TokenCache<T> {
    current: Mutex<Option<Token<T>>>,
    fetching: tokio::sync::Mutex<()>,
    refresh_before: Duration,
}

impl<T> fmt::Debug for TokenCache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expires = self.lock().as_ref().map(|t| t.expires);
        f.debug_struct("TokenCache")
            .field("cached", &expires.is_some())
            .field("expires", &expires.flatten())
            .field("refresh_before", &self.refresh_before)
            .finish()
    }
}

impl<T> TokenCache<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Token<T>>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Clone> TokenCache<T> {
    /// An empty cache whose credentials are renewed when less than `refresh_before` is left of
    /// them.
    pub fn new(refresh_before: Duration) -> Self {
        Self {
            current: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            refresh_before,
        }
    }

    /// The cached credential, if it is still good for a while.
    pub fn cached(&self) -> Option<T> {
        self.cached_lasting(SystemTime::UNIX_EPOCH)
    }

    fn cached_lasting(&self, until: SystemTime) -> Option<T> {
        let now = SystemTime::now();
        self.lock()
            .as_ref()
            .filter(|t| t.good_at(now, self.refresh_before) && t.expires.is_none_or(|e| e >= until))
            .map(|t| t.value.clone())
    }

    /// A credential that is good for a while: the cached one, or one `fetch` gets. Only one
    /// fetch runs at a time; a caller that waited for another's fetch takes its result (and
    /// fetches itself only when that one failed).
    pub async fn get_or_fetch<F, Fut>(&self, fetch: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token<T>>>,
    {
        self.get_lasting(SystemTime::UNIX_EPOCH, fetch).await
    }

    /// As [`TokenCache::get_or_fetch`], for a credential that must also last until `until` (a
    /// key that signs URLs valid until then): a cached one that runs out sooner is replaced.
    pub async fn get_lasting<F, Fut>(&self, until: SystemTime, fetch: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token<T>>>,
    {
        if let Some(value) = self.cached_lasting(until) {
            return Ok(value);
        }
        let _fetching = self.fetching.lock().await;
        if let Some(value) = self.cached_lasting(until) {
            return Ok(value);
        }
        let token = fetch().await?;
        let value = token.value.clone();
        *self.lock() = Some(token);
        Ok(value)
    }

    /// Forgets the cached credential: the next caller fetches a fresh one.
    pub fn forget(&self) {
        *self.lock() = None;
    }

    /// Forgets the cached credential if `refused` says it is the one the service refused
    /// (another caller may have replaced it already).
    pub fn forget_if(&self, refused: impl FnOnce(&T) -> bool) {
        let mut current = self.lock();
        if current.as_ref().is_some_and(|t| refused(&t.value)) {
            *current = None;
        }
    }

    /// Changes the cached credential in place (for tests that make the service refuse it).
    pub fn modify(&self, change: impl FnOnce(&mut T)) {
        if let Some(t) = self.lock().as_mut() {
            change(&mut t.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn expiry_decides_renewal() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let margin = Duration::from_secs(60);
        let mut t = Token {
            value: "t",
            expires: None,
        };
        assert!(
            t.good_at(now, margin),
            "a token without expiry is kept until refused"
        );
        t.expires = Some(now + Duration::from_secs(3600));
        assert!(t.good_at(now, margin));
        t.expires = Some(now + Duration::from_secs(30));
        assert!(
            !t.good_at(now, margin),
            "a token about to run out is renewed"
        );
        t.expires = Some(now - Duration::from_secs(1));
        assert!(!t.good_at(now, margin));
        assert!(!format!("{t:?}").contains("\"t\""));
    }

    #[tokio::test]
    async fn a_token_is_kept_until_shortly_before_it_expires() {
        let cache = TokenCache::new(Duration::from_secs(300));
        let fetches = AtomicUsize::new(0);
        let fetch = |lifetime: u64| {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(Token::valid_for(
                    format!("t{n}"),
                    Duration::from_secs(lifetime),
                ))
            }
        };
        // Five minutes left is too little: renewed at once.
        assert_eq!(cache.get_or_fetch(|| fetch(200)).await.unwrap(), "t0");
        assert_eq!(cache.get_or_fetch(|| fetch(3600)).await.unwrap(), "t1");
        assert_eq!(cache.get_or_fetch(|| fetch(3600)).await.unwrap(), "t1");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        cache.forget_if(|t| t == "t0");
        assert_eq!(
            cache.cached().as_deref(),
            Some("t1"),
            "only the refused one is forgotten"
        );
        cache.forget_if(|t| t == "t1");
        assert_eq!(cache.cached(), None);
        assert_eq!(cache.get_or_fetch(|| fetch(3600)).await.unwrap(), "t2");
    }

    #[tokio::test]
    async fn a_credential_that_runs_out_too_soon_is_replaced() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let day = Duration::from_secs(24 * 3600);
        let fetch = |name: &'static str, lifetime: Duration| async move {
            Ok(Token::valid_for(name, lifetime))
        };
        let soon = SystemTime::now() + day;
        assert_eq!(
            cache
                .get_lasting(soon, || fetch("two days", 2 * day))
                .await
                .unwrap(),
            "two days"
        );
        assert_eq!(
            cache
                .get_lasting(soon, || fetch("unused", 2 * day))
                .await
                .unwrap(),
            "two days"
        );
        let later = SystemTime::now() + 3 * day;
        assert_eq!(
            cache
                .get_lasting(later, || fetch("four days", 4 * day))
                .await
                .unwrap(),
            "four days"
        );
        assert_eq!(cache.cached(), Some("four days"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(60)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let (cache, fetches) = (cache.clone(), fetches.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_fetch(|| async {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(Token::valid_for("shared", Duration::from_secs(3600)))
                        })
                        .await
                })
            })
            .collect();
        for c in callers {
            assert_eq!(c.await.unwrap().unwrap(), "shared");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_fetch_caches_nothing() {
        let cache: TokenCache<String> = TokenCache::new(Duration::from_secs(60));
        let e = cache
            .get_or_fetch(|| async { Err(Error::temporary("the endpoint is down")) })
            .await
            .unwrap_err();
        assert!(e.is_temporary());
        let ok = cache
            .get_or_fetch(|| async {
                Ok(Token::valid_for("t".to_owned(), Duration::from_secs(3600)))
            })
            .await
            .unwrap();
        assert_eq!(ok, "t");
    }
}
