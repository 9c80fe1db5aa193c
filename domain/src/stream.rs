//! One sndif stream's protocol state: OPEN/CLOSE/READ/WRITE/TRIGGER/HW_PARAM_QUERY and the
//! volume operations, one response per request in order (pv-sound.md §1.5, §2.4-2.7, §7).
//!
//! Every request was copied out of the ring and parsed by `xen_ring` before it gets here;
//! what remains is checking it against the stream's state and our policy. A READ that cannot
//! be served yet is held (`None`): later requests of the stream wait behind it, so responses
//! stay in order.

use alloc::vec::Vec;

use audio_hal::PcmFormat;
use xen_ring::errno::{self, Errno};
use xen_ring::grant::{Access, DomId, GrantTable};
use xen_ring::shmem::{PAGE_SIZE, SharedMem};
use xen_ring::sndif::{
    EventPage, EventPageError, Request, RequestOp, Response, TriggerType, data_pages,
    read_gref_directory,
};

use crate::capture::CaptureSink;
use crate::hw_params;
use crate::playback::PlaybackSource;
use crate::policy::{EventIds, GuestPolicy};
use crate::volume;

/// Which way a stream goes, as the frontend's `type` key says (a hint: it only decides
/// which of the guest's own requests make sense; capture rights come from the policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Playback,
    Capture,
}

/// The device's side of the conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFormat {
    pub rate: u32,
    pub channels: usize,
}

/// What a request needs from the rest of the backend.
pub struct Ctx<'a, G> {
    pub grants: &'a mut G,
    pub domid: DomId,
    pub policy: GuestPolicy,
    pub min_period_us: u32,
    pub capture_timeout_us: u64,
    pub playback_device: Option<DeviceFormat>,
    pub capture_device: Option<DeviceFormat>,
    pub now_us: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Stopped,
    Running,
    Paused,
}

enum Io {
    Playback(PlaybackSource),
    Capture(CaptureSink),
}

/// An open stream.
struct Open<P> {
    channels: usize,
    buffer_sz: u32,
    period_sz: u32,
    pages: Vec<P>,
    run: Run,
    io: Io,
    /// The position last sent in a CUR_POS.
    reported: u64,
    /// When the guest last wrote or read (or started), for the event-id fallback.
    last_io_us: u64,
    /// CUR_POS events sent since then.
    events_since_io: u32,
    volume_mdb: [i32; 8],
    muted: [bool; 8],
}

/// CUR_POS ids, both numberings kept (pv-sound.md §2.7).
#[derive(Debug, Clone, Copy)]
struct EventIdCounter {
    per_connection: u16,
    per_open: u16,
    scheme: EventIds,
}

impl EventIdCounter {
    fn next(&self) -> u16 {
        match self.scheme {
            EventIds::PerOpen => self.per_open,
            EventIds::PerConnection | EventIds::Auto => self.per_connection,
        }
    }

    /// Counts an event that really went into the page (never one that was dropped).
    fn sent(&mut self) {
        self.per_connection = self.per_connection.wrapping_add(1);
        self.per_open = self.per_open.wrapping_add(1);
    }
}

/// A stream's protocol state.
pub struct StreamState<P> {
    kind: Kind,
    open: Option<Open<P>>,
    ids: EventIdCounter,
    pending: Option<Request>,
    pending_since_us: u64,
}

/// Copies `out.len()` bytes at `offset` of the guest buffer made of `pages`.
fn read_buffer<P: SharedMem>(pages: &[P], offset: usize, out: &mut [u8]) {
    let mut done = 0;
    while done < out.len() {
        let at = offset + done;
        let (page, within) = (at / PAGE_SIZE, at % PAGE_SIZE);
        let n = (PAGE_SIZE - within).min(out.len() - done);
        pages[page].read(within, &mut out[done..done + n]);
        done += n;
    }
}

/// Copies `data` to `offset` of the guest buffer made of `pages`.
fn write_buffer<P: SharedMem>(pages: &[P], offset: usize, data: &[u8]) {
    let mut done = 0;
    while done < data.len() {
        let at = offset + done;
        let (page, within) = (at / PAGE_SIZE, at % PAGE_SIZE);
        let n = (PAGE_SIZE - within).min(data.len() - done);
        pages[page].write(within, &data[done..done + n]);
        done += n;
    }
}

