//! Guests running Linux `xen-snd-front` under ALSA, and the world they run in: the simulated
//! host, the card and our backend, advanced one timer tick at a time.
//!
//! The model follows `sound/xen/xen_snd_front_alsa.c` and `xen_snd_front.c` step by step
//! (pv-sound.md §2.4-2.8):
//! - `hw_params` is reached through repeated HW_PARAM_QUERY round trips, each narrowing
//!   the space (format, rate, channels, buffer, period) and failing on an error status;
//!   it then frees any previous buffer *without* CLOSE and grants a new one plus its gref
//!   directory, all read-write;
//! - `prepare` sends OPEN only if the stream is not open yet;
//! - `trigger` maps START/STOP/SUSPEND(→PAUSE)/RESUME;
//! - a playback copy writes into the shared buffer, then WRITE(pos, count), never crossing
//!   the buffer end; a capture copy sends READ(pos, count), then copies out;
//! - `hw_free` sends CLOSE, then ends the grants;
//! - one request in flight per stream, ids from `evt_next_id`, responses with another id
//!   skipped, a 3 s timeout;
//! - the pointer moves only with CUR_POS events, whose ids must match `evt_id` (reset per
//!   connection by released kernels, per stream clear by the 2026 patched ones).

use std::rc::Rc;

use vsnd_backend::policy::Config;
use vsnd_backend::xenbus::Backend;
use xen_ring::grant::{DomId, GrantRef};
use xen_ring::shmem::{AtomicPage, PAGE_SIZE, SharedMem};
use xen_ring::sndif::wire::{HwParam, Interval};
use xen_ring::sndif::{PcmFormat, Request, RequestOp, Response, TriggerType};
use xen_ring::xs::{Perm, Xenstore};

use super::card::SimCard;
use super::clock;
use super::evtchn::{Endpoint, EvtchnHost};
use super::frontend::{self, FrontDevice, KeyEdit};
use super::grant::{DomainGrants, GrantHost};
use super::toolstack::{CardConfig, VsndDevice, create_vsnd};
use super::xenstore::{Connection, XenstoreHost};

/// Our driver domain's id in every world.
pub const BACKEND: DomId = 3;
/// Simulated time per tick.
pub const TICK_US: u64 = 1000;
/// `VSND_WAIT_BACK_MS`.
pub const TIMEOUT_US: u64 = 3_000_000;

/// Which frontend kernel a guest runs (pv-sound.md §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Every release before mid-2026: event ids continue for the whole connection.
    Released,
    /// With 9cd81152373c/3624f0bd4af1: ids restart at each stream clear.
    Patched,
}

/// What an application asks ALSA for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmConfig {
    pub format: PcmFormat,
    pub rate: u32,
    pub channels: u8,
    pub buffer_frames: u32,
    pub period_frames: u32,
}

impl PcmConfig {
    pub fn frame_bytes(&self) -> u32 {
        self.format.bytes_per_sample().unwrap_or(1) * u32::from(self.channels)
    }

    pub fn buffer_bytes(&self) -> u32 {
        self.buffer_frames * self.frame_bytes()
    }

    /// s16_le stereo at `rate`, 4 periods of 10 ms.
    pub fn s16_stereo(rate: u32) -> PcmConfig {
        PcmConfig {
            format: PcmFormat::S16Le,
            rate,
            channels: 2,
            buffer_frames: rate / 25,
            period_frames: rate / 100,
        }
    }
}

/// An ALSA error, as the application would see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlsaError {
    /// The backend answered with this (negative) status.
    Status(i32),
    /// No answer within 3 s.
    TimedOut,
}

/// The Linux side of one stream.
#[derive(Default)]
pub struct Pcm {
    pub config: Option<PcmConfig>,
    buffer: Vec<Rc<AtomicPage>>,
    grefs: Vec<GrantRef>,
    directory: Vec<GrantRef>,
    pub is_open: bool,
    /// Whether the event channel takes events (see `Kernel`).
    evt_connected: bool,
    evt_next_id: u16,
    evt_id: u16,
    be_cur_frame: u64,
    /// Frames the backend reported as played/recorded since the last stream clear.
    pub hw_ptr: u64,
    /// Frames the application has written/read.
    pub appl_ptr: u64,
    pub events_taken: u64,
    pub events_dropped: u64,
    /// Grants whose end failed because the backend still mapped them.
    pub leaked_grants: u32,
    pub running: bool,
    /// Data an application still has to play / bytes it has recorded.
    pub pending_play: std::collections::VecDeque<u8>,
    pub recorded: Vec<u8>,
    pub record_wanted: usize,
    pub requests: u64,
}

