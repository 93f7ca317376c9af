//! The engine's instances shared out among guest drivers: the pooling allocator holds a fixed
//! number of component instances for the whole runtime, and each driver reserves its share
//! before it starts, so that whatever other guests do, its instances can always be allocated.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, ErrorKind, Result};

/// The instances of an engine's pool not yet reserved by a driver (or a component being
/// described). Clones count the same instances.
#[derive(Debug, Clone)]
pub(crate) struct InstanceReserve {
    total: u32,
    unreserved: Arc<AtomicU32>,
}

/// Instances of the engine's pool reserved for one driver; given back when dropped. A driver
/// holds at most as many live instances as its share.
#[derive(Debug)]
pub(crate) struct ReservedInstances {
    count: u32,
    unreserved: Arc<AtomicU32>,
}

impl Drop for ReservedInstances {
    fn drop(&mut self) {
        self.unreserved.fetch_add(self.count, Ordering::AcqRel);
    }
}

impl InstanceReserve {
    /// The reserve of a pool of `total` instances, none reserved yet.
    pub(crate) fn new(total: u32) -> Self {
        Self {
            total,
            unreserved: Arc::new(AtomicU32::new(total)),
        }
    }

    /// Reserves `count` instances for `driver`, or says why not (`why`: what the count is).
    pub(crate) fn reserve(&self, driver: &str, count: u32, why: &str) -> Result<ReservedInstances> {
        let taken = self
            .unreserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |free| {
                free.checked_sub(count)
            });
        match taken {
            Ok(_) => Ok(ReservedInstances {
                count,
                unreserved: self.unreserved.clone(),
            }),
            Err(free) => Err(Error::new(ErrorKind::DriverFault).with_detail(format!(
                "{driver}: the guest instance pool has {free} of its {} instances left, and this needs {count} ({why}); close other guest drivers or lower `instances`",
                self.total
            ))),
        }
    }

    /// Instances not reserved by any driver now.
    pub(crate) fn unreserved(&self) -> u32 {
        self.unreserved.load(Ordering::Acquire)
    }
}
