//! The instances of one guest driver and how calls reach them. A driver owns a pool of cells
//! (one for a stateful guest, the policy's instance count for a stateless one, see
//! `instance.rs`); a call takes a free cell (or the one that holds its reader or writer),
//! starts an instance there if it is empty, and runs to its end even if its caller goes away
//! (see `detached.rs`).
//!
//! A trap, a deadline (see `deadline.rs`) or a broken contract ends the instance: the call
//! fails with `Timeout` or `DriverFault` and the next call gets a fresh instance, unless the
//! restart budget is spent (see `budget.rs`). After its first fault, a pool keeps a standby
//! instance, made in the background: the next fault swaps it in at once, and the faulted
//! instance is dropped and the next standby made off the caller's path. A driver's share of the
//! engine's instances counts the standby.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use wasmtime::component::ResourceAny;

use super::answer::guest_error;
use super::bindings::{GuestError, Param};
use super::budget::RestartBudget;
use super::component::GuestComponent;
use super::deadline::Deadline;
use super::detached::Detached;
use super::fault;
use super::instance::{EnteredCell, GuestInstance, InstanceCell, InstanceRef};
use super::policy::SandboxPolicy;
use super::quota::GrantQuotas;
use super::reserve::ReservedInstances;
use super::state::InstanceState;
use crate::error::{Error, ErrorKind, Result};

/// Where a call must run.
pub(crate) enum Target {
    /// On any instance of the pool.
    Any,
    /// On the instance that holds a reader or writer (it must still be the same one).
    Pinned(InstanceRef),
}

/// The result of a call, with the instance it ran on (readers and writers stay on it).
pub(crate) struct Placed<T> {
    pub value: T,
    pub instance: InstanceRef,
}

/// The closure type a call runs on the live instance.
pub(crate) type GuestCall<T> = Box<
    dyn for<'a> FnOnce(
            &'a mut GuestInstance,
        ) -> BoxFuture<'a, wasmtime::Result<Result<T, GuestError>>>
        + Send,
>;

/// The instances of one guest driver.
pub(crate) struct InstancePool {
    pub name: String,
    pub component: Arc<GuestComponent>,
    pub policy: SandboxPolicy,
    params: Vec<Param>,
    cells: Vec<Arc<InstanceCell>>,
    next: AtomicUsize,
    generation: AtomicU64,
    budget: Mutex<RestartBudget>,
    /// The engine's instances this pool may use; given back when the pool goes.
    _reserved: ReservedInstances,
    /// The disk quotas of the directory grants, shared by every instance.
    quotas: GrantQuotas,
    /// A fresh instance made ahead, after a fault, for the next fault to swap in.
    standby: Mutex<Option<GuestInstance>>,
    /// True while a task is making the standby.
    making_standby: AtomicBool,
}

