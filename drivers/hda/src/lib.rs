//! Intel High Definition Audio controller and codec driver, over small register, DMA and
//! clock traits.
//!
//! Layers, each testable alone: register access ([`regs`]) → command transport
//! ([`controller`]: CORB/RIRB) → codec graph ([`codec`]) → path finding → streams. Only
//! [`mmio`] touches hardware, and only it may use `unsafe`.

#![no_std]
#![deny(unsafe_code)]

pub mod codec;
pub mod controller;
pub mod device;
pub mod mmio;
pub mod regs;
pub mod stream;
pub mod verb;

pub use controller::{Controller, Error};
pub use regs::{Clock, DmaRegion, Registers};
