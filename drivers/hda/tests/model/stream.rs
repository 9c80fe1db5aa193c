//! Stream descriptors: SDnCTL reset and RUN (with read-back faults), a DMA engine that walks
//! the BDL as simulated time passes (playback bytes are collected, capture bytes come from
//! a known pattern), BCIS/FIFOE/DESE, LPIB and the DMA position buffer. Starting a stream
//! checks what real hardware relies on and QEMU does not (hda.md §3.7).

use super::Hw;
use super::controller::DPLBASE;

const CTL_SRST: u8 = 1 << 0;
const CTL_RUN: u8 = 1 << 1;
const STS_BCIS: u8 = 1 << 2;
const STS_FIFOE: u8 = 1 << 3;
const STS_DESE: u8 = 1 << 4;
/// SDnFIFOS: what this model's FIFO holds (bytes - 1).
const FIFOS: u16 = 0xff;

/// Byte `k` of what a capture stream records: a pattern with no short period, so a byte
/// read from the wrong place shows.
pub fn capture_byte(k: u64) -> u8 {
    (k.wrapping_mul(7) % 251) as u8
}

/// One buffer descriptor.
#[derive(Clone, Copy)]
struct Bde {
    address: u64,
    length: u32,
    ioc: bool,
}

#[derive(Default)]
pub struct SdEngine {
    /// The DMA is moving.
    pub running: bool,
    /// RUN as the driver reads it, and a change still to show.
    run_shown: bool,
    run_change: Option<(bool, u64)>,
    srst_seen: bool,
    frozen: bool,
    bdl: Vec<Bde>,
    entry: usize,
    entry_offset: u32,
    lpib: u32,
    /// LPIB still shows the value from before the reset (QEMU), until the DMA moves.
    lpib_stale: bool,
    credit: u64,
    /// Every byte a playback stream fetched.
    pub played: Vec<u8>,
    /// Bytes a capture stream has written.
    pub captured: u64,
}

/// Writable and W1C bits of descriptor byte `rel`.
pub(super) fn masks(rel: usize) -> (u8, u8) {
    match rel {
        0x00 => (0x1f, 0),
        0x02 => (0xff, 0),
        0x03 => (0, STS_BCIS | STS_FIFOE | STS_DESE),
        0x08..=0x0c => (0xff, 0),
        0x0e => (0x07, 0),
        0x12 | 0x13 => (0xff, 0),
        0x18 => (0x80, 0),
        0x19..=0x1f => (0xff, 0),
        _ => (0, 0),
    }
}

/// Bytes per second and bytes per frame of a format word.
fn format_rate(fmt: u16) -> (u64, u64) {
    let base = if fmt & 1 << 14 != 0 { 44_100 } else { 48_000 };
    let rate = base * (u64::from(fmt >> 11 & 7) + 1) / (u64::from(fmt >> 8 & 7) + 1);
    let container = match fmt >> 4 & 7 {
        0 => 1,
        1 => 2,
        _ => 4,
    };
    let frame = container * (u64::from(fmt & 0xf) + 1);
    (rate * frame, frame)
}

impl Hw {
    fn descriptors(&self) -> usize {
        usize::from(self.gcap >> 12)
            + usize::from(self.gcap >> 8 & 0xf)
            + usize::from(self.gcap >> 3 & 0x1f)
    }

    fn inputs(&self) -> usize {
        usize::from(self.gcap >> 8 & 0xf)
    }

    pub(super) fn sd_base(n: usize) -> usize {
        0x80 + 0x20 * n
    }

    /// The descriptor and register offset within it, for a BAR offset.
    pub(super) fn sd_at(&self, off: usize) -> Option<(usize, usize)> {
        let n = off.checked_sub(0x80)? / 0x20;
        (n < self.descriptors().min(self.streams.len())).then_some((n, (off - 0x80) % 0x20))
    }

    pub(super) fn reset_streams(&mut self) {
        for n in 0..self.streams.len() {
            let old = std::mem::take(&mut self.streams[n]);
            self.streams[n] = SdEngine {
                played: old.played,
                captured: old.captured,
                ..SdEngine::default()
            };
            let b = Self::sd_base(n);
            self.set8(b + 0x10, FIFOS as u8);
        }
    }

    pub(super) fn sd_read_byte(&mut self, n: usize, rel: usize) -> u8 {
        let b = Self::sd_base(n);
        let engine = &self.streams[n];
        match rel {
            0 => {
                let stored = self.reg8(b);
                let srst = stored & CTL_SRST != 0 && !self.faults.srst_never_reads_one
                    || self.faults.srst_stuck && engine.srst_seen;
                stored & !(CTL_SRST | CTL_RUN)
                    | u8::from(srst)
                    | if engine.run_shown { CTL_RUN } else { 0 }
            }
            4..=7 => engine.lpib.to_le_bytes()[rel - 4],
            _ => self.reg8(b + rel),
        }
    }

