//! One guest playback stream as the mixer sees it: a copy of the guest's cyclic buffer, read
//! at the stream's position the way a sound card's DMA reads its buffer, turned into
//! device-rate samples on demand, and the position the guest is told.
//!
//! WRITE(offset, length) copies that region of the guest's buffer into ours before it is
//! answered (the guest reuses the region afterwards). The mixer reads exactly the frames it
//! needs for each tick at the position, modulo the buffer: decode, channel remix, resample to
//! the device rate, gain, and silences what it read, so a guest that is late plays silence,
//! never stale audio. The position moves on whether or not the guest wrote, as a card's does,
//! so the guest's ALSA sees underruns and drains end as on hardware. Offsets and position
//! both count from the OPEN, so they agree: that is what makes the copy bit-exact.
//!
//! The position reported is what the *device* has played: every tick records "after device
//! frame F, the stream had given N bytes", and the position moves to N once the device's DMA
//! position passes F.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use audio_hal::PcmFormat;

use crate::dsp::resample::Resampler;
use crate::dsp::{Sample, channels, convert};
use crate::volume;

/// How long the decay after the end of a guest's audio lasts.
const TAIL_MS: usize = 10;

/// Ticks in flight between the mixer and the DAC: enough for the largest lead (half the
/// card's buffer, a tick per millisecond). Beyond it the newest records are merged, so the
/// position moves in coarser steps; it never freezes, and never runs ahead of the device.
const IN_FLIGHT: usize = 256;

/// Why a stream cannot be played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceError {
    /// A compressed or unknown format.
    Format,
    /// More channels than the mixer handles, or none.
    Channels,
    /// A rate the resampler refuses.
    Rate,
}

/// A playback stream's pipeline.
pub struct PlaybackSource {
    format: PcmFormat,
    rate: u32,
    sample_bytes: usize,
    channels: usize,
    device_channels: usize,
    /// Our copy of the guest's buffer.
    ring: Vec<u8>,
    resampler: Option<Resampler>,
    /// Q16 per device channel: stream volume × guest volume × mute.
    gains: [u32; 8],
    /// Bytes read by the mixer since OPEN (the read position, unwrapped).
    consumed: u64,
    /// Bytes the guest wrote since OPEN (or since the last STOP): where its audio ends.
    written: u64,
    /// The last frame of the guest's audio that was read, per channel, and how many frames
    /// of the decay from it are left: see [`PlaybackSource::read_frames`].
    tail: [Sample; 8],
    tail_left: usize,
    /// (device frame, `consumed` once that frame has played).
    in_flight: VecDeque<(u64, u64)>,
    /// Bytes the device has played since OPEN: the guest's position.
    played: u64,
    decoded: Vec<Sample>,
    remixed: Vec<Sample>,
    resampled: Vec<Sample>,
}

impl PlaybackSource {
    /// A source for a stream of `format`/`rate`/`channels` with a buffer of `capacity` bytes,
    /// mixed into a device running at `device_rate` with `device_channels`.
    pub fn new(
        format: PcmFormat,
        rate: u32,
        channels: u8,
        capacity: usize,
        device_rate: u32,
        device_channels: usize,
    ) -> Result<PlaybackSource, SourceError> {
        let (sample_bytes, channels) = checked_shape(format, channels, device_channels)?;
        let resampler = resampler(rate, device_rate, device_channels)?;
        Ok(PlaybackSource {
            format,
            rate,
            sample_bytes,
            channels,
            device_channels,
            ring: silence(format, capacity),
            resampler,
            gains: [volume::UNITY; 8],
            consumed: 0,
            written: 0,
            tail: [0; 8],
            tail_left: 0,
            in_flight: VecDeque::with_capacity(IN_FLIGHT),
            played: 0,
            decoded: Vec::new(),
            remixed: Vec::new(),
            resampled: Vec::new(),
        })
    }

    /// Bytes per frame of the guest's format.
    pub fn frame_bytes(&self) -> usize {
        self.sample_bytes * self.channels
    }

    /// The guest's rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The buffer's size in bytes.
    pub fn buffer_bytes(&self) -> usize {
        self.ring.len()
    }

    /// Copies guest bytes to `offset` of the buffer; the caller checked the range.
    pub fn write(&mut self, offset: usize, bytes: &[u8]) {
        if let Some(slot) = self.ring.get_mut(offset..offset + bytes.len()) {
            slot.copy_from_slice(bytes);
            self.written += bytes.len() as u64;
        }
    }

    /// Silences the buffer (TRIGGER STOP): what was not played is dropped, as ALSA drops it.
    pub fn clear(&mut self) {
        convert::fill_silence(self.format, &mut self.ring);
        self.written = self.consumed;
        self.tail_left = 0;
        if let Some(r) = self.resampler.as_mut() {
            r.reset();
        }
    }

    /// Sets the per-channel gains (Q16) in the stream's own channel order; channels the
    /// device has but the stream has not follow the stream's first two.
    pub fn set_gains(&mut self, gains: &[u32]) {
        for (i, slot) in self.gains.iter_mut().enumerate().take(self.device_channels) {
            let source = if i < self.channels { i } else { i % 2 };
            *slot = gains.get(source).copied().unwrap_or(volume::UNITY);
        }
    }

    /// The guest's position in bytes: what the device has played of this stream.
    pub fn position(&self) -> u64 {
        self.played
    }

