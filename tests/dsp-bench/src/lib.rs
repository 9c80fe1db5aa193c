//! Host-only measurement of the vsnd resampler against speexdsp: test signals, a THD+N meter
//! (least-squares sine fit), and runners that put the same signal through each converter.

pub mod speex;

use std::f64::consts::PI;

use vsnd_backend::dsp::resample::Resampler;
use vsnd_backend::dsp::{FULL_SCALE, Sample};

pub use speex::Speex;

/// -1 dBFS, the level the quality figures are quoted at.
pub const AMPLITUDE: f64 = 0.891_250_938;

/// `frames` samples of a sine at `freq` Hz sampled at `rate`, peak `amplitude` (1.0 = full
/// scale).
pub fn sine(rate: u32, freq: f64, frames: usize, amplitude: f64) -> Vec<f64> {
    let w = 2.0 * PI * freq / rate as f64;
    (0..frames)
        .map(|i| amplitude * (w * i as f64).sin())
        .collect()
}

/// Rounds to 24-bit [`Sample`]s.
pub fn to_s24(x: &[f64]) -> Vec<Sample> {
    let s = FULL_SCALE as f64;
    x.iter()
        .map(|v| (v * s).round().clamp(-s, s - 1.0) as Sample)
        .collect()
}

/// Rounds to 16-bit samples.
pub fn to_s16(x: &[f64]) -> Vec<i16> {
    x.iter()
        .map(|v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Widens 16-bit samples to [`Sample`]s (exact: the low 8 bits are zero).
pub fn s16_to_s24(x: &[i16]) -> Vec<Sample> {
    x.iter().map(|&v| Sample::from(v) << 8).collect()
}

/// Rounds [`Sample`]s to 16 bits, so a 16-bit comparison charges both converters the same
/// output quantisation.
pub fn s24_to_s16(x: &[Sample]) -> Vec<i16> {
    x.iter()
        .map(|&v| ((v + 128) >> 8).clamp(-32768, 32767) as i16)
        .collect()
}

/// The least-squares fit `a·sin + b·cos + c` at `freq` Hz; returns `[a, b, c]`.
pub fn fit_sine(y: &[f64], rate: u32, freq: f64) -> [f64; 3] {
    let w = 2.0 * PI * freq / rate as f64;
    let mut m = [[0f64; 3]; 3];
    let mut v = [0f64; 3];
    for (i, &s) in y.iter().enumerate() {
        let (sn, cs) = (w * i as f64).sin_cos();
        let basis = [sn, cs, 1.0];
        for r in 0..3 {
            for c in 0..3 {
                m[r][c] += basis[r] * basis[c];
            }
            v[r] += basis[r] * s;
        }
    }
    solve3(m, v)
}

/// Gaussian elimination with partial pivoting on a 3×3 system.
fn solve3(mut m: [[f64; 3]; 3], mut v: [f64; 3]) -> [f64; 3] {
    for i in 0..3 {
        let p = (i..3).fold(i, |p, r| if m[r][i].abs() > m[p][i].abs() { r } else { p });
        m.swap(i, p);
        v.swap(i, p);
        for r in i + 1..3 {
            let f = m[r][i] / m[i][i];
            let pivot = m[i];
            for (dst, src) in m[r][i..].iter_mut().zip(&pivot[i..]) {
                *dst -= f * src;
            }
            v[r] -= f * v[i];
        }
    }
    let mut x = [0f64; 3];
    for i in (0..3).rev() {
        let s: f64 = (i + 1..3).map(|c| m[i][c] * x[c]).sum();
        x[i] = (v[i] - s) / m[i][i];
    }
    x
}

/// THD+N as an SNR in dB: the sine at `freq` is fitted to `output[skip..]` (amplitude, phase
/// and DC free, so gain and delay do not count) and everything else is noise, including
/// images and aliases.
pub fn thd_n_db(output: &[f64], rate: u32, freq: f64, skip: usize) -> f64 {
    let y = output.get(skip..).unwrap_or(&[]);
    let [a, b, c] = fit_sine(y, rate, freq);
    let w = 2.0 * PI * freq / rate as f64;
    let (mut sig, mut noise) = (0.0, 0.0);
    for (i, &s) in y.iter().enumerate() {
        let (sn, cs) = (w * i as f64).sin_cos();
        let tone = a * sn + b * cs;
        sig += tone * tone;
        let e = s - tone - c;
        noise += e * e;
    }
    10.0 * (sig / noise.max(f64::MIN_POSITIVE)).log10()
}

/// Puts interleaved `input` through our resampler; returns all output frames and the group
/// delay in output frames.
pub fn run_ours(
    in_rate: u32,
    out_rate: u32,
    channels: usize,
    input: &[Sample],
) -> (Vec<Sample>, usize) {
    let mut r = Resampler::new(in_rate, out_rate, channels).expect("supported rates");
    let frames = input.len() / channels;
    let mut out =
        vec![0; (frames as u64 * out_rate as u64 / in_rate as u64 + 8) as usize * channels];
    let (used, written) = r.process(input, &mut out);
    assert_eq!(used, frames, "our resampler left input behind");
    out.truncate(written * channels);
    (out, r.delay_frames())
}

/// Puts interleaved 16-bit `input` through speexdsp at `quality` (leading zeros skipped);
/// returns all output frames and its latency in output frames.
pub fn run_speex(
    in_rate: u32,
    out_rate: u32,
    channels: usize,
    quality: i32,
    input: &[i16],
) -> (Vec<i16>, usize) {
    let mut s = Speex::new(in_rate, out_rate, channels, quality).expect("speexdsp init");
    s.skip_zeros();
    let frames = input.len() / channels;
    let mut out =
        vec![0; (frames as u64 * out_rate as u64 / in_rate as u64 + 8) as usize * channels];
    let (mut used, mut written) = (0, 0);
    while used < frames {
        let (u, w) = s.process(&input[used * channels..], &mut out[written * channels..]);
        if u == 0 && w == 0 {
            break;
        }
        used += u;
        written += w;
    }
    out.truncate(written * channels);
    (out, s.output_latency())
}

/// Like [`run_speex`] through speexdsp's `f32` API (1.0 = full scale).
pub fn run_speex_float(
    in_rate: u32,
    out_rate: u32,
    channels: usize,
    quality: i32,
    input: &[f32],
) -> (Vec<f32>, usize) {
    let mut s = Speex::new(in_rate, out_rate, channels, quality).expect("speexdsp init");
    s.skip_zeros();
    let frames = input.len() / channels;
    let mut out =
        vec![0.0; (frames as u64 * out_rate as u64 / in_rate as u64 + 8) as usize * channels];
    let (mut used, mut written) = (0, 0);
    while used < frames {
        let (u, w) = s.process_float(&input[used * channels..], &mut out[written * channels..]);
        if u == 0 && w == 0 {
            break;
        }
        used += u;
        written += w;
    }
    out.truncate(written * channels);
    (out, s.output_latency())
}

/// Which converter, on which input, a figure is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// Ours, 24-bit input, 24-bit output.
    Ours24,
    /// Ours, 16-bit input, output rounded to 16 bits (like speexdsp's).
    Ours16,
    /// speexdsp's int16 API at this quality.
    Speex(i32),
    /// speexdsp's `f32` API at this quality (its filter without 16-bit quantisation; the
    /// fair match for [`Subject::Ours24`]).
    SpeexFloat(i32),
}

impl Subject {
    /// Short column label.
    pub fn label(self) -> String {
        match self {
            Subject::Ours24 => "ours 24-bit".into(),
            Subject::Ours16 => "ours 16-bit".into(),
            Subject::Speex(q) => format!("speex q{q}"),
            Subject::SpeexFloat(q) => format!("speex q{q} f32"),
        }
    }
}

/// THD+N (dB) of a -1 dBFS mono tone at `freq` converted by `who`; a quarter of a second is
/// measured after the filter has settled.
pub fn tone_snr(who: Subject, in_rate: u32, out_rate: u32, freq: f64) -> f64 {
    let frames = in_rate as usize / 2;
    let x = sine(in_rate, freq, frames, AMPLITUDE);
    let (y, delay): (Vec<f64>, usize) = match who {
        Subject::Ours24 => {
            let (y, d) = run_ours(in_rate, out_rate, 1, &to_s24(&x));
            (y.iter().map(|&v| v as f64 / FULL_SCALE as f64).collect(), d)
        }
        Subject::Ours16 => {
            let (y, d) = run_ours(in_rate, out_rate, 1, &s16_to_s24(&to_s16(&x)));
            let y = s24_to_s16(&y);
            (y.iter().map(|&v| v as f64 / 32768.0).collect(), d)
        }
        Subject::Speex(q) => {
            let (y, d) = run_speex(in_rate, out_rate, 1, q, &to_s16(&x));
            (y.iter().map(|&v| v as f64 / 32768.0).collect(), d)
        }
        Subject::SpeexFloat(q) => {
            let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let (y, d) = run_speex_float(in_rate, out_rate, 1, q, &x);
            (y.iter().map(|&v| v as f64).collect(), d)
        }
    };
    // Skip the warm-up (the filter filling with signal), then a little more.
    thd_n_db(&y, out_rate, freq, 2 * delay + 64)
}

/// `n` log-spaced frequencies from 20 Hz to 20 kHz.
pub fn sweep(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 20.0 * 1000f64.powf(i as f64 / (n - 1) as f64))
        .collect()
}

/// The worst THD+N (dB) over [`sweep`]`(n)` and the frequency it occurs at.
pub fn worst_snr(who: Subject, in_rate: u32, out_rate: u32, n: usize) -> (f64, f64) {
    sweep(n)
        .into_iter()
        .map(|f| (tone_snr(who, in_rate, out_rate, f), f))
        .fold((f64::INFINITY, 0.0), |a, b| if b.0 < a.0 { b } else { a })
}

/// One second of a stereo test signal at `rate`: a chord on the left, a sweep-ish pair of
/// tones on the right, peaking well below full scale.
pub fn stereo_program(rate: u32) -> Vec<f64> {
    let l = sine(rate, 440.0, rate as usize, 0.3);
    let l2 = sine(rate, 5_000.0, rate as usize, 0.2);
    let r = sine(rate, 1_000.0, rate as usize, 0.3);
    let r2 = sine(rate, 15_000.0, rate as usize, 0.2);
    (0..rate as usize)
        .flat_map(|i| [l[i] + l2[i], r[i] + r2[i]])
        .collect()
}
