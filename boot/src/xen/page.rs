//! A page of guest-physical memory shared with another domain (or with Xen), reached with
//! volatile and atomic accesses only: the other side changes it at any moment.

use core::sync::atomic::{AtomicU32, Ordering};

use xen_ring::shmem::{PAGE_SIZE, SharedMem};

/// The page at guest-physical (= virtual: the image is identity-mapped) `address`.
#[derive(Debug)]
pub struct PhysPage {
    address: usize,
}

impl PhysPage {
    /// # Safety
    /// `address` must be a page-aligned, mapped page that nothing else in this domain
    /// uses as ordinary memory while this value exists.
    pub unsafe fn new(address: usize) -> PhysPage {
        PhysPage { address }
    }

    pub fn address(&self) -> usize {
        self.address
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= PAGE_SIZE,
            "bad shared-page offset"
        );
        // SAFETY: in bounds and aligned (checked above); the page is valid for the value's
        // lifetime (constructor contract); atomics are how shared words must be accessed.
        unsafe { &*((self.address + offset) as *const AtomicU32) }
    }
}

impl SharedMem for PhysPage {
    fn len(&self) -> usize {
        PAGE_SIZE
    }

    fn load_u32(&self, offset: usize) -> u32 {
        self.word(offset).load(Ordering::Acquire)
    }

    fn store_u32(&self, offset: usize, value: u32) {
        self.word(offset).store(value, Ordering::Release)
    }

    fn read(&self, offset: usize, buf: &mut [u8]) {
        assert!(
            offset + buf.len() <= PAGE_SIZE,
            "shared-page read out of bounds"
        );
        for (i, byte) in buf.iter_mut().enumerate() {
            // SAFETY: in bounds (checked above) of a valid page (constructor contract).
            *byte = unsafe { ((self.address + offset + i) as *const u8).read_volatile() };
        }
    }

    fn write(&self, offset: usize, data: &[u8]) {
        assert!(
            offset + data.len() <= PAGE_SIZE,
            "shared-page write out of bounds"
        );
        for (i, &byte) in data.iter().enumerate() {
            // SAFETY: as in `read`.
            unsafe { ((self.address + offset + i) as *mut u8).write_volatile(byte) }
        }
    }
}
