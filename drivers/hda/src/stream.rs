//! Stream descriptors: one output (or input) stream's buffer descriptor list, format, start, stop and
//! hardware position (Intel HDA specification §3.3.35-3.3.49, §3.6.2).
//!
//! SDnCTL is only ever written a byte at a time and status acknowledged with a byte write
//! of the W1C bits: a 32-bit read-modify-write would clear pending status on hardware.

use crate::regs::{Clock, DmaRegion, GCAP, INTCTL, Registers, wait};

/// Stream descriptor register offsets from the descriptor's base.
const SD_CTL0: u32 = 0x00;
const SD_CTL2: u32 = 0x02;
const SD_STS: u32 = 0x03;
const SD_LPIB: u32 = 0x04;
const SD_CBL: u32 = 0x08;
const SD_LVI: u32 = 0x0c;
const SD_FMT: u32 = 0x12;
const SD_BDPL: u32 = 0x18;
const SD_BDPU: u32 = 0x1c;
/// SDnCTL byte 0 bits.
const CTL_SRST: u8 = 1 << 0;
const CTL_RUN: u8 = 1 << 1;
const CTL_INTERRUPTS: u8 = 0b1_1100; // IOCE | FEIE | DEIE
/// INTCTL's global interrupt enable.
const INTCTL_GIE: u32 = 1 << 31;
/// SDnSTS W1C bits: BCIS, FIFOE, DESE.
const STS_CLEAR: u8 = 0b1_1100;
const STS_FIFOE: u8 = 1 << 3;
const STS_DESE: u8 = 1 << 4;
/// How long SRST and RUN may take to read back.
const CTL_TIMEOUT_US: u64 = 10_000;
/// How long to look for SRST reading 1: QEMU before 7.0 never shows it (hda.md §1.8), and
/// the reset has happened anyway, so this wait is allowed to fail.
const SRST_SHOW_TIMEOUT_US: u64 = 1000;
/// Bytes per buffer descriptor list entry.
const BDL_ENTRY: usize = 16;
/// Most BDL entries a descriptor takes.
pub const MAX_PERIODS: u32 = 256;

/// Why a stream could not be set up or run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamError {
    /// The controller has no output stream descriptor.
    NoOutputStream,
    /// The controller has no input stream descriptor.
    NoInputStream,
    /// Fewer than 2 or more than 256 periods, a period not a multiple of 128 bytes, or
    /// memory too small, misaligned or out of DMA reach.
    BadLayout,
    /// SRST or RUN did not read back in time.
    Timeout,
    /// The descriptor's registers read all ones: the controller is gone.
    DeviceGone,
    /// FIFO underrun (playback) or overrun (capture): the stream was stopped.
    FifoError,
    /// The controller could not fetch a buffer descriptor: the stream was stopped.
    DescriptorError,
}

/// The first output stream descriptor, driving a cyclic buffer split into periods.
pub struct OutputStream<B, L> {
    base: u32,
    buffer: B,
    bdl: L,
    cyclic_bytes: u32,
    periods: u32,
    period_bytes: u32,
    tag: u8,
    format: u16,
    last_lpib: u32,
    consumed: u64,
    /// Prepared (reset) and not started since: the DMA will begin at the buffer's start.
    fresh: bool,
    /// Restarted after a stop: the DMA may begin again at the buffer's start, a backwards
    /// jump that is real (see `advance`).
    restarted: bool,
    /// Started, and not stopped since.
    running: bool,
}

/// The stream format word (SDnFMT and converter verb 2) for 16-bit PCM at `rate` with
/// `channels`; `None` for rates the format cannot express.
pub fn format_word(rate: u32, channels: u8) -> Option<u16> {
    // (base 44.1 kHz?, multiplier - 1, divisor - 1)
    let (base44, mult, div) = match rate {
        8000 => (false, 0, 5),
        11025 => (true, 0, 3),
        16000 => (false, 0, 2),
        22050 => (true, 0, 1),
        32000 => (false, 1, 2),
        44100 => (true, 0, 0),
        48000 => (false, 0, 0),
        88200 => (true, 1, 0),
        96000 => (false, 1, 0),
        176400 => (true, 3, 0),
        192000 => (false, 3, 0),
        _ => return None,
    };
    if !(1..=16).contains(&channels) {
        return None;
    }
    Some(u16::from(base44) << 14 | mult << 11 | div << 8 | 1 << 4 | u16::from(channels - 1))
}

