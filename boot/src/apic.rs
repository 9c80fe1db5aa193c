//! The local APIC: its timer, so the CPU can sleep (`hlt`) until a deadline or a device
//! interrupt instead of spinning, and end-of-interrupt. Halting matters beyond power: under
//! `-icount sleep=off` QEMU skips virtual time while the guest halts, and under a hypervisor
//! a halted vCPU gives its core back.
//!
//! The timer's frequency is measured against the TSC without waiting: `init` starts it
//! counting down from the top at boot, and the first user compares how far it went with the
//! TSC time since (tens of milliseconds of baseline for free, where a dedicated measurement
//! would cost boot time and be blurred by the exits around it).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::{console, cpu, port};

const LAPIC_BASE: usize = 0xfee0_0000;
const ID: usize = 0x20;
const EOI: usize = 0xb0;
const SPURIOUS: usize = 0xf0;
const LVT_TIMER: usize = 0x320;
const INITIAL_COUNT: usize = 0x380;
const CURRENT_COUNT: usize = 0x390;
const DIVIDE: usize = 0x3e0;
/// Divide by 16: the count lasts over a minute at a 1 GHz APIC clock (KVM's, QEMU's),
/// long enough for the calibration to run from boot to the first sleep.
const DIVIDE_BY_16: u32 = 0b0011;
const TIMER_MASKED: u32 = 1 << 16;
const TIMER_PERIODIC: u32 = 1 << 17;
/// Vector of the timer interrupt; its handler only acknowledges it.
pub const TIMER_VECTOR: u8 = 0x20;
/// Vector for spurious interrupts.
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// APIC timer ticks per millisecond, once measured.
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);
/// The TSC when the calibration count started.
static CALIBRATION_TSC: AtomicU64 = AtomicU64::new(0);
/// The timer mode last programmed (for `sleep_us` to restore it).
static PERIODIC_TICKS: AtomicU32 = AtomicU32::new(0);

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
/// local APIC and starts the calibration count.
pub fn init() {
    port::outb(0x21, 0xff);
    port::outb(0xa1, 0xff);
    write(SPURIOUS, 0x100 | u32::from(SPURIOUS_VECTOR));
    write(DIVIDE, DIVIDE_BY_16);
    write(LVT_TIMER, TIMER_MASKED);
    start_calibration();
}

fn start_calibration() {
    write(INITIAL_COUNT, u32::MAX);
    CALIBRATION_TSC.store(cpu::rdtsc(), Ordering::Relaxed);
}

/// This CPU's local APIC id (the destination for its interrupts).
pub fn id() -> u8 {
    (read(ID) >> 24) as u8
}

/// Timer ticks per millisecond, measuring them on first use.
fn ticks_per_ms() -> u64 {
    let known = TICKS_PER_MS.load(Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    let khz = console::tsc_khz().max(1);
    loop {
        let start = CALIBRATION_TSC.load(Ordering::Relaxed);
        let count = read(CURRENT_COUNT);
        let cycles = cpu::rdtsc().wrapping_sub(start);
        if count == 0 {
            // Ran out before anyone needed the timer: count again.
            start_calibration();
            continue;
        }
        // At least 2 ms of baseline, so the exits around the two reads do not matter.
        if cycles < 2 * khz {
            core::hint::spin_loop();
            continue;
        }
        let ticks = u64::from(u32::MAX - count);
        let per_ms = (u128::from(ticks) * u128::from(khz) / u128::from(cycles)).max(1) as u64;
        write(INITIAL_COUNT, 0);
        TICKS_PER_MS.store(per_ms, Ordering::Relaxed);
        return per_ms;
    }
}

/// The timer's frequency in kHz (measuring it if nobody has yet).
pub fn timer_khz() -> u64 {
    ticks_per_ms() * 16
}

fn ticks(us: u64) -> u32 {
    (ticks_per_ms() * us / 1000).clamp(1, u64::from(u32::MAX)) as u32
}

/// Halts for about `us` microseconds, or until an interrupt (a device's, or the periodic
/// timer's when one runs: it is restarted afterwards).
pub fn sleep_us(us: u64) {
    write(LVT_TIMER, u32::from(TIMER_VECTOR)); // one-shot
    write(INITIAL_COUNT, ticks(us));
    halt_until_interrupt();
    let periodic = PERIODIC_TICKS.load(Ordering::Relaxed);
    if periodic != 0 {
        write(LVT_TIMER, u32::from(TIMER_VECTOR) | TIMER_PERIODIC);
        write(INITIAL_COUNT, periodic);
    }
}

/// Starts the timer firing every `us` microseconds, for [`wait_for_tick`]. A periodic
/// timer cannot lose its wake-up the way a one-shot can when a hypervisor drops or merges
/// one interrupt: the next period comes anyway.
pub fn start_periodic(us: u64) {
    let ticks = ticks(us);
    PERIODIC_TICKS.store(ticks, Ordering::Relaxed);
    write(LVT_TIMER, u32::from(TIMER_VECTOR) | TIMER_PERIODIC);
    write(INITIAL_COUNT, ticks);
}

/// Stops the periodic timer.
pub fn stop_periodic() {
    PERIODIC_TICKS.store(0, Ordering::Relaxed);
    write(LVT_TIMER, TIMER_MASKED);
    write(INITIAL_COUNT, 0);
}

/// Halts until the next interrupt: the periodic timer's tick (of [`start_periodic`]) or a
/// device's.
pub fn wait_for_tick() {
    halt_until_interrupt();
}

fn halt_until_interrupt() {
    // `sti; hlt` is atomic with respect to interrupts: one cannot arrive in between and be
    // missed. Interrupts are only ever taken here, so handlers interrupt nothing but `hlt`.
    // SAFETY: the IDT has handlers for every vector this runtime unmasks (the timer, the
    // spurious vector, the device vector of `irq`); they save what they use.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) }
}

/// Acknowledges the interrupt being handled.
pub fn end_of_interrupt() {
    write(EOI, 0);
}
