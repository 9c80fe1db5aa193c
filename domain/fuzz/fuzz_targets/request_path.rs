//! The backend's whole request path under a hostile guest: the input is a sequence of raw
//! request slots, buffer contents and ticks from guest 6 while guest 5 plays a known signal.
//! Nothing may panic, and guest 5's audio must reach the card bit-exact.
#![no_main]

use e2e::sim::linux::{Kernel, PcmConfig, World, sine_s16};
use e2e::sim::toolstack::CardConfig;
use libfuzzer_sys::fuzz_target;
use vsnd_backend::policy::{Config, GuestPolicy};

fuzz_target!(|data: &[u8]| {
    // The hostile guest is muted and may capture: its own audio is its right; what is
    // checked is that nothing else it does reaches the good guest.
    let mut config = Config::default();
    config.guests.insert(
        6,
        GuestPolicy {
            muted: true,
            capture: true,
            ..GuestPolicy::default()
        },
    );
    let mut world = World::new(config);
    let good = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    let bad = world.add_guest(6, &CardConfig::typical(), Kernel::Patched);
    let signal = sine_s16(48000, 1000.0, 0.5, 2, 48 * 100);
    world
        .start_playback(good, 0, PcmConfig::s16_stereo(48000), &signal)
        .unwrap();
    world.hw_params(bad, 0, PcmConfig::s16_stereo(48000)).unwrap();
    world.hw_params(bad, 1, PcmConfig::s16_stereo(48000)).unwrap();
    let dirs = [world.directory(bad, 0), world.directory(bad, 1)];
    let mut input = data;
    while let Some((&kind, rest)) = input.split_first() {
        let stream = usize::from(kind & 1);
        match kind >> 1 & 3 {
            0 | 1 if rest.len() >= 64 => {
                let mut slot = [0u8; 64];
                slot.copy_from_slice(&rest[..64]);
                // Point OPENs at the real directory half of the time.
                if slot[2] == 0 && kind & 8 != 0 {
                    slot[20..24].copy_from_slice(&dirs[stream].to_le_bytes());
                }
                input = &rest[64..];
                if world.guests[bad].front.streams[stream].ring.free_requests() == 0 {
                    world.step();
                    let _ = world.responses(bad, stream);
                    continue;
                }
                world.push_raw(bad, stream, &slot);
                world.backend.service(world.now_us);
                let _ = world.responses(bad, stream);
            }
            2 if rest.len() >= 3 => {
                let offset = usize::from(u16::from_le_bytes([rest[0], rest[1]])) % 7000;
                let len = usize::from(rest[2]).min(rest.len() - 3);
                world.poke(bad, stream, offset, &rest[3..3 + len]);
                input = &rest[3 + len..];
            }
            _ => {
                world.step();
                input = rest;
            }
        }
    }
    assert!(world.run_until_done(2_000_000), "the good guest drained");
    let played = world.card.played();
    let start = played
        .windows(64)
        .position(|w| w == &signal[..64])
        .expect("the good guest was heard");
    assert!(played.len() >= start + signal.len());
    assert!(played[start..start + signal.len()] == signal[..], "bit-exact");
});
