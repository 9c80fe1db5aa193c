//! The real register access: volatile loads and stores to the controller's BAR0.
//!
//! The only module of the driver with `unsafe`: everything above it works on [`Registers`].
#![allow(unsafe_code)]

use crate::regs::Registers;

/// BAR0 of an HDA controller, mapped uncached at `base`.
pub struct Mmio {
    base: usize,
    len: u32,
}

impl Mmio {
    /// The smallest BAR an HDA controller has.
    pub const MIN_LEN: u32 = crate::pci::MIN_BAR_LEN as u32;

    /// # Safety
    /// `base..base + len` must be the controller's BAR0, mapped uncached, owned by this
    /// value for its whole life, and `len >= Mmio::MIN_LEN`.
    pub unsafe fn new(base: usize, len: u32) -> Mmio {
        Mmio { base, len }
    }

    fn at<T>(&self, offset: u32) -> *mut T {
        assert!(
            offset as usize + core::mem::size_of::<T>() <= self.len as usize,
            "register {offset:#x} outside BAR0"
        );
        (self.base + offset as usize) as *mut T
    }
}

impl Registers for Mmio {
    fn read8(&mut self, offset: u32) -> u8 {
        // SAFETY: inside the BAR (checked by `at`), which `new`'s contract makes ours.
        unsafe { self.at::<u8>(offset).read_volatile() }
    }
    fn read16(&mut self, offset: u32) -> u16 {
        // SAFETY: as in `read8`; registers are naturally aligned.
        unsafe { self.at::<u16>(offset).read_volatile() }
    }
    fn read32(&mut self, offset: u32) -> u32 {
        // SAFETY: as in `read8`.
        unsafe { self.at::<u32>(offset).read_volatile() }
    }
    fn write8(&mut self, offset: u32, value: u8) {
        // SAFETY: as in `read8`.
        unsafe { self.at::<u8>(offset).write_volatile(value) }
    }
    fn write16(&mut self, offset: u32, value: u16) {
        // SAFETY: as in `read8`.
        unsafe { self.at::<u16>(offset).write_volatile(value) }
    }
    fn write32(&mut self, offset: u32, value: u32) {
        // SAFETY: as in `read8`.
        unsafe { self.at::<u32>(offset).write_volatile(value) }
    }
}
