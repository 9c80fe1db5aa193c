//! The HDA card behind the audio traits: what the vsnd backend mixes into and records from.
//!
//! One playback route and (when the codec has one) one capture route, 16-bit PCM at the
//! rates the stream format word expresses, stereo, positions from the DMA position buffer
//! when the controller has one (reading LPIB costs a hypervisor exit).
//!
//! `audio_hal::AudioDevice` hands out one stream type for both directions, and both
//! directions need the one controller: [`Ports`] is that type, and [`AudioDevice::stream`]
//! selects which direction the following calls act on.

use audio_hal::{
    AudioDevice, Capabilities, Direction, Error, FormatSet, PcmFormat, PcmParams, PcmStream, RATES,
};

use crate::Controller;
use crate::codec::{self, CaptureRoute, Codec, Route};
use crate::regs::{Clock, DmaRegion, Registers, WALCLK};
use crate::stream::{OutputStream, StreamError, format_word};
use crate::verb::CommandError;
use crate::wallclock::{Period, PeriodClock};

/// Stream tags: one per direction, distinct on the link.
const PLAYBACK_TAG: u8 = 1;
const CAPTURE_TAG: u8 = 2;
const FRAME_BYTES: u32 = 4;

/// Where the device gets DMA memory.
pub trait DmaAlloc {
    type Region: DmaRegion;
    /// `bytes` of zeroed memory aligned to `align`, below 4 GiB.
    fn alloc(&mut self, bytes: usize, align: usize) -> Option<Self::Region>;
}

type Descriptor<D> = OutputStream<<D as DmaAlloc>::Region, <D as DmaAlloc>::Region>;

/// Both directions of the card, one at a time.
pub struct Ports<R: Registers, C: Clock, D: DmaAlloc> {
    /// First, so it is dropped first: dropping it stops every DMA engine before the
    /// buffers below are freed.
    controller: Controller<R, C, D::Region>,
    codec: Codec,
    playback_route: Route,
    capture_route: Option<CaptureRoute>,
    dma: D,
    positions: Option<D::Region>,
    /// The position buffer was seen holding nonsense: positions come from LPIB.
    positions_broken: bool,
    /// The last position read per direction (playback, capture), to notice a stall.
    last_position: [Option<u32>; 2],
    /// LPIB when the position buffer last read 0, if it did on the previous read.
    lpib_at_zero: [Option<u32>; 2],
    /// Period interrupts per direction, checked against the wall clock.
    periods: [Option<PeriodClock>; 2],
    selected: Direction,
    playback: Option<Descriptor<D>>,
    capture: Option<Descriptor<D>>,
}

/// An HDA card as an [`AudioDevice`].
pub struct HdaDevice<R: Registers, C: Clock, D: DmaAlloc> {
    ports: Ports<R, C, D>,
}

impl<R: Registers, C: Clock, D: DmaAlloc> HdaDevice<R, C, D> {
    /// A device playing through `playback` (and recording through `capture`) of `codec` on
    /// a controller whose command rings run.
    pub fn new(
        mut controller: Controller<R, C, D::Region>,
        codec: Codec,
        playback: Route,
        capture: Option<CaptureRoute>,
        mut dma: D,
    ) -> Self {
        let positions = match dma.alloc(4096, 4096) {
            Some(region) if controller.enable_position_buffer(&region) => Some(region),
            _ => None,
        };
        HdaDevice {
            ports: Ports {
                controller,
                codec,
                playback_route: playback,
                capture_route: capture,
                dma,
                positions,
                positions_broken: false,
                last_position: [None; 2],
                lpib_at_zero: [None; 2],
                periods: [None; 2],
                selected: Direction::Playback,
                playback: None,
                capture: None,
            },
        }
    }

    /// The controller, for interrupt handling ([`Controller::handle_interrupt`]) and
    /// unsolicited responses.
    pub fn controller(&mut self) -> &mut Controller<R, C, D::Region> {
        &mut self.ports.controller
    }

