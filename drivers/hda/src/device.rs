//! The HDA card behind the audio traits: what the vsnd backend mixes into.
//!
//! Playback only for now (capture paths are issue #3's next step): the chosen route, 16-bit
//! PCM at the rates the stream format word expresses, stereo, positions from the DMA
//! position buffer when the controller has one (reading LPIB costs a hypervisor exit).

use audio_hal::{
    AudioDevice, Capabilities, Direction, Error, FormatSet, PcmFormat, PcmParams, PcmStream, RATES,
};

use crate::Controller;
use crate::codec::{self, Codec, Route};
use crate::regs::{Clock, DmaRegion, Registers};
use crate::stream::{OutputStream, StreamError, format_word};
use crate::verb::CommandTransport;

/// Stream tag of the playback stream.
const TAG: u8 = 1;
const FRAME_BYTES: u32 = 4;

/// Where the device gets DMA memory.
pub trait DmaAlloc {
    type Region: DmaRegion;
    /// `bytes` of zeroed memory aligned to `align`, below 4 GiB.
    fn alloc(&mut self, bytes: usize, align: usize) -> Option<Self::Region>;
}

/// The playback side of an HDA card.
pub struct Playback<R, C, D: DmaAlloc> {
    controller: Controller<R, C, D::Region>,
    codec: Codec,
    route: Route,
    dma: D,
    positions: Option<D::Region>,
    stream: Option<OutputStream<D::Region, D::Region>>,
    frames: u64,
}

/// An HDA card as an [`AudioDevice`].
pub struct HdaDevice<R, C, D: DmaAlloc> {
    playback: Playback<R, C, D>,
}

impl<R: Registers, C: Clock, D: DmaAlloc> HdaDevice<R, C, D> {
    /// A device playing through `route` of `codec` on a controller whose command rings run.
    pub fn new(
        mut controller: Controller<R, C, D::Region>,
        codec: Codec,
        route: Route,
        mut dma: D,
    ) -> Self {
        let positions = dma.alloc(4096, 4096);
        let positions = match positions {
            Some(region) if controller.enable_position_buffer(&region) => Some(region),
            _ => None,
        };
        HdaDevice {
            playback: Playback {
                controller,
                codec,
                route,
                dma,
                positions,
                stream: None,
                frames: 0,
            },
        }
    }
}

fn stream_error(e: StreamError) -> Error {
    match e {
        StreamError::Timeout => Error::Timeout,
        StreamError::NoOutputStream => Error::Unsupported,
        StreamError::BadLayout => Error::InvalidParams,
    }
}

impl<R: Registers, C: Clock, D: DmaAlloc> PcmStream for Playback<R, C, D> {
    fn prepare(
        &mut self,
        params: PcmParams,
        buffer_frames: u32,
        period_frames: u32,
    ) -> Result<(), Error> {
        if params.format != PcmFormat::S16Le
            || period_frames == 0
            || !buffer_frames.is_multiple_of(period_frames)
        {
            return Err(Error::InvalidParams);
        }
        let format = format_word(params.rate, params.channels).ok_or(Error::InvalidParams)?;
        let cad = self.codec.cad;
        for (nid, verb) in codec::activation(&self.codec, &self.route, TAG, format) {
            self.controller
                .command(cad, nid, verb)
                .map_err(|_| Error::Timeout)?;
        }
        let bytes = buffer_frames * FRAME_BYTES;
        let buffer = self
            .dma
            .alloc(bytes as usize, 4096)
            .ok_or(Error::InvalidParams)?;
        let bdl = self.dma.alloc(4096, 4096).ok_or(Error::InvalidParams)?;
        let (regs, clock) = self.controller.regs_and_clock();
        let stream = OutputStream::prepare(
            regs,
            clock,
            buffer,
            bdl,
            buffer_frames / period_frames,
            period_frames * FRAME_BYTES,
            TAG,
            format,
        )
        .map_err(stream_error)?;
        self.stream = Some(stream);
        self.frames = 0;
        Ok(())
    }

    fn start(&mut self) -> Result<(), Error> {
        let stream = self.stream.as_mut().ok_or(Error::NotPrepared)?;
        let (regs, clock) = self.controller.regs_and_clock();
        stream.start(regs, clock).map_err(stream_error)
    }

    fn stop(&mut self) -> Result<(), Error> {
        let stream = self.stream.as_mut().ok_or(Error::NotPrepared)?;
        let (regs, clock) = self.controller.regs_and_clock();
        stream.stop(regs, clock).map_err(stream_error)
    }

    fn position(&mut self) -> Result<u64, Error> {
        let stream = self.stream.as_mut().ok_or(Error::NotPrepared)?;
        let position = match &self.positions {
            Some(buffer) => buffer.read32(8 * stream.index() as usize),
            None => {
                let (regs, _) = self.controller.regs_and_clock();
                let lpib = stream.link_position(regs);
                if lpib == u32::MAX {
                    return Err(Error::DeviceGone);
                }
                lpib
            }
        };
        Ok(stream.advance(position) / u64::from(FRAME_BYTES))
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        let stream = self.stream.as_mut().ok_or(Error::NotPrepared)?;
        if u64::from(offset) + bytes.len() as u64 > u64::from(stream.cyclic_bytes()) {
            return Err(Error::OutOfRange);
        }
        stream.write(offset, bytes);
        Ok(())
    }

    fn read(&mut self, _offset: u32, _buf: &mut [u8]) -> Result<(), Error> {
        Err(Error::Unsupported)
    }

    fn buffer_bytes(&self) -> u32 {
        self.stream.as_ref().map_or(0, |s| s.cyclic_bytes())
    }
}

impl<R: Registers, C: Clock, D: DmaAlloc> AudioDevice for HdaDevice<R, C, D> {
    type Stream = Playback<R, C, D>;

    fn capabilities(&self, direction: Direction) -> Result<Capabilities, Error> {
        if direction == Direction::Capture {
            return Err(Error::Unsupported);
        }
        let rates = RATES
            .iter()
            .enumerate()
            .filter(|(_, rate)| format_word(**rate, 2).is_some())
            .fold(0u16, |mask, (i, _)| mask | 1 << i);
        Ok(Capabilities {
            rates,
            formats: FormatSet::EMPTY.with(PcmFormat::S16Le),
            channels_min: 2,
            channels_max: 2,
            buffer_bytes_min: 256,
            buffer_bytes_max: 64 * 1024,
            period_bytes_min: 128,
            period_bytes_max: 32 * 1024,
        })
    }

    fn stream(&mut self, direction: Direction) -> Result<&mut Self::Stream, Error> {
        match direction {
            Direction::Playback => Ok(&mut self.playback),
            Direction::Capture => Err(Error::Unsupported),
        }
    }
}
