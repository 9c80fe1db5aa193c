//! The audiovm domain image: boot, find the sound card, serve guests.
//!
//! This file only wires the crates together. On the host it builds to a stub so that
//! workspace-wide `cargo test` and `cargo clippy` work; the real image is built for
//! `x86_64-unknown-none` by `cargo xtask build`.

#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod selftest;
#[cfg(target_os = "none")]
mod xen;

#[cfg(target_os = "none")]
mod image {
    use boot::dma::DmaBuffer;
    use boot::exit::{ExitCode, exit};
    use boot::time::TscClock;
    use boot::{BootInfo, cpu, dma, pci};
    use hda::Controller;
    use hda::codec;
    use hda::mmio::Mmio;

    /// Exit codes (after QEMU's mapping, status = 2 * (code + 1) + 1). Code 3 is a CPU
    /// exception (`boot::idt`).
    const EXIT_NO_HDA: u8 = 1;
    const EXIT_PANIC: u8 = 2;
    const EXIT_CONTROLLER: u8 = 4;
    const EXIT_NO_CODEC: u8 = 5;
    const EXIT_NO_PLAYBACK: u8 = 6;
    const EXIT_SELFTEST: u8 = 7;

    boot::entry!(main);

    fn main(info: &BootInfo) -> ! {
        // Xen's leaves sit at 0x40000000, or above Hyper-V's when it presents those too;
        // the full search is 256 CPUIDs (exits), not worth paying on KVM or TCG.
        let xen = match cpu::hypervisor_signature() {
            Some(sig) if &sig == b"XenVMMXenVMM" || &sig == b"Microsoft Hv" => boot::xen::detect(),
            _ => None,
        };
        if xen.is_some() && info.option("audiovm.console") != Some("serial") {
            // Under Xen the UART is emulated in dom0: two round trips per byte. Xen's own
            // debug port (xl dmesg) carries the log; audiovm.console=serial keeps COM1.
            boot::console::serial_off();
        }
        // Every console line costs exits to the hypervisor: at the default level the boot
        // path prints this line and the "ready" line; `audiovm.log=debug` adds the command
        // line, TSC source, every PCI function and every codec widget.
        log::info!(
            "audiovm {} booted via {:?}, memory: {} KiB usable in {} regions",
            env!("CARGO_PKG_VERSION"),
            info.path,
            info.ram_bytes() / 1024,
            info.regions().len(),
        );
        log::debug!(
            "command line: {:?}; TSC {} kHz ({:?}); hypervisor: {}",
            info.cmdline(),
            boot::console::tsc_khz(),
            boot::console::tsc_source(),
            cpu::hypervisor_signature()
                .as_ref()
                .and_then(|sig| core::str::from_utf8(sig).ok())
                .map_or("none", |sig| sig.trim_end_matches('\0'))
        );
        if let Some(fault) = info.option("audiovm.fault") {
            deliberate_fault(fault);
        }
        let acpi = boot::acpi::read(info);
        let access = pci::init(acpi.as_ref());
        let mut hda = None;
        pci::enumerate(|f| {
            log::debug!(
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
        let card = match hda {
            Some(hda) => {
                match sound_card(hda, access, acpi.as_ref(), xen.is_some()) {
                    Ok(card) => Some(card),
                    // On Xen the guests are still served, from a silent sink.
                    Err(_) if xen.is_some() => None,
                    Err(code) => exit(ExitCode::Failure(code)),
                }
            }
            None if xen.is_some() => None,
            None => {
                log::error!(
                    "no HDA controller (PCI configuration space: {access}): attach an Intel HDA device (QEMU: -device intel-hda)"
                );
                exit(ExitCode::Failure(EXIT_NO_HDA));
            }
        };
        // What was found goes on the "ready" line: each line before it is boot time (an exit
        // per byte under a hypervisor).
        match &card {
            Some(card) => {
                let (cad, pin, converter) =
                    (card.codec.cad, card.route.pin(), card.route.converter());
                match &card.capture {
                    Some(c) => log::info!(
                        "ready: {}, config space: {}, interrupts: {}; playback path: codec {cad} pin {pin:#04x} from converter {converter:#04x}; capture path: codec {cad} pin {:#04x} to converter {:#04x}",
                        Named(card.pci),
                        card.access,
                        card.interrupts,
                        c.pin(),
                        c.converter()
                    ),
                    None => log::info!(
                        "ready: {}, config space: {}, interrupts: {}; playback path: codec {cad} pin {pin:#04x} from converter {converter:#04x}; capture path: none (the codec cannot record)",
                        Named(card.pci),
                        card.access,
                        card.interrupts,
                    ),
                }
            }
            None => log::info!("ready: no sound card (PCI configuration space: {access})"),
        }
        if let Some(test) = info.option("audiovm.selftest") {
            let Some(mut card) = card else {
                log::error!("selftest {test}: no sound card");
                exit(ExitCode::Failure(EXIT_SELFTEST));
            };
            match crate::selftest::run(&mut card, test) {
                Ok(()) => {
                    log::info!(
                        "heap: {} bytes in use, peak {}",
                        boot::heap::used(),
                        boot::heap::peak()
                    );
                    exit(ExitCode::Success)
                }
                Err(message) => {
                    log::error!("selftest {test}: {message}");
                    exit(ExitCode::Failure(EXIT_SELFTEST))
                }
            }
        }
        let mut card = card;
        if let Some(card) = card.as_mut()
            && info.option("audiovm.chime") != Some("off")
            && let Err(message) = crate::selftest::chime(card)
        {
            log::warn!("startup chime: {message}");
        }
        match xen {
            Some(base) => crate::xen::serve(info, base, card),
            None => {
                log::info!("idle: no Xen, nothing to serve");
                loop {
                    boot::apic::sleep_us(1_000_000);
                }
            }
        }
    }

    /// A controller with its command transport up and the playback route chosen.
    pub struct Card {
        pub controller: Controller<Mmio, TscClock, DmaBuffer>,
        pub codec: codec::Codec,
        pub route: codec::Route,
        /// The chosen codec's capture route, if it can record.
        pub capture: Option<codec::CaptureRoute>,
        /// Where the controller is, how its configuration space and interrupt are reached.
        pub pci: pci::Function,
        pub access: pci::Access,
        pub interrupts: boot::irq::Mode,
    }

    /// "HDA controller 00:01.0 (8086:293e)", for messages.
    struct Named(pci::Function);

    impl core::fmt::Display for Named {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            let Named(hda) = self;
            write!(
                f,
                "HDA controller {} ({:04x}:{:04x})",
                hda.bdf, hda.vendor, hda.device
            )
        }
    }

    /// Brings the controller up, sets up its interrupt, enumerates every codec and chooses
    /// the playback route.
    fn sound_card(
        hda: pci::Function,
        access: pci::Access,
        acpi: Option<&boot::acpi::Acpi>,
        xen: bool,
    ) -> Result<Card, u8> {
        let bdf = hda.bdf;
        let name = Named(hda);
        let regs = boot::hda::registers(bdf).map_err(|e| {
            log::error!("{name}: unusable BAR0: {e:?}");
            EXIT_CONTROLLER
        })?;
        // The Xen loop polls the card from its 1 ms tick and does not depend on an
        // interrupt (MSI there would go through Xen's and qemu-xen's emulation).
        let interrupts = if xen {
            boot::irq::Mode::Polling("under Xen, from the 1 ms tick")
        } else {
            boot::irq::setup(bdf, acpi)
        };
        log::debug!("{name}: interrupts: {interrupts}");
        let rings = dma::alloc(hda::controller::RING_REGION_BYTES, 4096).ok_or(EXIT_CONTROLLER)?;
        let mut controller = Controller::new(regs, TscClock, rings);
        let gcap = controller.gcap();
        log::debug!(
            "GCAP {gcap:#06x}: {} output, {} input streams",
            gcap >> 12,
            (gcap >> 8) & 0xf
        );
        let codecs = controller.init().map_err(|e| match e {
            hda::Error::NoCodec => {
                log::error!(
                    "{name}: no codec: no codec on the controller's link answers (QEMU: add -device hda-output)"
                );
                EXIT_NO_CODEC
            }
            e => {
                log::error!("{name}: {e}");
                EXIT_CONTROLLER
            }
        })?;
        let mut chosen = None;
        for cad in (0..15u8).filter(|cad| codecs & (1 << cad) != 0) {
            let codec = match codec::enumerate(&mut controller, cad) {
                Ok(codec) => codec,
                Err(e) => {
                    log::warn!("codec {cad}: not usable: {e:?}");
                    continue;
                }
            };
            log::debug!(
                "codec {cad}: vendor {:08x} revision {:08x}, audio function group {}, {} widgets",
                codec.vendor_id,
                codec.revision,
                codec.afg,
                codec.widgets.len()
            );
            for w in &codec.widgets {
                log::debug!(
                    "  node {:#04x} {:?} caps {:08x} pincaps {:08x} config {:08x} connections {:?}",
                    w.nid,
                    w.kind,
                    w.caps,
                    w.pin_caps,
                    w.config,
                    w.connections.as_slice()
                );
            }
            match codec::playback_path(&codec) {
                Some(route) => {
                    log::debug!("codec {cad}: playback route {:?}", route.hops.as_slice());
                    if chosen.is_none() {
                        chosen = Some((codec, route));
                    }
                }
                None => log::debug!("codec {cad}: no playback route"),
            }
        }
        let Some((codec, route)) = chosen else {
            log::error!("{name}: no codec can play: no output pin reaches a converter");
            return Err(EXIT_NO_PLAYBACK);
        };
        let capture = codec::capture_path(&codec);
        Ok(Card {
            controller,
            codec,
            route,
            capture,
            pci: hda,
            access,
            interrupts,
        })
    }

    /// `audiovm.fault=ud|pf`: a hidden switch that faults on purpose, to test exception
    /// reporting end to end.
    fn deliberate_fault(kind: &str) {
        log::warn!("faulting on purpose: {kind}");
        boot::fault::trigger(kind);
        log::warn!("unknown audiovm.fault={kind}, ignored");
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
