//! Sound without Xen: the startup chime, and the standalone self-tests
//! (`audiovm.selftest=tone:<hz>:<seconds>` (seconds may have up to three decimals) plays a sine at -6 dBFS on both channels through
//! the chosen playback path, continuously; `audiovm.selftest=capture:<seconds>` records from
//! the chosen capture path and logs the frames captured and their peak level;
//! `audiovm.selftest=ready` stops once the card is up).

use audio_hal::tone::Sine;
use boot::dma;
use hda::stream::{OutputStream, format_word};
use hda::{DmaRegion, Registers, codec};

use crate::image::Card;

/// Stream tag of the playback stream.
const TAG: u8 = 1;
const RATE: u32 = 48000;
const CHANNELS: u8 = 2;
/// 1024 frames of 16-bit stereo per period, 4 periods: 85 ms of buffer.
const PERIOD_BYTES: u32 = 4096;
const PERIODS: u32 = 4;
const FRAME_BYTES: u64 = 4;
/// Half of full scale: -6.02 dBFS.
const AMPLITUDE_Q15: i32 = 16384;
/// How often the loops look at the stream without an interrupt, and, with one, the timer
/// that stands in for an interrupt that does not come.
const POLL_US: u64 = 1_000;
const SAFETY_TICK_US: u64 = 10_000;

/// `<seconds>[.<up to 3 decimals>]` in milliseconds.
fn parse_ms(seconds: &str) -> Option<u64> {
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fraction = fraction
        .bytes()
        .zip([100, 10, 1])
        .map(|(digit, scale)| u64::from(digit - b'0') * scale)
        .sum::<u64>();
    let whole: u64 = match whole {
        "" if fraction > 0 => 0,
        whole => whole.parse().ok()?,
    };
    whole.checked_mul(1000)?.checked_add(fraction)
}

/// Wakes the loops that drive a stream: on each completed period when the card has an
/// interrupt (`boot::irq`), with a slow timer as the safety net; from a 1 ms timer otherwise.
struct Pacer {
    interrupt: bool,
    /// Device interrupts taken.
    taken: u32,
}

impl Pacer {
    fn start<B: DmaRegion, L: DmaRegion, R: Registers>(
        stream: &mut OutputStream<B, L>,
        regs: &mut R,
    ) -> Pacer {
        let interrupt = boot::irq::active();
        if interrupt {
            stream.acknowledge(regs);
            stream.enable_interrupt(regs);
            boot::irq::rearm();
        }
        boot::apic::start_periodic(if interrupt { SAFETY_TICK_US } else { POLL_US });
        Pacer {
            interrupt,
            taken: 0,
        }
    }

    /// Halts until the stream's interrupt or the timer; acknowledges the interrupt.
    fn wait<B: DmaRegion, L: DmaRegion, R: Registers>(
        &mut self,
        stream: &OutputStream<B, L>,
        regs: &mut R,
    ) {
        boot::apic::wait_for_tick();
        if self.interrupt {
            let taken = boot::irq::take();
            if taken > 0 {
                self.taken += taken;
                stream.acknowledge(regs);
                boot::irq::rearm();
            }
        }
    }

    /// Stops the timer and the stream's interrupt; returns the interrupts taken.
    fn stop<B: DmaRegion, L: DmaRegion, R: Registers>(
        self,
        stream: &mut OutputStream<B, L>,
        regs: &mut R,
    ) -> u32 {
        boot::apic::stop_periodic();
        if self.interrupt {
            stream.disable_interrupt(regs);
            stream.acknowledge(regs);
            boot::irq::take();
            boot::irq::rearm();
        }
        self.taken
    }
}

