//! The vsnd backend: serves Xen sndif frontends from an audio device.
//!
//! Platform-free: generic over the `xen-ring` traits and the `audio-hal` traits.

#![no_std]
#![forbid(unsafe_code)]

pub mod dsp;
