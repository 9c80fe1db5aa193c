//! Changes to the boot page tables (`entry.rs`: the first 4 GiB identity-mapped with 2 MiB
//! pages, RAM write-back, the top GiB uncached).

unsafe extern "C" {
    /// The four page directories of the identity map: 2048 entries, entry i maps i × 2 MiB.
    static mut boot_pd: [u64; 2048];
}

const PAGE: u64 = 2 << 20;
/// Page-level cache disable and write-through.
const UNCACHED: u64 = 0x18;

/// Makes `base..base + len` uncached, for device memory outside the top GiB (PCI Express
/// configuration space on q35 sits at 2.75 GiB). Whole 2 MiB pages; nothing above 4 GiB.
pub fn set_uncached(base: u64, len: u64) {
    let first = base / PAGE;
    let end = base.saturating_add(len).div_ceil(PAGE).min(2048);
    // SAFETY: only the cache bits of identity-map entries change (same addresses, same
    // permissions); the CPU is the only one and the TLB is flushed by reloading CR3.
    unsafe {
        let pd = &mut *core::ptr::addr_of_mut!(boot_pd);
        for entry in &mut pd[first as usize..end as usize] {
            *entry |= UNCACHED;
        }
        core::arch::asm!(
            "mov {0}, cr3",
            "mov cr3, {0}",
            out(reg) _,
            options(nostack, preserves_flags)
        );
    }
}
