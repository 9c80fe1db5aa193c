//! Every sndif PCM format to and from [`Sample`].
//!
//! Integer math only, floats included (decoded and encoded through their IEEE-754 fields): the
//! target is soft-float and the results must be bit-exact everywhere.
//!
//! - Narrower integers (8/16 bit) are shifted up on decode and rounded to nearest (saturating)
//!   on encode; wider ones (32 bit) are rounded to nearest on decode, saturating at [`MAX`].
//! - Unsigned formats are offset binary (half scale is silence).
//! - S24/U24 live in the low three bytes of a 4-byte container (ALSA's `S24_LE`): the top byte
//!   is ignored on decode and sign-extended (S24) or zeroed (U24) on encode.
//! - IEC 958 subframes carry the sample in bits 4..=27; encode sets only those bits and the
//!   even-parity bit 31.
//! - mu-law and A-law follow ITU-T G.711 (14- and 13-bit linear, scaled to 24 bits).
//! - The compressed formats (IMA ADPCM, MPEG, GSM) are rejected: nothing is decoded or encoded.

use audio_hal::PcmFormat;

use super::{FULL_SCALE, MAX, MIN, Sample};

/// Bytes one sample of `format` occupies, or None for the compressed formats (ImaAdpcm, Mpeg, Gsm) that we reject.
pub fn sample_bytes(format: PcmFormat) -> Option<usize> {
    format.bytes_per_sample().map(|n| n as usize)
}

/// Decodes whole samples of `bytes` (interleaved, any channel count) into `out`; returns how many samples were written = min(bytes.len() / sample_bytes, out.len()). 0 for compressed formats.
pub fn decode(format: PcmFormat, bytes: &[u8], out: &mut [Sample]) -> usize {
    use PcmFormat::*;
    // One monomorphised loop per format: the match stays out of the per-sample path.
    match format {
        S8 => decode_each(bytes, out, |[b]| (b as i8 as Sample) << 16),
        U8 => decode_each(bytes, out, |[b]| ((b ^ 0x80) as i8 as Sample) << 16),
        S16Le => decode_each(bytes, out, |b| (i16::from_le_bytes(b) as Sample) << 8),
        S16Be => decode_each(bytes, out, |b| (i16::from_be_bytes(b) as Sample) << 8),
        U16Le => decode_each(bytes, out, |b| {
            ((u16::from_le_bytes(b) ^ 0x8000) as i16 as Sample) << 8
        }),
        U16Be => decode_each(bytes, out, |b| {
            ((u16::from_be_bytes(b) ^ 0x8000) as i16 as Sample) << 8
        }),
        S24Le => decode_each(bytes, out, |b| sign_extend_24(u32::from_le_bytes(b))),
        S24Be => decode_each(bytes, out, |b| sign_extend_24(u32::from_be_bytes(b))),
        U24Le => decode_each(bytes, out, |b| {
            sign_extend_24(u32::from_le_bytes(b) ^ 0x80_0000)
        }),
        U24Be => decode_each(bytes, out, |b| {
            sign_extend_24(u32::from_be_bytes(b) ^ 0x80_0000)
        }),
        S32Le => decode_each(bytes, out, |b| narrow_32(i32::from_le_bytes(b))),
        S32Be => decode_each(bytes, out, |b| narrow_32(i32::from_be_bytes(b))),
        U32Le => decode_each(bytes, out, |b| {
            narrow_32((u32::from_le_bytes(b) ^ 0x8000_0000) as i32)
        }),
        U32Be => decode_each(bytes, out, |b| {
            narrow_32((u32::from_be_bytes(b) ^ 0x8000_0000) as i32)
        }),
        F32Le => decode_each(bytes, out, |b| f32_bits_to_sample(u32::from_le_bytes(b))),
        F32Be => decode_each(bytes, out, |b| f32_bits_to_sample(u32::from_be_bytes(b))),
        F64Le => decode_each(bytes, out, |b| f64_bits_to_sample(u64::from_le_bytes(b))),
        F64Be => decode_each(bytes, out, |b| f64_bits_to_sample(u64::from_be_bytes(b))),
        Iec958SubframeLe => decode_each(bytes, out, |b| iec958_to_sample(u32::from_le_bytes(b))),
        Iec958SubframeBe => decode_each(bytes, out, |b| iec958_to_sample(u32::from_be_bytes(b))),
        MuLaw => decode_each(bytes, out, |[b]| MULAW_DECODE[b as usize]),
        ALaw => decode_each(bytes, out, |[b]| ALAW_DECODE[b as usize]),
        ImaAdpcm | Mpeg | Gsm => 0,
    }
}

