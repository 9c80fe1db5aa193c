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

use crate::connection::{self, Connection};
use crate::mixer::{Mixer, Recorder, choose_params};
use crate::paced::Paced;
use crate::policy::Config;
use crate::serve::Engine;

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
    /// The card and every connected stream.
    pub(crate) engine: Engine<G, E, D>,
    /// The configuration we were started with; xenstore overrides apply on top of it.
    base_config: Config,
    policy_root: String,
    root: String,
    devices: BTreeMap<(DomId, u32), Device>,
    /// Devices refused at probe, left alone until their directory goes away (re-probing
    /// would rewrite their state, fire our own watch, and spin).
    refused: BTreeSet<(DomId, u32)>,
    /// The monotonic clock (µs) that lets xenstore work tick the card between round trips;
    /// without one, only the caller ticks.
    clock: Option<fn() -> u64>,
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
            engine: Engine::new(grants, evtchn, device, config.clone(), mixer, recorder),
            base_config: config,
            policy_root,
            root,
            devices: BTreeMap::new(),
            refused: BTreeSet::new(),
            clock: None,
        })
    }

    /// Gives the backend the clock `tick` is called with. Xenstore round trips go to another
    /// domain and can take milliseconds each on a busy host; with a clock, the handshake
    /// work in [`Backend::poll`] ticks the card between them whenever a tick is due, so
    /// guests coming and going never starve the ones playing.
    pub fn set_clock(&mut self, clock: fn() -> u64) {
        self.clock = Some(clock);
    }

    /// Xenstore, ticking the card between round trips when a clock is set.
    fn xs(&mut self) -> Paced<'_, X, G, E, D> {
        Paced {
            xs: &mut self.xs,
            engine: &mut self.engine,
            clock: self.clock,
        }
    }

    fn read_string(&mut self, path: &str) -> Result<String, XsError> {
        read_string(&mut self.xs(), path)
    }

    fn read_state(&mut self, path: &str) -> Option<XenbusState> {
        read_state(&mut self.xs(), path)
    }

    fn numbered_children(&mut self, path: &str) -> Vec<u32> {
        numbered_children(&mut self.xs(), path)
    }

    /// Answers what every connected guest has queued; call on event-channel notifications.
    pub fn service(&mut self, now_us: u64) {
        self.engine.service(now_us);
    }

    /// One timer tick at `now_us` (every millisecond): mixing, capture, held requests,
    /// position events.
    pub fn tick(&mut self, now_us: u64) {
        self.engine.tick(now_us);
    }

    /// Frames written to the card ahead of what it has played: the latency the backend adds
    /// on top of the guest's own buffer (`None` before the card plays).
    pub fn playback_lead(&mut self) -> Option<u64> {
        self.engine.playback_lead()
    }

    /// The card.
    pub fn device(&mut self) -> &mut D {
        &mut self.engine.device
    }

    /// The connected transport of a device, if it is connected.
    pub fn connection(&self, frontend_id: DomId, devid: u32) -> Option<&Connection<G::Page>> {
        self.engine.connections.get(&(frontend_id, devid))
    }

    fn disconnect(&mut self, key: (DomId, u32)) {
        self.engine.retire(key);
    }

    /// The policy in force.
    pub fn config(&self) -> &Config {
        &self.engine.config
    }

    /// Re-reads the administrator's policy and applies it to every open stream.
    fn reload_policy(&mut self) {
        let (root, base) = (self.policy_root.clone(), self.base_config.clone());
        let config = crate::policy::read_overrides(&mut self.xs(), &root, &base);
        let engine = &mut self.engine;
        engine.config = config;
        for (key, connection) in engine.connections.iter_mut() {
            let policy = engine.config.guest(key.0);
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
        for key in core::mem::take(&mut self.engine.failed) {
            if self.engine.connections.contains_key(&key) {
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
        let root = self.root.clone();
        for frontend in self.numbered_children(&root) {
            let Ok(frontend_id) = DomId::try_from(frontend) else {
                continue;
            };
            for devid in self.numbered_children(&format!("{root}/{frontend}")) {
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
        let frontend = self.read_string(&format!("{backend_path}/frontend"));
        let id = self.read_string(&format!("{backend_path}/frontend-id"));
        if frontend.as_deref() != Ok(expected.as_str())
            || id.as_deref() != Ok(frontend_id.to_string().as_str())
        {
            log::warn!(
                "vsnd {frontend_id}/{devid}: frontend {frontend:?} / frontend-id {id:?} do not name this device; refused"
            );
            let _ = self.xs().write(
                NO_TRANSACTION,
                &format!("{backend_path}/state"),
                XenbusState::Closed.as_str().as_bytes(),
            );
            self.refused.insert((frontend_id, devid));
            return;
        }
        if let Err(e) = self
            .xs()
            .watch(&format!("{expected}/state"), FRONTEND_TOKEN)
        {
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
        let Some(device) = self.devices.get(&key) else {
            return;
        };
        let path = format!("{}/state", device.backend_path);
        let written = self
            .xs()
            .write(NO_TRANSACTION, &path, state.as_str().as_bytes());
        let Some(device) = self.devices.get_mut(&key) else {
            return;
        };
        match written {
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
        let online = self
            .read_string(&format!("{}/online", device.backend_path))
            .ok();
        let toolstack_state = self.read_state(&device.backend_path);
        let frontend = self
            .read_state(&device.frontend_path)
            .unwrap_or(XenbusState::Unknown);
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
                    .xs()
                    .unwatch(&format!("{}/state", device.frontend_path), FRONTEND_TOKEN);
                if let Err(e) = self.xs().remove(NO_TRANSACTION, &device.backend_path) {
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
                let event_ids = self.engine.config.guest(frontend_id).event_ids;
                let connected =
                    connection::published(&mut self.xs(), frontend_id, &device.frontend_path)
                        .and_then(|streams| {
                            let engine = &mut self.engine;
                            Connection::attach(
                                &mut engine.grants,
                                &mut engine.evtchn,
                                frontend_id,
                                &streams,
                                event_ids,
                            )
                        });
                match connected {
                    Ok(connection) => {
                        log::info!(
                            "vsnd {frontend_id}/{devid}: {} streams connected",
                            connection.streams.len()
                        );
                        self.engine.connections.insert(key, connection);
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
