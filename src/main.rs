//! The audiovm domain image: boot, find the sound card, serve guests.
//!
//! This file only wires the crates together. On the host it builds to a stub so that
//! workspace-wide `cargo test` and `cargo clippy` work; the real image is built for
//! `x86_64-unknown-none` by `cargo xtask build`.

#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod image {
    use core::panic::PanicInfo;

    /// Entry point. Nothing is wired yet: the image halts.
    #[unsafe(no_mangle)]
    #[unsafe(link_section = ".text.boot")]
    pub extern "C" fn _start() -> ! {
        halt()
    }

    fn halt() -> ! {
        loop {
            // SAFETY: `hlt` only pauses the CPU until the next interrupt; it touches no memory.
            unsafe { core::arch::asm!("hlt", options(nomem, nostack)) }
        }
    }

    #[panic_handler]
    fn panic(_info: &PanicInfo) -> ! {
        halt()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("audiovm is a bare-metal image: build it with `cargo xtask build`.");
    std::process::exit(2);
}
