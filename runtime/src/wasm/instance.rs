//! Guest instances and how calls reach them. A driver owns a pool of slots (one for a stateful
//! guest, the policy's instance count for a stateless one); each slot holds at most one live
//! instance, serialises the calls into it, and is refilled on demand. A call runs in its
//! caller's task (no hand-off between threads on the way in or out); if the caller goes away
//! mid-call, the call is handed to a task of its own and finishes there, so an instance is never
//! left half-entered — a stateful guest's data survives a client that hangs up.
//!
//! A trap, a deadline (met in guest code by epoch interruption, in a host call the guest blocks
//! in by a timer) or a broken contract ends the instance: the call fails with `Timeout` or
//! `DriverFault` and the next call gets a fresh instance, unless the restart budget is spent
//! (too many faults within the window), in which case new instances are refused for a back-off
//! period that doubles up to a minute.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use tokio::sync::OwnedMutexGuard;
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::answer::guest_error;
use super::bindings::{GuestError, Param, World};
use super::budget::RestartBudget;
use super::component::GuestComponent;
use super::deadline::Deadline;
use super::fault;
use super::policy::SandboxPolicy;
use super::quota::GrantQuotas;
use super::reserve::ReservedInstances;
use super::state::{MemoryLimiter, State};
use crate::error::{Error, ErrorKind, Result};

/// A live instance with its driver resource.
pub(crate) struct Live {
    pub store: Store<State>,
    pub world: World,
    pub driver: ResourceAny,
    pub generation: u64,
}

type SlotLock = Arc<tokio::sync::Mutex<Option<Live>>>;

/// A place for one instance.
pub(crate) struct Slot {
    live: SlotLock,
}

/// Where a call must run.
pub(crate) enum Target {
    /// On any instance of the pool.
    Any,
    /// On the instance that holds a reader or writer (it must still be the same one).
    Pinned(Arc<Slot>, u64),
}

/// The result of a call, with the instance it ran on (readers and writers stay on it).
pub(crate) struct Placed<T> {
    pub value: T,
    pub slot: Arc<Slot>,
    pub generation: u64,
}

/// The closure type a call runs on the live instance.
pub(crate) type GuestCall<T> = Box<
    dyn for<'a> FnOnce(&'a mut Live) -> BoxFuture<'a, wasmtime::Result<Result<T, GuestError>>>
        + Send,
>;

/// The instances of one guest driver.
pub(crate) struct Pool {
    pub name: String,
    pub component: Arc<GuestComponent>,
    pub policy: SandboxPolicy,
    params: Vec<Param>,
    slots: Vec<Arc<Slot>>,
    next: AtomicUsize,
    generation: AtomicU64,
    budget: Mutex<RestartBudget>,
    /// The engine's instances this pool may use; given back when the pool goes.
    _reserved: ReservedInstances,
    /// The disk quotas of the directory grants, shared by every instance.
    quotas: GrantQuotas,
}

impl Pool {
    /// The pool of driver `name`, with its share of the engine's instances reserved; `quotas`
    /// are those of the policy's directory grants.
    pub fn new(
        name: &str,
        component: Arc<GuestComponent>,
        policy: SandboxPolicy,
        params: Vec<Param>,
        quotas: GrantQuotas,
    ) -> Result<Arc<Self>> {
        let count = if component.manifest.stateful {
            1
        } else {
            policy.instances.max(1)
        };
        let reserved = component.reserve(name, u32::try_from(count).unwrap_or(u32::MAX))?;
        let budget = RestartBudget::new(policy.restart_budget, policy.restart_window);
        Ok(Arc::new(Self {
            _reserved: reserved,
            quotas,
            name: name.to_owned(),
            component,
            policy,
            params,
            slots: (0..count)
                .map(|_| {
                    Arc::new(Slot {
                        live: Arc::new(tokio::sync::Mutex::new(None)),
                    })
                })
                .collect(),
            next: AtomicUsize::new(0),
            generation: AtomicU64::new(1),
            budget: Mutex::new(budget),
        }))
    }