    pub(super) fn sd_written(&mut self, n: usize, rel: usize, old: u8, value: u8) {
        let b = Self::sd_base(n);
        match rel {
            0 => {
                let new = self.reg8(b);
                if new & CTL_SRST != 0 {
                    if old & CTL_SRST == 0 {
                        if self.streams[n].running {
                            self.violation(format!("SD{n}: SRST set while the DMA runs"));
                        }
                        self.reset_stream(n);
                    }
                    return;
                }
                match (old & CTL_RUN != 0, new & CTL_RUN != 0) {
                    (false, true) => self.start_stream(n),
                    (true, false) => self.stop_stream(n),
                    _ => {}
                }
            }
            0x18 => self.check_alignment(&format!("SD{n}BDPL"), value & 0x7f),
            _ => {}
        }
    }

    fn reset_stream(&mut self, n: usize) {
        let b = Self::sd_base(n);
        let survive = self.faults.sd_registers_survive_reset;
        // What reached the speaker (or came from the microphone) stays on record.
        let old = std::mem::take(&mut self.streams[n]);
        self.streams[n] = SdEngine {
            srst_seen: true,
            lpib: if survive { old.lpib } else { 0 },
            lpib_stale: survive,
            played: old.played,
            captured: old.captured,
            ..SdEngine::default()
        };
        // SRST clears the tag and status; QEMU leaves the rest, hardware clears it.
        self.set8(b + 1, 0);
        self.set8(b + 2, 0);
        self.set8(b + 3, 0);
        if !survive {
            for rel in 8..0x20 {
                self.set8(b + rel, 0);
            }
            self.set8(b + 0x10, FIFOS as u8);
        }
    }

    fn show_run(&mut self, n: usize, value: bool) {
        let delay = self.faults.run_readback_delay_us;
        if delay == 0 {
            self.streams[n].run_shown = value;
            self.streams[n].running = value;
        } else {
            self.streams[n].run_change = Some((value, self.now_us + delay));
        }
    }

    fn stop_stream(&mut self, n: usize) {
        if self.faults.run_never_clears {
            return;
        }
        self.show_run(n, false);
    }

    fn start_stream(&mut self, n: usize) {
        let b = Self::sd_base(n);
        let cbl = self.reg32(b + 8);
        let lvi = usize::from(self.reg8(b + 0xc));
        let tag = self.reg8(b + 2) >> 4;
        let fmt = self.reg16(b + 0x12);
        let bdl_at = u64::from(self.reg32(b + 0x1c)) << 32 | u64::from(self.reg32(b + 0x18));
        let mut problems = Vec::new();
        if lvi < 1 {
            problems.push(format!("LVI {lvi}: fewer than 2 BDL entries"));
        }
        if tag == 0 {
            problems.push("stream tag 0".to_string());
        }
        let mut bdl = Vec::new();
        for i in 0..=lvi {
            let mut raw = [0u8; 16];
            if !self.memory.read(bdl_at + 16 * i as u64, &mut raw) {
                self.violation(format!("SD{n}: BDL at {bdl_at:#x} not in memory"));
                return;
            }
            let word = |r: std::ops::Range<usize>| {
                u64::from_le_bytes({
                    let mut w = [0u8; 8];
                    w[..r.len()].copy_from_slice(&raw[r]);
                    w
                })
            };
            bdl.push(Bde {
                address: word(0..8),
                length: word(8..12) as u32,
                ioc: word(12..16) & 1 != 0,
            });
        }
        let sum: u64 = bdl.iter().map(|e| u64::from(e.length)).sum();
        if sum != u64::from(cbl) {
            problems.push(format!("CBL {cbl} is not the BDL's sum {sum}"));
        }
        if !self.has_64ok()
            && (bdl_at >= 1 << 32
                || bdl
                    .iter()
                    .any(|e| e.address + u64::from(e.length) > 1 << 32))
        {
            problems.push("DMA address above 4 GiB without 64OK".to_string());
        }
        for (other, engine) in self.streams.iter().enumerate() {
            if other != n && engine.running && self.reg8(Self::sd_base(other) + 2) >> 4 == tag {
                problems.push(format!("tag {tag} already used by SD{other}"));
            }
        }
        let input = n < self.inputs();
        for codec in self.codecs.values() {
            let converter = codec
                .stream_tag
                .iter()
                .find(|&(&nid, &t)| t == tag && (nid == super::codec::ADC) == input)
                .map(|(&nid, _)| nid);
            if let Some(nid) = converter
                && codec.format.get(&nid) != Some(&fmt)
            {
                problems.push(format!(
                    "SDnFMT {fmt:#06x} differs from converter {nid}'s format {:?}",
                    codec.format.get(&nid)
                ));
            }
        }
        for p in problems {
            self.violation(format!("SD{n} started with {p}"));
        }
        let engine = &mut self.streams[n];
        if engine.bdl.is_empty() {
            engine.entry = 0;
            engine.entry_offset = 0;
        }
        engine.bdl = bdl;
        self.show_run(n, true);
    }

    pub(super) fn settle_streams(&mut self) {
        let now = self.now_us;
        for engine in &mut self.streams {
            if let Some((value, at)) = engine.run_change
                && now >= at
            {
                engine.run_change = None;
                engine.run_shown = value;
                engine.running = value;
            }
        }
    }

