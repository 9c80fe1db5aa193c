//! Streams that vanish while playing fade out instead of stopping mid-waveform.
//!
//! When a guest crashes, is destroyed or breaks the protocol, its streams end at once; cut off
//! mid-waveform, a tone leaves a click in everybody else's sound. What we already copied of
//! its buffer plays on for a few milliseconds under a falling gain instead.

use alloc::vec::Vec;

use crate::playback::PlaybackSource;

/// 10 ms at 48 kHz: short enough to end the sound promptly, long enough to hear no step.
pub const FADE_FRAMES: usize = 480;

/// A stream fading out.
pub struct Fade {
    source: PlaybackSource,
    /// Device frames of the fade still to play.
    left: usize,
}

impl Fade {
    pub fn new(source: PlaybackSource) -> Fade {
        Fade {
            source,
            left: FADE_FRAMES,
        }
    }

    /// Whether the fade is over.
    pub fn done(&self) -> bool {
        self.left == 0
    }

    /// Frames that went by unheard (the domain was late): the fade moves on without them.
    pub fn skip(&mut self, frames: usize) {
        self.left = self.left.saturating_sub(frames);
    }

    /// Adds the next `frames` frames of the fade into `bus` (`channels` interleaved), using
    /// `scratch` for the stream's own samples.
    pub fn render(
        &mut self,
        frames: usize,
        channels: usize,
        bus: &mut [i32],
        scratch: &mut Vec<i32>,
    ) {
        let frames = frames.min(self.left).min(bus.len() / channels.max(1));
        scratch.clear();
        scratch.resize(frames * channels, 0);
        self.source.render(frames, scratch);
        for (i, (out, ours)) in bus
            .chunks_exact_mut(channels)
            .zip(scratch.chunks_exact(channels))
            .enumerate()
        {
            // Linear, in Q16: from just below unity down to zero.
            let gain = (((self.left - i) as i64) << 16) / (FADE_FRAMES as i64 + 1);
            for (acc, &sample) in out.iter_mut().zip(ours) {
                *acc = acc.saturating_add(((i64::from(sample) * gain) >> 16) as i32);
            }
        }
        self.left -= frames;
    }
}