/// A guest with one vsnd device.
pub struct Guest {
    pub domid: DomId,
    pub device: VsndDevice,
    pub front: FrontDevice,
    pub pcms: Vec<Pcm>,
    pub kernel: Kernel,
    /// A dead guest does nothing more.
    pub dead: bool,
}

/// The simulated host, our backend on its card, and the guests.
pub struct World {
    pub xs: XenstoreHost,
    pub grants: GrantHost,
    pub evtchn: EvtchnHost,
    pub card: SimCard,
    pub backend: Backend<Connection, DomainGrants, Endpoint, SimCard>,
    pub guests: Vec<Guest>,
    pub now_us: u64,
    /// Card frames per tick (48 kHz).
    pub frames_per_tick: u64,
}

impl World {
    /// A host with our domain's `backend` directory, as dom0 sets one up for a driver domain,
    /// and the backend started on a fresh card.
    pub fn new(config: Config) -> World {
        World::with_card(config, SimCard::new())
    }

    pub fn with_card(config: Config, card: SimCard) -> World {
        crate::log::init();
        clock::reset();
        let xs = XenstoreHost::new();
        let mut dom0 = xs.connect(0);
        // As libxl creates a domain's directory: dom0's, readable by the domain.
        dom0.write(0, "/local/domain/3", b"").unwrap();
        let domain_dir = [
            Perm {
                domid: 0,
                read: false,
                write: false,
            },
            Perm {
                domid: BACKEND,
                read: true,
                write: false,
            },
        ];
        dom0.set_perms(0, "/local/domain/3", &domain_dir).unwrap();
        dom0.write(0, "/local/domain/3/backend", b"").unwrap();
        let ours = [Perm {
            domid: BACKEND,
            read: false,
            write: false,
        }];
        dom0.set_perms(0, "/local/domain/3/backend", &ours).unwrap();
        let grants = GrantHost::new();
        let evtchn = EvtchnHost::new();
        let backend = Backend::start(
            xs.connect(BACKEND),
            grants.table(BACKEND),
            evtchn.endpoint(BACKEND),
            card.clone(),
            config,
        )
        .unwrap();
        World {
            xs,
            grants,
            evtchn,
            card,
            backend,
            guests: Vec::new(),
            now_us: 0,
            frames_per_tick: 48,
        }
    }

    /// Restarts the backend (a new driver-domain boot with the same domid): the old one
    /// is dropped without cleaning up, as after a crash.
    pub fn restart_backend(&mut self, config: Config) {
        self.backend = Backend::start(
            self.xs.connect(BACKEND),
            self.grants.table(BACKEND),
            self.evtchn.endpoint(BACKEND),
            self.card.clone(),
            config,
        )
        .unwrap();
    }

    /// Creates a vsnd device for `domid` as xl does, and connects its Linux frontend.
    pub fn add_guest(&mut self, domid: DomId, card: &CardConfig, kernel: Kernel) -> usize {
        self.add_guest_with(domid, card, kernel, &frontend::as_linux)
    }

    /// As [`World::add_guest`], with edits to the four transport keys (a broken guest).
    pub fn add_guest_with(
        &mut self,
        domid: DomId,
        card: &CardConfig,
        kernel: Kernel,
        edit: KeyEdit,
    ) -> usize {
        let device = VsndDevice {
            frontend: domid,
            backend: BACKEND,
            devid: 0,
        };
        create_vsnd(&self.xs, &device, card).unwrap();
        self.backend.poll();
        assert_eq!(
            self.xs
                .peek(&format!("{}/state", device.backend_path()))
                .as_deref(),
            Some("2"),
            "backend in InitWait"
        );
        let front = frontend::connect(&self.xs, &self.grants, &self.evtchn, &device, edit).unwrap();
        self.backend.poll();
        let pcms = front.streams.iter().map(|_| Pcm::default()).collect();
        if self.backend_state(&device).as_deref() == Some("4") {
            let mut guest_xs = self.xs.connect(domid);
            guest_xs
                .write(0, &format!("{}/state", device.frontend_path()), b"4")
                .unwrap();
        }
        self.guests.push(Guest {
            domid,
            device,
            front,
            pcms,
            kernel,
            dead: false,
        });
        self.guests.len() - 1
    }

