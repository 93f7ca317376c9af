//! Calls into an instance that survive their caller: a call runs in its caller's task (no
//! hand-off between threads on the way in or out), and if the caller goes away mid-call, the
//! call is handed to a task of its own and finishes there, so an instance is never left
//! half-entered — a stateful guest's data survives a client that hangs up.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A call that runs in its caller's task and, should the caller drop it before it ends, is
/// handed to a task of its own to finish (its result unread), so the instance it entered is left
/// whole. Cheaper than a task per call: no cross-thread wake-up on the way in or out.
pub(crate) struct Detached<T: Send + 'static> {
    call: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
}

impl<T: Send + 'static> Detached<T> {
    pub(crate) fn new(call: impl Future<Output = T> + Send + 'static) -> Self {
        Self {
            call: Some(Box::pin(call)),
        }
    }
}

impl<T: Send + 'static> Future for Detached<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(call) = self.call.as_mut() else {
            panic!("a guest call polled after it ended")
        };
        let out = std::task::ready!(call.as_mut().poll(cx));
        self.call = None;
        Poll::Ready(out)
    }
}

impl<T: Send + 'static> Drop for Detached<T> {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else { return };
        // With no runtime (it is shutting down) the call is dropped here; the instance it was
        // in is then marked `in_call` and discarded by the next call that finds it.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _unread = call.await;
            });
        }
    }
}
