//! Controller bring-up and the CORB/RIRB command transport.
//!
//! Reset with the specification's timings, codec discovery from STATESTS, and verbs sent
//! one at a time through the CORB with the answer taken from the RIRB. Every wait is bounded
//! by the [`Clock`]. The RIRB is always drained with RINTCTL set and RINTFL acknowledged,
//! the only configuration that keeps QEMU's model from stalling (hda.md §3.4) and harmless
//! on hardware.

use heapless::Deque;

use crate::regs::*;
use crate::verb::{CommandError, CommandTransport, Verb};

/// How long the controller may take to enter or leave reset (Linux allows 100 ms).
/// How long the link is held in reset (the specification's minimum is 100 µs).
const RESET_HOLD_US: u32 = 200;
/// How long codecs get to ask for an address after the reset (the minimum is 521 µs).
const CODEC_WAKE_US: u32 = 600;
const RESET_TIMEOUT_US: u64 = 100_000;
/// How long a codec may take to answer a verb.
const COMMAND_TIMEOUT_US: u64 = 200_000;
/// Where the RIRB sits in the command-ring region (the CORB is at 0).
const RIRB_OFFSET: usize = 2048;
/// Bytes the command-ring region needs: a 1 KiB CORB and a 2 KiB RIRB.
pub const RING_REGION_BYTES: usize = 4096;

/// What went wrong while bringing the controller up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Registers read all ones: the controller is gone or powered down.
    DeviceGone,
    /// CRST did not reach `entering` (false: leaving reset) in time.
    ResetTimeout { entering: bool },
    /// The command-ring memory is too small, or out of the controller's DMA reach.
    BadRingMemory,
    /// CORBRUN or RIRBDMAEN did not read back.
    RingsDidNotStart,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::DeviceGone => write!(f, "controller registers read all ones (device gone)"),
            Error::ResetTimeout { entering: true } => write!(f, "controller did not enter reset"),
            Error::ResetTimeout { entering: false } => write!(f, "controller did not leave reset"),
            Error::BadRingMemory => write!(f, "command ring memory too small or above 4 GiB"),
            Error::RingsDidNotStart => write!(f, "CORB/RIRB did not start"),
        }
    }
}

/// An unsolicited response, kept apart from verb answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsolicited {
    pub cad: u8,
    pub response: u32,
}

/// An HDA controller with its command rings.
pub struct Controller<R, C, D> {
    regs: R,
    clock: C,
    rings: D,
    corb_entries: u16,
    rirb_entries: u16,
    corb_wp: u16,
    rirb_rp: u16,
    running: bool,
    unsolicited: Deque<Unsolicited, 16>,
    /// Unsolicited responses dropped because the queue was full.
    pub unsolicited_dropped: u32,
    /// Solicited responses that matched no outstanding verb (logged and ignored).
    pub spurious: u32,
}

/// Ring entries for a CORBSIZE/RIRBSIZE value: the largest the SZCAP bits allow.
fn ring_entries(size_register: u8) -> (u16, u8) {
    let cap = size_register >> 4;
    if cap & 0b100 != 0 {
        (256, 2)
    } else if cap & 0b010 != 0 {
        (16, 1)
    } else {
        (2, 0)
    }
}

impl<R: Registers, C: Clock, D: DmaRegion> Controller<R, C, D> {
    /// Takes over a controller whose BAR0 is `regs`; `rings` (at least
    /// [`RING_REGION_BYTES`], 128-byte aligned) will hold the CORB and RIRB.
    pub fn new(regs: R, clock: C, rings: D) -> Self {
        Controller {
            regs,
            clock,
            rings,
            corb_entries: 0,
            rirb_entries: 0,
            corb_wp: 0,
            rirb_rp: 0,
            running: false,
            unsolicited: Deque::new(),
            unsolicited_dropped: 0,
            spurious: 0,
        }
    }

    /// The register access, for the stream layer.
    pub fn regs(&mut self) -> &mut R {
        &mut self.regs
    }

    /// The clock.
    pub fn clock(&mut self) -> &mut C {
        &mut self.clock
    }

