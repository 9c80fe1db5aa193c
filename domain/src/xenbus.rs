//! The backend side of the xenbus handshake for every vsnd device under our domain
//! (pv-sound.md §1.8-1.9, §2.9-2.10).
//!
//! The toolstack creates `backend/vsnd/<frontend-id>/<devid>` in state Initialising; we must
//! reach InitWait well within libxl's 10 s, and only then does the Linux frontend read its
//! configuration and publish its rings. When the frontend closes (driver unload, suspend,
//! reboot) we go through Closing and Closed back to InitWait, ready for it to reconnect. When
//! the toolstack removes the device (`online` = 0, state Closing) we close, and once the
//! frontend is closed too we remove our directory ourselves: a driver domain has no `xl devd`
//! to do it, and libxl waits for it.
//!
//! Everything read here can come from a hostile party: the frontend's tree is guest-owned,
//! and even our own directory is validated before use.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use xen_ring::evtchn::EventChannels;
use xen_ring::grant::{DomId, GrantTable};
use xen_ring::xenbus::XenbusState;
use xen_ring::xs::{NO_TRANSACTION, Xenstore, XsError};

use crate::connection::Connection;

/// The token of our one watch on `backend/vsnd` (it also covers frontend state watches,
/// which carry their own token).
const BACKEND_TOKEN: &str = "vsnd-backend";
const FRONTEND_TOKEN: &str = "vsnd-frontend";
/// Longest value we read from xenstore; longer ones are refused.
const VALUE_MAX: usize = 256;

/// One device as the backend tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub frontend_id: DomId,
    pub devid: u32,
    /// `/local/domain/<us>/backend/vsnd/<fe>/<devid>`.
    pub backend_path: String,
    /// `/local/domain/<fe>/device/vsnd/<devid>`, validated.
    pub frontend_path: String,
    /// The state we last wrote.
    pub state: XenbusState,
    /// The toolstack asked for removal (`online` = 0).
    pub removing: bool,
}

/// The xenbus side of the vsnd backend.
pub struct Backend<X, G: GrantTable, E> {
    xs: X,
    grants: G,
    evtchn: E,
    root: String,
    devices: BTreeMap<(DomId, u32), Device>,
    /// The transport of every connected device.
    connections: BTreeMap<(DomId, u32), Connection<G::Page>>,
    /// Devices refused at probe, left alone until their directory goes away (re-probing
    /// would rewrite their state, fire our own watch, and spin).
    refused: BTreeSet<(DomId, u32)>,
}

fn read_string<X: Xenstore>(xs: &mut X, path: &str) -> Result<String, XsError> {
    let mut buf = [0u8; VALUE_MAX];
    let len = xs.read(NO_TRANSACTION, path, &mut buf)?;
    core::str::from_utf8(&buf[..len])
        .map(String::from)
        .map_err(|_| XsError::Invalid)
}

fn read_state<X: Xenstore>(xs: &mut X, path: &str) -> Option<XenbusState> {
    read_string(xs, &format!("{path}/state"))
        .ok()
        .and_then(|s| XenbusState::parse(&s))
}

/// Children of `path` that are decimal numbers (domain ids, device ids), bounded.
fn numbered_children<X: Xenstore>(xs: &mut X, path: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let _ = xs.directory(NO_TRANSACTION, path, &mut |name| {
        if out.len() < 1024
            && !name.is_empty()
            && name.len() <= 10
            && name.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = name.parse()
        {
            out.push(n);
        }
    });
    out
}

impl<X: Xenstore, G: GrantTable, E: EventChannels> Backend<X, G, E> {
    /// Starts watching `backend/vsnd` under our domain.
    pub fn start(mut xs: X, grants: G, evtchn: E) -> Result<Self, XsError> {
        let root = format!("/local/domain/{}/backend/vsnd", xs.domid());
        xs.watch(&root, BACKEND_TOKEN)?;
        Ok(Backend {
            xs,
            grants,
            evtchn,
            root,
            devices: BTreeMap::new(),
            connections: BTreeMap::new(),
            refused: BTreeSet::new(),
        })
    }

    /// The connected transport of a device, if it is connected.
    pub fn connection(&self, frontend_id: DomId, devid: u32) -> Option<&Connection<G::Page>> {
        self.connections.get(&(frontend_id, devid))
    }

    fn disconnect(&mut self, key: (DomId, u32)) {
        if let Some(mut connection) = self.connections.remove(&key) {
            connection.disconnect(&mut self.grants, &mut self.evtchn);
        }
    }

    /// The devices being served.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    /// Handles every watch event that arrived; call after each xenstore notification.
    pub fn poll(&mut self) {
        let mut fired = false;
        self.xs.take_watch_events(&mut |_, _| fired = true);
        if fired {
            self.scan();
        }
    }

    /// Brings every device under `backend/vsnd` up to date.
    fn scan(&mut self) {
        let mut present = Vec::new();
        for frontend in numbered_children(&mut self.xs, &self.root) {
            let Ok(frontend_id) = DomId::try_from(frontend) else {
                continue;
            };
            for devid in numbered_children(&mut self.xs, &format!("{}/{frontend}", self.root)) {
                present.push((frontend_id, devid));
                if self.refused.contains(&(frontend_id, devid)) {
                    continue;
                }
                if !self.devices.contains_key(&(frontend_id, devid)) {
                    self.probe(frontend_id, devid);
                }
                self.step(frontend_id, devid);
            }
        }
        // Directories that vanished: the toolstack tore the device down.
        self.refused.retain(|key| present.contains(key));
        self.devices.retain(|key, device| {
            let keep = present.contains(key);
            if !keep {
                log::info!(
                    "vsnd {}/{}: backend directory gone, device dropped",
                    device.frontend_id,
                    device.devid
                );
            }
            keep
        });
    }