/// Encodes `samples` (clamped to MIN..=MAX first) into `out`; returns samples written = min(samples.len(), out.len() / sample_bytes).
pub fn encode(format: PcmFormat, samples: &[Sample], out: &mut [u8]) -> usize {
    use PcmFormat::*;
    match format {
        S8 => encode_each(samples, out, |s| [narrow(s, 16) as u8]),
        U8 => encode_each(samples, out, |s| [narrow(s, 16) as u8 ^ 0x80]),
        S16Le => encode_each(samples, out, |s| (narrow(s, 8) as i16).to_le_bytes()),
        S16Be => encode_each(samples, out, |s| (narrow(s, 8) as i16).to_be_bytes()),
        U16Le => encode_each(samples, out, |s| {
            (narrow(s, 8) as u16 ^ 0x8000).to_le_bytes()
        }),
        U16Be => encode_each(samples, out, |s| {
            (narrow(s, 8) as u16 ^ 0x8000).to_be_bytes()
        }),
        // A clamped sample is already a sign-extended 24-bit value.
        S24Le => encode_each(samples, out, |s| s.to_le_bytes()),
        S24Be => encode_each(samples, out, |s| s.to_be_bytes()),
        U24Le => encode_each(samples, out, |s| to_u24(s).to_le_bytes()),
        U24Be => encode_each(samples, out, |s| to_u24(s).to_be_bytes()),
        S32Le => encode_each(samples, out, |s| (s << 8).to_le_bytes()),
        S32Be => encode_each(samples, out, |s| (s << 8).to_be_bytes()),
        U32Le => encode_each(samples, out, |s| {
            ((s << 8) as u32 ^ 0x8000_0000).to_le_bytes()
        }),
        U32Be => encode_each(samples, out, |s| {
            ((s << 8) as u32 ^ 0x8000_0000).to_be_bytes()
        }),
        F32Le => encode_each(samples, out, |s| sample_to_f32_bits(s).to_le_bytes()),
        F32Be => encode_each(samples, out, |s| sample_to_f32_bits(s).to_be_bytes()),
        F64Le => encode_each(samples, out, |s| sample_to_f64_bits(s).to_le_bytes()),
        F64Be => encode_each(samples, out, |s| sample_to_f64_bits(s).to_be_bytes()),
        Iec958SubframeLe => encode_each(samples, out, |s| sample_to_iec958(s).to_le_bytes()),
        Iec958SubframeBe => encode_each(samples, out, |s| sample_to_iec958(s).to_be_bytes()),
        MuLaw => encode_each(samples, out, |s| [mulaw_encode(s)]),
        ALaw => encode_each(samples, out, |s| [alaw_encode(s)]),
        ImaAdpcm | Mpeg | Gsm => 0,
    }
}

/// The bytes of one silent sample of `format`, or None for the compressed formats.
pub fn silence_pattern(format: PcmFormat) -> Option<&'static [u8]> {
    use PcmFormat::*;
    Some(match format {
        S8 => &[0x00],
        U8 => &[0x80],
        S16Le | S16Be => &[0x00, 0x00],
        U16Le => &[0x00, 0x80],
        U16Be => &[0x80, 0x00],
        S24Le | S24Be | S32Le | S32Be | F32Le | F32Be | Iec958SubframeLe | Iec958SubframeBe => {
            &[0x00; 4]
        }
        U24Le => &[0x00, 0x00, 0x80, 0x00],
        U24Be => &[0x00, 0x80, 0x00, 0x00],
        U32Le => &[0x00, 0x00, 0x00, 0x80],
        U32Be => &[0x80, 0x00, 0x00, 0x00],
        F64Le | F64Be => &[0x00; 8],
        MuLaw => &[0xFF],
        // A-law has no zero code: 0xD5 is the smallest positive level (+1/8192).
        ALaw => &[0xD5],
        ImaAdpcm | Mpeg | Gsm => return None,
    })
}

/// Fills `out` with whole silent samples of `format`; a partial tail, and the whole slice for compressed formats, is left unchanged.
pub fn fill_silence(format: PcmFormat, out: &mut [u8]) {
    let Some(pattern) = silence_pattern(format) else {
        return;
    };
    for chunk in out.chunks_exact_mut(pattern.len()) {
        chunk.copy_from_slice(pattern);
    }
}

/// Decodes `N`-byte samples with `f`, one tight loop per call site.
#[inline(always)]
fn decode_each<const N: usize>(
    bytes: &[u8],
    out: &mut [Sample],
    f: impl Fn([u8; N]) -> Sample,
) -> usize {
    let (chunks, _tail) = bytes.as_chunks::<N>();
    let n = chunks.len().min(out.len());
    for (o, c) in out.iter_mut().zip(chunks) {
        *o = f(*c);
    }
    n
}

/// Encodes samples, clamped to MIN..=MAX, into `N`-byte slots with `f`.
#[inline(always)]
fn encode_each<const N: usize>(
    samples: &[Sample],
    out: &mut [u8],
    f: impl Fn(Sample) -> [u8; N],
) -> usize {
    let (chunks, _tail) = out.as_chunks_mut::<N>();
    let n = chunks.len().min(samples.len());
    for (c, &s) in chunks.iter_mut().zip(samples) {
        *c = f(s.clamp(MIN, MAX));
    }
    n
}

/// The low 24 bits of `word` as a signed value.
#[inline(always)]
const fn sign_extend_24(word: u32) -> Sample {
    ((word << 8) as i32) >> 8
}

