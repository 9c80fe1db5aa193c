//! Intel High Definition Audio controller and codec driver, over small register, DMA and
//! clock traits.
//!
//! Layers, each testable alone: register access ([`regs`]) → command transport
//! ([`controller`]: CORB/RIRB, with the immediate command interface as fallback) → codec
//! graph ([`codec`]) → path finding → streams. Only [`mmio`] touches hardware, and only it
//! may use `unsafe`.

#![no_std]
#![deny(unsafe_code)]

pub mod codec;
pub mod controller;
pub mod device;
mod immediate;
pub mod mmio;
pub mod pci;
pub mod regs;
pub mod stream;
pub mod verb;
pub mod wallclock;

pub use controller::{Controller, Error};
pub use regs::{Clock, DmaRegion, Registers};
