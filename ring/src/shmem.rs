//! Access to memory shared with another domain.
//!
//! The other side can change shared memory at any moment, so Rust code never holds `&` or
//! `&mut` references into it: every access is one explicit load or store through
//! [`SharedMem`], and ordering between them comes from the fences below, which match Xen's
//! `xen_rmb`/`xen_wmb`/`xen_mb`. The real implementation (volatile accesses to mapped pages)
//! lives in `boot/`; [`AtomicPage`] is a safe in-memory page for tests and the simulated host.

use core::sync::atomic::{AtomicU32, Ordering, fence};

/// Bytes in a Xen page (`XEN_PAGE_SIZE`); every ring in this crate lives in one.
pub const PAGE_SIZE: usize = 4096;

/// A region of memory shared with another domain.
///
/// Implementations over real memory use volatile accesses only, in the widest aligned units
/// the CPU offers (a 64-byte ring slot is four 16-byte loads): byte-at-a-time copies made our
/// ring ends several times slower than the C macros' `memcpy` in the ring benchmark.
///
/// Offsets are computed by our own code (ring indices are masked first), never taken raw from
/// the peer. An offset or length outside [`SharedMem::len`], or a misaligned `u32`, is a bug in
/// the caller: implementations may panic on it.
pub trait SharedMem {
    /// The size of the region in bytes.
    fn len(&self) -> usize;

    /// Whether the region is empty (never, for a mapped page).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One 32-bit load at a 4-byte aligned `offset` (the peer's index fields).
    fn load_u32(&self, offset: usize) -> u32;

    /// One 32-bit store at a 4-byte aligned `offset`.
    fn store_u32(&self, offset: usize, value: u32);

    /// Copies `buf.len()` bytes starting at `offset` out of the region.
    fn read(&self, offset: usize, buf: &mut [u8]);

    /// Copies `data` into the region starting at `offset`.
    fn write(&self, offset: usize, data: &[u8]);
}

/// Read barrier (`xen_rmb`): loads before it complete before loads after it.
pub fn rmb() {
    fence(Ordering::Acquire);
}

/// Write barrier (`xen_wmb`): stores before it are visible before stores after it.
pub fn wmb() {
    fence(Ordering::Release);
}

/// Full barrier (`xen_mb`): orders stores before it against loads after it.
pub fn mb() {
    fence(Ordering::SeqCst);
}

/// One 4 KiB page of atomics: shared memory without `unsafe`, for tests and the simulated
/// Xen host. Byte accesses are done on the containing 32-bit words.
pub struct AtomicPage {
    words: [AtomicU32; PAGE_SIZE / 4],
}

impl AtomicPage {
    /// A zeroed page.
    pub const fn new() -> Self {
        AtomicPage {
            words: [const { AtomicU32::new(0) }; PAGE_SIZE / 4],
        }
    }

    fn byte(&self, offset: usize) -> u8 {
        let word = self.words[offset / 4].load(Ordering::Relaxed);
        word.to_le_bytes()[offset % 4]
    }

    fn set_byte(&self, offset: usize, value: u8) {
        let shift = (offset % 4) * 8;
        let mask = !(0xffu32 << shift);
        let _ = self.words[offset / 4].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
            Some((w & mask) | (u32::from(value) << shift))
        });
    }
}

impl Default for AtomicPage {
    fn default() -> Self {
        Self::new()
    }
}

impl SharedMem for AtomicPage {
    fn len(&self) -> usize {
        PAGE_SIZE
    }

    fn load_u32(&self, offset: usize) -> u32 {
        assert_eq!(offset % 4, 0, "misaligned shared u32 at {offset}");
        self.words[offset / 4].load(Ordering::Relaxed)
    }

    fn store_u32(&self, offset: usize, value: u32) {
        assert_eq!(offset % 4, 0, "misaligned shared u32 at {offset}");
        self.words[offset / 4].store(value, Ordering::Relaxed);
    }

    fn read(&self, offset: usize, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.byte(offset + i);
        }
    }

    fn write(&self, offset: usize, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            self.set_byte(offset + i, b);
        }
    }
}

impl<T: SharedMem + ?Sized> SharedMem for &T {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn load_u32(&self, offset: usize) -> u32 {
        (**self).load_u32(offset)
    }
    fn store_u32(&self, offset: usize, value: u32) {
        (**self).store_u32(offset, value)
    }
    fn read(&self, offset: usize, buf: &mut [u8]) {
        (**self).read(offset, buf)
    }
    fn write(&self, offset: usize, data: &[u8]) {
        (**self).write(offset, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_words_share_one_little_endian_view() {
        let page = AtomicPage::new();
        page.write(5, &[0xaa, 0xbb, 0xcc]);
        assert_eq!(page.load_u32(4), 0x00cc_bbaa << 8);
        page.store_u32(8, 0x0403_0201);
        let mut out = [0u8; 4];
        page.read(8, &mut out);
        assert_eq!(out, [1, 2, 3, 4]);
    }
}