    /// Guest `g` is destroyed (`xl destroy`): its grants die with it, and the toolstack
    /// removes its vsnd device and its frontend directory. Returns the device.
    pub fn destroy(&mut self, g: usize) -> VsndDevice {
        self.pause(g);
        let guest = &self.guests[g];
        self.grants.kill(guest.domid);
        let device = guest.device.clone();
        super::toolstack::begin_remove_vsnd(&self.xs, &device).unwrap();
        self.xs
            .connect(0)
            .remove(0, &device.frontend_path())
            .unwrap();
        device
    }

    /// Guest `g` is paused, as `xl destroy` does first, before the toolstack tears its devices
    /// down (240 ms to 2.3 s later in the Xen machine): it writes nothing more, and nothing
    /// tells the backend.
    pub fn pause(&mut self, g: usize) {
        self.guests[g].dead = true;
    }

    /// Makes every xenstore request of the backend take `us` microseconds, during which the
    /// card plays on, as on a host where dom0's xenstored is slow to answer.
    pub fn slow_xenstore(&mut self, us: u64) {
        let card = self.card.clone();
        let frames = us * self.frames_per_tick / TICK_US;
        self.xs.on_round_trip(Rc::new(move |domid| {
            if domid == BACKEND {
                clock::set_us(clock::now_us() + us);
                card.advance(frames);
            }
        }));
    }

    /// Gives the backend the host's clock, so that it can tick during xenstore work.
    pub fn give_backend_the_clock(&mut self) {
        clock::set_us(self.now_us);
        self.backend.set_clock(clock::now_us);
    }

    pub fn backend_state(&self, device: &VsndDevice) -> Option<String> {
        self.xs.peek(&format!("{}/state", device.backend_path()))
    }

    /// One timer tick: the card runs, the backend ticks and answers, guests take events
    /// and their applications write or read what ALSA lets them.
    pub fn step(&mut self) {
        self.advance();
        for g in 0..self.guests.len() {
            for s in 0..self.guests[g].pcms.len() {
                self.pump(g, s);
            }
        }
    }

    /// A tick without the applications acting (used while one waits for a response).
    fn advance(&mut self) {
        // Slow xenstore round trips may have moved the clock (and the card) meanwhile.
        self.now_us = self.now_us.max(clock::now_us()) + TICK_US;
        clock::set_us(self.now_us);
        self.card.advance(self.frames_per_tick);
        self.backend.poll();
        self.backend.tick(self.now_us);
        self.backend.service(self.now_us);
        for g in 0..self.guests.len() {
            self.take_events(g);
        }
    }

    pub fn run_for_us(&mut self, us: u64) {
        let end = self.now_us + us;
        while self.now_us < end {
            self.step();
        }
    }

    /// `evtchnl_interrupt_evt`: takes every event of every stream of guest `g`.
    fn take_events(&mut self, g: usize) {
        let guest = &mut self.guests[g];
        if guest.dead {
            return;
        }
        for (stream, pcm) in guest.front.streams.iter_mut().zip(&mut guest.pcms) {
            if !pcm.evt_connected {
                continue;
            }
            while let Some(event) = stream.events.take() {
                let expected = pcm.evt_id;
                pcm.evt_id = pcm.evt_id.wrapping_add(1);
                if event.id != expected {
                    pcm.events_dropped += 1;
                    continue;
                }
                pcm.events_taken += 1;
                let Some(config) = pcm.config else { continue };
                let cur_frame = event.position / u64::from(config.frame_bytes());
                let delta = cur_frame.wrapping_sub(pcm.be_cur_frame);
                pcm.be_cur_frame = cur_frame;
                pcm.hw_ptr = pcm.hw_ptr.wrapping_add(delta);
            }
        }
    }

