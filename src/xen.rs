//! On Xen: connect to xenstore, and serve every vsnd frontend from the card (or, without
//! one, from a silent sink that still keeps time), one tick per millisecond.

use audio_hal::{
    AudioDevice, Capabilities, Direction, Error, FormatSet, PcmFormat, PcmParams, PcmStream,
};
use boot::BootInfo;
use boot::console::uptime_us;
use boot::dma::{self, DmaBuffer};
use boot::exit::{ExitCode, exit};
use boot::xen::Xen;
use hda::device::{DmaAlloc, HdaDevice};
use vsnd_backend::policy::{Config, EventIds, GuestPolicy};
use vsnd_backend::xenbus::Backend;
use xen_ring::evtchn::EventChannels;
use xen_ring::grant::GrantTable;
use xen_ring::xs::{NO_TRANSACTION, Xenstore};

use crate::image::Card;

/// Time per tick for sending queued log text (a fifth of the tick).
const LOG_BUDGET_US: u64 = 200;
/// Exit code when Xen is there but unusable.
const EXIT_XEN: u8 = 8;

/// DMA memory for the card's streams, from boot's pool.
struct BootDma;

impl DmaAlloc for BootDma {
    type Region = DmaBuffer;
    fn alloc(&mut self, bytes: usize, align: usize) -> Option<DmaBuffer> {
        dma::alloc(bytes, align)
    }
}

/// Serves guests forever.
pub fn serve(info: &BootInfo, base: u32, card: Option<Card>) -> ! {
    let xen = Xen::init(base).unwrap_or_else(|e| fail(e));
    log::info!("Xen {}.{}", xen.version.0, xen.version.1);
    let mut xs = xen.xenstore().unwrap_or_else(|e| fail(e));
    let mut buf = [0u8; 16];
    let domid = xs
        .read(NO_TRANSACTION, "domid", &mut buf)
        .ok()
        .and_then(|n| core::str::from_utf8(&buf[..n]).ok()?.parse().ok())
        .unwrap_or_else(|| fail("cannot read our domid from xenstore"));
    xs.set_domid(domid);
    log::info!("domid {domid}");
    match xen.console() {
        Ok(console) => boot::console::use_pv_console(console),
        Err(e) => log::warn!("no PV console ({e}): the log stays on the debug port"),
    }
    let grants = xen.grants(info).unwrap_or_else(|e| fail(e));
    let evtchn = xen.event_channels();
    let config = policy(info);
    match card {
        Some(card) => {
            let device = HdaDevice::new(
                card.controller,
                card.codec,
                card.route,
                card.capture,
                BootDma,
            );
            run(Backend::start(xs, grants, evtchn, device, config))
        }
        None => {
            log::warn!("no sound card: serving guests from a silent sink");
            run(Backend::start(
                xs,
                grants,
                evtchn,
                SilentSink::default(),
                config,
            ))
        }
    }
}

fn fail(why: impl core::fmt::Display) -> ! {
    log::error!("xen: {why}");
    exit(ExitCode::Failure(EXIT_XEN))
}

fn run<X: Xenstore, G: GrantTable, E: EventChannels, D: AudioDevice>(
    backend: Result<Backend<X, G, E, D>, xen_ring::xs::XsError>,
) -> ! {
    // On the heap: the xenstore client's buffers make the backend tens of KiB.
    let mut backend = alloc::boxed::Box::new(backend.unwrap_or_else(|e| fail(e)));
    log::info!(
        "vsnd backend ready (heap {} KiB in use)",
        boot::heap::used() / 1024
    );
    // Handshake work ticks the card between xenstore round trips (see Backend::set_clock).
    backend.set_clock(uptime_us);
    // Log lines leave once per tick from now on, into the PV console.
    boot::console::defer();
    boot::apic::start_periodic(1000);
    loop {
        // Audio first: a guest coming or going costs many xenstore round trips.
        let now = uptime_us();
        backend.tick(now);
        backend.service(now);
        backend.poll();
        boot::console::drain(LOG_BUDGET_US);
        boot::apic::wait_for_tick();
    }
}

