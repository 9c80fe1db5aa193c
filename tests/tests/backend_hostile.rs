//! Hostile guests (pv-sound.md §7): every trick gets an error response or a disconnect of
//! that guest, and a well-behaved guest beside it keeps playing bit-exact.

use e2e::sim::linux::{Kernel, PcmConfig, World, sine_s16};
use e2e::sim::toolstack::CardConfig;
use proptest::prelude::*;
use vsnd_backend::policy::Config;
use xen_ring::shmem::SharedMem;
use xen_ring::sndif::wire::{HwParam, Interval};
use xen_ring::sndif::{PcmFormat, Request, RequestOp, Response, TriggerType};
use xen_ring::xs::Xenstore;

const PLAYBACK: usize = 0;
const CAPTURE: usize = 1;
const EINVAL: i32 = -22;

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A world with a well-behaved guest (5) playing a known signal and a hostile one (6),
/// both connected. Returns the world and the signal.
fn two_guests() -> (World, Vec<u8>) {
    two_guests_with(Config::default())
}

fn two_guests_with(config: Config) -> (World, Vec<u8>) {
    let mut world = World::new(config);
    let good = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    world.add_guest(6, &CardConfig::typical(), Kernel::Released);
    let data = sine_s16(48000, 1000.0, 0.5, 2, 48 * 600);
    world
        .start_playback(good, PLAYBACK, PcmConfig::s16_stereo(48000), &data)
        .unwrap();
    (world, data)
}

/// The good guest finishes and its audio reached the card bit-exact, with no gap.
fn assert_good_guest_unharmed(world: &mut World, data: &[u8]) {
    assert!(world.run_until_done(3_000_000), "the good guest drained");
    let played = world.card.played();
    let start = find(&played, &data[..64]).expect("the good guest was heard");
    let got = &played[start..(start + data.len()).min(played.len())];
    let first_difference = got.iter().zip(data).position(|(a, b)| a != b);
    assert!(
        got.len() == data.len() && first_difference.is_none(),
        "not bit-exact: {} of {} bytes, first difference at {first_difference:?}",
        got.len(),
        data.len()
    );
}

fn raw(id: u16, operation: u8, payload: &[(usize, &[u8])]) -> [u8; 64] {
    let mut slot = [0u8; 64];
    slot[..2].copy_from_slice(&id.to_le_bytes());
    slot[2] = operation;
    for (at, bytes) in payload {
        slot[*at..*at + bytes.len()].copy_from_slice(bytes);
    }
    slot
}

fn one(responses: Vec<Response>) -> Response {
    assert_eq!(responses.len(), 1, "exactly one response: {responses:?}");
    responses[0]
}

fn open_op(buffer_sz: u32, gref_directory: u32) -> RequestOp {
    RequestOp::Open {
        rate: 48000,
        format: PcmFormat::S16Le,
        channels: 2,
        buffer_sz,
        gref_directory,
        period_sz: 1920,
    }
}

const HOSTILE: usize = 1;

#[test]
fn unknown_operations_and_triggers_get_errors_echoing_id_and_operation() {
    let (mut world, data) = two_guests();
    for (id, op) in [(0xbeef, 42u8), (7, 10), (8, 255)] {
        let r = one(world.raw_request(HOSTILE, PLAYBACK, &raw(id, op, &[])));
        assert_eq!((r.id, r.operation), (id, op));
        assert_eq!(r.status, -38, "ENOSYS");
    }
    let r = one(world.raw_request(HOSTILE, PLAYBACK, &raw(9, 8, &[(8, &[9])])));
    assert_eq!((r.id, r.operation, r.status), (9, 8, EINVAL));
    assert_good_guest_unharmed(&mut world, &data);
}

#[test]
fn requests_on_a_stream_that_is_not_open_are_refused() {
    let (mut world, data) = two_guests();
    for op in [
        RequestOp::Write {
            offset: 0,
            length: 64,
        },
        RequestOp::Read {
            offset: 0,
            length: 64,
        },
        RequestOp::Trigger(TriggerType::Start),
        RequestOp::SetVolume {
            offset: 0,
            length: 8,
        },
    ] {
        let r = one(world.raw_request(HOSTILE, PLAYBACK, &Request { id: 1, op }.to_bytes()));
        assert_eq!(r.status, EINVAL, "{op:?}");
    }
    // CLOSE of a closed stream is harmless and answered.
    let close = Request {
        id: 2,
        op: RequestOp::Close,
    };
    assert_eq!(
        one(world.raw_request(HOSTILE, PLAYBACK, &close.to_bytes())).status,
        0
    );
    assert_good_guest_unharmed(&mut world, &data);
}

