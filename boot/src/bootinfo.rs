//! What the loader told us, whichever way we were started: one value, so nothing after the
//! entry needs to know the boot protocol (Hermit's `StartInfo` idea).
//!
//! Sources: Multiboot 1 information (`multiboot.h`: flags, cmdline, mmap) and Xen's
//! `struct hvm_start_info` (`xen/include/public/arch-x86/hvm/start_info.h`). Everything is
//! copied out of loader memory into this value, bounded, at entry.

/// How the image was entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootPath {
    /// A Multiboot 1 loader (QEMU `-kernel`, GRUB, qemu-xen's multiboot ROM).
    Multiboot,
    /// The Xen PVH entry (`XEN_ELFNOTE_PHYS32_ENTRY`): a PVH domain, or QEMU's PVH loader.
    Pvh,
    /// The Linux x86 boot protocol (`audiovm.bzimage`): qemu-xen's `kernel=` for an HVM
    /// domain, QEMU's `-kernel`.
    Linux,
}

/// One memory map entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryRegion {
    pub base: u64,
    pub len: u64,
    /// E820 type: 1 is usable RAM.
    pub kind: u32,
}

impl MemoryRegion {
    pub const fn is_ram(&self) -> bool {
        self.kind == 1
    }
}

/// The most memory map entries kept; loaders give a handful.
pub const MAX_REGIONS: usize = 32;
/// The longest command line kept.
pub const MAX_CMDLINE: usize = 1024;

/// The normalised boot information.
pub struct BootInfo {
    pub path: BootPath,
    regions: [MemoryRegion; MAX_REGIONS],
    region_count: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    /// The ACPI RSDP's physical address, when the loader passed it (PVH does).
    pub rsdp: Option<u64>,
}

impl BootInfo {
    pub const fn empty(path: BootPath) -> BootInfo {
        BootInfo {
            path,
            regions: [MemoryRegion {
                base: 0,
                len: 0,
                kind: 0,
            }; MAX_REGIONS],
            region_count: 0,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            rsdp: None,
        }
    }

    /// The memory map.
    pub fn regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }

    /// Usable RAM in bytes.
    pub fn ram_bytes(&self) -> u64 {
        self.regions()
            .iter()
            .filter(|r| r.is_ram())
            .map(|r| r.len)
            .sum()
    }

    /// The command line (invalid UTF-8 is cut at the first bad byte).
    pub fn cmdline(&self) -> &str {
        let bytes = &self.cmdline[..self.cmdline_len];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }

    /// The value of `key=value` on the command line.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.cmdline().split_ascii_whitespace().find_map(|word| {
            word.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
        })
    }

    /// Adds a region; entries past [`MAX_REGIONS`] are dropped.
    pub fn push_region(&mut self, region: MemoryRegion) {
        if self.region_count < MAX_REGIONS && region.len > 0 {
            self.regions[self.region_count] = region;
            self.region_count += 1;
        }
    }

    /// Sets the command line from loader bytes (stops at NUL, truncates at [`MAX_CMDLINE`]).
    pub fn set_cmdline(&mut self, bytes: impl Iterator<Item = u8>) {
        self.cmdline_len = 0;
        for b in bytes.take_while(|&b| b != 0).take(MAX_CMDLINE) {
            self.cmdline[self.cmdline_len] = b;
            self.cmdline_len += 1;
        }
    }
}

/// Multiboot 1 information structure offsets and flags.
pub mod multiboot {
    /// `eax` at a Multiboot entry.
    pub const BOOTLOADER_MAGIC: u32 = 0x2bad_b002;
    pub const FLAGS: usize = 0;
    pub const CMDLINE: usize = 16;
    pub const MMAP_LENGTH: usize = 44;
    pub const MMAP_ADDR: usize = 48;
    pub const FLAG_CMDLINE: u32 = 1 << 2;
    pub const FLAG_MMAP: u32 = 1 << 6;
}

/// `struct hvm_start_info` offsets.
pub mod hvm_start_info {
    pub const MAGIC_VALUE: u32 = 0x336e_c578;
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 4;
    pub const CMDLINE_PADDR: usize = 24;
    pub const RSDP_PADDR: usize = 32;
    pub const MEMMAP_PADDR: usize = 40;
    pub const MEMMAP_ENTRIES: usize = 48;
    /// `struct hvm_memmap_table_entry`: addr u64, size u64, type u32, reserved u32.
    pub const MEMMAP_ENTRY_SIZE: usize = 24;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_found_by_key() {
        let mut info = BootInfo::empty(BootPath::Multiboot);
        info.set_cmdline(
            b"console=com1 audiovm.selftest=tone:440:2 audiovm.selftestx=no\0junk"
                .iter()
                .copied(),
        );
        assert_eq!(
            info.cmdline(),
            "console=com1 audiovm.selftest=tone:440:2 audiovm.selftestx=no"
        );
        assert_eq!(info.option("audiovm.selftest"), Some("tone:440:2"));
        assert_eq!(info.option("audiovm.fault"), None);
    }

    #[test]
    fn the_memory_map_is_bounded() {
        let mut info = BootInfo::empty(BootPath::Pvh);
        for i in 0..100 {
            info.push_region(MemoryRegion {
                base: i << 20,
                len: 1 << 20,
                kind: 1,
            });
        }
        assert_eq!(info.regions().len(), MAX_REGIONS);
        assert_eq!(info.ram_bytes(), (MAX_REGIONS as u64) << 20);
    }
}
