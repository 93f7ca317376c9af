//! A download that survives a broken connection, for driver authors: when the body breaks off
//! mid-stream, or no data comes within the driver's `read_timeout`, it is asked for again from
//! the offset it reached, pinned to the version it began with, after the driver's back-off, up to
//! `max_retries` times in a row without progress ([`Network`]), so a long read never mixes two
//! versions of a file and never ends short. The backend says only how to ask again ([`Reopen`]);
//! a version that is gone ends the read with [`crate::network::replaced_while_read`].

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::driver::ByteStream;
use crate::error::{Error, ErrorKind, Result};
use crate::network::Network;

/// A download's body as the backend's HTTP client hands it out.
pub type Body<E> = Pin<Box<dyn Stream<Item = std::result::Result<Bytes, E>> + Send>>;

/// How a backend asks for a download again.
pub trait Reopen: Send + Sync + 'static {
    /// The error a body breaks off with.
    type Error: Display + Send + 'static;

    /// The driver's name, for logs.
    const DRIVER: &'static str;

    /// The content from `offset` to its end, only if it is still the version `version`
    /// (an ETag, a generation). `Ok(None)` says the content ends exactly at `offset`. An error
    /// ends the download with it.
    fn reopen(
        &self,
        path: &str,
        offset: u64,
        version: &str,
    ) -> impl Future<Output = Result<Option<Body<Self::Error>>>> + Send;

    /// The error a download ends with when its body broke off and is not asked for again.
    fn broken(&self, path: &str, error: Self::Error) -> Error;
}

/// A download from `offset` whose first answer is `body`. It is asked for again as `network`
/// says, and only if it is pinned to a `version` (without one, a second answer could be another
/// version of the file).
pub fn resumable<R: Reopen>(
    source: R,
    path: &str,
    offset: u64,
    version: Option<String>,
    network: &Network,
    body: Body<R::Error>,
) -> ByteStream {
    let state = Resumable {
        source,
        path: path.to_owned(),
        version,
        offset,
        body: Some(body),
        network: *network,
        failures: 0,
        done: false,
    };
    Box::pin(futures::stream::unfold(state, Resumable::next))
}

/// A download that can pick up where it broke off.
struct Resumable<R: Reopen> {
    source: R,
    path: String,
    version: Option<String>,
    /// The offset of the next byte to hand out.
    offset: u64,
    body: Option<Body<R::Error>>,
    network: Network,
    /// Breaks since the last byte handed out.
    failures: u32,
    done: bool,
}

