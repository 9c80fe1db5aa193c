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

/// Reads the administrator's settings from our own xenstore subtree, `<root>/default/<key>`
/// and `<root>/guests/<domid>/<key>` (`root` = `/local/domain/<us>/audiovm`), on top of
/// `base` (the command line). Keys: `capture` (1/0), `volume` (0.001 dB), `muted` (1/0),
/// `event-ids` (auto/connection/open), `max-buffer` (bytes). Only dom0 and we can write
/// there, never a guest. Unreadable or malformed values are ignored.
pub fn read_overrides<X: xen_ring::xs::Xenstore>(xs: &mut X, root: &str, base: &Config) -> Config {
    use alloc::format;
    let mut config = base.clone();
    config.default = read_guest(xs, &format!("{root}/default"), base.default);
    let mut domids = alloc::vec::Vec::new();
    let _ = xs.directory(
        xen_ring::xs::NO_TRANSACTION,
        &format!("{root}/guests"),
        &mut |name| {
            if domids.len() < 1024
                && let Ok(domid) = name.parse::<DomId>()
            {
                domids.push(domid);
            }
        },
    );
    for (domid, policy) in config.guests.iter_mut() {
        if !domids.contains(domid) {
            *policy = read_guest(xs, &format!("{root}/default"), *policy);
        }
    }
    for domid in domids {
        let start = base.guests.get(&domid).copied().unwrap_or(config.default);
        let policy = read_guest(xs, &format!("{root}/guests/{domid}"), start);
        config.guests.insert(domid, policy);
    }
    config
}

fn read_guest<X: xen_ring::xs::Xenstore>(
    xs: &mut X,
    dir: &str,
    mut policy: GuestPolicy,
) -> GuestPolicy {
    let mut value = |key: &str| {
        let mut buf = [0u8; 16];
        let path = alloc::format!("{dir}/{key}");
        let len = xs
            .read(xen_ring::xs::NO_TRANSACTION, &path, &mut buf)
            .ok()?;
        core::str::from_utf8(&buf[..len])
            .ok()
            .map(|s| alloc::string::String::from(s.trim()))
    };
    let flag = |v: Option<alloc::string::String>| match v.as_deref() {
        Some("1") => Some(true),
        Some("0") => Some(false),
        _ => None,
    };
    if let Some(capture) = flag(value("capture")) {
        policy.capture = capture;
    }
    if let Some(muted) = flag(value("muted")) {
        policy.muted = muted;
    }
    if let Some(mdb) = value("volume").and_then(|v| v.parse().ok()) {
        policy.volume_mdb = mdb;
    }
    if let Some(bytes) = value("max-buffer").and_then(|v| v.parse().ok()) {
        policy.max_buffer_bytes = bytes;
    }
    match value("event-ids").as_deref() {
        Some("auto") => policy.event_ids = EventIds::Auto,
        Some("connection") => policy.event_ids = EventIds::PerConnection,
        Some("open") => policy.event_ids = EventIds::PerOpen,
        _ => {}
    }
    policy
}
