//! Controller bring-up and the command transport.
//!
//! Reset with the specification's timings, codec discovery from STATESTS, and verbs sent
//! one at a time through the CORB with the answer taken from the RIRB. Every wait is bounded
//! by the [`Clock`]. The RIRB is always drained with RINTCTL set and RINTFL acknowledged,
//! the only configuration that keeps QEMU's model from stalling (hda.md §3.4) and harmless
//! on hardware. When the CORB stops fetching, the rings are started once more with another
//! RINTCNT (QEMU's stale response counter, below); when it still fails (or reports a memory
//! error) the controller switches to the immediate command interface for good, as Linux's
//! last fallback does.

use heapless::Deque;

use crate::immediate;
use crate::regs::*;
use crate::verb::{CommandError, CommandTransport, Verb};

/// How long the link is held in reset (the specification's minimum is 100 µs).
const RESET_HOLD_US: u32 = 200;
/// How long codecs get to ask for an address after the reset (the minimum is 521 µs).
const CODEC_WAKE_US: u32 = 600;
/// How long the controller may take to enter or leave reset (Linux allows 100 ms).
const RESET_TIMEOUT_US: u64 = 100_000;
/// How long codecs may take to show up in STATESTS after reset: the specification gives
/// them 521 µs, some take milliseconds.
const LATE_CODEC_TIMEOUT_US: u64 = 10_000;
/// How long a codec may take to answer a verb.
const COMMAND_TIMEOUT_US: u64 = 200_000;
/// How often a wait for an answer also looks at the rarely-set error bits (CMEI, RIRBOIS).
const ERROR_CHECK_US: u64 = 1000;
/// How long a DMA engine may take to show it stopped.
const STOP_TIMEOUT_US: u64 = 10_000;
/// Where the RIRB sits in the command-ring region (the CORB is at 0).
const RIRB_OFFSET: usize = 2048;
/// Bytes the command-ring region needs: a 1 KiB CORB and a 2 KiB RIRB.
pub const RING_REGION_BYTES: usize = 4096;
/// RINTCNT: a response interrupt (RINTFL) after every response, as Linux programs it, so
/// that with interrupts on an unsolicited response (a jack event) is seen at once.
const RINTCNT_EVERY_RESPONSE: u16 = 1;
/// RINTCNT while the rings are restarted because the CORB stopped fetching: QEMU stops it
/// while its response counter, which survives a controller reset, equals RINTCNT, and a
/// previous owner that never acknowledged RINTFL left that counter at its own RINTCNT (1
/// for Redox, hda.md §3.4). Any other value lets a verb through; QEMU raises RINTFL as the
/// CORB runs empty, and acknowledging it brings the counter back to 0.
const RINTCNT_UNSTICK: u16 = 0xff;
/// RIRB `ex` word: the responding codec's address and the unsolicited flag.
const EX_CODEC: u32 = 0xf;
const EX_UNSOLICITED: u32 = 1 << 4;

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
    /// No codec asked for an address, or none answered.
    NoCodec,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::DeviceGone => write!(f, "controller registers read all ones (device gone)"),
            Error::ResetTimeout { entering: true } => write!(f, "controller did not enter reset"),
            Error::ResetTimeout { entering: false } => write!(f, "controller did not leave reset"),
            Error::BadRingMemory => write!(f, "command ring memory too small or above 4 GiB"),
            Error::RingsDidNotStart => write!(f, "CORB/RIRB did not start"),
            Error::NoCodec => write!(f, "no codec on the link answers"),
        }
    }
}

/// An unsolicited response, kept apart from verb answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsolicited {
    pub cad: u8,
    pub response: u32,
}

/// How verbs reach the codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Not set up yet (or reset since).
    Off,
    /// The CORB and RIRB.
    Rings,
    /// The immediate command registers.
    Immediate,
}

/// Things the transport saw and dealt with, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Unsolicited responses dropped because the queue was full.
    pub unsolicited_dropped: u32,
    /// Unsolicited responses ignored: unsolicited responses are off, or the codec is unknown.
    pub unsolicited_ignored: u32,
    /// Solicited responses that matched no outstanding verb, or came from the wrong codec.
    pub spurious: u32,
    /// RIRB overruns (responses lost), each followed by a resynchronisation.
    pub rirb_overruns: u32,
    /// CORB memory errors.
    pub corb_memory_errors: u32,
}