#[test]
fn bad_open_parameters_are_refused_before_anything_is_mapped() {
    let (mut world, data) = two_guests();
    world
        .hw_params(HOSTILE, PLAYBACK, PcmConfig::s16_stereo(48000))
        .unwrap();
    let dir = world.directory(HOSTILE, PLAYBACK);
    let mapped = world.grants.mapped_count(6);
    let open = |rate: u32, format: u8, channels: u8, buffer: u32, period: u32| {
        raw(
            1,
            0,
            &[
                (8, &rate.to_le_bytes()),
                (12, &[format, channels]),
                (16, &buffer.to_le_bytes()),
                (20, &dir.to_le_bytes()),
                (24, &period.to_le_bytes()),
            ],
        )
    };
    let cases = [
        open(48000, 2, 0, 7680, 1920), // no channels (a division by zero elsewhere)
        open(0, 2, 2, 7680, 1920),     // no rate
        open(48000, 25, 2, 7680, 1920), // no such format
        open(48000, 24, 2, 7680, 1920), // GSM: compressed
        open(48000, 2, 2, 7680, 7684), // period beyond buffer
        open(48000, 2, 2, 7680, 1922), // period not whole frames
        open(48000, 2, 9, 7680, 1920), // more channels than we mix
        open(1_000_000, 2, 2, 7680, 1920), // a rate nobody offers
        open(48000, 2, 2, u32::MAX, 1920), // a 4 GiB buffer
        open(48000, 2, 2, 1 << 20, 1920), // beyond the policy's cap
        open(48000, 2, 2, 0, 0),       // empty buffer
    ];
    for (i, case) in cases.iter().enumerate() {
        let r = one(world.raw_request(HOSTILE, PLAYBACK, case));
        assert_eq!(r.status, EINVAL, "case {i}");
    }
    assert_eq!(
        world.grants.mapped_count(6),
        mapped,
        "nothing mapped or leaked"
    );
    assert_good_guest_unharmed(&mut world, &data);
}

#[test]
fn reads_and_writes_outside_the_buffer_are_refused() {
    let (mut world, data) = two_guests();
    world
        .hw_params(HOSTILE, PLAYBACK, PcmConfig::s16_stereo(48000))
        .unwrap();
    world.prepare(HOSTILE, PLAYBACK).unwrap();
    let buffer = PcmConfig::s16_stereo(48000).buffer_bytes();
    for (offset, length) in [
        (buffer, 4),
        (buffer - 4, 8),
        (u32::MAX, 2), // offset + length overflows u32
        (4, u32::MAX), // so does this
        (0, buffer + 4),
    ] {
        let write = Request {
            id: 3,
            op: RequestOp::Write { offset, length },
        };
        let r = one(world.raw_request(HOSTILE, PLAYBACK, &write.to_bytes()));
        assert_eq!(r.status, EINVAL, "WRITE {offset}+{length}");
    }
    // A READ on a playback stream makes no sense either.
    let read = Request {
        id: 4,
        op: RequestOp::Read {
            offset: 0,
            length: 4,
        },
    };
    assert_eq!(
        one(world.raw_request(HOSTILE, PLAYBACK, &read.to_bytes())).status,
        EINVAL
    );
    // Zero length is fine and answered at once.
    let empty = Request {
        id: 5,
        op: RequestOp::Write {
            offset: 0,
            length: 0,
        },
    };
    assert_eq!(
        one(world.raw_request(HOSTILE, PLAYBACK, &empty.to_bytes())).status,
        0
    );
    assert_good_guest_unharmed(&mut world, &data);
}

