//! Streams over the host register model: the descriptor reset handshake, what a started
//! stream must satisfy on real hardware (CBL, LVI, alignment, tags, format), byte-wide
//! status handling and interrupts, FIFO and descriptor errors, position sources, start and
//! stop read-back, capture data, and DMA stopped before memory is freed. Each test names
//! its hda.md §6 item.

mod model;

use audio_hal::{AudioDevice, Direction, Error, PcmFormat, PcmParams, PcmStream};
use hda::Controller;
use hda::codec;
use hda::controller::RING_REGION_BYTES;
use hda::device::HdaDevice;
use hda::wallclock::Period;
use model::{FakeClock, Model, ModelDma, ModelRegs, capture_byte};

type Card = HdaDevice<ModelRegs, FakeClock, ModelDma>;

/// The model's first output and first input descriptor (4 inputs come first).
const OUT: usize = 4;
const IN: usize = 0;
const LPIB_OUT: usize = 0x80 + 0x20 * OUT + 4;
const S16_48K: PcmParams = PcmParams {
    format: PcmFormat::S16Le,
    rate: 48_000,
    channels: 2,
};
/// One millisecond at 48 kHz: 48 frames of 4 bytes.
const FRAMES_PER_MS: u64 = 48;
/// A period of 2 ms (384 bytes: periods are whole multiples of 128 bytes).
const PERIOD: u32 = 96;

fn card_with(model: &Model, interrupts: bool) -> Card {
    let rings = model.dma().region(RING_REGION_BYTES, 4096);
    let mut c = Controller::new(model.regs(), model.clock(), rings);
    assert_eq!(c.init(), Ok(1));
    if interrupts {
        c.enable_interrupts();
    }
    let codec = codec::enumerate(&mut c, 0).expect("model codec enumerates");
    let route = codec::playback_path(&codec).expect("playback route");
    let capture = codec::capture_path(&codec);
    HdaDevice::new(c, codec, route, capture, model.dma())
}

fn card(model: &Model) -> Card {
    card_with(model, false)
}

/// Playback prepared with `periods` periods of 2 ms, filled with a ramp, and started.
fn playing(model: &Model, card: &mut Card, periods: u32) -> Vec<u8> {
    let s = card.stream(Direction::Playback).unwrap();
    s.prepare(S16_48K, periods * PERIOD, PERIOD).unwrap();
    let data: Vec<u8> = (0..s.buffer_bytes())
        .map(|i| (i * 13 % 256) as u8)
        .collect();
    s.write(0, &data).unwrap();
    s.start().unwrap();
    assert!(model.hw().stream_running(OUT));
    data
}

// §6 item 18: QEMU before 7.0 never reads back SRST=1: the reset goes on after a bounded
// wait and the stream plays what was written.
#[test]
fn stream_reset_goes_on_when_srst_never_reads_one() {
    let model = Model::new();
    model.hw().faults.srst_never_reads_one = true;
    let mut card = card(&model);
    let data = playing(&model, &mut card, 4);
    model.advance_ms(4);
    let played = model.hw().played(OUT).to_vec();
    assert_eq!(played.len(), 4 * 192);
    assert!(
        played == data[..played.len()],
        "played bytes differ from the buffer"
    );
    model.assert_clean();
}

// §6 item 18: SRST that never clears again → a timeout error, bounded; nothing runs.
#[test]
fn stream_reset_stuck_in_reset_is_a_timeout() {
    let model = Model::new();
    let mut card = card(&model);
    model.hw().faults.srst_stuck = true;
    let start = model.hw().now_us;
    let s = card.stream(Direction::Playback).unwrap();
    assert_eq!(s.prepare(S16_48K, 4 * PERIOD, PERIOD), Err(Error::Timeout));
    assert!(model.hw().now_us - start < 100_000);
    assert!(!model.hw().stream_running(OUT));
    drop(card);
    model.assert_clean();
}