/// What [`Controller::handle_interrupt`] found and acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Interrupt {
    /// Stream descriptors (by index) whose status was acknowledged.
    pub streams: u32,
    /// Of those, the ones with a FIFO or descriptor error.
    pub stream_errors: u32,
    /// Codec addresses that asked for an address since the last look (hot plug). They are
    /// logged, not enumerated: the caller decides.
    pub codecs_woke: u16,
}

/// Why a verb sent through the rings got no answer.
enum RingFailure {
    Gone,
    /// CORBRP reached the verb: the codec heard it and did not answer.
    CodecSilent,
    /// The controller did not fetch the verb.
    NotFetched,
    /// The controller reports a RIRB position outside the ring.
    Stuck,
    MemoryError,
    Overrun,
}

/// An HDA controller with its command rings.
///
/// Dropping it stops every DMA engine of the controller (streams, rings, position buffer)
/// before the ring memory it owns is freed.
pub struct Controller<R: Registers, C: Clock, D: DmaRegion> {
    regs: R,
    clock: C,
    rings: D,
    corb_entries: u16,
    rirb_entries: u16,
    corb_wp: u16,
    rirb_rp: u16,
    transport: Transport,
    /// Codec addresses known to be on the link.
    codecs: u16,
    unsolicited_enabled: bool,
    interrupts_enabled: bool,
    unsolicited: Deque<Unsolicited, 16>,
    pub stats: Stats,
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

/// Stream descriptors (input, output, bidirectional) a GCAP value announces, at most the
/// 30 that INTCTL/INTSTS have bits for.
fn descriptor_count(gcap: u16) -> u32 {
    let gcap = u32::from(gcap);
    ((gcap >> 12) + ((gcap >> 8) & 0xf) + ((gcap >> 3) & 0x1f)).min(30)
}

/// Offset of stream descriptor `index`'s register `reg`.
fn sd(index: u32, reg: u32) -> u32 {
    0x80 + 0x20 * index + reg
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
            transport: Transport::Off,
            codecs: 0,
            unsolicited_enabled: false,
            interrupts_enabled: false,
            unsolicited: Deque::new(),
            stats: Stats::default(),
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

    /// The registers and clock together, for the stream layer.
    pub fn regs_and_clock(&mut self) -> (&mut R, &mut C) {
        (&mut self.regs, &mut self.clock)
    }

    /// `GCAP`: stream counts and 64-bit support.
    pub fn gcap(&mut self) -> u16 {
        self.regs.read16(GCAP)
    }

    /// How verbs are sent now.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Codec addresses on the link: from STATESTS after a reset, narrowed by
    /// [`Controller::probe_codecs`].
    pub fn codecs(&self) -> u16 {
        self.codecs
    }

    /// Whether the controller can reach `bytes` at `phys` by DMA.
    fn reachable(&mut self, phys: u64, bytes: usize) -> bool {
        self.gcap() & GCAP_64OK != 0 || phys.saturating_add(bytes as u64) <= 1 << 32
    }

    fn wait(&mut self, timeout_us: u64, done: impl FnMut(&mut R) -> bool) -> bool {
        wait(&mut self.regs, &mut self.clock, timeout_us, done)
    }

    /// Resets, starts the command transport and keeps the codecs that answer: the whole
    /// bring-up. Returns the codec addresses. [`Error::NoCodec`] when none asked for an
    /// address (then no verb is sent) or none answered.
    pub fn init(&mut self) -> Result<u16, Error> {
        if self.reset()? == 0 {
            return Err(Error::NoCodec);
        }
        match self.start_command_rings() {
            Ok(()) => {}
            Err(Error::RingsDidNotStart) => {
                log::warn!("hda: CORB/RIRB did not start; using immediate commands");
                self.use_immediate_commands();
            }
            Err(e) => return Err(e),
        }
        match self.probe_codecs(self.codecs)? {
            0 => Err(Error::NoCodec),
            codecs => Ok(codecs),
        }
    }

    /// Brings the controller up again after a reset (ours or not): as [`Controller::init`],
    /// with interrupts and unsolicited responses back on if they were.
    pub fn reinit(&mut self) -> Result<u16, Error> {
        let (interrupts, unsolicited) = (self.interrupts_enabled, self.unsolicited_enabled);
        let codecs = self.init()?;
        if interrupts {
            self.enable_interrupts();
        }
        if unsolicited {
            self.enable_unsolicited();
        }
        Ok(codecs)
    }

    /// Resets the controller and returns the codec addresses that asked for one (STATESTS
    /// bits). Every controller register is back at its reset value afterwards.
    pub fn reset(&mut self) -> Result<u16, Error> {
        if self.regs.read32(GCAP) == u32::MAX {
            return Err(Error::DeviceGone);
        }
        self.stop_all_dma();
        self.transport = Transport::Off;
        self.unsolicited_enabled = false;
        self.interrupts_enabled = false;
        self.regs.write32(INTCTL, 0);
        // Clear before entering reset: QEMU sets the codec bits as CRST goes to 0.
        self.regs.write16(STATESTS, CODEC_MASK);
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
        // Some are late: look again for a while before concluding there is none.
        self.wait(LATE_CODEC_TIMEOUT_US, |r| {
            r.read16(STATESTS) & CODEC_MASK != 0
        });
        let codecs = self.regs.read16(STATESTS);
        if codecs == u16::MAX {
            return Err(Error::DeviceGone);
        }
        self.codecs = codecs & CODEC_MASK;
        // Acknowledged, so a bit that appears later means a codec joined (hot plug).
        self.regs.write16(STATESTS, self.codecs);
        Ok(self.codecs)
    }

    /// Sets up and starts the CORB and RIRB (after [`Controller::reset`]).
    pub fn start_command_rings(&mut self) -> Result<(), Error> {
        self.start_rings(RINTCNT_EVERY_RESPONSE)
    }

    fn start_rings(&mut self, rintcnt: u16) -> Result<(), Error> {
        let phys = self.rings.phys();
        if self.rings.len() < RING_REGION_BYTES
            || !phys.is_multiple_of(128)
            || !self.reachable(phys, RING_REGION_BYTES)
        {
            return Err(Error::BadRingMemory);
        }
        self.stop_rings();
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
        // Never 0: QEMU then stalls for good.
        self.regs.write16(RINTCNT, rintcnt);
        self.regs.write8(RIRBSTS, RIRBSTS_RINTFL | RIRBSTS_RIRBOIS);
        self.regs.write8(CORBSTS, CORBSTS_CMEI);
        self.regs.write8(RIRBCTL, RIRBCTL_DMAEN | RIRBCTL_RINTCTL);
        self.regs.write8(CORBCTL, CORBCTL_RUN);
        if !self.wait(1000, |r| {
            r.read8(CORBCTL) & CORBCTL_RUN != 0 && r.read8(RIRBCTL) & RIRBCTL_DMAEN != 0
        }) {
            return Err(Error::RingsDidNotStart);
        }
        self.corb_wp = self.regs.read16(CORBWP) & 0xff;
        self.rirb_rp = self.regs.read16(RIRBWP) & 0xff;
        self.transport = Transport::Rings;
        Ok(())
    }

    /// Sends verbs through the immediate command registers from now on (the CORB and RIRB
    /// are stopped first: the two must not run together).
    pub fn use_immediate_commands(&mut self) {
        self.stop_rings();
        self.transport = Transport::Immediate;
    }

    /// Accepts unsolicited responses (jack events) from the codecs on the link; they are
    /// queued for [`Controller::take_unsolicited`]. Until then, and from codecs not on the
    /// link, they are ignored.
    pub fn enable_unsolicited(&mut self) {
        let gctl = self.regs.read32(GCTL);
        self.regs.write32(GCTL, gctl | GCTL_UNSOL);
        self.unsolicited_enabled = true;
    }

    /// Asks every codec in `codecs` for its vendor id, once more after a timeout (some
    /// miss the first verb after reset), and keeps those that answer: a codec that asked
    /// for an address and then stays silent is dropped, the others work on.
    pub fn probe_codecs(&mut self, codecs: u16) -> Result<u16, Error> {
        let mut alive = 0;
        for cad in (0..15u8).filter(|cad| codecs & (1 << cad) != 0) {
            let mut answered = false;
            for _ in 0..2 {
                match self.parameter(cad, 0, crate::verb::PARAM_VENDOR_ID) {
                    Ok(_) => {
                        answered = true;
                        break;
                    }
                    Err(CommandError::DeviceGone) => return Err(Error::DeviceGone),
                    Err(e) => log::warn!("hda: codec {cad} did not answer F00: {e:?}"),
                }
            }
            if answered {
                alive |= 1 << cad;
            } else {
                log::warn!("hda: codec {cad} dropped: it never answered");
            }
        }
        self.codecs = alive;
        Ok(alive)
    }

    /// Takes an unsolicited response, if one arrived.
    pub fn take_unsolicited(&mut self) -> Option<Unsolicited> {
        self.unsolicited.pop_front()
    }

    /// Turns on the DMA position buffer: the controller writes each stream's position into
    /// `region` (slot `8 * descriptor index`), so positions are read from memory instead of
    /// a register access per poll. False (and left off) if the region is unusable.
    pub fn enable_position_buffer(&mut self, region: &D) -> bool {
        let phys = region.phys();
        if !phys.is_multiple_of(128) || region.len() < 8 * 30 || !self.reachable(phys, 8 * 30) {
            return false;
        }
        self.regs.write32(DPUBASE, (phys >> 32) as u32);
        self.regs.write32(DPLBASE, phys as u32 | DPLBASE_ENABLE);
        true
    }

    /// Turns on interrupts: every stream descriptor, the controller's sources (responses,
    /// overrun, CORB memory error) and codec wake-ups (hot plug).
    pub fn enable_interrupts(&mut self) {
        let streams = (1u32 << descriptor_count(self.gcap())) - 1;
        self.regs.write16(WAKEEN, CODEC_MASK);
        self.regs
            .write32(INTCTL, INT_GLOBAL | INT_CONTROLLER | streams);
        self.interrupts_enabled = true;
    }

    /// Acknowledges every pending source and handles it: stream status is cleared (with a
    /// byte write, leaving SDnCTL alone), the RIRB drained, hot-plugged codecs noted.
    /// `Ok(None)`: nothing was pending, the interrupt is not ours (a shared INTx line).
    pub fn handle_interrupt(&mut self) -> Result<Option<Interrupt>, Error> {
        let mut seen: Option<Interrupt> = None;
        // SIS bits of descriptors that do not exist are not followed to registers that
        // are not stream descriptors.
        let descriptors = (1u32 << descriptor_count(self.gcap())) - 1;
        // Sources can reappear while we work; Linux loops a bounded number of times too.
        for _ in 0..10 {
            let status = self.regs.read32(INTSTS);
            if status == u32::MAX {
                return Err(Error::DeviceGone);
            }
            if status == 0 {
                break;
            }
            let report = seen.get_or_insert_with(Interrupt::default);
            for index in (0..30).filter(|n| status & descriptors & (1 << n) != 0) {
                let sts = self.regs.read8(sd(index, 3));
                self.regs.write8(sd(index, 3), sts & 0b1_1100);
                report.streams |= 1 << index;
                if sts & 0b1_1000 != 0 {
                    report.stream_errors |= 1 << index;
                }
            }
            if status & INT_CONTROLLER != 0 {
                report.codecs_woke |= self.controller_interrupt()?;
            }
        }
        Ok(seen)
    }

    /// The controller's own sources; returns codecs that woke up.
    fn controller_interrupt(&mut self) -> Result<u16, Error> {
        let corbsts = self.regs.read8(CORBSTS);
        if corbsts & CORBSTS_CMEI != 0 {
            self.regs.write8(CORBSTS, CORBSTS_CMEI);
            self.corb_memory_error();
        }
        // Acknowledge before reading RIRBWP, or a response landing in between would raise
        // no new interrupt (Linux does the same).
        let rirbsts = self.regs.read8(RIRBSTS);
        self.regs
            .write8(RIRBSTS, rirbsts & (RIRBSTS_RINTFL | RIRBSTS_RIRBOIS));
        if rirbsts & RIRBSTS_RIRBOIS != 0 {
            self.rirb_overrun();
        }
        if self.transport == Transport::Rings {
            match self.drain(None) {
                Ok(_) => {}
                Err(RingFailure::Gone) => return Err(Error::DeviceGone),
                Err(_) => self.rings_broken(),
            }
        }
        let woke = self.regs.read16(STATESTS) & CODEC_MASK;
        if woke != 0 {
            self.regs.write16(STATESTS, woke);
            log::info!("hda: codec(s) {woke:#06x} asked for an address (hot plug)");
        }
        Ok(woke)
    }

    fn corb_memory_error(&mut self) {
        self.stats.corb_memory_errors += 1;
        if self.transport == Transport::Rings {
            log::warn!("hda: CORB memory error; falling back to immediate commands");
            self.use_immediate_commands();
        }
    }

    /// The CORB stopped fetching verbs, or the RIRB pointer makes no sense.
    fn rings_broken(&mut self) {
        log::warn!("hda: CORB/RIRB stuck or inconsistent; falling back to immediate commands");
        self.use_immediate_commands();
    }

    /// Responses were lost: what is in the RIRB cannot be trusted to be complete, so skip
    /// to where the controller writes now.
    fn rirb_overrun(&mut self) {
        self.stats.rirb_overruns += 1;
        log::warn!("hda: RIRB overrun, responses lost; resynchronising");
        self.rirb_rp = self.regs.read16(RIRBWP) & 0xff;
    }

    /// Stops the CORB and RIRB DMA and waits until they read stopped.
    fn stop_rings(&mut self) -> bool {
        self.regs.write8(CORBCTL, 0);
        self.regs.write8(RIRBCTL, 0);
        self.wait(STOP_TIMEOUT_US, |r| {
            r.read8(CORBCTL) & CORBCTL_RUN == 0 && r.read8(RIRBCTL) & RIRBCTL_DMAEN == 0
        })
    }

    /// Stops every DMA engine: each stream descriptor (RUN cleared with a byte write, then
    /// read back), the rings, the position buffer. If one will not stop, the controller is
    /// put into reset, which stops them all. Returns false if even that failed.
    pub fn stop_all_dma(&mut self) -> bool {
        let gcap = self.regs.read16(GCAP);
        if gcap == u16::MAX {
            // Gone: a function that reads all ones does no DMA either.
            return true;
        }
        let mut stopped = true;
        for index in 0..descriptor_count(gcap) {
            let ctl = self.regs.read8(sd(index, 0));
            if ctl & 0b10 != 0 {
                self.regs.write8(sd(index, 0), ctl & !0b1_1110);
                stopped &= self.wait(STOP_TIMEOUT_US, |r| r.read8(sd(index, 0)) & 0b10 == 0);
            }
        }
        stopped &= self.stop_rings();
        self.regs.write32(DPLBASE, 0);
        self.regs.write32(INTCTL, 0);
        if stopped {
            return true;
        }
        log::warn!("hda: a DMA engine did not stop; resetting the controller");
        self.transport = Transport::Off;
        let gctl = self.regs.read32(GCTL);
        self.regs.write32(GCTL, gctl & !GCTL_CRST);
        self.wait(RESET_TIMEOUT_US, |r| r.read32(GCTL) & GCTL_CRST == 0)
    }

    /// Drains the RIRB. Returns the answer from `expecting`'s codec if one was there;
    /// unsolicited responses are queued, anything else is spurious. A write pointer
    /// outside the ring means the rings cannot be trusted ([`RingFailure::Stuck`]).
    fn drain(&mut self, expecting: Option<u8>) -> Result<Option<u32>, RingFailure> {
        let wp = self.regs.read16(RIRBWP);
        if wp == u16::MAX {
            return Err(RingFailure::Gone);
        }
        let wp = wp & 0xff;
        if wp >= self.rirb_entries {
            log::warn!(
                "hda: RIRBWP {wp} outside a {}-entry RIRB",
                self.rirb_entries
            );
            return Err(RingFailure::Stuck);
        }
        if wp == self.rirb_rp {
            return Ok(None);
        }
        let mut answer = None;
        while self.rirb_rp != wp {
            self.rirb_rp = (self.rirb_rp + 1) % self.rirb_entries;
            let at = RIRB_OFFSET + usize::from(self.rirb_rp) * 8;
            let response = self.rings.read32(at);
            let ex = self.rings.read32(at + 4);
            let from = (ex & EX_CODEC) as u8;
            if ex & EX_UNSOLICITED != 0 {
                self.queue_unsolicited(from, response);
            } else if expecting == Some(from) && answer.is_none() {
                answer = Some(response);
            } else {
                self.stats.spurious += 1;
                log::warn!("hda: spurious response {response:#010x} from codec {from}");
            }
        }
        // Acknowledge, even when polling: QEMU stops the CORB until RINTFL is cleared.
        // RIRBOIS is left for the overrun check to see.
        self.regs.write8(RIRBSTS, RIRBSTS_RINTFL);
        Ok(answer)
    }

    fn queue_unsolicited(&mut self, cad: u8, response: u32) {
        if !self.unsolicited_enabled || self.codecs & (1 << cad) == 0 {
            self.stats.unsolicited_ignored += 1;
            log::debug!("hda: ignored unsolicited response {response:#010x} from codec {cad}");
        } else if self
            .unsolicited
            .push_back(Unsolicited { cad, response })
            .is_err()
        {
            self.stats.unsolicited_dropped += 1;
        }
    }

    /// One verb through the CORB, waiting for its answer in the RIRB.
    fn ring_command(&mut self, cad: u8, word: u32) -> Result<u32, RingFailure> {
        // Whatever is in the RIRB now cannot answer the verb about to be sent.
        self.drain(None)?;
        let wp = (self.corb_wp + 1) % self.corb_entries;
        self.rings.write(usize::from(wp) * 4, &word.to_le_bytes());
        self.regs.write16(CORBWP, wp);
        self.corb_wp = wp;
        let start = self.clock.now_us();
        let mut checked = start;
        loop {
            if let Some(response) = self.drain(Some(cad))? {
                return Ok(response);
            }
            let now = self.clock.now_us();
            let timed_out = now.saturating_sub(start) > COMMAND_TIMEOUT_US;
            if timed_out || now.saturating_sub(checked) >= ERROR_CHECK_US {
                checked = now;
                if self.regs.read8(CORBSTS) & CORBSTS_CMEI != 0 {
                    self.regs.write8(CORBSTS, CORBSTS_CMEI);
                    return Err(RingFailure::MemoryError);
                }
                if self.regs.read8(RIRBSTS) & RIRBSTS_RIRBOIS != 0 {
                    self.regs.write8(RIRBSTS, RIRBSTS_RIRBOIS);
                    self.rirb_overrun();
                    return Err(RingFailure::Overrun);
                }
            }
            if timed_out {
                let rp = self.regs.read16(CORBRP);
                return Err(match rp {
                    u16::MAX => RingFailure::Gone,
                    rp if rp & 0xff == wp => RingFailure::CodecSilent,
                    _ => RingFailure::NotFetched,
                });
            }
            self.clock.delay_us(5);
        }
    }
}

impl<R: Registers, C: Clock, D: DmaRegion> CommandTransport for Controller<R, C, D> {
    fn command(&mut self, cad: u8, nid: u8, verb: Verb) -> Result<u32, CommandError> {
        let word = verb.command(cad, nid);
        let timeout = CommandError::Timeout {
            cad,
            nid,
            verb: word,
        };
        match self.transport {
            Transport::Off => return Err(CommandError::NotReady),
            Transport::Immediate => {
                return immediate::command(
                    &mut self.regs,
                    &mut self.clock,
                    word,
                    COMMAND_TIMEOUT_US,
                );
            }
            Transport::Rings => {}
        }
        // A lost answer is asked for once more. A verb the CORB does not fetch is sent
        // again once on rings restarted with RINTCNT_UNSTICK; once it is answered, the rings
        // start again as usual (QEMU's counter is back to 0 then). A CORB that still fails
        // hands over to the immediate interface for good.
        let (mut overrun_retried, mut unsticking) = (false, false);
        loop {
            match self.ring_command(cad, word) {
                Ok(response) if unsticking => {
                    if self.start_rings(RINTCNT_EVERY_RESPONSE).is_err() {
                        self.rings_broken();
                    }
                    return Ok(response);
                }
                Ok(response) => return Ok(response),
                Err(RingFailure::Gone) => return Err(CommandError::DeviceGone),
                Err(RingFailure::CodecSilent) => return Err(timeout),
                Err(RingFailure::Overrun) if !overrun_retried => {
                    overrun_retried = true;
                    continue;
                }
                Err(RingFailure::Overrun) => return Err(CommandError::Overrun),
                Err(RingFailure::NotFetched) if !unsticking => {
                    unsticking = true;
                    log::warn!("hda: the CORB did not fetch a verb; restarting the rings");
                    if self.start_rings(RINTCNT_UNSTICK).is_ok() {
                        continue;
                    }
                    self.rings_broken();
                }
                Err(RingFailure::MemoryError) => self.corb_memory_error(),
                Err(RingFailure::NotFetched | RingFailure::Stuck) => self.rings_broken(),
            }
            return immediate::command(&mut self.regs, &mut self.clock, word, COMMAND_TIMEOUT_US);
        }
    }
}

impl<R: Registers, C: Clock, D: DmaRegion> Drop for Controller<R, C, D> {
    fn drop(&mut self) {
        if !self.stop_all_dma() {
            log::error!("hda: DMA may still run while its memory is freed");
        }
    }
}
