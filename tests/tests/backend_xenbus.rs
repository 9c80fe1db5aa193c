//! The backend's xenbus handshake against the simulated host and libxl's device layout.

use e2e::sim::card::SimCard;
use e2e::sim::evtchn::{Endpoint, EvtchnHost};
use e2e::sim::frontend::{self, as_linux};
use e2e::sim::grant::{DomainGrants, GrantHost};
use e2e::sim::toolstack::{CardConfig, VsndDevice, begin_remove_vsnd, create_vsnd};
use e2e::sim::xenstore::{Connection, XenstoreHost};
use vsnd_backend::policy::Config;
use vsnd_backend::xenbus::Backend;
use xen_ring::xs::Xenstore;

/// The simulated host a backend test runs in.
struct Host {
    xs: XenstoreHost,
    grants: GrantHost,
    evtchn: EvtchnHost,
}

impl Host {
    fn backend(&self) -> Backend<Connection, DomainGrants, Endpoint, SimCard> {
        Backend::start(
            self.xs.connect(BACKEND),
            self.grants.table(BACKEND),
            self.evtchn.endpoint(BACKEND),
            SimCard::new(),
            Config::default(),
        )
        .unwrap()
    }
}

const BACKEND: u16 = 3;

fn device(frontend: u16, devid: u32) -> VsndDevice {
    VsndDevice {
        frontend,
        backend: BACKEND,
        devid,
    }
}

/// The host with our domain's `backend` directory, as dom0 sets it up for a driver domain.
fn sim() -> Host {
    let xs = XenstoreHost::new();
    xs.connect(0)
        .write(0, "/local/domain/3/backend", b"")
        .unwrap();
    let ours = [xen_ring::xs::Perm {
        domid: BACKEND,
        read: false,
        write: false,
    }];
    xs.connect(0)
        .set_perms(0, "/local/domain/3/backend", &ours)
        .unwrap();
    Host {
        xs,
        grants: GrantHost::new(),
        evtchn: EvtchnHost::new(),
    }
}

fn state(host: &XenstoreHost, path: &str) -> Option<String> {
    host.peek(&format!("{path}/state"))
}

#[test]
fn devices_reach_initwait_on_the_first_poll_whenever_they_appear() {
    let sim = sim();
    let host = &sim.xs;
    create_vsnd(host, &device(5, 0), &CardConfig::typical()).unwrap();
    let mut backend = sim.backend();
    backend.poll();
    assert_eq!(
        state(host, &device(5, 0).backend_path()).as_deref(),
        Some("2")
    );
    create_vsnd(host, &device(7, 1), &CardConfig::typical()).unwrap();
    backend.poll();
    assert_eq!(
        state(host, &device(7, 1).backend_path()).as_deref(),
        Some("2")
    );
    assert_eq!(backend.devices().count(), 2);
}

#[test]
fn a_device_whose_frontend_path_names_another_guest_is_refused() {
    let sim = sim();
    let host = &sim.xs;
    let d = device(5, 0);
    create_vsnd(host, &d, &CardConfig::typical()).unwrap();
    host.connect(0)
        .write(
            0,
            &format!("{}/frontend", d.backend_path()),
            b"/local/domain/6/device/vsnd/0",
        )
        .unwrap();
    let mut backend = sim.backend();
    backend.poll();
    assert_eq!(state(host, &d.backend_path()).as_deref(), Some("6"));
    assert_eq!(backend.devices().count(), 0);
    // Refusing once is enough: a later scan must not rewrite the refused device's state, or
    // every write would fire our own watch again and the backend would spin.
    host.connect(0)
        .write(0, &format!("{}/unrelated", d.backend_path()), b"x")
        .unwrap();
    backend.poll();
    let mut fired_after = 0;
    host.connect(BACKEND)
        .take_watch_events(&mut |_, _| fired_after += 1);
    assert_eq!(fired_after, 0, "the backend rewrote the refused device");
}

