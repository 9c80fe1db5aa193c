//! Running the connected guests: answering their requests and keeping the card fed.
//!
//! The backend is single-threaded and driven from outside:
//! [`crate::xenbus::Backend::service`] after an event-channel notification (or on every
//! wake-up: it only looks at rings with work), and [`crate::xenbus::Backend::tick`] on every
//! timer tick. A tick reads the card's positions, mixes every running playback stream a
//! little ahead of the DAC, hands new recorded frames to every running capture stream,
//! answers requests that were waiting for data or room, and sends position events.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use xen_ring::evtchn::EventChannels;
use xen_ring::grant::{DomId, GrantTable};
use xen_ring::sndif::{Request, Response};

use audio_hal::{AudioDevice, Direction, PcmStream};

use crate::connection::{Connection, StreamChannel};
use crate::fade::Fade;
use crate::mixer::{Mixer, Recorder};
use crate::pacing::{self, Pacing};
use crate::policy::Config;
use crate::stream::{Ctx, DeviceFormat};

/// Requests taken from one ring per call: a flooding guest cannot keep us in its ring.
const BATCH: u32 = 32;
/// The tick period the backend is meant to be driven at.
pub(crate) const TICK_US: u64 = 1000;

fn format_of(params: audio_hal::PcmParams) -> DeviceFormat {
    DeviceFormat {
        rate: params.rate,
        channels: usize::from(params.channels),
    }
}

/// Everything that serves audio once guests are connected: the card and its two sides, the
/// connected streams, the policy. The xenbus side ([`crate::xenbus::Backend`]) owns it and
/// adds and removes connections; it never touches xenstore.
pub(crate) struct Engine<G: GrantTable, E, D> {
    pub grants: G,
    pub evtchn: E,
    pub device: D,
    pub config: Config,
    /// The card's playback and capture sides (None: the card cannot do that direction).
    pub mixer: Option<Mixer>,
    pub recorder: Option<Recorder>,
    /// The transport of every connected device.
    pub connections: BTreeMap<(DomId, u32), Connection<G::Page>>,
    /// Connected devices that broke the protocol, to be closed by the xenbus side.
    pub failed: BTreeSet<(DomId, u32)>,
    /// How far ahead of the card to mix, learned from when we run.
    pub pacing: Pacing,
    /// The lead last logged (`None`: none yet, the configured floor is assumed).
    lead_reported: Option<u32>,
    pub last_tick_us: Option<u64>,
    /// Streams of vanished connections, fading out.
    pub fading: Vec<Fade>,
    scratch: Vec<i32>,
}