    /// Sends one request on stream `s` of guest `g` and waits for its response as Linux
    /// does (skipping responses with another id), up to 3 s of simulated time.
    pub fn request(&mut self, g: usize, s: usize, op: RequestOp) -> Result<Response, AlsaError> {
        let pcm = &mut self.guests[g].pcms[s];
        let id = pcm.evt_next_id;
        pcm.evt_next_id = pcm.evt_next_id.wrapping_add(1);
        pcm.requests += 1;
        let bytes = Request { id, op }.to_bytes();
        self.push_raw(g, s, &bytes);
        let deadline = self.now_us + TIMEOUT_US;
        loop {
            self.backend.service(self.now_us);
            let stream = &mut self.guests[g].front.streams[s];
            while let Ok(Some(slot)) = stream.ring.next_response() {
                let response = Response::parse(&slot);
                if response.id == id {
                    assert_eq!(response.operation, op.code(), "operation echoed");
                    return Ok(response);
                }
            }
            if self.now_us >= deadline {
                return Err(AlsaError::TimedOut);
            }
            self.advance();
        }
    }

    /// Puts raw bytes in the request ring and notifies (hostile tests use it directly).
    pub fn push_raw(&mut self, g: usize, s: usize, bytes: &[u8; 64]) {
        let guest = &mut self.guests[g];
        let stream = &mut guest.front.streams[s];
        stream.ring.push_request(bytes).unwrap();
        if stream.ring.push_requests_and_check_notify() {
            let mut endpoint = self.evtchn.endpoint(guest.domid);
            let _ = xen_ring::evtchn::EventChannels::notify(&mut endpoint, stream.request_port);
        }
    }

    /// Sends raw request bytes on stream `s` of guest `g` and returns every response the
    /// backend queued right away (a hostile guest does not wait politely).
    pub fn raw_request(&mut self, g: usize, s: usize, bytes: &[u8; 64]) -> Vec<Response> {
        self.push_raw(g, s, bytes);
        self.backend.service(self.now_us);
        self.responses(g, s)
    }

    /// Every response waiting on stream `s` of guest `g`.
    pub fn responses(&mut self, g: usize, s: usize) -> Vec<Response> {
        let stream = &mut self.guests[g].front.streams[s];
        let mut out = Vec::new();
        while let Ok(Some(slot)) = stream.ring.next_response() {
            out.push(Response::parse(&slot));
        }
        out
    }

    /// Writes `bytes` into the shared buffer of stream `s` of guest `g` without telling the
    /// backend (volume requests carry their values this way).
    pub fn poke(&mut self, g: usize, s: usize, offset: usize, bytes: &[u8]) {
        copy_to_pages(&self.guests[g].pcms[s].buffer, offset, bytes);
    }

    /// Reads the shared buffer of stream `s` of guest `g`.
    pub fn peek(&self, g: usize, s: usize, offset: usize, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        copy_from_pages(&self.guests[g].pcms[s].buffer, offset, &mut out);
        out
    }

    /// The gref of the first directory page of stream `s` of guest `g` (after hw_params).
    pub fn directory(&self, g: usize, s: usize) -> GrantRef {
        self.guests[g].pcms[s].directory[0]
    }

    fn status(&mut self, g: usize, s: usize, op: RequestOp) -> Result<Response, AlsaError> {
        let response = self.request(g, s, op)?;
        if response.status != 0 {
            return Err(AlsaError::Status(response.status));
        }
        Ok(response)
    }

    /// `stream_clear`: what Linux resets at open, hw_params and hw_free.
    fn stream_clear(&mut self, g: usize, s: usize) {
        let kernel = self.guests[g].kernel;
        let guest = &mut self.guests[g];
        let pcm = &mut guest.pcms[s];
        pcm.evt_next_id = 0;
        pcm.be_cur_frame = 0;
        pcm.hw_ptr = 0;
        pcm.appl_ptr = 0;
        if kernel == Kernel::Patched {
            pcm.evt_id = 0;
            // in_cons = in_prod: stale events are dropped unseen.
            while guest.front.streams[s].events.take().is_some() {}
        }
    }