fn hal_format(format: xen_ring::sndif::PcmFormat) -> PcmFormat {
    // Both enums list the formats in sndif code order.
    PcmFormat::ALL[usize::from(format.code())]
}

impl<P: SharedMem> StreamState<P> {
    pub fn new(kind: Kind, scheme: EventIds) -> Self {
        StreamState {
            kind,
            open: None,
            ids: EventIdCounter {
                per_connection: 0,
                per_open: 0,
                scheme,
            },
            pending: None,
            pending_since_us: 0,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether a request is held (a READ waiting for captured data).
    pub fn is_blocked(&self) -> bool {
        self.pending.is_some()
    }

    /// The event-id numbering in use.
    pub fn event_ids(&self) -> EventIds {
        self.ids.scheme
    }

    /// Answers `request`, or holds it (`None`) until [`StreamState::retry`] can.
    pub fn handle<G>(&mut self, request: Request, ctx: &mut Ctx<'_, G>) -> Option<Response>
    where
        G: GrantTable<Page = P>,
    {
        let id = request.id;
        let code = request.op.code();
        let result = match request.op {
            RequestOp::Open {
                rate,
                format,
                channels,
                buffer_sz,
                gref_directory,
                period_sz,
            } => self.open(
                hal_format(format),
                rate,
                channels,
                buffer_sz,
                gref_directory,
                period_sz,
                ctx,
            ),
            RequestOp::Close => {
                self.close(ctx.grants);
                Ok(())
            }
            RequestOp::Write { offset, length } => self.write(offset, length, ctx),
            RequestOp::Read { offset, length } => match self.read(offset, length, ctx, false) {
                Ok(false) => {
                    self.hold(request, ctx.now_us);
                    return None;
                }
                other => other.map(|_| ()),
            },
            RequestOp::Trigger(kind) => self.trigger(kind, ctx.now_us),
            RequestOp::HwParamQuery(query) => {
                return Some(
                    match hw_params::refine(&query, &ctx.policy, ctx.min_period_us) {
                        Some(answer) => Response::hw_param(id, code, answer),
                        None => Response::error(id, code, errno::EINVAL),
                    },
                );
            }
            RequestOp::SetVolume { offset, length } => self.set_volume(offset, length, ctx),
            RequestOp::GetVolume { offset, length } => self.get_volume(offset, length),
            RequestOp::Mute { offset, length } => self.set_mute(offset, length, true, ctx),
            RequestOp::Unmute { offset, length } => self.set_mute(offset, length, false, ctx),
        };
        Some(match result {
            Ok(()) => Response::ok(id, code),
            Err(e) => Response::error(id, code, e),
        })
    }

    fn hold(&mut self, request: Request, now_us: u64) {
        self.pending = Some(request);
        self.pending_since_us = now_us;
    }

    /// Tries the held request again; `Some` once it is answered.
    pub fn retry<G>(&mut self, ctx: &mut Ctx<'_, G>) -> Option<Response>
    where
        G: GrantTable<Page = P>,
    {
        let request = self.pending?;
        let (id, code) = (request.id, request.op.code());
        let waited = ctx.now_us.saturating_sub(self.pending_since_us);
        // Past the deadline a READ is answered with silence: the guest gives up at 3 s, and
        // one stuck stream must not hold its ring forever.
        let late = waited >= ctx.capture_timeout_us;
        let result = match request.op {
            RequestOp::Read { offset, length } => match self.read(offset, length, ctx, late) {
                Ok(false) => return None,
                other => other.map(|_| ()),
            },
            _ => Err(errno::EIO),
        };
        self.pending = None;
        Some(match result {
            Ok(()) => Response::ok(id, code),
            Err(e) => Response::error(id, code, e),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn open<G>(
        &mut self,
        format: PcmFormat,
        rate: u32,
        channels: u8,
        buffer_sz: u32,
        gref_directory: u32,
        period_sz: u32,
        ctx: &mut Ctx<'_, G>,
    ) -> Result<(), Errno>
    where
        G: GrantTable<Page = P>,
    {
        // A second OPEN without CLOSE is Linux's hw_params twice: the old grants are gone.
        self.close(ctx.grants);
        if self.kind == Kind::Capture && !ctx.policy.capture {
            log::warn!("vsnd {}: capture denied by policy", ctx.domid);
            return Err(errno::EACCES);
        }
        let device = match self.kind {
            Kind::Playback => ctx.playback_device,
            Kind::Capture => ctx.capture_device,
        }
        .ok_or(errno::ENODEV)?;
        let sample = u32::try_from(crate::dsp::convert::sample_bytes(format).ok_or(errno::EINVAL)?)
            .map_err(|_| errno::EINVAL)?;
        if !(hw_params::RATES.min..=hw_params::RATES.max).contains(&rate)
            || u32::from(channels) > hw_params::CHANNELS.max
        {
            return Err(errno::EINVAL);
        }
        let frame = sample * u32::from(channels);
        if buffer_sz > ctx.policy.max_buffer_bytes
            || !buffer_sz.is_multiple_of(frame)
            || !period_sz.is_multiple_of(frame)
        {
            return Err(errno::EINVAL);
        }
        let mut grefs = alloc::vec![0u32; data_pages(buffer_sz)];
        let grants = &mut *ctx.grants;
        let domid = ctx.domid;
        read_gref_directory(
            gref_directory,
            buffer_sz,
            ctx.policy.max_buffer_bytes,
            &mut grefs,
            |gref, page| grants.copy_from(domid, gref, 0, page),
        )
        .map_err(|e| {
            log::warn!("vsnd {domid}: bad gref directory: {e:?}");
            errno::EINVAL
        })?;
        let mut pages = Vec::with_capacity(grefs.len());
        for gref in grefs {
            match grants.map(domid, gref, Access::ReadWrite) {
                Ok(page) => pages.push(page),
                Err(e) => {
                    log::warn!("vsnd {domid}: cannot map buffer gref {gref}: {e}");
                    for page in pages {
                        let _ = grants.unmap(page);
                    }
                    return Err(errno::EINVAL);
                }
            }
        }
        let capacity = buffer_sz as usize;
        let io = match self.kind {
            Kind::Playback => PlaybackSource::new(
                format,
                rate,
                channels,
                capacity,
                device.rate,
                device.channels,
            )
            .map(Io::Playback),
            Kind::Capture => CaptureSink::new(
                format,
                rate,
                channels,
                capacity,
                device.rate,
                device.channels,
            )
            .map(Io::Capture),
        };
        let io = match io {
            Ok(io) => io,
            Err(e) => {
                log::warn!("vsnd {domid}: cannot convert this stream: {e:?}");
                for page in pages {
                    let _ = grants.unmap(page);
                }
                return Err(errno::EINVAL);
            }
        };
        self.ids.per_open = 0;
        let mut open = Open {
            channels: usize::from(channels),
            buffer_sz,
            period_sz,
            pages,
            run: Run::Stopped,
            io,
            reported: 0,
            last_io_us: ctx.now_us,
            events_since_io: 0,
            volume_mdb: [0; 8],
            muted: [false; 8],
        };
        open.apply_gains(&ctx.policy);
        self.open = Some(open);
        Ok(())
    }

    /// Unmaps the buffer and forgets the stream (CLOSE, re-OPEN, disconnect).
    pub fn close<G: GrantTable<Page = P>>(&mut self, grants: &mut G) {
        let _ = self.close_playing(grants);
    }

    /// [`StreamState::close`], handing back the playback pipeline if it was running: its
    /// last audio (our copy) can still be faded out.
    pub fn close_playing<G: GrantTable<Page = P>>(
        &mut self,
        grants: &mut G,
    ) -> Option<PlaybackSource> {
        self.pending = None;
        let open = self.open.take()?;
        for page in open.pages {
            if let Err(e) = grants.unmap(page) {
                log::warn!("vsnd: buffer unmap failed: {e}");
            }
        }
        match (open.run, open.io) {
            (Run::Running, Io::Playback(source)) => Some(source),
            _ => None,
        }
    }

    fn checked_range(open: &Open<P>, offset: u32, length: u32) -> Result<(), Errno> {
        if u64::from(offset) + u64::from(length) > u64::from(open.buffer_sz) {
            return Err(errno::EINVAL);
        }
        Ok(())
    }

    /// WRITE: copies the guest's bytes into our copy of its buffer.
    fn write<G>(&mut self, offset: u32, length: u32, ctx: &Ctx<'_, G>) -> Result<(), Errno> {
        let open = self.open.as_mut().ok_or(errno::EINVAL)?;
        Self::checked_range(open, offset, length)?;
        let Io::Playback(source) = &mut open.io else {
            return Err(errno::EINVAL);
        };
        let mut chunk = [0u8; 512];
        let mut done = 0;
        while done < length as usize {
            let n = chunk.len().min(length as usize - done);
            let at = offset as usize + done;
            read_buffer(&open.pages, at, &mut chunk[..n]);
            source.write(at, &chunk[..n]);
            done += n;
        }
        open.last_io_us = ctx.now_us;
        open.events_since_io = 0;
        Ok(())
    }

    /// READ: fills the guest's buffer once `length` bytes were captured (with silence once
    /// `late`). `Ok(false)`: not yet.
    fn read<G>(
        &mut self,
        offset: u32,
        length: u32,
        ctx: &Ctx<'_, G>,
        late: bool,
    ) -> Result<bool, Errno> {
        let open = self.open.as_mut().ok_or(errno::EINVAL)?;
        Self::checked_range(open, offset, length)?;
        let Io::Capture(sink) = &mut open.io else {
            return Err(errno::EINVAL);
        };
        if sink.available() < length as usize {
            if !late {
                return Ok(false);
            }
            sink.pad_silence(length as usize);
        }
        let mut chunk = [0u8; 512];
        let mut done = 0;
        while done < length as usize {
            let n = chunk.len().min(length as usize - done);
            sink.take(&mut chunk[..n]);
            write_buffer(&open.pages, offset as usize + done, &chunk[..n]);
            done += n;
        }
        open.last_io_us = ctx.now_us;
        open.events_since_io = 0;
        Ok(true)
    }

    fn trigger(&mut self, kind: TriggerType, now_us: u64) -> Result<(), Errno> {
        let open = self.open.as_mut().ok_or(errno::EINVAL)?;
        match kind {
            TriggerType::Start | TriggerType::Resume => {
                open.run = Run::Running;
                open.last_io_us = now_us;
                open.events_since_io = 0;
            }
            TriggerType::Pause => open.run = Run::Paused,
            TriggerType::Stop => {
                open.run = Run::Stopped;
                match &mut open.io {
                    Io::Playback(source) => source.clear(),
                    Io::Capture(sink) => sink.clear(),
                }
            }
        }
        Ok(())
    }

    /// The per-channel values of a volume request, from the guest's buffer.
    fn volume_request(&self, offset: u32, length: u32, width: usize) -> Result<Vec<u8>, Errno> {
        let open = self.open.as_ref().ok_or(errno::EINVAL)?;
        Self::checked_range(open, offset, length)?;
        let needed = open.channels * width;
        if (length as usize) < needed {
            return Err(errno::EINVAL);
        }
        let mut bytes = alloc::vec![0u8; needed];
        read_buffer(&open.pages, offset as usize, &mut bytes);
        Ok(bytes)
    }

    fn set_volume<G>(&mut self, offset: u32, length: u32, ctx: &Ctx<'_, G>) -> Result<(), Errno> {
        let bytes = self.volume_request(offset, length, 4)?;
        let open = self.open.as_mut().ok_or(errno::EINVAL)?;
        for (slot, value) in open.volume_mdb.iter_mut().zip(bytes.chunks_exact(4)) {
            let mdb = i32::from_le_bytes([value[0], value[1], value[2], value[3]]);
            *slot = mdb.clamp(volume::FLOOR_MDB, 0);
        }
        open.apply_gains(&ctx.policy);
        Ok(())
    }

    fn get_volume(&mut self, offset: u32, length: u32) -> Result<(), Errno> {
        self.volume_request(offset, length, 4)?;
        let open = self.open.as_ref().ok_or(errno::EINVAL)?;
        for (i, mdb) in open.volume_mdb[..open.channels].iter().enumerate() {
            write_buffer(&open.pages, offset as usize + 4 * i, &mdb.to_le_bytes());
        }
        Ok(())
    }

    fn set_mute<G>(
        &mut self,
        offset: u32,
        length: u32,
        mute: bool,
        ctx: &Ctx<'_, G>,
    ) -> Result<(), Errno> {
        let bytes = self.volume_request(offset, length, 1)?;
        let open = self.open.as_mut().ok_or(errno::EINVAL)?;
        for (slot, flag) in open.muted.iter_mut().zip(bytes) {
            if flag != 0 {
                *slot = mute;
            }
        }
        open.apply_gains(&ctx.policy);
        Ok(())
    }

    /// The running playback pipeline, for the mixer.
    pub fn playing(&mut self) -> Option<&mut PlaybackSource> {
        match self.open.as_mut() {
            Some(Open {
                run: Run::Running,
                io: Io::Playback(source),
                ..
            }) => Some(source),
            _ => None,
        }
    }

    /// Every open playback pipeline (running or not), to move positions.
    pub fn playback(&mut self) -> Option<&mut PlaybackSource> {
        match self.open.as_mut() {
            Some(Open {
                io: Io::Playback(source),
                ..
            }) => Some(source),
            _ => None,
        }
    }

    /// The running capture pipeline, for the capture router.
    pub fn recording(&mut self) -> Option<&mut CaptureSink> {
        match self.open.as_mut() {
            Some(Open {
                run: Run::Running,
                io: Io::Capture(sink),
                ..
            }) => Some(sink),
            _ => None,
        }
    }

    /// Re-applies the guest's volume policy (it changed at run time).
    pub fn policy_changed(&mut self, policy: &GuestPolicy) {
        if let Some(open) = self.open.as_mut() {
            open.apply_gains(policy);
        }
    }

    /// Sends a CUR_POS if the stream is running and has moved by half a period since the
    /// last one (Linux wakes the application once a whole period has passed). A full event
    /// page drops the event without spending an id; the next one carries the newer position.
    /// Also runs the event-id fallback of [`EventIds::Auto`].
    pub fn report_position<Q: SharedMem>(
        &mut self,
        events: &mut EventPage<Q>,
        now_us: u64,
    ) -> Result<(), EventPageError> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        if open.run != Run::Running || open.period_sz == 0 {
            return Ok(());
        }
        let position = match &open.io {
            Io::Playback(source) => source.position(),
            Io::Capture(sink) => sink.position(),
        };
        if self.ids.scheme == EventIds::Auto && open.events_since_io >= 2 {
            // Our events are consumed but the guest neither writes nor reads: it is
            // dropping them for a wrong id, so it restarts ids at each OPEN.
            let duration_us = u64::from(open.buffer_sz) * 1_000_000 / open.bytes_per_second();
            if events.pending()? == 0 && now_us - open.last_io_us > duration_us * 3 / 2 {
                log::info!("vsnd: guest ignores continuous event ids; numbering per OPEN");
                self.ids.scheme = EventIds::PerOpen;
            }
        }
        if position.saturating_sub(open.reported) * 2 < u64::from(open.period_sz) {
            return Ok(());
        }
        match events.push_cur_pos(self.ids.next(), position) {
            Ok(()) => {
                self.ids.sent();
                open.reported = position;
                open.events_since_io = open.events_since_io.saturating_add(1);
                Ok(())
            }
            Err(EventPageError::Full) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl<P> Open<P> {
    fn bytes_per_second(&self) -> u64 {
        let (rate, frame) = match &self.io {
            Io::Playback(s) => (s.rate(), s.frame_bytes()),
            Io::Capture(s) => (s.rate(), s.frame_bytes()),
        };
        (u64::from(rate) * frame as u64).max(1)
    }

    fn apply_gains(&mut self, policy: &GuestPolicy) {
        let guest = if policy.muted {
            0
        } else {
            volume::gain_of_mdb(policy.volume_mdb)
        };
        let mut gains = [0u32; 8];
        for (i, gain) in gains.iter_mut().enumerate() {
            *gain = if self.muted[i] {
                0
            } else {
                volume::combine(volume::gain_of_mdb(self.volume_mdb[i]), guest)
            };
        }
        if let Io::Playback(source) = &mut self.io {
            source.set_gains(&gains[..self.channels]);
        }
    }
}
