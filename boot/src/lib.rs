//! The unikernel runtime: boot entries, CPU and memory setup, interrupts, timers, PCI,
//! console, and the real Xen interfaces behind the `xen-ring` traits.

#![no_std]
