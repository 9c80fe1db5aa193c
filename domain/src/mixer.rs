//! The device side: one playback stream on the card that every guest is mixed into, kept a
//! few frames ahead of the DMA position, and one capture stream read behind it.
//!
//! The mixer writes `lead` frames ahead of what the device has played, then a guard of
//! silence beyond that: if the domain is ever late, the card plays silence rather than
//! replaying old audio (the stale-replay bug Qubes users reported, pv-sound.md §4.4). The sum
//! of all guests is clamped once, at the end.

use alloc::vec;
use alloc::vec::Vec;

use audio_hal::{Capabilities, Error, PcmFormat, PcmParams, PcmStream, RATES};

use crate::dsp::{MAX, MIN, Sample, convert};

/// Device buffer: the DMA position is only tracked across wraps if we look at least once per
/// half buffer, so it must outlast twice the longest time the domain may not run (a busy
/// host, nested virtualisation): 341 ms at 48 kHz. Only `lead` frames of it ever hold audio.
const BUFFER_FRAMES: u32 = 16384;
/// Late or overrun warnings at most this often (in device frames): on a slow console a
/// warning per tick would itself make every tick late.
const WARN_EVERY: u64 = 5 * 48_000;
/// A capture card that delivers nothing for this long is replaced by silence.
const STALL_US: u64 = 50_000;
const PERIOD_FRAMES: u32 = 1024;
/// The most frames mixed in one tick (a domain that was descheduled for a long time
/// skips ahead instead of mixing a backlog nobody will hear in time).
const MAX_CHUNK: u64 = 4096;

/// The format we run the card at: 48 kHz (else the highest rate), stereo if possible, and
/// the widest linear PCM the card takes among s16/s24/s32.
pub fn choose_params(caps: &Capabilities) -> Option<PcmParams> {
    let rate = if RATES
        .iter()
        .position(|&r| r == 48_000)
        .is_some_and(|i| caps.rates & (1 << i) != 0)
    {
        48_000
    } else {
        RATES
            .iter()
            .enumerate()
            .filter(|(i, _)| caps.rates & (1 << i) != 0)
            .map(|(_, &r)| r)
            .max()?
    };
    let format = [PcmFormat::S32Le, PcmFormat::S24Le, PcmFormat::S16Le]
        .into_iter()
        .find(|f| caps.formats.contains(*f))?;
    let channels = 2.clamp(caps.channels_min, caps.channels_max);
    Some(PcmParams {
        format,
        rate,
        channels,
    })
}

/// Frames per device buffer and period that the card accepts.
fn buffer_shape(caps: &Capabilities, frame_bytes: u32) -> (u32, u32) {
    let most = caps.buffer_bytes_max / frame_bytes.max(1);
    let mut buffer = BUFFER_FRAMES;
    while buffer > most && buffer > 8 {
        buffer /= 2;
    }
    (buffer, PERIOD_FRAMES.min(buffer / 2).max(1))
}

/// The playback side.
pub struct Mixer {
    params: PcmParams,
    channels: usize,
    frame_bytes: usize,
    buffer_frames: u64,
    /// Device frames written since prepare.
    written: u64,
    running: bool,
    /// The card's position at the last tick.
    last_position: Option<u64>,
    /// Device frames up to which the buffer behind the DMA position has been silenced.
    cleared: u64,
    /// Frames skipped because we were late, and when that was last reported.
    skipped: u64,
    warned_at: Option<u64>,
    bus: Vec<i32>,
    discard: Vec<i32>,
    samples: Vec<Sample>,
    bytes: Vec<u8>,
}

/// [`Mixer::due`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Device frames that went by unwritten.
    pub missed: usize,
    /// Frames to mix now.
    pub mix: usize,
}

impl Mixer {
    /// Prepares `stream` for `params`. Errors: the driver's.
    pub fn new<S: PcmStream>(
        stream: &mut S,
        params: PcmParams,
        caps: &Capabilities,
    ) -> Result<Mixer, Error> {
        let frame_bytes = params.frame_bytes().ok_or(Error::InvalidParams)?;
        let (buffer, period) = buffer_shape(caps, frame_bytes);
        stream.prepare(params, buffer, period)?;
        Ok(Mixer {
            params,
            channels: usize::from(params.channels),
            frame_bytes: frame_bytes as usize,
            buffer_frames: u64::from(buffer),
            written: 0,
            running: false,
            last_position: None,
            cleared: 0,
            skipped: 0,
            warned_at: None,
            bus: Vec::new(),
            discard: Vec::new(),
            samples: Vec::new(),
            bytes: Vec::new(),
        })
    }

