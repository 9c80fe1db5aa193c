//! Memory for device DMA: a pool in the image's own (identity-mapped, below 4 GiB) memory,
//! handed out in aligned, physically contiguous pieces that are never freed.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Size of the pool: command rings, buffer descriptor lists and PCM buffers.
pub const POOL_BYTES: usize = 512 * 1024;

#[repr(C, align(4096))]
struct Pool(UnsafeCell<[u8; POOL_BYTES]>);

// SAFETY: the pool is only reached through `DmaBuffer`s, which `alloc` hands out disjointly.
unsafe impl Sync for Pool {}

static POOL: Pool = Pool(UnsafeCell::new([0; POOL_BYTES]));
static USED: AtomicUsize = AtomicUsize::new(0);

/// A piece of the pool. Accesses are volatile: the device reads and writes it behind our back.
pub struct DmaBuffer {
    ptr: *mut u8,
    len: usize,
}

/// Takes `len` bytes aligned to `align` (a power of two) from the pool; `None` when the pool
/// is exhausted.
pub fn alloc(len: usize, align: usize) -> Option<DmaBuffer> {
    let mut taken = None;
    let _ = USED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
        let start = used.checked_next_multiple_of(align)?;
        let end = start.checked_add(len).filter(|&end| end <= POOL_BYTES)?;
        taken = Some(start);
        Some(end)
    });
    let start = taken?;
    // SAFETY: `start + len <= POOL_BYTES`, and this range is given out only once.
    let ptr = unsafe { POOL.0.get().cast::<u8>().add(start) };
    Some(DmaBuffer { ptr, len })
}

impl DmaBuffer {
    fn check(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "DMA access out of bounds"
        );
    }
}

impl hda::DmaRegion for DmaBuffer {
    fn phys(&self) -> u64 {
        // Identity-mapped: the address is the physical address.
        self.ptr as u64
    }

    fn len(&self) -> usize {
        self.len
    }

    fn read(&self, offset: usize, buf: &mut [u8]) {
        self.check(offset, buf.len());
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: within this buffer (checked above).
            *b = unsafe { self.ptr.add(offset + i).read_volatile() };
        }
    }

    fn write(&mut self, offset: usize, data: &[u8]) {
        self.check(offset, data.len());
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: within this buffer (checked above).
            unsafe { self.ptr.add(offset + i).write_volatile(b) }
        }
    }
}
