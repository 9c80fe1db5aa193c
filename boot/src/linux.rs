//! The Linux x86 boot protocol entry (Documentation/arch/x86/boot.rst, protocol 2.12).
//!
//! Xen's `xl` with `type="hvm"` and `kernel=` hands the file to qemu-xen, whose only loader
//! that works on an unmodified dom0 is the Linux one (`linuxboot.bin`, hvm-boot.md). So
//! `cargo xtask build` also makes `audiovm.bzimage`: the real-mode setup below, then the
//! image's loadable bytes as the "protected-mode kernel", which the loader puts at 1 MiB.
//!
//! The setup runs in real mode with the BIOS still there: it asks the BIOS for the memory
//! map (INT 15h, E820) into the zero page, turns the A20 gate on, switches to 32-bit
//! protected mode, copies the
//! image from 1 MiB to where it is linked (2 MiB: 1 MiB is hvmloader's under Xen), clears
//! its BSS and enters it at `linux_entry` with the address of a zero page it filled in ESI.
//!
//! The setup lives in a non-allocated section: it is never part of the image in memory;
//! xtask cuts it out of the ELF and sets `setup_sects` and `syssize`.

use core::arch::global_asm;

/// Offsets in the zero page (`struct boot_params`).
pub const E820_ENTRIES: u64 = 0x1e8;
pub const CMD_LINE_PTR: u64 = 0x228;
pub const E820_TABLE: u64 = 0x2d0;
/// Entries the zero page holds, and bytes per entry.
pub const E820_MAX: u64 = 128;
pub const E820_ENTRY_SIZE: u64 = 20;

global_asm!(
    r#"
    .section .linux_setup, "", @progbits
    .code16
setup_start:
    .org 0x1f1
    .byte 0                      /* setup_sects: set by xtask */
    .word 0                      /* root_flags */
    .long 0                      /* syssize: set by xtask */
    .word 0, 0, 0                /* ram_size, vid_mode, root_dev */
    .word 0xaa55                 /* boot_flag */
    .org 0x200
    .byte 0xeb, real_start - setup_start - 0x202  /* jmp short real_start */
    .ascii "HdrS"
    .word 0x020c                 /* protocol 2.12 */
    .long 0                      /* realmode_swtch */
    .word 0, 0                   /* start_sys_seg, kernel_version */
    .byte 0                      /* type_of_loader */
    .byte 0x01                   /* loadflags: LOADED_HIGH (kernel at 1 MiB) */
    .word 0                      /* setup_move_size */
    .long 0x100000               /* code32_start */
    .long 0, 0                   /* ramdisk_image, ramdisk_size */
    .long 0                      /* bootsect_kludge */
    .word 0                      /* heap_end_ptr */
    .byte 0, 0                   /* ext_loader_ver, ext_loader_type */
    .long 0                      /* cmd_line_ptr: set by the loader */
    .long 0x7fffffff             /* initrd_addr_max */
    .long 0x200000               /* kernel_alignment */
    .byte 0, 0                   /* relocatable_kernel, min_alignment */
    .word 0                      /* xloadflags */
    .long 1024                   /* cmdline_size */
    .org 0x270
    /* Where the image goes, resolved by the linker. */
image_load:
    .long __load_start
image_load_end:
    .long __load_end
image_bss_end:
    .long __bss_end
image_entry:
    .long linux_entry

real_start:
    cli
    cld
    mov ax, cs
    sub ax, 0x20                 /* the zero page is 0x200 below the entry */
    mov ds, ax
    mov es, ax
    /* Our zero page goes 4 KiB above the setup (the setup's own code overlaps the zero page's
       E820 table): cleared, then the command line pointer and the BIOS memory map. */
    mov di, 0x1000
    mov cx, 0x1000
    xor al, al
    rep stosb
    mov eax, dword ptr [0x228]
    mov dword ptr [0x1000 + 0x228], eax
    xor ebx, ebx
    mov di, 0x1000 + 0x2d0
    xor si, si
2:
    mov eax, 0xe820
    mov edx, 0x534d4150          /* 'SMAP' */
    mov ecx, 20
    int 0x15
    jc 3f
    cmp eax, 0x534d4150
    jne 3f
    inc si
    add di, 20
    cmp si, 128
    jae 3f
    test ebx, ebx
    jnz 2b
3:
    mov ax, si
    mov byte ptr [0x1000 + 0x1e8], al
    /* A20 on (port 0x92, "fast A20"): with it off, reads of the image at 1 MiB wrap to 0. */
    in al, 0x92
    or al, 0x02
    and al, 0xfe
    out 0x92, al
    /* Linear address of the zero page, for the GDT pointer and the far jump. */
    xor ebx, ebx
    mov bx, ds
    shl ebx, 4
    mov eax, ebx
    add eax, offset SETUP_GDT
    mov dword ptr [SETUP_GDT_POINTER + 2], eax
    mov eax, ebx
    add eax, offset PROTECTED
    mov dword ptr [FAR_TARGET], eax
    lgdt [SETUP_GDT_POINTER]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    .byte 0x66, 0xea             /* ljmpl 0x08:protected */
far_target:
    .long 0
    .word 0x08

    .code32
protected:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    /* Copy the image from 1 MiB to its link address, then clear its BSS. */
    mov esi, dword ptr [ebx + 0x214]
    mov edi, dword ptr [ebx + IMAGE_LOAD]
    mov ecx, dword ptr [ebx + IMAGE_LOAD_END]
    sub ecx, edi
    rep movsb
    mov ecx, dword ptr [ebx + IMAGE_BSS_END]
    sub ecx, edi
    xor eax, eax
    rep stosb
    lea esi, [ebx + 0x1000]      /* our zero page */
    mov eax, dword ptr [ebx + IMAGE_ENTRY]
    jmp eax

    .balign 8
setup_gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF     /* 0x08: 32-bit code, flat */
    .quad 0x00CF92000000FFFF     /* 0x10: data, flat */
setup_gdt_pointer:
    .word 23
    .long 0
setup_end:
    /* Offsets from the start of the setup (the zero page), for addressing relative to it. */
    .set SETUP_GDT, setup_gdt - setup_start
    .set SETUP_GDT_POINTER, setup_gdt_pointer - setup_start
    .set PROTECTED, protected - setup_start
    .set FAR_TARGET, far_target - setup_start
    .set IMAGE_LOAD, image_load - setup_start
    .set IMAGE_LOAD_END, image_load_end - setup_start
    .set IMAGE_BSS_END, image_bss_end - setup_start
    .set IMAGE_ENTRY, image_entry - setup_start
    "#
);
