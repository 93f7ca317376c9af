//! Deadlines of everything that runs guest code or waits on a guest's behalf: instantiation,
//! `describe`, `create`, every call and every resource drop. Guest code is interrupted at its
//! deadline by epoch interruption (the store's epoch callback, see `component.rs`); a guest
//! blocked in a host call (a sleep, a pending request), where epochs cannot reach it, is given up
//! on a little after its deadline by a timer here.

use std::future::Future;
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use super::state::State;
use crate::error::{Error, Result};

/// How often the epoch advances: the granularity of deadlines and of cooperative yields.
pub const TICK: Duration = Duration::from_millis(10);

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

/// Makes guest code in `store` yield at every tick and stop at the deadline kept in its state
/// (`State::deadline`, set before each call).
pub(crate) fn arm(store: &mut Store<State>) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| {
        if Instant::now() >= ctx.data().deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
}

/// How long past its deadline a call may stay blocked in a host function (a sleep, a pending
/// request), where epoch interruption cannot reach it, before the host stops waiting for it.
const BLOCKED_GRACE: Duration = Duration::from_millis(100);

/// Runs `call`, a call into an instance whose deadline is `deadline`, to its end, or fails it
/// as interrupted when it is still blocked in the host a little after the deadline. Dropping the
/// call unwinds the guest's stack; the instance must then be discarded.
pub(crate) async fn by_deadline<T>(
    deadline: Instant,
    call: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    let until = tokio::time::Instant::from_std(deadline + BLOCKED_GRACE);
    tokio::time::timeout_at(until, call)
        .await
        .unwrap_or_else(|_| Err(Trap::Interrupt.into()))
}

/// Runs `call` into an instance (see [`by_deadline`]). When the instance's file operations
/// block its thread (`blocking`, a guest with a directory) and this is a worker of a
/// multi-thread runtime, the call runs in `block_in_place`, so the worker's other tasks move to
/// another thread while the guest waits on the disk.
pub(crate) async fn enter<T>(
    blocking: bool,
    deadline: Instant,
    call: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if blocking && multi_thread {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(by_deadline(deadline, call))
        })
    } else {
        by_deadline(deadline, call).await
    }
}