/// Runs the self-test named by `spec`.
pub fn run(card: &mut Card, spec: &str) -> Result<(), &'static str> {
    let mut parts = spec.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("ready"), None, None, None) => Ok(()),
        (Some("tone"), Some(hz), Some(seconds), None) => {
            let hz = hz.parse().map_err(|_| "tone frequency is not a number")?;
            let ms = parse_ms(seconds).ok_or("tone duration is not a number of seconds")?;
            let mut sine = Sine::new(hz, RATE, AMPLITUDE_Q15)
                .ok_or("tone frequency must be below 24000 Hz")?;
            log::info!("tone: {hz} Hz, -6 dBFS, {seconds} s at {RATE} Hz 16-bit stereo");
            play(card, ms * u64::from(RATE) / 1000, || sine.next_sample())
        }
        (Some("capture"), Some(seconds), None, None) => {
            let ms = parse_ms(seconds).ok_or("capture duration is not a number of seconds")?;
            record(card, ms * u64::from(RATE) / 1000)
        }
        _ => Err("unknown self-test (expected ready, tone:<hz>:<seconds> or capture:<seconds>)"),
    }
}

/// Two rising notes (E5, then A5), so a newcomer hears that the domain drives the card.
pub fn chime(card: &mut Card) -> Result<(), &'static str> {
    const FIRST: u64 = RATE as u64 * 15 / 100;
    const TOTAL: u64 = RATE as u64 * 40 / 100;
    let mut low = Sine::new(659, RATE, AMPLITUDE_Q15 / 2).ok_or("bad note")?;
    let mut high = Sine::new(880, RATE, AMPLITUDE_Q15 / 2).ok_or("bad note")?;
    let mut frame = 0u64;
    play(card, TOTAL, || {
        frame += 1;
        if frame <= FIRST {
            low.next_sample()
        } else {
            high.next_sample()
        }
    })
}

/// Plays `frames` frames of `next_sample` on both channels, continuously, through the card's
/// playback route, refilling each period as soon as the hardware has fetched it.
fn play(
    card: &mut Card,
    frames: u64,
    mut next_sample: impl FnMut() -> i16,
) -> Result<(), &'static str> {
    let format = format_word(RATE, CHANNELS).ok_or("unsupported format")?;
    let verbs = codec::activation(&card.codec, &card.route, TAG, format);
    codec::apply(&mut card.controller, card.codec.cad, &verbs)
        .map_err(|_| "the codec did not take the route's verbs")?;
    // Positions come from the DMA position buffer: polling a register would cost an exit to
    // the hypervisor every time.
    let positions = dma::alloc(4096, 4096).ok_or("out of DMA memory")?;
    let position_buffer = card.controller.enable_position_buffer(&positions);
    let buffer = dma::alloc((PERIODS * PERIOD_BYTES) as usize, 4096).ok_or("out of DMA memory")?;
    let bdl = dma::alloc(4096, 4096).ok_or("out of DMA memory")?;
    let (regs, clock) = card.controller.regs_and_clock();
    let mut stream =
        OutputStream::prepare(regs, clock, buffer, bdl, PERIODS, PERIOD_BYTES, TAG, format)
            .map_err(|_| "the output stream did not reset")?;
    let cyclic = u64::from(PERIODS * PERIOD_BYTES);
    let total = frames * FRAME_BYTES;
    let mut written = 0u64;
    let mut period = [0u8; PERIOD_BYTES as usize];
    let mut fill = |stream: &mut OutputStream<_, _>, written: &mut u64| {
        for frame in period.chunks_exact_mut(FRAME_BYTES as usize) {
            let sample = next_sample().to_le_bytes();
            frame[..2].copy_from_slice(&sample);
            frame[2..].copy_from_slice(&sample);
        }
        stream.write((*written % cyclic) as u32, &period);
        *written += u64::from(PERIOD_BYTES);
    };
    while written < cyclic {
        fill(&mut stream, &mut written);
    }
    let mut pacer = Pacer::start(&mut stream, regs);
    stream
        .start(regs, clock)
        .map_err(|_| "the output stream did not start")?;
    let started = boot::console::uptime_us();
    let limit = started + (frames / u64::from(RATE) + 5) * 1_000_000;
    let mut consumed = 0;
    while consumed < total {
        let position = if position_buffer {
            positions.read32(8 * stream.index() as usize)
        } else {
            stream.link_position(regs)
        };
        consumed = stream.advance(position);
        // Keep every period the hardware has finished refilled, one period behind it.
        while written < consumed + cyclic - u64::from(PERIOD_BYTES) {
            fill(&mut stream, &mut written);
        }
        if boot::console::uptime_us() > limit {
            pacer.stop(&mut stream, regs);
            let _ = stream.stop(regs, clock);
            return Err("the stream stopped advancing");
        }
        pacer.wait(&stream, regs);
    }
    let interrupts = pacer.stop(&mut stream, regs);
    stream
        .stop(regs, clock)
        .map_err(|_| "the output stream did not stop")?;
    let elapsed = boot::console::uptime_us() - started;
    log::info!(
        "played {} frames in {} ms, woken by {interrupts} card interrupts",
        consumed / FRAME_BYTES,
        elapsed / 1000
    );
    let _ = stream.bdl().len();
    Ok(())
}

