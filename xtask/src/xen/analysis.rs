//! What QEMU recorded, checked as a listener would: which tones sound when, at what level,
//! and whether they run without gaps or clicks.
//!
//! The WAV parser and the single-tone analyser are the test suite's own (`tests/src/wav.rs`),
//! compiled in by path rather than through the `e2e` crate, which would make xtask depend on
//! every crate of the domain.

// Not every helper of the shared file is needed here.
#[allow(dead_code)]
#[path = "../../../tests/src/wav.rs"]
mod wav;

pub use wav::{Wav, analyse_tone};

/// Blocks of 20 ms: 50 Hz bins, fine enough to tell 440 Hz from 659, 880 and 1000 Hz.
pub const BLOCK: usize = 960;

/// A tone's level in each block, in dBFS of the sine (Goertzel, Hann window).
pub fn levels(samples: &[i16], rate: u32, hz: f64) -> Vec<f64> {
    let window: Vec<f64> = (0..BLOCK)
        .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / BLOCK as f64).cos())
        .collect();
    let gain: f64 = window.iter().sum();
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / f64::from(rate)).cos();
    samples
        .chunks_exact(BLOCK)
        .map(|block| {
            let (mut s1, mut s2) = (0.0, 0.0);
            for (x, w) in block.iter().zip(&window) {
                let s0 = f64::from(*x) * w + coefficient * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
            let amplitude = 2.0 * power.max(0.0).sqrt() / gain;
            20.0 * (amplitude.max(1e-3) / 32768.0).log10()
        })
        .collect()
}

/// A run of blocks where a tone sounds: `[start, end)` in blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn seconds(&self) -> f64 {
        (self.end - self.start) as f64 * BLOCK as f64 / 48000.0
    }

    /// The samples of the span, without its first and last block (where the tone starts or
    /// stops mid-block).
    pub fn inner<'a>(&self, samples: &'a [i16]) -> &'a [i16] {
        let from = (self.start + 1) * BLOCK;
        let to = (self.end.saturating_sub(1) * BLOCK).max(from);
        &samples[from.min(samples.len())..to.min(samples.len())]
    }

    pub fn overlap(&self, other: &Span) -> Option<Span> {
        let (start, end) = (self.start.max(other.start), self.end.min(other.end));
        (start < end).then_some(Span { start, end })
    }
}

/// Every run of blocks in which the tone is louder than `threshold_dbfs`.
pub fn spans(levels: &[f64], threshold_dbfs: f64) -> Vec<Span> {
    let mut found = Vec::new();
    let mut start = None;
    for (i, level) in levels.iter().chain([f64::NEG_INFINITY].iter()).enumerate() {
        match (start, *level > threshold_dbfs) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                found.push(Span { start: s, end: i });
                start = None;
            }
            _ => {}
        }
    }
    found
}

/// The longest run of blocks in which the tone is louder than `threshold_dbfs`.
pub fn longest_span(levels: &[f64], threshold_dbfs: f64) -> Option<Span> {
    spans(levels, threshold_dbfs)
        .into_iter()
        .max_by_key(|s| (s.end - s.start, usize::MAX - s.start))
}

/// "0.00-1.58 s, 1.60-2.02 s": where a tone sounded, for messages.
pub fn describe(spans: &[Span]) -> String {
    let seconds = |block: usize| (block * BLOCK) as f64 / 48000.0;
    let parts: Vec<String> = spans
        .iter()
        .take(12)
        .map(|s| format!("{:.2}-{:.2} s", seconds(s.start), seconds(s.end)))
        .collect();
    let more = spans.len().saturating_sub(12);
    if more > 0 {
        format!("{} and {more} more", parts.join(", "))
    } else {
        parts.join(", ")
    }
}

/// The mean of a tone's block levels over a span.
pub fn mean_level(levels: &[f64], span: Span) -> f64 {
    let inner =
        &levels[(span.start + 1).min(span.end)..span.end.saturating_sub(1).max(span.start + 1)];
    if inner.is_empty() {
        return f64::NEG_INFINITY;
    }
    inner.iter().sum::<f64>() / inner.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, amplitude: f64, frames: usize) -> Vec<i16> {
        (0..frames)
            .map(|n| {
                (amplitude * (2.0 * std::f64::consts::PI * hz * n as f64 / 48000.0).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn a_mix_shows_both_tones_at_their_levels_and_where_they_stop() {
        let low = sine(440.0, 8192.0, 96000);
        let mut high = sine(1000.0, 8192.0, 96000);
        high[48000..].fill(0);
        let mix: Vec<i16> = low.iter().zip(&high).map(|(a, b)| a + b).collect();
        let l440 = levels(&mix, 48000, 440.0);
        let l1k = levels(&mix, 48000, 1000.0);
        let s440 = longest_span(&l440, -30.0).unwrap();
        let s1k = longest_span(&l1k, -30.0).unwrap();
        assert_eq!((s440.start, s440.end), (0, 100));
        assert_eq!((s1k.start, s1k.end), (0, 50));
        assert!((mean_level(&l440, s440) + 12.04).abs() < 0.2);
        assert!((mean_level(&l1k, s1k) + 12.04).abs() < 0.2);
        // No 1 kHz leaks into the 440 Hz measurement once it stops.
        assert!(l1k[60] < -60.0, "{}", l1k[60]);
    }
}