/// Waits until SDnCTL byte 0 has `bits` set (`set`) or clear.
fn wait_ctl<R: Registers, C: Clock>(
    regs: &mut R,
    clock: &mut C,
    base: u32,
    bits: u8,
    set: bool,
    timeout_us: u64,
) -> Result<(), StreamError> {
    if wait(regs, clock, timeout_us, |r| {
        (r.read8(base + SD_CTL0) & bits != 0) == set
    }) {
        Ok(())
    } else if regs.read32(base + SD_CTL0) == u32::MAX {
        Err(StreamError::DeviceGone)
    } else {
        Err(StreamError::Timeout)
    }
}

/// Clears RUN and the interrupt enables with a byte write, waits until RUN reads 0, then
/// acknowledges the status bits.
fn stop_descriptor<R: Registers, C: Clock>(
    regs: &mut R,
    clock: &mut C,
    base: u32,
) -> Result<(), StreamError> {
    let ctl = regs.read8(base + SD_CTL0);
    regs.write8(base + SD_CTL0, ctl & !(CTL_RUN | CTL_INTERRUPTS));
    let stopped = wait_ctl(regs, clock, base, CTL_RUN, false, CTL_TIMEOUT_US);
    regs.write8(base + SD_STS, STS_CLEAR);
    stopped
}

