//! The base layer every driver sits behind, native or guest: it validates paths once (CONTRACT
//! §1), puts the driver's name on every error, opens a `tracing` span and records metrics per
//! call, enforces the driver's concurrency limit, and keeps file writers to the state rules of
//! CONTRACT §3 so that no driver has to.
//!
//! Metrics go through the `metrics` facade: `wharf_driver_calls_total`,
//! `wharf_driver_errors_total` (with a `kind` label) and `wharf_driver_call_seconds`, each
//! labelled with `driver` and `op`. Without an installed recorder they cost almost nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::driver::{
    ByteStream, FileInfo, FileWriter, RedirectMethod, StorageDriver, Visitor, WalkControl,
    WalkOptions,
};
use crate::error::{Error, ErrorKind, Result};
use crate::path::{validate, validate_allow_root};

/// A driver behind the base layer. Create with [`Base::wrap`].
pub struct Base {
    inner: Arc<dyn StorageDriver>,
    name: Arc<str>,
    limit: Option<Arc<Semaphore>>,
}

impl Base {
    /// Puts `driver` behind the base layer, with the concurrency limit the driver asks for.
    pub fn wrap(driver: Arc<dyn StorageDriver>) -> Arc<dyn StorageDriver> {
        let limit = driver
            .concurrency_limit()
            .map(|n| Arc::new(Semaphore::new(n.max(1))));
        Arc::new(Base {
            name: Arc::from(driver.name()),
            inner: driver,
            limit,
        })
    }

    async fn call<T, F>(&self, op: &'static str, path: &str, fut: F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send,
    {
        let _permit = match &self.limit {
            // The semaphore is never closed, so acquiring cannot fail.
            Some(s) => s.acquire().await.ok(),
            None => None,
        };
        let span = tracing::debug_span!("driver", driver = %self.name, op, path);
        let started = Instant::now();
        let result = fut.instrument(span).await;
        record(&self.name, op, started.elapsed(), result.as_ref().err());
        result.map_err(|e| e.with_driver(&self.name))
    }

    fn named(&self, e: Error) -> Error {
        e.with_driver(&self.name)
    }
}

fn record(driver: &Arc<str>, op: &'static str, took: Duration, error: Option<&Error>) {
    let driver = driver.to_string();
    metrics::counter!("wharf_driver_calls_total", "driver" => driver.clone(), "op" => op)
        .increment(1);
    metrics::histogram!("wharf_driver_call_seconds", "driver" => driver.clone(), "op" => op)
        .record(took.as_secs_f64());
    if let Some(e) = error {
        metrics::counter!("wharf_driver_errors_total", "driver" => driver, "op" => op,
            "kind" => kind_label(e.kind()))
        .increment(1);
    }
}

fn kind_label(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::PathNotFound { .. } => "path_not_found",
        ErrorKind::InvalidPath { .. } => "invalid_path",
        ErrorKind::InvalidOffset { .. } => "invalid_offset",
        ErrorKind::Unsupported { .. } => "unsupported",
        ErrorKind::PermissionDenied => "permission_denied",
        ErrorKind::Timeout => "timeout",
        ErrorKind::DriverFault => "driver_fault",
        ErrorKind::WriterState => "writer_state",
        ErrorKind::InvalidParameter { .. } => "invalid_parameter",
        ErrorKind::Registry => "registry",
        ErrorKind::Backend { .. } => "backend",
    }
}

#[async_trait]
impl StorageDriver for Base {
    fn name(&self) -> &str {
        &self.name
    }