// §6 item 18: every descriptor register is programmed again after each reset, whether the
// reset clears them (hardware) or leaves them stale (QEMU): a second preparation with
// another rate and size plays exactly its own data from position 0.
#[test]
fn descriptor_is_fully_reprogrammed_after_each_reset() {
    for stale in [false, true] {
        let model = Model::new();
        model.hw().faults.sd_registers_survive_reset = stale;
        let mut card = card(&model);
        playing(&model, &mut card, 8);
        model.advance_ms(3);
        let s = card.stream(Direction::Playback).unwrap();
        s.stop().unwrap();
        let already = model.hw().played(OUT).len();
        let params = PcmParams {
            rate: 44_100,
            ..S16_48K
        };
        s.prepare(params, 3 * 448, 448).unwrap();
        let data: Vec<u8> = (0..s.buffer_bytes()).map(|i| (i * 7 % 256) as u8).collect();
        s.write(0, &data).unwrap();
        s.start().unwrap();
        assert_eq!(s.position(), Ok(0), "stale {stale}");
        // Polled every millisecond: positions count wraps only when polled within a buffer.
        for _ in 0..40 {
            model.advance_ms(1);
            s.position().unwrap();
        }
        let played = model.hw().played(OUT)[already..].to_vec();
        let first_difference = played.iter().zip(&data).position(|(a, b)| a != b);
        assert_eq!(first_difference, None, "stale {stale}: played bytes differ");
        assert_eq!(s.position(), Ok(played.len() as u64 / 4), "stale {stale}");
        drop(card);
        model.assert_clean();
    }
}

// §6 items 18 and 24: preparing a stream that is running stops it (RUN read back 0)
// before the descriptor reset, even when RUN takes a while to clear.
#[test]
fn preparing_a_running_stream_stops_it_before_the_reset() {
    let model = Model::new();
    model.hw().faults.run_readback_delay_us = 300;
    let mut card = card(&model);
    playing(&model, &mut card, 4);
    model.advance_ms(3);
    let s = card.stream(Direction::Playback).unwrap();
    s.prepare(S16_48K, 8 * PERIOD, PERIOD).unwrap();
    s.start().unwrap();
    model.advance_ms(3);
    drop(card);
    model.assert_clean();
}

// §6 item 20: a started stream satisfies what hardware relies on (the model checks at RUN:
// CBL = sum of the BDL, LVI ≥ 1, 128-byte aligned BDL, tag ≠ 0 and distinct between the
// running streams, SDnFMT = the converter's format), playback and capture together.
#[test]
fn started_streams_satisfy_the_hardware_rules() {
    let model = Model::new();
    let mut card = card(&model);
    playing(&model, &mut card, 3);
    let s = card.stream(Direction::Capture).unwrap();
    s.prepare(S16_48K, 4 * PERIOD, PERIOD).unwrap();
    s.start().unwrap();
    assert!(model.hw().stream_running(IN));
    model.advance_ms(10);
    drop(card);
    model.assert_clean();
}

// §6 item 20: a buffer of one period (LVI would be 0) is refused before touching hardware.
#[test]
fn single_period_buffer_is_refused() {
    let model = Model::new();
    let mut card = card(&model);
    let s = card.stream(Direction::Playback).unwrap();
    assert_eq!(
        s.prepare(S16_48K, PERIOD, PERIOD),
        Err(Error::InvalidParams)
    );
    assert!(!model.hw().stream_running(OUT));
}

// §6 item 21: IOC on every period, IOCE set, each BCIS acknowledged by a byte write of
// SDnSTS (the model flags any wider write over it), and the interrupt line drops each time.
#[test]
fn every_period_interrupts_once_and_is_acknowledged_bytewise() {
    let model = Model::new();
    let mut card = card_with(&model, true);
    playing(&model, &mut card, 4);
    for period in 0..10 {
        model.advance_ms(2);
        assert!(model.hw().irq_line(), "no interrupt for period {period}");
        let report = card.controller().handle_interrupt().unwrap().expect("ours");
        assert_eq!(report.streams, 1 << OUT);
        assert_eq!(report.stream_errors, 0);
        assert!(
            !model.hw().irq_line(),
            "line still asserted after period {period}"
        );
    }
    drop(card);
    model.assert_clean();
}