    /// Handles the card's interrupt (see [`Controller::handle_interrupt`]) and says what it
    /// means for the streams: a period elapsed, or an early interrupt (check the position
    /// again later). `Ok(None)`: not ours.
    pub fn handle_interrupt(&mut self) -> Result<Option<CardInterrupt>, Error> {
        let ports = &mut self.ports;
        let Some(irq) = ports
            .controller
            .handle_interrupt()
            .map_err(controller_error)?
        else {
            return Ok(None);
        };
        let mut card = CardInterrupt {
            codecs_woke: irq.codecs_woke,
            ..CardInterrupt::default()
        };
        let mut now = None;
        for (slot, descriptor) in [ports.playback.as_ref(), ports.capture.as_ref()]
            .into_iter()
            .enumerate()
        {
            let (Some(descriptor), Some(clock)) = (descriptor, ports.periods[slot].as_mut()) else {
                continue;
            };
            let bit = 1 << descriptor.index();
            card.errors |= irq.stream_errors & bit != 0;
            if irq.streams & bit != 0 {
                let now = *now.get_or_insert_with(|| ports.controller.regs().read32(WALCLK));
                card.periods[slot] = Some(clock.interrupt(now));
            }
        }
        Ok(Some(card))
    }

    /// Recovers from a controller reset (or a controller in an unknown state): everything
    /// is set up again and running streams resume. Errors: `DeviceGone`, `Timeout` (the
    /// controller or the codec did not come back), `Hardware`.
    pub fn reinitialize(&mut self) -> Result<(), Error> {
        self.ports.reinitialize()
    }
}

fn stream_error(e: StreamError) -> Error {
    match e {
        StreamError::Timeout => Error::Timeout,
        StreamError::NoOutputStream | StreamError::NoInputStream => Error::Unsupported,
        StreamError::BadLayout => Error::InvalidParams,
        StreamError::DeviceGone => Error::DeviceGone,
        StreamError::FifoError | StreamError::DescriptorError => Error::Hardware,
    }
}

/// What a card interrupt meant for the streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CardInterrupt {
    /// Per direction (playback, capture): a period interrupt, and what it was.
    pub periods: [Option<Period>; 2],
    /// A stream reported a FIFO or descriptor error (`position` reports it as `Hardware`).
    pub errors: bool,
    /// Codecs that joined the link.
    pub codecs_woke: u16,
}

fn controller_error(e: crate::Error) -> Error {
    match e {
        crate::Error::DeviceGone => Error::DeviceGone,
        _ => Error::Timeout,
    }
}

fn command_error(e: CommandError) -> Error {
    match e {
        CommandError::DeviceGone => Error::DeviceGone,
        _ => Error::Timeout,
    }
}

impl<R: Registers, C: Clock, D: DmaAlloc> Ports<R, C, D> {
    /// Opens the selected direction's codec route for its stream tag in `format`.
    fn activate(&mut self, format: u16) -> Result<(), Error> {
        let verbs = match self.selected {
            Direction::Playback => {
                codec::activation(&self.codec, &self.playback_route, PLAYBACK_TAG, format)
            }
            Direction::Capture => {
                let route = self.capture_route.as_ref().ok_or(Error::Unsupported)?;
                codec::capture_activation(&self.codec, route, CAPTURE_TAG, format)
            }
        };
        codec::apply(&mut self.controller, self.codec.cad, &verbs).map_err(command_error)
    }

    /// Sets the selected direction's route and descriptor up again after a controller
    /// reset, and restarts it if it was running.
    fn restore_selected(&mut self) -> Result<(), Error> {
        let slot = self.selected as usize;
        let descriptor = match self.selected {
            Direction::Playback => self.playback.as_ref(),
            Direction::Capture => self.capture.as_ref(),
        };
        let Some(descriptor) = descriptor else {
            return Ok(());
        };
        let (format, running) = (descriptor.format(), descriptor.is_running());
        self.activate(format)?;
        let descriptor = match self.selected {
            Direction::Playback => self.playback.as_mut(),
            Direction::Capture => self.capture.as_mut(),
        }
        .ok_or(Error::NotPrepared)?;
        let (regs, clock) = self.controller.regs_and_clock();
        descriptor.reprogram(regs, clock).map_err(stream_error)?;
        self.last_position[slot] = None;
        self.lpib_at_zero[slot] = None;
        if running {
            self.start()?;
        }
        Ok(())
    }