impl<B: DmaRegion, L: DmaRegion> OutputStream<B, L> {
    /// Resets the first output descriptor and programs it: `periods` BDL entries of
    /// `period_bytes` each (IOC on every one), stream `tag`, format `format`. Stopped after.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare<R: Registers, C: Clock>(
        regs: &mut R,
        clock: &mut C,
        buffer: B,
        bdl: L,
        periods: u32,
        period_bytes: u32,
        tag: u8,
        format: u16,
    ) -> Result<Self, StreamError> {
        let gcap = regs.read16(GCAP);
        let (inputs, outputs) = (u32::from((gcap >> 8) & 0xf), u32::from(gcap >> 12));
        if outputs == 0 {
            return Err(StreamError::NoOutputStream);
        }
        let base = 0x80 + 0x20 * inputs;
        Self::prepare_at(
            regs,
            clock,
            base,
            buffer,
            bdl,
            periods,
            period_bytes,
            tag,
            format,
        )
    }

    /// As [`OutputStream::prepare`], for the first *input* descriptor (capture: the
    /// hardware writes the cyclic buffer, [`OutputStream::read`] takes from it).
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_input<R: Registers, C: Clock>(
        regs: &mut R,
        clock: &mut C,
        buffer: B,
        bdl: L,
        periods: u32,
        period_bytes: u32,
        tag: u8,
        format: u16,
    ) -> Result<Self, StreamError> {
        let gcap = regs.read16(GCAP);
        if (gcap >> 8) & 0xf == 0 {
            return Err(StreamError::NoInputStream);
        }
        Self::prepare_at(
            regs,
            clock,
            0x80,
            buffer,
            bdl,
            periods,
            period_bytes,
            tag,
            format,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_at<R: Registers, C: Clock>(
        regs: &mut R,
        clock: &mut C,
        base: u32,
        buffer: B,
        bdl: L,
        periods: u32,
        period_bytes: u32,
        tag: u8,
        format: u16,
    ) -> Result<Self, StreamError> {
        let cyclic_bytes = periods
            .checked_mul(period_bytes)
            .ok_or(StreamError::BadLayout)?;
        let fits =
            buffer.len() >= cyclic_bytes as usize && bdl.len() >= periods as usize * BDL_ENTRY;
        let below_4g = buffer.phys().saturating_add(u64::from(cyclic_bytes)) <= 1 << 32
            && bdl.phys() < 1 << 32;
        if !(2..=MAX_PERIODS).contains(&periods)
            || !period_bytes.is_multiple_of(128)
            || !fits
            || !bdl.phys().is_multiple_of(128)
            || !below_4g
        {
            return Err(StreamError::BadLayout);
        }
        let mut stream = OutputStream {
            base,
            buffer,
            bdl,
            cyclic_bytes,
            periods,
            period_bytes,
            tag,
            format,
            last_lpib: 0,
            consumed: 0,
            fresh: true,
            restarted: false,
            running: false,
        };
        stream.program(regs, clock)?;
        Ok(stream)
    }

    /// Resets the descriptor and programs it from scratch (BDL, tag, CBL, LVI, format).
    fn program<R: Registers, C: Clock>(
        &mut self,
        regs: &mut R,
        clock: &mut C,
    ) -> Result<(), StreamError> {
        let base = self.base;
        // Stop, acknowledge, reset (SRST to 1 and back), as the specification orders. The
        // reset clears every register on hardware and few on QEMU: all are written below.
        stop_descriptor(regs, clock, base)?;
        regs.write8(base + SD_CTL0, CTL_SRST);
        match wait_ctl(regs, clock, base, CTL_SRST, true, SRST_SHOW_TIMEOUT_US) {
            Err(StreamError::Timeout) => log::debug!("hda: SRST never read 1 (QEMU < 7.0)"),
            result => result?,
        }
        regs.write8(base + SD_CTL0, 0);
        wait_ctl(regs, clock, base, CTL_SRST, false, CTL_TIMEOUT_US)?;
        for i in 0..self.periods {
            let mut entry = [0u8; BDL_ENTRY];
            let address = self.buffer.phys() + u64::from(i * self.period_bytes);
            entry[0..8].copy_from_slice(&address.to_le_bytes());
            entry[8..12].copy_from_slice(&self.period_bytes.to_le_bytes());
            entry[12..16].copy_from_slice(&1u32.to_le_bytes()); // interrupt on completion
            self.bdl.write(i as usize * BDL_ENTRY, &entry);
        }
        regs.write8(base + SD_CTL2, self.tag << 4);
        regs.write32(base + SD_CBL, self.cyclic_bytes);
        regs.write16(base + SD_LVI, (self.periods - 1) as u16);
        regs.write16(base + SD_FMT, self.format);
        regs.write32(base + SD_BDPL, self.bdl.phys() as u32);
        regs.write32(base + SD_BDPU, (self.bdl.phys() >> 32) as u32);
        self.fresh = true;
        self.running = false;
        Ok(())
    }

    /// Programs the descriptor again after a controller reset, on the same memory; the
    /// position keeps counting from where it was (the DMA restarts at the buffer's start).
    /// Stopped after, like [`OutputStream::prepare`].
    pub fn reprogram<R: Registers, C: Clock>(
        &mut self,
        regs: &mut R,
        clock: &mut C,
    ) -> Result<(), StreamError> {
        self.program(regs, clock)
    }

    /// Whether the stream was started and not stopped since.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The stream format word it was prepared with.
    pub fn format(&self) -> u16 {
        self.format
    }

    /// Sets RUN and waits until it reads back.
    pub fn start<R: Registers, C: Clock>(
        &mut self,
        regs: &mut R,
        clock: &mut C,
    ) -> Result<(), StreamError> {
        // After a reset the DMA starts at the first BDL entry. QEMU keeps the old LPIB
        // across SRST until then, so it is only read when resuming a stopped stream.
        self.last_lpib = if self.fresh {
            0
        } else {
            regs.read32(self.base + SD_LPIB) % self.cyclic_bytes
        };
        self.restarted = !self.fresh;
        self.fresh = false;
        // Interrupts on completion and on errors (they reach the CPU only if the controller
        // enables this descriptor in INTCTL); `stop` clears them.
        let ctl = regs.read8(self.base + SD_CTL0);
        regs.write8(self.base + SD_CTL0, ctl | CTL_RUN | CTL_INTERRUPTS);
        self.running = true;
        wait_ctl(regs, clock, self.base, CTL_RUN, true, CTL_TIMEOUT_US)
    }

    /// Clears RUN, waits until it reads 0, and acknowledges status.
    pub fn stop<R: Registers, C: Clock>(
        &mut self,
        regs: &mut R,
        clock: &mut C,
    ) -> Result<(), StreamError> {
        stop_descriptor(regs, clock, self.base)?;
        self.running = false;
        Ok(())
    }

    /// Looks for a FIFO or descriptor error; on one, stops the stream and reports it. The
    /// caller prepares the stream again to restart it.
    pub fn check_errors<R: Registers, C: Clock>(
        &mut self,
        regs: &mut R,
        clock: &mut C,
    ) -> Result<(), StreamError> {
        let sts = regs.read8(self.base + SD_STS);
        if sts == u8::MAX {
            return Err(StreamError::DeviceGone);
        }
        let error = if sts & STS_DESE != 0 {
            StreamError::DescriptorError
        } else if sts & STS_FIFOE != 0 {
            StreamError::FifoError
        } else {
            return Ok(());
        };
        log::warn!(
            "hda: stream descriptor {}: {error:?}; stopped",
            self.index()
        );
        stop_descriptor(regs, clock, self.base)?;
        Err(error)
    }

    /// Where [`OutputStream::start`] will count from: 0 after a reset, LPIB after a stop.
    pub fn start_position<R: Registers>(&self, regs: &mut R) -> u32 {
        if self.fresh {
            0
        } else {
            regs.read32(self.base + SD_LPIB) % self.cyclic_bytes
        }
    }

    /// The descriptor's index (its slot in the DMA position buffer is `8 * index`).
    pub fn index(&self) -> u32 {
        (self.base - 0x80) / 0x20
    }

    /// The link position in the cyclic buffer (LPIB), read from the register.
    pub fn link_position<R: Registers>(&self, regs: &mut R) -> u32 {
        regs.read32(self.base + SD_LPIB)
    }

    /// Bytes the hardware has fetched since `prepare`, given its current position in the
    /// cyclic buffer (from the DMA position buffer, or LPIB), counting wraps. Call at least
    /// once per half buffer to see every wrap. Positions past the buffer (a device that
    /// returns garbage) are ignored, and so is any position before the first start after
    /// `prepare`: the DMA has not moved, but QEMU keeps LPIB, and the position buffer its
    /// slot, across a descriptor reset.
    pub fn advance(&mut self, position: u32) -> u64 {
        if self.fresh || position >= self.cyclic_bytes {
            return self.consumed;
        }
        let delta = (position + self.cyclic_bytes - self.last_lpib) % self.cyclic_bytes;
        // Callers look far more often than every half buffer, so a real wrap moves less than
        // half a buffer forwards. A small step backwards is a stale read instead (a position
        // buffer the device has not written yet): taken as a wrap, it would put us a whole
        // buffer ahead of the DMA.
        if position < self.last_lpib && delta > self.cyclic_bytes / 2 && !self.restarted {
            return self.consumed;
        }
        self.restarted = false;
        self.consumed += u64::from(delta);
        self.last_lpib = position;
        self.consumed
    }

    /// The cyclic buffer's size in bytes.
    pub fn cyclic_bytes(&self) -> u32 {
        self.cyclic_bytes
    }

    /// Writes samples into the cyclic buffer at `offset` (wrapping at the end).
    pub fn write(&mut self, offset: u32, data: &[u8]) {
        let offset = (offset % self.cyclic_bytes) as usize;
        let first = data.len().min(self.cyclic_bytes as usize - offset);
        self.buffer.write(offset, &data[..first]);
        self.buffer.write(0, &data[first..]);
    }

    /// Reads recorded samples from the cyclic buffer at `offset` (wrapping at the end).
    pub fn read(&self, offset: u32, out: &mut [u8]) {
        let offset = (offset % self.cyclic_bytes) as usize;
        let first = out.len().min(self.cyclic_bytes as usize - offset);
        let (head, tail) = out.split_at_mut(first);
        self.buffer.read(offset, head);
        self.buffer.read(0, tail);
    }

    /// Interrupts on each completed period (IOC), with errors, through the controller's
    /// interrupt line (INTCTL: global enable and this stream's bit).
    pub fn enable_interrupt<R: Registers>(&mut self, regs: &mut R) {
        let ctl = regs.read8(self.base + SD_CTL0);
        regs.write8(self.base + SD_CTL0, ctl | CTL_INTERRUPTS);
        let intctl = regs.read32(INTCTL);
        regs.write32(INTCTL, intctl | INTCTL_GIE | 1 << self.index());
    }

    /// Stops this stream's interrupts (the global enable stays for other streams).
    pub fn disable_interrupt<R: Registers>(&mut self, regs: &mut R) {
        let ctl = regs.read8(self.base + SD_CTL0);
        regs.write8(self.base + SD_CTL0, ctl & !CTL_INTERRUPTS);
        let intctl = regs.read32(INTCTL);
        regs.write32(INTCTL, intctl & !(1 << self.index()));
    }

    /// Acknowledges the stream's interrupt status (BCIS, FIFO error, descriptor error) and
    /// returns what was set: the controller's line drops once every source is acknowledged.
    pub fn acknowledge<R: Registers>(&self, regs: &mut R) -> u8 {
        let status = regs.read8(self.base + SD_STS) & STS_CLEAR;
        if status != 0 {
            regs.write8(self.base + SD_STS, status);
        }
        status
    }

    /// The descriptor list memory (kept alive while the stream exists).
    pub fn bdl(&self) -> &L {
        &self.bdl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_words_match_the_specification_examples() {
        // hda.md §1.9, 16-bit stereo.
        for (rate, word) in [
            (48000, 0x0011),
            (44100, 0x4011),
            (96000, 0x0811),
            (192000, 0x1811),
            (32000, 0x0a11),
            (16000, 0x0211),
            (8000, 0x0511),
            (22050, 0x4111),
            (11025, 0x4311),
        ] {
            assert_eq!(format_word(rate, 2), Some(word), "{rate}");
        }
        assert_eq!(format_word(48000, 1), Some(0x0010));
        assert_eq!(format_word(12345, 2), None);
        assert_eq!(format_word(48000, 0), None);
    }
}
