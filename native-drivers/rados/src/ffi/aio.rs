//! Futures over librados AIO completions.
//!
//! An operation's state (the buffer a read fills, the omap iterator and `more` flag a read op
//! writes through, the op handle librados reads while the request is out) lives in one heap
//! allocation, a [`Landing`], whose ownership passes to the completion callback when the
//! operation is submitted. The callback takes it back, releases the completion, and hands the
//! result to the waiting future through a oneshot channel. A future dropped early only drops the
//! receiving end: the buffers and handles stay alive until librados is done with them, and the
//! callback frees them.
//!
//! Every submitted operation is counted in its connection's [`InFlight`], so that the connection
//! is shut down only once no callback can still run.

use std::os::raw::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::Errno;
use super::sys;

/// The state of one submitted operation, handed to the completion callback.
pub(super) trait Landing: Send {
    /// Called once, on a librados thread, with the operation's return value and the version
    /// of the object it touched. Must be quick (librados runs callbacks on one thread) and must
    /// not block.
    fn land(self: Box<Self>, ret: c_int, version: u64);
}

/// Operations submitted on a connection whose callbacks have not yet finished.
#[derive(Default)]
pub(super) struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.count.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enter(&self) {
        *self.lock() += 1;
    }

    fn leave(&self) {
        let mut count = self.lock();
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.idle.notify_all();
        }
    }

    /// Waits until no callback can still run, or `limit` passed; true when idle.
    pub(super) fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut count = self.lock();
        while *count > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            count = match self.idle.wait_timeout(count, left) {
                Ok((guard, _)) => guard,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }
}

/// What the callback's argument points to.
struct Submitted {
    landing: Box<dyn Landing>,
    in_flight: Arc<InFlight>,
}

/// The completion callback.
unsafe extern "C" fn on_complete(completion: sys::rados_completion_t, arg: *mut c_void) {
    // SAFETY: `arg` is the pointer `submit` made with `Box::into_raw` for this completion, and
    // librados calls the callback of a completion exactly once, so ownership comes back here
    // exactly once.
    let submitted = unsafe { Box::from_raw(arg.cast::<Submitted>()) };
    // SAFETY: librados keeps its own reference to the completion while the callback runs, so
    // the handle is valid; reading its result has no other effect.
    let (ret, version) = unsafe {
        (
            sys::rados_aio_get_return_value(completion),
            sys::rados_aio_get_version(completion),
        )
    };
    // SAFETY: this releases the reference `rados_aio_create_completion2` gave `submit`; it is
    // released exactly once, and nothing of ours uses the completion afterwards.
    unsafe { sys::rados_aio_release(completion) };
    let Submitted { landing, in_flight } = *submitted;
    // A panic must not unwind into librados; the landing's sender is then dropped, and the
    // waiting future sees the operation as failed.
    let _ = catch_unwind(AssertUnwindSafe(move || landing.land(ret, version)));
    in_flight.leave();
}

/// Submits an operation: `start` is called with a fresh completion and must hand it to a
/// librados AIO call, returning that call's result. On success, `landing` belongs to the
/// callback from then on; on failure it is dropped here (freeing whatever it holds) and the
/// error returned.
pub(super) fn submit(
    landing: Box<dyn Landing>,
    in_flight: &Arc<InFlight>,
    start: impl FnOnce(sys::rados_completion_t) -> c_int,
) -> Result<(), Errno> {
    let arg = Box::into_raw(Box::new(Submitted {
        landing,
        in_flight: in_flight.clone(),
    }));
    let mut completion: sys::rados_completion_t = ptr::null_mut();
    // SAFETY: `completion` is a valid out-pointer; `arg` stays valid until the callback takes
    // it back (or until this function does, below, when the callback can never run).
    let r = unsafe {
        sys::rados_aio_create_completion2(arg.cast::<c_void>(), Some(on_complete), &mut completion)
    };
    if r < 0 {
        // SAFETY: no completion exists, so no callback holds `arg`: ownership is still ours.
        drop(unsafe { Box::from_raw(arg) });
        return Err(Errno::from_ret(r));
    }
    in_flight.enter();
    let r = start(completion);
    if r < 0 {
        // SAFETY: the AIO call refused the operation, so the completion was never armed and its
        // callback will not run: our reference is the only one, and `arg` is ours again.
        unsafe { sys::rados_aio_release(completion) };
        // SAFETY: as above, the callback never runs, so `arg` is released exactly once.
        drop(unsafe { Box::from_raw(arg) });
        in_flight.leave();
        return Err(Errno::from_ret(r));
    }
    Ok(())
}
