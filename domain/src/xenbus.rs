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

use audio_hal::{AudioDevice, Direction};

use crate::connection::Connection;
use crate::mixer::{Mixer, Recorder, choose_params};
use crate::policy::Config;

/// The token of our one watch on `backend/vsnd` (it also covers frontend state watches,
/// which carry their own token).
const BACKEND_TOKEN: &str = "vsnd-backend";
const FRONTEND_TOKEN: &str = "vsnd-frontend";
/// The token of our watch on our own `audiovm` subtree (the administrator's policy).
const POLICY_TOKEN: &str = "vsnd-policy";
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

/// The vsnd backend: every guest's devices, and the sound card they share.
pub struct Backend<X, G: GrantTable, E, D: AudioDevice> {
    xs: X,
    pub(crate) grants: G,
    pub(crate) evtchn: E,
    pub(crate) device: D,
    pub(crate) config: Config,
    /// The configuration we were started with; xenstore overrides apply on top of it.
    base_config: Config,
    policy_root: String,
    /// The card's playback and capture sides (None: the card cannot do that direction).
    pub(crate) mixer: Option<Mixer>,
    pub(crate) recorder: Option<Recorder>,
    root: String,
    devices: BTreeMap<(DomId, u32), Device>,
    /// The transport of every connected device.
    pub(crate) connections: BTreeMap<(DomId, u32), Connection<G::Page>>,
    /// Devices refused at probe, left alone until their directory goes away (re-probing
    /// would rewrite their state, fire our own watch, and spin).
    refused: BTreeSet<(DomId, u32)>,
    /// Connected devices that broke the protocol, to be closed at the next poll.
    pub(crate) failed: BTreeSet<(DomId, u32)>,
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

impl<X: Xenstore, G: GrantTable, E: EventChannels, D: AudioDevice> Backend<X, G, E, D> {
    /// Prepares the card and starts watching `backend/vsnd` under our domain.
    pub fn start(
        mut xs: X,
        grants: G,
        evtchn: E,
        mut device: D,
        config: Config,
    ) -> Result<Self, XsError> {
        let mixer = prepare(&mut device, Direction::Playback, |stream, params, caps| {
            Mixer::new(stream, params, caps)
        });
        let recorder = prepare(&mut device, Direction::Capture, |stream, params, caps| {
            Recorder::new(stream, params, caps)
        });
        let root = format!("/local/domain/{}/backend/vsnd", xs.domid());
        xs.watch(&root, BACKEND_TOKEN)?;
        let policy_root = format!("/local/domain/{}/audiovm", xs.domid());
        if let Err(e) = xs.watch(&policy_root, POLICY_TOKEN) {
            log::warn!("cannot watch {policy_root}: {e}; the command line's policy stays");
        }
        let config = crate::policy::read_overrides(&mut xs, &policy_root, &config);
        Ok(Backend {
            xs,
            grants,
            evtchn,
            device,
            base_config: config.clone(),
            config,
            policy_root,
            mixer,
            recorder,
            root,
            devices: BTreeMap::new(),
            connections: BTreeMap::new(),
            refused: BTreeSet::new(),
            failed: BTreeSet::new(),
        })
    }

    /// The card.
    pub fn device(&mut self) -> &mut D {
        &mut self.device
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

    /// The policy in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Re-reads the administrator's policy and applies it to every open stream.
    fn reload_policy(&mut self) {
        self.config =
            crate::policy::read_overrides(&mut self.xs, &self.policy_root, &self.base_config);
        for (key, connection) in self.connections.iter_mut() {
            let policy = self.config.guest(key.0);
            for stream in &mut connection.streams {
                stream.state.policy_changed(&policy);
            }
        }
        log::info!("policy reloaded from {}", self.policy_root);
    }

    /// The devices being served.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    /// Handles every watch event that arrived, and closes devices whose guest broke the
    /// protocol; call after each xenstore notification.
    pub fn poll(&mut self) {
        let (mut fired, mut policy) = (false, false);
        self.xs.take_watch_events(&mut |_, token| {
            if token == POLICY_TOKEN {
                policy = true;
            } else {
                fired = true;
            }
        });
        if policy {
            self.reload_policy();
        }
        for key in core::mem::take(&mut self.failed) {
            if self.connections.contains_key(&key) {
                self.disconnect(key);
                self.set_state(key, XenbusState::Closing);
            }
        }
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
                    self.config.guest(frontend_id).event_ids,
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
            // failed connect): release everything and be ready again. A frontend that closes
            // while we wait in InitWait finds us ready already: going round again would
            // rewrite our state for ever (every write fires our own watch).
            (
                XenbusState::Connected | XenbusState::Closing,
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

/// Sets up one direction of the card, if it has it.
fn prepare<D: AudioDevice, T>(
    device: &mut D,
    direction: Direction,
    make: impl FnOnce(
        &mut D::Stream,
        audio_hal::PcmParams,
        &audio_hal::Capabilities,
    ) -> Result<T, audio_hal::Error>,
) -> Option<T> {
    let caps = device.capabilities(direction).ok()?;
    let Some(params) = choose_params(&caps) else {
        log::warn!("card: no usable {direction:?} format");
        return None;
    };
    let stream = device.stream(direction).ok()?;
    match make(stream, params, &caps) {
        Ok(side) => {
            log::info!(
                "card: {direction:?} at {} Hz, {:?}, {} channels",
                params.rate,
                params.format,
                params.channels
            );
            Some(side)
        }
        Err(e) => {
            log::warn!("card: cannot prepare {direction:?}: {e}");
            None
        }
    }
}
