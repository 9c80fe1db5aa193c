//! The way in: the Multiboot 1 header and the Xen PVH note, the 32-bit entry code both lead
//! to, the switch to 64-bit long mode, and the first Rust function.
//!
//! Both loaders enter in 32-bit protected mode with paging off. The entry identity-maps the
//! first 4 GiB with 2 MiB pages (RAM write-back, the top 1 GiB, where PCI MMIO lives,
//! uncached), enables long mode and jumps to [`rust_entry`] with the loader's magic and
//! information pointer.

use core::arch::global_asm;

use crate::bootinfo::{self, BootInfo, BootPath, MemoryRegion, hvm_start_info, multiboot};
use crate::{console, idt};

global_asm!(
    r#"
    .section .multiboot_header, "a"
    .balign 4
multiboot_header:
    .long 0x1BADB002                       /* magic */
    .long 0x00010002                       /* flags: memory map, a.out kludge addresses */
    .long -(0x1BADB002 + 0x00010002)       /* checksum */
    .long multiboot_header                 /* header_addr */
    .long __load_start                     /* load_addr */
    .long __load_end                       /* load_end_addr */
    .long __bss_end                        /* bss_end_addr */
    .long multiboot_entry                  /* entry_addr */

    .section .note.Xen, "a"
    .balign 4
    .long 4                                /* name size */
    .long 4                                /* descriptor size */
    .long 18                               /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_entry

    .section .text.boot, "ax"
    .code32
    .global multiboot_entry
multiboot_entry:
    mov edi, 1                             /* BootPath::Multiboot; eax = loader magic */
    mov esi, ebx                           /* multiboot information */
    jmp 2f
pvh_entry:
    mov edi, 2                             /* BootPath::Pvh */
    mov esi, ebx                           /* hvm_start_info */
    mov eax, 0x336ec578
    jmp 2f
    .global linux_entry
linux_entry:                               /* from the Linux boot-protocol setup (linux.rs) */
    mov edi, 3                             /* BootPath::Linux; esi = the zero page */
    xor eax, eax
2:
    cli
    cld
    mov ebp, eax                           /* keep the magic */
    rdtsc                                  /* the console's clock starts here */
    mov [boot_entry_tsc], eax
    mov [boot_entry_tsc + 4], edx
    mov esp, offset boot_stack_top

    /* PML4[0] -> PDPT; PDPT[0..4] -> four page directories of 2 MiB pages. */
    mov eax, offset boot_pdpt
    or eax, 0x3
    mov [boot_pml4], eax
    xor ecx, ecx
3:
    mov eax, ecx
    shl eax, 12
    add eax, offset boot_pd
    or eax, 0x3
    mov [boot_pdpt + ecx * 8], eax
    inc ecx
    cmp ecx, 4
    jne 3b
    /* 2048 entries, entry i maps i * 2 MiB; the upper halves stay 0 from the zeroed BSS.
       Few instructions per entry: under an emulating hypervisor each one counts. */
    mov ebx, offset boot_pd                /* (edi and esi carry the path and info) */
    mov eax, 0x83                          /* present, writable, 2 MiB page */
    mov ecx, 1536                          /* 0-3 GiB: RAM, write-back */
4:
    mov [ebx], eax
    add eax, 0x200000
    add ebx, 8
    dec ecx
    jnz 4b
    or eax, 0x18                           /* 3-4 GiB: PCI MMIO hole, cache disabled */
    mov ecx, 512
5:
    mov [ebx], eax
    add eax, 0x200000
    add ebx, 8
    dec ecx
    jnz 5b

    mov eax, offset boot_pml4
    mov cr3, eax
    mov eax, cr4
    or eax, 0x620                          /* PAE, OSFXSR, OSXMMEXCPT */
    mov cr4, eax
    mov ecx, 0xC0000080                    /* EFER */
    rdmsr
    or eax, 0x100                          /* LME */
    wrmsr
    mov eax, cr0
    and eax, 0xFFFFFFFB                    /* no FPU emulation */
    or eax, 0x80000003                     /* paging, protection, monitor coprocessor */
    mov cr0, eax
    lgdt [boot_gdt_pointer]
    .byte 0xEA                             /* ljmp 0x08:long_mode (ptr16:32) */
    .long long_mode
    .word 0x08

    .code64
long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor ax, ax
    mov fs, ax
    mov gs, ax
    mov rsp, offset boot_stack_top
    mov edx, ebp                           /* loader magic */
    call {rust_entry}
    ud2

    .section .rodata.boot, "a"
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF               /* 0x08: 64-bit code */
    .quad 0x00CF92000000FFFF               /* 0x10: data */
boot_gdt_pointer:
    .word boot_gdt_pointer - boot_gdt - 1
    .quad boot_gdt

    .section .bss.boot, "aw", @nobits
    .balign 8
    .global boot_entry_tsc
boot_entry_tsc:
    .skip 8
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
    .global boot_pd
boot_pd:
    .skip 4096 * 4
boot_stack:
    .skip 256 * 1024
boot_stack_top:
    "#,
    rust_entry = sym rust_entry,
);

