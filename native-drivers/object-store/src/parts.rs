//! A writer's part pipeline: bytes are buffered until a part is full, each full part is sent in
//! the background with a bounded number in flight, and the parts are settled in the order they
//! were sent. `acknowledged` counts only the bytes of parts the service confirmed with no failed
//! part before them, so a writer's `size()` never claims more than a resume will find. After a
//! failure the pipeline is broken: it takes no more data, and the writer should be closed (to
//! resume from what the service holds) or cancelled.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;
use wharf_runtime::{Error, Result};

/// A part being sent in the background, with its length.
struct InFlight<T> {
    task: JoinHandle<Result<T>>,
    len: u64,
}

/// The parts of one upload: the buffer, the parts in flight, and what each settled part
/// answered (`T`: an ETag, a block id, a part number and ETag…).
pub struct PartPipeline<T> {
    path: Arc<str>,
    limit: usize,
    buffer: BytesMut,
    in_flight: VecDeque<InFlight<T>>,
    acknowledged: u64,
    settled: Vec<T>,
    broken: Option<String>,
}

impl<T: Send + 'static> PartPipeline<T> {
    /// A pipeline for the upload to `path` with at most `limit` parts in flight (at least one),
    /// resuming after `acknowledged` bytes the service already holds.
    pub fn new(path: &str, limit: usize, acknowledged: u64) -> Self {
        Self {
            path: Arc::from(path),
            limit: limit.max(1),
            buffer: BytesMut::new(),
            in_flight: VecDeque::new(),
            acknowledged,
            settled: Vec::new(),
            broken: None,
        }
    }

    /// The contract path being written.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The bytes the service acknowledged, in order: what `size()` reports.
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged
    }

    /// What the settled parts answered, in the order they were sent.
    pub fn settled(&self) -> &[T] {
        &self.settled
    }

    /// Takes the answers of the parts settled so far (for a driver that needs only the latest,
    /// such as a resumable session's URI).
    pub fn take_settled(&mut self) -> Vec<T> {
        std::mem::take(&mut self.settled)
    }

    /// Adds the answers of parts settled elsewhere (those a resumed upload found).
    pub fn extend_settled(&mut self, parts: impl IntoIterator<Item = T>) {
        self.settled.extend(parts);
    }

    /// Parts sent and not yet settled.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// True once a part failed.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Fails when a part failed earlier: the upload's tail at the service is then uncertain.
    pub fn check(&self) -> Result<()> {
        match &self.broken {
            Some(why) => Err(Error::backend(format!(
                "upload to {} failed earlier ({why}); close it and resume, or cancel it",
                self.path
            ))),
            None => Ok(()),
        }
    }

    /// Marks the pipeline broken by a part's failure (the first one is kept).
    fn break_with(&mut self, error: &Error) {
        self.broken.get_or_insert_with(|| error.to_string());
    }

    /// Adds bytes to the buffer.
    pub fn buffer(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// Bytes buffered and not yet sent.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// A copy of the buffered bytes, which stay buffered (a last part or a saved tail whose
    /// request may fail, leaving them for a retry or a close).
    pub fn buffered_copy(&self) -> Bytes {
        Bytes::copy_from_slice(&self.buffer)
    }

    /// Takes every buffered byte (a last part or a saved tail sent in the foreground).
    pub fn take_buffer(&mut self) -> Bytes {
        self.buffer.split().freeze()
    }

    /// Drops the buffered bytes (a cancel, or a close after a failure).
    pub fn clear_buffer(&mut self) {
        self.buffer.clear();
    }

    /// Takes the next part from the buffer: `size` bytes when it holds that many, else the rest
    /// when `all` and something is left, else nothing.
    pub fn next_part(&mut self, size: usize, all: bool) -> Option<Bytes> {
        if size > 0 && self.buffer.len() >= size {
            Some(self.buffer.split_to(size).freeze())
        } else if all && !self.buffer.is_empty() {
            Some(self.buffer.split().freeze())
        } else {
            None
        }
    }

    /// Counts `len` bytes the service confirmed outside the pipeline: a last part sent in the
    /// foreground, such as a commit's.
    pub fn acknowledge(&mut self, len: u64) {
        self.acknowledged += len;
    }

    /// Starts sending a part of `len` bytes (`send`, the driver's part call) in the background,
    /// first settling the oldest parts while `limit` are in flight.
    pub async fn send(
        &mut self,
        len: u64,
        send: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<()> {
        while self.in_flight.len() >= self.limit {
            self.settle_one().await?;
        }
        self.in_flight.push_back(InFlight {
            task: tokio::spawn(send),
            len,
        });
        Ok(())
    }

    /// Waits for the oldest part in flight and counts it, unless a part before it failed.
    async fn settle_one(&mut self) -> Result<()> {
        let Some(part) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let result = match part.task.await {
            Ok(result) => result,
            Err(e) => Err(
                Error::backend(format!("sending a part of {} failed", self.path)).with_source(e),
            ),
        };
        match result {
            Ok(answer) if self.broken.is_none() => {
                self.acknowledged += part.len;
                self.settled.push(answer);
                Ok(())
            }
            // After a gap, later parts cannot count.
            Ok(_) => Ok(()),
            Err(e) => {
                self.break_with(&e);
                Err(e)
            }
        }
    }

    /// Settles every part in flight; the first failure, if any, once all have settled.
    pub async fn settle_all(&mut self) -> Result<()> {
        let mut first_error = None;
        while !self.in_flight.is_empty() {
            if let Err(e) = self.settle_one().await
                && first_error.is_none()
            {
                first_error = Some(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops every part in flight (a cancel); what they sent may or may not have landed.
    pub async fn abort_all(&mut self) {
        for part in self.in_flight.drain(..) {
            part.task.abort();
            let _ = part.task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn parts_are_cut_from_the_buffer() {
        let mut pipeline = PartPipeline::<()>::new("/a", 2, 0);
        pipeline.buffer(b"abcdefg");
        assert_eq!(pipeline.next_part(3, false).as_deref(), Some(&b"abc"[..]));
        assert_eq!(pipeline.next_part(3, false).as_deref(), Some(&b"def"[..]));
        assert_eq!(pipeline.next_part(3, false), None);
        assert_eq!(pipeline.buffered(), 1);
        assert_eq!(pipeline.next_part(3, true).as_deref(), Some(&b"g"[..]));
        assert_eq!(pipeline.next_part(3, true), None);
    }

    #[tokio::test]
    async fn only_acknowledged_bytes_count_in_order() {
        let mut pipeline = PartPipeline::new("/a", 2, 10);
        // The second part answers first; it is settled after the first all the same.
        pipeline
            .send(3, async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(1)
            })
            .await
            .unwrap();
        pipeline.send(4, async { Ok(2) }).await.unwrap();
        assert_eq!(pipeline.acknowledged(), 10);
        assert_eq!(pipeline.in_flight(), 2);
        // A third part waits for the oldest to settle.
        pipeline.send(5, async { Ok(3) }).await.unwrap();
        assert_eq!(pipeline.acknowledged(), 13);
        pipeline.settle_all().await.unwrap();
        assert_eq!(pipeline.acknowledged(), 22);
        assert_eq!(pipeline.settled(), [1, 2, 3]);
        pipeline.check().unwrap();
    }

    #[tokio::test]
    async fn the_foreground_takes_the_buffer_the_answers_and_counts_its_bytes() {
        let mut pipeline = PartPipeline::new("/a", 1, 2);
        pipeline.buffer(b"abcde");
        let part = pipeline.next_part(2, false).unwrap();
        pipeline.send(2, async { Ok("session") }).await.unwrap();
        pipeline.settle_all().await.unwrap();
        assert_eq!(part.as_ref(), b"ab");
        assert_eq!(pipeline.take_settled(), ["session"]);
        assert!(pipeline.settled().is_empty());
        assert_eq!(pipeline.take_buffer().as_ref(), b"cde");
        assert_eq!(pipeline.buffered(), 0);
        assert!(pipeline.take_buffer().is_empty());
        pipeline.acknowledge(3);
        assert_eq!(pipeline.acknowledged(), 7);
    }

    #[tokio::test]
    async fn a_failed_part_breaks_the_pipeline_and_later_parts_do_not_count() {
        let mut pipeline = PartPipeline::new("/a", 3, 0);
        pipeline.send(3, async { Ok(1) }).await.unwrap();
        pipeline
            .send(4, async { Err(Error::temporary("connection reset")) })
            .await
            .unwrap();
        pipeline.send(5, async { Ok(3) }).await.unwrap();
        let e = pipeline.settle_all().await.unwrap_err();
        assert!(e.to_string().contains("connection reset"), "{e}");
        assert_eq!(pipeline.acknowledged(), 3);
        assert_eq!(pipeline.settled(), [1]);
        let e = pipeline.check().unwrap_err().to_string();
        assert!(
            e.contains("upload to /a failed earlier") && e.contains("connection reset"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_panicking_part_is_an_error_not_a_panic() {
        let mut pipeline = PartPipeline::<u8>::new("/a", 1, 0);
        pipeline
            .send(1, async { panic!("part call panicked") })
            .await
            .unwrap();
        let e = pipeline.settle_one().await.unwrap_err();
        assert!(e.to_string().contains("sending a part of /a failed"), "{e}");
        assert!(pipeline.is_broken());
    }

    #[tokio::test]
    async fn abort_stops_parts_in_flight() {
        let mut pipeline = PartPipeline::<u8>::new("/a", 2, 0);
        pipeline
            .send(1, async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(1)
            })
            .await
            .unwrap();
        pipeline.abort_all().await;
        assert_eq!(pipeline.in_flight(), 0);
        assert_eq!(pipeline.acknowledged(), 0);
    }
}