    /// ALSA `hw_refine` + `hw_params`: queries until the space is narrowed to `config`,
    /// then a new buffer (the old one's grants ended, no CLOSE).
    pub fn hw_params(&mut self, g: usize, s: usize, config: PcmConfig) -> Result<(), AlsaError> {
        if self.guests[g].kernel == Kernel::Released {
            self.guests[g].pcms[s].evt_connected = true;
        }
        let code = config.format.code();
        let everything = HwParam {
            formats: 1 << code | 1 << 2,
            rates: Interval {
                min: 5512,
                max: 48000.max(config.rate),
            },
            channels: Interval {
                min: 1,
                max: 2.max(u32::from(config.channels)),
            },
            buffer: Interval { min: 1, max: 65536 },
            period: Interval { min: 1, max: 65536 },
        };
        let fix = |i: u32| Interval { min: i, max: i };
        // ALSA narrows one parameter at a time and re-queries after each.
        let steps = [
            everything,
            HwParam {
                formats: 1 << code,
                ..everything
            },
            HwParam {
                formats: 1 << code,
                rates: fix(config.rate),
                ..everything
            },
            HwParam {
                formats: 1 << code,
                rates: fix(config.rate),
                channels: fix(u32::from(config.channels)),
                ..everything
            },
            HwParam {
                formats: 1 << code,
                rates: fix(config.rate),
                channels: fix(u32::from(config.channels)),
                buffer: fix(config.buffer_frames),
                period: fix(config.period_frames),
            },
        ];
        for query in steps {
            let answer = self
                .status(g, s, RequestOp::HwParamQuery(query))?
                .hw_param
                .ok_or(AlsaError::Status(-22))?;
            // snd_interval_refine: the answer must still hold what the application wants.
            let holds = |i: Interval, v: u32| i.min <= v && v <= i.max;
            if answer.formats & (1 << code) == 0
                || !holds(answer.rates, config.rate)
                || !holds(answer.channels, u32::from(config.channels))
                || !holds(answer.buffer, config.buffer_frames)
                || !holds(answer.period, config.period_frames)
            {
                return Err(AlsaError::Status(-22));
            }
        }
        self.stream_free(g, s);
        self.stream_clear(g, s);
        let (front, back) = (self.guests[g].domid, BACKEND);
        let pages = (config.buffer_bytes() as usize).div_ceil(PAGE_SIZE);
        let pcm = &mut self.guests[g].pcms[s];
        pcm.config = Some(config);
        pcm.is_open = false;
        for _ in 0..pages {
            let page = Rc::new(AtomicPage::new());
            pcm.grefs
                .push(self.grants.grant(front, back, page.clone(), false));
            pcm.buffer.push(page);
        }
        // The directory: 1023 grefs per page, chained, the last with next = 0.
        let chunks: Vec<Vec<GrantRef>> = pcm.grefs.chunks(1023).map(|c| c.to_vec()).collect();
        let dir_pages: Vec<Rc<AtomicPage>> =
            chunks.iter().map(|_| Rc::new(AtomicPage::new())).collect();
        let dir_refs: Vec<GrantRef> = dir_pages
            .iter()
            .map(|p| self.grants.grant(front, back, p.clone(), false))
            .collect();
        for (i, (page, chunk)) in dir_pages.iter().zip(&chunks).enumerate() {
            let next = dir_refs.get(i + 1).copied().unwrap_or(0);
            page.write(0, &next.to_le_bytes());
            for (j, gref) in chunk.iter().enumerate() {
                page.write(4 + 4 * j, &gref.to_le_bytes());
            }
        }
        pcm.directory = dir_refs;
        Ok(())
    }

    /// Ends the grants of the current buffer (`stream_free`).
    fn stream_free(&mut self, g: usize, s: usize) {
        let domid = self.guests[g].domid;
        let pcm = &mut self.guests[g].pcms[s];
        for gref in pcm.grefs.drain(..).chain(pcm.directory.drain(..)) {
            if self.grants.revoke(domid, gref).is_err() {
                pcm.leaked_grants += 1;
            }
        }
        pcm.buffer.clear();
    }

    /// ALSA `prepare`: OPEN, unless the stream is open already.
    pub fn prepare(&mut self, g: usize, s: usize) -> Result<(), AlsaError> {
        let pcm = &self.guests[g].pcms[s];
        if pcm.is_open {
            return Ok(());
        }
        let config = pcm.config.expect("hw_params before prepare");
        let op = RequestOp::Open {
            rate: config.rate,
            format: config.format,
            channels: config.channels,
            buffer_sz: config.buffer_bytes(),
            gref_directory: pcm.directory.first().copied().unwrap_or(0),
            period_sz: config.period_frames * config.frame_bytes(),
        };
        self.status(g, s, op)?;
        let pcm = &mut self.guests[g].pcms[s];
        pcm.is_open = true;
        pcm.evt_connected = true;
        Ok(())
    }

    pub fn trigger(&mut self, g: usize, s: usize, kind: TriggerType) -> Result<(), AlsaError> {
        self.status(g, s, RequestOp::Trigger(kind))?;
        self.guests[g].pcms[s].running = matches!(kind, TriggerType::Start | TriggerType::Resume);
        Ok(())
    }

