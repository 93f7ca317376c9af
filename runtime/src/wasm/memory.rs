//! The memory limit of one instance: every memory and table of the instance counted together
//! against the policy's `memory_limit`, and a record of the refusal, so that the fault that
//! usually follows is told as what it is.

use wasmtime::ResourceLimiter;

/// Refuses growth of the instance's memories and tables past the policy's limit, counted over
/// the whole instance (a component may hold many memories and tables; each one's creation and
/// growth is added up), and remembers that it did, so the fault that usually follows (the
/// guest's allocator aborting) is reported as what it is.
pub struct MemoryLimiter {
    limit: u64,
    /// Bytes of linear memory and table storage the instance holds now.
    used: u64,
    /// Set when the guest asked for more memory than allowed.
    pub exceeded: bool,
}

/// What one table element costs the host, counted against the memory limit (a function
/// reference in wasmtime's tables).
const TABLE_ELEMENT_BYTES: u64 = 8;

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            used: 0,
            exceeded: false,
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Takes `current → desired` bytes of growth if the whole instance stays within the limit.
    fn grow(&mut self, current: u64, desired: u64) -> bool {
        let more = desired.saturating_sub(current);
        match self.used.checked_add(more) {
            Some(total) if total <= self.limit => {
                self.used = total;
                true
            }
            _ => {
                self.exceeded = true;
                false
            }
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(current as u64, desired as u64))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes = |n: usize| (n as u64).saturating_mul(TABLE_ELEMENT_BYTES);
        Ok(self.grow(bytes(current), bytes(desired)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_refuses_and_remembers() {
        let mut m = MemoryLimiter::new(1 << 20);
        assert!(m.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!m.exceeded);
        assert!(!m.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(m.exceeded);
    }

    #[test]
    fn limiter_counts_every_memory_and_table_of_the_instance() {
        let mut m = MemoryLimiter::new(4 << 20);
        // Three memories of 1 MiB each fit; a fourth of 1 MiB does not once tables take some.
        for _ in 0..3 {
            assert!(m.memory_growing(0, 1 << 20, None).unwrap());
        }
        assert!(m.table_growing(0, 1000, None).unwrap());
        assert!(!m.memory_growing(0, 1 << 20, None).unwrap());
        assert!(m.exceeded);
        // Growing one of them by what is left still works.
        let left = (4 << 20) - (3 << 20) - 1000 * TABLE_ELEMENT_BYTES as usize;
        assert!(m.memory_growing(1 << 20, (1 << 20) + left, None).unwrap());
        assert!(!m.table_growing(1000, 1001, None).unwrap());
    }
}
