//! One guest capture stream: the device's recorded frames converted to the guest's format,
//! rate and channels, queued until the guest READs them.
//!
//! The position the guest is told is what has been made available (pv-sound.md §1.6): every
//! byte counted has been converted and sits in the FIFO. If the guest does not read, the
//! oldest bytes are dropped, as a sound card overwrites its buffer; memory stays bounded by
//! the stream's buffer size.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use audio_hal::PcmFormat;

use crate::dsp::resample::Resampler;
use crate::dsp::{Sample, channels, convert};
use crate::playback::{SourceError, checked_shape, resampler};

/// A capture stream's pipeline.
pub struct CaptureSink {
    format: PcmFormat,
    rate: u32,
    sample_bytes: usize,
    channels: usize,
    device_channels: usize,
    fifo: VecDeque<u8>,
    capacity: usize,
    resampler: Option<Resampler>,
    /// Bytes made available since OPEN: the guest's position.
    produced: u64,
    remixed: Vec<Sample>,
    resampled: Vec<Sample>,
    encoded: Vec<u8>,
}

impl CaptureSink {
    /// A sink for a guest stream of `format`/`rate`/`channels` with a FIFO of `capacity`
    /// bytes, fed from a device recording at `device_rate` with `device_channels`.
    pub fn new(
        format: PcmFormat,
        rate: u32,
        channels: u8,
        capacity: usize,
        device_rate: u32,
        device_channels: usize,
    ) -> Result<CaptureSink, SourceError> {
        let (sample_bytes, channels) = checked_shape(format, channels, device_channels)?;
        let resampler = resampler(device_rate, rate, channels)?;
        Ok(CaptureSink {
            format,
            rate,
            sample_bytes,
            channels,
            device_channels,
            fifo: VecDeque::with_capacity(capacity),
            capacity,
            resampler,
            produced: 0,
            remixed: Vec::new(),
            resampled: Vec::new(),
            encoded: Vec::new(),
        })
    }

    /// Converts device frames (interleaved at the device's channel count) and queues them.
    pub fn feed(&mut self, device: &[Sample]) {
        let frames = device.len() / self.device_channels;
        self.remixed.resize(frames * self.channels, 0);
        channels::remix(
            &device[..frames * self.device_channels],
            self.device_channels,
            &mut self.remixed,
            self.channels,
        );
        let samples: &[Sample] = match self.resampler.as_mut() {
            Some(r) => {
                // A rate up to 192 kHz from a device at 8 kHz at worst: 24 times as many.
                let most = frames * 24 + 2;
                self.resampled.resize(most * self.channels, 0);
                let (_, produced) = r.process(&self.remixed, &mut self.resampled);
                &self.resampled[..produced * self.channels]
            }
            None => &self.remixed,
        };
        self.encoded.resize(samples.len() * self.sample_bytes, 0);
        let written = convert::encode(self.format, samples, &mut self.encoded);
        let bytes = &self.encoded[..written * self.sample_bytes];
        let overflow = (self.fifo.len() + bytes.len()).saturating_sub(self.capacity);
        if overflow > 0 {
            // Whole frames only, so the guest never loses frame alignment.
            let frame = self.sample_bytes * self.channels;
            let drop = overflow.div_ceil(frame) * frame;
            self.fifo.drain(..drop.min(self.fifo.len()));
        }
        let room = self.capacity - self.fifo.len();
        self.fifo.extend(&bytes[..bytes.len().min(room)]);
        self.produced += bytes.len().min(room) as u64;
    }

    /// The guest's rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Bytes per frame of the guest's format.
    pub fn frame_bytes(&self) -> usize {
        self.sample_bytes * self.channels
    }

    /// Bytes ready for READ.
    pub fn available(&self) -> usize {
        self.fifo.len()
    }

    /// Takes `out.len()` bytes; the caller checked [`CaptureSink::available`].
    pub fn take(&mut self, out: &mut [u8]) {
        let len = out.len();
        for (slot, byte) in out.iter_mut().zip(self.fifo.drain(..len)) {
            *slot = byte;
        }
    }

    /// Pads the FIFO with silence up to `len` bytes (the device stopped delivering and a
    /// READ must still be answered in time), counting it as made available.
    pub fn pad_silence(&mut self, len: usize) {
        let missing = len.saturating_sub(self.fifo.len());
        let frame = self.sample_bytes * self.channels;
        let missing = missing.div_ceil(frame) * frame;
        let mut silence = [0u8; 64];
        let mut left = missing.min(self.capacity - self.fifo.len());
        // A frame is at most 8 channels of 8 bytes, so a chunk holds at least one.
        let chunk = 64 / frame * frame;
        while left >= frame {
            let n = left.min(chunk) / frame * frame;
            convert::fill_silence(self.format, &mut silence[..n]);
            self.fifo.extend(&silence[..n]);
            self.produced += n as u64;
            left -= n;
        }
    }

    /// Forgets what was recorded (TRIGGER STOP).
    pub fn clear(&mut self) {
        self.fifo.clear();
        if let Some(r) = self.resampler.as_mut() {
            r.reset();
        }
    }

    /// The guest's position in bytes.
    pub fn position(&self) -> u64 {
        self.produced
    }
}
