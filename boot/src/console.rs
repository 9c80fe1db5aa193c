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
/// Whether COM1 gets the log too (see [`serial_off`]).
static SERIAL_ON: AtomicBool = AtomicBool::new(true);
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

/// The TSC frequency in kHz, measured against the PIT (channel 2 counting down 10 ms).
/// CPUID's frequency leaves are absent or wrong under several hypervisors; the PIT's
/// 1.193182 MHz is the same everywhere. Falls back to 1 GHz if the PIT never fires.
fn tsc_khz_guess() -> u64 {
    const PIT_HZ: u64 = 1_193_182;
    const TICKS: u16 = 11_932; // 10 ms
    let gate = port::inb(0x61);
    port::outb(0x61, (gate & !0x02) | 0x01); // gate on, speaker off
    port::outb(0x43, 0xb0); // channel 2, low/high byte, mode 0 (interrupt on terminal count)
    port::outb(0x42, TICKS as u8);
    port::outb(0x42, (TICKS >> 8) as u8);
    let start = cpu::rdtsc();
    let mut fired = false;
    for _ in 0..10_000_000 {
        if port::inb(0x61) & 0x20 != 0 {
            fired = true;
            break;
        }
    }
    let cycles = cpu::rdtsc().wrapping_sub(start);
    port::outb(0x61, gate);
    if !fired || cycles == 0 {
        return 1_000_000;
    }
    cycles * PIT_HZ / (u64::from(TICKS) * 1000)
}

/// The measured TSC frequency in kHz.
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
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

/// Stops writing to COM1, keeping the debug port. Under Xen the UART is emulated by
/// qemu-xen in dom0: every byte is two round trips there (about 2.5 ms each under nested
/// emulation), while port 0xe9 is answered by Xen itself and shows in `xl dmesg`.
pub fn serial_off() {
    if DEBUG_PORT_ON.load(Ordering::Relaxed) {
        SERIAL_ON.store(false, Ordering::Relaxed);
    }
}

fn put(byte: u8) {
    if SERIAL_ON.load(Ordering::Relaxed) {
        // Wait (bounded) for the transmit holding register; a missing UART reads 0xff.
        for _ in 0..100_000 {
            if port::inb(COM1 + 5) & 0x20 != 0 {
                break;
            }
        }
        port::outb(COM1, byte);
    }
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
