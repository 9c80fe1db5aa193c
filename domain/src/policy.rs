//! What each guest may do: the driver domain's own configuration, never the guest-writable
//! xenstore tree (pv-sound.md §1.8). A guest's `unique-id`, `type` and `buffer-size` keys are
//! hints it could rewrite at any time; capture permission, buffer caps, volume and the event-id
//! scheme are looked up here by frontend domain id.

use alloc::collections::BTreeMap;

use xen_ring::grant::DomId;

/// How CUR_POS event ids are numbered for a guest (pv-sound.md §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventIds {
    /// Continuous per stream for the whole connection: every released Linux kernel.
    PerConnection,
    /// Restarting at 0 at every OPEN: Linux with 9cd81152373c (2026).
    PerOpen,
    /// Per connection until the guest shows it drops our events (it consumes them but
    /// stops writing for 1.5 buffers), then per OPEN.
    Auto,
}

/// One guest's rights and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestPolicy {
    /// May open capture streams. Default: no (`-EACCES` at OPEN).
    pub capture: bool,
    /// Largest stream buffer in bytes (OPEN beyond it gets `-EINVAL`, queries are capped).
    pub max_buffer_bytes: u32,
    /// The guest's volume in 0.001 dB (sndif's volume unit), applied on top of the streams'
    /// own volume. 0 = unity; positive values are capped at unity.
    pub volume_mdb: i32,
    /// Silences every stream of the guest.
    pub muted: bool,
    pub event_ids: EventIds,
}

impl Default for GuestPolicy {
    fn default() -> Self {
        GuestPolicy {
            capture: false,
            // Linux's default is 64 KiB; twice that leaves room without letting one guest pin
            // a lot of the domain's small heap.
            max_buffer_bytes: 128 * 1024,
            volume_mdb: 0,
            muted: false,
            event_ids: EventIds::Auto,
        }
    }
}

/// The backend's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// For guests without an entry of their own.
    pub default: GuestPolicy,
    pub guests: BTreeMap<DomId, GuestPolicy>,
    /// Frames the mixer keeps written ahead of the device's DMA position. This is the
    /// latency the backend adds; it must cover the time between two ticks and the device's
    /// prefetch.
    pub lead_frames: u32,
    /// The shortest period a guest may ask for, in microseconds: CUR_POS goes out at most once
    /// per tick, so periods shorter than a tick cannot be honoured.
    pub min_period_us: u32,
    /// How long a READ may wait for captured data before it is answered with silence.
    pub capture_timeout_us: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default: GuestPolicy::default(),
            guests: BTreeMap::new(),
            lead_frames: 48,
            min_period_us: 1000,
            capture_timeout_us: 500_000,
        }
    }
}

impl Config {
    /// The policy for guest `domid`.
    pub fn guest(&self, domid: DomId) -> GuestPolicy {
        self.guests.get(&domid).copied().unwrap_or(self.default)
    }
}