/// A 32-bit sample rounded to nearest 24-bit; saturating_add keeps the top at MAX.
#[inline(always)]
const fn narrow_32(v: i32) -> Sample {
    v.saturating_add(1 << 7) >> 8
}

/// A clamped sample rounded to nearest at `shift` bits fewer, saturating at the top.
#[inline(always)]
fn narrow(s: Sample, shift: u32) -> i32 {
    ((s + (1 << (shift - 1))) >> shift).min(MAX >> shift)
}

/// A clamped sample as offset-binary 24 bits with a zero top byte.
#[inline(always)]
const fn to_u24(s: Sample) -> u32 {
    (s as u32 & 0xFF_FFFF) ^ 0x80_0000
}

/// Full-scale saturation for an out-of-range magnitude.
const fn saturate(negative: bool) -> Sample {
    if negative { MIN } else { MAX }
}

/// `sig / 2^rshift` in [`Sample`] units, rounded to nearest (half away from zero) and saturated;
/// `sig` is a normalised IEEE significand (at least 2^23, so rshift <= 0 is >= 1.0).
const fn scale_to_sample(negative: bool, sig: u64, rshift: i32) -> Sample {
    if rshift <= 0 {
        return saturate(negative);
    }
    if rshift >= 64 {
        return 0;
    }
    let mag = ((sig >> (rshift - 1)) + 1) >> 1;
    if negative {
        if mag >= FULL_SCALE as u64 {
            MIN
        } else {
            -(mag as Sample)
        }
    } else if mag >= MAX as u64 {
        MAX
    } else {
        mag as Sample
    }
}

/// IEEE-754 binary32 bits to a sample: NaN and denormals give 0, beyond ±1.0 saturates.
const fn f32_bits_to_sample(bits: u32) -> Sample {
    let negative = bits >> 31 != 0;
    let exp = ((bits >> 23) & 0xFF) as i32;
    let mant = bits & 0x7F_FFFF;
    match exp {
        0xFF if mant != 0 => 0,
        0xFF => saturate(negative),
        // Zero and denormals (< 2^-126) are far below one 24-bit step.
        0 => 0,
        // value * 2^23 = (2^23 | mant) * 2^(exp - 127)
        _ => scale_to_sample(negative, (mant | 0x80_0000) as u64, 127 - exp),
    }
}

/// IEEE-754 binary64 bits to a sample, as [`f32_bits_to_sample`].
const fn f64_bits_to_sample(bits: u64) -> Sample {
    let negative = bits >> 63 != 0;
    let exp = ((bits >> 52) & 0x7FF) as i32;
    let mant = bits & ((1 << 52) - 1);
    match exp {
        0x7FF if mant != 0 => 0,
        0x7FF => saturate(negative),
        0 => 0,
        // value * 2^23 = (2^52 | mant) * 2^(exp - 1023 - 52 + 23)
        _ => scale_to_sample(negative, mant | 1 << 52, 1052 - exp),
    }
}

/// A clamped sample as binary32 bits: exact, since every 24-bit value fits the significand.
const fn sample_to_f32_bits(s: Sample) -> u32 {
    if s == 0 {
        return 0;
    }
    let sign = if s < 0 { 1 << 31 } else { 0 };
    let mag = s.unsigned_abs();
    // mag = 2^p * 1.f with p in 0..=23, so the value is 2^(p - 23) * 1.f.
    let p = 31 - mag.leading_zeros();
    let exp = p + 127 - 23;
    let mant = (mag << (23 - p)) & 0x7F_FFFF;
    sign | exp << 23 | mant
}

/// A clamped sample as binary64 bits (exact).
const fn sample_to_f64_bits(s: Sample) -> u64 {
    if s == 0 {
        return 0;
    }
    let sign = if s < 0 { 1 << 63 } else { 0 };
    let mag = s.unsigned_abs() as u64;
    let p = 63 - mag.leading_zeros();
    let exp = (p + 1023 - 23) as u64;
    let mant = (mag << (52 - p)) & ((1 << 52) - 1);
    sign | exp << 52 | mant
}

/// The audio sample of an IEC 958 subframe word (bits 4..=27).
#[inline(always)]
const fn iec958_to_sample(word: u32) -> Sample {
    ((word << 4) as i32) >> 8
}

/// A clamped sample as an IEC 958 subframe word: bits 4..=27, bit 31 = even parity over 4..=30.
#[inline(always)]
const fn sample_to_iec958(s: Sample) -> u32 {
    let word = (s as u32 & 0xFF_FFFF) << 4;
    word | (word.count_ones() & 1) << 31
}

// G.711 mu-law: a sign bit, a 3-bit segment and a 4-bit mantissa, all inverted on the line.
// The 14-bit magnitude is biased by 33 so every segment starts at a power of two: segment s
// covers biased values 2^(s+5)..2^(s+6) in 16 steps of 2^(s+1); decoding picks the middle of
// the step and removes the bias.

