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

    /// Volatile, 8 bytes at a time where aligned: a byte at a time is 8 times the memory
    /// operations, which count where a hypervisor emulates them.
    fn read(&self, offset: usize, buf: &mut [u8]) {
        self.check(offset, buf.len());
        // SAFETY: within this buffer (checked above); u64 accesses only at 8-byte alignment.
        let src = unsafe { self.ptr.add(offset) };
        let head = src.align_offset(8).min(buf.len());
        let (head_buf, rest) = buf.split_at_mut(head);
        let (words, tail) = rest.split_at_mut(rest.len() / 8 * 8);
        for (i, b) in head_buf.iter_mut().enumerate() {
            // SAFETY: as above.
            *b = unsafe { src.add(i).read_volatile() };
        }
        for (i, word) in words.chunks_exact_mut(8).enumerate() {
            // SAFETY: as above; `src + head` is 8-byte aligned.
            let value = unsafe { (src.add(head + 8 * i) as *const u64).read_volatile() };
            word.copy_from_slice(&value.to_ne_bytes());
        }
        let at = head + words.len();
        for (i, b) in tail.iter_mut().enumerate() {
            // SAFETY: as above.
            *b = unsafe { src.add(at + i).read_volatile() };
        }
    }

    fn write(&mut self, offset: usize, data: &[u8]) {
        self.check(offset, data.len());
        // SAFETY: within this buffer (checked above); u64 accesses only at 8-byte alignment.
        let dst = unsafe { self.ptr.add(offset) };
        let head = dst.align_offset(8).min(data.len());
        let (head_data, rest) = data.split_at(head);
        let (words, tail) = rest.split_at(rest.len() / 8 * 8);
        for (i, &b) in head_data.iter().enumerate() {
            // SAFETY: as above.
            unsafe { dst.add(i).write_volatile(b) }
        }
        for (i, word) in words.chunks_exact(8).enumerate() {
            let value = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8]));
            // SAFETY: as above; `dst + head` is 8-byte aligned.
            unsafe { (dst.add(head + 8 * i) as *mut u64).write_volatile(value) }
        }
        let at = head + words.len();
        for (i, &b) in tail.iter().enumerate() {
            // SAFETY: as above.
            unsafe { dst.add(at + i).write_volatile(b) }
        }
    }
}
