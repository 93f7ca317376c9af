//! Every deadline of the component host, in one place: the epoch ticker, the deadline of each
//! step that runs guest code (instantiation, `describe`, `create`, a call, a resource drop), the
//! deadline of each wait on a stream a guest handed over, and how a deadline met is told
//! (`Timeout`).
//!
//! Guest code is interrupted at its deadline by epoch interruption (the store's epoch callback,
//! armed by [`arm`]); a guest blocked in a host call (a sleep, a pending request), where epochs
//! cannot reach it, is given up on a little after its deadline by a timer ([`BLOCKED_GRACE`]).

use std::future::Future;
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use super::state::InstanceState;
use crate::error::{Error, ErrorKind, Result};

/// How often the epoch advances: the granularity of deadlines and of cooperative yields.
pub const TICK: Duration = Duration::from_millis(10);

/// How long past its deadline a call may stay blocked in a host function (a sleep, a pending
/// request), where epoch interruption cannot reach it, before the host stops waiting for it.
const BLOCKED_GRACE: Duration = Duration::from_millis(100);

/// Stands for a deadline further off than the clock can tell (a timeout of `u64::MAX` seconds is
/// a valid policy): a century, which no call outlasts.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The instant `timeout` from now, or [`FOREVER`] from now when that is beyond the clock's range
/// (`Instant + Duration` panics on overflow).
pub(crate) fn after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(FOREVER))
        .unwrap_or(now)
}

/// Starts the thread that advances `engine`'s epoch every [`TICK`]; it ends with the engine.
pub(crate) fn start_ticker(engine: &Engine) -> Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wharf-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .map_err(|e| Error::backend("cannot start the epoch ticker").with_source(e))?;
    Ok(())
}

/// Makes guest code in `store` yield at every tick and stop at the deadline of the step in
/// force (`InstanceState::deadline`, set by [`Deadline::start`]).
pub(crate) fn arm(store: &mut Store<InstanceState>) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| {
        if Instant::now() >= ctx.data().deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
}

/// The deadline of one step into an instance, and how to wait for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    until: Instant,
    /// The instance's file operations block the thread running it (a guest with a directory).
    blocking: bool,
}

impl Deadline {
    /// Starts a step in `store` that must end within `timeout`: guest code is interrupted then.
    pub(crate) fn start(store: &mut Store<InstanceState>, timeout: Duration) -> Self {
        let state = store.data_mut();
        state.deadline = after(timeout);
        Self::current(store)
    }

    /// The deadline of the step in force in `store` (a step that goes on in another call, as
    /// `describe` and `create` go on from instantiation).
    pub(crate) fn current(store: &Store<InstanceState>) -> Self {
        let state = store.data();
        Self {
            until: state.deadline,
            blocking: state.blocking,
        }
    }

    /// Runs `call`, a step into the instance, to its end, or fails it as interrupted when it is
    /// still blocked in the host a little after the deadline (dropping the call unwinds the
    /// guest's stack; the instance must then be discarded). When the instance's file
    /// operations block its thread and this is a task on a worker of a multi-thread runtime,
    /// the call runs in `block_in_place`, so the worker's other tasks move to another thread
    /// while the guest waits on the disk.
    ///
    /// Not so on the thread of a `Runtime::block_on` (no task): that thread runs no other
    /// task, and a `block_on` nested in it would park on the same thread-local parker as the
    /// outer one and could take the wake-ups of the caller's other futures, leaving them
    /// asleep for good.
    pub(crate) async fn run<T>(
        self,
        call: impl Future<Output = wasmtime::Result<T>>,
    ) -> wasmtime::Result<T> {
        let worker = tokio::task::try_id().is_some()
            && tokio::runtime::Handle::try_current()
                .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if self.blocking && worker {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(self.bounded(call))
            })
        } else {
            self.bounded(call).await
        }
    }

    async fn bounded<T>(
        self,
        call: impl Future<Output = wasmtime::Result<T>>,
    ) -> wasmtime::Result<T> {
        let until = self.until.checked_add(BLOCKED_GRACE).unwrap_or(self.until);
        let until = tokio::time::Instant::from_std(until);
        tokio::time::timeout_at(until, call)
            .await
            .unwrap_or_else(|_| Err(Trap::Interrupt.into()))
    }
}

/// Waits on a stream a guest handed over (`wait`, one read or one write of it) for at most
/// `timeout`; a stream that makes no progress by then is a `Timeout` naming `what`. `blocking`:
/// the stream does its file I/O on this thread (a guest with a directory), as its calls do.
pub(crate) async fn wait_on_stream<T>(
    blocking: bool,
    timeout: Duration,
    what: &str,
    wait: impl Future<Output = T>,
) -> Result<T> {
    let deadline = Deadline {
        until: after(timeout),
        blocking,
    };
    deadline.run(async { Ok(wait.await) }).await.map_err(|_| {
        Error::new(ErrorKind::Timeout).with_detail(format!(
            "{what}: the guest's stream made no progress within {} ms",
            timeout.as_millis()
        ))
    })
}

/// True when `e`, the failure of a step into an instance, is its deadline.
pub(crate) fn met(e: &wasmtime::Error) -> bool {
    matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt))
}

/// The error of `op`, which ran past its deadline of `timeout` (its instance is replaced).
pub(crate) fn ran_past(op: &str, timeout: Duration) -> Error {
    Error::new(ErrorKind::Timeout).with_detail(format!(
        "{op} ran past its {timeout:?} deadline; the instance was replaced"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_beyond_the_clock_is_far_off_not_a_panic() {
        let soon = after(Duration::from_secs(30));
        assert!(soon > Instant::now() + Duration::from_secs(29));
        for timeout in [Duration::MAX, Duration::from_secs(u64::MAX)] {
            let far = after(timeout);
            assert!(far > Instant::now() + Duration::from_secs(50 * 365 * 24 * 3600));
        }
    }
}
