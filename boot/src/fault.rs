//! Deliberate faults, for testing exception reporting end to end (`audiovm.fault=ud|pf`).

/// Raises the named fault: `ud` (invalid opcode) or `pf` (page fault above the identity
/// map). Returns for any other name.
pub fn trigger(kind: &str) {
    match kind {
        // SAFETY: executes an undefined instruction on purpose; the exception handler
        // reports it and stops the domain, so nothing runs after it.
        "ud" => unsafe { core::arch::asm!("ud2", options(nomem, nostack)) },
        // SAFETY: reads an address above the 4 GiB identity map on purpose; the page fault
        // handler reports it and stops the domain.
        "pf" => unsafe {
            core::ptr::read_volatile(0x10_0000_0000 as *const u64);
        },
        _ => {}
    }
}
