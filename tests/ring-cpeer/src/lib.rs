//! Host-only peer for the ring tests and benchmarks: the C ends of the sndif ring and the
//! event page consumer, built from the real Xen `ring.h`/`sndif.h` macros (`csrc/peer.c`),
//! and a page of real memory both languages share.
//!
//! This crate is test equipment: it needs `unsafe` for the FFI and the raw page, which the
//! domain's own crates never do.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ffi::c_void;
use std::ptr::NonNull;

use xen_ring::shmem::{PAGE_SIZE, SharedMem};

#[repr(C)]
struct CFrontRaw {
    _opaque: [u8; 0],
}
#[repr(C)]
struct CBackRaw {
    _opaque: [u8; 0],
}

unsafe extern "C" {
    fn c_front_new(page: *mut c_void, init: i32, start: u32) -> *mut CFrontRaw;
    fn c_front_free(f: *mut CFrontRaw);
    fn c_front_push(f: *mut CFrontRaw, req: *const u8) -> i32;
    fn c_front_publish(f: *mut CFrontRaw) -> i32;
    fn c_front_take(f: *mut CFrontRaw, rsp: *mut u8) -> i32;
    fn c_front_final_check(f: *mut CFrontRaw) -> i32;
    fn c_back_new(page: *mut c_void, start: u32) -> *mut CBackRaw;
    fn c_back_free(b: *mut CBackRaw);
    fn c_back_take(b: *mut CBackRaw, req: *mut u8) -> i32;
    fn c_back_respond(b: *mut CBackRaw, rsp: *const u8);
    fn c_back_publish(b: *mut CBackRaw) -> i32;
    fn c_back_final_check(b: *mut CBackRaw) -> i32;
    fn c_evt_take(page: *mut c_void, id: *mut u16, kind: *mut u8, position: *mut u64) -> i32;
}

/// One page-aligned page of ordinary memory, shared by Rust and C (and by threads).
pub struct RawPage {
    ptr: NonNull<u8>,
}

// SAFETY: the page is only accessed through volatile loads/stores and the C ring macros,
// which is exactly how two domains share a page; concurrent access is the point.
unsafe impl Send for RawPage {}
// SAFETY: as above; `&RawPage` only offers volatile accesses.
unsafe impl Sync for RawPage {}

fn layout() -> Layout {
    Layout::from_size_align(PAGE_SIZE, PAGE_SIZE).expect("a page is a valid layout")
}

impl RawPage {
    pub fn new() -> RawPage {
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout()) };
        RawPage {
            ptr: NonNull::new(ptr).expect("page allocation failed"),
        }
    }

    fn c_ptr(&self) -> *mut c_void {
        self.ptr.as_ptr().cast()
    }

    fn check(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= PAGE_SIZE),
            "access outside the page"
        );
    }
}

impl Default for RawPage {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RawPage {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with the same layout, freed once.
        unsafe { dealloc(self.ptr.as_ptr(), layout()) }
    }
}

impl SharedMem for RawPage {
    fn len(&self) -> usize {
        PAGE_SIZE
    }

    fn load_u32(&self, offset: usize) -> u32 {
        self.check(offset, 4);
        assert_eq!(offset % 4, 0);
        // SAFETY: in bounds and aligned (checked above); the page lives as long as `self`.
        unsafe { self.ptr.as_ptr().add(offset).cast::<u32>().read_volatile() }
    }

    fn store_u32(&self, offset: usize, value: u32) {
        self.check(offset, 4);
        assert_eq!(offset % 4, 0);
        // SAFETY: as in `load_u32`.
        unsafe {
            self.ptr
                .as_ptr()
                .add(offset)
                .cast::<u32>()
                .write_volatile(value)
        }
    }

    fn read(&self, offset: usize, buf: &mut [u8]) {
        self.check(offset, buf.len());
        // SAFETY: `offset..offset + len` is within the page (checked above).
        let src = unsafe { self.ptr.as_ptr().add(offset) };
        if offset.is_multiple_of(16) && buf.len().is_multiple_of(16) {
            // Ring slots: one volatile 16-byte load per chunk.
            for (k, chunk) in buf.chunks_exact_mut(16).enumerate() {
                // SAFETY: in bounds and 16-aligned.
                let v = unsafe { src.cast::<u128>().add(k).read_volatile() };
                chunk.copy_from_slice(&v.to_ne_bytes());
            }
        } else {
            for (i, b) in buf.iter_mut().enumerate() {
                // SAFETY: in bounds.
                *b = unsafe { src.add(i).read_volatile() };
            }
        }
    }