// §6 item 22: a descriptor error stops the DMA: the position stalls, the driver finds DESE,
// stops the stream and reports a hardware error; preparing again restarts it.
#[test]
fn descriptor_error_stops_the_stream_reports_it_and_restart_works() {
    let model = Model::new();
    let mut card = card(&model);
    playing(&model, &mut card, 4);
    model.advance_ms(2);
    model.hw().faults.descriptor_error = true;
    model.advance_ms(2);
    let s = card.stream(Direction::Playback).unwrap();
    let mut result = Ok(0);
    for _ in 0..3 {
        result = s.position();
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(Error::Hardware));
    assert!(!model.hw().stream_running(OUT), "stream left running");
    s.prepare(S16_48K, 4 * PERIOD, PERIOD).unwrap();
    s.start().unwrap();
    model.advance_ms(2);
    assert_eq!(s.position(), Ok(2 * FRAMES_PER_MS));
    drop(card);
    model.assert_clean();
}

// §6 item 22: a FIFO error raises an interrupt (FEIE set) that is acknowledged and reported
// as a stream error.
#[test]
fn fifo_error_interrupt_is_reported_and_acknowledged() {
    let model = Model::new();
    let mut card = card_with(&model, true);
    playing(&model, &mut card, 4);
    model.hw().faults.no_bcis = true; // only the error raises the line
    model.hw().faults.fifo_error = true;
    model.advance_ms(1);
    assert!(model.hw().irq_line());
    let report = card.controller().handle_interrupt().unwrap().expect("ours");
    assert_eq!(report.stream_errors, 1 << OUT);
    assert!(!model.hw().irq_line());
}

// §6 item 22: positions come from the DMA position, not from counting BCIS: with BCIS
// missing, or set on every step, the position is the same.
#[test]
fn position_does_not_depend_on_bcis() {
    for (no_bcis, storm) in [(true, false), (false, true)] {
        let model = Model::new();
        let mut card = card(&model);
        model.hw().faults.no_bcis = no_bcis;
        model.hw().faults.bcis_storm = storm;
        playing(&model, &mut card, 4);
        let s = card.stream(Direction::Playback).unwrap();
        for ms in 1..=20 {
            model.advance_ms(1);
            assert_eq!(
                s.position(),
                Ok(ms * FRAMES_PER_MS),
                "no_bcis {no_bcis} storm {storm}"
            );
        }
    }
}

// §6 item 23: a position buffer stuck at 0 or at 0xFFFFFFFF → positions from LPIB,
// correct through several wraps of the buffer. (A 0 is believed once: every stream starts
// there, so the first read may lag.)
#[test]
fn stuck_position_buffer_falls_back_to_lpib() {
    for stuck in [0, u32::MAX] {
        let model = Model::new();
        let mut card = card(&model);
        model.hw().faults.posbuf_stuck = Some(stuck);
        playing(&model, &mut card, 4);
        let s = card.stream(Direction::Playback).unwrap();
        model.advance_ms(1);
        s.position().unwrap();
        for ms in 2..=20 {
            model.advance_ms(1);
            assert_eq!(
                s.position(),
                Ok(ms * FRAMES_PER_MS),
                "stuck at {stuck:#x}, {ms} ms"
            );
        }
    }
}

// §6 item 23: a position that goes back for a moment (a stale read of the position buffer,
// seen under Xen passthrough) is no wrap: counting it as one would put the mixer a whole
// buffer ahead of the DMA, a buffer of silence for every guest.
#[test]
fn a_stale_backwards_position_is_not_counted_as_a_wrap() {
    let model = Model::new();
    let mut card = card(&model);
    // 128 ms of buffer: the DMA has not wrapped yet when the stale read comes.
    playing(&model, &mut card, 64);
    let s = card.stream(Direction::Playback).unwrap();
    for ms in 1..=10 {
        model.advance_ms(1);
        assert_eq!(s.position(), Ok(ms * FRAMES_PER_MS));
    }
    // The buffer shows where the DMA was 5 ms ago.
    model.hw().faults.posbuf_stuck = Some((5 * FRAMES_PER_MS * 4) as u32);
    model.advance_ms(1);
    let during = s.position().unwrap();
    assert!(
        during <= 11 * FRAMES_PER_MS,
        "{during} frames: a wrap was counted"
    );
    model.hw().faults.posbuf_stuck = None;
    for ms in 12..=30 {
        model.advance_ms(1);
        assert_eq!(s.position(), Ok(ms * FRAMES_PER_MS));
    }
}

