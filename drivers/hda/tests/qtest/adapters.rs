//! The driver's platform traits over a qtest machine: BAR0 registers, a clock that is
//! QEMU's virtual clock, and DMA regions in guest RAM.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hda::device::DmaAlloc;
use hda::{Clock, DmaRegion, Registers};

use super::{BAR0, DMA_END, DMA_START, Link};

/// A register write the driver made: access width in bytes, offset in BAR0, value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write {
    pub width: u8,
    pub offset: u32,
    pub value: u32,
}

/// BAR0 through qtest MMIO accesses of the access's own width; optionally records every
/// write, for tests about how the driver touches a register.
pub struct QRegs {
    link: Link,
    log: Option<Rc<RefCell<Vec<Write>>>>,
}

impl QRegs {
    pub fn new(link: Link) -> QRegs {
        QRegs { link, log: None }
    }

    pub fn logged(link: Link, log: Rc<RefCell<Vec<Write>>>) -> QRegs {
        QRegs {
            link,
            log: Some(log),
        }
    }

    fn record(&self, width: u8, offset: u32, value: u32) {
        if let Some(log) = &self.log {
            log.borrow_mut().push(Write {
                width,
                offset,
                value,
            });
        }
    }
}

impl Registers for QRegs {
    fn read8(&mut self, offset: u32) -> u8 {
        self.link.borrow_mut().readb(BAR0 + u64::from(offset))
    }
    fn read16(&mut self, offset: u32) -> u16 {
        self.link.borrow_mut().readw(BAR0 + u64::from(offset))
    }
    fn read32(&mut self, offset: u32) -> u32 {
        self.link.borrow_mut().readl(BAR0 + u64::from(offset))
    }
    fn write8(&mut self, offset: u32, value: u8) {
        self.record(1, offset, value.into());
        self.link
            .borrow_mut()
            .writeb(BAR0 + u64::from(offset), value)
    }
    fn write16(&mut self, offset: u32, value: u16) {
        self.record(2, offset, value.into());
        self.link
            .borrow_mut()
            .writew(BAR0 + u64::from(offset), value)
    }
    fn write32(&mut self, offset: u32, value: u32) {
        self.record(4, offset, value);
        self.link
            .borrow_mut()
            .writel(BAR0 + u64::from(offset), value)
    }
}

/// WALCLK ticks per microsecond (24 MHz).
const TICKS_PER_US: u64 = 24;
/// A WALCLK value this close below 2^32 followed by a smaller one is a wrap; anything else
/// going back is a controller reset, which restarts WALCLK at 0 in QEMU.
const WRAP_WINDOW: u32 = 10 * 1_000_000 * 24;

/// QEMU's virtual clock, read through the controller's 24 MHz wall clock (WALCLK).
///
/// Without the qtest accelerator there is no `clock_step`; WALCLK is the virtual clock ×
/// 24/1000, so timeouts are measured in the device model's own time, also under `-icount`.
///
/// A WALCLK that stops (BAR0 not decoding) would make every wait endless: after a second of
/// host time without a tick the clock panics instead.
pub struct QClock {
    link: Link,
    last: u32,
    ticks: u64,
    last_change: Instant,
}

impl QClock {
    pub fn new(link: Link) -> QClock {
        let last = link.borrow_mut().readl(BAR0 + 0x30);
        QClock {
            link,
            last,
            ticks: 0,
            last_change: Instant::now(),
        }
    }
}

impl Clock for QClock {
    fn now_us(&mut self) -> u64 {
        let now = self.link.borrow_mut().readl(BAR0 + 0x30);
        if now != self.last {
            self.last_change = Instant::now();
        } else if self.last_change.elapsed() > Duration::from_secs(1) {
            panic!("WALCLK stuck at {now:#x}: is BAR0 decoding?");
        }
        self.ticks += u64::from(if now >= self.last {
            now - self.last
        } else if self.last > u32::MAX - WRAP_WINDOW {
            now.wrapping_sub(self.last)
        } else {
            now
        });
        self.last = now;
        self.ticks / TICKS_PER_US
    }

    fn delay_us(&mut self, us: u32) {
        let end = self.now_us() + u64::from(us);
        while self.now_us() < end {}
    }
}

/// The host's clock, for tests where BAR0 (and so WALCLK) does not answer.
pub struct HostClock(Instant);

impl HostClock {
    pub fn new() -> HostClock {
        HostClock(Instant::now())
    }
}

impl Clock for HostClock {
    fn now_us(&mut self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }

    fn delay_us(&mut self, us: u32) {
        std::thread::sleep(Duration::from_micros(us.into()));
    }
}

/// A piece of guest RAM.
pub struct QDma {
    link: Link,
    phys: u64,
    len: usize,
}

impl QDma {
    fn check(&self, offset: usize, len: usize) {
        assert!(
            offset + len <= self.len,
            "DMA access {offset:#x}+{len:#x} outside a region of {:#x} bytes",
            self.len
        );
    }
}

impl DmaRegion for QDma {
    fn phys(&self) -> u64 {
        self.phys
    }
    fn len(&self) -> usize {
        self.len
    }
    fn read(&self, offset: usize, buf: &mut [u8]) {
        self.check(offset, buf.len());
        self.link
            .borrow_mut()
            .mem_read(self.phys + offset as u64, buf)
    }
    fn write(&mut self, offset: usize, data: &[u8]) {
        self.check(offset, data.len());
        self.link
            .borrow_mut()
            .mem_write(self.phys + offset as u64, data)
    }
}

/// Hands out guest RAM from [`DMA_START`] up, never reused.
pub struct QAlloc {
    link: Link,
    next: u64,
}

impl QAlloc {
    pub fn new(link: Link) -> QAlloc {
        QAlloc {
            link,
            next: DMA_START,
        }
    }
}

impl DmaAlloc for QAlloc {
    type Region = QDma;

    fn alloc(&mut self, bytes: usize, align: usize) -> Option<QDma> {
        let align = align.max(128) as u64;
        let phys = self.next.div_ceil(align) * align;
        if phys + bytes as u64 > DMA_END {
            return None;
        }
        self.next = phys + bytes as u64;
        self.link.borrow_mut().memset(phys, bytes, 0);
        Some(QDma {
            link: self.link.clone(),
            phys,
            len: bytes,
        })
    }
}
