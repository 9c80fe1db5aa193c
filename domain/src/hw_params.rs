//! HW_PARAM_QUERY: the guest sends the ALSA configuration space it is refining and we answer
//! with the part of it we can serve (pv-sound.md §1.5, §2.5). Never wider than asked: the
//! answer is an intersection, and an empty one is `-EINVAL`.
//!
//! What we can serve does not depend on the card: the mixer converts every uncompressed
//! format, any channel count up to eight and any rate Linux offers. The limits that remain are
//! the guest's buffer cap (its policy) and the shortest period our tick can honour.

use xen_ring::sndif::wire::{HwParam, Interval};

use crate::policy::GuestPolicy;

/// The formats the mixer converts: sndif codes 0 (s8) to 21 (a-law). The compressed ones
/// (IMA ADPCM, MPEG, GSM) are refused.
pub const CONVERTIBLE_FORMATS: u64 = (1 << 22) - 1;
/// Rates Linux offers (its `sample-rates` table runs from 5512 to 192000 Hz).
pub const RATES: Interval = Interval {
    min: 5512,
    max: 192_000,
};
/// Channel counts the mixer up/down-mixes.
pub const CHANNELS: Interval = Interval { min: 1, max: 8 };

/// Bytes per sample of sndif format `code` (both format enums are in sndif code order).
fn sample_bytes(code: usize) -> u32 {
    audio_hal::PcmFormat::ALL
        .get(code)
        .and_then(|f| f.bytes_per_sample())
        .unwrap_or(4)
}

fn intersect(a: Interval, b: Interval) -> Option<Interval> {
    let out = Interval {
        min: a.min.max(b.min),
        max: a.max.min(b.max),
    };
    (out.min <= out.max).then_some(out)
}

/// Our answer to `query`, or `None` if nothing in it can be served.
pub fn refine(query: &HwParam, policy: &GuestPolicy, min_period_us: u32) -> Option<HwParam> {
    let formats = query.formats & CONVERTIBLE_FORMATS;
    if formats == 0 {
        return None;
    }
    let rates = intersect(query.rates, RATES)?;
    let channels = intersect(query.channels, CHANNELS)?;
    // The largest frame still possible decides how many frames fit the byte cap, so whatever
    // the guest settles on, its OPEN fits.
    let widest_sample = (0..64)
        .filter(|code| formats & (1 << code) != 0)
        .map(sample_bytes)
        .max()?;
    let widest_frame = widest_sample * channels.max;
    let buffer_cap = Interval {
        min: 1,
        max: policy.max_buffer_bytes / widest_frame,
    };
    let buffer = intersect(query.buffer, buffer_cap)?;
    // At the highest rate still possible, a period must last at least one tick.
    let shortest_period =
        (u64::from(rates.max) * u64::from(min_period_us)).div_ceil(1_000_000) as u32;
    let period_cap = Interval {
        min: shortest_period.max(1),
        max: buffer.max,
    };
    let period = intersect(query.period, period_cap)?;
    Some(HwParam {
        formats,
        rates,
        channels,
        buffer,
        period,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux_first_query() -> HwParam {
        // What xen-snd-front sends first for a card with the default configuration: s16_le,
        // 8-48 kHz, 1-2 channels, buffer and period in frames for 64 KiB.
        HwParam {
            formats: 1 << 2 | 1 << 1,
            rates: Interval {
                min: 5512,
                max: 48000,
            },
            channels: Interval { min: 1, max: 2 },
            buffer: Interval {
                min: 16,
                max: 65536,
            },
            period: Interval {
                min: 16,
                max: 65536,
            },
        }
    }

    #[test]
    fn answers_are_an_intersection_never_wider() {
        let q = linux_first_query();
        let a = refine(&q, &GuestPolicy::default(), 1000).unwrap();
        assert_eq!(a.formats, q.formats);
        assert_eq!(a.rates, q.rates);
        assert_eq!(a.channels, q.channels);
        // 128 KiB / (2 bytes x 2 channels).
        assert_eq!(
            a.buffer,
            Interval {
                min: 16,
                max: 32768
            }
        );
        // 1 ms at 48 kHz.
        assert_eq!(
            a.period,
            Interval {
                min: 48,
                max: 32768
            }
        );
        for (ours, theirs) in [
            (a.rates, q.rates),
            (a.channels, q.channels),
            (a.buffer, q.buffer),
            (a.period, q.period),
        ] {
            assert!(ours.min >= theirs.min && ours.max <= theirs.max);
        }
    }

    #[test]
    fn compressed_formats_and_impossible_spaces_are_refused() {
        let policy = GuestPolicy::default();
        let gsm_only = HwParam {
            formats: 1 << 24 | 1 << 22,
            ..linux_first_query()
        };
        assert_eq!(refine(&gsm_only, &policy, 1000), None);
        let sixteen_channels = HwParam {
            channels: Interval { min: 9, max: 16 },
            ..linux_first_query()
        };
        assert_eq!(refine(&sixteen_channels, &policy, 1000), None);
        let huge_buffer = HwParam {
            buffer: Interval {
                min: 1 << 20,
                max: 1 << 21,
            },
            ..linux_first_query()
        };
        assert_eq!(refine(&huge_buffer, &policy, 1000), None);
        let tiny_period = HwParam {
            period: Interval { min: 1, max: 8 },
            ..linux_first_query()
        };
        assert_eq!(refine(&tiny_period, &policy, 1000), None);
    }

    #[test]
    fn the_buffer_cap_follows_the_widest_frame_left() {
        let policy = GuestPolicy {
            max_buffer_bytes: 65536,
            ..GuestPolicy::default()
        };
        let f64_stereo = HwParam {
            formats: 1 << 16 | 1 << 2,
            ..linux_first_query()
        };
        assert_eq!(refine(&f64_stereo, &policy, 1000).unwrap().buffer.max, 4096);
        let s16_mono = HwParam {
            formats: 1 << 2,
            channels: Interval { min: 1, max: 1 },
            ..linux_first_query()
        };
        assert_eq!(refine(&s16_mono, &policy, 1000).unwrap().buffer.max, 32768);
    }
}