// §6 item 23: a healthy position buffer is trusted through its wraps (where it reads 0)
// and LPIB is read at most rarely: reading it costs a hypervisor exit.
#[test]
fn healthy_position_buffer_spares_lpib_reads() {
    let model = Model::new();
    let mut card = card(&model);
    playing(&model, &mut card, 4);
    let s = card.stream(Direction::Playback).unwrap();
    let before = model.hw().reads.get(&LPIB_OUT).copied().unwrap_or(0);
    for ms in 1..=40 {
        model.advance_ms(1);
        assert_eq!(s.position(), Ok(ms * FRAMES_PER_MS));
    }
    let lpib_reads = model.hw().reads.get(&LPIB_OUT).copied().unwrap_or(0) - before;
    assert!(lpib_reads <= 10, "LPIB read {lpib_reads} times in 40 polls");
}

/// Runs playback with interrupts for `ms` milliseconds, 2 ms periods, and returns how each
/// millisecond's interrupt was classified (`None`: no period interrupt).
fn period_interrupts(model: &Model, card: &mut Card, ms: u64) -> Vec<Option<Period>> {
    playing(model, card, 4);
    (0..ms)
        .map(|_| {
            model.advance_ms(1);
            card.handle_interrupt()
                .unwrap()
                .and_then(|irq| irq.periods[0])
        })
        .collect()
}

// §6 item 23: interrupts that come before two thirds of a period has passed on the wall
// clock (BCIS on every 1 ms DMA step, with 2 ms periods) are reported early, to be looked
// at again later; the real period ends are reported elapsed.
#[test]
fn early_period_interrupt_is_deferred() {
    let model = Model::new();
    let mut card = card_with(&model, true);
    model.hw().faults.bcis_storm = true;
    let seen = period_interrupts(&model, &mut card, 8);
    let expected: Vec<_> = (1..=8)
        .map(|ms| {
            Some(if ms % 2 == 0 {
                Period::Elapsed
            } else {
                Period::Early
            })
        })
        .collect();
    assert_eq!(seen, expected);
}

// §6 item 29: WALCLK wraps (every ~179 s) 3 ms into the stream: period interrupts on both
// sides of the wrap are classified as they would be anywhere else, healthy or early.
#[test]
fn wall_clock_wrap_does_not_disturb_period_checks() {
    for storm in [false, true] {
        let model = Model::new();
        let mut card = card_with(&model, true);
        let wrap_in_3_ms = (model.hw().now_us + 3000) * 24;
        model.hw().wallclock_start = 0u32.wrapping_sub(wrap_in_3_ms as u32);
        model.hw().faults.bcis_storm = storm;
        let seen = period_interrupts(&model, &mut card, 8);
        let expected: Vec<_> = (1..=8)
            .map(|ms| match (ms % 2 == 0, storm) {
                (true, _) => Some(Period::Elapsed),
                (false, true) => Some(Period::Early),
                (false, false) => None,
            })
            .collect();
        assert_eq!(seen, expected, "storm {storm}");
    }
}

// §6 item 24: start and stop wait for RUN to read back (here 0.5 ms late); a restart goes
// on from where the stream stopped, without a jump.
#[test]
fn start_stop_restart_wait_for_run_and_resume_in_place() {
    let model = Model::new();
    model.hw().faults.run_readback_delay_us = 500;
    let mut card = card(&model);
    playing(&model, &mut card, 4);
    let s = card.stream(Direction::Playback).unwrap();
    model.advance_ms(3);
    let at_stop = s.position().unwrap();
    s.stop().unwrap();
    assert!(!model.hw().stream_running(OUT));
    model.advance_ms(5);
    assert_eq!(
        s.position(),
        Ok(at_stop + 24),
        "only the 0.5 ms before RUN read 0"
    );
    s.start().unwrap();
    model.advance_ms(2);
    let played = model.hw().played(OUT).len() as u64 / 4;
    assert_eq!(s.position(), Ok(played));
}

