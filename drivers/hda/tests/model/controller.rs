//! The controller's global registers: reset, codec discovery, CORB/RIRB and the immediate
//! command interface, interrupt status. Stream descriptors are in `stream.rs`.

use std::cell::RefCell;
use std::rc::Rc;

use hda::regs::Registers;

use super::{Hw, REGISTER_BYTES};

const GCTL: usize = 0x08;
const STATESTS: usize = 0x0e;
const WAKEEN: usize = 0x0c;
const INTCTL: usize = 0x20;
const INTSTS: usize = 0x24;
const WALCLK: usize = 0x30;
const CORBLBASE: usize = 0x40;
const CORBWP: usize = 0x48;
const CORBRP: usize = 0x4a;
const CORBCTL: usize = 0x4c;
const CORBSTS: usize = 0x4d;
const CORBSIZE: usize = 0x4e;
const RIRBLBASE: usize = 0x50;
const RIRBWP: usize = 0x58;
const RINTCNT: usize = 0x5a;
const RIRBCTL: usize = 0x5c;
const RIRBSTS: usize = 0x5d;
const RIRBSIZE: usize = 0x5e;
const ICOI: usize = 0x60;
const IRII: usize = 0x64;
const ICIS: usize = 0x68;
pub(super) const DPLBASE: usize = 0x70;
/// Upper-address registers that must stay 0 when the controller lacks 64OK.
const UPPER_BASES: [usize; 3] = [0x44, 0x54, 0x74];

/// The driver's view: BAR0.
pub struct ModelRegs {
    pub(super) hw: Rc<RefCell<Hw>>,
}

impl Registers for ModelRegs {
    fn read8(&mut self, offset: u32) -> u8 {
        self.hw.borrow_mut().read(offset as usize, 1) as u8
    }
    fn read16(&mut self, offset: u32) -> u16 {
        self.hw.borrow_mut().read(offset as usize, 2) as u16
    }
    fn read32(&mut self, offset: u32) -> u32 {
        self.hw.borrow_mut().read(offset as usize, 4)
    }
    fn write8(&mut self, offset: u32, value: u8) {
        self.hw.borrow_mut().write(offset as usize, 1, value.into());
    }
    fn write16(&mut self, offset: u32, value: u16) {
        self.hw.borrow_mut().write(offset as usize, 2, value.into());
    }
    fn write32(&mut self, offset: u32, value: u32) {
        self.hw.borrow_mut().write(offset as usize, 4, value);
    }
}

/// Ring entries for a CORBSIZE/RIRBSIZE size code.
fn ring_entries(size: u8) -> u16 {
    match size & 0b11 {
        0 => 2,
        1 => 16,
        _ => 256,
    }
}

impl Hw {
    /// Writable bits and write-1-to-clear bits of a register byte.
    fn masks(&self, off: usize) -> (u8, u8) {
        if let Some((_, rel)) = self.sd_at(off) {
            return super::stream::masks(rel);
        }
        let size_bits = if self.ring_size_read_only { 0 } else { 0b11 };
        match off {
            0x08 => (0x03, 0),
            0x09 => (0x01, 0),
            0x0c => (0xff, 0),
            0x0d => (0x7f, 0),
            0x0e => (0, 0xff),
            0x0f => (0, 0x7f),
            0x20..=0x22 => (0xff, 0),
            0x23 => (0xc0, 0),
            0x40 => (0x80, 0),
            0x41..=0x47 => (0xff, 0),
            0x48 => (0xff, 0),
            0x4c => (0x03, 0),
            0x4d => (0, 0x01),
            0x4e | 0x5e => (size_bits, 0),
            0x50 => (0x80, 0),
            0x51..=0x57 => (0xff, 0),
            0x5a => (0xff, 0),
            0x5c => (0x07, 0),
            0x5d => (0, 0x05),
            0x60..=0x63 => (0xff, 0),
            0x68 => (0, 0x02),
            0x70 => (0x81, 0),
            0x71..=0x77 => (0xff, 0),
            _ => (0, 0),
        }
    }

