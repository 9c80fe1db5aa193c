//! The test signals the guests play: sines as 16-bit stereo 48 kHz WAV files, and the
//! frequencies the checks look for.

pub const RATE: u32 = 48000;

/// One signal: its file name in the guest's `/root` (without `.wav`), frequency, level and
/// length.
pub struct Signal {
    pub name: &'static str,
    pub hz: f64,
    pub dbfs: f64,
    pub seconds: f64,
}

/// `play`: 1 kHz at -6 dBFS for 2 s.
pub const PLAY: Signal = Signal {
    name: "tone-1k",
    hz: 1000.0,
    dbfs: -6.02,
    seconds: 2.0,
};
/// Two guests at once, at -12 dBFS each so that their sum cannot clip.
pub const LOW: Signal = Signal {
    name: "low-440",
    hz: 440.0,
    dbfs: -12.04,
    seconds: 6.0,
};
pub const HIGH: Signal = Signal {
    name: "high-1k",
    hz: 1000.0,
    dbfs: -12.04,
    seconds: 6.0,
};
/// `crash`: the guest that survives plays this long enough to be heard before, during and
/// after the other is destroyed.
pub const SURVIVOR: Signal = Signal {
    name: "survivor-440",
    hz: 440.0,
    dbfs: -12.04,
    seconds: 12.0,
};

const ALL: [Signal; 4] = [PLAY, LOW, HIGH, SURVIVOR];

/// Every signal as (name, WAV bytes).
pub fn all() -> Vec<(&'static str, Vec<u8>)> {
    ALL.iter().map(|s| (s.name, wav(s))).collect()
}

fn wav(signal: &Signal) -> Vec<u8> {
    let frames = (signal.seconds * f64::from(RATE)) as u32;
    let amplitude = 32768.0 * 10f64.powf(signal.dbfs / 20.0);
    let data_len = frames * 4;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&2u16.to_le_bytes()); // stereo
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 4).to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for n in 0..frames {
        let phase = 2.0 * std::f64::consts::PI * signal.hz * f64::from(n) / f64::from(RATE);
        let sample = (amplitude * phase.sin()).round() as i16;
        out.extend_from_slice(&sample.to_le_bytes());
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xen::analysis::{Wav, analyse_tone};

    #[test]
    fn the_signals_parse_back_at_their_frequency_and_level() {
        let wav = Wav::parse(&super::wav(&PLAY)).unwrap();
        assert_eq!((wav.rate, wav.channels, wav.frames()), (48000, 2, 96000));
        let report = analyse_tone(&wav.channel(0), RATE, PLAY.hz);
        assert!((report.frequency - 1000.0).abs() < 0.01, "{report:?}");
        assert!(
            (report.sine_level_dbfs - PLAY.dbfs).abs() < 0.05,
            "{report:?}"
        );
    }
}
