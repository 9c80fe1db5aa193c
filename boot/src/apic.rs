//! The local APIC timer, so the CPU can sleep (`hlt`) until a deadline instead of spinning.
//! Halting matters beyond power: under `-icount sleep=off` QEMU skips virtual time while the
//! guest halts, and under a hypervisor a halted vCPU gives its core back.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::{console, cpu, port};

const LAPIC_BASE: usize = 0xfee0_0000;
const EOI: usize = 0xb0;
const SPURIOUS: usize = 0xf0;
const LVT_TIMER: usize = 0x320;
const INITIAL_COUNT: usize = 0x380;
const CURRENT_COUNT: usize = 0x390;
const DIVIDE: usize = 0x3e0;
/// Vector of the timer interrupt; its handler only acknowledges it.
pub const TIMER_VECTOR: u8 = 0x20;
/// Vector for spurious interrupts.
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// APIC timer ticks per millisecond, measured at `init`.
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

fn write(register: usize, value: u32) {
    // SAFETY: the local APIC page is identity-mapped uncached (3-4 GiB window); these are
    // architectural registers that only this module touches.
    unsafe { ((LAPIC_BASE + register) as *mut u32).write_volatile(value) }
}

fn read(register: usize) -> u32 {
    // SAFETY: as in `write`.
    unsafe { ((LAPIC_BASE + register) as *const u32).read_volatile() }
}

/// Masks the legacy PICs (their timer would arrive on an exception vector), enables the
/// local APIC and measures its timer against the TSC.
pub fn init() {
    port::outb(0x21, 0xff);
    port::outb(0xa1, 0xff);
    write(SPURIOUS, 0x100 | u32::from(SPURIOUS_VECTOR));
    write(DIVIDE, 0b1011); // divide by 1
    write(LVT_TIMER, 1 << 16); // masked while measuring
    write(INITIAL_COUNT, u32::MAX);
    let start = console::uptime_us();
    while console::uptime_us() < start + 10_000 {
        core::hint::spin_loop();
    }
    let elapsed = u32::MAX - read(CURRENT_COUNT);
    write(INITIAL_COUNT, 0);
    TICKS_PER_MS.store(u64::from(elapsed) / 10, Ordering::Relaxed);
    write(LVT_TIMER, u32::from(TIMER_VECTOR)); // one-shot
}

/// The timer's frequency in kHz (0 before `init`).
pub fn timer_khz() -> u64 {
    TICKS_PER_MS.load(Ordering::Relaxed)
}

/// Halts for about `us` microseconds (at least until the timer fires). Falls back to
/// spinning when the timer could not be measured.
pub fn sleep_us(us: u64) {
    let ticks = (TICKS_PER_MS.load(Ordering::Relaxed) * us / 1000).min(u64::from(u32::MAX)) as u32;
    if ticks == 0 {
        let end = console::uptime_us() + us;
        while console::uptime_us() < end {
            core::hint::spin_loop();
        }
        return;
    }
    write(INITIAL_COUNT, ticks);
    // `sti; hlt` is atomic with respect to interrupts: the timer cannot fire in between.
    // SAFETY: the IDT has a handler for TIMER_VECTOR and SPURIOUS_VECTOR; every other source
    // is masked.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) }
    let _ = cpu::rdtsc();
}

/// Starts the timer firing every `us` microseconds, for [`wait_for_tick`]. A periodic
/// timer cannot lose its wake-up the way a one-shot can when a hypervisor drops or merges
/// one interrupt: the next period comes anyway.
pub fn start_periodic(us: u64) {
    let ticks = (TICKS_PER_MS.load(Ordering::Relaxed) * us / 1000).clamp(1, u64::from(u32::MAX));
    write(LVT_TIMER, u32::from(TIMER_VECTOR) | 1 << 17); // periodic
    write(INITIAL_COUNT, ticks as u32);
}

/// Halts until the next timer interrupt (of [`start_periodic`]).
pub fn wait_for_tick() {
    // SAFETY: as in `sleep_us`; `sti; hlt` cannot miss an interrupt in between.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) }
}

/// Acknowledges the interrupt being handled (called from the timer stub's Rust side).
pub fn end_of_interrupt() {
    write(EOI, 0);
}