/// The policy from the command line: `audiovm.capture=<domid>,<domid>` lets those guests
/// record; `audiovm.event-ids=auto|connection|open` sets the CUR_POS numbering;
/// `audiovm.max-buffer=<bytes>` caps guest buffers; `audiovm.lead-us=<us>` sets the mixer's
/// lead over the card (default 1000).
fn policy(info: &BootInfo) -> Config {
    let mut config = Config::default();
    if let Some(ids) = info.option("audiovm.event-ids") {
        config.default.event_ids = match ids {
            "connection" => EventIds::PerConnection,
            "open" => EventIds::PerOpen,
            _ => EventIds::Auto,
        };
    }
    if let Some(bytes) = info
        .option("audiovm.max-buffer")
        .and_then(|b| b.parse().ok())
    {
        config.default.max_buffer_bytes = bytes;
    }
    // The mixer's lead over the card, in microseconds: latency traded for robustness on a
    // host that does not run the domain every millisecond (nested emulation, overcommit).
    if let Some(us) = info
        .option("audiovm.lead-us")
        .and_then(|us| us.parse::<u64>().ok())
    {
        config.lead_frames = (us * 48 / 1000).clamp(1, 8192) as u32;
    }
    for domid in info
        .option("audiovm.capture")
        .unwrap_or("")
        .split(',')
        .filter_map(|d| d.parse().ok())
    {
        config.guests.insert(
            domid,
            GuestPolicy {
                capture: true,
                ..config.default
            },
        );
    }
    log::info!(
        "policy: capture for {:?}, event ids {:?}, buffers up to {} bytes, lead {} frames",
        config.guests.keys().collect::<alloc::vec::Vec<_>>(),
        config.default.event_ids,
        config.default.max_buffer_bytes,
        config.lead_frames
    );
    config
}

/// A card that plays into nothing at 48 kHz, with a position that follows the clock, so
/// guests without a real card (a PVH domain cannot have one passed through) still run.
#[derive(Default)]
struct SilentSink {
    stream: SilentStream,
}

#[derive(Default)]
struct SilentStream {
    bytes: u32,
    started_us: Option<u64>,
    position: u64,
}

impl PcmStream for SilentStream {
    fn prepare(&mut self, params: PcmParams, buffer: u32, _: u32) -> Result<(), Error> {
        self.bytes = buffer * params.frame_bytes().ok_or(Error::InvalidParams)?;
        Ok(())
    }
    fn start(&mut self) -> Result<(), Error> {
        self.started_us = Some(uptime_us() - self.position * 1_000_000 / 48_000);
        Ok(())
    }
    fn stop(&mut self) -> Result<(), Error> {
        self.started_us = None;
        Ok(())
    }
    fn position(&mut self) -> Result<u64, Error> {
        if let Some(start) = self.started_us {
            self.position = (uptime_us() - start) * 48 / 1000;
        }
        Ok(self.position)
    }
    fn write(&mut self, _: u32, _: &[u8]) -> Result<(), Error> {
        Ok(())
    }
    fn read(&mut self, _: u32, _: &mut [u8]) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn buffer_bytes(&self) -> u32 {
        self.bytes
    }
}

impl AudioDevice for SilentSink {
    type Stream = SilentStream;
    fn capabilities(&self, direction: Direction) -> Result<Capabilities, Error> {
        if direction == Direction::Capture {
            return Err(Error::Unsupported);
        }
        Ok(Capabilities {
            rates: 1 << 6, // 48 kHz
            formats: FormatSet::EMPTY.with(PcmFormat::S16Le),
            channels_min: 2,
            channels_max: 2,
            buffer_bytes_min: 64,
            buffer_bytes_max: 64 * 1024,
            period_bytes_min: 64,
            period_bytes_max: 32 * 1024,
        })
    }
    fn stream(&mut self, direction: Direction) -> Result<&mut SilentStream, Error> {
        match direction {
            Direction::Playback => Ok(&mut self.stream),
            Direction::Capture => Err(Error::Unsupported),
        }
    }
}