#[test]
fn a_closing_frontend_finds_the_backend_ready_again() {
    let sim = sim();
    let host = &sim.xs;
    let d = device(5, 0);
    create_vsnd(host, &d, &CardConfig::typical()).unwrap();
    let mut backend = sim.backend();
    backend.poll();
    let mut guest = host.connect(5);
    guest
        .write(0, &format!("{}/state", d.frontend_path()), b"5")
        .unwrap();
    backend.poll();
    assert_eq!(
        state(host, &d.backend_path()).as_deref(),
        Some("2"),
        "Closing -> Closed -> InitWait"
    );
    assert_eq!(backend.devices().count(), 1);
}

#[test]
fn a_removed_device_is_closed_and_its_directory_removed_once_the_frontend_closed() {
    let sim = sim();
    let host = &sim.xs;
    let d = device(5, 0);
    create_vsnd(host, &d, &CardConfig::typical()).unwrap();
    let mut backend = sim.backend();
    backend.poll();
    let mut guest = host.connect(5);
    guest
        .write(0, &format!("{}/state", d.frontend_path()), b"3")
        .unwrap();
    backend.poll();
    begin_remove_vsnd(host, &d).unwrap();
    backend.poll();
    assert_eq!(state(host, &d.backend_path()).as_deref(), Some("6"));
    assert!(
        host.exists(&d.backend_path()),
        "kept while the frontend is still up"
    );
    guest
        .write(0, &format!("{}/state", d.frontend_path()), b"6")
        .unwrap();
    backend.poll();
    assert!(
        !host.exists(&d.backend_path()),
        "the backend removes its own directory"
    );
    assert_eq!(backend.devices().count(), 0);
}

#[test]
fn garbage_in_the_guests_tree_changes_nothing_and_panics_nowhere() {
    let sim = sim();
    let host = &sim.xs;
    let d = device(5, 0);
    create_vsnd(host, &d, &CardConfig::typical()).unwrap();
    let mut backend = sim.backend();
    backend.poll();
    let mut guest = host.connect(5);
    for garbage in ["banana", "", "99", "-1", "4294967296", "3\n3"] {
        guest
            .write(
                0,
                &format!("{}/state", d.frontend_path()),
                garbage.as_bytes(),
            )
            .unwrap();
        backend.poll();
        assert_eq!(
            state(host, &d.backend_path()).as_deref(),
            Some("2"),
            "after state {garbage:?}"
        );
    }
    // The guest cannot add devices to our directory.
    assert!(
        guest
            .write(0, "/local/domain/3/backend/vsnd/5/9/state", b"1")
            .is_err()
    );
}

#[test]
fn an_initialised_frontend_gets_every_stream_mapped_bound_and_connected() {
    let sim = sim();
    let d = device(5, 0);
    create_vsnd(&sim.xs, &d, &CardConfig::typical()).unwrap();
    let mut backend = sim.backend();
    backend.poll();
    let front = frontend::connect(&sim.xs, &sim.grants, &sim.evtchn, &d, &as_linux).unwrap();
    assert_eq!(front.streams.len(), 2);
    backend.poll();
    assert_eq!(state(&sim.xs, &d.backend_path()).as_deref(), Some("4"));
    let connection = backend.connection(5, 0).expect("connected");
    let names: Vec<&str> = connection.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["0/0", "0/1"]);
    assert_eq!(sim.grants.mapped_count(5), 4, "two pages per stream");
    // The channels really connect the two ends.
    let mut guest_ports = sim.evtchn.endpoint(5);
    let mut backend_ports = sim.evtchn.endpoint(BACKEND);
    xen_ring::evtchn::EventChannels::notify(&mut backend_ports, connection.streams[1].event_port)
        .unwrap();
    assert!(guest_ports.take(front.streams[1].event_port));
    // The guest goes away: everything is released before we are ready again.
    sim.xs
        .connect(5)
        .write(0, &format!("{}/state", d.frontend_path()), b"5")
        .unwrap();
    backend.poll();
    assert_eq!(state(&sim.xs, &d.backend_path()).as_deref(), Some("2"));
    assert!(backend.connection(5, 0).is_none());
    assert_eq!(sim.grants.mapped_count(5), 0, "nothing stays mapped");
}