impl<R: Reopen> Resumable<R> {
    async fn next(mut self) -> Option<(Result<Bytes>, Self)> {
        loop {
            if self.done {
                return None;
            }
            let Some(body) = self.body.as_mut() else {
                match self.reopen().await {
                    Ok(()) => continue,
                    Err(e) => {
                        self.done = true;
                        return Some((Err(e), self));
                    }
                }
            };
            let broke = match tokio::time::timeout(self.network.read_timeout, body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    if !chunk.is_empty() {
                        self.failures = 0;
                    }
                    self.offset += chunk.len() as u64;
                    return Some((Ok(chunk), self));
                }
                Ok(None) => return None,
                Ok(Some(Err(e))) => self.source.broken(&self.path, e),
                Err(_) => Error::new(ErrorKind::Timeout).with_detail(format!(
                    "reader {}: no data for {:?}",
                    self.path, self.network.read_timeout
                )),
            };
            if self.version.is_none() || self.failures >= self.network.max_retries {
                self.done = true;
                return Some((Err(broke), self));
            }
            tracing::debug!(path = %self.path, offset = self.offset, error = %format_args!("{broke:#}"),
                "{}: download broke off; resuming", R::DRIVER);
            self.body = None;
        }
    }

    /// Asks for the rest after the back-off, again while that fails for a temporary reason and
    /// retries are left.
    async fn reopen(&mut self) -> Result<()> {
        // Only a pinned download is ever asked for again.
        let version = self.version.clone().unwrap_or_default();
        loop {
            self.failures += 1;
            tokio::time::sleep(self.network.backoff.delay(self.failures)).await;
            match self.source.reopen(&self.path, self.offset, &version).await {
                Ok(Some(body)) => {
                    self.body = Some(body);
                    return Ok(());
                }
                Ok(None) => {
                    self.done = true;
                    return Ok(());
                }
                Err(e)
                    if (e.is_temporary() || matches!(e.kind(), ErrorKind::Timeout))
                        && self.failures < self.network.max_retries =>
                {
                    tracing::debug!(path = %self.path, error = %format_args!("{e:#}"),
                        "{}: asking for the rest failed; again", R::DRIVER);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use std::time::Duration;

    use super::*;
    use crate::backoff::Backoff;

    /// A file of `data` whose answers break off after `cut` bytes each.
    struct Flaky {
        data: Bytes,
        cut: usize,
        /// The (offset, version) of every reopen.
        asked: Mutex<Vec<(u64, String)>>,
        /// What the next reopens say instead of answering, first to last.
        refusals: Mutex<Vec<Result<()>>>,
    }

    impl Flaky {
        fn new(data: &'static [u8], cut: usize) -> Self {
            Flaky {
                data: Bytes::from_static(data),
                cut,
                asked: Mutex::new(Vec::new()),
                refusals: Mutex::new(Vec::new()),
            }
        }

        fn body(&self, offset: u64) -> Body<String> {
            let rest = self.data.slice(offset as usize..);
            if rest.len() <= self.cut {
                return Box::pin(futures::stream::iter([Ok(rest)]));
            }
            let head = rest.slice(..self.cut);
            Box::pin(futures::stream::iter([
                Ok(head),
                Err("connection reset".to_owned()),
            ]))
        }

        fn asked(&self) -> Vec<(u64, String)> {
            self.asked.lock().unwrap().clone()
        }
    }

    impl Reopen for Arc<Flaky> {
        type Error = String;
        const DRIVER: &'static str = "test";

        async fn reopen(
            &self,
            _path: &str,
            offset: u64,
            version: &str,
        ) -> Result<Option<Body<String>>> {
            self.asked
                .lock()
                .unwrap()
                .push((offset, version.to_owned()));
            let refusal = {
                let mut refusals = self.refusals.lock().unwrap();
                (!refusals.is_empty()).then(|| refusals.remove(0))
            };
            if let Some(refusal) = refusal {
                refusal?;
                return Ok(None);
            }
            Ok(Some(self.body(offset)))
        }

        fn broken(&self, path: &str, error: String) -> Error {
            Error::backend(format!("reader {path}: {error}"))
        }
    }

    async fn read(
        flaky: &Arc<Flaky>,
        offset: u64,
        version: Option<&str>,
        resumes: u32,
    ) -> (Vec<u8>, Option<Error>) {
        let first = flaky.body(offset);
        let network = Network {
            max_retries: resumes,
            backoff: Backoff::starting_at(Duration::from_millis(1)),
            ..Network::default()
        };
        let mut stream = resumable(
            flaky.clone(),
            "/f",
            offset,
            version.map(str::to_owned),
            &network,
            first,
        );
        let mut got = Vec::new();
        let mut error = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => got.extend_from_slice(&chunk),
                Err(e) => {
                    assert!(error.is_none(), "nothing after an error");
                    error = Some(e);
                }
            }
        }
        (got, error)
    }

    #[tokio::test]
    async fn resumes_from_where_it_broke_pinned_to_the_version() {
        let flaky = Arc::new(Flaky::new(b"0123456789", 4));
        let (got, error) = read(&flaky, 1, Some("v1"), 5).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(got, b"123456789");
        assert_eq!(flaky.asked(), [(5, "v1".to_owned()), (9, "v1".to_owned())]);
    }

    #[tokio::test]
    async fn gives_up_after_its_retries_without_progress() {
        // Every answer breaks off before its first byte.
        let flaky = Arc::new(Flaky::new(b"0123456789", 0));
        let (got, error) = read(&flaky, 0, Some("v1"), 2).await;
        assert_eq!(got, b"");
        assert_eq!(flaky.asked().len(), 2);
        let error = error.expect("the third break ends the stream");
        assert!(matches!(error.kind(), ErrorKind::Backend { .. }));
        assert!(error.to_string().contains("connection reset"), "{error}");
    }

    #[tokio::test]
    async fn progress_renews_the_retries() {
        // Four bytes per answer, two retries: many breaks, each after progress.
        let flaky = Arc::new(Flaky::new(b"0123456789abcdef", 4));
        let (got, error) = read(&flaky, 0, Some("v1"), 2).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(got, b"0123456789abcdef");
        assert_eq!(flaky.asked().len(), 3);
    }

    #[tokio::test]
    async fn a_silent_answer_times_out_and_is_asked_again() {
        let flaky = Arc::new(Flaky::new(b"0123456789", 100));
        let network = Network {
            max_retries: 1,
            backoff: Backoff::starting_at(Duration::from_millis(1)),
            read_timeout: Duration::from_millis(50),
            ..Network::default()
        };
        let silent: Body<String> = Box::pin(
            futures::stream::iter([Ok(Bytes::from_static(b"012"))])
                .chain(futures::stream::pending()),
        );
        let stream = resumable(flaky.clone(), "/f", 0, Some("v1".into()), &network, silent);
        let got = crate::stream::collect(stream).await.unwrap();
        assert_eq!(got, b"0123456789".as_slice());
        assert_eq!(flaky.asked(), [(3, "v1".to_owned())]);
        // Silent every time: a Timeout in the end.
        let silent: Body<String> = Box::pin(futures::stream::pending());
        let stream = resumable(flaky.clone(), "/f", 0, None, &network, silent);
        let e = crate::stream::collect(stream).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Timeout, "{e}");
    }

    #[tokio::test]
    async fn never_resumes_without_a_version() {
        let flaky = Arc::new(Flaky::new(b"0123456789", 4));
        let (got, error) = read(&flaky, 0, None, 5).await;
        assert_eq!(got, b"0123");
        assert!(error.is_some());
        assert!(flaky.asked().is_empty());
    }

    #[tokio::test]
    async fn ends_where_the_content_ends_and_passes_refusals_on() {
        let flaky = Arc::new(Flaky::new(b"0123456789", 4));
        flaky.refusals.lock().unwrap().push(Ok(()));
        let (got, error) = read(&flaky, 0, Some("v1"), 5).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(got, b"0123");

        let flaky = Arc::new(Flaky::new(b"0123456789", 4));
        flaky
            .refusals
            .lock()
            .unwrap()
            .push(Err(Error::backend("replaced")));
        let (got, error) = read(&flaky, 0, Some("v1"), 5).await;
        assert_eq!(got, b"0123");
        let error = error.expect("the refusal");
        assert!(error.to_string().contains("replaced"), "{error}");
        assert_eq!(flaky.asked().len(), 1);
    }
}
