//! The controller's PCI side (hda.md §1.2): BAR0 must be a memory BAR of at least 16 KiB
//! that firmware assigned; memory decoding and bus mastering are turned on only once it is.

/// Access to the function's PCI configuration space (32-bit, aligned).
pub trait ConfigSpace {
    fn read32(&mut self, offset: u8) -> u32;
    fn write32(&mut self, offset: u8, value: u32);
}

const COMMAND: u8 = 0x04;
const BAR0: u8 = 0x10;
const BAR1: u8 = 0x14;
const COMMAND_MEMORY: u32 = 1 << 1;
const COMMAND_BUS_MASTER: u32 = 1 << 2;
/// The smallest BAR0 an HDA controller has (the stream descriptors end below it).
pub const MIN_BAR_LEN: u64 = 0x4000;

/// Why BAR0 is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarError {
    /// BAR0 reads 0 or all ones: not assigned, or the device is gone.
    Unassigned,
    /// BAR0 is an I/O BAR; an HDA controller needs memory.
    IoBar,
    /// BAR0 is smaller than the controller's register block.
    TooSmall { len: u64 },
    /// BAR0 ends above what the platform can map.
    OutOfReach { base: u64 },
}

/// Where BAR0 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar0 {
    pub base: u64,
    pub len: u64,
}

/// Reads and sizes BAR0 (32- or 64-bit memory) and checks it; `limit` is the highest
/// address the platform maps. Decoding stays off while the BAR is sized, and is not turned
/// on for a BAR that fails a check.
pub fn probe_bar0(cfg: &mut impl ConfigSpace, limit: u64) -> Result<Bar0, BarError> {
    let low = cfg.read32(BAR0);
    if low == 0 || low == u32::MAX {
        return Err(BarError::Unassigned);
    }
    if low & 1 != 0 {
        return Err(BarError::IoBar);
    }
    let is_64 = (low >> 1) & 0b11 == 0b10;
    let high = if is_64 { cfg.read32(BAR1) } else { 0 };
    let base = u64::from(high) << 32 | u64::from(low & !0xf);
    let command = cfg.read32(COMMAND);
    cfg.write32(COMMAND, command & !(COMMAND_MEMORY | COMMAND_BUS_MASTER));
    cfg.write32(BAR0, u32::MAX);
    let mask = cfg.read32(BAR0) & !0xf;
    cfg.write32(BAR0, low);
    cfg.write32(COMMAND, command);
    if base == 0 {
        return Err(BarError::Unassigned);
    }
    // A 32-bit BAR's size; 64-bit BARs of HDA controllers are never 4 GiB or larger.
    let len = u64::from((!mask).wrapping_add(1));
    if mask == 0 || len < MIN_BAR_LEN {
        return Err(BarError::TooSmall { len });
    }
    if base.checked_add(len).is_none_or(|end| end > limit) {
        return Err(BarError::OutOfReach { base });
    }
    Ok(Bar0 { base, len })
}

/// Turns on memory decoding and bus mastering (firmware may leave them off; the controller
/// cannot fetch the CORB or stream data without bus mastering).
pub fn enable_memory_and_dma(cfg: &mut impl ConfigSpace) {
    let command = cfg.read32(COMMAND);
    cfg.write32(COMMAND, command | COMMAND_MEMORY | COMMAND_BUS_MASTER);
}
