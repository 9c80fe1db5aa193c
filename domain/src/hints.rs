//! The card configuration in the frontend's tree, read as Linux reads it (pv-sound.md §2.2):
//! card, then device, then stream level, each inheriting what its parent set.
//!
//! These are hints. The tree is guest-owned and can change at any time, so nothing here grants
//! anything: the backend logs them, uses the stream's `type` to know which requests make
//! sense, and answers HW_PARAM_QUERY from its own limits and policy.

use alloc::format;

use xen_ring::sndif::{
    FormatSet, LINUX_RATES, PcmFormat, XENSND_FIELD_BUFFER_SIZE, XENSND_FIELD_CHANNELS_MAX,
    XENSND_FIELD_CHANNELS_MIN, XENSND_FIELD_SAMPLE_FORMATS, XENSND_FIELD_SAMPLE_RATES,
    parse_formats, parse_rates,
};
use xen_ring::xs::{NO_TRANSACTION, Xenstore};

/// What a guest's configuration says about one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    pub formats: FormatSet,
    /// A mask over [`LINUX_RATES`].
    pub rates: u16,
    pub channels_min: u32,
    pub channels_max: u32,
    pub buffer_bytes: u32,
}

impl Default for Hints {
    /// Linux's defaults when the tree says nothing: U8 and S16_LE, 5512 to 48000 Hz, one or
    /// two channels, 64 KiB buffers.
    fn default() -> Self {
        let rates = LINUX_RATES
            .iter()
            .enumerate()
            .filter(|(_, r)| **r <= 48_000)
            .fold(0u16, |mask, (i, _)| mask | 1 << i);
        Hints {
            formats: FormatSet::default()
                .with(PcmFormat::U8)
                .with(PcmFormat::S16Le),
            rates,
            channels_min: 1,
            channels_max: 2,
            buffer_bytes: 64 * 1024,
        }
    }
}

fn read<X: Xenstore>(xs: &mut X, path: &str) -> Option<alloc::string::String> {
    let mut buf = [0u8; 256];
    let len = xs.read(NO_TRANSACTION, path, &mut buf).ok()?;
    core::str::from_utf8(&buf[..len])
        .ok()
        .map(alloc::string::String::from)
}

fn read_number<X: Xenstore>(xs: &mut X, path: &str) -> Option<u32> {
    read(xs, path)?.trim().parse().ok().filter(|&n| n != 0)
}

impl Hints {
    /// `parent` refined by the keys in `dir`, as `cfg_read_pcm_hw` does.
    fn refine<X: Xenstore>(self, xs: &mut X, dir: &str) -> Hints {
        let mut out = self;
        if let Some(n) = read_number(xs, &format!("{dir}/{XENSND_FIELD_CHANNELS_MIN}")) {
            out.channels_min = n;
        }
        if let Some(n) = read_number(xs, &format!("{dir}/{XENSND_FIELD_CHANNELS_MAX}")) {
            out.channels_max = n;
        }
        if let Some(list) = read(xs, &format!("{dir}/{XENSND_FIELD_SAMPLE_RATES}")) {
            let (mask, _) = parse_rates(&list);
            if mask != 0 {
                out.rates = mask;
            }
        }
        if let Some(list) = read(xs, &format!("{dir}/{XENSND_FIELD_SAMPLE_FORMATS}")) {
            let (set, _) = parse_formats(&list);
            if !set.is_empty() {
                out.formats = set;
            }
        }
        if let Some(n) = read_number(xs, &format!("{dir}/{XENSND_FIELD_BUFFER_SIZE}")) {
            out.buffer_bytes = n;
        }
        out
    }

    /// The hints for stream `<device>/<stream>` of the frontend at `frontend_path`.
    pub fn read<X: Xenstore>(xs: &mut X, frontend_path: &str, device: u32, stream: u32) -> Hints {
        Hints::default()
            .refine(xs, frontend_path)
            .refine(xs, &format!("{frontend_path}/{device}"))
            .refine(xs, &format!("{frontend_path}/{device}/{stream}"))
    }

    /// The formats the guest would use that no mixer can convert.
    pub fn compressed(&self) -> FormatSet {
        self.formats.intersect(FormatSet(
            1 << PcmFormat::ImaAdpcm.code()
                | 1 << PcmFormat::Mpeg.code()
                | 1 << PcmFormat::Gsm.code(),
        ))
    }
}
