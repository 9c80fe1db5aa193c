//! A clock for drivers' bounded waits, from the TSC.

use crate::console;

/// Microseconds since boot, and busy-waiting.
pub struct TscClock;

impl hda::Clock for TscClock {
    fn now_us(&mut self) -> u64 {
        console::uptime_us()
    }

    fn delay_us(&mut self, us: u32) {
        let end = console::uptime_us() + u64::from(us);
        while console::uptime_us() < end {
            core::hint::spin_loop();
        }
    }
}
