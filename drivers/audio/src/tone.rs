//! A fixed-point sine oscillator: test tones and the startup chime, without floating point
//! at run time (the image is soft-float). The 1024-entry table is computed at compile time.

/// log2 of the table size.
const TABLE_BITS: u32 = 10;
const TABLE_LEN: usize = 1 << TABLE_BITS;

/// sin(x) for x in [-pi, pi] by range reduction and a Taylor series (compile time only).
const fn sin(x: f64) -> f64 {
    const PI: f64 = core::f64::consts::PI;
    // Reduce to [-pi/2, pi/2] with sin(pi - x) = sin(x).
    let x = if x > PI / 2.0 {
        PI - x
    } else if x < -PI / 2.0 {
        -PI - x
    } else {
        x
    };
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    let mut n = 1;
    while n < 12 {
        term = -term * x2 / ((2 * n) as f64 * (2 * n + 1) as f64);
        sum += term;
        n += 1;
    }
    sum
}

/// One full cycle at full scale (plus a guard entry for interpolation).
static TABLE: [i32; TABLE_LEN + 1] = {
    let mut table = [0i32; TABLE_LEN + 1];
    let mut i = 0;
    while i <= TABLE_LEN {
        let phase = (i % TABLE_LEN) as f64 / TABLE_LEN as f64 * 2.0 * core::f64::consts::PI;
        let phase = if phase > core::f64::consts::PI {
            phase - 2.0 * core::f64::consts::PI
        } else {
            phase
        };
        let v = sin(phase) * 32767.0;
        table[i] = if v >= 0.0 {
            (v + 0.5) as i32
        } else {
            (v - 0.5) as i32
        };
        i += 1;
    }
    table
};

/// A sine of a given frequency and amplitude, sample by sample.
#[derive(Debug, Clone)]
pub struct Sine {
    phase: u32,
    step: u32,
    /// Amplitude relative to full scale, Q15 (16384 = half scale = -6.02 dBFS).
    amplitude_q15: i32,
}

impl Sine {
    /// A sine of `hz` at sample `rate` with amplitude `amplitude_q15` / 32768 of full scale.
    /// `None` when `hz` is not below the Nyquist frequency or the rate is 0.
    pub fn new(hz: u32, rate: u32, amplitude_q15: i32) -> Option<Sine> {
        if rate == 0 || hz >= rate / 2 {
            return None;
        }
        let step = ((u64::from(hz) << 32) + u64::from(rate) / 2) / u64::from(rate);
        Some(Sine {
            phase: 0,
            step: step as u32,
            amplitude_q15: amplitude_q15.clamp(0, 32768),
        })
    }

    /// The next 16-bit sample.
    pub fn next_sample(&mut self) -> i16 {
        let index = (self.phase >> (32 - TABLE_BITS)) as usize;
        let frac = ((self.phase >> (32 - TABLE_BITS - 16)) & 0xffff) as i64;
        let (a, b) = (i64::from(TABLE[index]), i64::from(TABLE[index + 1]));
        let value = a + (((b - a) * frac) >> 16);
        self.phase = self.phase.wrapping_add(self.step);
        ((value * i64::from(self.amplitude_q15)) >> 15) as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_a_full_scale_sine() {
        assert_eq!(TABLE[0], 0);
        assert_eq!(TABLE[TABLE_LEN / 4], 32767);
        assert_eq!(TABLE[TABLE_LEN / 2], 0);
        assert_eq!(TABLE[3 * TABLE_LEN / 4], -32767);
        assert_eq!(TABLE[TABLE_LEN], 0);
    }

    #[test]
    fn a_440_hz_tone_has_its_frequency_and_level() {
        let mut sine = Sine::new(440, 48000, 16384).unwrap();
        let samples: [i16; 48000] = core::array::from_fn(|_| sine.next_sample());
        let peak = samples.iter().map(|s| i32::from(*s).abs()).max().unwrap();
        assert!((16380..=16384).contains(&peak), "peak {peak}");
        let crossings = samples.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
        assert_eq!(
            crossings, 439,
            "440 cycles: the rising edges at t = 0 and t = 1 s are outside the window"
        );
        // Samples stay close to the exact sine (interpolation error below -80 dB of full scale).
        let mut check = Sine::new(440, 48000, 32768).unwrap();
        for n in 0..48000 {
            let exact = (2.0 * core::f64::consts::PI * 440.0 * n as f64 / 48000.0).sin() * 32767.0;
            let got = f64::from(check.next_sample());
            assert!((got - exact).abs() < 4.0, "sample {n}: {got} vs {exact}");
        }
    }

    #[test]
    fn frequencies_at_or_above_nyquist_are_refused() {
        assert!(Sine::new(24000, 48000, 1).is_none());
        assert!(Sine::new(1, 0, 1).is_none());
    }
}
