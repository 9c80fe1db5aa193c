//! The test-side analyser for what QEMU's `wav` audiodev records: parsing, and the checks a
//! listener would make of a test tone (frequency, level, dropouts, discontinuities).

/// A 16-bit PCM WAV file's contents.
#[derive(Debug, Clone, PartialEq)]
pub struct Wav {
    pub rate: u32,
    pub channels: u16,
    /// Interleaved samples.
    pub samples: Vec<i16>,
}

impl Wav {
    /// Parses a canonical 16-bit PCM WAV. The data length comes from the file size, not the
    /// header: QEMU fills the sizes in only at an orderly exit.
    pub fn parse(bytes: &[u8]) -> Result<Wav, String> {
        if bytes.len() < 44 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err("not a RIFF/WAVE file".into());
        }
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        if &bytes[12..16] != b"fmt "
            || u16_at(20) != 1
            || u16_at(34) != 16
            || &bytes[36..40] != b"data"
        {
            return Err("not a canonical 16-bit PCM WAV header".into());
        }
        let samples = bytes[44..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        Ok(Wav {
            rate: u32_at(24),
            channels: u16_at(22),
            samples,
        })
    }

    /// One channel's samples.
    pub fn channel(&self, index: u16) -> Vec<i16> {
        self.samples
            .iter()
            .skip(usize::from(index))
            .step_by(usize::from(self.channels.max(1)))
            .copied()
            .collect()
    }

    /// Frames in the file.
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }
}

/// What the analyser found in a tone.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneReport {
    /// Frequency from the interpolated positions of the rising zero crossings.
    pub frequency: f64,
    /// Peak level in dBFS (0 dB = 32768).
    pub peak_dbfs: f64,
    /// RMS level in dBFS of the equivalent sine (RMS × √2).
    pub sine_level_dbfs: f64,
    /// Sample-to-sample steps larger than the tone can make: clicks, replayed stale data.
    pub discontinuities: usize,
    /// Runs of at least 2 ms of near silence inside the tone.
    pub dropouts: usize,
}

/// Analyses a mono tone at `rate`, expected at about `expected_hz`.
pub fn analyse_tone(samples: &[i16], rate: u32, expected_hz: f64) -> ToneReport {
    let x: Vec<f64> = samples.iter().map(|&s| f64::from(s)).collect();
    let crossings: Vec<f64> = (1..x.len())
        .filter(|&i| x[i - 1] < 0.0 && x[i] >= 0.0)
        .map(|i| (i - 1) as f64 + x[i - 1] / (x[i - 1] - x[i]))
        .collect();
    let frequency = match (crossings.first(), crossings.last()) {
        (Some(first), Some(last)) if crossings.len() > 1 => {
            (crossings.len() - 1) as f64 * f64::from(rate) / (last - first)
        }
        _ => 0.0,
    };
    let peak = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let rms = (x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64).sqrt();
    let db = |v: f64| 20.0 * (v / 32768.0).log10();
    // A sine of amplitude A changes by at most 2πfA/rate per sample; allow 10 % and rounding.
    let max_step = 2.0 * std::f64::consts::PI * expected_hz * peak / f64::from(rate) * 1.1 + 2.0;
    let discontinuities = x
        .windows(2)
        .filter(|w| (w[1] - w[0]).abs() > max_step)
        .count();
    let quiet = peak / 100.0;
    let min_run = (rate / 500) as usize; // 2 ms
    let mut dropouts = 0;
    let mut run = 0;
    for v in &x {
        if v.abs() <= quiet {
            run += 1;
            if run == min_run {
                dropouts += 1;
            }
        } else {
            run = 0;
        }
    }
    ToneReport {
        frequency,
        peak_dbfs: db(peak),
        sine_level_dbfs: db(rms * 2f64.sqrt()),
        discontinuities,
        dropouts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, rate: u32, amplitude: f64, frames: usize) -> Vec<i16> {
        (0..frames)
            .map(|n| {
                (amplitude * (2.0 * std::f64::consts::PI * hz * n as f64 / f64::from(rate)).sin())
                    .round() as i16
            })
            .collect()
    }

    #[test]
    fn a_clean_tone_is_measured_precisely() {
        let report = analyse_tone(&sine(440.0, 48000, 16384.0, 96000), 48000, 440.0);
        assert!((report.frequency - 440.0).abs() < 0.01, "{report:?}");
        assert!((report.peak_dbfs + 6.02).abs() < 0.01, "{report:?}");
        assert!((report.sine_level_dbfs + 6.02).abs() < 0.05, "{report:?}");
        assert_eq!((report.discontinuities, report.dropouts), (0, 0));
    }

    #[test]
    fn a_wrong_frequency_is_seen() {
        let report = analyse_tone(&sine(441.0, 48000, 16384.0, 48000), 48000, 440.0);
        assert!((report.frequency - 441.0).abs() < 0.01, "{report:?}");
    }

    #[test]
    fn replayed_stale_data_and_gaps_are_found() {
        let mut glitchy = sine(440.0, 48000, 16384.0, 48000);
        let period: Vec<i16> = glitchy[1000..2024].to_vec();
        glitchy[5000..6024].copy_from_slice(&period); // a stale period replayed
        glitchy[20000..20500].fill(0); // 10 ms gap
        let report = analyse_tone(&glitchy, 48000, 440.0);
        assert!(report.discontinuities >= 2, "{report:?}");
        assert_eq!(report.dropouts, 1, "{report:?}");
    }

    #[test]
    fn wav_files_parse_by_file_length() {
        let mut bytes = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x02\0\x80\xbb\0\0\0\xee\x02\0\x04\0\x10\0data\0\0\0\0".to_vec();
        bytes.extend_from_slice(&[1, 0, 2, 0, 3, 0, 4, 0]);
        let wav = Wav::parse(&bytes).unwrap();
        assert_eq!((wav.rate, wav.channels, wav.frames()), (48000, 2, 2));
        assert_eq!(wav.channel(1), vec![2, 4]);
        assert!(Wav::parse(b"not a wav").is_err());
    }
}
