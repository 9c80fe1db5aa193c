//! PCI configuration space of the controller's function: COMMAND and a sizable BAR0.

use hda::pci::ConfigSpace;

pub struct ModelConfigSpace {
    pub command: u32,
    /// BAR0 as firmware left it (address and type bits).
    pub bar0: u32,
    pub bar1: u32,
    /// The BAR's size (a power of two); 0 for a BAR that decodes nothing.
    pub bar_len: u32,
    /// The function is gone: every read is all ones.
    pub gone: bool,
    /// BAR0 was written with all ones (a sizing) and not yet restored.
    sizing: bool,
    /// BAR0 or COMMAND were changed while memory decoding was on (a sizing that could hit
    /// some other device's range).
    pub sized_while_decoding: bool,
}

impl ModelConfigSpace {
    /// A 32-bit non-prefetchable 16 KiB memory BAR at `base`, decoding off (firmware may
    /// leave it so).
    pub fn memory_bar(base: u32, len: u32) -> Self {
        ModelConfigSpace {
            command: 0,
            bar0: base,
            bar1: 0,
            bar_len: len,
            gone: false,
            sizing: false,
            sized_while_decoding: false,
        }
    }
}

impl ConfigSpace for ModelConfigSpace {
    fn read32(&mut self, offset: u8) -> u32 {
        if self.gone {
            return u32::MAX;
        }
        match offset {
            0x04 => self.command,
            0x10 if self.sizing => !(self.bar_len.wrapping_sub(1)) & !0xf | self.bar0 & 0xf,
            0x10 => self.bar0,
            0x14 => self.bar1,
            _ => 0,
        }
    }
    fn write32(&mut self, offset: u8, value: u32) {
        if self.gone {
            return;
        }
        match offset {
            0x04 => self.command = value,
            0x10 => {
                if self.command & 0b10 != 0 {
                    self.sized_while_decoding = true;
                }
                self.sizing = value == u32::MAX;
                if !self.sizing {
                    self.bar0 = value;
                }
            }
            _ => {}
        }
    }
}