    pub fn params(&self) -> PcmParams {
        self.params
    }

    /// Whether the card is playing.
    pub fn running(&self) -> bool {
        self.running
    }

    /// Device frames written so far (the frame the next mix starts at).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// What to do now so that at least `lead` frames are ahead of `position`: how many
    /// frames the card already played that we never wrote (the domain was late: guests'
    /// audio for that time must be dropped, or their positions would fall behind real time
    /// and their applications time out), and how many to mix. The caller's `lead` covers the
    /// time until the next tick ([`crate::pacing`]); at most half the buffer is used.
    pub fn due(&mut self, position: u64, lead: u64) -> Due {
        self.last_position = Some(position);
        let mut missed = 0;
        if self.written < position {
            missed = (position - self.written).min(self.buffer_frames) as usize;
            self.skipped += position - self.written;
            if self.warned_at.is_none_or(|at| position - at >= WARN_EVERY) {
                log::warn!(
                    "mixer: late, {} frames skipped so far (the domain did not run in time)",
                    self.skipped
                );
                self.warned_at = Some(position);
            }
            self.written = position;
        }
        let lead = lead.min(self.buffer_frames / 2);
        let mix = (position + lead)
            .saturating_sub(self.written)
            .min(MAX_CHUNK)
            .min(self.buffer_frames / 4) as usize;
        Due { missed, mix }
    }

    /// A zeroed bus for audio that is computed and thrown away (the part of guests' streams
    /// that fell into a time the card played silence).
    pub fn discard_bus(&mut self, frames: usize) -> &mut [i32] {
        self.discard.clear();
        self.discard.resize(frames * self.channels, 0);
        &mut self.discard
    }

    /// A zeroed bus for `frames` frames; sources add into it.
    pub fn bus(&mut self, frames: usize) -> &mut [i32] {
        self.bus.clear();
        self.bus.resize(frames * self.channels, 0);
        &mut self.bus
    }

    /// Clamps and encodes the bus, writes it at the write position, and silences the guard
    /// after it. Starts the card the first time.
    pub fn commit<S: PcmStream>(&mut self, stream: &mut S) -> Result<(), Error> {
        let frames = self.bus.len() / self.channels;
        self.samples.clear();
        self.samples
            .extend(self.bus.iter().map(|&s| s.clamp(MIN, MAX) as Sample));
        self.bytes
            .resize(self.samples.len() * self.frame_bytes / self.channels, 0);
        convert::encode(self.params.format, &self.samples, &mut self.bytes);
        let start = self.written;
        self.write_cyclic(stream, start)?;
        self.written += frames as u64;
        // The guard: as much silence again after what we wrote.
        let guard = frames.max(1);
        self.bytes.clear();
        self.bytes.resize(guard * self.frame_bytes, 0);
        convert::fill_silence(self.params.format, &mut self.bytes);
        self.write_cyclic(stream, self.written)?;
        // And behind the DMA: what it already fetched becomes silence, so if we are ever
        // late by more than the guard the card plays silence there, not audio one buffer
        // (a third of a second) old.
        if let Some(position) = self.last_position {
            let from = self
                .cleared
                .max(position.saturating_sub(self.buffer_frames / 2));
            if position > from {
                self.bytes.clear();
                self.bytes
                    .resize((position - from) as usize * self.frame_bytes, 0);
                convert::fill_silence(self.params.format, &mut self.bytes);
                self.write_cyclic(stream, from)?;
            }
            self.cleared = position;
        }
        if !self.running {
            stream.start()?;
            self.running = true;
        }
        Ok(())
    }

    /// Writes `self.bytes` at device frame `frame`, wrapping around the buffer end.
    fn write_cyclic<S: PcmStream>(&self, stream: &mut S, frame: u64) -> Result<(), Error> {
        let buffer_bytes = self.buffer_frames as usize * self.frame_bytes;
        let mut offset = (frame % self.buffer_frames) as usize * self.frame_bytes;
        let mut data = &self.bytes[..self.bytes.len().min(buffer_bytes / 2)];
        while !data.is_empty() {
            let n = data.len().min(buffer_bytes - offset);
            stream.write(offset as u32, &data[..n])?;
            data = &data[n..];
            offset = 0;
        }
        Ok(())
    }
}

