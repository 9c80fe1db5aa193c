//! The image's tone self-test, recorded by QEMU's wav audiodev and checked like a listener
//! would: the right frequency and level, no gaps, no clicks, and bit-exact samples.

use audio_hal::tone::Sine;
use e2e::qemu::{Artifact, Outcome, Qemu};
use e2e::wav::{Wav, analyse_tone};

/// Plays `hz` for `seconds` through `controller` + `codec` on `machine`; returns the WAV.
fn record_tone(machine: &str, controller: &str, codec: &str, hz: u32, seconds: u32) -> Wav {
    record_tone_from(Artifact::Multiboot, machine, controller, codec, hz, seconds)
}

fn record_tone_from(
    artifact: Artifact,
    machine: &str,
    controller: &str,
    codec: &str,
    hz: u32,
    seconds: u32,
) -> Wav {
    let dir = std::env::temp_dir().join(format!(
        "audiovm-tone-{}-{machine}-{controller}-{codec}-{hz}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.wav");
    let boot = Qemu::new(machine, artifact)
        .deterministic_time()
        .device(&format!("{controller},id=hda"))
        .device(&format!("{codec},bus=hda.0,audiodev=speaker"))
        .audiodev(&format!(
            "wav,id=speaker,path={},out.frequency=48000,out.channels=2",
            path.display()
        ))
        .append(&format!("audiovm.selftest=tone:{hz}:{seconds}"))
        .boot();
    boot.assert_logged(&format!("tone: {hz} Hz, -6 dBFS, {seconds} s at 48000 Hz"));
    boot.assert_logged("played ");
    assert_eq!(boot.outcome, Outcome::Success, "{}", boot.serial);
    let wav = Wav::parse(&std::fs::read(&path).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    wav
}

fn assert_clean_tone(wav: &Wav, hz: u32, seconds: u32) {
    assert_eq!((wav.rate, wav.channels), (48000, 2));
    let left = wav.channel(0);
    assert_eq!(left, wav.channel(1), "both channels carry the tone");
    // The stream runs at least `seconds`; QEMU's DMA runs a little ahead of the recording.
    let expected = (seconds * 48000) as usize;
    assert!(
        left.len() >= expected * 95 / 100,
        "recorded {} frames, expected about {expected}",
        left.len()
    );
    let report = analyse_tone(&left, 48000, f64::from(hz));
    assert!((report.frequency - f64::from(hz)).abs() < 1.0, "{report:?}");
    assert!((report.peak_dbfs + 6.02).abs() < 1.0, "{report:?}");
    assert!((report.sine_level_dbfs + 6.02).abs() < 1.0, "{report:?}");
    assert_eq!(report.discontinuities, 0, "{report:?}");
    assert_eq!(report.dropouts, 0, "{report:?}");
}

#[test]
fn a_440_hz_tone_is_recorded_bit_exact_through_intel_hda() {
    let wav = record_tone("q35", "intel-hda", "hda-output", 440, 2);
    assert_clean_tone(&wav, 440, 2);
    // The recording starts with the first sample the image generated.
    let mut sine = Sine::new(440, 48000, 16384).unwrap();
    let expected: Vec<i16> = (0..wav.frames()).map(|_| sine.next_sample()).collect();
    assert!(
        wav.channel(0) == expected,
        "the recording differs from the generated tone"
    );
}

#[test]
fn a_1_khz_tone_plays_through_ich9_and_a_duplex_codec_on_the_xenfv_machine_type() {
    let wav = record_tone("pc-i440fx-3.1", "ich9-intel-hda", "hda-duplex", 1000, 1);
    assert_clean_tone(&wav, 1000, 1);
}

#[test]
fn the_linux_boot_protocol_image_plays_on_the_xenfv_machine_type() {
    let wav = record_tone_from(
        Artifact::Linux,
        "pc-i440fx-3.1",
        "ich9-intel-hda",
        "hda-output",
        440,
        1,
    );
    assert_clean_tone(&wav, 440, 1);
}

#[test]
fn the_micro_codecs_speaker_pin_plays_too() {
    let wav = record_tone("q35", "ich9-intel-hda", "hda-micro", 523, 1);
    assert_clean_tone(&wav, 523, 1);
}

#[test]
fn without_a_selftest_the_image_chimes_two_rising_notes_and_idles() {
    let dir = std::env::temp_dir().join(format!("audiovm-chime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.wav");
    let boot = Qemu::new("q35", Artifact::Multiboot)
        .deterministic_time()
        .timeout(std::time::Duration::from_secs(6))
        .device("intel-hda,id=hda")
        .device("hda-output,bus=hda.0,audiodev=speaker")
        .audiodev(&format!(
            "wav,id=speaker,path={},out.frequency=48000",
            path.display()
        ))
        .boot();
    boot.assert_logged("idle: no Xen");
    assert_eq!(
        boot.outcome,
        Outcome::Other(None),
        "the image idles until stopped:\n{}",
        boot.serial
    );
    let wav = Wav::parse(&std::fs::read(&path).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let left = wav.channel(0);
    // 0.4 s played; QEMU drops what its DMA fetched ahead when the stream stops.
    assert!(
        left.len() >= 48000 * 35 / 100,
        "chime too short: {} frames",
        left.len()
    );
    let first = analyse_tone(&left[480..6720], 48000, 659.0);
    let second = analyse_tone(&left[7680..16800], 48000, 880.0);
    assert!((first.frequency - 659.0).abs() < 2.0, "{first:?}");
    assert!((second.frequency - 880.0).abs() < 2.0, "{second:?}");
    assert!((first.peak_dbfs + 12.04).abs() < 1.0, "{first:?}");
}

#[test]
fn the_capture_selftest_records_through_the_duplex_codecs_input_for_its_whole_duration() {
    // QEMU has no recordable input source here (the `none` audiodev records silence), so
    // what this proves is the capture path, the input stream descriptor and its DMA: frames
    // keep arriving for the whole time, in step with the clock.
    let boot = Qemu::new("q35", Artifact::Multiboot)
        .deterministic_time()
        .device("ich9-intel-hda,id=hda")
        .device("hda-duplex,bus=hda.0,audiodev=snd")
        .audiodev("none,id=snd")
        .append("audiovm.selftest=capture:2")
        .boot();
    boot.assert_logged("capture path: codec 0 pin 0x05 to converter 0x04");
    boot.assert_logged("captured 96000 frames in ");
    assert_eq!(boot.outcome, Outcome::Success, "{}", boot.serial);
    let ms: u64 = boot
        .serial
        .split("captured 96000 frames in ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|ms| ms.trim().parse().ok())
        .expect("duration logged");
    assert!((1900..=2600).contains(&ms), "2 s of audio took {ms} ms");
}

#[test]
fn a_codec_without_input_fails_the_capture_selftest_clearly() {
    let boot = Qemu::new("q35", Artifact::Multiboot)
        .deterministic_time()
        .device("intel-hda,id=hda")
        .device("hda-output,bus=hda.0,audiodev=snd")
        .audiodev("none,id=snd")
        .append("audiovm.selftest=capture:1")
        .boot();
    boot.assert_logged("capture path: none");
    boot.assert_logged("the codec has no capture path");
    assert!(
        matches!(boot.outcome, Outcome::Failure(_)),
        "{}",
        boot.serial
    );
}