    fn write(&self, offset: usize, data: &[u8]) {
        self.check(offset, data.len());
        // SAFETY: `offset..offset + len` is within the page (checked above).
        let dst = unsafe { self.ptr.as_ptr().add(offset) };
        if offset.is_multiple_of(16) && data.len().is_multiple_of(16) {
            for (k, chunk) in data.chunks_exact(16).enumerate() {
                let v = u128::from_ne_bytes(chunk.try_into().expect("16 bytes"));
                // SAFETY: in bounds and 16-aligned.
                unsafe { dst.cast::<u128>().add(k).write_volatile(v) }
            }
        } else {
            for (i, &b) in data.iter().enumerate() {
                // SAFETY: in bounds.
                unsafe { dst.add(i).write_volatile(b) }
            }
        }
    }
}

/// The C frontend end of a sndif ring.
pub struct CFront<'p> {
    raw: *mut CFrontRaw,
    _page: &'p RawPage,
}

// SAFETY: the C state is owned by this value and used from one thread at a time.
unsafe impl Send for CFront<'_> {}

impl<'p> CFront<'p> {
    /// `XEN_FRONT_RING_INIT` when `init`, else `FRONT_RING_ATTACH` at `start`.
    pub fn new(page: &'p RawPage, init: bool, start: u32) -> Self {
        // SAFETY: the page outlives the returned value (lifetime `'p`).
        let raw = unsafe { c_front_new(page.c_ptr(), i32::from(init), start) };
        CFront { raw, _page: page }
    }

    pub fn push(&mut self, req: &[u8; 64]) -> bool {
        // SAFETY: `raw` is live; `req` is 64 readable bytes.
        unsafe { c_front_push(self.raw, req.as_ptr()) == 1 }
    }

    pub fn publish(&mut self) -> bool {
        // SAFETY: `raw` is live.
        unsafe { c_front_publish(self.raw) != 0 }
    }

    pub fn take(&mut self) -> Option<[u8; 64]> {
        let mut out = [0u8; 64];
        // SAFETY: `raw` is live; `out` is 64 writable bytes.
        (unsafe { c_front_take(self.raw, out.as_mut_ptr()) } == 1).then_some(out)
    }

    pub fn final_check(&mut self) -> bool {
        // SAFETY: `raw` is live.
        unsafe { c_front_final_check(self.raw) != 0 }
    }
}

impl Drop for CFront<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by `c_front_new`, freed once.
        unsafe { c_front_free(self.raw) }
    }
}

/// What the C backend found on taking a request.
#[derive(Debug, PartialEq, Eq)]
pub enum CTake {
    Request([u8; 64]),
    Nothing,
    Broken,
}

/// The C backend end of a sndif ring.
pub struct CBack<'p> {
    raw: *mut CBackRaw,
    _page: &'p RawPage,
}

// SAFETY: as for `CFront`.
unsafe impl Send for CBack<'_> {}

impl<'p> CBack<'p> {
    /// `BACK_RING_ATTACH` at `start`.
    pub fn new(page: &'p RawPage, start: u32) -> Self {
        // SAFETY: the page outlives the returned value.
        let raw = unsafe { c_back_new(page.c_ptr(), start) };
        CBack { raw, _page: page }
    }

    pub fn take(&mut self) -> CTake {
        let mut out = [0u8; 64];
        // SAFETY: `raw` is live; `out` is 64 writable bytes.
        match unsafe { c_back_take(self.raw, out.as_mut_ptr()) } {
            1 => CTake::Request(out),
            0 => CTake::Nothing,
            _ => CTake::Broken,
        }
    }

    pub fn respond(&mut self, rsp: &[u8; 64]) {
        // SAFETY: `raw` is live; `rsp` is 64 readable bytes.
        unsafe { c_back_respond(self.raw, rsp.as_ptr()) }
    }

    pub fn publish(&mut self) -> bool {
        // SAFETY: `raw` is live.
        unsafe { c_back_publish(self.raw) != 0 }
    }

    pub fn final_check(&mut self) -> bool {
        // SAFETY: `raw` is live.
        unsafe { c_back_final_check(self.raw) != 0 }
    }
}

impl Drop for CBack<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by `c_back_new`, freed once.
        unsafe { c_back_free(self.raw) }
    }
}

/// Takes one event off an event page the way xen-snd-front does: `(id, type, position)`.
pub fn c_take_event(page: &RawPage) -> Option<(u16, u8, u64)> {
    let (mut id, mut kind, mut position) = (0u16, 0u8, 0u64);
    // SAFETY: the page is live and 4 KiB; the out-pointers are valid locals.
    let took = unsafe { c_evt_take(page.c_ptr(), &mut id, &mut kind, &mut position) };
    (took == 1).then_some((id, kind, position))
}
