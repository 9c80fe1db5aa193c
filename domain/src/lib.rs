//! The vsnd backend: serves Xen sndif frontends from an audio device.
//!
//! Platform-free: generic over the `xen-ring` traits and the `audio-hal` traits, tested
//! against the simulated Xen host in `tests/src/sim`. So far: the xenbus handshake
//! ([`xenbus`]) and the per-stream transport ([`connection`]); the request protocol, mixer
//! and capture routing are issue #5's next steps.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod capture;
pub mod connection;
pub mod dsp;
pub mod hw_params;
pub mod mixer;
pub mod playback;
pub mod policy;
mod serve;
pub mod stream;
pub mod volume;
pub mod xenbus;