    /// A new device: validates what the toolstack wrote and moves to InitWait.
    fn probe(&mut self, frontend_id: DomId, devid: u32) {
        let backend_path = format!("{}/{frontend_id}/{devid}", self.root);
        let expected = format!("/local/domain/{frontend_id}/device/vsnd/{devid}");
        let frontend = read_string(&mut self.xs, &format!("{backend_path}/frontend"));
        let id = read_string(&mut self.xs, &format!("{backend_path}/frontend-id"));
        if frontend.as_deref() != Ok(expected.as_str())
            || id.as_deref() != Ok(frontend_id.to_string().as_str())
        {
            log::warn!(
                "vsnd {frontend_id}/{devid}: frontend {frontend:?} / frontend-id {id:?} do not name this device; refused"
            );
            let _ = self.xs.write(
                NO_TRANSACTION,
                &format!("{backend_path}/state"),
                XenbusState::Closed.as_str().as_bytes(),
            );
            self.refused.insert((frontend_id, devid));
            return;
        }
        if let Err(e) = self.xs.watch(&format!("{expected}/state"), FRONTEND_TOKEN) {
            log::warn!("vsnd {frontend_id}/{devid}: cannot watch the frontend state: {e}");
            return;
        }
        let device = Device {
            frontend_id,
            devid,
            backend_path,
            frontend_path: expected,
            state: XenbusState::Initialising,
            removing: false,
        };
        self.devices.insert((frontend_id, devid), device);
    }

    fn set_state(&mut self, key: (DomId, u32), state: XenbusState) {
        let Some(device) = self.devices.get_mut(&key) else {
            return;
        };
        let path = format!("{}/state", device.backend_path);
        match self
            .xs
            .write(NO_TRANSACTION, &path, state.as_str().as_bytes())
        {
            Ok(()) => {
                log::info!(
                    "vsnd {}/{}: {} -> {}",
                    device.frontend_id,
                    device.devid,
                    device.state,
                    state
                );
                device.state = state;
            }
            Err(e) => log::warn!(
                "vsnd {}/{}: cannot write state {state}: {e}",
                device.frontend_id,
                device.devid
            ),
        }
    }

    /// Moves one device along the handshake according to both sides' states.
    fn step(&mut self, frontend_id: DomId, devid: u32) {
        let key = (frontend_id, devid);
        let Some(device) = self.devices.get(&key).cloned() else {
            return;
        };
        let online = read_string(&mut self.xs, &format!("{}/online", device.backend_path)).ok();
        let toolstack_state = read_state(&mut self.xs, &device.backend_path);
        let frontend =
            read_state(&mut self.xs, &device.frontend_path).unwrap_or(XenbusState::Unknown);
        // libxl removes a device by writing online = 0 and forcing our state to Closing.
        let forced_closing =
            toolstack_state == Some(XenbusState::Closing) && device.state != XenbusState::Closing;
        if (online.as_deref() == Some("0") || forced_closing)
            && let Some(d) = self.devices.get_mut(&key)
        {
            d.removing = true;
        }
        let removing = self.devices.get(&key).is_some_and(|d| d.removing);
        if removing {
            self.disconnect(key);
            if device.state != XenbusState::Closed {
                self.set_state(key, XenbusState::Closing);
                self.set_state(key, XenbusState::Closed);
            }
            if matches!(
                frontend,
                XenbusState::Closed | XenbusState::Unknown | XenbusState::Initialising
            ) {
                // No `xl devd` in a driver domain: the backend removes its own directory.
                let _ = self
                    .xs
                    .unwatch(&format!("{}/state", device.frontend_path), FRONTEND_TOKEN);
                if let Err(e) = self.xs.remove(NO_TRANSACTION, &device.backend_path) {
                    log::warn!(
                        "vsnd {frontend_id}/{devid}: cannot remove {}: {e}",
                        device.backend_path
                    );
                }
                self.devices.remove(&key);
            }
            return;
        }
        match (device.state, frontend) {
            (XenbusState::Initialising, _) => self.set_state(key, XenbusState::InitWait),
            // The frontend published its rings: map them, bind the channels, connect.
            (XenbusState::InitWait, XenbusState::Initialised) => {
                match Connection::connect(
                    &mut self.xs,
                    &mut self.grants,
                    &mut self.evtchn,
                    frontend_id,
                    &device.frontend_path,
                ) {
                    Ok(connection) => {
                        log::info!(
                            "vsnd {frontend_id}/{devid}: {} streams connected",
                            connection.streams.len()
                        );
                        self.connections.insert(key, connection);
                        self.set_state(key, XenbusState::Connected);
                    }
                    Err(e) => {
                        log::warn!("vsnd {frontend_id}/{devid}: cannot connect: {e:?}");
                        self.set_state(key, XenbusState::Closing);
                    }
                }
            }
            // The frontend went away (driver unload, suspend, reboot, or our Closing after a
            // failed connect): release everything and be ready again.
            (
                XenbusState::InitWait | XenbusState::Connected | XenbusState::Closing,
                XenbusState::Closing | XenbusState::Closed,
            ) => {
                self.disconnect(key);
                if device.state != XenbusState::Closing {
                    self.set_state(key, XenbusState::Closing);
                }
                self.set_state(key, XenbusState::Closed);
                self.set_state(key, XenbusState::InitWait);
            }
            _ => {}
        }
    }
}
