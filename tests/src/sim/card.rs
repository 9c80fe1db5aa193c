//! A sound card for the backend's tests: it records what it plays and plays back a given
//! recording, with a DMA position the test moves by hand (as the real clock would).
//!
//! Its playback side copies the frames the "DAC" consumes, in order, into `played`, straight
//! from its cyclic buffer at the moment the position passes them, exactly as real DMA would:
//! whatever the backend had written there by then is what gets heard.

use std::cell::RefCell;
use std::rc::Rc;

use audio_hal::{
    AudioDevice, Capabilities, Direction, Error, FormatSet, PcmFormat, PcmParams, PcmStream,
};

/// One direction's state, shared with the test.
#[derive(Default)]
pub struct Side {
    pub params: Option<PcmParams>,
    pub buffer: Vec<u8>,
    pub position: u64,
    pub running: bool,
    /// Playback: every byte the DAC consumed, in order.
    pub played: Vec<u8>,
    /// Capture: what the ADC will record, consumed from the front; silence when empty.
    pub to_record: std::collections::VecDeque<u8>,
    pub starts: u32,
}

impl Side {
    fn frame_bytes(&self) -> usize {
        self.params
            .and_then(|p| p.frame_bytes())
            .map_or(1, |b| b as usize)
    }
}

/// A handle on one direction of the card.
#[derive(Clone, Default)]
pub struct SideHandle(pub Rc<RefCell<Side>>);

impl PcmStream for SideHandle {
    fn prepare(
        &mut self,
        params: PcmParams,
        buffer_frames: u32,
        period_frames: u32,
    ) -> Result<(), Error> {
        let frame = params.frame_bytes().ok_or(Error::InvalidParams)?;
        if period_frames == 0 || !buffer_frames.is_multiple_of(period_frames) {
            return Err(Error::InvalidParams);
        }
        let mut s = self.0.borrow_mut();
        s.params = Some(params);
        s.buffer = vec![0; (buffer_frames * frame) as usize];
        s.position = 0;
        s.running = false;
        Ok(())
    }
    fn start(&mut self) -> Result<(), Error> {
        let mut s = self.0.borrow_mut();
        s.params.ok_or(Error::NotPrepared)?;
        s.running = true;
        s.starts += 1;
        Ok(())
    }
    fn stop(&mut self) -> Result<(), Error> {
        self.0.borrow_mut().running = false;
        Ok(())
    }
    fn position(&mut self) -> Result<u64, Error> {
        Ok(self.0.borrow().position)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        let mut s = self.0.borrow_mut();
        let end = offset as usize + bytes.len();
        if end > s.buffer.len() {
            return Err(Error::OutOfRange);
        }
        s.buffer[offset as usize..end].copy_from_slice(bytes);
        Ok(())
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Error> {
        let s = self.0.borrow();
        let end = offset as usize + buf.len();
        if end > s.buffer.len() {
            return Err(Error::OutOfRange);
        }
        buf.copy_from_slice(&s.buffer[offset as usize..end]);
        Ok(())
    }
    fn buffer_bytes(&self) -> u32 {
        self.0.borrow().buffer.len() as u32
    }
}

/// The card: 48 kHz (and 44.1 kHz) stereo s16_le both ways, like QEMU's hda-duplex.
#[derive(Clone, Default)]
pub struct SimCard {
    pub playback: SideHandle,
    pub capture: SideHandle,
    /// A card without a capture side.
    pub playback_only: bool,
    /// A capture side whose DMA never moves (an input with nothing behind it, as QEMU's
    /// codecs on its wav backend).
    pub capture_stalled: bool,
}

impl SimCard {
    pub fn new() -> SimCard {
        SimCard::default()
    }

    /// The hardware runs for `frames` frames: the DAC consumes, the ADC records.
    pub fn advance(&self, frames: u64) {
        let mut p = self.playback.0.borrow_mut();
        if p.running && !p.buffer.is_empty() {
            let fb = p.frame_bytes();
            let len = p.buffer.len();
            for _ in 0..frames {
                let at = (p.position as usize * fb) % len;
                let frame = p.buffer[at..at + fb].to_vec();
                p.played.extend_from_slice(&frame);
                p.position += 1;
            }
        }
        drop(p);
        let mut c = self.capture.0.borrow_mut();
        if c.running && !c.buffer.is_empty() && !self.capture_stalled {
            let fb = c.frame_bytes();
            let len = c.buffer.len();
            for _ in 0..frames {
                let at = (c.position as usize * fb) % len;
                for i in 0..fb {
                    c.buffer[at + i] = c.to_record.pop_front().unwrap_or(0);
                }
                c.position += 1;
            }
        }
    }

    /// Everything the DAC has played.
    pub fn played(&self) -> Vec<u8> {
        self.playback.0.borrow().played.clone()
    }

    /// Queues bytes (s16_le stereo) for the ADC to record.
    pub fn record(&self, bytes: &[u8]) {
        self.capture.0.borrow_mut().to_record.extend(bytes);
    }
}

fn caps() -> Capabilities {
    Capabilities {
        rates: 1 << 5 | 1 << 6, // 44.1 and 48 kHz
        formats: FormatSet::EMPTY.with(PcmFormat::S16Le),
        channels_min: 2,
        channels_max: 2,
        buffer_bytes_min: 64,
        buffer_bytes_max: 64 * 1024,
        period_bytes_min: 32,
        period_bytes_max: 32 * 1024,
    }
}

impl AudioDevice for SimCard {
    type Stream = SideHandle;

    fn capabilities(&self, direction: Direction) -> Result<Capabilities, Error> {
        match direction {
            Direction::Capture if self.playback_only => Err(Error::Unsupported),
            _ => Ok(caps()),
        }
    }

    fn stream(&mut self, direction: Direction) -> Result<&mut SideHandle, Error> {
        match direction {
            Direction::Playback => Ok(&mut self.playback),
            Direction::Capture if self.playback_only => Err(Error::Unsupported),
            Direction::Capture => Ok(&mut self.capture),
        }
    }
}
