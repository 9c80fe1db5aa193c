//! The mixer's cost per output frame for 1, 8 and 64 guest streams, and the latency the
//! backend adds (frames written to the card ahead of its DMA position).
//!
//! Goal (issue #5): 64 stereo streams at 48 kHz in at most 2 % of one core; added latency at
//! most 1 ms. The report after criterion's lines states both.

use std::time::Instant;

use audio_hal::{AudioDevice, Direction, PcmFormat};
use criterion::{Criterion, criterion_group};
use e2e::sim::card::SimCard;
use e2e::sim::linux::{Kernel, PcmConfig, World, sine_s16};
use e2e::sim::toolstack::CardConfig;
use vsnd_backend::mixer::{Mixer, choose_params};
use vsnd_backend::playback::PlaybackSource;
use vsnd_backend::policy::Config;

/// Frames per tick at 48 kHz with a 1 ms tick.
const TICK: usize = 48;

/// `n` guest streams of `format` at `rate`, their buffers full of a tone, feeding a card.
struct Setup {
    card: SimCard,
    mixer: Mixer,
    sources: Vec<PlaybackSource>,
}

fn setup(n: usize, format: PcmFormat, rate: u32) -> Setup {
    let mut card = SimCard::new();
    let caps = card.capabilities(Direction::Playback).unwrap();
    let params = choose_params(&caps).unwrap();
    let mixer = Mixer::new(card.stream(Direction::Playback).unwrap(), params, &caps).unwrap();
    let buffer = 65536;
    let tone = sine_s16(rate, 440.0, 0.1, 2, buffer / 4);
    let sources = (0..n)
        .map(|_| {
            let mut source = PlaybackSource::new(format, rate, 2, buffer, 48000, 2).unwrap();
            source.write(0, &tone);
            source
        })
        .collect();
    Setup {
        card,
        mixer,
        sources,
    }
}

impl Setup {
    /// One tick's mixing: what `Backend::tick` does for playback.
    fn tick(&mut self) {
        let stream = self.card.stream(Direction::Playback).unwrap();
        let position = self.mixer.written();
        let frames = self.mixer.due(position, TICK as u64).mix;
        let end = self.mixer.written() + frames as u64;
        let bus = self.mixer.bus(frames);
        for source in &mut self.sources {
            source.advance(position);
            source.render(frames, bus);
            source.commit(end);
        }
        self.mixer.commit(stream).unwrap();
    }
}

fn mixing(c: &mut Criterion) {
    let mut group = c.benchmark_group("mix 1 ms (48 frames)");
    group.sample_size(30);
    group.measurement_time(std::time::Duration::from_secs(3));
    for n in [1, 8, 64] {
        let mut s = setup(n, PcmFormat::S16Le, 48000);
        group.bench_function(format!("{n} x s16 48k"), |b| b.iter(|| s.tick()));
    }
    let mut s = setup(8, PcmFormat::S16Le, 44100);
    group.bench_function("8 x s16 44.1k (resampled)", |b| b.iter(|| s.tick()));
    let mut s = setup(8, PcmFormat::F32Le, 48000);
    group.bench_function("8 x f32 48k", |b| b.iter(|| s.tick()));
    group.finish();
}

/// Mean time of one tick over `ticks` ticks.
fn time_per_tick(n: usize, format: PcmFormat, rate: u32, ticks: u32) -> f64 {
    let mut s = setup(n, format, rate);
    for _ in 0..100 {
        s.tick();
    }
    let start = Instant::now();
    for _ in 0..ticks {
        s.tick();
    }
    start.elapsed().as_secs_f64() / f64::from(ticks)
}

/// The backend's lead over the card while a Linux guest plays, in frames: (max, mean).
fn lead_frames() -> (u64, f64) {
    let mut world = World::new(Config::default());
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let data = sine_s16(48000, 440.0, 0.5, 2, 48000);
    world
        .start_playback(g, 0, PcmConfig::s16_stereo(48000), &data)
        .unwrap();
    let (mut max, mut sum, mut count) = (0, 0, 0);
    for _ in 0..800 {
        world.step();
        if let Some(lead) = world.backend.playback_lead() {
            max = max.max(lead);
            sum += lead;
            count += 1;
        }
    }
    (max, sum as f64 / f64::from(count.max(1)))
}

fn report() {
    println!("\nmixer report (one tick = 1 ms of 48 kHz output = {TICK} frames)");
    for (n, format, rate, label) in [
        (1, PcmFormat::S16Le, 48000, "s16 48k"),
        (8, PcmFormat::S16Le, 48000, "s16 48k"),
        (64, PcmFormat::S16Le, 48000, "s16 48k"),
        (8, PcmFormat::S16Le, 44100, "s16 44.1k resampled"),
        (64, PcmFormat::S16Le, 44100, "s16 44.1k resampled"),
    ] {
        let t = time_per_tick(n, format, rate, 2000);
        println!(
            "  {n:>2} streams {label:<20} {:>8.1} ns per output frame  {:>6.2} % of one core",
            t * 1e9 / TICK as f64,
            t * 1000.0 * 100.0
        );
    }
    let (max, mean) = lead_frames();
    println!(
        "  backend-added latency: mean {mean:.1} frames, max {max} frames ({:.2} ms at 48 kHz; goal <= 1 ms)",
        max as f64 / 48.0
    );
}

criterion_group!(benches, mixing);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
