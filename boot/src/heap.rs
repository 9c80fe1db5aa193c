//! The heap: a fixed arena in the image's .bss behind `linked_list_allocator`, a small,
//! well-kept `no_std` allocator (first fit with coalescing; the backend allocates when a
//! guest connects or opens a stream, never per tick).

use core::cell::UnsafeCell;

use linked_list_allocator::LockedHeap;

/// Enough for the backend's per-stream buffers (guest buffers are capped at 128 KiB by
/// default) for a few dozen streams.
pub const HEAP_BYTES: usize = 8 * 1024 * 1024;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; HEAP_BYTES]>);

// SAFETY: handed to the allocator once in `init`, never touched directly afterwards.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; HEAP_BYTES]));

#[cfg_attr(target_os = "none", global_allocator)]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// Gives the arena to the allocator. Called once by the entry code before `main`.
pub fn init() {
    // SAFETY: the arena is a static region used by nothing else, and `init` runs once.
    unsafe {
        ALLOCATOR
            .lock()
            .init(ARENA.0.get().cast::<u8>(), HEAP_BYTES)
    }
}

/// Bytes in use right now (for the memory report).
pub fn used() -> usize {
    ALLOCATOR.lock().used()
}
