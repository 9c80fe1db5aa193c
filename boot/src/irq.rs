//! One device interrupt, to wake the idle `hlt` loop that drives the sound card: PCI MSI
//! when the function has the capability, its INTx line through the I/O APIC otherwise.
//!
//! The handler (`idt.rs`) only counts the interrupt and sends the local APIC its EOI; the
//! driver loop acknowledges the device's own status and then calls [`rearm`]. A level INTx
//! stays asserted until the device is acknowledged, so its handler masks the I/O APIC input
//! first and [`rearm`] unmasks it: no interrupt storm between the handler and the loop.
//! Callers keep a timer running as well: an interrupt that never comes costs latency, not
//! the stream.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::acpi::Acpi;
use crate::pci::{self, Bdf};
use crate::{apic, paging};

/// The device interrupt's vector.
pub const DEVICE_VECTOR: u8 = 0x30;

/// Interrupts taken since the last [`take`] (incremented by the handler).
#[unsafe(no_mangle)]
static DEVICE_INTERRUPTS: AtomicU32 = AtomicU32::new(0);
/// For an I/O APIC input: its redirection register's index (0 for MSI: nothing to mask),
/// the I/O APIC's address, and the entry's low word with the mask bit set.
#[unsafe(no_mangle)]
static DEVICE_IOAPIC_SELECT: AtomicU32 = AtomicU32::new(0);
#[unsafe(no_mangle)]
static DEVICE_IOAPIC_BASE: AtomicU64 = AtomicU64::new(0);
#[unsafe(no_mangle)]
static DEVICE_IOAPIC_MASKED: AtomicU32 = AtomicU32::new(0);
/// Whether an interrupt is set up.
static ACTIVE: AtomicU32 = AtomicU32::new(0);

const IOAPIC_DEFAULT_BASE: u64 = 0xfec0_0000;
const REDIRECTION_MASKED: u32 = 1 << 16;
const REDIRECTION_LEVEL: u32 = 1 << 15;
const REDIRECTION_ACTIVE_LOW: u32 = 1 << 13;

/// How the device's interrupt reaches the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Message signalled, to this CPU's local APIC.
    Msi,
    /// INTx `pin` (1 = INTA), routed by the firmware to ISA `irq`, on I/O APIC input `gsi`.
    IoApic {
        pin: u8,
        irq: u8,
        gsi: u32,
        level: bool,
        active_low: bool,
    },
    /// None: the caller polls.
    Polling(&'static str),
}

impl core::fmt::Display for Mode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Mode::Msi => write!(f, "MSI"),
            Mode::IoApic {
                pin,
                irq,
                gsi,
                level,
                active_low,
            } => write!(
                f,
                "INTx (INT{}, IRQ {irq}) through the I/O APIC, GSI {gsi} {} {}",
                char::from(b'A' + pin.saturating_sub(1)),
                if level { "level" } else { "edge" },
                if active_low {
                    "active low"
                } else {
                    "active high"
                },
            ),
            Mode::Polling(why) => write!(f, "none, polling ({why})"),
        }
    }
}

/// Sets up `bdf`'s interrupt: MSI if it has the capability, else INTx on the I/O APIC.
pub fn setup(bdf: Bdf, acpi: Option<&Acpi>) -> Mode {
    let mode = match pci::capability(bdf, pci::CAPABILITY_MSI) {
        Some(cap) => {
            setup_msi(bdf, cap);
            Mode::Msi
        }
        None => setup_intx(bdf, acpi),
    };
    if !matches!(mode, Mode::Polling(_)) {
        ACTIVE.store(1, Ordering::Relaxed);
    }
    mode
}

fn setup_msi(bdf: Bdf, cap: u8) {
    const ENABLE: u32 = 1 << 16;
    const MULTIPLE_ENABLE: u32 = 0b111 << 20;
    const ADDRESS_64: u32 = 1 << 23;
    const PER_VECTOR_MASK: u32 = 1 << 24;
    let control = bdf.read32(cap);
    bdf.write32(cap, control & !(ENABLE | MULTIPLE_ENABLE));
    // Fixed delivery, physical destination: this CPU.
    bdf.write32(cap + 4, 0xfee0_0000 | u32::from(apic::id()) << 12);
    let data = if control & ADDRESS_64 != 0 {
        bdf.write32(cap + 8, 0);
        cap + 0x0c
    } else {
        cap + 8
    };
    // Edge, fixed delivery; the upper half of the dword is not ours.
    let old = bdf.read32(data);
    bdf.write32(data, (old & 0xffff_0000) | u32::from(DEVICE_VECTOR));
    if control & PER_VECTOR_MASK != 0 {
        let mask = data + 4;
        bdf.write32(mask, bdf.read32(mask) & !1);
    }
    bdf.write32(cap, (control & !MULTIPLE_ENABLE) | ENABLE);
    let command = bdf.read32(0x04) & 0xffff;
    bdf.write32(0x04, command | pci::COMMAND_INTX_DISABLE);
}