    /// Turns on the DMA position buffer: the controller writes each stream's position into
    /// `region` (slot `8 * descriptor index`), so positions are read from memory instead of
    /// a register access per poll. Returns the region back if it is unusable.
    pub fn enable_position_buffer(&mut self, region: &D) -> bool {
        let phys = region.phys();
        let reachable = self.gcap() & GCAP_64OK != 0 || phys < 1 << 32;
        if !phys.is_multiple_of(128) || region.len() < 8 * 30 || !reachable {
            return false;
        }
        self.regs.write32(DPUBASE, (phys >> 32) as u32);
        self.regs.write32(DPLBASE, phys as u32 | DPLBASE_ENABLE);
        true
    }

    /// The registers and clock together, for the stream layer.
    pub fn regs_and_clock(&mut self) -> (&mut R, &mut C) {
        (&mut self.regs, &mut self.clock)
    }

    /// `GCAP`: stream counts and 64-bit support.
    pub fn gcap(&mut self) -> u16 {
        self.regs.read16(GCAP)
    }

    /// Polls `done` until it holds or `timeout_us` passes.
    fn wait(&mut self, timeout_us: u64, mut done: impl FnMut(&mut R) -> bool) -> bool {
        let start = self.clock.now_us();
        loop {
            if done(&mut self.regs) {
                return true;
            }
            if self.clock.now_us().saturating_sub(start) > timeout_us {
                return done(&mut self.regs);
            }
            self.clock.delay_us(10);
        }
    }

    /// Resets the controller and returns the codec addresses that asked for one (STATESTS
    /// bits). Every controller register is back at its reset value afterwards.
    pub fn reset(&mut self) -> Result<u16, Error> {
        if self.regs.read32(GCAP) == u32::MAX {
            return Err(Error::DeviceGone);
        }
        self.running = false;
        self.regs.write8(CORBCTL, 0);
        self.regs.write8(RIRBCTL, 0);
        self.regs.write32(INTCTL, 0);
        // Clear before entering reset: QEMU sets the codec bits as CRST goes to 0.
        self.regs.write16(STATESTS, 0x7fff);
        let gctl = self.regs.read32(GCTL);
        self.regs.write32(GCTL, gctl & !GCTL_CRST);
        if !self.wait(RESET_TIMEOUT_US, |r| r.read32(GCTL) & GCTL_CRST == 0) {
            return Err(Error::ResetTimeout { entering: true });
        }
        // The specification's minimum reset assertion is 100 µs; a little margin over it.
        self.clock.delay_us(RESET_HOLD_US);
        let gctl = self.regs.read32(GCTL);
        self.regs.write32(GCTL, gctl | GCTL_CRST);
        if !self.wait(RESET_TIMEOUT_US, |r| r.read32(GCTL) & GCTL_CRST != 0) {
            return Err(Error::ResetTimeout { entering: false });
        }
        // Codecs request an address within 521 µs (25 frames) of the reset's end (1.0a
        // errata); Linux waits about 1 ms. Boot waits for this, so: the spec plus margin.
        self.clock.delay_us(CODEC_WAKE_US);
        let codecs = self.regs.read16(STATESTS);
        if codecs == u16::MAX {
            return Err(Error::DeviceGone);
        }
        Ok(codecs & 0x7fff)
    }