    /// Resets the controller and brings back everything that was set up: command
    /// transport, interrupts, position buffer, the codec's routes (a link reset resets the
    /// codec too), each prepared stream on its memory, and the streams that were running.
    /// Positions go on counting; the DMA restarts at the start of each buffer.
    fn reinitialize(&mut self) -> Result<(), Error> {
        self.controller.reinit().map_err(controller_error)?;
        if self.controller.codecs() & (1 << self.codec.cad) == 0 {
            return Err(Error::Timeout);
        }
        if let Some(positions) = &self.positions
            && !self.controller.enable_position_buffer(positions)
        {
            self.positions = None;
        }
        let selected = self.selected;
        let mut result = Ok(());
        for direction in [Direction::Playback, Direction::Capture] {
            self.selected = direction;
            result = result.and_then(|()| self.restore_selected());
        }
        self.selected = selected;
        result
    }

    fn descriptor(&mut self) -> Result<&mut Descriptor<D>, Error> {
        match self.selected {
            Direction::Playback => self.playback.as_mut(),
            Direction::Capture => self.capture.as_mut(),
        }
        .ok_or(Error::NotPrepared)
    }
}

/// LPIB, or [`Error::DeviceGone`] if it reads all ones.
fn link_position<B: DmaRegion, L: DmaRegion, R: Registers>(
    descriptor: &OutputStream<B, L>,
    regs: &mut R,
) -> Result<u32, Error> {
    match descriptor.link_position(regs) {
        u32::MAX => Err(Error::DeviceGone),
        lpib => Ok(lpib),
    }
}

