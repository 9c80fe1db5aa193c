//! Sample processing for the mixer and capture paths: every sndif PCM format to and from one
//! internal sample type, channel up/down-mixing, and rate conversion.
//!
//! Integer and fixed point throughout: the image is soft-float, and integer math makes the
//! results bit-exact on every machine, which the tests rely on.

pub mod channels;
pub mod convert;
pub mod resample;

/// The internal sample: a signed 24-bit value in an `i32` ([`FULL_SCALE`] is 1.0). The eight
/// bits above leave headroom to sum 128 full-scale streams without overflow; only the final
/// mix is clamped.
pub type Sample = i32;

/// 1.0 in [`Sample`] units.
pub const FULL_SCALE: Sample = 1 << 23;
/// The largest sample that can be encoded (just below 1.0).
pub const MAX: Sample = FULL_SCALE - 1;
/// The smallest sample that can be encoded (-1.0).
pub const MIN: Sample = -FULL_SCALE;
