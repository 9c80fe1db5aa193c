//! Leaving the domain: QEMU's `isa-debug-exit` device when present, else halting.
//!
//! `isa-debug-exit` (iobase 0xf4, 4 bytes) turns a write of `v` into QEMU's exit status
//! `(v << 1) | 1`: we write 0 for success (status 1) and 1 + code for failures (status 3,
//! 5, ...). Test harnesses map the status back with [`decode_qemu_status`].

use crate::{console, cpu, port};

/// The `isa-debug-exit` I/O port.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Why the domain stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Success,
    /// A failure; the number says which (see the image's exit codes).
    Failure(u8),
}

/// What a QEMU exit status means, from the host side.
pub fn decode_qemu_status(status: i32) -> Option<ExitCode> {
    match status {
        1 => Some(ExitCode::Success),
        s if s > 1 && s % 2 == 1 => Some(ExitCode::Failure(((s >> 1) - 1) as u8)),
        _ => None,
    }
}

/// Stops the domain with `code`.
pub fn exit(code: ExitCode) -> ! {
    console::flush();
    let value = match code {
        ExitCode::Success => 0,
        ExitCode::Failure(n) => 1 + u32::from(n),
    };
    port::outl(DEBUG_EXIT_PORT, value);
    // No debug-exit device (a real Xen domain): stop here.
    cpu::halt_forever()
}
