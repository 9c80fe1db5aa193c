//! The TSC's frequency, and a clock for drivers' bounded waits.
//!
//! The frequency comes from what the platform states when it states it (the hypervisor's
//! leaves, kvmclock, CPUID leaf 0x15/0x16): measuring against the PIT costs 10 ms of boot,
//! and under a hypervisor every PIT read is an exit whose latency blurs the measurement.

use core::cell::UnsafeCell;

use crate::{console, cpu, port};

/// Where the TSC frequency came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TscSource {
    /// Leaf 0x40000010 (VMware's timing leaf, also QEMU/KVM's with `vmware-cpuid-freq`).
    TimingLeaf,
    /// Xen's leaf base+3, subleaf 0, ECX.
    Xen,
    /// KVM's paravirtual clock: its TSC-to-nanoseconds scale.
    KvmClock,
    /// CPUID leaf 0x15 (TSC/crystal ratio and crystal frequency) or 0x16 (base frequency).
    Cpuid,
    /// Measured against PIT channel 2 for 5 ms.
    Pit,
    /// Nothing worked: 1 GHz assumed.
    Guess,
}

/// The TSC frequency in kHz and where it came from.
pub fn tsc_khz() -> (u64, TscSource) {
    let leaves = hypervisor_leaves();
    if let Some(khz) = leaves.timing.filter(|&khz| khz > 0) {
        return (khz, TscSource::TimingLeaf);
    }
    if let Some(base) = leaves.xen {
        let r = core::arch::x86_64::__cpuid_count(base + 3, 0);
        if r.ecx > 0 {
            return (u64::from(r.ecx), TscSource::Xen);
        }
    }
    if let Some(base) = leaves.kvm
        && let Some(khz) = kvmclock_tsc_khz(base)
    {
        return (khz, TscSource::KvmClock);
    }
    if let Some(khz) = cpuid_tsc_khz() {
        return (khz, TscSource::Cpuid);
    }
    match pit_tsc_khz() {
        Some(khz) => (khz, TscSource::Pit),
        None => (1_000_000, TscSource::Guess),
    }
}

struct HypervisorLeaves {
    /// Leaf 0x40000010's EAX, when the first hypervisor's range reaches it.
    timing: Option<u64>,
    xen: Option<u32>,
    kvm: Option<u32>,
}

/// Scans the first hypervisor leaf ranges (0x40000000, then every 0x100 above: a hypervisor
/// that also presents another's interface, Hyper-V's say, moves its own up). Only the first
/// four: every CPUID is an exit.
fn hypervisor_leaves() -> HypervisorLeaves {
    let mut leaves = HypervisorLeaves {
        timing: None,
        xen: None,
        kvm: None,
    };
    if cpu::hypervisor_signature().is_none() {
        return leaves;
    }
    let max = cpu::cpuid(0x4000_0000).0;
    if (0x4000_0010..0x4000_0100).contains(&max) {
        leaves.timing = Some(u64::from(cpu::cpuid(0x4000_0010).0));
    }
    for base in (0x4000_0000u32..0x4000_0400).step_by(0x100) {
        let (max, b, c, d) = cpu::cpuid(base);
        let signature = [b.to_le_bytes(), c.to_le_bytes(), d.to_le_bytes()];
        if max < base || max > base + 0xff {
            continue;
        }
        match signature.as_flattened() {
            b"XenVMMXenVMM" if max >= base + 3 => leaves.xen = Some(base),
            b"KVMKVMKVM\0\0\0" if max > base => leaves.kvm = Some(base),
            _ => {}
        }
    }
    leaves
}

/// KVM's `pvclock_vcpu_time_info`, which the hypervisor writes where we point its MSR.
#[repr(C, align(64))]
struct PvClock(UnsafeCell<[u32; 8]>);

// SAFETY: only `kvmclock_tsc_khz` touches it, once, on the only CPU, with volatile reads.
unsafe impl Sync for PvClock {}

static PVCLOCK: PvClock = PvClock(UnsafeCell::new([0; 8]));

/// The TSC frequency from kvmclock's scale (ns = ((tsc << shift) * mul) >> 32): KVM fills
/// the structure as soon as the MSR is written; we read it once and switch it off.
fn kvmclock_tsc_khz(base: u32) -> Option<u64> {
    const CLOCKSOURCE2: u32 = 1 << 3;
    const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
    if cpu::cpuid(base + 1).0 & CLOCKSOURCE2 == 0 {
        return None;
    }
    let words = PVCLOCK.0.get() as *mut u32;
    // SAFETY: KVM advertises the MSR (CLOCKSOURCE2); it makes KVM write 32 bytes at the
    // given physical address, our static (identity-mapped), until switched off below.
    unsafe { cpu::wrmsr(MSR_KVM_SYSTEM_TIME_NEW, words as u64 | 1) };
    let mut scale = None;
    for _ in 0..1000 {
        // SAFETY: `words` points at the 32-byte static above; the hypervisor writes it, so
        // every read is volatile. Word 0 is the version (odd while an update is under way),
        // word 6 the multiplier, the low byte of word 7 the signed shift.
        let (v1, mul, shift, v2) = unsafe {
            (
                words.read_volatile(),
                words.add(6).read_volatile(),
                words.add(7).read_volatile() as u8 as i8,
                words.read_volatile(),
            )
        };
        if v1 != 0 && v1 == v2 && v1 % 2 == 0 {
            scale = Some((mul, shift));
            break;
        }
    }
    // SAFETY: switches the updates off again (bit 0 clear).
    unsafe { cpu::wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0) };
    let (mul, shift) = scale.filter(|&(mul, _)| mul != 0)?;
    // Ticks per ns = 2^32 / (mul * 2^shift); kHz = 1e6 times that.
    let khz = (1_000_000u128 << 32) / u128::from(mul);
    let khz = if shift >= 0 {
        khz >> shift
    } else {
        khz << -shift
    };
    u64::try_from(khz).ok().filter(|&khz| khz > 0)
}

/// CPUID 0x15 (TSC = crystal × EBX / EAX) or, without a crystal frequency, 0x16's base MHz.
fn cpuid_tsc_khz() -> Option<u64> {
    let max = cpu::cpuid(0).0;
    if max >= 0x15 {
        let (den, num, crystal_hz, _) = cpu::cpuid(0x15);
        if den != 0 && num != 0 && crystal_hz != 0 {
            return Some(u64::from(crystal_hz) * u64::from(num) / u64::from(den) / 1000);
        }
    }
    if max >= 0x16 {
        let mhz = cpu::cpuid(0x16).0 & 0xffff;
        if mhz != 0 {
            return Some(u64::from(mhz) * 1000);
        }
    }
    None
}

/// Measures the TSC against the PIT (channel 2 counting down 5 ms): the PIT's 1.193182 MHz
/// is the same everywhere. 5 ms keeps the error from the port reads' latency (an exit each
/// under a hypervisor, tens of microseconds at worst) near 1 %. `None` if the PIT never fires.
fn pit_tsc_khz() -> Option<u64> {
    const PIT_HZ: u64 = 1_193_182;
    const TICKS: u16 = 5_966; // 5 ms
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
    (fired && cycles > 0).then(|| cycles * PIT_HZ / (u64::from(TICKS) * 1000))
}

/// Microseconds since boot, and busy-waiting.
pub struct TscClock;

impl hda::Clock for TscClock {
    fn now_us(&mut self) -> u64 {
        console::uptime_us()
    }

    fn delay_us(&mut self, us: u32) {
        let end = console::uptime_us() + u64::from(us);
        while console::uptime_us() < end {
            core::hint::spin_loop();
        }
    }
}
