//! The console: the first 16550 UART (COM1) and QEMU's debug port 0xe9, behind the `log`
//! crate, each line stamped with the time since boot.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::{cpu, port};

const COM1: u16 = 0x3f8;
/// QEMU's (and Xen's HVM) debug console port: bytes written here appear in the log at once.
const DEBUG_PORT: u16 = 0xe9;

static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
/// Port 0xe9 goes to the hypervisor's log under Xen; elsewhere every write is a costly exit
/// for text the serial port already carries.
static DEBUG_PORT_ON: AtomicBool = AtomicBool::new(false);
static TSC_KHZ: AtomicU64 = AtomicU64::new(0);

/// Programs COM1 for 115200 8N1 and installs the logger.
pub fn init(level: log::LevelFilter) {
    port::outb(COM1 + 1, 0x00); // no interrupts
    port::outb(COM1 + 3, 0x80); // DLAB on
    port::outb(COM1, 0x01); // divisor 1: 115200 baud
    port::outb(COM1 + 1, 0x00);
    port::outb(COM1 + 3, 0x03); // 8N1, DLAB off
    port::outb(COM1 + 2, 0xc7); // FIFO on, cleared
    BOOT_TSC.store(cpu::rdtsc(), Ordering::Relaxed);
    DEBUG_PORT_ON.store(
        cpu::hypervisor_signature() == Some(*b"XenVMMXenVMM"),
        Ordering::Relaxed,
    );
    TSC_KHZ.store(tsc_khz_guess(), Ordering::Relaxed);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// The TSC frequency the CPU or hypervisor reports: the hypervisor timing leaf
/// (0x40000010, KVM/Xen-compatible) or the processor frequency leaf (0x16); 1 GHz otherwise.
fn tsc_khz_guess() -> u64 {
    if cpu::hypervisor_signature().is_some() && cpu::cpuid(0x4000_0000).0 >= 0x4000_0010 {
        let khz = cpu::cpuid(0x4000_0010).0;
        if khz != 0 {
            return u64::from(khz);
        }
    }
    if cpu::cpuid(0).0 >= 0x16 {
        let mhz = cpu::cpuid(0x16).0 & 0xffff;
        if mhz != 0 {
            return u64::from(mhz) * 1000;
        }
    }
    1_000_000
}

/// Microseconds since the console was initialised.
pub fn uptime_us() -> u64 {
    let cycles = cpu::rdtsc().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed));
    let khz = TSC_KHZ.load(Ordering::Relaxed).max(1);
    cycles.saturating_mul(1000) / khz
}

/// Writes raw text to both console ports.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                put(b'\r');
            }
            put(b);
        }
        Ok(())
    }
}

fn put(byte: u8) {
    // Wait (bounded) for the transmit holding register; a missing UART reads 0xff.
    for _ in 0..100_000 {
        if port::inb(COM1 + 5) & 0x20 != 0 {
            break;
        }
    }
    port::outb(COM1, byte);
    if DEBUG_PORT_ON.load(Ordering::Relaxed) {
        port::outb(DEBUG_PORT, byte);
    }
}

struct Logger;
static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let us = uptime_us();
        let _ = writeln!(
            Console,
            "[{:>5}.{:06}] {:<5} {}: {}",
            us / 1_000_000,
            us % 1_000_000,
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}
