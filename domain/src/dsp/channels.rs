//! Channel up/down-mixing of interleaved frames.
//!
//! Channel order is the usual one (front left, front right, then the rest); counts are 1..=8.
//!
//! - Equal counts: copy.
//! - Mono to N: the sample goes to front left and right, the other channels are silent.
//! - N to mono: the rounded average of all input channels.
//! - More to fewer (M >= 2 outputs): input channel i goes to output i when i < M; each extra
//!   channel folds into front left (even i) or front right (odd i). Every output is divided by
//!   the number of inputs that fed it, so full scale stays full scale and never clips.
//! - Fewer to more (>= 2 inputs): the inputs are copied, the extra outputs are silent.

use super::Sample;

/// The largest channel count [`remix`] accepts.
pub const MAX_CHANNELS: usize = 8;

/// Remaps `frames` interleaved frames of `in_channels` channels in `input` into `out_channels` channels in `output`. Returns frames written (min of what fits in both). in/out channels 1..=8 (0 → returns 0).
pub fn remix(
    input: &[Sample],
    in_channels: usize,
    output: &mut [Sample],
    out_channels: usize,
) -> usize {
    if !(1..=MAX_CHANNELS).contains(&in_channels) || !(1..=MAX_CHANNELS).contains(&out_channels) {
        return 0;
    }
    let frames = (input.len() / in_channels).min(output.len() / out_channels);
    let ins = input[..frames * in_channels].chunks_exact(in_channels);
    let outs = output[..frames * out_channels].chunks_exact_mut(out_channels);

    if in_channels == out_channels {
        for (o, i) in outs.zip(ins) {
            o.copy_from_slice(i);
        }
    } else if in_channels == 1 {
        // out_channels >= 2 here.
        for (o, i) in outs.zip(ins) {
            o[0] = i[0];
            o[1] = i[0];
            o[2..].fill(0);
        }
    } else if out_channels == 1 {
        for (o, i) in outs.zip(ins) {
            let sum: i64 = i.iter().map(|&s| s as i64).sum();
            o[0] = div_round(sum, in_channels as i64);
        }
    } else if in_channels < out_channels {
        for (o, i) in outs.zip(ins) {
            o[..in_channels].copy_from_slice(i);
            o[in_channels..].fill(0);
        }
    } else {
        // How many inputs feed each output: one each, plus the folded extras on L/R.
        let mut feeds = [1i64; MAX_CHANNELS];
        for ch in out_channels..in_channels {
            feeds[ch % 2] += 1;
        }
        for (o, i) in outs.zip(ins) {
            let mut acc = [0i64; MAX_CHANNELS];
            for (a, &s) in acc.iter_mut().zip(&i[..out_channels]) {
                *a = s as i64;
            }
            for (ch, &s) in i.iter().enumerate().skip(out_channels) {
                acc[ch % 2] += s as i64;
            }
            for ((o, &a), &n) in o.iter_mut().zip(&acc).zip(&feeds) {
                *o = div_round(a, n);
            }
        }
    }
    frames
}