impl<G: GrantTable, E: EventChannels, D: AudioDevice> Engine<G, E, D> {
    pub fn new(
        grants: G,
        evtchn: E,
        device: D,
        config: Config,
        mixer: Option<Mixer>,
        recorder: Option<Recorder>,
    ) -> Self {
        Engine {
            grants,
            evtchn,
            device,
            config,
            mixer,
            recorder,
            connections: BTreeMap::new(),
            failed: BTreeSet::new(),
            pacing: Pacing::default(),
            lead_reported: None,
            last_tick_us: None,
            fading: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Releases a connection: unmaps and unbinds everything; what was playing fades out.
    pub fn retire(&mut self, key: (DomId, u32)) {
        if let Some(mut connection) = self.connections.remove(&key) {
            let playing = connection.disconnect(&mut self.grants, &mut self.evtchn);
            self.fading.extend(playing.into_iter().map(Fade::new));
        }
    }

    fn ctx(&mut self, domid: DomId, now_us: u64) -> Ctx<'_, G> {
        Ctx {
            grants: &mut self.grants,
            domid,
            policy: self.config.guest(domid),
            min_period_us: self.config.min_period_us,
            capture_timeout_us: self.config.capture_timeout_us,
            playback_device: self.mixer.as_ref().map(|m| format_of(m.params())),
            capture_device: self.recorder.as_ref().map(|r| format_of(r.params())),
            now_us,
        }
    }

    /// Answers what every connected guest has queued.
    pub fn service(&mut self, now_us: u64) {
        self.evtchn.take_pending(&mut |_| {});
        let keys: Vec<_> = self.connections.keys().copied().collect();
        for key in keys {
            let Some(mut connection) = self.connections.remove(&key) else {
                continue;
            };
            let mut broken = false;
            for stream in &mut connection.streams {
                if let Err(why) = self.serve_ring(key.0, stream, now_us) {
                    log::warn!("vsnd {}/{} {}: {why}; closing", key.0, key.1, stream.name);
                    broken = true;
                    break;
                }
            }
            self.connections.insert(key, connection);
            if broken {
                self.failed.insert(key);
            }
        }
    }

    /// Takes up to [`BATCH`] requests from one stream's ring, in order, answering each.
    fn serve_ring(
        &mut self,
        domid: DomId,
        stream: &mut StreamChannel<G::Page>,
        now_us: u64,
    ) -> Result<(), &'static str> {
        let mut answered = false;
        for _ in 0..BATCH {
            if stream.state.is_blocked() {
                break;
            }
            let slot = match stream.ring.next_request() {
                Ok(Some(slot)) => slot,
                Ok(None) => match stream.ring.final_check_for_requests() {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(_) => return Err("request ring indices are corrupt"),
                },
                Err(_) => return Err("request ring indices are corrupt"),
            };
            let response = match Request::parse(&slot) {
                Ok(request) => {
                    let mut ctx = self.ctx(domid, now_us);
                    stream.state.handle(request, &mut ctx)
                }
                Err(e) => {
                    log::warn!("vsnd {domid} {}: bad request: {}", stream.name, e.reason);
                    Some(Response::error(e.id, e.operation, e.reason.errno()))
                }
            };
            if let Some(response) = response {
                respond(stream, &response)?;
                answered = true;
            }
        }
        if answered && stream.ring.push_responses_and_check_notify() {
            let _ = self.evtchn.notify(stream.request_port);
        }
        Ok(())
    }

    /// One timer tick at `now_us`: mixing, capture, held requests, position events.
    pub fn tick(&mut self, now_us: u64) {
        self.pacing.observe(now_us);
        self.last_tick_us = Some(now_us);
        self.play();
        self.record(now_us);
        let keys: Vec<_> = self.connections.keys().copied().collect();
        for key in keys {
            let Some(mut connection) = self.connections.remove(&key) else {
                continue;
            };
            let mut broken = false;
            for stream in &mut connection.streams {
                let mut ctx = self.ctx(key.0, now_us);
                if let Some(response) = stream.state.retry(&mut ctx) {
                    if respond(stream, &response).is_err() {
                        broken = true;
                    } else if stream.ring.push_responses_and_check_notify() {
                        let _ = self.evtchn.notify(stream.request_port);
                    }
                    // What queued behind the held request.
                    if !broken && self.serve_ring(key.0, stream, now_us).is_err() {
                        broken = true;
                    }
                }
                let before = stream.events.pending();
                match stream.state.report_position(&mut stream.events, now_us) {
                    Ok(()) => {
                        if stream.events.pending() != before {
                            let _ = self.evtchn.notify(stream.event_port);
                        }
                    }
                    Err(_) => broken = true,
                }
            }
            self.connections.insert(key, connection);
            if broken {
                log::warn!("vsnd {}/{}: broken rings; closing", key.0, key.1);
                self.failed.insert(key);
            }
        }
    }

    /// Frames written to the card ahead of what it has played: the latency the backend adds
    /// on top of the guest's own buffer (`None` before the card plays).
    pub fn playback_lead(&mut self) -> Option<u64> {
        let mixer = self.mixer.as_ref()?;
        if !mixer.running() {
            return None;
        }
        let position = self
            .device
            .stream(Direction::Playback)
            .ok()?
            .position()
            .ok()?;
        Some(mixer.written().saturating_sub(position))
    }

