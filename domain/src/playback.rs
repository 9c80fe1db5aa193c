//! One guest playback stream as the mixer sees it: the bytes the guest wrote, waiting in a
//! FIFO, turned into device-rate samples on demand, and the position the guest is told.
//!
//! WRITE copies the guest's bytes into the FIFO before it is answered (the guest reuses the
//! region afterwards). The mixer pulls exactly the frames it needs for each tick: decode,
//! channel remix, resample to the device rate, gain. The position is what the *device* has
//! played: every tick records "after device frame F, the stream had given N bytes", and the
//! position moves to N once the device's DMA position passes F.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use audio_hal::PcmFormat;

use crate::dsp::resample::Resampler;
use crate::dsp::{Sample, channels, convert};
use crate::volume;

/// Ticks in flight between the mixer and the DAC; more means the device stalled, and the
/// oldest records are merged (the position only lags, never jumps ahead).
const IN_FLIGHT: usize = 64;

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
    fifo: VecDeque<u8>,
    capacity: usize,
    resampler: Option<Resampler>,
    /// Q16 per device channel: stream volume × guest volume × mute.
    gains: [u32; 8],
    /// Bytes taken out of the FIFO since OPEN.
    consumed: u64,
    /// (device frame, `consumed` once that frame has played).
    in_flight: VecDeque<(u64, u64)>,
    /// Bytes the device has played since OPEN: the guest's position.
    played: u64,
    decoded: Vec<Sample>,
    remixed: Vec<Sample>,
    resampled: Vec<Sample>,
}

impl PlaybackSource {
    /// A source for a stream of `format`/`rate`/`channels` with a FIFO of `capacity` bytes,
    /// mixed into a device running at `device_rate` with `device_channels`.
    pub fn new(
        format: PcmFormat,
        rate: u32,
        channels: u8,
        capacity: usize,
        device_rate: u32,
        device_channels: usize,
    ) -> Result<PlaybackSource, SourceError> {
        let sample_bytes = convert::sample_bytes(format).ok_or(SourceError::Format)?;
        let channels = usize::from(channels);
        if !(1..=8).contains(&channels) || !(1..=8).contains(&device_channels) {
            return Err(SourceError::Channels);
        }
        let resampler = if rate == device_rate {
            None
        } else {
            Some(
                Resampler::new(rate, device_rate, device_channels)
                    .map_err(|_| SourceError::Rate)?,
            )
        };
        Ok(PlaybackSource {
            format,
            rate,
            sample_bytes,
            channels,
            device_channels,
            fifo: VecDeque::with_capacity(capacity),
            capacity,
            resampler,
            gains: [volume::UNITY; 8],
            consumed: 0,
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

    /// Room left in the FIFO, in bytes.
    pub fn free(&self) -> usize {
        self.capacity - self.fifo.len()
    }

    /// Bytes waiting to be mixed.
    pub fn queued(&self) -> usize {
        self.fifo.len()
    }

    /// Appends guest bytes; the caller checked [`PlaybackSource::free`].
    pub fn push(&mut self, bytes: &[u8]) {
        let room = self.free().min(bytes.len());
        self.fifo.extend(&bytes[..room]);
    }

    /// Drops what was not played (TRIGGER STOP): a restarted stream starts with new data.
    pub fn clear(&mut self) {
        self.fifo.clear();
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
    /// channel count, added to what is there). Returns the frames that carried guest audio.
    ///
    /// A stream that runs dry plays silence and its position moves on regardless, as a
    /// sound card's does: the guest's ALSA then sees the underrun (or the end of its drain)
    /// the way it would on hardware. The silence goes through the resampler like audio, so
    /// the filter's tail of real audio is played out, not held back.
    pub fn render(&mut self, frames: usize, bus: &mut [i32]) -> usize {
        let frames = frames.min(bus.len() / self.device_channels);
        let frame_bytes = self.frame_bytes();
        let available = self.fifo.len() / frame_bytes;
        let wanted = match &self.resampler {
            Some(r) => r.input_frames_for(frames),
            None => frames,
        };
        let take = wanted.min(available);
        self.decode_front(take);
        self.decoded.resize(wanted * self.channels, 0);
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
        let (used, produced, out): (usize, usize, &[Sample]) = match self.resampler.as_mut() {
            Some(r) => {
                self.resampled.resize(frames * self.device_channels, 0);
                let (used, produced) = r.process(remixed, &mut self.resampled);
                (
                    used,
                    produced,
                    &self.resampled[..produced * self.device_channels],
                )
            }
            None => (wanted, wanted, remixed),
        };
        for (frame, out_frame) in out
            .chunks_exact(self.device_channels)
            .zip(bus.chunks_exact_mut(self.device_channels))
        {
            for ((sample, acc), gain) in frame.iter().zip(out_frame).zip(self.gains) {
                *acc += volume::apply(*sample, gain);
            }
        }
        let real = used.min(take);
        self.fifo.drain(..real * frame_bytes);
        // Silence the stream did not supply still counts: the card played it.
        self.consumed += (used * frame_bytes) as u64;
        if real < used {
            log::trace!("playback: underrun of {} frames", used - real);
        }
        produced.min(real)
    }

    /// Decodes the first `frames` frames of the FIFO into `self.decoded`, leaving the FIFO
    /// as it is (the resampler may not take them all).
    fn decode_front(&mut self, frames: usize) {
        let samples = frames * self.channels;
        self.decoded.resize(samples, 0);
        let bytes = samples * self.sample_bytes;
        let (first, second) = self.fifo.as_slices();
        let first = &first[..bytes.min(first.len())];
        // Whole samples from the first slice, one sample straddling the seam, the rest.
        let head = convert::decode(self.format, first, &mut self.decoded);
        let mut done = head;
        let split = first.len() % self.sample_bytes;
        let mut rest = &second[..bytes - first.len()];
        if split != 0 && done < samples {
            let mut straddle = [0u8; 8];
            let need = self.sample_bytes - split;
            straddle[..split].copy_from_slice(&first[first.len() - split..]);
            straddle[split..self.sample_bytes].copy_from_slice(&rest[..need]);
            done += convert::decode(
                self.format,
                &straddle[..self.sample_bytes],
                &mut self.decoded[done..],
            );
            rest = &rest[need..];
        }
        convert::decode(self.format, rest, &mut self.decoded[done..]);
    }

    /// Records that everything rendered so far plays once the device reaches `frame`.
    pub fn commit(&mut self, frame: u64) {
        if self.in_flight.len() == IN_FLIGHT {
            self.in_flight.pop_front();
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

    /// Bytes buffered in the backend that the device has not played yet (for latency
    /// accounting): in the FIFO, plus mixed but not yet played.
    pub fn unplayed(&self) -> u64 {
        self.fifo.len() as u64 + (self.consumed - self.played)
    }
}
