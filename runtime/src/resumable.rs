//! A download that survives a broken connection, for driver authors: when the body breaks off
//! mid-stream it is asked for again from the offset it reached, pinned to the version it began
//! with, a bounded number of times, so a long read never mixes two versions of a file. The
//! backend says only how to ask again ([`Reopen`]).

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::driver::ByteStream;
use crate::error::{Error, Result};

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

/// A download from `offset` whose first answer is `body`. It is asked for again up to `resumes`
/// times, and only if it is pinned to a `version` (without one, a second answer could be another
/// version of the file).
pub fn resumable<R: Reopen>(
    source: R,
    path: &str,
    offset: u64,
    version: Option<String>,
    resumes: u32,
    body: Body<R::Error>,
) -> ByteStream {
    let state = Resumable {
        source,
        path: path.to_owned(),
        version,
        offset,
        body: Some(body),
        resumes_left: resumes,
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
    resumes_left: u32,
    done: bool,
}

impl<R: Reopen> Resumable<R> {
    async fn next(mut self) -> Option<(Result<Bytes>, Self)> {
        loop {
            if self.done {
                return None;
            }
            let body = match self.body.as_mut() {
                Some(body) => body,
                None => match self.reopen().await {
                    Ok(()) => continue,
                    Err(e) => {
                        self.done = true;
                        return Some((Err(e), self));
                    }
                },
            };
            match body.next().await {
                Some(Ok(chunk)) => {
                    self.offset += chunk.len() as u64;
                    return Some((Ok(chunk), self));
                }
                None => return None,
                Some(Err(e)) if self.resumes_left > 0 && self.version.is_some() => {
                    tracing::debug!(path = %self.path, offset = self.offset, error = %format_args!("{e:#}"),
                        "{}: download broke off; resuming", R::DRIVER);
                    self.resumes_left -= 1;
                    self.body = None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    let error = self.source.broken(&self.path, e);
                    return Some((Err(error), self));
                }
            }
        }
    }

    async fn reopen(&mut self) -> Result<()> {
        // Only a pinned download is ever asked for again.
        let version = self.version.as_deref().unwrap_or_default();
        match self.source.reopen(&self.path, self.offset, version).await? {
            Some(body) => self.body = Some(body),
            None => self.done = true,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::error::ErrorKind;

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
        let mut stream = resumable(
            flaky.clone(),
            "/f",
            offset,
            version.map(str::to_owned),
            resumes,
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
    async fn gives_up_after_its_resumes() {
        let flaky = Arc::new(Flaky::new(b"0123456789", 2));
        let (got, error) = read(&flaky, 0, Some("v1"), 2).await;
        assert_eq!(got, b"012345");
        assert_eq!(flaky.asked().len(), 2);
        let error = error.expect("the third break ends the stream");
        assert!(matches!(error.kind(), ErrorKind::Backend { .. }));
        assert!(error.to_string().contains("connection reset"), "{error}");
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
