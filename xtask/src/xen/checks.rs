//! Each scenario's verdict on the WAV QEMU recorded from the card audiovm drives.

use std::path::Path;

use super::analysis::{Span, Wav, analyse_tone, describe, levels, longest_span, mean_level, spans};
use super::signals::{self, HIGH, LOW, PLAY, SURVIVOR, Signal};

/// A tone counts as sounding in a block above this level (the tones play at -6 or -12 dBFS;
/// what leaks into a neighbouring frequency's bin stays below -50 dBFS).
const PRESENT_DBFS: f64 = -30.0;
const LEVEL_TOLERANCE_DB: f64 = 1.5;

/// Checks the recording of `scenario`; returns what was measured, or what is wrong.
pub fn check(scenario: &str, wav: &Path) -> Result<Vec<String>, String> {
    if scenario == "capture" {
        return Ok(vec![]); // judged in the guests: QEMU's wav audiodev has no input
    }
    let bytes = std::fs::read(wav).map_err(|e| format!("no recording {}: {e}", wav.display()))?;
    let wav = Wav::parse(&bytes).map_err(|e| format!("recording: {e}"))?;
    if wav.rate != signals::RATE || wav.channels != 2 {
        return Err(format!("recording is {} Hz × {}", wav.rate, wav.channels));
    }
    let left = wav.channel(0);
    let mut notes = vec![format!(
        "recorded {:.1} s of audio",
        left.len() as f64 / f64::from(wav.rate)
    )];
    match scenario {
        "card" => chime(&left, &mut notes)?,
        // The Linux driver domain plays the same file as the guest of `play`.
        "play" | "linux-audio" => play(&left, &mut notes)?,
        "two-guests" => two_guests(&left, &mut notes)?,
        "crash" => crash(&left, &mut notes)?,
        other => return Err(format!("no audio check for scenario {other}")),
    }
    Ok(notes)
}

/// Where and how loud `hz` sounds the longest.
fn find(samples: &[i16], hz: f64, what: &str) -> Result<(Span, f64), String> {
    let levels = levels(samples, signals::RATE, hz);
    let span = longest_span(&levels, PRESENT_DBFS)
        .ok_or_else(|| format!("{what}: no {hz} Hz tone in the recording"))?;
    Ok((span, mean_level(&levels, span)))
}

fn level_ok(what: &str, level: f64, want: f64) -> Result<(), String> {
    if (level - want).abs() <= LEVEL_TOLERANCE_DB {
        Ok(())
    } else {
        Err(format!("{what}: level {level:.1} dBFS, expected {want:.1}"))
    }
}

/// Clean means no gap of 2 ms or more and no jump a sine of up to `max_hz` cannot make.
fn clean(what: &str, samples: &[i16], max_hz: f64) -> Result<(), String> {
    let report = analyse_tone(samples, signals::RATE, max_hz);
    if report.dropouts == 0 && report.discontinuities == 0 {
        Ok(())
    } else {
        Err(format!(
            "{what}: {} dropouts and {} discontinuities ({report:?})",
            report.dropouts, report.discontinuities
        ))
    }
}

/// The image's startup chime: 659 Hz for 0.15 s, then 880 Hz for 0.25 s, at -12 dBFS
/// (src/selftest.rs).
fn chime(left: &[i16], notes: &mut Vec<String>) -> Result<(), String> {
    let (low, low_level) = find(left, 659.0, "chime")?;
    let (high, high_level) = find(left, 880.0, "chime")?;
    notes.push(format!(
        "chime: 659 Hz for {:.2} s at {low_level:.1} dBFS, then 880 Hz for {:.2} s at {high_level:.1} dBFS",
        low.seconds(),
        high.seconds()
    ));
    if low.seconds() < 0.1 || high.seconds() < 0.2 {
        return Err("chime: notes too short (want 0.15 s and 0.25 s)".into());
    }
    if high.start + 2 < low.end || high.start > low.end + 2 {
        return Err("chime: the second note does not follow the first".into());
    }
    level_ok("chime 659 Hz", low_level, -12.04)?;
    level_ok("chime 880 Hz", high_level, -12.04)
}

fn play(left: &[i16], notes: &mut Vec<String>) -> Result<(), String> {
    let (span, level) = tone(left, &PLAY, notes)?;
    // Gaps first: they also skew the frequency measured from zero crossings.
    clean("play", span.inner(left), PLAY.hz)?;
    let report = analyse_tone(span.inner(left), signals::RATE, PLAY.hz);
    notes.push(format!("1 kHz: {:.2} Hz measured", report.frequency));
    if (report.frequency - PLAY.hz).abs() > 1.0 {
        return Err(format!("play: frequency {:.2} Hz", report.frequency));
    }
    level_ok("play", level, PLAY.dbfs)
}

/// Finds `signal` and checks it lasted (nearly) as long as the file.
fn tone(left: &[i16], signal: &Signal, notes: &mut Vec<String>) -> Result<(Span, f64), String> {
    let (span, level) = find(left, signal.hz, signal.name)?;
    notes.push(format!(
        "{}: {} Hz for {:.2} s at {level:.1} dBFS",
        signal.name,
        signal.hz,
        span.seconds()
    ));
    if span.seconds() < signal.seconds - 0.2 {
        let all = spans(&levels(left, signals::RATE, signal.hz), PRESENT_DBFS);
        return Err(format!(
            "{}: sounded {:.2} s without a break, expected {} s; it sounded at {}",
            signal.name,
            span.seconds(),
            signal.seconds,
            describe(&all)
        ));
    }
    Ok((span, level))
}

fn two_guests(left: &[i16], notes: &mut Vec<String>) -> Result<(), String> {
    let (low, _) = tone(left, &LOW, notes)?;
    let (high, _) = tone(left, &HIGH, notes)?;
    let both = low
        .overlap(&high)
        .ok_or("two-guests: the two tones never sounded together")?;
    notes.push(format!("both tones together for {:.2} s", both.seconds()));
    if both.seconds() < 3.0 {
        return Err("two-guests: the tones overlap less than 3 s".into());
    }
    for signal in [&LOW, &HIGH] {
        let level = mean_level(&levels(left, signals::RATE, signal.hz), both);
        level_ok(&format!("{} in the mix", signal.name), level, signal.dbfs)?;
    }
    clean("the mix", both.inner(left), HIGH.hz)
}

fn crash(left: &[i16], notes: &mut Vec<String>) -> Result<(), String> {
    let (survivor, level) = tone(left, &SURVIVOR, notes)?;
    let (victim, _) = find(left, HIGH.hz, "the destroyed guest")?;
    notes.push(format!(
        "the destroyed guest's 1 kHz sounded {:.2} s",
        victim.seconds()
    ));
    let together = survivor
        .overlap(&victim)
        .ok_or("crash: the two guests never played together")?;
    if together.end + 50 > survivor.end {
        return Err(
            "crash: the survivor did not play on for 1 s after the other guest stopped".into(),
        );
    }
    level_ok("the survivor", level, SURVIVOR.dbfs)?;
    // Steady: no block of the survivor's tone dips when the other guest goes away.
    let survivor_levels = levels(left, signals::RATE, SURVIVOR.hz);
    let inner = &survivor_levels[survivor.start + 1..survivor.end - 1];
    let lowest = inner.iter().copied().fold(f64::INFINITY, f64::min);
    if lowest < level - 3.0 {
        return Err(format!(
            "crash: the survivor's tone dipped to {lowest:.1} dBFS (mean {level:.1})"
        ));
    }
    clean("the survivor", survivor.inner(left), HIGH.hz)
}
