//! PCI configuration space, memory-mapped (ECAM, where ACPI's MCFG says it is) or through
//! the legacy 0xCF8/0xCFC ports; bus enumeration; capabilities.
//!
//! ECAM is one access per register where the ports take two (address, then data): under a
//! hypervisor each is an exit, and enumeration is on the boot path.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::{acpi::Acpi, paging, port};

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

/// The ECAM window's base (0: none, use the ports) and the last bus it covers.
static ECAM: AtomicU64 = AtomicU64::new(0);
static ECAM_LAST_BUS: AtomicU64 = AtomicU64::new(0);

/// How configuration space is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Memory-mapped at `base`, buses 0 to `last_bus`.
    Ecam { base: u64, last_bus: u8 },
    /// Ports 0xCF8/0xCFC.
    PortIo,
}

impl core::fmt::Display for Access {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Access::Ecam { base, last_bus } => {
                write!(f, "ECAM at {base:#x} (MCFG, buses 0-{last_bus})")
            }
            Access::PortIo => f.write_str("port I/O (no MCFG)"),
        }
    }
}

/// Chooses ECAM when ACPI describes it (below 4 GiB, where the identity map reaches), the
/// ports otherwise.
pub fn init(acpi: Option<&Acpi>) -> Access {
    match acpi.and_then(|a| a.ecam) {
        Some((base, last_bus))
            if base != 0 && base + ((u64::from(last_bus) + 1) << 20) <= 1 << 32 =>
        {
            paging::set_uncached(base, (u64::from(last_bus) + 1) << 20);
            ECAM_LAST_BUS.store(u64::from(last_bus), Ordering::Relaxed);
            ECAM.store(base, Ordering::Relaxed);
            Access::Ecam { base, last_bus }
        }
        _ => Access::PortIo,
    }
}

impl Bdf {
    /// The register's address in the ECAM window, if there is one for this bus.
    fn ecam(&self, offset: u8) -> Option<*mut u32> {
        let base = ECAM.load(Ordering::Relaxed);
        if base == 0 || u64::from(self.bus) > ECAM_LAST_BUS.load(Ordering::Relaxed) {
            return None;
        }
        let at = u64::from(self.bus) << 20
            | u64::from(self.device & 0x1f) << 15
            | u64::from(self.function & 0x7) << 12
            | u64::from(offset & 0xfc);
        Some((base + at) as *mut u32)
    }

    fn address(&self, offset: u8) -> u32 {
        0x8000_0000
            | u32::from(self.bus) << 16
            | u32::from(self.device & 0x1f) << 11
            | u32::from(self.function & 0x7) << 8
            | u32::from(offset & 0xfc)
    }

    /// Reads the 32-bit register at `offset` (rounded down to 4).
    pub fn read32(&self, offset: u8) -> u32 {
        if let Some(register) = self.ecam(offset) {
            // SAFETY: inside the ECAM window ACPI described, mapped uncached by `init`;
            // configuration reads have no side effects.
            return unsafe { register.read_volatile() };
        }
        port::outl(CONFIG_ADDRESS, self.address(offset));
        port::inl(CONFIG_DATA)
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write32(&self, offset: u8, value: u32) {
        if let Some(register) = self.ecam(offset) {
            // SAFETY: as in `read32`; what the write does to the device is the caller's
            // business, as with the ports.
            return unsafe { register.write_volatile(value) };
        }
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

/// The offset of capability `id` in the function's list, if it has one.
pub fn capability(bdf: Bdf, id: u8) -> Option<u8> {
    const STATUS_CAPABILITIES: u32 = 1 << 20;
    if bdf.read32(0x04) & STATUS_CAPABILITIES == 0 {
        return None;
    }
    let mut at = (bdf.read32(0x34) & 0xfc) as u8;
    // At most 48 capabilities fit in the 192 bytes after the header: a loop is a broken list.
    for _ in 0..48 {
        if at < 0x40 {
            return None;
        }
        let header = bdf.read32(at);
        if header as u8 == id {
            return Some(at);
        }
        at = (header >> 8) as u8 & 0xfc;
    }
    None
}

/// Capability id of MSI.
pub const CAPABILITY_MSI: u8 = 0x05;
/// Command register bit that stops the function asserting INTx.
pub const COMMAND_INTX_DISABLE: u32 = 1 << 10;
