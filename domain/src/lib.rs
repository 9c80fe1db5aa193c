//! The vsnd backend: serves Xen sndif frontends from an audio device.
//!
//! Platform-free: generic over the `xen-ring` traits and the `audio-hal` traits, tested
//! against the simulated Xen host in `tests/src/sim`.
//!
//! - [`xenbus`]: the handshake per frontend device, and the [`xenbus::Backend`] itself;
//! - [`connection`]: a connected frontend's rings and event channels; [`hints`]: its card
//!   configuration, read as Linux reads it;
//! - [`stream`]: one stream's request protocol; [`hw_params`]: HW_PARAM_QUERY answers;
//! - [`playback`], [`capture`], [`mixer`]: the audio path between guests and the card;
//!   [`pacing`]: how far ahead of the card to mix; [`fade`]: streams that vanish mid-sound;
//! - [`dsp`]: format conversion, channel mixing, resampling; [`volume`]: gains;
//! - [`policy`]: what each guest may do, from the domain's own configuration.
//!
//! The backend is single-threaded: call [`xenbus::Backend::poll`] on xenstore watch events,
//! `service` on event-channel notifications and `tick` on every timer tick (1 ms).

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod capture;
pub mod connection;
pub mod dsp;
pub mod fade;
pub mod hints;
pub mod hw_params;
pub mod mixer;
mod paced;
pub mod pacing;
pub mod playback;
pub mod policy;
mod serve;
pub mod stream;
pub mod volume;
pub mod xenbus;