#[test]
fn gref_directories_that_loop_end_early_or_were_never_granted_are_refused() {
    // This guest may have 16 MiB buffers: big enough for chained directory pages.
    let mut config = Config::default();
    config.guests.insert(
        6,
        vsnd_backend::policy::GuestPolicy {
            max_buffer_bytes: 16 << 20,
            ..Default::default()
        },
    );
    let (mut world, data) = two_guests_with(config);
    let mapped = world.grants.mapped_count(6);
    let huge = 2 * 1023 * 4096; // needs a second directory page
    let loops = {
        // A directory page whose "next" is itself: the walk must stop, bounded.
        let page = std::rc::Rc::new(xen_ring::shmem::AtomicPage::new());
        let gref = world.grants.grant(6, 3, page.clone(), false);
        page.write(0, &gref.to_le_bytes());
        gref
    };
    let never_granted = 9999;
    let read_only_data = {
        let data_page = std::rc::Rc::new(xen_ring::shmem::AtomicPage::new());
        let data_ref = world.grants.grant(6, 3, data_page, true);
        let dir = std::rc::Rc::new(xen_ring::shmem::AtomicPage::new());
        dir.write(4, &data_ref.to_le_bytes());
        world.grants.grant(6, 3, dir, false)
    };
    for (buffer, dir, why) in [
        (7680, never_granted, "directory never granted"),
        (7680, read_only_data, "data page granted read-only"),
        ((16 << 20) + 4096, 8, "beyond the cap"),
        (
            huge,
            read_only_data,
            "a chain that ends after one of two pages",
        ),
    ] {
        let r = one(world.raw_request(
            HOSTILE,
            PLAYBACK,
            &Request {
                id: 1,
                op: open_op(buffer, dir),
            }
            .to_bytes(),
        ));
        assert_eq!(r.status, EINVAL, "{why}");
    }
    // A chain whose next page is itself: read exactly the two pages the size needs, find
    // no data grants in them, refuse. No loop.
    let r = one(world.raw_request(
        HOSTILE,
        PLAYBACK,
        &Request {
            id: 1,
            op: open_op(huge, loops),
        }
        .to_bytes(),
    ));
    assert_eq!(r.status, EINVAL);
    assert_eq!(
        world.grants.mapped_count(6),
        mapped,
        "partial mappings undone"
    );
    assert_good_guest_unharmed(&mut world, &data);
}

#[test]
fn a_guest_moving_the_request_producer_past_the_ring_is_disconnected_alone() {
    let (mut world, data) = two_guests();
    // req_prod far beyond what the ring can hold (RING_REQUEST_PROD_OVERFLOW).
    world.guests[HOSTILE].front.streams[PLAYBACK]
        .ring
        .mem()
        .store_u32(0, 1000);
    world.backend.service(world.now_us);
    world.step();
    let device = world.guests[HOSTILE].device.clone();
    assert_eq!(
        world.backend_state(&device).as_deref(),
        Some("5"),
        "Closing"
    );
    assert_eq!(world.grants.mapped_count(6), 0, "its rings are unmapped");
    assert_good_guest_unharmed(&mut world, &data);
}

#[test]
fn a_guest_corrupting_its_event_page_is_disconnected_alone() {
    let (mut world, data) = two_guests();
    world
        .start_playback(
            HOSTILE,
            PLAYBACK,
            PcmConfig::s16_stereo(48000),
            &vec![0; 38400],
        )
        .unwrap();
    // in_cons far ahead of anything we produced (and the guest stops reading its own
    // events, which it could no longer do sanely either).
    world.guests[HOSTILE].dead = true;
    let page = world.guests[HOSTILE].front.streams[PLAYBACK]
        .events
        .mem()
        .clone();
    page.store_u32(0, 5000);
    world.run_for_us(50_000);
    let device = world.guests[HOSTILE].device.clone();
    assert_eq!(world.backend_state(&device).as_deref(), Some("5"));
    assert_good_guest_unharmed(&mut world, &data);
}

#[test]
fn a_guest_that_never_takes_its_events_costs_nothing_and_gets_coherent_ids_later() {
    let (mut world, data) = two_guests();
    world
        .start_playback(
            HOSTILE,
            PLAYBACK,
            PcmConfig::s16_stereo(48000),
            &vec![0; 384_000],
        )
        .unwrap();
    // The guest stops handling interrupts: 63 events fill its page and the rest coalesce.
    world.guests[HOSTILE].dead = true;
    world.run_for_us(500_000);
    let events = world.guests[HOSTILE].front.streams[PLAYBACK]
        .events
        .mem()
        .clone();
    let in_prod = events.load_u32(4);
    assert_eq!(in_prod, 63, "the page is full and nothing was overwritten");
    // When it comes back, every event it finds has the id it expects.
    world.guests[HOSTILE].dead = false;
    world.run_for_us(100_000);
    assert_eq!(world.guests[HOSTILE].pcms[PLAYBACK].events_dropped, 0);
    assert!(world.guests[HOSTILE].pcms[PLAYBACK].events_taken > 63);
    assert_good_guest_unharmed(&mut world, &data);
}

