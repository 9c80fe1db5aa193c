//! The backend's xenbus handshake against the simulated host and libxl's device layout.

use e2e::sim::toolstack::{CardConfig, VsndDevice, begin_remove_vsnd, create_vsnd};
use e2e::sim::xenstore::XenstoreHost;
use vsnd_backend::xenbus::Backend;
use xen_ring::xs::Xenstore;

const BACKEND: u16 = 3;

fn device(frontend: u16, devid: u32) -> VsndDevice {
    VsndDevice {
        frontend,
        backend: BACKEND,
        devid,
    }
}

/// The host with our domain's `backend` directory, as dom0 sets it up for a driver domain.
fn host() -> XenstoreHost {
    let host = XenstoreHost::new();
    host.connect(0)
        .write(0, "/local/domain/3/backend", b"")
        .unwrap();
    let ours = [xen_ring::xs::Perm {
        domid: BACKEND,
        read: false,
        write: false,
    }];
    host.connect(0)
        .set_perms(0, "/local/domain/3/backend", &ours)
        .unwrap();
    host
}

fn state(host: &XenstoreHost, path: &str) -> Option<String> {
    host.peek(&format!("{path}/state"))
}

#[test]
fn devices_reach_initwait_on_the_first_poll_whenever_they_appear() {
    let host = host();
    create_vsnd(&host, &device(5, 0), &CardConfig::typical()).unwrap();
    let mut backend = Backend::start(host.connect(BACKEND)).unwrap();
    backend.poll();
    assert_eq!(
        state(&host, &device(5, 0).backend_path()).as_deref(),
        Some("2")
    );
    create_vsnd(&host, &device(7, 1), &CardConfig::typical()).unwrap();
    backend.poll();
    assert_eq!(
        state(&host, &device(7, 1).backend_path()).as_deref(),
        Some("2")
    );
    assert_eq!(backend.devices().count(), 2);
}

#[test]
fn a_device_whose_frontend_path_names_another_guest_is_refused() {
    let host = host();
    let d = device(5, 0);
    create_vsnd(&host, &d, &CardConfig::typical()).unwrap();
    host.connect(0)
        .write(
            0,
            &format!("{}/frontend", d.backend_path()),
            b"/local/domain/6/device/vsnd/0",
        )
        .unwrap();
    let mut backend = Backend::start(host.connect(BACKEND)).unwrap();
    backend.poll();
    assert_eq!(state(&host, &d.backend_path()).as_deref(), Some("6"));
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
    let host = host();
    let d = device(5, 0);
    create_vsnd(&host, &d, &CardConfig::typical()).unwrap();
    let mut backend = Backend::start(host.connect(BACKEND)).unwrap();
    backend.poll();
    let mut guest = host.connect(5);
    guest
        .write(0, &format!("{}/state", d.frontend_path()), b"5")
        .unwrap();
    backend.poll();
    assert_eq!(
        state(&host, &d.backend_path()).as_deref(),
        Some("2"),
        "Closing -> Closed -> InitWait"
    );
    assert_eq!(backend.devices().count(), 1);
}

#[test]
fn a_removed_device_is_closed_and_its_directory_removed_once_the_frontend_closed() {
    let host = host();
    let d = device(5, 0);
    create_vsnd(&host, &d, &CardConfig::typical()).unwrap();
    let mut backend = Backend::start(host.connect(BACKEND)).unwrap();
    backend.poll();
    let mut guest = host.connect(5);
    guest
        .write(0, &format!("{}/state", d.frontend_path()), b"3")
        .unwrap();
    backend.poll();
    begin_remove_vsnd(&host, &d).unwrap();
    backend.poll();
    assert_eq!(state(&host, &d.backend_path()).as_deref(), Some("6"));
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
    let host = host();
    let d = device(5, 0);
    create_vsnd(&host, &d, &CardConfig::typical()).unwrap();
    let mut backend = Backend::start(host.connect(BACKEND)).unwrap();
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
            state(&host, &d.backend_path()).as_deref(),
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