/// The capture side: reads what the card recorded since the last tick.
pub struct Recorder {
    params: PcmParams,
    frame_bytes: usize,
    buffer_frames: u64,
    read: u64,
    running: bool,
    lost: u64,
    warned_at: Option<u64>,
    /// When the card last delivered frames (or we stood in for it with silence); `None`
    /// until the first look after starting.
    delivered_us: Option<u64>,
    /// Whether we said so when the card first went silent.
    silent: bool,
    bytes: Vec<u8>,
    samples: Vec<Sample>,
}

impl Recorder {
    /// Prepares `stream` for `params`. Errors: the driver's.
    pub fn new<S: PcmStream>(
        stream: &mut S,
        params: PcmParams,
        caps: &Capabilities,
    ) -> Result<Recorder, Error> {
        let frame_bytes = params.frame_bytes().ok_or(Error::InvalidParams)?;
        let (buffer, period) = buffer_shape(caps, frame_bytes);
        stream.prepare(params, buffer, period)?;
        Ok(Recorder {
            params,
            frame_bytes: frame_bytes as usize,
            buffer_frames: u64::from(buffer),
            read: 0,
            running: false,
            lost: 0,
            warned_at: None,
            delivered_us: None,
            silent: false,
            bytes: vec![0; buffer as usize * frame_bytes as usize],
            samples: Vec::new(),
        })
    }

    pub fn params(&self) -> PcmParams {
        self.params
    }

    /// The frames recorded since the last call, as [`Recorder::take`]; but if the card has
    /// delivered nothing for [`STALL_US`] (a stalled or absent input, e.g. an emulated codec
    /// with no input backend), silence for the time that passed instead, so guests' reads are
    /// answered and their positions move rather than time out.
    pub fn take_or_silence<S: PcmStream>(
        &mut self,
        stream: &mut S,
        now_us: u64,
    ) -> Result<&[Sample], Error> {
        let delivered = self.take(stream)?.len();
        let since = *self.delivered_us.get_or_insert(now_us);
        if delivered > 0 {
            self.delivered_us = Some(now_us);
            return Ok(&self.samples);
        }
        let stalled_us = now_us.saturating_sub(since);
        if stalled_us < STALL_US {
            return Ok(&[]);
        }
        if !self.silent {
            log::warn!("recorder: the card delivers nothing; recording silence");
            self.silent = true;
        }
        let frames = (stalled_us * u64::from(self.params.rate) / 1_000_000)
            .min(self.buffer_frames / 2) as usize;
        self.delivered_us = Some(now_us);
        self.samples.clear();
        self.samples
            .resize(frames * usize::from(self.params.channels), 0);
        Ok(&self.samples)
    }

    /// Starts the card if it is not recording yet.
    pub fn start<S: PcmStream>(&mut self, stream: &mut S) -> Result<(), Error> {
        if !self.running {
            self.read = stream.position()?;
            stream.start()?;
            self.running = true;
        }
        Ok(())
    }

    /// The frames recorded since the last call, decoded (interleaved at the card's channel
    /// count). A backlog larger than half the buffer was overwritten: only its newest half
    /// is returned.
    pub fn take<S: PcmStream>(&mut self, stream: &mut S) -> Result<&[Sample], Error> {
        if !self.running {
            return Ok(&[]);
        }
        let position = stream.position()?;
        let newest = self.buffer_frames / 2;
        if position.saturating_sub(self.read) > newest {
            self.lost += position - self.read - newest;
            if self.warned_at.is_none_or(|at| position - at >= WARN_EVERY) {
                log::warn!("recorder: overrun, {} frames lost so far", self.lost);
                self.warned_at = Some(position);
            }
            self.read = position - newest;
        }
        let frames = position.saturating_sub(self.read) as usize;
        let buffer_bytes = self.buffer_frames as usize * self.frame_bytes;
        let mut offset = (self.read % self.buffer_frames) as usize * self.frame_bytes;
        let mut done = 0;
        let total = frames * self.frame_bytes;
        while done < total {
            let n = (total - done).min(buffer_bytes - offset);
            stream.read(offset as u32, &mut self.bytes[done..done + n])?;
            done += n;
            offset = 0;
        }
        self.read = position;
        self.samples.resize(
            total / self.frame_bytes * usize::from(self.params.channels),
            0,
        );
        convert::decode(self.params.format, &self.bytes[..total], &mut self.samples);
        Ok(&self.samples)
    }
}
