//! Period interrupts checked against the controller's wall clock (WALCLK: 24 MHz, 32 bits,
//! wraps every ~179 s). An IOC that comes sooner than two thirds of a period after the last
//! accepted one is early (a spurious or premature interrupt, hda.md §5): it is reported as
//! such so the caller looks at the position again later instead of refilling a period the
//! DMA has not finished. Differences are taken modulo 2^32, so the wrap is invisible.

/// WALCLK ticks per second.
pub const TICKS_PER_SECOND: u64 = 24_000_000;

/// What a period interrupt turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A period has elapsed.
    Elapsed,
    /// Too soon after the previous one: check the position again later.
    Early,
}

/// The wall-clock time of the last accepted period interrupt of one stream.
#[derive(Debug, Clone, Copy)]
pub struct PeriodClock {
    period_ticks: u32,
    last: Option<u32>,
}

impl PeriodClock {
    /// For periods of `period_bytes` at `bytes_per_second`.
    pub fn new(period_bytes: u32, bytes_per_second: u32) -> Self {
        let ticks = u64::from(period_bytes) * TICKS_PER_SECOND / u64::from(bytes_per_second.max(1));
        PeriodClock {
            period_ticks: ticks.min(u64::from(u32::MAX)) as u32,
            last: None,
        }
    }

    /// Classifies a period interrupt seen at wall-clock value `now`.
    pub fn interrupt(&mut self, now: u32) -> Period {
        match self.last {
            Some(last) if now.wrapping_sub(last) < self.period_ticks / 3 * 2 => Period::Early,
            _ => {
                self.last = Some(now);
                Period::Elapsed
            }
        }
    }

    /// The stream (re)starts at `now`: its first period ends one period later.
    pub fn start(&mut self, now: u32) {
        self.last = Some(now);
    }
}
