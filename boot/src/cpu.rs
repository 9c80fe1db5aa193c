//! CPU helpers.

/// Stops this CPU for good (interrupts off, then `hlt` in a loop).
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: `cli; hlt` stops the CPU; it touches no memory.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) }
    }
}

/// CPUID leaf `leaf`, subleaf 0: (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, 0);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// The hypervisor's CPUID signature (leaf 0x40000000), if the CPU reports running under one:
/// "XenVMMXenVMM" under Xen, "KVMKVMKVM" under KVM, "TCGTCGTCGTCG" under QEMU's TCG.
pub fn hypervisor_signature() -> Option<[u8; 12]> {
    let (_, _, ecx, _) = cpuid(1);
    if ecx & (1 << 31) == 0 {
        return None;
    }
    let (_, b, c, d) = cpuid(0x4000_0000);
    let mut sig = [0u8; 12];
    sig[..4].copy_from_slice(&b.to_le_bytes());
    sig[4..8].copy_from_slice(&c.to_le_bytes());
    sig[8..].copy_from_slice(&d.to_le_bytes());
    Some(sig)
}

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: reading the TSC has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Writes a model-specific register.
///
/// # Safety
/// The MSR must exist and the write must not break an invariant Rust relies on (paging,
/// long mode, memory the hypervisor will write to).
pub(crate) unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller's contract.
    unsafe {
        core::arch::asm!(
            "wrmsr",
            in("ecx") msr,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(nostack, preserves_flags)
        )
    }
}