/// Records `frames` frames through the card's capture route and logs how many arrived and
/// their peak level.
fn record(card: &mut Card, frames: u64) -> Result<(), &'static str> {
    let route = card
        .capture
        .clone()
        .ok_or("the codec has no capture path")?;
    let format = format_word(RATE, CHANNELS).ok_or("unsupported format")?;
    let verbs = codec::capture_activation(&card.codec, &route, 2, format);
    codec::apply(&mut card.controller, card.codec.cad, &verbs)
        .map_err(|_| "the codec did not take the capture route's verbs")?;
    let positions = dma::alloc(4096, 4096).ok_or("out of DMA memory")?;
    let position_buffer = card.controller.enable_position_buffer(&positions);
    let buffer = dma::alloc((PERIODS * PERIOD_BYTES) as usize, 4096).ok_or("out of DMA memory")?;
    let bdl = dma::alloc(4096, 4096).ok_or("out of DMA memory")?;
    let (regs, clock) = card.controller.regs_and_clock();
    let mut stream =
        OutputStream::prepare_input(regs, clock, buffer, bdl, PERIODS, PERIOD_BYTES, 2, format)
            .map_err(|_| "the input stream did not reset")?;
    let mut pacer = Pacer::start(&mut stream, regs);
    stream
        .start(regs, clock)
        .map_err(|_| "the input stream did not start")?;
    let started = boot::console::uptime_us();
    let limit = started + (frames / u64::from(RATE) + 5) * 1_000_000;
    let (total, mut read, mut peak) = (frames * FRAME_BYTES, 0u64, 0i32);
    let mut chunk = [0u8; PERIOD_BYTES as usize];
    while read < total {
        let position = if position_buffer {
            positions.read32(8 * stream.index() as usize)
        } else {
            stream.link_position(regs)
        };
        let recorded = stream.advance(position);
        // Whole periods as they complete; the last one may be partial.
        loop {
            let n = u64::from(PERIOD_BYTES).min(total - read);
            if n == 0 || read + n > recorded {
                break;
            }
            let chunk = &mut chunk[..n as usize];
            stream.read((read % u64::from(PERIODS * PERIOD_BYTES)) as u32, chunk);
            for sample in chunk.chunks_exact(2) {
                peak = peak.max(i32::from(i16::from_le_bytes([sample[0], sample[1]])).abs());
            }
            read += n;
        }
        if boot::console::uptime_us() > limit {
            pacer.stop(&mut stream, regs);
            let _ = stream.stop(regs, clock);
            return Err("the input stream stopped advancing");
        }
        pacer.wait(&stream, regs);
    }
    let interrupts = pacer.stop(&mut stream, regs);
    stream
        .stop(regs, clock)
        .map_err(|_| "the input stream did not stop")?;
    log::info!(
        "captured {} frames in {} ms, peak {peak} of 32768, woken by {interrupts} card interrupts",
        read / FRAME_BYTES,
        (boot::console::uptime_us() - started) / 1000
    );
    Ok(())
}
