//! What the driver needs from its platform: the controller's registers (BAR0), DMA memory,
//! and a clock for bounded waits. The image implements them over MMIO and its own RAM;
//! tests implement them over a register model or QEMU's qtest.

/// Access to the controller's memory-mapped registers at byte offsets into BAR0.
pub trait Registers {
    fn read8(&mut self, offset: u32) -> u8;
    fn read16(&mut self, offset: u32) -> u16;
    fn read32(&mut self, offset: u32) -> u32;
    fn write8(&mut self, offset: u32, value: u8);
    fn write16(&mut self, offset: u32, value: u16);
    fn write32(&mut self, offset: u32, value: u32);
}

/// Time, for waits that must end.
pub trait Clock {
    /// Microseconds since an arbitrary start; never goes back.
    fn now_us(&mut self) -> u64;
    /// Waits at least `us` microseconds.
    fn delay_us(&mut self, us: u32);
}

/// Polls `done` until it holds or `timeout_us` passes on `clock`; every wait of the driver
/// goes through here or [`Clock`] directly, so none is unbounded.
pub(crate) fn wait<R: Registers, C: Clock>(
    regs: &mut R,
    clock: &mut C,
    timeout_us: u64,
    mut done: impl FnMut(&mut R) -> bool,
) -> bool {
    let start = clock.now_us();
    loop {
        if done(regs) {
            return true;
        }
        if clock.now_us().saturating_sub(start) > timeout_us {
            return done(regs);
        }
        clock.delay_us(10);
    }
}

/// A physically contiguous region of memory the controller can reach by DMA.
pub trait DmaRegion {
    /// Its bus address (below 4 GiB when the controller lacks 64OK).
    fn phys(&self) -> u64;
    /// Its size in bytes.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies bytes at `offset` out of the region.
    fn read(&self, offset: usize, buf: &mut [u8]);
    /// Copies `data` into the region at `offset`.
    fn write(&mut self, offset: usize, data: &[u8]);

    fn read32(&self, offset: usize) -> u32 {
        let mut b = [0u8; 4];
        self.read(offset, &mut b);
        u32::from_le_bytes(b)
    }
}

/// Global registers (Intel HDA specification 1.0a §3.3; offsets in BAR0).
pub const GCAP: u32 = 0x00;
pub const VMIN: u32 = 0x02;
pub const VMAJ: u32 = 0x03;
pub const GCTL: u32 = 0x08;
pub const WAKEEN: u32 = 0x0c;
pub const STATESTS: u32 = 0x0e;
pub const INTCTL: u32 = 0x20;
pub const INTSTS: u32 = 0x24;
pub const CORBLBASE: u32 = 0x40;
pub const CORBUBASE: u32 = 0x44;
pub const CORBWP: u32 = 0x48;
pub const CORBRP: u32 = 0x4a;
pub const CORBCTL: u32 = 0x4c;
pub const CORBSTS: u32 = 0x4d;
pub const CORBSIZE: u32 = 0x4e;
pub const RIRBLBASE: u32 = 0x50;
pub const RIRBUBASE: u32 = 0x54;
pub const RIRBWP: u32 = 0x58;
pub const RINTCNT: u32 = 0x5a;
pub const RIRBCTL: u32 = 0x5c;
pub const RIRBSTS: u32 = 0x5d;
pub const RIRBSIZE: u32 = 0x5e;
/// Immediate command interface: command out, response in, status.
pub const ICOI: u32 = 0x60;
pub const IRII: u32 = 0x64;
pub const ICIS: u32 = 0x68;
pub const WALCLK: u32 = 0x30;
pub const DPLBASE: u32 = 0x70;
pub const DPUBASE: u32 = 0x74;
/// DPLBASE bit 0: the DMA position buffer is on.
pub const DPLBASE_ENABLE: u32 = 1 << 0;

/// INTCTL/INTSTS: global and controller interrupt bits; bits 29:0 are per stream.
pub const INT_GLOBAL: u32 = 1 << 31;
pub const INT_CONTROLLER: u32 = 1 << 30;
pub const INT_STREAMS: u32 = (1 << 30) - 1;
/// STATESTS/WAKEEN: one bit per codec address.
pub const CODEC_MASK: u16 = 0x7fff;
/// CORBSTS: CORB memory error.
pub const CORBSTS_CMEI: u8 = 1 << 0;
/// ICIS: busy, result valid (W1C), responding codec in 7:4.
pub const ICIS_ICB: u16 = 1 << 0;
pub const ICIS_IRV: u16 = 1 << 1;

/// GCTL bits.
pub const GCTL_CRST: u32 = 1 << 0;
pub const GCTL_UNSOL: u32 = 1 << 8;
/// CORBRP reset bit.
pub const CORBRP_RST: u16 = 1 << 15;
/// CORBCTL / RIRBCTL run bits.
pub const CORBCTL_RUN: u8 = 1 << 1;
pub const RIRBCTL_RINTCTL: u8 = 1 << 0;
pub const RIRBCTL_DMAEN: u8 = 1 << 1;
/// RIRBWP reset bit.
pub const RIRBWP_RST: u16 = 1 << 15;
/// RIRBSTS: response interrupt flag, overrun.
pub const RIRBSTS_RINTFL: u8 = 1 << 0;
pub const RIRBSTS_RIRBOIS: u8 = 1 << 2;
/// GCAP: 64-bit addressing supported.
pub const GCAP_64OK: u16 = 1 << 0;
