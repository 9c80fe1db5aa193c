//! The vsnd backend: serves Xen sndif frontends from an audio device.
//!
//! Platform-free: generic over the `xen-ring` traits and the `audio-hal` traits. Not written
//! yet (issue #5); its test host is ready in `tests/src/sim`.

#![no_std]
#![forbid(unsafe_code)]