    async fn acquire(&self) -> (Arc<Slot>, OwnedMutexGuard<Option<Live>>) {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            let slot = &self.slots[(start + i) % n];
            if let Ok(guard) = slot.live.clone().try_lock_owned() {
                return (slot.clone(), guard);
            }
        }
        let slot = self.slots[start].clone();
        let guard = slot.live.clone().lock_owned().await;
        (slot, guard)
    }

    /// Creates the driver on a fresh instance (used when a slot is empty). Every way this can
    /// fail — instantiation or `create` trapping, running past the deadline, or refusing —
    /// counts in the restart budget, so a guest that cannot start backs off like one that
    /// crashes.
    async fn start(&self) -> Result<Live> {
        self.budget().admit(Instant::now())?;
        let started = self.try_start().await;
        if started.is_err() {
            self.budget().record(Instant::now());
        }
        started
    }

    async fn try_start(&self) -> Result<Live> {
        let (mut store, world) = self
            .component
            .instantiate(&self.name, &self.policy, &self.quotas)
            .await?;
        // Under what is left of the instantiation's deadline.
        let deadline = Deadline::current(&store);
        let created = deadline.run(world.create(&mut store, &self.params)).await;
        match created {
            Ok(Ok(driver)) => Ok(Live {
                store,
                world,
                driver,
                generation: self.generation.fetch_add(1, Ordering::Relaxed),
            }),
            Ok(Err(e)) => Err(guest_error(e)),
            Err(e) => Err(self.describe("create", &e, &store.data().limiter)),
        }
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, RestartBudget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `call` on an instance and maps its outcome to Wharf's errors. A failure of the
    /// instance itself (trap, deadline) discards it.
    pub async fn call<T: Send + 'static>(
        self: &Arc<Self>,
        target: Target,
        op: &'static str,
        call: GuestCall<T>,
    ) -> Result<Placed<T>> {
        let pool = self.clone();
        Detached::new(async move {
            let (slot, mut guard) = match target {
                Target::Any => pool.acquire().await,
                Target::Pinned(slot, generation) => {
                    let guard = slot.live.clone().lock_owned().await;
                    if guard.as_ref().map(|l| l.generation) != Some(generation) {
                        return Err(Error::new(ErrorKind::DriverFault).with_detail(format!(
                            "{op}: the instance holding this reader or writer was replaced after a fault"
                        )));
                    }
                    (slot, guard)
                }
            };
            if guard.as_ref().is_some_and(|l| l.store.data().in_call) {
                *guard = None;
            }
            if guard.is_none() {
                *guard = Some(pool.start().await?);
            }
            let Some(live) = guard.as_mut() else {
                unreachable!("the slot was just filled")
            };
            let deadline = Deadline::start(&mut live.store, pool.policy.call_timeout);
            let state = live.store.data_mut();
            state.limiter.exceeded = false;
            state.in_call = true;
            let generation = live.generation;
            let outcome = deadline.run(call(live)).await;
            live.store.data_mut().in_call = false;
            match outcome {
                Ok(Ok(value)) => Ok(Placed {
                    value,
                    slot: slot.clone(),
                    generation,
                }),
                Ok(Err(e)) => Err(guest_error(e)),
                Err(e) => {
                    let error = pool.fault(op, &e, &live.store.data().limiter);
                    *guard = None;
                    Err(error)
                }
            }
        })
        .await
    }

    /// Discards the instance (`generation` in `slot`) whose answer to `op` broke the contract,
    /// as found by the adapter once the call returned, and describes the fault. It counts like a
    /// trap: readers and writers on that instance fail from now on, the next call gets a fresh
    /// instance, and a guest that keeps breaking the contract meets the restart budget.
    pub async fn breach(&self, slot: &Slot, generation: u64, op: &str, what: String) -> Error {
        let mut guard = slot.live.lock().await;
        if guard.as_ref().is_some_and(|l| l.generation == generation) {
            *guard = None;
        }
        drop(guard);
        let limiter = MemoryLimiter::new(0);
        self.fault(op, &wasmtime::Error::msg(what), &limiter)
    }

    /// True when the guest's file operations (and the file streams it hands over) block the
    /// thread doing them.
    pub fn blocking(&self) -> bool {
        self.policy.blocks_on_files()
    }

    /// Records a fault of an instance and describes it.
    fn fault(&self, op: &str, e: &wasmtime::Error, limiter: &MemoryLimiter) -> Error {
        self.budget().record(Instant::now());
        self.describe(op, e, limiter)
    }

    /// Describes a failure of an instance, and logs it.
    fn describe(&self, op: &str, e: &wasmtime::Error, limiter: &MemoryLimiter) -> Error {
        let error = fault::describe(op, e, &self.policy, limiter);
        tracing::warn!(driver = %self.name, component = %self.component.label, "{error}");
        error
    }

    /// Drops a reader's or writer's resource in its instance, if that instance still lives
    /// (called when the host-side reader or writer goes away); a writer dropped while open is
    /// closed first, so its upload stays resumable.
    pub fn release(
        self: &Arc<Self>,
        slot: Arc<Slot>,
        generation: u64,
        resource: ResourceAny,
        close_writer: bool,
    ) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let timeout = self.policy.call_timeout;
        let pool = self.clone();
        handle.spawn(async move {
            let mut guard = slot.live.lock().await;
            let Some(live) = guard
                .as_mut()
                .filter(|l| l.generation == generation && !l.store.data().in_call)
            else {
                return;
            };
            let deadline = Deadline::start(&mut live.store, timeout);
            let released = deadline
                .run(async {
                    if close_writer {
                        // A close the guest refuses leaves a healthy instance; a trap does not.
                        let _refused = live.world.close(&mut live.store, resource).await?;
                    }
                    resource.resource_drop_async(&mut live.store).await
                })
                .await;
            if let Err(e) = released {
                pool.fault("release", &e, &live.store.data().limiter);
                *guard = None;
            }
        });
    }
}

/// A call that runs in its caller's task and, should the caller drop it before it ends, is
/// handed to a task of its own to finish (its result unread), so the instance it entered is left
/// whole. Cheaper than a task per call: no cross-thread wake-up on the way in or out.
struct Detached<T: Send + 'static> {
    call: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
}

impl<T: Send + 'static> Detached<T> {
    fn new(call: impl Future<Output = T> + Send + 'static) -> Self {
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