impl<R: Registers, C: Clock, D: DmaAlloc> PcmStream for Ports<R, C, D> {
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
        let buffer_bytes = buffer_frames
            .checked_mul(FRAME_BYTES)
            .ok_or(Error::InvalidParams)?;
        self.activate(format)?;
        let buffer = self
            .dma
            .alloc(buffer_bytes as usize, 4096)
            .ok_or(Error::InvalidParams)?;
        let bdl = self.dma.alloc(4096, 4096).ok_or(Error::InvalidParams)?;
        let (regs, clock) = self.controller.regs_and_clock();
        let (periods, period_bytes) = (buffer_frames / period_frames, period_frames * FRAME_BYTES);
        let descriptor = match self.selected {
            Direction::Playback => OutputStream::prepare(
                regs,
                clock,
                buffer,
                bdl,
                periods,
                period_bytes,
                PLAYBACK_TAG,
                format,
            ),
            Direction::Capture => OutputStream::prepare_input(
                regs,
                clock,
                buffer,
                bdl,
                periods,
                period_bytes,
                CAPTURE_TAG,
                format,
            ),
        }
        .map_err(stream_error)?;
        match self.selected {
            Direction::Playback => self.playback = Some(descriptor),
            Direction::Capture => self.capture = Some(descriptor),
        }
        let slot = self.selected as usize;
        self.last_position[slot] = None;
        self.lpib_at_zero[slot] = None;
        self.periods[slot] = Some(PeriodClock::new(period_bytes, params.rate * FRAME_BYTES));
        Ok(())
    }

    fn start(&mut self) -> Result<(), Error> {
        let descriptor = match self.selected {
            Direction::Playback => self.playback.as_mut(),
            Direction::Capture => self.capture.as_mut(),
        }
        .ok_or(Error::NotPrepared)?;
        let (regs, clock) = self.controller.regs_and_clock();
        // The descriptor's slot in the position buffer may still hold another stream's
        // value (it is only written once DMA runs): make it agree with where the descriptor
        // counts from, or the first read would look like most of a buffer played at once.
        if let Some(positions) = self.positions.as_mut() {
            let start = descriptor.start_position(regs);
            positions.write(8 * descriptor.index() as usize, &start.to_le_bytes());
        }
        if let Some(periods) = self.periods[self.selected as usize].as_mut() {
            periods.start(regs.read32(WALCLK));
        }
        descriptor.start(regs, clock).map_err(stream_error)
    }

    fn stop(&mut self) -> Result<(), Error> {
        let descriptor = match self.selected {
            Direction::Playback => self.playback.as_mut(),
            Direction::Capture => self.capture.as_mut(),
        }
        .ok_or(Error::NotPrepared)?;
        let (regs, clock) = self.controller.regs_and_clock();
        descriptor.stop(regs, clock).map_err(stream_error)
    }

    fn position(&mut self) -> Result<u64, Error> {
        let slot = self.selected as usize;
        let descriptor = match self.selected {
            Direction::Playback => self.playback.as_mut(),
            Direction::Capture => self.capture.as_mut(),
        }
        .ok_or(Error::NotPrepared)?;
        let (regs, clock) = self.controller.regs_and_clock();
        let position = match &self.positions {
            Some(buffer) if !self.positions_broken => {
                let dpib = buffer.read32(8 * descriptor.index() as usize);
                // 0 is where every stream starts (and a healthy buffer passes through it at
                // each wrap), and LPIB may still be stale there (QEMU keeps it across SRST):
                // a 0 is believed until LPIB moves while the buffer reads 0 twice in a row.
                // A value past the buffer (0xFFFFFFFF...) condemns the buffer at once.
                let previous_zero = self.lpib_at_zero[slot].take();
                if dpib >= descriptor.cyclic_bytes() {
                    log::warn!("hda: DMA position buffer holds {dpib:#x}; using LPIB");
                    self.positions_broken = true;
                    link_position(descriptor, regs)?
                } else if dpib == 0 {
                    let lpib = link_position(descriptor, regs)?;
                    if previous_zero.is_some_and(|before| before != lpib) {
                        log::warn!("hda: DMA position buffer stuck at 0; using LPIB");
                        self.positions_broken = true;
                        lpib
                    } else {
                        self.lpib_at_zero[slot] = Some(lpib);
                        0
                    }
                } else {
                    dpib
                }
            }
            _ => link_position(descriptor, regs)?,
        };
        // A stream that stopped moving may have stopped on an error: look only then, so a
        // healthy stream costs no register read here.
        if self.last_position[slot] == Some(position) {
            descriptor.check_errors(regs, clock).map_err(stream_error)?;
        }
        self.last_position[slot] = Some(position);
        Ok(descriptor.advance(position) / u64::from(FRAME_BYTES))
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        if self.selected != Direction::Playback {
            return Err(Error::Unsupported);
        }
        let descriptor = self.descriptor()?;
        if u64::from(offset) + bytes.len() as u64 > u64::from(descriptor.cyclic_bytes()) {
            return Err(Error::OutOfRange);
        }
        descriptor.write(offset, bytes);
        Ok(())
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Error> {
        if self.selected != Direction::Capture {
            return Err(Error::Unsupported);
        }
        let descriptor = self.descriptor()?;
        if u64::from(offset) + buf.len() as u64 > u64::from(descriptor.cyclic_bytes()) {
            return Err(Error::OutOfRange);
        }
        descriptor.read(offset, buf);
        Ok(())
    }

    fn buffer_bytes(&self) -> u32 {
        match self.selected {
            Direction::Playback => self.playback.as_ref(),
            Direction::Capture => self.capture.as_ref(),
        }
        .map_or(0, |d| d.cyclic_bytes())
    }
}

impl<R: Registers, C: Clock, D: DmaAlloc> AudioDevice for HdaDevice<R, C, D> {
    type Stream = Ports<R, C, D>;

    fn capabilities(&self, direction: Direction) -> Result<Capabilities, Error> {
        if direction == Direction::Capture && self.ports.capture_route.is_none() {
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
        if direction == Direction::Capture && self.ports.capture_route.is_none() {
            return Err(Error::Unsupported);
        }
        self.ports.selected = direction;
        Ok(&mut self.ports)
    }
}
