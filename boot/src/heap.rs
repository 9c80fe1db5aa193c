//! The heap: the usable RAM above the image, from the memory map, behind
//! `linked_list_allocator` (a small, well-kept `no_std` first-fit allocator; the backend
//! allocates when a guest connects or opens a stream, never per tick). A thin wrapper counts
//! bytes in use and the high-water mark for the memory report.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use linked_list_allocator::LockedHeap;

use crate::BootInfo;

/// The most heap we take: the backend's needs are a few MiB, and a bounded heap makes an
/// allocation leak fail loudly instead of eating the domain.
pub const HEAP_MAX: u64 = 32 * 1024 * 1024;

struct Counting {
    heap: LockedHeap,
    used: AtomicUsize,
    peak: AtomicUsize,
}

// SAFETY: delegates to LockedHeap, which is a correct GlobalAlloc; the counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let ptr = unsafe { self.heap.alloc(layout) };
        if !ptr.is_null() {
            let used = self.used.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(used, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { self.heap.dealloc(ptr, layout) };
        self.used.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[cfg_attr(target_os = "none", global_allocator)]
static ALLOCATOR: Counting = Counting {
    heap: LockedHeap::empty(),
    used: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
};

unsafe extern "C" {
    /// The end of the image (linker script).
    static __bss_end: u8;
}

/// Gives the allocator the largest stretch of usable RAM above the image, below 4 GiB (the
/// identity-mapped part), up to [`HEAP_MAX`]. Returns the heap's size in bytes.
pub fn init(info: &BootInfo) -> u64 {
    let image_end = core::ptr::addr_of!(__bss_end) as u64;
    let best = info
        .regions()
        .iter()
        .filter(|r| r.is_ram())
        .map(|r| {
            let start = r.base.max(image_end).next_multiple_of(4096);
            let end = (r.base + r.len).min(1 << 32);
            (start, end.saturating_sub(start).min(HEAP_MAX))
        })
        .max_by_key(|&(_, len)| len);
    let Some((start, len)) = best.filter(|&(_, len)| len >= 64 * 1024) else {
        log::error!("heap: no usable RAM above the image");
        return 0;
    };
    // SAFETY: usable RAM per the memory map, above everything the image occupies, inside
    // the identity-mapped 4 GiB, given to the allocator once.
    unsafe { ALLOCATOR.heap.lock().init(start as *mut u8, len as usize) };
    len
}

/// Bytes in use right now.
pub fn used() -> usize {
    ALLOCATOR.used.load(Ordering::Relaxed)
}

/// The most bytes ever in use at once.
pub fn peak() -> usize {
    ALLOCATOR.peak.load(Ordering::Relaxed)
}
