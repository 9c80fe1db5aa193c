//! The two ACPI tables the runtime reads: MCFG (where PCI Express configuration space is
//! memory-mapped) and MADT (the I/O APIC and how ISA interrupts map onto its inputs).
//!
//! The RSDP comes from the boot information (PVH passes it) or, as the ACPI specification
//! lets a BIOS-booted OS do, from a search of the EBDA's first KiB and 0xE0000-0xFFFFF.
//! Every table is checked (signature, length, checksum) before use; nothing is written.

use crate::BootInfo;

/// What the tables say, reduced to what the runtime uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Acpi {
    /// PCI segment 0's ECAM window: base address and the last bus it covers (from bus 0).
    pub ecam: Option<(u64, u8)>,
    /// The I/O APIC: its address and first global system interrupt.
    pub ioapic: Option<(u64, u32)>,
    /// Interrupt source overrides: ISA IRQ → (GSI, MPS INTI flags), indexed by IRQ.
    pub overrides: [Option<(u32, u16)>; 16],
}

fn read_u8(paddr: u64) -> u8 {
    // SAFETY: callers only pass addresses below 4 GiB (identity-mapped) that lie in the
    // firmware areas or inside a table whose length was checked; reads have no side effects.
    unsafe { (paddr as *const u8).read() }
}

fn read_u16(paddr: u64) -> u16 {
    // SAFETY: as in `read_u8`.
    unsafe { (paddr as *const u16).read_unaligned() }
}

fn read_u32(paddr: u64) -> u32 {
    // SAFETY: as in `read_u8`.
    unsafe { (paddr as *const u32).read_unaligned() }
}

fn read_u64(paddr: u64) -> u64 {
    // SAFETY: as in `read_u8`.
    unsafe { (paddr as *const u64).read_unaligned() }
}

fn sums_to_zero(paddr: u64, len: u64) -> bool {
    (0..len).fold(0u8, |sum, i| sum.wrapping_add(read_u8(paddr + i))) == 0
}

/// Tables are only read below 4 GiB (the identity map) and up to this size.
const MAX_TABLE: u64 = 64 * 1024;

fn readable(paddr: u64, len: u64) -> bool {
    paddr >= 0x1000 && paddr.checked_add(len).is_some_and(|end| end <= 1 << 32)
}

/// The RSDP at `paddr`, if one is there: `(rsdt, xsdt)` addresses.
fn rsdp_at(paddr: u64) -> Option<(u64, u64)> {
    if !readable(paddr, 36) || read_u64(paddr) != u64::from_le_bytes(*b"RSD PTR ") {
        return None;
    }
    if !sums_to_zero(paddr, 20) {
        return None;
    }
    let rsdt = u64::from(read_u32(paddr + 16));
    let xsdt = if read_u8(paddr + 15) >= 2 && sums_to_zero(paddr, 36) {
        read_u64(paddr + 24)
    } else {
        0
    };
    Some((rsdt, xsdt))
}

/// Searches the places a BIOS may put the RSDP, on 16-byte boundaries: the EBDA's first
/// KiB, then 0xE0000-0xFFFFF (SeaBIOS and hvmloader put it in the F segment).
fn find_rsdp() -> Option<(u64, u64)> {
    let ebda = u64::from(read_u16(0x40e)) << 4;
    let ebda = (0x80000..0xa0000)
        .contains(&ebda)
        .then_some((ebda, ebda + 1024));
    ebda.into_iter()
        .chain([(0xf0000, 0x100000), (0xe0000, 0xf0000)])
        .find_map(|(start, end)| {
            let mut at = start;
            while let Some(found) = find_signature(at, end) {
                if found.is_multiple_of(16)
                    && let Some(root) = rsdp_at(found)
                {
                    return Some(root);
                }
                at = found + 8;
            }
            None
        })
}