/// The first Rust code: builds the [`BootInfo`] and hands over to the image.
extern "C" fn rust_entry(path: u32, info_paddr: u32, magic: u32) -> ! {
    console::init(log::LevelFilter::Info);
    idt::init();
    crate::apic::init();
    let path = match path {
        1 => BootPath::Multiboot,
        2 => BootPath::Pvh,
        _ => BootPath::Linux,
    };
    let mut info = BootInfo::empty(path);
    match path {
        BootPath::Multiboot if magic == multiboot::BOOTLOADER_MAGIC => {
            read_multiboot(&mut info, info_paddr)
        }
        BootPath::Pvh if read_u32(u64::from(info_paddr)) == hvm_start_info::MAGIC_VALUE => {
            read_hvm_start_info(&mut info, info_paddr)
        }
        BootPath::Linux => read_zero_page(&mut info, info_paddr),
        _ => log::warn!("boot: loader information missing or invalid (magic {magic:#x})"),
    }
    match info.option("audiovm.log") {
        Some("debug") => log::set_max_level(log::LevelFilter::Debug),
        Some("warn") => log::set_max_level(log::LevelFilter::Warn),
        _ => {}
    }
    let heap = crate::heap::init(&info);
    log::debug!("heap: {} KiB", heap / 1024);
    unsafe extern "Rust" {
        fn audiovm_main(info: &BootInfo) -> !;
    }
    // SAFETY: the image defines `audiovm_main` with this signature through `boot::entry!`.
    unsafe { audiovm_main(&info) }
}

fn read_u32(paddr: u64) -> u32 {
    // SAFETY: the loader passed this address inside the identity-mapped first 4 GiB; the
    // structures are read before anything could reuse that memory.
    unsafe { (paddr as *const u32).read_unaligned() }
}

fn read_u64(paddr: u64) -> u64 {
    // SAFETY: as for `read_u32`.
    unsafe { (paddr as *const u64).read_unaligned() }
}

fn read_u8(paddr: u64) -> u8 {
    // SAFETY: as for `read_u32`.
    unsafe { (paddr as *const u8).read() }
}

/// Bytes of a NUL-terminated loader string, bounded by the caller.
fn c_string(paddr: u64) -> impl Iterator<Item = u8> {
    (0..bootinfo::MAX_CMDLINE as u64).map(move |i| read_u8(paddr + i))
}

fn in_low_4g(paddr: u64, len: u64) -> bool {
    paddr != 0 && paddr.checked_add(len).is_some_and(|end| end <= 1 << 32)
}

fn read_multiboot(info: &mut BootInfo, mbi: u32) {
    let mbi = u64::from(mbi);
    let flags = read_u32(mbi + multiboot::FLAGS as u64);
    if flags & multiboot::FLAG_CMDLINE != 0 {
        let cmdline = u64::from(read_u32(mbi + multiboot::CMDLINE as u64));
        if in_low_4g(cmdline, bootinfo::MAX_CMDLINE as u64) {
            info.set_cmdline(c_string(cmdline));
        }
    }
    if flags & multiboot::FLAG_MMAP != 0 {
        let len = u64::from(read_u32(mbi + multiboot::MMAP_LENGTH as u64)).min(4096);
        let addr = u64::from(read_u32(mbi + multiboot::MMAP_ADDR as u64));
        let mut at = 0;
        // Entries: size (not counting itself), base u64, length u64, type u32.
        while in_low_4g(addr + at, 24) && at + 24 <= len {
            let size = u64::from(read_u32(addr + at)).max(20);
            info.push_region(MemoryRegion {
                base: read_u64(addr + at + 4),
                len: read_u64(addr + at + 12),
                kind: read_u32(addr + at + 20),
            });
            at += size + 4;
        }
    }
}

fn read_hvm_start_info(info: &mut BootInfo, start: u32) {
    use hvm_start_info::*;
    let start = u64::from(start);
    let cmdline = read_u64(start + CMDLINE_PADDR as u64);
    if in_low_4g(cmdline, bootinfo::MAX_CMDLINE as u64) {
        info.set_cmdline(c_string(cmdline));
    }
    let rsdp = read_u64(start + RSDP_PADDR as u64);
    info.rsdp = (rsdp != 0).then_some(rsdp);
    if read_u32(start + VERSION as u64) >= 1 {
        let table = read_u64(start + MEMMAP_PADDR as u64);
        let entries =
            u64::from(read_u32(start + MEMMAP_ENTRIES as u64)).min(bootinfo::MAX_REGIONS as u64);
        for i in 0..entries {
            let entry = table + i * MEMMAP_ENTRY_SIZE as u64;
            if !in_low_4g(entry, MEMMAP_ENTRY_SIZE as u64) {
                break;
            }
            info.push_region(MemoryRegion {
                base: read_u64(entry),
                len: read_u64(entry + 8),
                kind: read_u32(entry + 16),
            });
        }
    }
}

fn read_zero_page(info: &mut BootInfo, zero_page: u32) {
    use crate::linux::*;
    let zero_page = u64::from(zero_page);
    let cmdline = u64::from(read_u32(zero_page + CMD_LINE_PTR));
    if in_low_4g(cmdline, bootinfo::MAX_CMDLINE as u64) {
        info.set_cmdline(c_string(cmdline));
    }
    let entries = u64::from(read_u8(zero_page + E820_ENTRIES)).min(E820_MAX);
    for i in 0..entries {
        let entry = zero_page + E820_TABLE + i * E820_ENTRY_SIZE;
        info.push_region(MemoryRegion {
            base: read_u64(entry),
            len: read_u64(entry + 8),
            kind: read_u32(entry + 16),
        });
    }
}
