//! PCI configuration space through the legacy 0xCF8/0xCFC ports, and bus enumeration.

use crate::port;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// A PCI function's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bdf {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl core::fmt::Display for Bdf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

impl Bdf {
    fn address(&self, offset: u8) -> u32 {
        0x8000_0000
            | u32::from(self.bus) << 16
            | u32::from(self.device & 0x1f) << 11
            | u32::from(self.function & 0x7) << 8
            | u32::from(offset & 0xfc)
    }

    /// Reads the 32-bit register at `offset` (rounded down to 4).
    pub fn read32(&self, offset: u8) -> u32 {
        port::outl(CONFIG_ADDRESS, self.address(offset));
        port::inl(CONFIG_DATA)
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write32(&self, offset: u8, value: u32) {
        port::outl(CONFIG_ADDRESS, self.address(offset));
        port::outl(CONFIG_DATA, value);
    }
}

/// What identifies a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    pub bdf: Bdf,
    pub vendor: u16,
    pub device: u16,
    /// Class, subclass and programming interface.
    pub class: u32,
}

/// Class code of a PCI-to-PCI bridge.
pub const CLASS_BRIDGE: u32 = 0x06_04_00;

/// Calls `found` for every function reachable from bus 0 through PCI-to-PCI bridges.
/// Each bus is scanned at most once, so a bridge misreporting its secondary bus cannot make
/// the walk loop.
pub fn enumerate(mut found: impl FnMut(Function)) {
    let mut scanned = [false; 256];
    let mut pending = [0u8; 256];
    let mut queued = 1; // bus 0
    let mut next = 0;
    while next < queued {
        let bus = pending[next];
        next += 1;
        if core::mem::replace(&mut scanned[usize::from(bus)], true) {
            continue;
        }
        scan_bus(bus, &mut |f: Function| {
            if f.class >> 8 == CLASS_BRIDGE >> 8 && queued < pending.len() {
                pending[queued] = (f.bdf.read32(0x18) >> 8) as u8; // secondary bus number
                queued += 1;
            }
            found(f);
        });
    }
}

fn scan_bus(bus: u8, found: &mut impl FnMut(Function)) {
    for device in 0..32u8 {
        for function in 0..8u8 {
            let bdf = Bdf {
                bus,
                device,
                function,
            };
            let id = bdf.read32(0x00);
            if id == 0xffff_ffff || id & 0xffff == 0xffff {
                if function == 0 {
                    break;
                }
                continue;
            }
            let class = bdf.read32(0x08) >> 8;
            found(Function {
                bdf,
                vendor: id as u16,
                device: (id >> 16) as u16,
                class,
            });
            let header_type = (bdf.read32(0x0c) >> 16) as u8;
            if function == 0 && header_type & 0x80 == 0 {
                break; // not a multi-function device
            }
        }
    }
}

/// Class code of an HD Audio controller (multimedia, audio device).
pub const CLASS_HDA: u32 = 0x04_03_00;