    fn concurrency_limit(&self) -> Option<usize> {
        self.inner.concurrency_limit()
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        validate(path).map_err(|e| self.named(e))?;
        self.call("get_content", path, self.inner.get_content(path))
            .await
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        validate(path).map_err(|e| self.named(e))?;
        self.call("put_content", path, self.inner.put_content(path, content))
            .await
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteStream> {
        validate(path).map_err(|e| self.named(e))?;
        let stream = self
            .call("reader", path, self.inner.reader(path, offset))
            .await?;
        let name = self.name.clone();
        Ok(Box::pin(stream.map_err(move |e| e.with_driver(&name))))
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        validate(path).map_err(|e| self.named(e))?;
        let inner = self
            .call("writer", path, self.inner.writer(path, append))
            .await?;
        Ok(Box::new(BaseWriter {
            inner,
            name: self.name.clone(),
            state: WriterState::Open,
        }))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        validate_allow_root(path).map_err(|e| self.named(e))?;
        self.call("stat", path, self.inner.stat(path)).await
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        validate_allow_root(path).map_err(|e| self.named(e))?;
        self.call("list", path, self.inner.list(path)).await
    }

    async fn rename(&self, source: &str, dest: &str) -> Result<()> {
        validate(source).map_err(|e| self.named(e))?;
        validate(dest).map_err(|e| self.named(e))?;
        self.call("move", source, self.inner.rename(source, dest))
            .await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        validate(path).map_err(|e| self.named(e))?;
        self.call("delete", path, self.inner.delete(path)).await
    }

    async fn redirect_url(
        &self,
        method: RedirectMethod,
        path: &str,
        expiry: Duration,
    ) -> Result<Option<String>> {
        validate(path).map_err(|e| self.named(e))?;
        self.call(
            "redirect_url",
            path,
            self.inner.redirect_url(method, path, expiry),
        )
        .await
    }

    async fn walk(
        &self,
        path: &str,
        options: &WalkOptions,
        visitor: &mut Visitor<'_>,
    ) -> Result<()> {
        validate_allow_root(path).map_err(|e| self.named(e))?;
        if let Some(start) = &options.start_after {
            validate(start).map_err(|e| self.named(e))?;
        }
        // A visitor's error is handed back exactly as the visitor made it, so it is caught here
        // and the driver is only told to stop.
        let mut visitor_error = None;
        let mut guarded = |info: &FileInfo| match visitor(info) {
            Ok(control) => Ok(control),
            Err(e) => {
                visitor_error = Some(e);
                Ok(WalkControl::Stop)
            }
        };
        let result = self
            .call("walk", path, self.inner.walk(path, options, &mut guarded))
            .await;
        match visitor_error {
            Some(e) => Err(e),
            None => result,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriterState {
    Open,
    Committed,
    Closed,
    Cancelled,
}

/// Keeps a driver's writer to the contract's state rules and names errors.
struct BaseWriter {
    inner: Box<dyn FileWriter>,
    name: Arc<str>,
    state: WriterState,
}

impl BaseWriter {
    fn refuse(&self, op: &str) -> Error {
        let what = match self.state {
            WriterState::Open => "open",
            WriterState::Committed => "committed",
            WriterState::Closed => "closed",
            WriterState::Cancelled => "cancelled",
        };
        Error::writer_state(format!("cannot {op}: writer already {what}")).with_driver(&self.name)
    }

    fn named(&self, e: Error) -> Error {
        e.with_driver(&self.name)
    }
}

#[async_trait]
impl FileWriter for BaseWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if self.state != WriterState::Open {
            return Err(self.refuse("write"));
        }
        self.inner.write(data).await.map_err(|e| self.named(e))
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }

    async fn close(&mut self) -> Result<()> {
        match self.state {
            WriterState::Open | WriterState::Committed => {
                let result = self.inner.close().await;
                self.state = WriterState::Closed;
                result.map_err(|e| self.named(e))
            }
            WriterState::Closed | WriterState::Cancelled => Err(self.refuse("close")),
        }
    }

    async fn commit(&mut self) -> Result<()> {
        if self.state != WriterState::Open {
            return Err(self.refuse("commit"));
        }
        // A failed commit leaves the writer open so the caller can retry or cancel.
        self.inner.commit().await.map_err(|e| self.named(e))?;
        self.state = WriterState::Committed;
        Ok(())
    }

    async fn cancel(&mut self) -> Result<()> {
        if self.state != WriterState::Open {
            return Err(self.refuse("cancel"));
        }
        self.inner.cancel().await.map_err(|e| self.named(e))?;
        self.state = WriterState::Cancelled;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A driver that records the paths it was called with and fails every call.
    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Vec<String>>,
    }

    struct NullWriter;

    #[async_trait]
    impl FileWriter for NullWriter {
        async fn write(&mut self, _: Bytes) -> Result<()> {
            Ok(())
        }
        fn size(&self) -> u64 {
            0
        }
        async fn close(&mut self) -> Result<()> {
            Ok(())
        }
        async fn commit(&mut self) -> Result<()> {
            Ok(())
        }
        async fn cancel(&mut self) -> Result<()> {
            Ok(())
        }
    }

    impl Recorder {
        fn saw(&self, path: &str) -> Error {
            self.seen.lock().unwrap().push(path.to_owned());
            Error::not_found(path)
        }
    }

    #[async_trait]
    impl StorageDriver for Recorder {
        fn name(&self) -> &str {
            "recorder"
        }
        async fn get_content(&self, path: &str) -> Result<Bytes> {
            Err(self.saw(path))
        }
        async fn put_content(&self, path: &str, _: Bytes) -> Result<()> {
            Err(self.saw(path))
        }
        async fn reader(&self, path: &str, _: u64) -> Result<ByteStream> {
            Err(self.saw(path))
        }
        async fn writer(&self, path: &str, _: bool) -> Result<Box<dyn FileWriter>> {
            self.saw(path);
            Ok(Box::new(NullWriter))
        }
        async fn stat(&self, path: &str) -> Result<FileInfo> {
            if path == "/" {
                self.saw(path);
                return Ok(FileInfo::dir("/", std::time::UNIX_EPOCH));
            }
            Ok(FileInfo::file(path, 1, std::time::UNIX_EPOCH))
        }
        async fn list(&self, path: &str) -> Result<Vec<String>> {
            self.saw(path);
            Ok(if path == "/" {
                vec!["/a".into(), "/b".into()]
            } else {
                vec![]
            })
        }
        async fn rename(&self, source: &str, _: &str) -> Result<()> {
            Err(self.saw(source))
        }
        async fn delete(&self, path: &str) -> Result<()> {
            Err(self.saw(path))
        }
    }

    fn wrapped() -> (Arc<Recorder>, Arc<dyn StorageDriver>) {
        let recorder = Arc::new(Recorder::default());
        (recorder.clone(), Base::wrap(recorder))
    }

    #[tokio::test]
    async fn invalid_paths_never_reach_the_driver() {
        let (recorder, d) = wrapped();
        for bad in ["", "/", "a", "/a/../b", "/a/", "/ä"] {
            let e = d.get_content(bad).await.unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::InvalidPath { path: bad.into() });
            assert_eq!(e.driver(), Some("recorder"));
            assert!(d.delete(bad).await.is_err());
            assert!(d.writer(bad, false).await.is_err());
            assert!(d.rename("/ok", bad).await.is_err());
        }
        assert!(d.list("//").await.is_err());
        let e = d
            .walk(
                "/",
                &WalkOptions {
                    start_after: Some("/../x".into()),
                },
                &mut |_| Ok(WalkControl::Continue),
            )
            .await
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidPath { .. }));
        assert!(recorder.seen.lock().unwrap().is_empty());
        // The root is accepted where the contract allows it.
        d.stat("/").await.unwrap();
        d.list("/").await.unwrap();
        assert_eq!(*recorder.seen.lock().unwrap(), ["/", "/"]);
    }

    #[tokio::test]
    async fn errors_carry_the_driver_name() {
        let (_, d) = wrapped();
        let e = d.get_content("/x").await.unwrap_err();
        assert_eq!(e.to_string(), "recorder: path not found: /x");
    }

    #[tokio::test]
    async fn writer_state_rules() {
        let (_, d) = wrapped();
        let mut w = d.writer("/w", false).await.unwrap();
        w.commit().await.unwrap();
        let e = w.write(Bytes::from_static(b"x")).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "recorder: cannot write: writer already committed"
        );
        assert!(w.cancel().await.is_err());
        assert!(w.commit().await.is_err());
        w.close().await.unwrap();
        let e = w.close().await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "recorder: cannot close: writer already closed"
        );

        let mut w = d.writer("/w", false).await.unwrap();
        w.close().await.unwrap();
        assert!(w.commit().await.is_err());
        assert!(w.write(Bytes::new()).await.is_err());

        let mut w = d.writer("/w", false).await.unwrap();
        w.cancel().await.unwrap();
        let e = w.write(Bytes::new()).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::WriterState);
        assert!(w.commit().await.is_err());
        assert!(w.close().await.is_err());
    }

    #[tokio::test]
    async fn visitor_error_is_returned_unchanged() {
        let (_, d) = wrapped();
        let mut seen = Vec::new();
        let e = d
            .walk("/", &WalkOptions::default(), &mut |info| {
                seen.push(info.path.clone());
                Err(Error::unsupported("visitor says no").with_driver("visitor"))
            })
            .await
            .unwrap_err();
        assert_eq!(seen, ["/a"]);
        assert_eq!(e.driver(), Some("visitor"));
        assert_eq!(
            e.kind(),
            &ErrorKind::Unsupported {
                operation: "visitor says no".into()
            }
        );
    }

    #[tokio::test]
    async fn concurrency_limit_is_enforced() {
        struct Limited(
            std::sync::atomic::AtomicUsize,
            std::sync::atomic::AtomicUsize,
        );
        #[async_trait]
        impl StorageDriver for Limited {
            fn name(&self) -> &str {
                "limited"
            }
            fn concurrency_limit(&self) -> Option<usize> {
                Some(2)
            }
            async fn get_content(&self, _: &str) -> Result<Bytes> {
                use std::sync::atomic::Ordering::SeqCst;
                let now = self.0.fetch_add(1, SeqCst) + 1;
                self.1.fetch_max(now, SeqCst);
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
                self.0.fetch_sub(1, SeqCst);
                Ok(Bytes::new())
            }
            async fn put_content(&self, _: &str, _: Bytes) -> Result<()> {
                unreachable!()
            }
            async fn reader(&self, _: &str, _: u64) -> Result<ByteStream> {
                unreachable!()
            }
            async fn writer(&self, _: &str, _: bool) -> Result<Box<dyn FileWriter>> {
                unreachable!()
            }
            async fn stat(&self, _: &str) -> Result<FileInfo> {
                unreachable!()
            }
            async fn list(&self, _: &str) -> Result<Vec<String>> {
                unreachable!()
            }
            async fn rename(&self, _: &str, _: &str) -> Result<()> {
                unreachable!()
            }
            async fn delete(&self, _: &str) -> Result<()> {
                unreachable!()
            }
        }
        let inner = Arc::new(Limited(Default::default(), Default::default()));
        let d = Base::wrap(inner.clone());
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let d = d.clone();
                tokio::spawn(async move { d.get_content("/x").await })
            })
            .collect();
        for c in calls {
            c.await.unwrap().unwrap();
        }
        assert_eq!(inner.1.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
