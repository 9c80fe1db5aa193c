//! Simulated physical memory the model's DMA engines read and write, and the regions the
//! driver gets from [`ModelDma`]. A region that is freed while an engine still points into
//! it is a violation (hda.md §6 item 32): on hardware the DMA would scribble on reused memory.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use hda::device::DmaAlloc;
use hda::regs::DmaRegion;

use super::Hw;

/// Physical memory: allocated regions by base address.
#[derive(Default)]
pub struct Memory {
    regions: BTreeMap<u64, Vec<u8>>,
    next: u64,
}

impl Memory {
    fn region_at(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let (&base, bytes) = self.regions.range_mut(..=addr).next_back()?;
        let start = usize::try_from(addr - base).ok()?;
        bytes.get_mut(start..start.checked_add(len)?)
    }

    /// Copies out of memory; false if any byte is not allocated.
    pub fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        match self.region_at(addr, buf.len()) {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }

    /// Copies into memory; false if any byte is not allocated.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.region_at(addr, data.len()) {
            Some(bytes) => {
                bytes.copy_from_slice(data);
                true
            }
            None => false,
        }
    }

    pub fn is_mapped(&mut self, addr: u64, len: usize) -> bool {
        self.region_at(addr, len).is_some()
    }

    fn alloc(&mut self, floor: u64, bytes: usize, align: usize) -> u64 {
        let align = align.max(1) as u64;
        let start = self.next.max(floor).next_multiple_of(align);
        // A guard gap between regions, so an overrun is not silently another region's bytes.
        self.next = start + bytes as u64 + 4096;
        self.regions.insert(start, vec![0; bytes]);
        start
    }

    fn free(&mut self, base: u64) {
        self.regions.remove(&base);
    }
}

/// A region handed to the driver.
pub struct ModelRegion {
    hw: Rc<RefCell<Hw>>,
    base: u64,
    len: usize,
}

impl DmaRegion for ModelRegion {
    fn phys(&self) -> u64 {
        self.base
    }
    fn len(&self) -> usize {
        self.len
    }
    fn read(&self, offset: usize, buf: &mut [u8]) {
        let mut hw = self.hw.borrow_mut();
        // Memory polls count too: a loop over DMA memory alone must not spin for ever.
        hw.count_access();
        let ok = hw.memory.read(self.base + offset as u64, buf);
        assert!(ok, "driver read outside its region at +{offset:#x}");
    }
    fn write(&mut self, offset: usize, data: &[u8]) {
        let ok = self
            .hw
            .borrow_mut()
            .memory
            .write(self.base + offset as u64, data);
        assert!(ok, "driver wrote outside its region at +{offset:#x}");
    }
}

impl Drop for ModelRegion {
    fn drop(&mut self) {
        let mut hw = self.hw.borrow_mut();
        for engine in hw.engines_reaching(self.base, self.len) {
            hw.violation(format!(
                "region {:#x}+{:#x} freed while {engine} still points into it",
                self.base, self.len
            ));
        }
        hw.memory.free(self.base);
    }
}

/// The platform's DMA allocator, with knobs for memory the controller cannot reach.
pub struct ModelDma {
    pub(super) hw: Rc<RefCell<Hw>>,
    /// Hand out memory from 4 GiB up (a platform that ignores the driver's 32-bit request).
    pub above_4g: bool,
    /// Refuse every allocation.
    pub exhausted: bool,
}

impl ModelDma {
    /// A region made directly (for the command rings the caller passes to `Controller::new`).
    pub fn region(&mut self, bytes: usize, align: usize) -> ModelRegion {
        self.alloc(bytes, align).expect("model allocator exhausted")
    }
}

impl DmaAlloc for ModelDma {
    type Region = ModelRegion;
    fn alloc(&mut self, bytes: usize, align: usize) -> Option<ModelRegion> {
        if self.exhausted {
            return None;
        }
        let floor = if self.above_4g { 1 << 32 } else { 0x100_0000 };
        let base = self.hw.borrow_mut().memory.alloc(floor, bytes, align);
        Some(ModelRegion {
            hw: self.hw.clone(),
            base,
            len: bytes,
        })
    }
}