// §6 item 24: RUN that never reads 0 → stop reports a timeout, bounded.
#[test]
fn stop_with_run_stuck_is_a_timeout() {
    let model = Model::new();
    let mut card = card(&model);
    playing(&model, &mut card, 4);
    model.hw().faults.run_never_clears = true;
    let start = model.hw().now_us;
    assert_eq!(
        card.stream(Direction::Playback).unwrap().stop(),
        Err(Error::Timeout)
    );
    assert!(model.hw().now_us - start < 100_000);
}

// §6 item 24: stopping a stream while its period interrupt is pending leaves nothing
// asserted (the stop acknowledges the status byte-wise): no interrupt storm after a stop.
#[test]
fn stop_with_a_pending_period_interrupt_drops_the_line() {
    let model = Model::new();
    let mut card = card_with(&model, true);
    playing(&model, &mut card, 4);
    model.advance_ms(2);
    assert!(model.hw().irq_line());
    card.stream(Direction::Playback).unwrap().stop().unwrap();
    assert!(!model.hw().irq_line());
    assert_eq!(card.controller().handle_interrupt(), Ok(None));
    drop(card);
    model.assert_clean();
}

// §6 item 26: capture data arrives intact: what the model's ADC wrote is what the driver
// reads back, at the position the driver reports.
#[test]
fn captured_bytes_match_the_pattern_the_hardware_wrote() {
    let model = Model::new();
    let mut card = card(&model);
    let s = card.stream(Direction::Capture).unwrap();
    s.prepare(S16_48K, 8 * PERIOD, PERIOD).unwrap();
    s.start().unwrap();
    model.advance_ms(5);
    let frames = s.position().unwrap();
    assert_eq!(frames, 5 * FRAMES_PER_MS);
    let mut buf = vec![0; frames as usize * 4];
    s.read(0, &mut buf).unwrap();
    let expected: Vec<u8> = (0..buf.len() as u64).map(capture_byte).collect();
    assert_eq!(buf, expected);
}

// §6 item 27: the controller resets under running streams (codecs reset with the link);
// re-initialisation restores everything: transport, interrupts, unsolicited responses, the
// codec's converter streams and formats, both descriptors on their memory, and the streams
// run again with positions that go on counting.
#[test]
fn controller_reset_under_running_streams_is_recovered_in_full() {
    let model = Model::new();
    let mut card = card_with(&model, true);
    card.controller().enable_unsolicited();
    let s = card.stream(Direction::Playback).unwrap();
    s.prepare(
        PcmParams {
            rate: 44_100,
            ..S16_48K
        },
        3 * 448,
        448,
    )
    .unwrap();
    s.start().unwrap();
    let s = card.stream(Direction::Capture).unwrap();
    s.prepare(S16_48K, 4 * PERIOD, PERIOD).unwrap();
    s.start().unwrap();
    model.advance_ms(5);
    let played_before = model.hw().played(OUT).len() as u64 / 4;
    assert_eq!(
        card.stream(Direction::Playback).unwrap().position(),
        Ok(played_before)
    );
    assert_eq!(
        card.stream(Direction::Capture).unwrap().position(),
        Ok(5 * FRAMES_PER_MS)
    );

    model.hw().reset_behind_the_drivers_back();
    assert!(!model.hw().stream_running(OUT) && !model.hw().stream_running(IN));
    card.reinitialize().unwrap();
    {
        let mut hw = model.hw();
        assert!(hw.stream_running(OUT) && hw.stream_running(IN));
        let codec = hw.codec(0);
        assert_eq!(codec.stream_tag.get(&model::codec::DAC), Some(&1));
        assert_eq!(codec.stream_tag.get(&model::codec::ADC), Some(&2));
        assert_eq!(codec.format.get(&model::codec::DAC), Some(&0x4011));
        assert_ne!(hw.register(0x20) & 1 << 31, 0, "interrupts back on");
        assert_ne!(
            hw.register(0x08) & 1 << 8,
            0,
            "unsolicited responses back on"
        );
    }
    for ms in 1..=10 {
        model.advance_ms(1);
        let played = model.hw().played(OUT).len() as u64 / 4;
        assert_eq!(
            card.stream(Direction::Playback).unwrap().position(),
            Ok(played)
        );
        assert_eq!(
            card.stream(Direction::Capture).unwrap().position(),
            Ok((5 + ms) * FRAMES_PER_MS)
        );
    }
    assert!(model.hw().irq_line(), "period interrupts flow again");
    drop(card);
    model.assert_clean();
}

