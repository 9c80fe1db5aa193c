//! Hypercalls through the hypercall page Xen fills in for us (HVM and PVH alike:
//! CPUID leaf base+2 names the MSR to which we write the page's address).

use core::cell::UnsafeCell;

/// Hypercall numbers (`xen/include/public/xen.h`).
pub const XEN_VERSION: usize = 17;
pub const MEMORY_OP: usize = 12;
pub const GRANT_TABLE_OP: usize = 20;
pub const SCHED_OP: usize = 29;
pub const EVENT_CHANNEL_OP: usize = 32;
pub const HVM_OP: usize = 34;

#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; 4096]>);

// SAFETY: Xen writes the page once, when we install it, before any hypercall; afterwards it
// is only executed.
unsafe impl Sync for Page {}

static HYPERCALL_PAGE: Page = Page(UnsafeCell::new([0xc3; 4096])); // `ret` until filled

/// Asks Xen to fill the hypercall page: its guest-physical address goes to `msr`.
pub fn install(msr: u32) {
    // The image is identity-mapped: the page's address is its guest-physical address.
    let address = HYPERCALL_PAGE.0.get() as u64;
    // SAFETY: writing the MSR Xen named in CPUID leaf base+2 is the documented way to get
    // the hypercall page; it only makes Xen write that page.
    unsafe {
        core::arch::asm!(
            "wrmsr",
            in("ecx") msr,
            in("eax") address as u32,
            in("edx") (address >> 32) as u32,
            options(nostack, preserves_flags)
        );
    }
}

/// Calls hypercall `op` with up to three arguments (more are never needed here); returns
/// Xen's result (negative: `-errno`).
///
/// # Safety
/// The arguments must be what the hypercall expects: pointers to live, correctly laid out
/// structures it may read and write.
pub unsafe fn call(op: usize, a1: u64, a2: u64, a3: u64) -> i64 {
    let entry = HYPERCALL_PAGE.0.get() as usize + op * 32;
    let result: i64;
    // SAFETY: the caller vouches for the arguments; each hypercall entry is a 32-byte stub
    // Xen wrote. Debug builds of Xen poison the argument registers, so all are clobbered.
    unsafe {
        core::arch::asm!(
            "call {entry}",
            entry = in(reg) entry,
            inlateout("rdi") a1 => _,
            inlateout("rsi") a2 => _,
            inlateout("rdx") a3 => _,
            lateout("r10") _,
            lateout("r8") _,
            lateout("rax") result,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    result
}
