//! Volume: sndif's per-channel levels (0.001 dB steps) as fixed-point gains.
//!
//! Gains are Q16 (`UNITY` = 1.0). Guests may only attenuate: a level above 0 dB is treated as
//! 0 dB, so no guest can push the mix into clipping louder than its own full scale. The dB to
//! gain conversion runs when a level changes (soft float is fine there); samples are only
//! ever multiplied by the integer gain.

use crate::dsp::Sample;

/// A gain of 1.0.
pub const UNITY: u32 = 1 << 16;
/// Levels at or below this are silence (-100 dB is below a 16-bit LSB anyway).
pub const FLOOR_MDB: i32 = -100_000;

/// The Q16 gain of `mdb` thousandths of a dB, clamped to [silence, unity].
pub fn gain_of_mdb(mdb: i32) -> u32 {
    if mdb >= 0 {
        return UNITY;
    }
    if mdb <= FLOOR_MDB {
        return 0;
    }
    let linear = libm::exp10(f64::from(mdb) / 20_000.0);
    (linear * f64::from(UNITY) + 0.5) as u32
}

/// `gain` applied to `sample`, rounded (the product of a 24-bit sample and a 17-bit gain
/// fits an i64 with room to spare).
#[inline]
pub fn apply(sample: Sample, gain: u32) -> Sample {
    ((i64::from(sample) * i64::from(gain) + (1 << 15)) >> 16) as Sample
}

/// The product of two Q16 gains.
pub fn combine(a: u32, b: u32) -> u32 {
    ((u64::from(a) * u64::from(b) + (1 << 15)) >> 16) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decibels_become_the_expected_gains() {
        assert_eq!(gain_of_mdb(0), UNITY);
        assert_eq!(gain_of_mdb(6_000), UNITY, "no boost");
        // -6.0206 dB is one half; -6.021 dB is a hair under it.
        assert_eq!(gain_of_mdb(-6_021), UNITY / 2 - 2);
        assert_eq!(gain_of_mdb(-20_000), 6554); // 0.1
        assert_eq!(gain_of_mdb(-100_000), 0);
        assert_eq!(gain_of_mdb(i32::MIN), 0);
    }

    #[test]
    fn applying_gains_rounds_and_never_overflows() {
        assert_eq!(apply(1000, UNITY), 1000);
        assert_eq!(apply(1001, UNITY / 2), 501);
        assert_eq!(apply(-(1 << 23), UNITY), -(1 << 23));
        assert_eq!(apply(i32::MAX, UNITY), i32::MAX);
        assert_eq!(combine(UNITY, UNITY / 2), UNITY / 2);
        assert_eq!(combine(UNITY / 2, UNITY / 2), UNITY / 4);
    }
}