// §6 items 27 and 32: a controller that does not come back from the reset → a typed error,
// and the card can still be dropped without DMA running into freed memory.
#[test]
fn failed_reinitialisation_is_an_error_and_the_card_drops_cleanly() {
    let model = Model::new();
    let mut card = card(&model);
    playing(&model, &mut card, 4);
    model.hw().faults.crst_never_leaves = true;
    assert_eq!(card.reinitialize(), Err(Error::Timeout));
    drop(card);
    model.assert_clean();
}

// §6 item 2: without 64OK, DMA memory the platform put above 4 GiB is never programmed:
// no position buffer there, streams refuse it, and no upper address register is written.
#[test]
fn without_64ok_stream_memory_above_4_gib_is_refused() {
    let model = Model::new();
    model.hw().gcap = 0x4400;
    let rings = model.dma().region(RING_REGION_BYTES, 4096);
    let mut c = Controller::new(model.regs(), model.clock(), rings);
    c.init().unwrap();
    let codec = codec::enumerate(&mut c, 0).unwrap();
    let route = codec::playback_path(&codec).unwrap();
    let mut dma = model.dma();
    dma.above_4g = true;
    let mut card = HdaDevice::new(c, codec, route, None, dma);
    let s = card.stream(Direction::Playback).unwrap();
    assert_eq!(
        s.prepare(S16_48K, 4 * PERIOD, PERIOD),
        Err(Error::InvalidParams)
    );
    assert_eq!(
        model.hw().register(0x70) & 1,
        0,
        "position buffer enabled above 4 GiB"
    );
    drop(card);
    model.assert_clean();
}

// §6 item 1: the controller disappearing under a running stream → "device gone" from the
// position, not a wrong position or a hang.
#[test]
fn device_gone_under_a_running_stream_is_reported() {
    let model = Model::new();
    let mut card = card(&model);
    model.hw().faults.posbuf_stuck = Some(0);
    playing(&model, &mut card, 4);
    model.advance_ms(1);
    model.hw().faults.gone = true;
    let s = card.stream(Direction::Playback).unwrap();
    let mut result = Ok(0);
    for _ in 0..3 {
        result = s.position();
    }
    assert_eq!(result, Err(Error::DeviceGone));
}

// §6 item 32: dropping a card while it plays and records stops every DMA engine before the
// buffers, BDLs, position buffer and rings are freed.
#[test]
fn dropping_a_running_card_stops_dma_before_freeing_memory() {
    let model = Model::new();
    let mut card = card(&model);
    playing(&model, &mut card, 4);
    let s = card.stream(Direction::Capture).unwrap();
    s.prepare(S16_48K, 4 * PERIOD, PERIOD).unwrap();
    s.start().unwrap();
    model.advance_ms(3);
    drop(card);
    model.assert_clean();
}

// §6 item 32: when a stream will not stop (RUN stuck), dropping the card resets the
// controller, which stops the DMA, before memory is freed.
#[test]
fn stream_that_will_not_stop_is_stopped_by_a_controller_reset_before_freeing() {
    let model = Model::new();
    let mut card = card(&model);
    playing(&model, &mut card, 4);
    model.hw().faults.run_never_clears = true;
    drop(card);
    assert!(model.hw().in_reset());
    model.assert_clean();
}