    /// ALSA `hw_free`: CLOSE, then the grants end; `close` disconnects the channel.
    pub fn hw_free(&mut self, g: usize, s: usize) -> Result<(), AlsaError> {
        let result = self.status(g, s, RequestOp::Close).map(|_| ());
        self.stream_free(g, s);
        self.stream_clear(g, s);
        let pcm = &mut self.guests[g].pcms[s];
        pcm.is_open = false;
        pcm.running = false;
        pcm.evt_connected = false;
        result
    }

    /// Frames the application may write (playback) or read (capture) now.
    pub fn avail(&self, g: usize, s: usize, capture: bool) -> u64 {
        let pcm = &self.guests[g].pcms[s];
        let Some(config) = pcm.config else { return 0 };
        if capture {
            pcm.hw_ptr.saturating_sub(pcm.appl_ptr)
        } else {
            u64::from(config.buffer_frames)
                .saturating_sub(pcm.appl_ptr - pcm.hw_ptr.min(pcm.appl_ptr))
        }
    }

    /// The playback copy callback: `bytes` into the buffer at the application pointer, then
    /// WRITE, split at the buffer end.
    pub fn write(&mut self, g: usize, s: usize, bytes: &[u8]) -> Result<(), AlsaError> {
        let config = self.guests[g].pcms[s].config.expect("configured");
        let frame = config.frame_bytes() as usize;
        let buffer_bytes = config.buffer_bytes() as usize;
        let mut done = 0;
        while done < bytes.len() {
            let pcm = &self.guests[g].pcms[s];
            let pos = (pcm.appl_ptr as usize * frame) % buffer_bytes;
            let n = (bytes.len() - done).min(buffer_bytes - pos);
            copy_to_pages(&pcm.buffer, pos, &bytes[done..done + n]);
            self.status(
                g,
                s,
                RequestOp::Write {
                    offset: pos as u32,
                    length: n as u32,
                },
            )?;
            self.guests[g].pcms[s].appl_ptr += (n / frame) as u64;
            done += n;
        }
        Ok(())
    }

    /// The capture copy callback: READ, then copy out.
    pub fn read(&mut self, g: usize, s: usize, frames: u64) -> Result<Vec<u8>, AlsaError> {
        let config = self.guests[g].pcms[s].config.expect("configured");
        let frame = config.frame_bytes() as usize;
        let buffer_bytes = config.buffer_bytes() as usize;
        let mut out = Vec::new();
        let mut left = frames as usize * frame;
        while left > 0 {
            let pos = (self.guests[g].pcms[s].appl_ptr as usize * frame) % buffer_bytes;
            let n = left.min(buffer_bytes - pos);
            self.status(
                g,
                s,
                RequestOp::Read {
                    offset: pos as u32,
                    length: n as u32,
                },
            )?;
            let pcm = &mut self.guests[g].pcms[s];
            let mut chunk = vec![0u8; n];
            copy_from_pages(&pcm.buffer, pos, &mut chunk);
            out.extend_from_slice(&chunk);
            pcm.appl_ptr += (n / frame) as u64;
            left -= n;
        }
        Ok(out)
    }

    /// Opens stream `s` of guest `g` for playback of `data` as aplay would: hw_params,
    /// prepare, fill the buffer, START; the rest is written by later ticks as room frees.
    pub fn start_playback(
        &mut self,
        g: usize,
        s: usize,
        config: PcmConfig,
        data: &[u8],
    ) -> Result<(), AlsaError> {
        self.hw_params(g, s, config)?;
        self.prepare(g, s)?;
        self.guests[g].pcms[s].pending_play = data.iter().copied().collect();
        self.pump_playback(g, s)?;
        self.trigger(g, s, TriggerType::Start)
    }

    /// Opens stream `s` of guest `g` for capture of `bytes` as arecord would.
    pub fn start_capture(
        &mut self,
        g: usize,
        s: usize,
        config: PcmConfig,
        bytes: usize,
    ) -> Result<(), AlsaError> {
        self.hw_params(g, s, config)?;
        self.prepare(g, s)?;
        let pcm = &mut self.guests[g].pcms[s];
        pcm.recorded.clear();
        pcm.record_wanted = bytes;
        self.trigger(g, s, TriggerType::Start)
    }