/// 14-bit mu-law units to [`Sample`] units.
const MULAW_SHIFT: u32 = 10;
/// The mu-law bias, in 14-bit units.
const MULAW_BIAS: u32 = 33;

/// One mu-law code to a 14-bit linear value (G.711: -8031..=8031).
const fn mulaw_to_linear(code: u8) -> i32 {
    let c = !code;
    let segment = (c >> 4) & 7;
    let mantissa = (c & 0xF) as i32;
    let mag = ((2 * mantissa + MULAW_BIAS as i32) << segment) - MULAW_BIAS as i32;
    if c & 0x80 != 0 { -mag } else { mag }
}

/// Every mu-law code decoded to [`Sample`] units.
const MULAW_DECODE: [Sample; 256] = {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = mulaw_to_linear(i as u8) << MULAW_SHIFT;
        i += 1;
    }
    table
};

/// A clamped sample to mu-law: round to 14 bits, bias, find the segment from the top bit.
fn mulaw_encode(s: Sample) -> u8 {
    let (sign, mag) = if s < 0 {
        (0x80, s.unsigned_abs())
    } else {
        (0, s as u32)
    };
    let mag14 = (mag + (1 << (MULAW_SHIFT - 1))) >> MULAW_SHIFT;
    // Biased magnitude clipped to 13 bits: the top step of segment 7.
    let biased = (mag14 + MULAW_BIAS).min(0x1FFF);
    // biased >= 33, so its top bit is 5..=12.
    let segment = 31 - biased.leading_zeros() - 5;
    let mantissa = (biased >> (segment + 1)) & 0xF;
    !(sign | (segment << 4) as u8 | mantissa as u8)
}

// G.711 A-law: a sign bit (set for positive), a 3-bit segment and a 4-bit mantissa, with the
// even bits inverted on the line (xor 0x55). Segments 0 and 1 both have steps of 2 (13-bit
// units); segment s >= 1 covers 2^(s+4)..2^(s+5) in 16 steps of 2^s. There is no zero code.

/// 13-bit A-law units to [`Sample`] units.
const ALAW_SHIFT: u32 = 11;

/// One A-law code to a 13-bit linear value (G.711: ±1..=±4032).
const fn alaw_to_linear(code: u8) -> i32 {
    let c = code ^ 0x55;
    let segment = (c >> 4) & 7;
    let mantissa = (c & 0xF) as i32;
    let mag = if segment == 0 {
        2 * mantissa + 1
    } else {
        (2 * mantissa + 33) << (segment - 1)
    };
    if c & 0x80 != 0 { mag } else { -mag }
}

/// Every A-law code decoded to [`Sample`] units.
const ALAW_DECODE: [Sample; 256] = {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_to_linear(i as u8) << ALAW_SHIFT;
        i += 1;
    }
    table
};

