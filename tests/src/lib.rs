//! Support for the end-to-end tests: the simulated Xen host, the QEMU harness, WAV analysis.

pub mod log;
pub mod qemu;
pub mod sim;
pub mod wav;
