//! Guests play and record through the backend: Linux ALSA guests (the model in
//! `e2e::sim::linux`) against our backend on a card that records what it plays.

use e2e::sim::linux::{Kernel, PcmConfig, World, s16_samples, sine_s16};
use e2e::sim::toolstack::CardConfig;
use vsnd_backend::policy::{Config, EventIds, GuestPolicy};
use xen_ring::sndif::{RequestOp, TriggerType};
use xen_ring::xs::Xenstore;

const PLAYBACK: usize = 0;
const CAPTURE: usize = 1;

/// Where `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A -6 dBFS 1 kHz stereo test signal of `ms` milliseconds at 48 kHz.
fn signal(ms: usize) -> Vec<u8> {
    sine_s16(48000, 1000.0, 0.5, 2, 48 * ms)
}

#[test]
fn one_guest_plays_bit_exact_at_the_cards_own_format() {
    let mut world = World::new(Config::default());
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let data = signal(500);
    world
        .start_playback(g, PLAYBACK, PcmConfig::s16_stereo(48000), &data)
        .unwrap();
    assert!(world.run_until_done(2_000_000), "playback drained");
    world.trigger(g, PLAYBACK, TriggerType::Stop).unwrap();
    world.hw_free(g, PLAYBACK).unwrap();
    let played = world.card.played();
    let start = find(&played, &data[..64]).expect("the signal reached the card");
    assert_eq!(&played[start..start + data.len()], &data[..], "bit-exact");
    // Nothing but silence before it: no stale or invented audio.
    assert!(played[..start].iter().all(|&b| b == 0));
    assert_eq!(world.guests[g].pcms[PLAYBACK].events_dropped, 0);
    assert_eq!(
        world.guests[g].pcms[PLAYBACK].leaked_grants, 0,
        "CLOSE unmapped first"
    );
}

/// The amplitude (fraction of full scale) of `freq` in channel `channel` of interleaved s16
/// stereo `samples` at 48 kHz, by correlation with a sine and a cosine (Goertzel-like).
fn tone_level(samples: &[i16], channel: usize, freq: f64) -> f64 {
    let frames: Vec<f64> = samples
        .chunks_exact(2)
        .map(|f| f64::from(f[channel]) / 32768.0)
        .collect();
    let (mut s, mut c) = (0.0, 0.0);
    for (n, x) in frames.iter().enumerate() {
        let w = 2.0 * std::f64::consts::PI * freq * n as f64 / 48000.0;
        s += x * w.sin();
        c += x * w.cos();
    }
    2.0 * (s * s + c * c).sqrt() / frames.len() as f64
}