#[test]
fn a_frontend_with_missing_or_bad_keys_is_not_connected_and_nothing_leaks() {
    let cases: [(&str, frontend::KeyEdit); 3] = [
        ("missing evt-ring-ref", &|s, k, v| {
            if s == "0/1" && k == "evt-ring-ref" {
                None
            } else {
                Some(v)
            }
        }),
        ("garbage ring-ref", &|s, k, v| {
            if s == "0/1" && k == "ring-ref" {
                Some("12abc".into())
            } else {
                Some(v)
            }
        }),
        ("port not ours", &|s, k, v| {
            if s == "0/1" && k == "event-channel" {
                Some("999".into())
            } else {
                Some(v)
            }
        }),
    ];
    for (what, edit) in cases {
        let sim = sim();
        let d = device(5, 0);
        create_vsnd(&sim.xs, &d, &CardConfig::typical()).unwrap();
        let mut backend = sim.backend();
        backend.poll();
        frontend::connect(&sim.xs, &sim.grants, &sim.evtchn, &d, edit).unwrap();
        backend.poll();
        assert_eq!(
            state(&sim.xs, &d.backend_path()).as_deref(),
            Some("5"),
            "{what}: Closing"
        );
        assert!(backend.connection(5, 0).is_none(), "{what}");
        assert_eq!(
            sim.grants.mapped_count(5),
            0,
            "{what}: the first stream's pages were unmapped again"
        );
    }
}

#[test]
fn card_configuration_hints_inherit_card_device_stream_as_linux_reads_them() {
    use vsnd_backend::hints::Hints;
    use xen_ring::sndif::PcmFormat;
    let sim = sim();
    let dev = device(5, 0);
    let mut card = CardConfig::typical();
    card.sample_formats = Some("s16_le,f32_le".into()); // libxl's float spelling
    card.sample_rates = Some("44100,48000,12345".into()); // 12345: not a rate Linux honours
    card.channels_max = Some(2);
    card.buffer_size = Some(32768);
    create_vsnd(&sim.xs, &dev, &card).unwrap();
    let fe = dev.frontend_path();
    let mut guest = sim.xs.connect(5);
    // The device narrows the channels; its capture stream the formats and buffer.
    guest
        .write(0, &format!("{fe}/0/channels-min"), b"2")
        .unwrap();
    guest
        .write(0, &format!("{fe}/0/1/sample-formats"), b"float_le")
        .unwrap();
    guest
        .write(0, &format!("{fe}/0/1/buffer-size"), b"8192")
        .unwrap();
    let mut reader = sim.xs.connect(BACKEND);
    let playback = Hints::read(&mut reader, &fe, 0, 0);
    let capture = Hints::read(&mut reader, &fe, 0, 1);
    let f32_s16 = xen_ring::sndif::FormatSet::default()
        .with(PcmFormat::S16Le)
        .with(PcmFormat::F32Le);
    assert_eq!(playback.formats, f32_s16);
    assert_eq!(playback.rates, 1 << 6 | 1 << 7);
    assert_eq!((playback.channels_min, playback.channels_max), (2, 2));
    assert_eq!(playback.buffer_bytes, 32768);
    assert_eq!(
        capture.formats,
        xen_ring::sndif::FormatSet::default().with(PcmFormat::F32Le)
    );
    assert_eq!(capture.buffer_bytes, 8192);
    assert_eq!((capture.channels_min, capture.rates), (2, playback.rates));
    // Nothing configured: Linux's defaults.
    let bare = Hints::read(&mut reader, "/local/domain/5/device/vsnd/9", 0, 0);
    assert_eq!(bare, Hints::default());
    assert_eq!(
        (bare.channels_min, bare.channels_max, bare.buffer_bytes),
        (1, 2, 65536)
    );
}