    pub(super) fn reg32(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.bytes[off..off + 4].try_into().unwrap())
    }

    pub(super) fn reg16(&self, off: usize) -> u16 {
        u16::from_le_bytes(self.bytes[off..off + 2].try_into().unwrap())
    }

    pub(super) fn reg8(&self, off: usize) -> u8 {
        self.bytes[off]
    }

    pub(super) fn set8(&mut self, off: usize, value: u8) {
        self.bytes[off] = value;
    }

    pub(super) fn set32(&mut self, off: usize, value: u32) {
        self.bytes[off..off + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn base64(&self, low: usize) -> u64 {
        u64::from(self.reg32(low + 4)) << 32 | u64::from(self.reg32(low) & !0x7f)
    }

    pub(super) fn has_64ok(&self) -> bool {
        self.gcap & 1 != 0
    }

    /// Every register at its reset value; streams stopped. The codecs reset with the link.
    fn reset_registers(&mut self) {
        self.bytes = [0; REGISTER_BYTES];
        self.bytes[0..2].copy_from_slice(&self.gcap.to_le_bytes());
        self.bytes[0x03] = 1; // VMAJ
        self.bytes[CORBSIZE] =
            self.ring_size_cap << 4 | if self.ring_size_read_only { 2 } else { 0 };
        self.bytes[RIRBSIZE] = self.bytes[CORBSIZE];
        self.corb_rp = 0;
        self.corbrp_reset = false;
        self.corb_dead = false;
        self.rirb_wp = 0;
        // QEMU's response counter survives a controller reset (hda.md §3.4).
        if !self.faults.qemu_rintcnt_trap {
            self.rirb_count = 0;
        }
        self.reset_streams();
        for codec in self.codecs.values_mut() {
            codec.reset();
        }
    }

    /// The controller and the link reset behind the driver's back (a glitch, firmware, a
    /// power transition): registers cleared, streams stopped, codecs reset.
    pub fn reset_behind_the_drivers_back(&mut self) {
        self.power_on();
    }

    pub(super) fn power_on(&mut self) {
        self.reset_registers();
        self.crst = true;
        self.bytes[GCTL] = 1;
        self.bytes[STATESTS] = self.codec_mask() as u8;
        self.bytes[STATESTS + 1] = (self.codec_mask() >> 8) as u8;
    }

    fn codec_mask(&self) -> u16 {
        self.codecs.keys().fold(0, |m, &cad| m | 1 << cad)
    }

    /// Applies events whose time has come.
    pub(super) fn settle(&mut self) {
        if let Some(at) = self.crst_leaves_at
            && self.now_us >= at
        {
            self.crst_leaves_at = None;
            self.crst = true;
            self.codecs_wake_at = Some(self.now_us + self.faults.codec_wake_delay_us);
        }
        if let Some(at) = self.codecs_wake_at
            && self.now_us >= at
        {
            self.codecs_wake_at = None;
            let mask = self.reg16(STATESTS) | self.codec_mask();
            self.bytes[STATESTS..STATESTS + 2].copy_from_slice(&mask.to_le_bytes());
        }
        self.settle_streams();
    }

    pub(super) fn read(&mut self, off: usize, size: usize) -> u32 {
        self.count_access();
        *self.reads.entry(off).or_default() += 1;
        if self.faults.gone {
            return u32::MAX >> (32 - 8 * size);
        }
        self.settle();
        let mut value = 0u32;
        for i in 0..size {
            value |= u32::from(self.read_byte(off + i)) << (8 * i);
        }
        value
    }

    fn read_byte(&mut self, off: usize) -> u8 {
        if off >= REGISTER_BYTES {
            return 0;
        }
        if let Some((sd, rel)) = self.sd_at(off) {
            return self.sd_read_byte(sd, rel);
        }
        match off {
            GCTL => self.bytes[GCTL] & !1 | u8::from(self.crst),
            INTSTS..=0x27 => (self.intsts() | self.faults.intsts_extra).to_le_bytes()[off - INTSTS],
            WALCLK..=0x33 => {
                let clock = self.wallclock_start.wrapping_add((self.now_us * 24) as u32);
                clock.to_le_bytes()[off - WALCLK]
            }
            CORBRP => self.corb_rp as u8,
            0x4b => {
                let shown = self.corbrp_reset && !self.faults.corbrp_never_reads_one;
                if shown && self.faults.corbrp_self_clears {
                    self.corbrp_reset = false;
                }
                u8::from(shown) << 7
            }
            CORBCTL if self.faults.corbrun_never_reads_one => self.bytes[CORBCTL] & !2,
            RIRBWP => self.faults.rirbwp_reads.unwrap_or(self.rirb_wp) as u8,
            0x59 => (self.faults.rirbwp_reads.unwrap_or(0) >> 8) as u8,
            _ => self.bytes[off],
        }
    }

    pub(super) fn write(&mut self, off: usize, size: usize, value: u32) {
        self.count_access();
        if self.faults.gone {
            return;
        }
        self.settle();
        // In reset, only GCTL responds (QEMU's model takes every write).
        if !self.crst && off != GCTL && !self.faults.statests_on_reset_entry {
            return;
        }
        let covers_sts = size > 1 && (0..size).any(|i| matches!(self.sd_at(off + i), Some((_, 3))));
        if covers_sts {
            self.violation(format!(
                "{size}-byte write of {value:#x} at {off:#x} covers an SDnSTS \
                 (acknowledges or sets its status bits)"
            ));
        } else if let Some(problem) = self.write_target_problem(off, size) {
            self.violation(format!(
                "{size}-byte write of {value:#x} at {off:#x}: {problem}"
            ));
        }
        let old: Vec<u8> = (0..size)
            .map(|i| self.bytes.get(off + i).copied().unwrap_or(0))
            .collect();
        for i in 0..size {
            let at = off + i;
            if at >= REGISTER_BYTES {
                continue;
            }
            let v = (value >> (8 * i)) as u8;
            let (rw, w1c) = self.masks(at);
            self.bytes[at] = (self.bytes[at] & !rw | v & rw) & !(v & w1c);
        }
        for (i, old) in old.into_iter().enumerate() {
            self.after_write(off + i, old, (value >> (8 * i)) as u8);
        }
    }

    /// Why a write of `size` bytes at `off` hits no writable register, if it does not.
    fn write_target_problem(&self, off: usize, size: usize) -> Option<&'static str> {
        const GLOBAL: [(usize, usize, bool); 33] = [
            // (offset, size, writable)
            (0x00, 2, false),
            (0x02, 1, false),
            (0x03, 1, false),
            (0x04, 2, false),
            (0x06, 2, false),
            (0x08, 4, true),
            (0x0c, 2, true),
            (0x0e, 2, true),
            (0x10, 2, false),
            (0x20, 4, true),
            (0x24, 4, false),
            (0x30, 4, false),
            (0x38, 4, true),
            (0x40, 4, true),
            (0x44, 4, true),
            (0x48, 2, true),
            (0x4a, 2, true),
            (0x4c, 1, true),
            (0x4d, 1, true),
            (0x4e, 1, true),
            (0x50, 4, true),
            (0x54, 4, true),
            (0x58, 2, true),
            (0x5a, 2, true),
            (0x5c, 1, true),
            (0x5d, 1, true),
            (0x5e, 1, true),
            (0x60, 4, true),
            (0x64, 4, false),
            (0x68, 2, true),
            (0x70, 4, true),
            (0x74, 4, true),
            (0x34, 4, true),
        ];
        const STREAM: [(usize, usize, bool); 11] = [
            (0x00, 3, true),
            (0x03, 1, true),
            (0x04, 4, false),
            (0x08, 4, true),
            (0x0c, 2, true),
            (0x0e, 2, true),
            (0x10, 2, false),
            (0x12, 2, true),
            (0x18, 4, true),
            (0x1c, 4, true),
            (0x14, 4, false),
        ];
        let (table, rel): (&[(usize, usize, bool)], usize) = match self.sd_at(off) {
            Some((_, rel)) => (&STREAM, rel),
            None if off < 0x80 => (&GLOBAL, off),
            None => return Some("no register there"),
        };
        match table
            .iter()
            .find(|&&(at, len, _)| (at..at + len).contains(&rel))
        {
            None => Some("no register there"),
            Some(&(at, len, _)) if rel + size > at + len => Some("crosses a register boundary"),
            Some(&(_, _, false)) => Some("read-only register"),
            Some(_) => None,
        }
    }

    /// Side effects of writing byte `value` at `off` (which held `old`).
    fn after_write(&mut self, off: usize, old: u8, value: u8) {
        if let Some((sd, rel)) = self.sd_at(off) {
            self.sd_written(sd, rel, old, value);
            return;
        }
        match off {
            GCTL => self.gctl_written(),
            CORBLBASE => self.check_alignment("CORBLBASE", value & 0x7f),
            RIRBLBASE => self.check_alignment("RIRBLBASE", value & 0x7f),
            DPLBASE => self.check_alignment("DPLBASE", value & 0x7e),
            CORBWP => self.run_corb(),
            0x4b => {
                self.corbrp_reset = value & 0x80 != 0;
                if self.corbrp_reset {
                    self.corb_rp = 0;
                }
            }
            CORBCTL => self.run_corb(),
            0x59 if value & 0x80 != 0 => self.rirb_wp = 0,
            RIRBSTS if old & 1 != 0 && value & 1 != 0 => {
                self.rirb_count = 0;
                self.run_corb();
            }
            ICIS if value & 1 != 0 => self.immediate_command(),
            _ => {}
        }
        if UPPER_BASES.iter().any(|&b| (b..b + 4).contains(&off)) && !self.has_64ok() && value != 0
        {
            self.violation(format!("upper address register {off:#x} set without 64OK"));
        }
    }

    fn gctl_written(&mut self) {
        let want = self.bytes[GCTL] & 1 != 0;
        if !want && self.crst && !self.faults.crst_never_enters {
            let gctl = self.bytes[GCTL];
            self.reset_registers();
            self.bytes[GCTL] = gctl;
            self.crst = false;
            self.crst_leaves_at = None;
            self.codecs_wake_at = None;
            if self.faults.statests_on_reset_entry {
                let mask = self.codec_mask();
                self.bytes[STATESTS..STATESTS + 2].copy_from_slice(&mask.to_le_bytes());
            }
        } else if want
            && !self.crst
            && self.crst_leaves_at.is_none()
            && !self.faults.crst_never_leaves
        {
            self.crst_leaves_at = Some(self.now_us + self.faults.crst_leave_delay_us);
        }
    }

    fn corb_running(&self) -> bool {
        self.bytes[CORBCTL] & 2 != 0
    }

    fn rirb_running(&self) -> bool {
        self.bytes[RIRBCTL] & 2 != 0
    }

    /// Fetches verbs from the CORB up to CORBWP and answers them into the RIRB.
    fn run_corb(&mut self) {
        if !self.corb_running() || self.faults.corb_stalls || self.corb_dead {
            return;
        }
        let entries = ring_entries(self.bytes[CORBSIZE]);
        let wp = u16::from(self.bytes[CORBWP]);
        if wp >= entries {
            self.violation(format!("CORBWP {wp} outside a {entries}-entry CORB"));
            return;
        }
        while self.corb_rp != wp {
            if self.faults.qemu_rintcnt_trap && self.rirb_count == u32::from(self.bytes[RINTCNT]) {
                return;
            }
            if self.faults.corb_memory_error {
                self.faults.corb_memory_error = false;
                self.bytes[CORBSTS] |= 1;
                self.corb_dead = true;
                return;
            }
            self.corb_rp = (self.corb_rp + 1) % entries;
            let at = self.base64(CORBLBASE) + u64::from(self.corb_rp) * 4;
            let mut word = [0; 4];
            if !self.memory.read(at, &mut word) {
                self.violation(format!("CORB fetch from unallocated memory at {at:#x}"));
                self.corb_dead = true;
                return;
            }
            if let Some((cad, response)) = self.codec_answer(u32::from_le_bytes(word)) {
                for (early, ex) in std::mem::take(&mut self.before_next_answer) {
                    self.push_response(early, ex);
                }
                self.push_response(response, u32::from(cad));
            }
        }
    }

    /// The answer of the addressed codec, or `None` if it is absent or dead.
    fn codec_answer(&mut self, word: u32) -> Option<(u8, u32)> {
        let cad = (word >> 28) as u8;
        let nid = ((word >> 20) & 0x7f) as u8;
        if word & 1 << 27 != 0 {
            self.violation(format!("verb {word:#010x} has the indirect-NID bit set"));
            return None;
        }
        let codec = self.codecs.get_mut(&cad).filter(|c| !c.dead)?;
        let response = codec.answer(nid, word & 0xf_ffff);
        let from = if self.faults.wrong_codec_address {
            cad ^ 1
        } else {
            cad
        };
        Some((from, response))
    }

    /// Writes one RIRB entry (`ex`: codec address in 3:0, bit 4 unsolicited).
    fn push_response(&mut self, response: u32, ex: u32) {
        if !self.rirb_running() {
            return;
        }
        if self.faults.rirb_overrun_next && ex & 0x10 == 0 {
            self.faults.rirb_overrun_next = false;
            self.bytes[RIRBSTS] |= 0x04;
            return;
        }
        let entries = ring_entries(self.bytes[RIRBSIZE]);
        self.rirb_wp = (self.rirb_wp + 1) % entries;
        let at = self.base64(RIRBLBASE) + u64::from(self.rirb_wp) * 8;
        let mut entry = [0u8; 8];
        entry[..4].copy_from_slice(&response.to_le_bytes());
        entry[4..].copy_from_slice(&ex.to_le_bytes());
        if !self.memory.write(at, &entry) {
            self.violation(format!("RIRB write to unallocated memory at {at:#x}"));
        }
        self.rirb_count += 1;
        let threshold = match self.bytes[RINTCNT] {
            0 if !self.faults.qemu_rintcnt_trap => 256,
            n => u32::from(n),
        };
        // QEMU also raises RINTFL whenever the CORB has run empty, whatever the count: a
        // driver that acknowledges it after each verb brings the count back to 0 each time.
        let corb_empty =
            self.faults.qemu_rintcnt_trap && self.corb_rp == u16::from(self.bytes[CORBWP]);
        if self.rirb_count >= threshold || corb_empty {
            if self.bytes[RIRBCTL] & 1 != 0 {
                self.bytes[RIRBSTS] |= 1;
            }
            if !self.faults.qemu_rintcnt_trap {
                self.rirb_count = 0;
            }
        }
    }

    /// A codec sends an unsolicited response (dropped unless GCTL.UNSOL is set).
    pub fn unsolicited(&mut self, cad: u8, response: u32) {
        if self.bytes[GCTL + 1] & 1 != 0 {
            self.push_response(response, u32::from(cad) | 0x10);
        }
    }

    /// A codec joins the link at run time and asks for an address.
    pub fn hot_plug(&mut self, cad: u8) {
        self.codecs.insert(cad, super::ModelCodec::new());
        let mask = self.reg16(STATESTS) | 1 << cad;
        self.bytes[STATESTS..STATESTS + 2].copy_from_slice(&mask.to_le_bytes());
    }

    /// A raw RIRB entry, whatever GCTL.UNSOL says (hostile or buggy hardware).
    pub fn inject_response(&mut self, response: u32, ex: u32) {
        self.push_response(response, ex);
    }

    fn immediate_command(&mut self) {
        if self.corb_running() || self.rirb_running() {
            self.violation("immediate command while CORB/RIRB DMA runs".into());
        }
        self.bytes[ICIS] |= 1;
        if self.faults.icb_stuck {
            return;
        }
        let word = self.reg32(ICOI);
        // An absent codec leaves ICB set for good, as on QEMU.
        if let Some((cad, response)) = self.codec_answer(word) {
            self.set32(IRII, response);
            self.bytes[ICIS] = self.bytes[ICIS] & !0xf1 | 0x02 | cad << 4;
        }
    }

    /// INTSTS from the current state: SIS per stream, CIS, GIS.
    fn intsts(&self) -> u32 {
        let mut sts = self.stream_interrupts();
        let cis = self.bytes[RIRBSTS] & 1 != 0 && self.bytes[RIRBCTL] & 1 != 0
            || self.bytes[RIRBSTS] & 4 != 0 && self.bytes[RIRBCTL] & 4 != 0
            || self.bytes[CORBSTS] & 1 != 0 && self.bytes[CORBCTL] & 1 != 0
            || self.reg16(STATESTS) & self.reg16(WAKEEN) != 0;
        if cis {
            sts |= 1 << 30;
        }
        if sts != 0 {
            sts |= 1 << 31;
        }
        sts
    }

    /// The interrupt line: GIE and an enabled source pending.
    pub fn irq_line(&self) -> bool {
        let (ctl, sts) = (self.reg32(INTCTL), self.intsts());
        ctl & 1 << 31 != 0 && sts & ctl & 0x4000_00ff != 0
    }

    /// What the codec at `cad` has been sent, if anything.
    pub fn verbs_sent(&self) -> usize {
        self.codecs.values().map(|c| c.verbs.len()).sum()
    }

    /// DMA engines that would still touch `base..base+len`.
    pub(super) fn engines_reaching(&self, base: u64, len: usize) -> Vec<String> {
        let inside = |addr: u64| addr >= base && addr < base + len as u64;
        let mut engines = Vec::new();
        if self.corb_running() && inside(self.base64(CORBLBASE)) {
            engines.push("the CORB".to_string());
        }
        if self.rirb_running() && inside(self.base64(RIRBLBASE)) {
            engines.push("the RIRB".to_string());
        }
        if self.bytes[DPLBASE] & 1 != 0 && inside(self.base64(DPLBASE)) {
            engines.push("the position buffer".to_string());
        }
        engines.extend(self.streams_reaching(base, len));
        engines
    }

    /// CORB entries the controller uses, from the size code the driver programmed.
    pub fn corb_entries(&self) -> u16 {
        ring_entries(self.bytes[CORBSIZE])
    }

    pub fn rirb_entries(&self) -> u16 {
        ring_entries(self.bytes[RIRBSIZE])
    }

    pub fn in_reset(&self) -> bool {
        !self.crst
    }

    pub fn register(&self, off: usize) -> u32 {
        self.reg32(off)
    }
}
