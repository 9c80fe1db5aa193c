//! x86 I/O ports.

/// Writes a byte to an I/O port.
#[cfg(target_arch = "x86_64")]
pub fn outb(port: u16, value: u8) {
    // SAFETY: port I/O has no memory effects visible to Rust; the ports this runtime uses
    // (serial, debug console, debug exit, PCI config) are owned by it.
    unsafe {
        core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a byte from an I/O port.
#[cfg(target_arch = "x86_64")]
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outb`.
    unsafe {
        core::arch::asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Writes a 32-bit value to an I/O port.
#[cfg(target_arch = "x86_64")]
pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe {
        core::arch::asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a 32-bit value from an I/O port.
#[cfg(target_arch = "x86_64")]
pub fn inl(port: u16) -> u32 {
    let value: u32;
    // SAFETY: as for `outb`.
    unsafe {
        core::arch::asm!("in eax, dx", in("dx") port, out("eax") value, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Writes `bytes` to an I/O port with one `rep outsb`.
#[cfg(target_arch = "x86_64")]
pub fn outsb(port: u16, bytes: &[u8]) {
    // SAFETY: as for `outb`; `rep outsb` reads `rcx` bytes at `rsi` (the slice) upwards
    // (the direction flag is clear, as the ABI requires).
    unsafe {
        core::arch::asm!(
            "rep outsb",
            in("dx") port,
            inout("rsi") bytes.as_ptr() => _,
            inout("rcx") bytes.len() => _,
            options(readonly, nostack, preserves_flags)
        )
    }
}