/// `sum / n` rounded to nearest, halves away from zero; the average of in-range samples stays
/// in range.
#[inline(always)]
fn div_round(sum: i64, n: i64) -> Sample {
    let half = n / 2;
    let q = if sum >= 0 {
        (sum + half) / n
    } else {
        (sum - half) / n
    };
    q as Sample
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::{MAX, MIN};
    use alloc::vec;
    use alloc::vec::Vec;

    fn run(input: &[Sample], in_ch: usize, out_ch: usize) -> Vec<Sample> {
        let frames = input.len() / in_ch;
        let mut out = vec![0x5A5A; frames * out_ch];
        assert_eq!(remix(input, in_ch, &mut out, out_ch), frames);
        out
    }

    #[test]
    fn equal_counts_copy() {
        let input: Vec<Sample> = (0..24).collect();
        for ch in [1, 2, 3, 6, 8] {
            assert_eq!(run(&input, ch, ch), input);
        }
    }

    #[test]
    fn mono_goes_to_front_left_and_right() {
        assert_eq!(run(&[5, -7], 1, 2), [5, 5, -7, -7]);
        assert_eq!(
            run(&[MAX, MIN], 1, 6),
            [MAX, MAX, 0, 0, 0, 0, MIN, MIN, 0, 0, 0, 0]
        );
    }

    #[test]
    fn to_mono_averages_with_rounding() {
        assert_eq!(
            run(&[2, 4, 3, 4, -3, -4, MAX, MAX, MIN, MIN], 2, 1),
            [3, 4, -4, MAX, MIN]
        );
        assert_eq!(run(&[1, 1, 0, -1, -1, 0], 3, 1), [1, -1]);
        assert_eq!(run(&[MAX; 8], 8, 1), [MAX]);
        assert_eq!(run(&[MIN; 8], 8, 1), [MIN]);
        // MAX + MIN = -1: the half rounds away from zero.
        assert_eq!(run(&[MAX, MIN], 2, 1), [-1]);
    }

    #[test]
    fn fewer_to_more_pads_with_silence() {
        assert_eq!(run(&[1, 2, 3, 4], 2, 4), [1, 2, 0, 0, 3, 4, 0, 0]);
        assert_eq!(run(&[1, 2, 3], 3, 8), [1, 2, 3, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn surround_folds_into_front_pair_keeping_full_scale() {
        // 5.1 (FL FR C LFE RL RR): 0,2,4 feed left, 1,3,5 feed right.
        assert_eq!(run(&[MAX; 6], 6, 2), [MAX, MAX]);
        assert_eq!(run(&[MIN; 6], 6, 2), [MIN, MIN]);
        assert_eq!(run(&[30, 3, 60, 6, 90, 9], 6, 2), [60, 6]);
        // One loud channel is attenuated by the number of channels sharing its output.
        assert_eq!(run(&[0, 0, 0, 0, 0, 9], 6, 2), [0, 3]);
        // 6 -> 4: only 4 and 5 are folded, 2 and 3 keep their place.
        assert_eq!(run(&[10, 20, 7, 8, 30, 40], 6, 4), [20, 30, 7, 8]);
        // 3 -> 2: the odd count leaves right with one feed.
        assert_eq!(run(&[MAX, MIN, MAX], 3, 2), [MAX, MIN]);
        assert_eq!(run(&[1, 5, 2], 3, 2), [2, 5]);
    }

    #[test]
    fn outputs_stay_in_range_for_in_range_inputs() {
        let extremes = [MIN, MAX, MIN + 1, MAX - 1, 0, -1, 1];
        for in_ch in 1..=MAX_CHANNELS {
            for out_ch in 1..=MAX_CHANNELS {
                let input: Vec<Sample> = (0..in_ch * 64)
                    .map(|i| extremes[(i * 7 + i / 5) % extremes.len()])
                    .collect();
                for s in run(&input, in_ch, out_ch) {
                    assert!((MIN..=MAX).contains(&s), "{in_ch} -> {out_ch}: {s}");
                }
                // Uniform full scale stays full scale in every mapping that feeds a channel.
                let out = run(&vec![MIN; in_ch * 2], in_ch, out_ch);
                assert!(
                    out.iter().all(|&s| s == MIN || s == 0),
                    "{in_ch} -> {out_ch}"
                );
                assert_eq!(out[0], MIN);
            }
        }
    }

    #[test]
    fn frames_are_limited_by_both_buffers() {
        let input = [1; 10];
        let mut out = [0; 7];
        // 5 stereo frames in, room for 3 stereo frames out (a partial frame is left alone).
        assert_eq!(remix(&input, 2, &mut out, 2), 3);
        assert_eq!(out, [1, 1, 1, 1, 1, 1, 0]);
        // 3 whole 3-channel frames in (a partial tail is ignored).
        let mut out = [0; 20];
        assert_eq!(remix(&input, 3, &mut out, 2), 3);
        assert_eq!(remix(&input, 2, &mut [], 2), 0);
        assert_eq!(remix(&[], 2, &mut out, 2), 0);
    }

    #[test]
    fn unsupported_channel_counts_return_zero() {
        let mut out = [7; 16];
        assert_eq!(remix(&[1; 16], 0, &mut out, 2), 0);
        assert_eq!(remix(&[1; 16], 2, &mut out, 0), 0);
        assert_eq!(remix(&[1; 16], 9, &mut out, 2), 0);
        assert_eq!(remix(&[1; 16], 2, &mut out, 9), 0);
        assert_eq!(out, [7; 16]);
    }
}