/// The residual of `samples` (one channel of s16 stereo at 48 kHz) after removing the best
/// fitting sine at `freq`, relative to that sine: the THD+N in dB.
fn thd_n_db(samples: &[i16], channel: usize, freq: f64) -> f64 {
    let x: Vec<f64> = samples
        .chunks_exact(2)
        .map(|f| f64::from(f[channel]))
        .collect();
    let (mut ss, mut sc, mut cc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (n, v) in x.iter().enumerate() {
        let w = 2.0 * std::f64::consts::PI * freq * n as f64 / 48000.0;
        let (s, c) = w.sin_cos();
        ss += s * s;
        sc += s * c;
        cc += c * c;
        xs += v * s;
        xc += v * c;
    }
    let det = ss * cc - sc * sc;
    let a = (xs * cc - xc * sc) / det;
    let b = (xc * ss - xs * sc) / det;
    let (mut signal, mut noise) = (0.0, 0.0);
    for (n, v) in x.iter().enumerate() {
        let w = 2.0 * std::f64::consts::PI * freq * n as f64 / 48000.0;
        let fit = a * w.sin() + b * w.cos();
        signal += fit * fit;
        noise += (v - fit) * (v - fit);
    }
    10.0 * (noise / signal).log10()
}

/// The part of the card's output where the guest's audio plays: from the first non-silent
/// frame, skipping `skip_ms` of it, `ms` long.
fn window(played: &[u8], skip_ms: usize, ms: usize) -> Vec<i16> {
    let samples = s16_samples(played);
    let first = samples
        .iter()
        .position(|&s| s != 0)
        .expect("something played")
        / 2
        * 2;
    let start = first + skip_ms * 96;
    samples[start..start + ms * 96].to_vec()
}

#[test]
fn a_44100_hz_guest_is_resampled_cleanly_to_the_cards_48000() {
    let mut world = World::new(Config::default());
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let data = sine_s16(44100, 1000.0, 0.5, 2, 44100 / 2);
    world
        .start_playback(g, PLAYBACK, PcmConfig::s16_stereo(44100), &data)
        .unwrap();
    assert!(world.run_until_done(2_000_000));
    let out = window(&world.card.played(), 50, 300);
    // The card got a 1 kHz tone at the same level on both channels (channel 1 is the
    // phase-shifted copy), and nothing else above the 16-bit floor.
    for channel in 0..2 {
        let level = tone_level(&out, channel, 1000.0);
        assert!((level - 0.5).abs() < 0.005, "level {level}");
        let thd_n = thd_n_db(&out, channel, 1000.0);
        assert!(thd_n < -85.0, "THD+N {thd_n:.1} dB");
    }
}

#[test]
fn eight_guests_at_mixed_formats_and_rates_are_mixed_into_one_card() {
    use xen_ring::sndif::PcmFormat::*;
    let mut world = World::new(Config::default());
    // Each guest plays its own tone at -24 dBFS; the card must carry all eight at their level.
    let guests = [
        (S16Le, 48000, 500.0),
        (S32Le, 44100, 700.0),
        (F32Le, 32000, 900.0),
        (U8, 22050, 1100.0),
        (S24Le, 16000, 1300.0),
        (S16Be, 96000, 1500.0),
        (F64Le, 11025, 1700.0),
        (MuLaw, 8000, 1900.0),
    ];
    for (i, &(format, rate, freq)) in guests.iter().enumerate() {
        let mut card = CardConfig::typical();
        card.sample_formats = Some(format.name().into());
        card.sample_rates = Some(rate.to_string());
        let g = world.add_guest(10 + i as u16, &card, Kernel::Released);
        let config = PcmConfig {
            format,
            rate,
            channels: 2,
            buffer_frames: rate / 10,
            period_frames: rate / 100,
        };
        let data = encode(format, &sine_f64(rate, freq, 0.0625, rate as usize));
        world.start_playback(g, PLAYBACK, config, &data).unwrap();
    }
    world.run_for_us(500_000);
    let out = window(&world.card.played(), 200, 200);
    for &(format, rate, freq) in &guests {
        let level = tone_level(&out, 0, freq);
        // mu-law and 8-bit carry their own quantisation noise, not a level error.
        assert!(
            (level - 0.0625).abs() < 0.002,
            "{format:?} at {rate} Hz: {freq} Hz tone at {level}"
        );
    }
    // Nothing clipped: the sum of eight -24 dBFS tones stays below full scale.
    assert!(out.iter().all(|&s| s.unsigned_abs() < 32000));
    assert!(world.run_until_done(2_000_000));
}

/// Stereo frames of a sine (same on both channels) as f64 samples in [-1, 1].
fn sine_f64(rate: u32, freq: f64, amplitude: f64, frames: usize) -> Vec<f64> {
    (0..frames)
        .flat_map(|n| {
            let v =
                amplitude * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin();
            [v, v]
        })
        .collect()
}

/// `samples` in `format`, written independently of the backend's converters (std floats).
fn encode(format: xen_ring::sndif::PcmFormat, samples: &[f64]) -> Vec<u8> {
    use xen_ring::sndif::PcmFormat::*;
    let mut out = Vec::new();
    for &x in samples {
        let i32_of = |bits: u32| (x * f64::from(1u32 << (bits - 1))).round() as i32;
        match format {
            S16Le => out.extend_from_slice(&(i32_of(16) as i16).to_le_bytes()),
            S16Be => out.extend_from_slice(&(i32_of(16) as i16).to_be_bytes()),
            S24Le => out.extend_from_slice(&i32_of(24).to_le_bytes()),
            S32Le => out.extend_from_slice(&((x * 2147483647.0).round() as i32).to_le_bytes()),
            U8 => out.push((i32_of(8) + 128) as u8),
            F32Le => out.extend_from_slice(&(x as f32).to_le_bytes()),
            F64Le => out.extend_from_slice(&x.to_le_bytes()),
            MuLaw => out.push(mu_law(i32_of(16) as i16)),
            other => panic!("no test encoder for {other:?}"),
        }
    }
    out
}

/// G.711 mu-law, by the textbook: bias 132, segment = position of the top bit, 4 mantissa
/// bits, everything inverted.
fn mu_law(sample: i16) -> u8 {
    let sign = if sample < 0 { 0x80 } else { 0 };
    let magnitude = (i32::from(sample).abs() >> 2).min(8158) + 33;
    let segment = (0..8).find(|s| magnitude < (64 << s)).unwrap_or(7);
    let mantissa = (magnitude >> (segment + 1)) & 0x0f;
    !(sign | (segment as u8) << 4 | mantissa as u8)
}

fn may_capture(domids: &[u16]) -> Config {
    let mut config = Config::default();
    for &d in domids {
        config.guests.insert(
            d,
            GuestPolicy {
                capture: true,
                ..GuestPolicy::default()
            },
        );
    }
    config
}

#[test]
fn capture_reaches_only_the_guests_whose_policy_allows_it() {
    let mut world = World::new(may_capture(&[5]));
    let allowed = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let denied = world.add_guest(6, &CardConfig::typical(), Kernel::Released);
    let mic = sine_s16(48000, 440.0, 0.25, 2, 48000);
    world.card.record(&mic);
    let config = PcmConfig::s16_stereo(48000);
    // The default is deny, whatever the guest's own xenstore says about its streams.
    assert_eq!(
        world.start_capture(denied, CAPTURE, config, 9600),
        Err(e2e::sim::linux::AlsaError::Status(-13))
    );
    world
        .start_capture(allowed, CAPTURE, config, 48000 * 2)
        .unwrap();
    assert!(
        world.run_until_done(3_000_000),
        "the allowed guest got its audio"
    );
    let got = &world.guests[allowed].pcms[CAPTURE].recorded;
    assert_eq!(got.len(), 48000 * 2);
    assert_eq!(
        &got[..],
        &mic[..got.len()],
        "bit-exact at the card's format"
    );
    assert!(world.guests[denied].pcms[CAPTURE].recorded.is_empty());
    assert_eq!(world.guests[allowed].pcms[CAPTURE].events_dropped, 0);
}

#[test]
fn capture_is_converted_to_the_guests_rate_and_channels() {
    let mut world = World::new(may_capture(&[5]));
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    world.card.record(&sine_s16(48000, 1000.0, 0.5, 2, 48000));
    let config = PcmConfig {
        channels: 1,
        ..PcmConfig::s16_stereo(16000)
    };
    world
        .start_capture(g, CAPTURE, config, 16000 * 2 / 2)
        .unwrap();
    assert!(world.run_until_done(3_000_000));
    let got = s16_samples(&world.guests[g].pcms[CAPTURE].recorded);
    assert_eq!(got.len(), 8000);
    // Mono average of the two phase-shifted channels: cos(0.25) of the level, at 1 kHz.
    let x: Vec<f64> = got[1000..]
        .iter()
        .map(|&v| f64::from(v) / 32768.0)
        .collect();
    let (mut sn, mut cs) = (0.0, 0.0);
    for (n, v) in x.iter().enumerate() {
        let w = 2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 16000.0;
        sn += v * w.sin();
        cs += v * w.cos();
    }
    let level = 2.0 * (sn * sn + cs * cs).sqrt() / x.len() as f64;
    let expected = 0.5 * 0.25f64.cos();
    assert!(
        (level - expected).abs() < 0.005,
        "level {level}, expected {expected}"
    );
}

#[test]
fn a_read_with_no_audio_coming_is_answered_with_silence_before_the_guest_times_out() {
    let mut world = World::new(may_capture(&[5]));
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let config = PcmConfig::s16_stereo(48000);
    world.hw_params(g, CAPTURE, config).unwrap();
    world.prepare(g, CAPTURE).unwrap();
    // READ before START: nothing will be recorded for it.
    let before = world.now_us;
    let data = world.read(g, CAPTURE, 480).unwrap();
    assert!(
        world.now_us - before < 1_000_000,
        "answered well before 3 s"
    );
    assert!(data.iter().all(|&b| b == 0));
}

#[test]
fn a_guest_crashing_mid_stream_does_not_disturb_another() {
    let mut world = World::new(Config::default());
    let steady = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let crashing = world.add_guest(6, &CardConfig::typical(), Kernel::Released);
    let data = signal(1000);
    world
        .start_playback(steady, PLAYBACK, PcmConfig::s16_stereo(48000), &data)
        .unwrap();
    // The other guest plays digital silence, so the steady guest's audio stays bit-exact
    // through the mix if and only if nothing is lost or repeated.
    world
        .start_playback(
            crashing,
            PLAYBACK,
            PcmConfig::s16_stereo(48000),
            &vec![0; 192_000],
        )
        .unwrap();
    world.run_for_us(300_000);
    // The guest dies: its grants die with it, and the toolstack tears the device down.
    let device = world.destroy(crashing);
    assert!(world.run_until_done(2_000_000));
    let played = world.card.played();
    let start = find(&played, &data[..64]).expect("played");
    assert_eq!(
        &played[start..start + data.len()],
        &data[..],
        "no gap, no glitch"
    );
    assert_eq!(
        world.grants.mapped_count(6),
        0,
        "nothing of the dead guest stays mapped"
    );
    assert!(
        !world.xs.exists(&device.backend_path()),
        "the device is gone"
    );
}

/// A guest that dies mid-sound fades out over a few milliseconds instead of leaving a step,
/// a click in everybody's sound.
#[test]
fn a_guest_that_dies_mid_sound_fades_out_without_a_click() {
    let (mut world, g) = playing_a_constant_level(500);
    let device = world.destroy(g);
    world.run_for_us(100_000);
    assert!(!world.xs.exists(&device.backend_path()), "torn down");
    let (steepest, fade) = how_the_level_ended(&world);
    assert!(steepest < 100, "a step of {steepest} where the guest died");
    assert!(
        (400..=500).contains(&fade),
        "faded out over {fade} frames, not ~480 (10 ms)"
    );
}

/// A guest 200 ms into `ms` of a constant level of 16384: cut off at once, it would drop by
/// 16384 in one sample.
fn playing_a_constant_level(ms: usize) -> (World, usize) {
    let mut world = World::new(Config::default());
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let level: Vec<u8> = (0..48 * ms)
        .flat_map(|_| 16384i16.to_le_bytes().repeat(2))
        .collect();
    world
        .start_playback(g, PLAYBACK, PcmConfig::s16_stereo(48000), &level)
        .unwrap();
    world.run_for_us(200_000);
    (world, g)
}

/// A constant level of 16384 played on the card's left channel and then ended: the steepest
/// step from its last full sample on, and how many frames it took to reach silence. Also
/// checks that it did end, and that every sample of the level played as written.
fn how_the_level_ended(world: &World) -> (i32, usize) {
    let left: Vec<i16> = s16_samples(&world.card.played())
        .into_iter()
        .step_by(2)
        .collect();
    let first_full = left
        .iter()
        .position(|&s| s == 16384)
        .expect("the level played");
    let last_full = left.iter().rposition(|&s| s == 16384).unwrap();
    assert!(
        left[first_full..=last_full].iter().all(|&s| s == 16384),
        "the guest's samples played as written"
    );
    let ending = &left[last_full..];
    assert_eq!(*ending.last().unwrap(), 0, "the sound ended");
    let steepest = ending
        .windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap();
    (steepest, ending.iter().position(|&s| s == 0).unwrap())
}

// Under nested virtualisation the lead learned from the domain's scheduling gaps reached
// 120 ms: more ticks in flight than the playback source once kept records for, and the
// guest's position froze. Its ALSA then got no wakeups: underruns, then "playback write
// timeout" once 1.1 buffers passed.
#[test]
fn a_lead_of_many_ticks_keeps_the_guests_position_moving() {
    let config = Config {
        lead_frames: 48 * 120,
        ..Config::default()
    };
    let mut world = World::new(config);
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    // aplay's choice on xen-snd-front: a 341 ms buffer in four periods.
    let pcm = PcmConfig {
        buffer_frames: 16384,
        period_frames: 4096,
        ..PcmConfig::s16_stereo(48000)
    };
    let data = signal(1500);
    world.start_playback(g, PLAYBACK, pcm, &data).unwrap();
    world.run_for_us(300_000);
    let mut longest_still_us = 0;
    let (mut last, mut since) = (world.guests[g].pcms[PLAYBACK].hw_ptr, world.now_us);
    for _ in 0..600 {
        world.run_for_us(1000);
        let now = world.guests[g].pcms[PLAYBACK].hw_ptr;
        if now != last {
            (last, since) = (now, world.now_us);
        }
        longest_still_us = longest_still_us.max(world.now_us - since);
    }
    // CUR_POS comes every half period (43 ms).
    assert!(
        longest_still_us < 60_000,
        "the guest's position stood still for {longest_still_us} us"
    );
    assert!(world.run_until_done(1_500_000), "playback drained");
    // What the lead still holds in the card's buffer plays out.
    world.run_for_us(300_000);
    let played = world.card.played();
    let start = find(&played, &data[..64]).expect("the signal reached the card");
    assert!(
        played.get(start..start + data.len()) == Some(&data[..]),
        "not bit-exact"
    );
    assert_eq!(world.guests[g].pcms[PLAYBACK].events_dropped, 0);
}

// `xl destroy` pauses the guest at once and tears its device down later: its buffered audio
// plays out first. In the crash scenario it stopped dead, a click in the survivor's mix.
#[test]
fn audio_that_runs_out_decays_instead_of_stopping_dead() {
    let (mut world, g) = playing_a_constant_level(2000);
    world.pause(g);
    world.run_for_us(200_000);
    // Everything the guest wrote played as written (checked there): the decay follows it.
    let (steepest, decay) = how_the_level_ended(&world);
    assert!(
        steepest < 100,
        "a step of {steepest} where the audio ran out"
    );
    assert!(
        (400..=500).contains(&decay),
        "decayed over {decay} frames, not ~480 (10 ms)"
    );
}

/// Whether a steady guest's audio reaches the card bit-exact while, on a host whose xenstore
/// takes 2 ms per round trip (a busy dom0, nested virtualisation), a second guest connects
/// and later crashes: dozens of round trips each time.
fn steady_through_a_slow_xenstore(backend_has_the_clock: bool) -> bool {
    let mut world = World::new(Config::default());
    world.slow_xenstore(2000);
    if backend_has_the_clock {
        world.give_backend_the_clock();
    }
    let steady = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let data = signal(1000);
    // aplay's quarter-second buffer: the sim's applications do not run during the backend's
    // xenstore work, real ones would.
    let aplay = PcmConfig {
        buffer_frames: 12_000,
        period_frames: 3_000,
        ..PcmConfig::s16_stereo(48000)
    };
    world
        .start_playback(steady, PLAYBACK, aplay, &data)
        .unwrap();
    world.run_for_us(200_000);
    let other = world.add_guest(6, &CardConfig::typical(), Kernel::Released);
    world.run_for_us(200_000);
    let device = world.destroy(other);
    assert!(world.run_until_done(2_000_000));
    assert!(!world.xs.exists(&device.backend_path()), "torn down");
    let played = world.card.played();
    let start = find(&played, &data[..64]).expect("played");
    played[start..].starts_with(&data)
}

#[test]
fn on_a_slow_xenstore_guests_coming_and_going_do_not_disturb_one_that_plays() {
    assert!(steady_through_a_slow_xenstore(true), "no gap, no glitch");
}

/// The control for the test above: the same host, without the backend ticking between
/// round trips, does leave gaps.
#[test]
fn without_ticks_between_round_trips_a_slow_xenstore_is_heard() {
    assert!(!steady_through_a_slow_xenstore(false));
}

/// The frontend leaves and comes back (driver reload, suspend/resume, save/restore all
/// look like this to the backend): Closing, then a fresh connect once we are in InitWait.
fn reconnect(world: &mut World, g: usize) {
    let domid = world.guests[g].domid;
    let device = world.guests[g].device.clone();
    let state = format!("{}/state", device.frontend_path());
    world.xs.connect(domid).write(0, &state, b"5").unwrap();
    world.step();
    assert_eq!(
        world.backend_state(&device).as_deref(),
        Some("2"),
        "ready again"
    );
    world.xs.connect(domid).write(0, &state, b"1").unwrap();
    let front = e2e::sim::frontend::connect(
        &world.xs,
        &world.grants,
        &world.evtchn,
        &device,
        &e2e::sim::frontend::as_linux,
    )
    .unwrap();
    world.step();
    assert_eq!(world.backend_state(&device).as_deref(), Some("4"));
    world.xs.connect(domid).write(0, &state, b"4").unwrap();
    let guest = &mut world.guests[g];
    guest.pcms = front.streams.iter().map(|_| Default::default()).collect();
    guest.front = front;
}

#[test]
fn a_guest_that_suspends_mid_stream_reconnects_and_plays_again() {
    let mut world = World::new(Config::default());
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let first = signal(300);
    world
        .start_playback(g, PLAYBACK, PcmConfig::s16_stereo(48000), &first)
        .unwrap();
    world.run_for_us(100_000);
    let mapped = world.grants.mapped_count(5);
    assert!(mapped > 2, "rings and buffer mapped");
    reconnect(&mut world, g);
    // The old rings and buffer were all released; only the new rings (two pages for each of
    // the two streams) are mapped.
    assert_eq!(world.grants.mapped_count(5), 4);
    // The interrupted tone fades out over 10 ms; the new one starts after that.
    world.run_for_us(20_000);
    let second = sine_s16(48000, 2000.0, 0.5, 2, 48 * 300);
    world
        .start_playback(g, PLAYBACK, PcmConfig::s16_stereo(48000), &second)
        .unwrap();
    assert!(world.run_until_done(2_000_000));
    let played = world.card.played();
    let start = find(&played, &second[..64]).expect("played after resume");
    assert_eq!(&played[start..start + second.len()], &second[..]);
}

#[test]
fn a_restarted_backend_takes_over_connected_guests() {
    let mut world = World::new(Config::default());
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    world
        .start_playback(g, PLAYBACK, PcmConfig::s16_stereo(48000), &signal(200))
        .unwrap();
    world.run_for_us(50_000);
    world.restart_backend(Config::default());
    world.backend.poll();
    let device = world.guests[g].device.clone();
    // It starts over from InitWait, which Linux answers with a fresh connect.
    assert_eq!(world.backend_state(&device).as_deref(), Some("2"));
    let domid = world.guests[g].domid;
    let state = format!("{}/state", device.frontend_path());
    world.xs.connect(domid).write(0, &state, b"1").unwrap();
    let front = e2e::sim::frontend::connect(
        &world.xs,
        &world.grants,
        &world.evtchn,
        &device,
        &e2e::sim::frontend::as_linux,
    )
    .unwrap();
    world.step();
    assert_eq!(world.backend_state(&device).as_deref(), Some("4"));
    world.xs.connect(domid).write(0, &state, b"4").unwrap();
    world.guests[g].pcms = front.streams.iter().map(|_| Default::default()).collect();
    world.guests[g].front = front;
    let data = sine_s16(48000, 3000.0, 0.5, 2, 48 * 200);
    world
        .start_playback(g, PLAYBACK, PcmConfig::s16_stereo(48000), &data)
        .unwrap();
    assert!(world.run_until_done(2_000_000));
    let played = world.card.played();
    let start = find(&played, &data[..64]).expect("played by the new backend");
    assert_eq!(&played[start..start + data.len()], &data[..]);
}

/// A card with two playback streams.
fn two_playback_streams() -> CardConfig {
    let mut card = CardConfig::typical();
    card.pcms[0].streams[1].kind = "p";
    card
}

/// Plays on stream 0, closes, plays again on stream 0, then on stream 1: the sequence
/// where the two event-id numberings disagree. Returns whether each playback drained and
/// how many events the guest dropped.
fn open_twice(kernel: Kernel, ids: EventIds) -> (Vec<bool>, u64) {
    let config = Config {
        default: GuestPolicy {
            event_ids: ids,
            ..GuestPolicy::default()
        },
        ..Config::default()
    };
    let mut world = World::new(config);
    let g = world.add_guest(5, &two_playback_streams(), kernel);
    let mut drained = Vec::new();
    for (stream, freq) in [(0, 500.0), (0, 700.0), (1, 900.0)] {
        let data = sine_s16(48000, freq, 0.5, 2, 48 * 200);
        world
            .start_playback(g, stream, PcmConfig::s16_stereo(48000), &data)
            .unwrap();
        drained.push(world.run_until_done(1_500_000));
        world.trigger(g, stream, TriggerType::Stop).unwrap();
        world.hw_free(g, stream).unwrap();
    }
    let dropped = world.guests[g].pcms.iter().map(|p| p.events_dropped).sum();
    (drained, dropped)
}

#[test]
fn released_kernels_get_continuous_event_ids() {
    assert_eq!(
        open_twice(Kernel::Released, EventIds::PerConnection),
        (vec![true; 3], 0)
    );
    assert_eq!(
        open_twice(Kernel::Released, EventIds::Auto),
        (vec![true; 3], 0)
    );
    // The other numbering really breaks them: the re-opened stream never drains.
    assert_eq!(
        open_twice(Kernel::Released, EventIds::PerOpen).0,
        vec![true, false, true]
    );
}

#[test]
fn patched_kernels_get_ids_restarting_at_each_open() {
    assert_eq!(
        open_twice(Kernel::Patched, EventIds::PerOpen),
        (vec![true; 3], 0)
    );
    assert_eq!(
        open_twice(Kernel::Patched, EventIds::PerConnection).0,
        vec![true, false, true]
    );
    // Auto starts continuous, sees its events ignored and switches: every stream drains.
    let (drained, dropped) = open_twice(Kernel::Patched, EventIds::Auto);
    assert_eq!(drained, vec![true; 3]);
    assert!(dropped > 0, "the switch was needed");
}

/// Plays 300 ms of a stereo 1 kHz tone at -6 dBFS after `setup` ran on the open stream,
/// and returns the level of each channel on the card.
fn levels_after(config: Config, setup: impl FnOnce(&mut World, usize)) -> [f64; 2] {
    let mut world = World::new(config);
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let pcm = PcmConfig::s16_stereo(48000);
    world.hw_params(g, PLAYBACK, pcm).unwrap();
    world.prepare(g, PLAYBACK).unwrap();
    setup(&mut world, g);
    let data = signal(300);
    world.guests[g].pcms[PLAYBACK].pending_play = data.iter().copied().collect();
    world.step();
    world.trigger(g, PLAYBACK, TriggerType::Start).unwrap();
    assert!(world.run_until_done(2_000_000));
    let samples = s16_samples(&world.card.played());
    let first = samples.iter().position(|&s| s != 0).unwrap_or(0) / 2 * 2;
    let out = &samples[first + 9600..first + 9600 + 96 * 100];
    [tone_level(out, 0, 1000.0), tone_level(out, 1, 1000.0)]
}

fn volume_request(world: &mut World, g: usize, op: RequestOp) -> i32 {
    world.request(g, PLAYBACK, op).unwrap().status
}

#[test]
fn set_volume_and_mute_act_per_channel_and_get_volume_reports_them() {
    let unity = levels_after(Config::default(), |_, _| {});
    assert!((unity[0] - 0.5).abs() < 0.005 && (unity[1] - 0.5).abs() < 0.005);

    let levels = levels_after(Config::default(), |world, g| {
        // Left at -6.02 dB, right asks for +6 dB, which is capped at unity.
        let mut values = (-6020i32).to_le_bytes().to_vec();
        values.extend_from_slice(&6000i32.to_le_bytes());
        world.poke(g, PLAYBACK, 0, &values);
        let set = RequestOp::SetVolume {
            offset: 0,
            length: 8,
        };
        assert_eq!(volume_request(world, g, set), 0);
        world.poke(g, PLAYBACK, 0, &[0; 8]);
        let get = RequestOp::GetVolume {
            offset: 0,
            length: 8,
        };
        assert_eq!(volume_request(world, g, get), 0);
        let mut expected = (-6020i32).to_le_bytes().to_vec();
        expected.extend_from_slice(&0i32.to_le_bytes());
        assert_eq!(world.peek(g, PLAYBACK, 0, 8), expected, "GET_VOLUME");
        // Too short for two channels.
        let short = RequestOp::SetVolume {
            offset: 0,
            length: 4,
        };
        assert_eq!(volume_request(world, g, short), -22);
    });
    assert!((levels[0] - 0.25).abs() < 0.003, "left {}", levels[0]);
    assert!((levels[1] - 0.5).abs() < 0.005, "right {}", levels[1]);

    let muted = levels_after(Config::default(), |world, g| {
        world.poke(g, PLAYBACK, 0, &[0, 1]);
        let mute = RequestOp::Mute {
            offset: 0,
            length: 2,
        };
        assert_eq!(volume_request(world, g, mute), 0);
    });
    assert!(muted[0] > 0.49 && muted[1] < 1e-6, "{muted:?}");

    let unmuted = levels_after(Config::default(), |world, g| {
        world.poke(g, PLAYBACK, 0, &[1, 1]);
        let mute = RequestOp::Mute {
            offset: 0,
            length: 2,
        };
        assert_eq!(volume_request(world, g, mute), 0);
        let unmute = RequestOp::Unmute {
            offset: 0,
            length: 2,
        };
        assert_eq!(volume_request(world, g, unmute), 0);
    });
    assert!(unmuted[0] > 0.49 && unmuted[1] > 0.49, "{unmuted:?}");
}

#[test]
fn the_domains_policy_sets_a_guests_volume_and_mute() {
    let policy = |volume_mdb, muted| {
        let mut config = Config::default();
        config.guests.insert(
            5,
            GuestPolicy {
                volume_mdb,
                muted,
                ..GuestPolicy::default()
            },
        );
        config
    };
    let quieter = levels_after(policy(-20_000, false), |_, _| {});
    assert!((quieter[0] - 0.05).abs() < 0.001, "{quieter:?}");
    let muted = levels_after(policy(0, true), |_, _| {});
    assert!(muted[0] < 1e-6 && muted[1] < 1e-6);
}

#[test]
fn a_guest_saved_and_restored_under_a_new_domid_plays_again() {
    let mut world = World::new(Config::default());
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    world
        .start_playback(g, PLAYBACK, PcmConfig::s16_stereo(48000), &signal(200))
        .unwrap();
    world.run_for_us(50_000);
    // `xl save`: the domain is gone, and the toolstack removes its devices.
    let device = world.destroy(g);
    world.run_for_us(10_000);
    assert!(!world.xs.exists(&device.backend_path()));
    assert_eq!(world.grants.mapped_count(5), 0);
    // `xl restore`: the same guest under a new domid, its device created afresh.
    let restored = world.add_guest(9, &CardConfig::typical(), Kernel::Released);
    let data = sine_s16(48000, 1500.0, 0.5, 2, 48 * 200);
    world
        .start_playback(restored, PLAYBACK, PcmConfig::s16_stereo(48000), &data)
        .unwrap();
    assert!(world.run_until_done(2_000_000));
    let played = world.card.played();
    let start = find(&played, &data[..64]).expect("played after restore");
    assert_eq!(&played[start..start + data.len()], &data[..]);
}

#[test]
fn the_administrator_grants_and_revokes_capture_and_sets_volume_through_xenstore() {
    let mut world = World::new(Config::default());
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let config = PcmConfig::s16_stereo(48000);
    assert_eq!(
        world.start_capture(g, CAPTURE, config, 9600),
        Err(e2e::sim::linux::AlsaError::Status(-13)),
        "denied by default"
    );
    // dom0 writes the policy under the driver domain's own directory.
    let mut dom0 = world.xs.connect(0);
    dom0.write(0, "/local/domain/3/audiovm/guests/5/capture", b"1")
        .unwrap();
    world.step();
    assert!(world.backend.config().guest(5).capture);
    let mic = sine_s16(48000, 440.0, 0.25, 2, 48000);
    world.card.record(&mic);
    world.start_capture(g, CAPTURE, config, 19200).unwrap();
    assert!(world.run_until_done(2_000_000));
    let got = world.guests[g].pcms[CAPTURE].recorded.clone();
    assert_eq!(
        &got[..],
        &mic[..got.len()],
        "allowed: the microphone's audio"
    );
    // Revoked: the next OPEN is refused (an open stream is fed nothing more either).
    dom0.write(0, "/local/domain/3/audiovm/guests/5/capture", b"0")
        .unwrap();
    world.step();
    world.start_capture(g, CAPTURE, config, 19200).unwrap_err();
    world.hw_free(g, CAPTURE).unwrap();
    // A guest's own tree cannot grant it: the guest writes there and nothing changes.
    let mut guest = world.xs.connect(5);
    assert!(
        guest
            .write(0, "/local/domain/3/audiovm/guests/5/capture", b"1")
            .is_err()
    );
    world.step();
    assert!(!world.backend.config().guest(5).capture);
    // Volume: -20 dB for this guest, applied to its open streams.
    dom0.write(0, "/local/domain/3/audiovm/guests/5/volume", b"-20000")
        .unwrap();
    world.step();
    assert_eq!(world.backend.config().guest(5).volume_mdb, -20_000);
}

#[test]
fn a_frontend_that_closes_for_good_leaves_the_backend_quietly_in_initwait() {
    let mut world = World::new(Config::default());
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let device = world.guests[g].device.clone();
    let state = format!("{}/state", device.frontend_path());
    // A guest shutting down: its frontend goes Closing, then Closed, and stays there.
    world.xs.connect(5).write(0, &state, b"5").unwrap();
    world.step();
    world.xs.connect(5).write(0, &state, b"6").unwrap();
    world.step();
    assert_eq!(world.backend_state(&device).as_deref(), Some("2"));
    let before = world.xs.generation();
    world.run_for_us(50_000);
    assert_eq!(
        world.xs.generation(),
        before,
        "nothing rewrites the store while both sides wait"
    );
    assert_eq!(world.backend_state(&device).as_deref(), Some("2"));
}

#[test]
fn a_card_whose_input_delivers_nothing_still_answers_guests_with_silence_in_real_time() {
    let card = e2e::sim::card::SimCard {
        capture_stalled: true,
        ..Default::default()
    };
    let mut world = World::with_card(may_capture(&[5]), card);
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let start = world.now_us;
    world
        .start_capture(g, CAPTURE, PcmConfig::s16_stereo(48000), 48000 * 4 / 2)
        .unwrap();
    assert!(
        world.run_until_done(2_000_000),
        "the guest got its half second"
    );
    let took = world.now_us - start;
    assert!(
        (450_000..800_000).contains(&took),
        "half a second of silence took {took} us"
    );
    let pcm = &world.guests[g].pcms[CAPTURE];
    assert!(pcm.recorded.iter().all(|&b| b == 0));
    assert!(pcm.events_taken > 0 && pcm.events_dropped == 0);
}

#[test]
fn a_backend_that_did_not_run_for_a_while_drops_what_was_missed_and_keeps_guests_in_real_time() {
    let mut world = World::new(Config::default());
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let data = signal(1000);
    world
        .start_playback(g, PLAYBACK, PcmConfig::s16_stereo(48000), &data)
        .unwrap();
    world.run_for_us(200_000);
    let before = world.guests[g].pcms[PLAYBACK].hw_ptr;
    // The domain is descheduled for 200 ms: the card runs on (playing the silence guard).
    world.card.advance(9600);
    world.now_us += 200_000;
    world.run_for_us(20_000);
    let after = world.guests[g].pcms[PLAYBACK].hw_ptr;
    assert!(
        after - before >= 9600,
        "the guest's position kept up with the card: {} frames in 220 ms",
        after - before
    );
    let start = world.now_us;
    assert!(world.run_until_done(2_000_000));
    assert!(
        world.now_us - start < 700_000,
        "the rest played in real time, not 200 ms late"
    );
    assert_eq!(world.guests[g].pcms[PLAYBACK].events_dropped, 0);
}

#[test]
fn a_card_left_running_while_the_domain_stalls_plays_silence_not_old_audio() {
    let mut world = World::new(Config::default());
    let g = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    world
        .start_playback(g, PLAYBACK, PcmConfig::s16_stereo(48000), &signal(1000))
        .unwrap();
    assert!(world.run_until_done(2_000_000));
    world.trigger(g, PLAYBACK, TriggerType::Stop).unwrap();
    world.hw_free(g, PLAYBACK).unwrap();
    world.run_for_us(20_000);
    // The domain does not run for more than a whole device buffer (341 ms).
    let before = world.card.played().len();
    world.card.advance(20_000);
    let stalled = &world.card.played()[before..];
    assert_eq!(stalled.len(), 80_000);
    assert!(
        stalled.iter().all(|&b| b == 0),
        "the card replayed old audio while the domain stalled"
    );
}