    /// Moves `us` microseconds' worth of data on every running stream.
    pub(super) fn run_streams(&mut self, us: u64) {
        for n in 0..self.streams.len() {
            if !self.streams[n].running || self.streams[n].frozen || self.streams[n].bdl.is_empty()
            {
                continue;
            }
            let b = Self::sd_base(n);
            if std::mem::take(&mut self.faults.descriptor_error) {
                self.set8(b + 3, self.reg8(b + 3) | STS_DESE);
                self.streams[n].frozen = true;
                continue;
            }
            if std::mem::take(&mut self.faults.fifo_error) {
                self.set8(b + 3, self.reg8(b + 3) | STS_FIFOE);
            }
            if self.faults.bcis_storm {
                self.set8(b + 3, self.reg8(b + 3) | STS_BCIS);
            }
            let (bytes_per_s, frame) = format_rate(self.reg16(b + 0x12));
            let engine = &mut self.streams[n];
            engine.credit += us * bytes_per_s;
            let mut bytes = engine.credit / 1_000_000;
            bytes -= bytes % frame;
            engine.credit -= bytes * 1_000_000;
            self.dma_transfer(n, bytes);
            if self.reg8(DPLBASE) & 1 != 0 {
                let slot = (u64::from(self.reg32(DPLBASE + 4)) << 32
                    | u64::from(self.reg32(DPLBASE) & !0x7f))
                    + 8 * n as u64;
                let value = self.faults.posbuf_stuck.unwrap_or(self.streams[n].lpib);
                if !self.memory.write(slot, &value.to_le_bytes()) {
                    self.violation(format!("position buffer write to unallocated {slot:#x}"));
                }
            }
        }
    }

    fn dma_transfer(&mut self, n: usize, mut bytes: u64) {
        let b = Self::sd_base(n);
        let cbl = self.reg32(b + 8).max(1);
        let input = n < self.inputs();
        let mut empty_entries = 0;
        while bytes > 0 && empty_entries <= self.streams[n].bdl.len() {
            let engine = &mut self.streams[n];
            let entry = engine.bdl[engine.entry];
            let chunk = u64::from(entry.length - engine.entry_offset).min(bytes) as usize;
            if chunk == 0 {
                empty_entries += 1;
            } else {
                empty_entries = 0;
            }
            let at = entry.address + u64::from(engine.entry_offset);
            let ok = if input {
                let data: Vec<u8> = (0..chunk as u64)
                    .map(|k| capture_byte(engine.captured + k))
                    .collect();
                engine.captured += chunk as u64;
                self.memory.write(at, &data)
            } else {
                let mut data = vec![0; chunk];
                let ok = self.memory.read(at, &mut data);
                engine.played.extend_from_slice(&data);
                ok
            };
            if !ok {
                self.violation(format!("SD{n}: DMA to unallocated memory at {at:#x}"));
                self.streams[n].frozen = true;
                return;
            }
            let engine = &mut self.streams[n];
            if std::mem::take(&mut engine.lpib_stale) {
                engine.lpib = 0;
            }
            engine.entry_offset += chunk as u32;
            engine.lpib = ((u64::from(engine.lpib) + chunk as u64) % u64::from(cbl)) as u32;
            bytes -= chunk as u64;
            if engine.entry_offset == entry.length {
                engine.entry = (engine.entry + 1) % engine.bdl.len();
                engine.entry_offset = 0;
                if entry.ioc && !self.faults.no_bcis {
                    self.set8(b + 3, self.reg8(b + 3) | STS_BCIS);
                }
            }
        }
    }

    /// SIS bits: streams with a status bit whose interrupt is enabled in SDnCTL.
    pub(super) fn stream_interrupts(&self) -> u32 {
        (0..self.descriptors().min(self.streams.len())).fold(0, |sis, n| {
            let b = Self::sd_base(n);
            let (ctl, sts) = (self.reg8(b), self.reg8(b + 3));
            // IOCE, FEIE and DEIE sit at the same bit positions as BCIS, FIFOE and DESE.
            if ctl & sts & (STS_BCIS | STS_FIFOE | STS_DESE) != 0 {
                sis | 1 << n
            } else {
                sis
            }
        })
    }

    pub(super) fn streams_reaching(&self, base: u64, len: usize) -> Vec<String> {
        let end = base + len as u64;
        let mut engines = Vec::new();
        for (n, engine) in self.streams.iter().enumerate() {
            if !engine.running {
                continue;
            }
            let b = Self::sd_base(n);
            let bdl_at = u64::from(self.reg32(b + 0x1c)) << 32 | u64::from(self.reg32(b + 0x18));
            let touches = (base..end).contains(&bdl_at)
                || engine
                    .bdl
                    .iter()
                    .any(|e| e.address < end && e.address + u64::from(e.length) > base);
            if touches {
                engines.push(format!("running SD{n}"));
            }
        }
        engines
    }

    /// Every byte playback stream `n` has fetched so far.
    pub fn played(&self, n: usize) -> &[u8] {
        &self.streams[n].played
    }

    pub fn stream_running(&self, n: usize) -> bool {
        self.streams[n].running
    }
}
