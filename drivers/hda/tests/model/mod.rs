//! A host model of an Intel HDA controller for the driver's tests: registers with their
//! reset values, write masks and W1C bits; CORB/RIRB and immediate-command engines; stream
//! descriptors that move data by DMA as simulated time passes; a position buffer; codecs
//! that answer verbs; simulated DMA memory and PCI configuration space; and a fault knob
//! for each way hardware is known to misbehave ([`Faults`]).
//!
//! The model also watches the driver: protocol mistakes (a 32-bit write over SDnSTS, a
//! CBL that is not the BDL's sum, an address above 4 GiB without 64OK, memory freed under
//! running DMA...) are recorded as violations, and every test ends with
//! [`Model::assert_clean`].

// Each test binary uses a different part of the model.
#![allow(dead_code, unused_imports)]

mod clock;
pub mod codec;
mod controller;
mod faults;
mod memory;
mod pci;
mod stream;

use std::cell::{RefCell, RefMut};
use std::collections::BTreeMap;
use std::rc::Rc;

pub use clock::FakeClock;
pub use codec::ModelCodec;
pub use controller::ModelRegs;
pub use faults::Faults;
pub use memory::{ModelDma, ModelRegion};
pub use pci::ModelConfigSpace;
pub use stream::capture_byte;

use memory::Memory;
use stream::SdEngine;

/// Register file size: the global registers and eight stream descriptors.
const REGISTER_BYTES: usize = 0x180;

/// The simulated hardware, shared by the handles the driver is given.
pub struct Hw {
    pub now_us: u64,
    pub faults: Faults,
    pub gcap: u16,
    /// CORBSIZE/RIRBSIZE bits 6:4 (SZCAP: bit 4 = 2, bit 5 = 16, bit 6 = 256 entries).
    pub ring_size_cap: u8,
    /// CORBSIZE/RIRBSIZE size bits are read-only (QEMU).
    pub ring_size_read_only: bool,
    pub codecs: BTreeMap<u8, ModelCodec>,
    pub streams: Vec<SdEngine>,
    pub memory: Memory,
    pub violations: Vec<String>,
    /// WALCLK at time 0 (to put a wrap where a test wants it).
    pub wallclock_start: u32,
    /// RIRB entries (response, ex) to write just before the next solicited response, so
    /// they land between a verb and its answer.
    pub before_next_answer: Vec<(u32, u32)>,
    bytes: [u8; REGISTER_BYTES],
    crst: bool,
    crst_leaves_at: Option<u64>,
    codecs_wake_at: Option<u64>,
    corb_rp: u16,
    corbrp_reset: bool,
    corb_dead: bool,
    rirb_wp: u16,
    rirb_count: u32,
    accesses_since_wait: u64,
    /// Register reads by offset, to check what the driver polls.
    pub reads: BTreeMap<usize, u64>,
}

impl Hw {
    pub fn violation(&mut self, what: String) {
        self.violations.push(what);
    }

    /// Checks the low bits of a base address write (the register drops them, so the
    /// written value is checked).
    pub(crate) fn check_alignment(&mut self, what: &str, low_bits: u8) {
        if low_bits != 0 {
            self.violation(format!("{what} is not 128-byte aligned"));
        }
    }

    /// A guard against drivers that poll without waiting through the clock: those would
    /// hang on real hardware that never answers, so fail the test instead of hanging it.
    pub(crate) fn count_access(&mut self) {
        if std::thread::panicking() {
            return; // the driver's Drop runs while a failed test unwinds
        }
        self.accesses_since_wait += 1;
        assert!(
            self.accesses_since_wait < 2_000_000,
            "driver polls without waiting through its Clock"
        );
    }

    /// Lets `us` microseconds of simulated time pass.
    pub fn advance(&mut self, us: u64) {
        self.accesses_since_wait = 0;
        self.now_us += us;
        self.settle();
        self.run_streams(us);
    }

    pub fn codec(&mut self, cad: u8) -> &mut ModelCodec {
        self.codecs.get_mut(&cad).expect("no such codec")
    }
}

/// The model and the handles to give the driver.
#[derive(Clone)]
pub struct Model {
    hw: Rc<RefCell<Hw>>,
}

impl Model {
    /// A healthy controller (4 input and 4 output streams, 64OK, 256-entry rings) with one
    /// codec at address 0, powered on and out of reset.
    pub fn new() -> Model {
        Model::with_codecs(&[0])
    }

    pub fn with_codecs(cads: &[u8]) -> Model {
        let hw = Hw {
            now_us: 0,
            faults: Faults::default(),
            gcap: 0x4401,
            ring_size_cap: 0b100,
            ring_size_read_only: false,
            codecs: cads.iter().map(|&c| (c, ModelCodec::new())).collect(),
            streams: (0..8).map(|_| SdEngine::default()).collect(),
            memory: Memory::default(),
            violations: Vec::new(),
            wallclock_start: 0,
            before_next_answer: Vec::new(),
            bytes: [0; REGISTER_BYTES],
            crst: true,
            crst_leaves_at: None,
            codecs_wake_at: None,
            corb_rp: 0,
            corbrp_reset: false,
            corb_dead: false,
            rirb_wp: 0,
            rirb_count: 0,
            accesses_since_wait: 0,
            reads: BTreeMap::new(),
        };
        let model = Model {
            hw: Rc::new(RefCell::new(hw)),
        };
        model.hw().power_on();
        model
    }

    pub fn hw(&self) -> RefMut<'_, Hw> {
        self.hw.borrow_mut()
    }

    pub fn regs(&self) -> ModelRegs {
        ModelRegs {
            hw: self.hw.clone(),
        }
    }

    pub fn clock(&self) -> FakeClock {
        FakeClock {
            hw: self.hw.clone(),
        }
    }

    pub fn dma(&self) -> ModelDma {
        ModelDma {
            hw: self.hw.clone(),
            above_4g: false,
            exhausted: false,
        }
    }

    /// Lets simulated time pass without the driver doing anything.
    pub fn advance_ms(&self, ms: u64) {
        // In 1 ms steps, so DMA, BCIS and the position buffer move as they would.
        for _ in 0..ms {
            self.hw().advance(1000);
        }
    }

    /// Fails the test if the driver broke a rule of the hardware.
    #[track_caller]
    pub fn assert_clean(&self) {
        let violations = &self.hw.borrow().violations;
        assert!(
            violations.is_empty(),
            "driver violated the hardware's rules: {violations:#?}"
        );
    }
}
