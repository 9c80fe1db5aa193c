//! A clock whose time only moves when the driver waits: every `delay_us` advances the
//! model (DMA, delayed read-backs), so a test's outcome does not depend on the host's speed,
//! and a wait that never calls `delay_us` shows up as a spinning driver.

use std::cell::RefCell;
use std::rc::Rc;

use hda::regs::Clock;

use super::Hw;

pub struct FakeClock {
    pub(super) hw: Rc<RefCell<Hw>>,
}

impl Clock for FakeClock {
    fn now_us(&mut self) -> u64 {
        let mut hw = self.hw.borrow_mut();
        hw.count_access();
        hw.now_us
    }
    fn delay_us(&mut self, us: u32) {
        self.hw.borrow_mut().advance(u64::from(us));
    }
}