/// A clamped sample to A-law: round to 13 bits, find the segment from the top bit.
fn alaw_encode(s: Sample) -> u8 {
    let (sign, mag) = if s < 0 {
        (0, s.unsigned_abs())
    } else {
        (0x80, s as u32)
    };
    let mag13 = ((mag + (1 << (ALAW_SHIFT - 1))) >> ALAW_SHIFT).min(0xFFF);
    let (segment, mantissa) = if mag13 < 32 {
        (0, mag13 >> 1)
    } else {
        // The top bit is 5..=11 here.
        let segment = 31 - mag13.leading_zeros() - 4;
        (segment, (mag13 >> segment) & 0xF)
    };
    (sign | (segment << 4) as u8 | mantissa as u8) ^ 0x55
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use PcmFormat::*;
    use alloc::vec;
    use alloc::vec::Vec;

    const COMPRESSED: [PcmFormat; 3] = [ImaAdpcm, Mpeg, Gsm];

    fn decode_one(format: PcmFormat, bytes: &[u8]) -> Sample {
        let mut out = [0x5A5A];
        assert_eq!(decode(format, bytes, &mut out), 1, "{format:?}");
        out[0]
    }

    fn encode_one(format: PcmFormat, s: Sample) -> Vec<u8> {
        let mut out = vec![0; 8];
        assert_eq!(encode(format, &[s], &mut out), 1, "{format:?}");
        out.truncate(sample_bytes(format).unwrap());
        out
    }

    /// Samples across the whole range with every edge, for formats too wide to sweep.
    fn sampled_range() -> impl Iterator<Item = Sample> {
        (MIN..=MAX)
            .step_by(251)
            .chain([MIN, MIN + 1, -1, 0, 1, MAX - 1, MAX])
    }

    /// A deterministic stream of arbitrary 64-bit patterns.
    fn patterns(n: usize) -> impl Iterator<Item = u64> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n).map(move |_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
    }

    #[test]
    fn sample_bytes_follows_the_format_and_rejects_compressed() {
        for format in PcmFormat::ALL {
            let expected = format.bytes_per_sample().map(|n| n as usize);
            assert_eq!(sample_bytes(format), expected, "{format:?}");
            assert_eq!(sample_bytes(format).is_none(), COMPRESSED.contains(&format));
        }
    }

    #[test]
    fn compressed_formats_do_nothing() {
        for format in COMPRESSED {
            let mut out = [7; 4];
            assert_eq!(decode(format, &[1, 2, 3, 4, 5, 6, 7, 8], &mut out), 0);
            assert_eq!(out, [7; 4]);
            let mut bytes = [9u8; 16];
            assert_eq!(encode(format, &[1, 2, 3], &mut bytes), 0);
            fill_silence(format, &mut bytes);
            assert_eq!(bytes, [9; 16]);
            assert_eq!(silence_pattern(format), None);
        }
    }

    #[test]
    fn counts_are_limited_by_both_sides_and_tails_ignored() {
        for format in PcmFormat::ALL {
            let Some(n) = sample_bytes(format) else {
                continue;
            };
            let bytes = vec![0xA7u8; 5 * n + n - 1];
            let mut out = [0; 8];
            assert_eq!(decode(format, &bytes, &mut out), 5, "{format:?}");
            assert_eq!(decode(format, &bytes, &mut out[..3]), 3, "{format:?}");
            assert_eq!(decode(format, &bytes[..n - 1], &mut out), 0, "{format:?}");
            assert_eq!(decode(format, &bytes, &mut []), 0, "{format:?}");

            let mut buf = vec![0xEEu8; 3 * n + n - 1];
            assert_eq!(encode(format, &[1, 2, 3, 4, 5], &mut buf), 3, "{format:?}");
            assert!(
                buf[3 * n..].iter().all(|&b| b == 0xEE),
                "tail touched, {format:?}"
            );
            assert_eq!(encode(format, &[1], &mut buf), 1, "{format:?}");
            assert_eq!(encode(format, &[], &mut buf), 0, "{format:?}");
        }
    }

    #[test]
    fn eight_bit_formats_round_trip_every_code() {
        for format in [S8, U8, MuLaw, ALaw] {
            for code in 0..=255u8 {
                let s = decode_one(format, &[code]);
                let back = encode_one(format, s)[0];
                // mu-law has two zeros, -0 (0x7F) and +0 (0xFF); 0 encodes as +0.
                let expected = if format == MuLaw && code == 0x7F {
                    0xFF
                } else {
                    code
                };
                assert_eq!(back, expected, "{format:?} code {code:#04x} -> {s}");
            }
        }
    }

    #[test]
    fn sixteen_bit_formats_round_trip_every_value() {
        for format in [S16Le, S16Be, U16Le, U16Be] {
            for v in 0..=u16::MAX {
                let bytes = v.to_le_bytes();
                let s = decode_one(format, &bytes);
                assert_eq!(s & 0xFF, 0, "{format:?} {v:#06x}");
                assert_eq!(encode_one(format, s), bytes, "{format:?} {v:#06x}");
            }
        }
    }

    #[test]
    fn wide_formats_round_trip_sampled_values() {
        for format in [
            S24Le,
            S24Be,
            U24Le,
            U24Be,
            S32Le,
            S32Be,
            U32Le,
            U32Be,
            F32Le,
            F32Be,
            F64Le,
            F64Be,
            Iec958SubframeLe,
            Iec958SubframeBe,
        ] {
            for s in sampled_range() {
                let bytes = encode_one(format, s);
                assert_eq!(decode_one(format, &bytes), s, "{format:?} {s}");
            }
        }
    }

    #[test]
    fn s24_and_u24_use_the_low_three_bytes() {
        // The top byte is ignored on decode...
        assert_eq!(decode_one(S24Le, &[0x56, 0x34, 0x12, 0xAB]), 0x12_3456);
        assert_eq!(
            decode_one(S24Le, &[0x56, 0x34, 0x92, 0x00]),
            0x92_3456 - (1 << 24)
        );
        assert_eq!(decode_one(S24Be, &[0xAB, 0x12, 0x34, 0x56]), 0x12_3456);
        assert_eq!(decode_one(U24Le, &[0x00, 0x00, 0x80, 0xFF]), 0);
        assert_eq!(decode_one(U24Be, &[0x00, 0xFF, 0xFF, 0xFF]), MAX);
        // ...and sign-extended (S24) or zero (U24) on encode, so canonical containers
        // round-trip byte for byte.
        assert_eq!(encode_one(S24Le, -2), [0xFE, 0xFF, 0xFF, 0xFF]);
        assert_eq!(encode_one(S24Be, 0x12_3456), [0x00, 0x12, 0x34, 0x56]);
        assert_eq!(encode_one(U24Le, MIN), [0x00, 0x00, 0x00, 0x00]);
        assert_eq!(encode_one(U24Le, -1), [0xFF, 0xFF, 0x7F, 0x00]);
        for s in sampled_range() {
            for format in [S24Le, S24Be, U24Le, U24Be] {
                let bytes = encode_one(format, s);
                let mut again = [0; 4];
                encode(format, &[decode_one(format, &bytes)], &mut again);
                assert_eq!(again[..], bytes[..], "{format:?} {s}");
            }
        }
    }

    #[test]
    fn endianness_is_respected() {
        assert_eq!(decode_one(S16Be, &[0x12, 0x34]), 0x1234 << 8);
        assert_eq!(decode_one(S16Le, &[0x12, 0x34]), 0x3412 << 8);
        assert_eq!(decode_one(S32Be, &[0x12, 0x34, 0x56, 0x88]), 0x12_3457);
        assert_eq!(decode_one(S32Le, &[0x88, 0x56, 0x34, 0x12]), 0x12_3457);
        assert_eq!(encode_one(S16Be, 0x1234 << 8), [0x12, 0x34]);
        assert_eq!(encode_one(S16Le, 0x1234 << 8), [0x34, 0x12]);
        assert_eq!(encode_one(F32Be, 1 << 22), 0.5f32.to_bits().to_be_bytes());
        assert_eq!(encode_one(F64Le, 1 << 22), 0.5f64.to_bits().to_le_bytes());
    }

    #[test]
    fn unsigned_formats_are_offset_binary() {
        assert_eq!(decode_one(U8, &[0x80]), 0);
        assert_eq!(decode_one(U8, &[0x00]), MIN);
        assert_eq!(decode_one(U8, &[0xFF]), 127 << 16);
        assert_eq!(decode_one(U16Le, &[0x00, 0x80]), 0);
        assert_eq!(decode_one(U16Be, &[0x80, 0x01]), 1 << 8);
        assert_eq!(decode_one(U16Le, &[0x00, 0x00]), MIN);
        assert_eq!(decode_one(U32Be, &[0x80, 0, 0, 0]), 0);
        assert_eq!(decode_one(U32Le, &[0, 0, 0, 0]), MIN);
        assert_eq!(decode_one(U32Le, &[0xFF; 4]), MAX);
        assert_eq!(encode_one(U8, 0), [0x80]);
        assert_eq!(encode_one(U16Le, MIN), [0x00, 0x00]);
        assert_eq!(encode_one(U32Be, MAX), [0xFF, 0xFF, 0xFF, 0x00]);
    }

    #[test]
    fn thirty_two_bit_rounds_to_nearest_and_saturates() {
        let s32 = |v: i32| decode_one(S32Le, &v.to_le_bytes());
        assert_eq!(s32(0x7F), 0);
        assert_eq!(s32(0x80), 1);
        assert_eq!(s32(0x17F), 1);
        assert_eq!(s32(-0x80), 0);
        assert_eq!(s32(-0x81), -1);
        assert_eq!(s32(0x7FFF_FF7F), MAX);
        // Would round up to 2^23 (+1.0): saturates instead.
        assert_eq!(s32(0x7FFF_FF80), MAX);
        assert_eq!(s32(i32::MAX), MAX);
        assert_eq!(s32(i32::MIN), MIN);
        assert_eq!(s32(i32::MIN + 0x80), MIN + 1);
    }

    #[test]
    fn narrow_formats_round_and_encode_clamps() {
        assert_eq!(encode_one(S16Le, (1 << 7) - 1), [0, 0]);
        assert_eq!(encode_one(S16Le, 1 << 7), [1, 0]);
        assert_eq!(encode_one(S16Le, MAX), 0x7FFFi16.to_le_bytes());
        assert_eq!(encode_one(S16Le, MIN), 0x8000u16.to_le_bytes());
        assert_eq!(encode_one(S8, MAX), [0x7F]);
        assert_eq!(encode_one(S8, MIN), [0x80]);
        for format in PcmFormat::ALL {
            if sample_bytes(format).is_none() {
                continue;
            }
            assert_eq!(
                encode_one(format, i32::MAX),
                encode_one(format, MAX),
                "{format:?}"
            );
            assert_eq!(
                encode_one(format, 1 << 30),
                encode_one(format, MAX),
                "{format:?}"
            );
            assert_eq!(
                encode_one(format, i32::MIN),
                encode_one(format, MIN),
                "{format:?}"
            );
        }
    }

    #[test]
    fn f32_anchors() {
        let f = |x: f32| decode_one(F32Le, &x.to_bits().to_le_bytes());
        assert_eq!(f(0.5), 1 << 22);
        assert_eq!(f(-0.5), -(1 << 22));
        assert_eq!(f(-1.0), MIN);
        assert_eq!(f(1.0), MAX);
        assert_eq!(f(2.0), MAX);
        assert_eq!(f(-2.0), MIN);
        assert_eq!(f(1e30), MAX);
        assert_eq!(f(f32::INFINITY), MAX);
        assert_eq!(f(f32::NEG_INFINITY), MIN);
        assert_eq!(f(f32::NAN), 0);
        assert_eq!(f(-f32::NAN), 0);
        assert_eq!(f(1e-30), 0);
        assert_eq!(f(f32::from_bits(1)), 0);
        assert_eq!(f(-0.0), 0);
        // One 24-bit step is 2^-23: a half step rounds away from zero, less rounds to 0.
        assert_eq!(f(f32::from_bits((127 - 24) << 23)), 1);
        assert_eq!(f(-f32::from_bits((127 - 24) << 23)), -1);
        assert_eq!(f(f32::from_bits(((127 - 24) << 23) - 1)), 0);
        assert_eq!(encode_one(F32Le, MIN), (-1.0f32).to_bits().to_le_bytes());
        // 1 - 2^-23: exponent of 0.5, all but the last significand bit set.
        assert_eq!(encode_one(F32Le, MAX), 0x3F7F_FFFEu32.to_le_bytes());
        assert_eq!(encode_one(F32Le, 0), [0; 4]);
        assert_eq!(
            encode_one(F32Le, -(3 << 20)),
            (-0.375f32).to_bits().to_le_bytes()
        );
    }

    #[test]
    fn f64_anchors() {
        let f = |x: f64| decode_one(F64Be, &x.to_bits().to_be_bytes());
        assert_eq!(f(0.5), 1 << 22);
        assert_eq!(f(-1.0), MIN);
        assert_eq!(f(2.0), MAX);
        assert_eq!(f(f64::INFINITY), MAX);
        assert_eq!(f(f64::NEG_INFINITY), MIN);
        assert_eq!(f(f64::NAN), 0);
        assert_eq!(f(1e-30), 0);
        assert_eq!(f(f64::from_bits(1)), 0);
        assert_eq!(f(1e300), MAX);
        assert_eq!(f(-1e300), MIN);
        assert_eq!(f(0.75), 3 << 21);
        assert_eq!(encode_one(F64Be, MIN), (-1.0f64).to_bits().to_be_bytes());
        assert_eq!(encode_one(F64Be, 1 << 22), 0.5f64.to_bits().to_be_bytes());
    }

    #[test]
    fn floats_are_exact_on_the_24_bit_grid() {
        // Every multiple of 2^-23 in [-1, 1) decodes and re-encodes bit-exact (-0.0 aside,
        // which becomes +0.0).
        for s in sampled_range() {
            for format in [F32Le, F32Be, F64Le, F64Be] {
                let bytes = encode_one(format, s);
                let mut again = vec![0; bytes.len()];
                encode(format, &[decode_one(format, &bytes)], &mut again);
                assert_eq!(again, bytes, "{format:?} {s}");
            }
        }
    }

    /// Host-only reference: floats scaled by 2^23 exactly, rounded half away from zero.
    fn reference(x: f64) -> Sample {
        if x.is_nan() {
            return 0;
        }
        let r = (x * 8_388_608.0).round();
        r.clamp(MIN as f64, MAX as f64) as Sample
    }

    #[test]
    fn floats_match_a_host_float_reference() {
        for bits in patterns(200_000) {
            let b32 = bits as u32;
            // Bias some patterns towards the audible range so rounding is exercised.
            let near = (b32 & 0x807F_FFFF) | ((100 + (bits >> 40) as u32 % 30) << 23);
            for b in [b32, near] {
                let x = f32::from_bits(b) as f64;
                assert_eq!(f32_bits_to_sample(b), reference(x), "{b:#010x}");
            }
            let near64 = (bits & 0x800F_FFFF_FFFF_FFFF) | ((1000 + (bits >> 20) % 30) << 52);
            for b in [bits, near64] {
                assert_eq!(
                    f64_bits_to_sample(b),
                    reference(f64::from_bits(b)),
                    "{b:#018x}"
                );
            }
        }
        for s in sampled_range() {
            assert_eq!(
                sample_to_f32_bits(s),
                (s as f32 / 8_388_608.0).to_bits(),
                "{s}"
            );
            assert_eq!(
                sample_to_f64_bits(s),
                (s as f64 / 8_388_608.0).to_bits(),
                "{s}"
            );
        }
    }

    #[test]
    fn iec958_bit_positions_and_parity() {
        // One set bit: odd, so parity (bit 31) is set.
        assert_eq!(encode_one(Iec958SubframeLe, 1), [0x10, 0x00, 0x00, 0x80]);
        // 24 set bits: even, parity clear.
        assert_eq!(encode_one(Iec958SubframeBe, -1), [0x0F, 0xFF, 0xFF, 0xF0]);
        // MIN is only the top sample bit (27): odd, parity set.
        assert_eq!(
            encode_one(Iec958SubframeLe, MIN),
            0x8800_0000u32.to_le_bytes()
        );
        // Preamble/aux bits (0..=3) and status bits (28..=31) are ignored on decode.
        let word = 0xF000_000Fu32 | (0x12_3456 << 4);
        assert_eq!(decode_one(Iec958SubframeLe, &word.to_le_bytes()), 0x12_3456);
        assert_eq!(decode_one(Iec958SubframeBe, &word.to_be_bytes()), 0x12_3456);
        let negative = 0x0800_0000u32 | 0xA;
        assert_eq!(decode_one(Iec958SubframeLe, &negative.to_le_bytes()), MIN);
        for s in sampled_range() {
            let word = u32::from_le_bytes(encode_one(Iec958SubframeLe, s).try_into().unwrap());
            assert_eq!(
                word & 0x7000_000F,
                0,
                "{s}: only sample and parity bits set"
            );
            assert_eq!((word >> 4) & 0xFF_FFFF, s as u32 & 0xFF_FFFF, "{s}");
            assert_eq!(
                (word >> 4).count_ones() % 2,
                0,
                "{s}: parity over 4..=31 is even"
            );
        }
    }

    #[test]
    fn g711_anchors() {
        let mu = |c: u8| decode_one(MuLaw, &[c]);
        let a = |c: u8| decode_one(ALaw, &[c]);
        // mu-law, 14-bit units (G.711 table 2): zeros, segment starts and the extremes.
        assert_eq!(mu(0xFF), 0);
        assert_eq!(mu(0x7F), 0);
        assert_eq!(mu(0xFE), 2 << 10);
        assert_eq!(mu(0xEF), 33 << 10);
        assert_eq!(mu(0xDF), 99 << 10);
        assert_eq!(mu(0x8F), 4191 << 10);
        assert_eq!(mu(0x80), 8031 << 10);
        assert_eq!(mu(0x00), -8031 << 10);
        assert_eq!(mu(0x80) >> 8, 32124, "+32124 in 16-bit units");
        // A-law, 13-bit units (G.711 table 1): no zero, ±1 is the smallest level.
        assert_eq!(a(0xD5), 1 << 11);
        assert_eq!(a(0xD5) >> 8, 8, "+8 in 16-bit units");
        assert_eq!(a(0x55), -(1 << 11));
        assert_eq!(a(0xC5), 33 << 11);
        assert_eq!(a(0xA5), 2112 << 11);
        assert_eq!(a(0xAA), 4032 << 11);
        assert_eq!(a(0xAA) >> 8, 32256, "+32256 in 16-bit units");
        assert_eq!(a(0x2A), -(4032 << 11));
        assert_eq!(encode_one(MuLaw, 0), [0xFF]);
        assert_eq!(encode_one(MuLaw, MAX), [0x80]);
        assert_eq!(encode_one(MuLaw, MIN), [0x00]);
        assert_eq!(encode_one(ALaw, 0), [0xD5]);
        assert_eq!(encode_one(ALaw, -1), [0x55]);
        assert_eq!(encode_one(ALaw, MAX), [0xAA]);
        assert_eq!(encode_one(ALaw, MIN), [0x2A]);
    }

    #[test]
    fn g711_encoding_is_monotonic_with_bounded_error() {
        // Largest G.711 half step, 128 (mu, 14-bit) and 64 (A, 13-bit), plus the half unit
        // lost rounding to 14/13 bits, in Sample units.
        for (format, max_err) in [(MuLaw, (128 << 10) + 512), (ALaw, (64 << 11) + 1024)] {
            let mut last = MIN;
            for s in (MIN..=MAX).step_by(97).chain([MAX]) {
                let d = decode_one(format, &encode_one(format, s));
                assert!(d >= last, "{format:?} not monotonic at {s}");
                // Beyond the top level the codec clips; check the error only below it.
                if s.abs() < 8031 << 10 {
                    assert!((d - s).abs() <= max_err, "{format:?} {s} -> {d}");
                }
                last = d;
            }
        }
    }

    #[test]
    fn silence_is_silent() {
        for format in PcmFormat::ALL {
            let Some(n) = sample_bytes(format) else {
                continue;
            };
            let pattern = silence_pattern(format).unwrap();
            assert_eq!(pattern.len(), n, "{format:?}");
            assert_eq!(encode_one(format, 0), pattern, "{format:?}");

            let mut buf = vec![0x3Cu8; 3 * n + n - 1];
            fill_silence(format, &mut buf);
            assert!(
                buf[3 * n..].iter().all(|&b| b == 0x3C),
                "{format:?} tail touched"
            );
            let mut out = [1; 4];
            assert_eq!(decode(format, &buf, &mut out), 3);
            // A-law has no zero code: its silence is the smallest positive level.
            let expected = if format == ALaw { 1 << 11 } else { 0 };
            assert_eq!(out[..3], [expected; 3], "{format:?}");
        }
        let mut u16le = [0u8; 4];
        fill_silence(U16Le, &mut u16le);
        assert_eq!(u16le, [0x00, 0x80, 0x00, 0x80]);
        let mut mu = [0u8; 2];
        fill_silence(MuLaw, &mut mu);
        assert_eq!(mu, [0xFF, 0xFF]);
    }

    #[test]
    fn any_bytes_decode_within_range() {
        let bytes: Vec<u8> = patterns(4096).flat_map(u64::to_le_bytes).collect();
        let mut out = vec![0; bytes.len()];
        for format in PcmFormat::ALL {
            for start in 0..3 {
                let n = decode(format, &bytes[start..], &mut out);
                assert!(
                    out[..n].iter().all(|s| (MIN..=MAX).contains(s)),
                    "{format:?}"
                );
            }
        }
    }
}
