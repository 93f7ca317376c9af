//! A global allocator that counts: the bytes the process holds, their peak since the last
//! [`measure`], and the largest single request. The guest-boundary target installs it to show
//! that nothing a guest declares (a size, a length, a part size) makes the host allocate beyond
//! its bounds: untouched reservations never show in the resident memory, they do here.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The system allocator, counted. Install it with
/// `#[global_allocator] static A: wharf_fuzz::alloc::Counting = wharf_fuzz::alloc::Counting;`.
pub struct Counting;

fn grew(size: usize) {
    let now = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(now, Ordering::Relaxed);
    LARGEST.fetch_max(size, Ordering::Relaxed);
    INSTALLED.store(true, Ordering::Relaxed);
}

fn shrank(size: usize) {
    LIVE.fetch_sub(size, Ordering::Relaxed);
}

// SAFETY: every call is passed to the system allocator with the caller's own arguments, and its
// answer returned unchanged; the counters are only updated beside it.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, hence by the system's, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller's contract for `realloc` is the system's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

/// What the process allocated while a [`measure`]d piece of work ran.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// How far the bytes held rose above what they were when it started.
    pub peak_growth: usize,
    /// The largest single allocation.
    pub largest: usize,
}

/// Runs `work`, measuring what it allocates (all threads count). `None` when [`Counting`] is not
/// the global allocator.
pub fn measure<T>(work: impl FnOnce() -> T) -> (T, Option<Usage>) {
    let start = LIVE.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    let value = work();
    let usage = INSTALLED.load(Ordering::Relaxed).then(|| Usage {
        peak_growth: PEAK.load(Ordering::Relaxed).saturating_sub(start),
        largest: LARGEST.load(Ordering::Relaxed),
    });
    (value, usage)
}