    /// Mixes `frames` device frames of this stream into `bus` (interleaved at the device's
    /// channel count, added to what is there).
    pub fn render(&mut self, frames: usize, bus: &mut [i32]) {
        let frames = frames.min(bus.len() / self.device_channels);
        let frame_bytes = self.frame_bytes();
        let wanted = match &self.resampler {
            Some(r) => r.input_frames_for(frames),
            None => frames,
        };
        self.read_frames(wanted);
        let remixed = if self.channels == self.device_channels {
            &self.decoded[..wanted * self.channels]
        } else {
            self.remixed.resize(wanted * self.device_channels, 0);
            channels::remix(
                &self.decoded[..wanted * self.channels],
                self.channels,
                &mut self.remixed,
                self.device_channels,
            );
            &self.remixed[..wanted * self.device_channels]
        };
        let out: &[Sample] = match self.resampler.as_mut() {
            Some(r) => {
                self.resampled.resize(frames * self.device_channels, 0);
                let (_, produced) = r.process(remixed, &mut self.resampled);
                &self.resampled[..produced * self.device_channels]
            }
            None => remixed,
        };
        for (frame, out_frame) in out
            .chunks_exact(self.device_channels)
            .zip(bus.chunks_exact_mut(self.device_channels))
        {
            for ((sample, acc), gain) in frame.iter().zip(out_frame).zip(self.gains) {
                // Saturating: however many guests play at full scale, the sum cannot wrap.
                *acc = acc.saturating_add(volume::apply(*sample, gain));
            }
        }
        self.consumed += (wanted * frame_bytes) as u64;
    }

    /// Decodes `frames` frames at the read position into `self.decoded` and silences them in
    /// the buffer. Past the end of what the guest wrote (an underrun, a drained stream, a
    /// guest paused by `xl destroy` while the toolstack has not told us yet), its last frame
    /// decays to silence over [`TAIL_MS`] instead of stopping dead: a step there is a click
    /// in every other guest's sound too. The guest's own samples are never changed.
    fn read_frames(&mut self, frames: usize) {
        self.decode(frames);
        let frame_bytes = self.frame_bytes() as u64;
        let tail_frames = (self.rate as usize * TAIL_MS / 1000).max(1);
        let ours = (self.written.saturating_sub(self.consumed) / frame_bytes) as usize;
        let ours = ours.min(frames);
        let channels = self.channels;
        if ours > 0 {
            let last = &self.decoded[(ours - 1) * channels..ours * channels];
            self.tail[..channels].copy_from_slice(last);
            self.tail_left = tail_frames;
        }
        for frame in self.decoded[ours * channels..].chunks_exact_mut(channels) {
            if self.tail_left == 0 {
                break;
            }
            self.tail_left -= 1;
            let (left, total) = (self.tail_left as i64, tail_frames as i64);
            for (out, &from) in frame.iter_mut().zip(&self.tail) {
                *out = (i64::from(from) * left / total) as Sample;
            }
        }
    }

    /// Decodes `frames` frames at the read position into `self.decoded` and silences them in
    /// the buffer.
    fn decode(&mut self, frames: usize) {
        let samples = frames * self.channels;
        self.decoded.resize(samples, 0);
        let size = self.ring.len();
        let mut at = (self.consumed % size as u64) as usize;
        let mut done = 0;
        while done < samples {
            // Whole frames up to the buffer's end (the buffer holds whole frames).
            let run = ((size - at) / self.sample_bytes).min(samples - done);
            let bytes = &mut self.ring[at..at + run * self.sample_bytes];
            convert::decode(self.format, bytes, &mut self.decoded[done..done + run]);
            convert::fill_silence(self.format, bytes);
            done += run;
            at = (at + run * self.sample_bytes) % size;
        }
    }

    /// Records that everything rendered so far plays once the device reaches `frame`.
    pub fn commit(&mut self, frame: u64) {
        // Dropping the oldest record instead would leave only records the device has not
        // reached yet whenever the lead spans more ticks than the queue holds: the position,
        // and with it the guest's wakeups, would stop until the mixer fell behind.
        if self.in_flight.len() == IN_FLIGHT {
            self.in_flight.pop_back();
        }
        self.in_flight.push_back((frame, self.consumed));
    }

    /// Moves the position to what has played by device frame `device_position`.
    pub fn advance(&mut self, device_position: u64) {
        while let Some(&(frame, consumed)) = self.in_flight.front() {
            if frame > device_position {
                break;
            }
            self.played = consumed;
            self.in_flight.pop_front();
        }
    }

    /// Bytes read from the buffer that the device has not played yet: the latency the
    /// backend adds to this stream, in the stream's bytes.
    pub fn in_flight(&self) -> u64 {
        self.consumed - self.played
    }
}

/// A buffer of `len` bytes of silence in `format` (not all zero bytes for unsigned formats).
fn silence(format: PcmFormat, len: usize) -> Vec<u8> {
    let mut buffer = vec![0; len];
    convert::fill_silence(format, &mut buffer);
    buffer
}

/// Bytes per sample and channel count of a stream the pipelines can convert.
pub(crate) fn checked_shape(
    format: PcmFormat,
    channels: u8,
    device_channels: usize,
) -> Result<(usize, usize), SourceError> {
    let sample_bytes = convert::sample_bytes(format).ok_or(SourceError::Format)?;
    let channels = usize::from(channels);
    if !(1..=8).contains(&channels) || !(1..=8).contains(&device_channels) {
        return Err(SourceError::Channels);
    }
    Ok((sample_bytes, channels))
}

/// A resampler from `from` to `to` Hz, or none when the rates are equal.
pub(crate) fn resampler(
    from: u32,
    to: u32,
    channels: usize,
) -> Result<Option<Resampler>, SourceError> {
    if from == to {
        return Ok(None);
    }
    Resampler::new(from, to, channels)
        .map(Some)
        .map_err(|_| SourceError::Rate)
}
