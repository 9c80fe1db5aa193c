//! Xen shared-memory interfaces used between domains.
//!
//! `io/ring.h` rings, the sndif ("vsnd") wire types, the xenstore and console wire formats,
//! and the traits through which a domain reaches rings (grants, event channels, xenstore).
//! No hardware access and no allocation: the same code runs in the image and on the host.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod bytering;
pub mod console;
pub mod errno;
pub mod evtchn;
pub mod grant;
pub mod ring;
pub mod shmem;
pub mod sndif;
pub mod xenbus;
pub mod xenstore;
pub mod xs;
