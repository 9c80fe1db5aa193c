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
        let xen = boot::xen::detect();
        if xen.is_some() && info.option("audiovm.console") != Some("serial") {
            // Under Xen the UART is emulated in dom0: two round trips per byte. Xen's own
            // debug port (xl dmesg) carries the log; audiovm.console=serial keeps COM1.
            boot::console::serial_off();
        }
        log::info!(
            "audiovm {} booted via {:?}",
            env!("CARGO_PKG_VERSION"),
            info.path
        );
        log::info!("command line: {:?}", info.cmdline());
        // `audiovm.log=debug` also shows every codec widget (each console line costs an
        // exit to the hypervisor, so the default stays short).
        match info.option("audiovm.log") {
            Some("debug") => log::set_max_level(log::LevelFilter::Debug),
            Some("warn") => log::set_max_level(log::LevelFilter::Warn),
            _ => {}
        }
        log::info!(
            "TSC: {} kHz, APIC timer: {} kHz",
            boot::console::tsc_khz(),
            boot::apic::timer_khz()
        );
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
        let card = match hda {
            Some(hda) => {
                log::info!(
                    "HDA controller {} ({:04x}:{:04x})",
                    hda.bdf,
                    hda.vendor,
                    hda.device
                );
                match sound_card(hda.bdf) {
                    Ok(card) => Some(card),
                    // On Xen the guests are still served, from a silent sink.
                    Err(_) if xen.is_some() => None,
                    Err(code) => exit(ExitCode::Failure(code)),
                }
            }
            None if xen.is_some() => None,
            None => {
                log::error!(
                    "no HDA controller: attach an Intel HDA device (QEMU: -device intel-hda)"
                );
                exit(ExitCode::Failure(EXIT_NO_HDA));
            }
        };
        log::info!("ready");
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
    }

    /// Brings the controller up, enumerates every codec and chooses the playback route.
    fn sound_card(bdf: pci::Bdf) -> Result<Card, u8> {
        let regs = boot::hda::registers(bdf).map_err(|e| {
            log::error!("HDA controller {bdf}: unusable BAR0: {e:?}");
            EXIT_CONTROLLER
        })?;
        let rings = dma::alloc(hda::controller::RING_REGION_BYTES, 4096).ok_or(EXIT_CONTROLLER)?;
        let mut controller = Controller::new(regs, TscClock, rings);
        let gcap = controller.gcap();
        log::info!(
            "GCAP {gcap:#06x}: {} output, {} input streams",
            gcap >> 12,
            (gcap >> 8) & 0xf
        );
        let codecs = controller.init().map_err(|e| match e {
            hda::Error::NoCodec => {
                log::error!(
                    "no codec: no codec on the HDA controller's link answers (QEMU: add -device hda-output)"
                );
                EXIT_NO_CODEC
            }
            e => {
                log::error!("HDA controller {bdf}: {e}");
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
            log::info!(
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
                    log::info!("codec {cad}: playback route {:?}", route.hops.as_slice());
                    if chosen.is_none() {
                        chosen = Some((codec, route));
                    }
                }
                None => log::info!("codec {cad}: no playback route"),
            }
        }
        let Some((codec, route)) = chosen else {
            log::error!("no codec can play: no output pin reaches a converter");
            return Err(EXIT_NO_PLAYBACK);
        };
        // Open the route for stream tag 1 at 48 kHz, 16-bit stereo.
        log::info!(
            "playback path: codec {} pin {:#04x} from converter {:#04x}",
            codec.cad,
            route.pin(),
            route.converter()
        );
        let capture = codec::capture_path(&codec);
        match &capture {
            Some(c) => log::info!(
                "capture path: codec {} pin {:#04x} to converter {:#04x}",
                codec.cad,
                c.pin(),
                c.converter()
            ),
            None => log::info!("capture path: none (the codec cannot record)"),
        }
        Ok(Card {
            controller,
            codec,
            route,
            capture,
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