/// The first 8-byte-aligned "RSD PTR " in `start..end` (`start` 8-byte aligned), with one
/// `repne scasq`: the search is on the boot path, and where a hypervisor emulates guest
/// instructions one string instruction costs far less than a loop of compares.
fn find_signature(start: u64, end: u64) -> Option<u64> {
    const SIGNATURE: u64 = u64::from_le_bytes(*b"RSD PTR ");
    if start >= end {
        return None;
    }
    let mut next = start;
    let found: u8;
    // SAFETY: reads the qwords of `start..end`, inside the identity-mapped BIOS areas
    // (callers pass only those); the direction flag is clear, as the ABI requires.
    unsafe {
        core::arch::asm!(
            "repne scasq",
            "sete {found}",
            found = out(reg_byte) found,
            inout("rdi") next,
            inout("rcx") (end - start) / 8 => _,
            in("rax") SIGNATURE,
            options(readonly, nostack)
        );
    }
    (found != 0).then(|| next - 8)
}

/// A checked table at `paddr`: its length, if its signature is `signature`.
fn table(paddr: u64, signature: &[u8; 4]) -> Option<u64> {
    if !readable(paddr, 36) || read_u32(paddr) != u32::from_le_bytes(*signature) {
        return None;
    }
    let len = u64::from(read_u32(paddr + 4));
    let valid = (36..=MAX_TABLE).contains(&len) && readable(paddr, len) && sums_to_zero(paddr, len);
    valid.then_some(len)
}

/// Finds the table with `signature` through the XSDT (8-byte entries) or the RSDT (4).
fn find(root: (u64, u64), signature: &[u8; 4]) -> Option<(u64, u64)> {
    let (sdt, entry_size, root_signature) = match root {
        (_, xsdt) if xsdt != 0 => (xsdt, 8, b"XSDT"),
        (rsdt, _) => (rsdt, 4, b"RSDT"),
    };
    let len = table(sdt, root_signature)?;
    (36..len)
        .step_by(entry_size)
        .map(|at| match entry_size {
            8 => read_u64(sdt + at),
            _ => u64::from(read_u32(sdt + at)),
        })
        .find_map(|paddr| table(paddr, signature).map(|len| (paddr, len)))
}

/// Reads MCFG and MADT; `None` without an RSDP.
pub fn read(info: &BootInfo) -> Option<Acpi> {
    let root = info.rsdp.and_then(rsdp_at).or_else(find_rsdp)?;
    log::debug!("ACPI: RSDT {:#x}, XSDT {:#x}", root.0, root.1);
    let mut acpi = Acpi::default();
    if let Some((mcfg, len)) = find(root, b"MCFG") {
        // Allocation entries from offset 44: base u64, segment u16, start bus, end bus, 4 reserved.
        acpi.ecam = (44..len)
            .step_by(16)
            .take_while(|at| at + 16 <= len)
            .map(|at| mcfg + at)
            .find(|&entry| read_u16(entry + 8) == 0 && read_u8(entry + 10) == 0)
            .map(|entry| (read_u64(entry), read_u8(entry + 11)));
    }
    if let Some((madt, len)) = find(root, b"APIC") {
        // Entries from offset 44: type, length, body.
        let mut at = 44;
        while at + 2 <= len {
            let (kind, size) = (read_u8(madt + at), u64::from(read_u8(madt + at + 1)));
            if size < 2 || at + size > len {
                break;
            }
            let entry = madt + at;
            match (kind, size) {
                (1, 12) if acpi.ioapic.is_none() => {
                    acpi.ioapic = Some((u64::from(read_u32(entry + 4)), read_u32(entry + 8)));
                }
                (2, 10) => {
                    let (bus, irq) = (read_u8(entry + 2), read_u8(entry + 3));
                    if bus == 0 && irq < 16 {
                        acpi.overrides[usize::from(irq)] =
                            Some((read_u32(entry + 4), read_u16(entry + 8)));
                    }
                }
                _ => {}
            }
            at += size;
        }
    }
    Some(acpi)
}
