//! The audiovm domain image: boot, find the sound card, serve guests.
//!
//! This file only wires the crates together. On the host it builds to a stub so that
//! workspace-wide `cargo test` and `cargo clippy` work; the real image is built for
//! `x86_64-unknown-none` by `cargo xtask build`.

#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod image {
    use boot::exit::{ExitCode, exit};
    use boot::{BootInfo, cpu, pci};

    /// Exit codes (after QEMU's mapping, status = 2 * (code + 1) + 1).
    const EXIT_NO_HDA: u8 = 1;
    const EXIT_PANIC: u8 = 2;
    /// Code 3 is a CPU exception (`boot::idt`).
    const EXIT_NO_DRIVER: u8 = 4;

    boot::entry!(main);

    fn main(info: &BootInfo) -> ! {
        log::info!(
            "audiovm {} booted via {:?}",
            env!("CARGO_PKG_VERSION"),
            info.path
        );
        log::info!("command line: {:?}", info.cmdline());
        log::info!(
            "memory: {} KiB usable in {} regions",
            info.ram_bytes() / 1024,
            info.regions().len()
        );
        match cpu::hypervisor_signature() {
            Some(sig) => log::info!(
                "hypervisor: {}",
                core::str::from_utf8(&sig)
                    .unwrap_or("?")
                    .trim_end_matches('\0')
            ),
            None => log::info!("hypervisor: none"),
        }
        if let Some(fault) = info.option("audiovm.fault") {
            deliberate_fault(fault);
        }
        let mut hda = None;
        pci::enumerate(|f| {
            log::info!(
                "pci {} {:04x}:{:04x} class {:06x}",
                f.bdf,
                f.vendor,
                f.device,
                f.class
            );
            if f.class == pci::CLASS_HDA && hda.is_none() {
                hda = Some(f);
            }
        });
        let Some(hda) = hda else {
            log::error!("no HDA controller: attach an Intel HDA device (QEMU: -device intel-hda)");
            exit(ExitCode::Failure(EXIT_NO_HDA));
        };
        log::info!(
            "HDA controller {} ({:04x}:{:04x})",
            hda.bdf,
            hda.vendor,
            hda.device
        );
        log::error!("the HDA driver is not part of this build yet: stopping");
        exit(ExitCode::Failure(EXIT_NO_DRIVER))
    }

    /// `audiovm.fault=ud|pf`: a hidden switch that faults on purpose, to test exception
    /// reporting end to end.
    fn deliberate_fault(kind: &str) {
        log::warn!("faulting on purpose: {kind}");
        match kind {
            // SAFETY: deliberately executes an undefined instruction; the exception handler
            // reports it and stops the domain.
            "ud" => unsafe { core::arch::asm!("ud2") },
            // SAFETY: deliberately reads an unmapped address (above the 4 GiB identity map).
            "pf" => unsafe {
                core::ptr::read_volatile(0x10_0000_0000 as *const u64);
            },
            other => log::warn!("unknown audiovm.fault={other}, ignored"),
        }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        log::error!("panic: {info}");
        exit(ExitCode::Failure(EXIT_PANIC))
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("audiovm is a bare-metal image: build it with `cargo xtask build`.");
    std::process::exit(2);
}