fn ioapic_write(base: u64, register: u32, value: u32) {
    // SAFETY: the I/O APIC's two registers (select at +0, window at +0x10), mapped uncached;
    // only this module and the handler (with interrupts off here) use them.
    unsafe {
        (base as *mut u32).write_volatile(register);
        ((base + 0x10) as *mut u32).write_volatile(value);
    }
}

fn ioapic_read(base: u64, register: u32) -> u32 {
    // SAFETY: as in `ioapic_write`.
    unsafe {
        (base as *mut u32).write_volatile(register);
        ((base + 0x10) as *const u32).read_volatile()
    }
}

fn setup_intx(bdf: Bdf, acpi: Option<&Acpi>) -> Mode {
    let interrupt = bdf.read32(0x3c);
    let (irq, pin) = (interrupt as u8, (interrupt >> 8) as u8);
    if pin == 0 {
        return Mode::Polling("no MSI capability and no INTx pin");
    }
    if irq == 0 || irq == 0xff {
        return Mode::Polling("the firmware routed no IRQ to INTx");
    }
    // The firmware's Interrupt Line is an ISA IRQ; ACPI may move it to another input and give
    // its trigger (QEMU: IRQ 5, 9, 10, 11 level, active high). Without an override a PCI line
    // is level, active low.
    let (gsi, flags) = acpi
        .and_then(|a| a.overrides.get(usize::from(irq)).copied().flatten())
        .unwrap_or((u32::from(irq), 0));
    let active_low = !matches!(flags & 0b11, 0b01);
    let level = !matches!((flags >> 2) & 0b11, 0b01);
    let (base, gsi_base) = acpi
        .and_then(|a| a.ioapic)
        .unwrap_or((IOAPIC_DEFAULT_BASE, 0));
    if base >= 1 << 32 || base == 0 {
        return Mode::Polling("the I/O APIC is out of reach");
    }
    paging::set_uncached(base, 0x20);
    let inputs = ((ioapic_read(base, 1) >> 16) & 0xff) + 1;
    let Some(input) = gsi.checked_sub(gsi_base).filter(|&i| i < inputs) else {
        return Mode::Polling("the INTx line is not on the I/O APIC");
    };
    let low = u32::from(DEVICE_VECTOR)
        | if level { REDIRECTION_LEVEL } else { 0 }
        | if active_low {
            REDIRECTION_ACTIVE_LOW
        } else {
            0
        };
    let select = 0x10 + 2 * input;
    ioapic_write(base, select, low | REDIRECTION_MASKED);
    ioapic_write(base, select + 1, u32::from(apic::id()) << 24);
    DEVICE_IOAPIC_BASE.store(base, Ordering::Relaxed);
    DEVICE_IOAPIC_MASKED.store(low | REDIRECTION_MASKED, Ordering::Relaxed);
    DEVICE_IOAPIC_SELECT.store(select, Ordering::Relaxed);
    let command = bdf.read32(0x04) & 0xffff;
    bdf.write32(0x04, command & !pci::COMMAND_INTX_DISABLE);
    ioapic_write(base, select, low);
    Mode::IoApic {
        pin,
        irq,
        gsi,
        level,
        active_low,
    }
}

/// Whether [`setup`] set an interrupt up.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed) != 0
}

/// The number of device interrupts since the last call.
pub fn take() -> u32 {
    DEVICE_INTERRUPTS.swap(0, Ordering::Relaxed)
}

/// Lets the interrupt in again, once the driver has acknowledged the device's status.
pub fn rearm() {
    let select = DEVICE_IOAPIC_SELECT.load(Ordering::Relaxed);
    if select != 0 {
        let masked = DEVICE_IOAPIC_MASKED.load(Ordering::Relaxed);
        ioapic_write(
            DEVICE_IOAPIC_BASE.load(Ordering::Relaxed),
            select,
            masked & !REDIRECTION_MASKED,
        );
    }
}
