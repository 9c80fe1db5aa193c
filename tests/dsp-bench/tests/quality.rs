//! Our 44.1 -> 48 kHz conversion against the THD+N target, and side by side with speexdsp.

use dsp_bench::{Subject, tone_snr};

const FREQS: [f64; 5] = [100.0, 1_000.0, 10_000.0, 18_000.0, 20_000.0];

#[test]
fn ours_meets_100_db_at_24_bit() {
    for f in FREQS {
        let snr = tone_snr(Subject::Ours24, 44_100, 48_000, f);
        println!("ours 24-bit 44.1k -> 48k {f:>6} Hz: {snr:6.1} dB");
        assert!(snr >= 100.0, "{f} Hz: {snr:.1} dB");
    }
}

/// Ours and speexdsp on the same 16-bit signal (ours rounded back to 16 bits like speexdsp's
/// output), plus both at full resolution (ours 24-bit, speexdsp through its float API).
#[test]
fn side_by_side() {
    let subjects = [
        Subject::Ours24,
        Subject::Ours16,
        Subject::Speex(5),
        Subject::Speex(10),
        Subject::SpeexFloat(5),
        Subject::SpeexFloat(10),
    ];
    // Built up and printed whole, so a parallel test's output cannot interleave.
    let mut table = String::from("THD+N (dB), -1 dBFS sine, 44.1 kHz -> 48 kHz\n");
    table += &format!("{:>8}", "Hz");
    for s in subjects {
        table += &format!("{:>13}", s.label());
    }
    table.push('\n');
    for f in FREQS {
        table += &format!("{f:>8}");
        for s in subjects {
            let snr = tone_snr(s, 44_100, 48_000, f);
            table += &format!("{snr:>13.1}");
            if let Subject::Speex(_) | Subject::SpeexFloat(_) = s {
                assert!(snr > 0.0, "speexdsp produced no usable output");
            }
        }
        table.push('\n');
    }
    print!("{table}");
}