impl InstancePool {
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
        // The cells' instances and the standby.
        let share = u32::try_from(count).unwrap_or(u32::MAX).saturating_add(1);
        let why = if component.manifest.stateful {
            "a stateful guest's instance and a standby"
        } else {
            "its sandbox's `instances` and a standby"
        };
        let reserved = component.reserve(name, share, why)?;
        let budget = RestartBudget::new(policy.restart_budget, policy.restart_window);
        Ok(Arc::new(Self {
            _reserved: reserved,
            quotas,
            name: name.to_owned(),
            component,
            policy,
            params,
            cells: (0..count).map(|_| InstanceCell::empty()).collect(),
            next: AtomicUsize::new(0),
            generation: AtomicU64::new(1),
            budget: Mutex::new(budget),
            standby: Mutex::new(None),
            making_standby: AtomicBool::new(false),
        }))
    }

    /// Enters a free cell, or waits for the next one in turn.
    async fn enter_any(&self) -> (Arc<InstanceCell>, EnteredCell) {
        let n = self.cells.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            let cell = &self.cells[(start + i) % n];
            if let Some(entered) = cell.try_enter() {
                return (cell.clone(), entered);
            }
        }
        let cell = self.cells[start].clone();
        let entered = cell.enter().await;
        (cell, entered)
    }

    /// Creates the driver on a fresh instance (used when a cell is empty). Every way this can
    /// fail — instantiation or `create` trapping, running past the deadline, or refusing —
    /// counts in the restart budget, so a guest that cannot start backs off like one that
    /// crashes.
    async fn start(&self) -> Result<GuestInstance> {
        self.budget().admit(Instant::now())?;
        let started = self.try_start().await;
        if started.is_err() {
            self.budget().record(Instant::now());
        }
        started
    }

    async fn try_start(&self) -> Result<GuestInstance> {
        let (mut store, world) = self
            .component
            .instantiate(&self.name, &self.policy, &self.quotas)
            .await?;
        // Under what is left of the instantiation's deadline.
        let deadline = Deadline::current(&store);
        let created = deadline.run(world.create(&mut store, &self.params)).await;
        match created {
            Ok(Ok(driver)) => Ok(GuestInstance {
                store,
                world,
                driver,
                generation: self.generation.fetch_add(1, Ordering::Relaxed),
            }),
            Ok(Err(e)) => Err(guest_error(e)),
            Err(e) => Err(self.describe("create", &e, Some(store.data()))),
        }
    }

    /// The standby instance, if there is one and the restart budget admits a new instance.
    fn take_standby(&self) -> Option<GuestInstance> {
        self.budget().admit(Instant::now()).ok()?;
        self.standby
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Drops the `faulted` instance and makes a new standby, on a task of their own. Should a
    /// standby be in the making already, `faulted` is dropped here instead, so that the pool
    /// never holds more instances than its share.
    fn renew_standby(self: &Arc<Self>, faulted: Option<GuestInstance>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.making_standby.swap(true, Ordering::AcqRel) {
            drop(faulted);
            return;
        }
        let pool = self.clone();
        handle.spawn(async move {
            drop(faulted);
            let empty = pool
                .standby
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_none();
            // A standby that cannot be made (the budget refuses, instantiation or `create`
            // fails) is not retried, and its failure does not count in the budget (the fault
            // that asked for it did): the next call starts an instance as without a standby,
            // and that one counts.
            let admitted = pool.budget().admit(Instant::now()).is_ok();
            let mut made = false;
            if empty && admitted {
                match pool.try_start().await {
                    Ok(instance) => {
                        *pool.standby.lock().unwrap_or_else(|p| p.into_inner()) = Some(instance);
                        made = true;
                    }
                    Err(e) => {
                        tracing::debug!(driver = %pool.name, "no standby instance: {e}");
                    }
                }
            }
            pool.making_standby.store(false, Ordering::Release);
            // A fault that came between the standby's storing and the flag's clearing took it
            // and could not ask for the next one: ask now.
            let taken = pool
                .standby
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_none();
            if made && taken {
                pool.renew_standby(None);
            }
        });
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
            let (cell, mut entered) = match target {
                Target::Any => pool.enter_any().await,
                Target::Pinned(instance) => {
                    let entered = instance.cell.enter().await;
                    if !instance.is_in(&entered) {
                        return Err(Error::new(ErrorKind::DriverFault).with_detail(format!(
                            "{op}: the instance holding this reader or writer was replaced after a fault"
                        )));
                    }
                    (instance.cell, entered)
                }
            };
            if entered.as_ref().is_some_and(|i| i.store.data().in_call) {
                *entered = None;
            }
            if entered.is_none() {
                *entered = Some(pool.start().await?);
            }
            let Some(instance) = entered.as_mut() else {
                unreachable!("the cell was just filled")
            };
            let deadline = Deadline::start(&mut instance.store, pool.policy.call_timeout);
            let state = instance.store.data_mut();
            state.limiter.exceeded = false;
            state.in_call = true;
            let generation = instance.generation;
            let outcome = deadline.run(call(instance)).await;
            instance.store.data_mut().in_call = false;
            match outcome {
                Ok(Ok(value)) => Ok(Placed {
                    value,
                    instance: InstanceRef { cell, generation },
                }),
                Ok(Err(e)) => Err(guest_error(e)),
                Err(e) => {
                    let error = pool.fault(op, &e, Some(instance.store.data()));
                    let faulted = entered.take();
                    *entered = pool.take_standby();
                    pool.renew_standby(faulted);
                    Err(error)
                }
            }
        })
        .await
    }

    /// Faults `instance`, whose answer to `op` broke the contract (`what`, as found by the
    /// adapter once the call returned): it is discarded, and the fault described. It counts like
    /// a trap: readers and writers on that instance fail from now on, the next call gets a
    /// fresh instance, and a guest that keeps breaking the contract meets the restart budget.
    pub async fn fault_broken_contract(
        self: &Arc<Self>,
        instance: &InstanceRef,
        op: &str,
        what: String,
    ) -> Error {
        let mut entered = instance.cell.enter().await;
        if instance.is_in(&entered) {
            let faulted = entered.take();
            *entered = self.take_standby();
            drop(entered);
            self.renew_standby(faulted);
        }
        self.fault(op, &wasmtime::Error::msg(what), None)
    }

    /// True when the guest's file operations (and the file streams it hands over) block the
    /// thread doing them.
    pub fn blocking(&self) -> bool {
        self.policy.blocks_on_files()
    }

    /// Records a fault of an instance and describes it.
    fn fault(&self, op: &str, e: &wasmtime::Error, state: Option<&InstanceState>) -> Error {
        self.budget().record(Instant::now());
        self.describe(op, e, state)
    }

    /// Describes a failure of an instance, and logs it.
    fn describe(&self, op: &str, e: &wasmtime::Error, state: Option<&InstanceState>) -> Error {
        let error = fault::describe(op, e, &self.policy, state);
        tracing::warn!(driver = %self.name, component = %self.component.label, "{error}");
        error
    }

    /// Drops a reader's or writer's resource in its instance, if that instance still lives
    /// (called when the host-side reader or writer goes away); a writer dropped while open is
    /// closed first, so its upload stays resumable.
    fn release(self: &Arc<Self>, instance: InstanceRef, resource: ResourceAny, close_writer: bool) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let timeout = self.policy.call_timeout;
        let pool = self.clone();
        handle.spawn(async move {
            let mut entered = instance.cell.enter().await;
            let Some(running) = entered
                .as_mut()
                .filter(|i| i.generation == instance.generation && !i.store.data().in_call)
            else {
                return;
            };
            let deadline = Deadline::start(&mut running.store, timeout);
            let released = deadline
                .run(async {
                    if close_writer {
                        // A close the guest refuses leaves a healthy instance; a trap does not.
                        let _refused = running.world.close(&mut running.store, resource).await?;
                    }
                    resource.resource_drop_async(&mut running.store).await
                })
                .await;
            if let Err(e) = released {
                pool.fault("release", &e, Some(running.store.data()));
                *entered = None;
            }
        });
    }
}

/// A reader's or writer's resource in the instance that holds it; released when dropped.
pub(crate) struct PinnedResource {
    pub pool: Arc<InstancePool>,
    pub instance: InstanceRef,
    pub resource: ResourceAny,
    /// Close the (writer) resource before dropping it.
    pub close_writer: bool,
}

impl PinnedResource {
    /// The resource a call answered with, on the instance that answered.
    pub(crate) fn new(pool: Arc<InstancePool>, placed: Placed<ResourceAny>) -> Self {
        Self {
            pool,
            instance: placed.instance,
            resource: placed.value,
            close_writer: false,
        }
    }

    /// Runs `call` (on the resource) on the instance that holds it.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        op: &'static str,
        call: GuestCall<T>,
    ) -> Result<Placed<T>> {
        let target = Target::Pinned(self.instance.clone());
        self.pool.call(target, op, call).await
    }
}

impl Drop for PinnedResource {
    fn drop(&mut self) {
        self.pool
            .release(self.instance.clone(), self.resource, self.close_writer);
    }
}