#[test]
fn a_guest_flooding_its_ring_is_answered_in_bounded_batches() {
    let (mut world, data) = two_guests();
    let query = HwParam {
        formats: 1 << 2,
        rates: Interval {
            min: 8000,
            max: 48000,
        },
        channels: Interval { min: 1, max: 2 },
        buffer: Interval { min: 64, max: 8192 },
        period: Interval { min: 64, max: 4096 },
    };
    for round in 0..200u16 {
        for i in 0..32u16 {
            let req = Request {
                id: round * 32 + i,
                op: RequestOp::HwParamQuery(query),
            };
            world.push_raw(HOSTILE, PLAYBACK, &req.to_bytes());
        }
        world.step();
        let answered = world.responses(HOSTILE, PLAYBACK);
        assert_eq!(answered.len(), 32, "all answered, in order");
        assert!(answered.windows(2).all(|w| w[1].id == w[0].id + 1));
    }
    assert_good_guest_unharmed(&mut world, &data);
}

#[test]
fn rewriting_its_xenstore_tree_gives_a_guest_no_rights() {
    let mut world = World::new(Config::default());
    let g = world.add_guest(6, &CardConfig::typical(), Kernel::Released);
    let fe = world.guests[g].device.frontend_path();
    let mut guest_xs = world.xs.connect(6);
    // It claims its capture stream is something else, and a huge buffer.
    guest_xs
        .write(0, &format!("{fe}/0/1/unique-id"), b"alsa<hw:0;0>")
        .unwrap();
    guest_xs
        .write(0, &format!("{fe}/buffer-size"), b"1073741824")
        .unwrap();
    guest_xs.write(0, &format!("{fe}/0/0/type"), b"c").unwrap();
    world.step();
    assert_eq!(
        world.start_capture(g, CAPTURE, PcmConfig::s16_stereo(48000), 1920),
        Err(e2e::sim::linux::AlsaError::Status(-13)),
        "capture is still denied"
    );
    let mut big = PcmConfig::s16_stereo(48000);
    big.buffer_frames = 1 << 20;
    assert!(
        world.hw_params(g, PLAYBACK, big).is_err(),
        "the buffer cap holds"
    );
}

#[test]
fn a_read_nothing_will_answer_is_held_then_filled_with_silence_without_blocking_anyone() {
    let mut config = Config::default();
    config.guests.insert(
        6,
        vsnd_backend::policy::GuestPolicy {
            capture: true,
            ..Default::default()
        },
    );
    let mut world = World::new(config);
    let good = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
    world.add_guest(6, &CardConfig::typical(), Kernel::Released);
    let data = sine_s16(48000, 1000.0, 0.5, 2, 48 * 600);
    world
        .start_playback(good, PLAYBACK, PcmConfig::s16_stereo(48000), &data)
        .unwrap();
    world
        .hw_params(HOSTILE, CAPTURE, PcmConfig::s16_stereo(48000))
        .unwrap();
    world.prepare(HOSTILE, CAPTURE).unwrap();
    let buffer = PcmConfig::s16_stereo(48000).buffer_bytes();
    let read = |id| Request {
        id,
        op: RequestOp::Read {
            offset: 0,
            length: buffer,
        },
    };
    // Never started: no audio will come. The READ is held, and the one behind it waits
    // its turn (responses stay in order).
    assert!(
        world
            .raw_request(HOSTILE, CAPTURE, &read(1).to_bytes())
            .is_empty()
    );
    assert!(
        world
            .raw_request(HOSTILE, CAPTURE, &read(2).to_bytes())
            .is_empty()
    );
    world.run_for_us(600_000);
    let answers = world.responses(HOSTILE, CAPTURE);
    assert_eq!(
        answers.iter().map(|r| (r.id, r.status)).collect::<Vec<_>>(),
        [(1, 0)]
    );
    world.run_for_us(600_000);
    let answers = world.responses(HOSTILE, CAPTURE);
    assert_eq!(
        answers.iter().map(|r| (r.id, r.status)).collect::<Vec<_>>(),
        [(2, 0)]
    );
    assert_good_guest_unharmed(&mut world, &data);
}

#[test]
fn open_close_churn_leaks_nothing() {
    let (mut world, data) = two_guests();
    let before = world.grants.mapped_count(6);
    for _ in 0..50 {
        world
            .hw_params(HOSTILE, PLAYBACK, PcmConfig::s16_stereo(48000))
            .unwrap();
        world.prepare(HOSTILE, PLAYBACK).unwrap();
        // hw_params again without hw_free: Linux's re-OPEN without CLOSE.
        world
            .hw_params(HOSTILE, PLAYBACK, PcmConfig::s16_stereo(44100))
            .unwrap();
        world.prepare(HOSTILE, PLAYBACK).unwrap();
        world.hw_free(HOSTILE, PLAYBACK).unwrap();
    }
    assert_eq!(world.grants.mapped_count(6), before);
    assert_good_guest_unharmed(&mut world, &data);
}

