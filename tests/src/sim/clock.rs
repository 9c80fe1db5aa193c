//! The simulated host's monotonic clock, in microseconds, as a plain function: the backend
//! takes its clock as `fn() -> u64`, as the image passes its uptime. One per test thread.

use std::cell::Cell;

thread_local! {
    static NOW_US: Cell<u64> = const { Cell::new(0) };
}

/// The time now.
pub fn now_us() -> u64 {
    NOW_US.with(Cell::get)
}

/// Starts a new host at time 0 (one thread may run several tests' hosts in turn).
pub fn reset() {
    NOW_US.with(|now| now.set(0));
}

/// Sets the time (never backwards).
pub fn set_us(us: u64) {
    NOW_US.with(|now| now.set(now.get().max(us)));
}