    /// Sets up and starts the CORB and RIRB (after [`Controller::reset`]).
    pub fn start_command_rings(&mut self) -> Result<(), Error> {
        let phys = self.rings.phys();
        let below_4g = phys + RING_REGION_BYTES as u64 <= 1 << 32;
        let dma_ok = self.gcap() & GCAP_64OK != 0 || below_4g;
        if self.rings.len() < RING_REGION_BYTES || !phys.is_multiple_of(128) || !dma_ok {
            return Err(Error::BadRingMemory);
        }
        self.regs.write8(CORBCTL, 0);
        self.regs.write8(RIRBCTL, 0);
        self.rings.write(0, &[0; RING_REGION_BYTES]);

        let (corb_entries, corb_code) = ring_entries(self.regs.read8(CORBSIZE));
        let size = self.regs.read8(CORBSIZE);
        self.regs.write8(CORBSIZE, (size & !0b11) | corb_code);
        self.corb_entries = corb_entries;
        self.regs.write32(CORBLBASE, phys as u32);
        self.regs.write32(CORBUBASE, (phys >> 32) as u32);
        self.regs.write16(CORBWP, 0);
        // CORBRP reset handshake; some controllers never show the bit (VirtualBox) or clear
        // it themselves (NVIDIA), so a timeout here is not fatal.
        self.regs.write16(CORBRP, CORBRP_RST);
        self.wait(1000, |r| r.read16(CORBRP) & CORBRP_RST != 0);
        self.regs.write16(CORBRP, 0);
        self.wait(1000, |r| r.read16(CORBRP) & CORBRP_RST == 0);

        let (rirb_entries, rirb_code) = ring_entries(self.regs.read8(RIRBSIZE));
        let size = self.regs.read8(RIRBSIZE);
        self.regs.write8(RIRBSIZE, (size & !0b11) | rirb_code);
        self.rirb_entries = rirb_entries;
        let rirb = phys + RIRB_OFFSET as u64;
        self.regs.write32(RIRBLBASE, rirb as u32);
        self.regs.write32(RIRBUBASE, (rirb >> 32) as u32);
        self.regs.write16(RIRBWP, RIRBWP_RST);
        self.regs.write16(RINTCNT, 1); // never 0: QEMU stalls for good
        self.regs.write8(RIRBSTS, RIRBSTS_RINTFL | RIRBSTS_RIRBOIS);
        self.regs.write8(RIRBCTL, RIRBCTL_DMAEN | RIRBCTL_RINTCTL);
        self.regs.write8(CORBCTL, CORBCTL_RUN);
        if !self.wait(1000, |r| {
            r.read8(CORBCTL) & CORBCTL_RUN != 0 && r.read8(RIRBCTL) & RIRBCTL_DMAEN != 0
        }) {
            return Err(Error::RingsDidNotStart);
        }
        self.corb_wp = self.regs.read16(CORBWP) & 0xff;
        self.rirb_rp = self.regs.read16(RIRBWP) & 0xff;
        self.running = true;
        let gctl = self.regs.read32(GCTL);
        self.regs.write32(GCTL, gctl | GCTL_UNSOL);
        Ok(())
    }

    /// Takes an unsolicited response, if one arrived.
    pub fn take_unsolicited(&mut self) -> Option<Unsolicited> {
        self.unsolicited.pop_front()
    }

    /// Drains the RIRB; returns the solicited answer from `cad` if one was there.
    fn drain(&mut self, cad: u8) -> Result<Option<u32>, CommandError> {
        let wp = self.regs.read16(RIRBWP);
        if wp == u16::MAX {
            return Err(CommandError::DeviceGone);
        }
        let wp = wp & 0xff;
        let mut answer = None;
        while self.rirb_rp != wp {
            self.rirb_rp = (self.rirb_rp + 1) % self.rirb_entries;
            let at = RIRB_OFFSET + usize::from(self.rirb_rp) * 8;
            let response = self.rings.read32(at);
            let ex = self.rings.read32(at + 4);
            let from = (ex & 0xf) as u8;
            if ex & 0x10 != 0 {
                let entry = Unsolicited {
                    cad: from,
                    response,
                };
                if self.unsolicited.push_back(entry).is_err() {
                    self.unsolicited_dropped += 1;
                }
            } else if from == cad && answer.is_none() {
                answer = Some(response);
            } else {
                self.spurious += 1;
                log::warn!("hda: spurious response {response:#010x} from codec {from}");
            }
        }
        // Acknowledge, even when polling: QEMU stops the CORB until RINTFL is cleared.
        self.regs.write8(RIRBSTS, RIRBSTS_RINTFL | RIRBSTS_RIRBOIS);
        Ok(answer)
    }
}

impl<R: Registers, C: Clock, D: DmaRegion> CommandTransport for Controller<R, C, D> {
    fn command(&mut self, cad: u8, nid: u8, verb: Verb) -> Result<u32, CommandError> {
        if !self.running {
            return Err(CommandError::NotReady);
        }
        let word = verb.command(cad, nid);
        let wp = (self.corb_wp + 1) % self.corb_entries;
        self.rings.write(usize::from(wp) * 4, &word.to_le_bytes());
        self.regs.write16(CORBWP, wp);
        self.corb_wp = wp;
        let start = self.clock.now_us();
        loop {
            if let Some(response) = self.drain(cad)? {
                return Ok(response);
            }
            if self.clock.now_us().saturating_sub(start) > COMMAND_TIMEOUT_US {
                return Err(CommandError::Timeout {
                    cad,
                    nid,
                    verb: word,
                });
            }
            self.clock.delay_us(5);
        }
    }
}