/// One step of a hostile guest.
#[derive(Debug, Clone)]
enum Act {
    Raw([u8; 64]),
    Request(u8, u32, u32),
    Xenstore(u8, Vec<u8>),
    Tick,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        proptest::array::uniform32(any::<u8>()).prop_flat_map(|head| {
            proptest::array::uniform32(any::<u8>()).prop_map(move |tail| {
                let mut slot = [0u8; 64];
                slot[..32].copy_from_slice(&head);
                slot[32..].copy_from_slice(&tail);
                slot[2] %= 12; // mostly real operations, some unknown
                Act::Raw(slot)
            })
        }),
        (0u8..10, any::<u32>(), any::<u32>()).prop_map(|(op, a, b)| Act::Request(op, a, b)),
        (0u8..6, proptest::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(k, v)| Act::Xenstore(k, v)),
        Just(Act::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Random requests, raw slots and xenstore writes from a hostile guest, beside a good
    /// guest: the good guest's audio is unchanged and nothing panics.
    #[test]
    fn a_random_hostile_guest_changes_nothing_for_a_good_one(
        acts in proptest::collection::vec(act(), 1..60)
    ) {
        // Muted by policy: whatever audio it plays is its right and sums into the mix; what
        // is tested is that nothing else it does reaches the good guest.
        let mut config = Config::default();
        config.guests.insert(6, vsnd_backend::policy::GuestPolicy {
            muted: true,
            ..Default::default()
        });
        let mut world = World::new(config);
        let good = world.add_guest(5, &CardConfig::typical(), Kernel::Released);
        let bad = world.add_guest(6, &CardConfig::typical(), Kernel::Released);
        let data = sine_s16(48000, 1000.0, 0.5, 2, 48 * 150);
        world.start_playback(good, PLAYBACK, PcmConfig::s16_stereo(48000), &data).unwrap();
        // Give the hostile guest a real buffer to aim at.
        world.hw_params(bad, PLAYBACK, PcmConfig::s16_stereo(48000)).unwrap();
        let dir = world.directory(bad, PLAYBACK);
        let fe = world.guests[bad].device.frontend_path();
        for act in acts {
            if world.guests[bad].front.streams[PLAYBACK].ring.free_requests() == 0 {
                world.step();
                let _ = world.responses(bad, PLAYBACK);
                continue;
            }
            match act {
                Act::Raw(slot) => world.push_raw(bad, PLAYBACK, &slot),
                Act::Request(op, a, b) => {
                    let op = match op {
                        0 => open_op(a % 20000, if b % 2 == 0 { dir } else { b }),
                        1 => RequestOp::Close,
                        2 => RequestOp::Write { offset: a % 8000, length: b % 8000 },
                        3 => RequestOp::Read { offset: a % 8000, length: b % 8000 },
                        4 => RequestOp::Trigger(TriggerType::Start),
                        5 => RequestOp::Trigger(TriggerType::Stop),
                        6 => RequestOp::SetVolume { offset: a % 8000, length: b % 64 },
                        7 => RequestOp::Mute { offset: a % 8000, length: b % 64 },
                        8 => RequestOp::Trigger(TriggerType::Pause),
                        _ => RequestOp::Trigger(TriggerType::Resume),
                    };
                    world.push_raw(bad, PLAYBACK, &Request { id: 1, op }.to_bytes());
                }
                Act::Xenstore(key, value) => {
                    let key = ["state", "0/0/ring-ref", "0/0/type", "0/0/event-channel",
                               "buffer-size", "0/1/evt-ring-ref"][key as usize];
                    let _ = world.xs.connect(6).write(0, &format!("{fe}/{key}"), &value);
                }
                Act::Tick => world.step(),
            }
            world.backend.service(world.now_us);
            let _ = world.responses(bad, PLAYBACK);
        }
        prop_assert!(world.run_until_done(3_000_000));
        let played = world.card.played();
        let start = find(&played, &data[..64]);
        prop_assert!(start.is_some());
        let start = start.unwrap();
        prop_assert!(played.len() >= start + data.len());
        prop_assert!(played[start..start + data.len()] == data[..], "not bit-exact");
    }
}
