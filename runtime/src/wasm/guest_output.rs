//! What a guest writes on its standard output and error: never shown as it comes (a guest must
//! not write into the operator's terminal or logs at will), but its last bytes are kept, so that
//! when the guest traps the host's error can quote them: a language runtime's last words, such
//! as a Python traceback or a C `assert` message, are there.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes of a guest's output kept: the end of a traceback fits.
const KEPT: usize = 4096;
/// Bytes of it quoted in an error.
const QUOTED: usize = 1500;

/// The tail of an instance's standard output and error (one buffer for both, in the order
/// written); clones share it.
#[derive(Clone, Default)]
pub(crate) struct GuestOutput {
    tail: Arc<Mutex<VecDeque<u8>>>,
}

impl GuestOutput {
    fn tail(&self) -> MutexGuard<'_, VecDeque<u8>> {
        self.tail.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, bytes: &[u8]) {
        let mut tail = self.tail();
        let bytes = &bytes[bytes.len().saturating_sub(KEPT)..];
        let overflow = (tail.len() + bytes.len()).saturating_sub(KEPT);
        tail.drain(..overflow);
        tail.extend(bytes);
    }

    /// The last lines the guest wrote, for an error: newlines as ` | `, control characters
    /// escaped, at most about 1500 bytes (the end kept); none when it wrote nothing.
    pub(crate) fn last_words(&self) -> Option<String> {
        let tail = self.tail();
        let bytes: Vec<u8> = tail.iter().copied().collect();
        drop(tail);
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_matches(|c: char| c.is_whitespace());
        if text.is_empty() {
            return None;
        }
        let joined = text.replace("\r\n", "\n").replace('\n', " | ");
        let cut = joined.len().saturating_sub(QUOTED);
        let start = (cut..=joined.len())
            .find(|&i| joined.is_char_boundary(i))
            .unwrap_or(joined.len());
        let shown = super::answer::clean_text_within(&joined[start..], QUOTED + 64);
        Some(if start > 0 {
            format!("…{shown}")
        } else {
            shown
        })
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    /// Written in place (not through a task, as wasmtime's default adapter does), so the tail
    /// holds every byte written before a trap.
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

/// Room for a write: any size fits, the oldest bytes make way.
const ROOM: usize = 1 << 20;

#[async_trait::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(ROOM)
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

/// Writes never block and never fail: what does not fit pushes the oldest bytes out.
impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_end_and_quotes_it_on_one_escaped_line() {
        let out = GuestOutput::default();
        assert_eq!(out.last_words(), None);
        out.push(b"Traceback (most recent call last):\n  File \"app.py\", line 3\n");
        out.push(b"ZeroDivisionError: division by zero\x1b[2J\n");
        assert_eq!(
            out.last_words().unwrap(),
            "Traceback (most recent call last): |   File \"app.py\", line 3 | \
             ZeroDivisionError: division by zero\\u{1b}[2J"
        );
        for _ in 0..100 {
            out.push(&[b'x'; 1000]);
        }
        out.push(b"the end");
        assert_eq!(out.tail().len(), KEPT);
        let words = out.last_words().unwrap();
        assert!(
            words.starts_with('…') && words.ends_with("xthe end"),
            "{words}"
        );
        assert!(words.len() <= QUOTED + 64 + 4);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let out = GuestOutput::default();
        out.push("é".repeat(3000).as_bytes());
        let words = out.last_words().unwrap();
        assert!(words.starts_with('…') && words.ends_with('é'));
    }
}