    /// Mixes every running playback stream into the card and moves their positions.
    fn play(&mut self) {
        let Some(mixer) = self.mixer.as_mut() else {
            return;
        };
        let Ok(card) = self.device.stream(Direction::Playback) else {
            return;
        };
        let position = match card.position() {
            Ok(p) => p,
            Err(e) => {
                log::warn!("card: playback position: {e}");
                return;
            }
        };
        let mut any = false;
        for connection in self.connections.values_mut() {
            for stream in &mut connection.streams {
                if let Some(source) = stream.state.playback() {
                    source.advance(position);
                }
                any |= stream.state.playing().is_some();
            }
        }
        any |= !self.fading.is_empty();
        if !any && !mixer.running() {
            return;
        }
        let lead = lead_frames(&self.pacing, mixer.params().rate).max(self.config.lead_frames);
        let reported = self.lead_reported.unwrap_or(self.config.lead_frames);
        if pacing::far_from(reported, lead) {
            let (lead_us, gap_us) = (
                u64::from(lead) * 1_000_000 / u64::from(mixer.params().rate.max(1)),
                self.pacing.longest_gap_us(),
            );
            log::info!(
                "mixer: lead {}.{} ms (longest gap between runs in the last 32 s: {}.{} ms)",
                lead_us / 1000,
                lead_us % 1000 / 100,
                gap_us / 1000,
                gap_us % 1000 / 100
            );
            self.lead_reported = Some(lead);
        }
        let due = mixer.due(position, u64::from(lead));
        log::trace!("mix: position {position}, {due:?}");
        if due.missed > 0 {
            // Drop what the guests would have played while we did not run: their positions
            // stay in step with the card's clock.
            let discard = mixer.discard_bus(due.missed);
            for connection in self.connections.values_mut() {
                for stream in &mut connection.streams {
                    if let Some(source) = stream.state.playing() {
                        source.render(due.missed, discard);
                        source.commit(position);
                    }
                }
            }
            for fade in &mut self.fading {
                fade.skip(due.missed);
            }
        }
        let frames = due.mix;
        if frames == 0 {
            return;
        }
        let end = mixer.written() + frames as u64;
        let channels = usize::from(mixer.params().channels);
        let bus = mixer.bus(frames);
        for connection in self.connections.values_mut() {
            for stream in &mut connection.streams {
                if let Some(source) = stream.state.playing() {
                    source.render(frames, bus);
                    source.commit(end);
                }
            }
        }
        for fade in &mut self.fading {
            fade.render(frames, channels, bus, &mut self.scratch);
        }
        self.fading.retain(|fade| !fade.done());
        if let Err(e) = mixer.commit(card) {
            log::warn!("card: playback write: {e}");
        }
    }

    /// Hands what the card recorded to every running capture stream whose guest may record.
    fn record(&mut self, now_us: u64) {
        let Some(recorder) = self.recorder.as_mut() else {
            return;
        };
        let Ok(card) = self.device.stream(Direction::Capture) else {
            return;
        };
        let wanted = self.connections.iter_mut().any(|(key, c)| {
            self.config.guest(key.0).capture
                && c.streams.iter_mut().any(|s| s.state.recording().is_some())
        });
        if !wanted {
            return;
        }
        if let Err(e) = recorder.start(card) {
            log::warn!("card: cannot start capture: {e}");
            return;
        }
        let samples = match recorder.take_or_silence(card, now_us) {
            Ok(samples) => samples,
            Err(e) => {
                log::warn!("card: capture read: {e}");
                return;
            }
        };
        for (key, connection) in &mut self.connections {
            // Checked again here, not only at OPEN: the policy is the authority.
            if !self.config.guest(key.0).capture {
                continue;
            }
            for stream in &mut connection.streams {
                if let Some(sink) = stream.state.recording() {
                    sink.feed(samples);
                }
            }
        }
    }
}

/// The lead [`Pacing`] asks for, in frames at `rate` (rounded up).
fn lead_frames(pacing: &Pacing, rate: u32) -> u32 {
    let us = pacing.lead_us(TICK_US);
    (us * u64::from(rate))
        .div_ceil(1_000_000)
        .min(u64::from(u32::MAX)) as u32
}

/// Queues one response. An error means the guest moved our private indices, impossible
/// unless our state is corrupt: the connection is closed.
fn respond<P: xen_ring::shmem::SharedMem>(
    stream: &mut StreamChannel<P>,
    response: &Response,
) -> Result<(), &'static str> {
    stream
        .ring
        .push_response(&response.to_bytes())
        .map_err(|_| "response ring full")
}
