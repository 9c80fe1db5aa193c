//! The audio driver traits: what every device driver implements and the vsnd backend uses.
//!
//! Small on purpose, in the style of Tock's HIL: a device says what it can do
//! ([`Capabilities`]) and hands out [`PcmStream`]s, each a cyclic DMA buffer that the caller
//! fills (playback) or drains (capture) ahead of the hardware position. Every method lists
//! the errors it returns.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod format;
pub mod tone;

pub use format::{FormatSet, PcmFormat};

/// Which way samples flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Playback,
    Capture,
}

/// A stream's sample format, rate and channel count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmParams {
    pub format: PcmFormat,
    /// Frames per second.
    pub rate: u32,
    pub channels: u8,
}

impl PcmParams {
    /// Bytes per frame; `None` for compressed formats or zero channels.
    pub fn frame_bytes(&self) -> Option<u32> {
        let sample = self.format.bytes_per_sample()?;
        (self.channels > 0).then(|| sample * u32::from(self.channels))
    }
}

/// The standard rates, as a bit set over this table (`RATES[i]` is bit `i`).
pub const RATES: [u32; 13] = [
    8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000, 384000, 5512,
];

/// What a device can do in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Supported rates, a bit set over [`RATES`].
    pub rates: u16,
    pub formats: FormatSet,
    pub channels_min: u8,
    pub channels_max: u8,
    /// Buffer limits in bytes.
    pub buffer_bytes_min: u32,
    pub buffer_bytes_max: u32,
    /// Period (interrupt interval) limits in bytes.
    pub period_bytes_min: u32,
    pub period_bytes_max: u32,
}

impl Capabilities {
    /// Whether `params` are within these capabilities.
    pub fn supports(&self, params: &PcmParams) -> bool {
        let rate_ok = RATES
            .iter()
            .position(|&r| r == params.rate)
            .is_some_and(|i| self.rates & (1 << i) != 0);
        rate_ok
            && self.formats.contains(params.format)
            && (self.channels_min..=self.channels_max).contains(&params.channels)
    }
}

/// What went wrong in a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The device cannot do this at all (no such direction, format or rate).
    Unsupported,
    /// Parameters outside the device's capabilities, or inconsistent sizes.
    InvalidParams,
    /// The stream has not been prepared.
    NotPrepared,
    /// An offset or length outside the stream's buffer.
    OutOfRange,
    /// The device stopped answering within its time limit.
    Timeout,
    /// The device is gone (registers read all ones: removed or powered down).
    DeviceGone,
    /// The hardware reported an error (FIFO under/overrun, descriptor error).
    Hardware,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Unsupported => "not supported by the device",
            Error::InvalidParams => "parameters outside the device's capabilities",
            Error::NotPrepared => "stream not prepared",
            Error::OutOfRange => "offset or length outside the buffer",
            Error::Timeout => "device did not answer in time",
            Error::DeviceGone => "device is gone",
            Error::Hardware => "hardware error",
        })
    }
}

/// One stream of a device: a cyclic buffer the hardware plays from or records into.
pub trait PcmStream {
    /// Sets the stream up for `params` with a cyclic buffer of `buffer_frames` frames and an
    /// interrupt every `period_frames`. The stream is stopped afterwards, position 0.
    ///
    /// Errors: `InvalidParams` (outside [`Capabilities`], period not dividing the buffer),
    /// `Timeout`, `DeviceGone`.
    fn prepare(
        &mut self,
        params: PcmParams,
        buffer_frames: u32,
        period_frames: u32,
    ) -> Result<(), Error>;

    /// Starts the hardware. Errors: `NotPrepared`, `Timeout`, `DeviceGone`.
    fn start(&mut self) -> Result<(), Error>;

    /// Stops the hardware; the position is kept. Errors: `NotPrepared`, `Timeout`, `DeviceGone`.
    fn stop(&mut self) -> Result<(), Error>;

    /// Frames the hardware has played or recorded since `prepare` (monotonic, never wraps).
    /// Errors: `NotPrepared`, `DeviceGone`, `Hardware`.
    fn position(&mut self) -> Result<u64, Error>;

    /// Copies `bytes` into the cyclic buffer at byte `offset` (playback).
    /// Errors: `NotPrepared`, `OutOfRange` (`offset + len` past the buffer end).
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error>;

    /// Copies bytes at `offset` of the cyclic buffer into `buf` (capture).
    /// Errors: `NotPrepared`, `OutOfRange`.
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Error>;

    /// The prepared buffer's size in bytes (0 before `prepare`).
    fn buffer_bytes(&self) -> u32;
}

/// A sound device.
pub trait AudioDevice {
    type Stream: PcmStream;

    /// What the device can do in `direction`. Errors: `Unsupported` (no such direction).
    fn capabilities(&self, direction: Direction) -> Result<Capabilities, Error>;

    /// The device's stream for `direction`. Errors: `Unsupported`.
    fn stream(&mut self, direction: Direction) -> Result<&mut Self::Stream, Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_sample_size_times_channels() {
        let p = PcmParams {
            format: PcmFormat::S24Le,
            rate: 48000,
            channels: 2,
        };
        assert_eq!(p.frame_bytes(), Some(8));
        assert_eq!(PcmParams { channels: 0, ..p }.frame_bytes(), None);
        assert_eq!(
            PcmParams {
                format: PcmFormat::Gsm,
                ..p
            }
            .frame_bytes(),
            None
        );
    }

    #[test]
    fn capabilities_check_rate_format_and_channels() {
        let caps = Capabilities {
            rates: 1 << 5 | 1 << 6,
            formats: FormatSet::EMPTY.with(PcmFormat::S16Le),
            channels_min: 1,
            channels_max: 2,
            buffer_bytes_min: 64,
            buffer_bytes_max: 65536,
            period_bytes_min: 32,
            period_bytes_max: 32768,
        };
        let ok = PcmParams {
            format: PcmFormat::S16Le,
            rate: 48000,
            channels: 2,
        };
        assert!(caps.supports(&ok));
        assert!(!caps.supports(&PcmParams { rate: 96000, ..ok }));
        assert!(!caps.supports(&PcmParams { rate: 12345, ..ok }));
        assert!(!caps.supports(&PcmParams { channels: 3, ..ok }));
        assert!(!caps.supports(&PcmParams {
            format: PcmFormat::S32Le,
            ..ok
        }));
    }
}