    /// The application's part of a tick for one stream.
    fn pump(&mut self, g: usize, s: usize) {
        if self.guests[g].dead || !self.guests[g].pcms[s].running {
            return;
        }
        let result = if self.guests[g].pcms[s].record_wanted > 0 {
            self.pump_capture(g, s)
        } else {
            self.pump_playback(g, s)
        };
        if let Err(e) = result {
            panic!("guest {g} stream {s}: {e:?}");
        }
    }

    fn pump_playback(&mut self, g: usize, s: usize) -> Result<(), AlsaError> {
        let pcm = &self.guests[g].pcms[s];
        let Some(config) = pcm.config else {
            return Ok(());
        };
        let frame = config.frame_bytes() as usize;
        // ALSA transfers in whole periods when it can.
        let period = config.period_frames as u64;
        let avail = self.avail(g, s, false);
        let queued = (self.guests[g].pcms[s].pending_play.len() / frame) as u64;
        let frames = if queued < period {
            queued.min(avail)
        } else {
            avail / period * period
        }
        .min(queued);
        if frames == 0 {
            return Ok(());
        }
        let chunk: Vec<u8> = self.guests[g].pcms[s]
            .pending_play
            .drain(..frames as usize * frame)
            .collect();
        self.write(g, s, &chunk)
    }

    fn pump_capture(&mut self, g: usize, s: usize) -> Result<(), AlsaError> {
        let pcm = &self.guests[g].pcms[s];
        let Some(config) = pcm.config else {
            return Ok(());
        };
        let avail = self.avail(g, s, true);
        if avail < u64::from(config.period_frames) {
            return Ok(());
        }
        let frame = config.frame_bytes() as usize;
        let left = (pcm.record_wanted - pcm.recorded.len()) / frame;
        let frames = avail.min(left as u64);
        let data = self.read(g, s, frames)?;
        let pcm = &mut self.guests[g].pcms[s];
        pcm.recorded.extend_from_slice(&data);
        if pcm.recorded.len() >= pcm.record_wanted {
            pcm.record_wanted = 0;
            pcm.running = false;
        }
        Ok(())
    }

    /// Whether stream `s` of guest `g` has written everything and the card played it.
    pub fn drained(&self, g: usize, s: usize) -> bool {
        let pcm = &self.guests[g].pcms[s];
        pcm.pending_play.is_empty() && pcm.hw_ptr >= pcm.appl_ptr
    }

    /// Runs until every playing stream is drained and every capture got its bytes, or
    /// `limit_us` passes. Returns whether everything finished.
    pub fn run_until_done(&mut self, limit_us: u64) -> bool {
        let end = self.now_us + limit_us;
        while self.now_us < end {
            let busy = self.guests.iter().enumerate().any(|(g, guest)| {
                !guest.dead
                    && guest.pcms.iter().enumerate().any(|(s, pcm)| {
                        pcm.running && (pcm.record_wanted > 0 || !self.drained(g, s))
                    })
            });
            if !busy {
                return true;
            }
            self.step();
        }
        false
    }
}

fn copy_to_pages(pages: &[Rc<AtomicPage>], offset: usize, data: &[u8]) {
    let mut done = 0;
    while done < data.len() {
        let at = offset + done;
        let n = (PAGE_SIZE - at % PAGE_SIZE).min(data.len() - done);
        pages[at / PAGE_SIZE].write(at % PAGE_SIZE, &data[done..done + n]);
        done += n;
    }
}

fn copy_from_pages(pages: &[Rc<AtomicPage>], offset: usize, out: &mut [u8]) {
    let mut done = 0;
    while done < out.len() {
        let at = offset + done;
        let n = (PAGE_SIZE - at % PAGE_SIZE).min(out.len() - done);
        pages[at / PAGE_SIZE].read(at % PAGE_SIZE, &mut out[done..done + n]);
        done += n;
    }
}

/// Interleaved s16_le frames of a sine at `freq` Hz, `amplitude` of full scale, on every
/// channel, phase-shifted per channel so channels are distinguishable.
pub fn sine_s16(rate: u32, freq: f64, amplitude: f64, channels: u8, frames: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames * 2 * usize::from(channels));
    for n in 0..frames {
        for c in 0..channels {
            let phase =
                2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate) + f64::from(c) * 0.5;
            let v = (phase.sin() * amplitude * 32767.0).round() as i16;
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Samples of interleaved s16_le bytes.
pub fn s16_samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}
