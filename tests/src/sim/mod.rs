//! A simulated Xen host for the backend's tests: the pieces of Xen and the toolstack a vsnd
//! backend talks to, in memory, with the checks the real ones make.
//!
//! - [`xenstore`]: the store with per-domain permissions, watches and transactions;
//! - [`grant`]: grant tables with read-only/read-write grants and mapping checks;
//! - [`evtchn`]: event channels between domains;
//! - [`toolstack`]: vsnd devices created and removed as libxl does;
//! - [`frontend`]: the Linux xen-snd-front connect step;
//! - [`card`]: a sound card that records what it plays; [`clock`]: the host's time;
//! - [`linux`]: guests running xen-snd-front under ALSA, in a world that ticks.

pub mod card;
pub mod clock;
pub mod evtchn;
pub mod frontend;
pub mod grant;
pub mod linux;
pub mod toolstack;
pub mod xenstore;
