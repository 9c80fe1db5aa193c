//! Intel High Definition Audio controller and codec driver, over small register and DMA traits.
//!
//! Layers, each testable alone: register access → command transport → codec graph → path
//! finding (a pure function from a graph to verbs) → streams → the `audio-hal` traits.

#![no_std]
#![deny(unsafe_code)] // allowed only in the MMIO register module

pub mod codec;
pub mod verb;
