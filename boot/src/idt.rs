//! Exceptions: every CPU exception is reported on the console (vector, name, error code,
//! RIP, CR2) and the domain stops with a failure exit. Nothing here tries to recover: an
//! exception in the driver domain is a bug, and a clean report is what fixes it.

use core::arch::global_asm;
use core::fmt::Write;

use crate::console::Console;
use crate::exit::{ExitCode, exit};

/// The exit code for a CPU exception.
pub const EXIT_EXCEPTION: u8 = 3;

global_asm!(
    r#"
    .macro exception_without_code n
exception_stub_\n:
    push 0
    push \n
    jmp exception_common
    .endm
    .macro exception_with_code n
exception_stub_\n:
    push \n
    jmp exception_common
    .endm

    .section .text.exceptions, "ax"
    exception_without_code 0
    exception_without_code 1
    exception_without_code 2
    exception_without_code 3
    exception_without_code 4
    exception_without_code 5
    exception_without_code 6
    exception_without_code 7
    exception_with_code 8
    exception_without_code 9
    exception_with_code 10
    exception_with_code 11
    exception_with_code 12
    exception_with_code 13
    exception_with_code 14
    exception_without_code 15
    exception_without_code 16
    exception_with_code 17
    exception_without_code 18
    exception_without_code 19
    exception_without_code 20
    exception_with_code 21
    exception_without_code 22
    exception_without_code 23
    exception_without_code 24
    exception_without_code 25
    exception_without_code 26
    exception_without_code 27
    exception_without_code 28
    exception_with_code 29
    exception_with_code 30
    exception_without_code 31
exception_common:
    mov rdi, rsp
    and rsp, -16
    call {report}
    ud2

    /* The APIC timer only wakes a halted CPU: acknowledge it and return. */
timer_interrupt:
    push rax
    mov eax, 0xFEE000B0
    mov dword ptr [rax], 0
    pop rax
    iretq
spurious_interrupt:
    iretq

    /* A device interrupt (irq.rs): count it, mask its I/O APIC input if it has one (the
       driver loop acknowledges the device, then unmasks), acknowledge it to the local APIC. */
device_interrupt:
    push rax
    push rcx
    lock inc dword ptr [rip + DEVICE_INTERRUPTS]
    mov ecx, dword ptr [rip + DEVICE_IOAPIC_SELECT]
    test ecx, ecx
    jz 1f
    mov rax, qword ptr [rip + DEVICE_IOAPIC_BASE]
    mov dword ptr [rax], ecx
    mov ecx, dword ptr [rip + DEVICE_IOAPIC_MASKED]
    mov dword ptr [rax + 0x10], ecx
1:
    mov eax, 0xFEE000B0
    mov dword ptr [rax], 0
    pop rcx
    pop rax
    iretq

    .section .rodata.exceptions, "a"
    .balign 8
    .global exception_stubs
exception_stubs:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad exception_stub_\n
    .endr
    .global timer_interrupt_stub
timer_interrupt_stub:
    .quad timer_interrupt
    .global spurious_interrupt_stub
spurious_interrupt_stub:
    .quad spurious_interrupt
    .global device_interrupt_stub
device_interrupt_stub:
    .quad device_interrupt
    "#,
    report = sym report,
);

unsafe extern "C" {
    static exception_stubs: [u64; 32];
    static timer_interrupt_stub: u64;
    static spurious_interrupt_stub: u64;
    static device_interrupt_stub: u64;
}

#[repr(C, packed)]
struct IdtPointer {
    limit: u16,
    base: u64,
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attributes: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const EMPTY_GATE: Gate = Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    attributes: 0,
    offset_mid: 0,
    offset_high: 0,
    reserved: 0,
};

static mut IDT: [Gate; 256] = [EMPTY_GATE; 256];

/// A present, ring-0, 64-bit interrupt gate to `handler`.
fn gate(handler: u64) -> Gate {
    Gate {
        offset_low: handler as u16,
        selector: 0x08,
        ist: 0,
        attributes: 0x8e,
        offset_mid: (handler >> 16) as u16,
        offset_high: (handler >> 32) as u32,
        reserved: 0,
    }
}

/// Installs the exception gates and the APIC timer, spurious and device interrupt gates.
pub fn init() {
    // SAFETY: runs once at boot on the only CPU, before interrupts are enabled; the stub
    // table is defined in the assembly above.
    unsafe {
        let stubs = &*core::ptr::addr_of!(exception_stubs);
        let idt = &mut *core::ptr::addr_of_mut!(IDT);
        for (entry, &stub) in idt.iter_mut().zip(stubs.iter()) {
            *entry = gate(stub);
        }
        idt[usize::from(crate::apic::TIMER_VECTOR)] =
            gate(*core::ptr::addr_of!(timer_interrupt_stub));
        idt[usize::from(crate::apic::SPURIOUS_VECTOR)] =
            gate(*core::ptr::addr_of!(spurious_interrupt_stub));
        idt[usize::from(crate::irq::DEVICE_VECTOR)] =
            gate(*core::ptr::addr_of!(device_interrupt_stub));
        let pointer = IdtPointer {
            limit: (core::mem::size_of_val(idt) - 1) as u16,
            base: idt.as_ptr() as u64,
        };
        core::arch::asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack, preserves_flags));
    }
}

const NAMES: [&str; 32] = [
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "coprocessor segment overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack fault",
    "#GP general protection",
    "#PF page fault",
    "reserved",
    "#MF x87 floating point",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD floating point",
    "#VE virtualization",
    "#CP control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "#HV hypervisor injection",
    "#VC VMM communication",
    "#SX security",
    "reserved",
];

/// The stack the stubs build: vector, error code, then the CPU's frame.
#[repr(C)]
struct Frame {
    vector: u64,
    error: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

extern "C" fn report(frame: *const Frame) -> ! {
    // SAFETY: the stub passes the address of the frame it just pushed.
    let frame = unsafe { &*frame };
    let cr2: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack, preserves_flags))
    };
    let name = NAMES
        .get(frame.vector as usize)
        .copied()
        .unwrap_or("unknown");
    let _ = writeln!(
        Console::new(),
        "\nEXCEPTION {} ({name}): error code {:#x}, RIP {:#x}, CR2 {:#x}, RSP {:#x}, RFLAGS {:#x}, CS {:#x}, SS {:#x}",
        frame.vector,
        frame.error,
        frame.rip,
        cr2,
        frame.rsp,
        frame.rflags,
        frame.cs,
        frame.ss
    );
    exit(ExitCode::Failure(EXIT_EXCEPTION))
}
