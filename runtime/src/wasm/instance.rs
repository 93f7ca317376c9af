//! One guest instance, and the cell it lives in. A driver's pool (see `pool.rs`) holds cells;
//! a cell holds at most one live instance at a time, serialises the calls into it, and is
//! filled with a fresh instance, of a new generation, after a fault. An [`InstanceRef`] names
//! one instance (its cell and generation), so that a reader or writer can tell whether the
//! instance holding its resource is still the one that made it.

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::state::InstanceState;
use super::world::World;

/// A live instance with its driver resource.
pub(crate) struct GuestInstance {
    pub store: Store<InstanceState>,
    pub world: World,
    pub driver: ResourceAny,
    /// Tells this instance from the others its cell held or will hold.
    pub generation: u64,
}

/// The place of one instance in a pool: empty, or holding the live instance.
pub(crate) struct InstanceCell {
    instance: Arc<Mutex<Option<GuestInstance>>>,
}

/// A cell entered: nobody else calls into its instance until the guard is dropped.
pub(crate) type EnteredCell = OwnedMutexGuard<Option<GuestInstance>>;

impl InstanceCell {
    /// A cell with no instance yet.
    pub(crate) fn empty() -> Arc<Self> {
        Arc::new(Self {
            instance: Arc::new(Mutex::new(None)),
        })
    }

    /// Enters the cell if nobody is in it.
    pub(crate) fn try_enter(&self) -> Option<EnteredCell> {
        self.instance.clone().try_lock_owned().ok()
    }

    /// Enters the cell, waiting for whoever is in it.
    pub(crate) async fn enter(&self) -> EnteredCell {
        self.instance.clone().lock_owned().await
    }
}

/// One instance: its cell, and its generation there.
#[derive(Clone)]
pub(crate) struct InstanceRef {
    pub cell: Arc<InstanceCell>,
    pub generation: u64,
}

impl InstanceRef {
    /// True when `entered` (this instance's cell, entered) still holds this instance.
    pub(crate) fn is_in(&self, entered: &EnteredCell) -> bool {
        entered.as_ref().map(|i| i.generation) == Some(self.generation)
    }
}
