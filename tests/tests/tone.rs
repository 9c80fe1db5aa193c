//! The image's tone self-test, recorded by QEMU's wav audiodev and checked like a listener
//! would: the right frequency and level, no gaps, no clicks, and bit-exact samples.

use std::time::Duration;

use audio_hal::tone::Sine;
use e2e::qemu::{Artifact, Boot, Outcome, Qemu, run_cases};
use e2e::wav::{Wav, analyse_tone};

/// One recording: what was played through what.
#[derive(Debug, Clone, Copy)]
struct Case {
    artifact: Artifact,
    machine: &'static str,
    controller: &'static str,
    /// Extra controller properties (`,msi=off`).
    properties: &'static str,
    codec: &'static str,
    hz: u32,
    /// The tone's length in milliseconds.
    ms: u32,
}

/// Plays the case's tone and returns the boot and the WAV QEMU recorded.
fn record_tone(case: Case) -> (Boot, Wav) {
    let Case {
        artifact,
        machine,
        controller,
        properties,
        codec,
        hz,
        ms,
    } = case;
    // No commas in the path: it goes into QEMU's option syntax.
    let dir = std::env::temp_dir().join(format!(
        "audiovm-tone-{}-{artifact:?}-{machine}-{controller}{}-{codec}-{hz}",
        std::process::id(),
        properties.replace([',', '='], "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.wav");
    let seconds = format!("{}.{:03}", ms / 1000, ms % 1000);
    let boot = Qemu::new(machine, artifact)
        .deterministic_time()
        .device(&format!("{controller},id=hda{properties}"))
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
    (boot, wav)
}

/// A clean sine of `hz` at -6 dBFS on both channels, `ms` long: frequency within 1 Hz,
/// level within 1 dB, no dropouts, no discontinuities.
fn assert_clean_tone(wav: &Wav, hz: u32, ms: u32) {
    assert_eq!((wav.rate, wav.channels), (48000, 2));
    let left = wav.channel(0);
    assert_eq!(left, wav.channel(1), "both channels carry the tone");
    // The stream runs at least `ms`; QEMU's DMA runs ahead of the recording and what it
    // fetched but had not yet recorded is dropped when the stream stops (about 1500 frames).
    let expected = (ms * 48) as usize;
    assert!(
        left.len() + 2048.max(expected / 20) >= expected,
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

/// The card's interrupts woke the loop that fed it (`played ... woken by N card interrupts`).
fn card_interrupts(boot: &Boot) -> u32 {
    boot.serial
        .split("woken by ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no interrupt count in the log:\n{}", boot.serial))
}

/// Each entry with the machines it is tested on. QEMU switches PVH loading off on
/// pc-i440fx-3.1 (the option set of Xen's xenfv machine): there the PVH-only ELF is taken for
/// an ancient Linux kernel and the CPU never leaves the firmware (checked on QEMU 7.2), while
/// the dual-header ELF boots through its Multiboot header (the Multiboot rows). So the PVH
/// entry plays on q35 and on `pc`, the current i440fx machine type with PVH loading on:
/// the same PIIX chipset, port-I/O configuration space and INTx routing as xenfv.
const ENTRIES: [(Artifact, &str); 6] = [
    (Artifact::Multiboot, "q35"),
    (Artifact::Multiboot, "pc-i440fx-3.1"),
    (Artifact::Pvh, "q35"),
    (Artifact::Pvh, "pc"),
    (Artifact::Linux, "q35"),
    (Artifact::Linux, "pc-i440fx-3.1"),
];
const CONTROLLERS: [&str; 2] = ["intel-hda", "ich9-intel-hda"];
const CODECS: [&str; 3] = ["hda-output", "hda-duplex", "hda-micro"];

/// The whole boot matrix: every entry × machine type × controller × codec plays a short tone
/// (a different frequency each, so one case's audio cannot pass for another's) that QEMU
/// records cleanly, driven by the card's MSI, with configuration space through ECAM where
/// the machine has it (q35's MCFG).
#[test]
fn every_entry_machine_controller_and_codec_plays_a_clean_tone() {
    let mut cases = Vec::new();
    for (artifact, machine) in ENTRIES {
        for controller in CONTROLLERS {
            for codec in CODECS {
                cases.push(Case {
                    artifact,
                    machine,
                    controller,
                    properties: "",
                    codec,
                    hz: 220 + 20 * cases.len() as u32,
                    ms: 250,
                });
            }
        }
    }
    run_cases(&cases, |case| {
        let (boot, wav) = record_tone(case);
        let path = match case.artifact {
            Artifact::Multiboot => "Multiboot",
            Artifact::Pvh => "Pvh",
            Artifact::Linux => "Linux",
        };
        boot.assert_logged(&format!("booted via {path}"));
        boot.assert_logged("interrupts: MSI");
        boot.assert_logged(if case.machine == "q35" {
            "config space: ECAM at 0xb0000000 (MCFG"
        } else {
            "config space: port I/O (no MCFG)"
        });
        assert!(card_interrupts(&boot) > 0, "{}", boot.serial);
        assert_clean_tone(&wav, case.hz, case.ms);
    });
}

/// Without MSI (the capability switched off) the card's INTx line goes through the I/O APIC,
/// on both chipsets, and the tone is as clean.
#[test]
fn without_msi_the_card_interrupts_through_the_ioapic_and_plays_cleanly() {
    let cases = ["q35", "pc-i440fx-3.1"].map(|machine| Case {
        artifact: Artifact::Multiboot,
        machine,
        controller: "ich9-intel-hda",
        properties: ",msi=off",
        codec: "hda-duplex",
        hz: 1000,
        ms: 500,
    });
    run_cases(&cases, |case| {
        let (boot, wav) = record_tone(case);
        boot.assert_logged("interrupts: INTx (INTA, IRQ ");
        boot.assert_logged("through the I/O APIC");
        assert!(card_interrupts(&boot) > 0, "{}", boot.serial);
        assert_clean_tone(&wav, case.hz, case.ms);
    });
}

#[test]
fn a_440_hz_tone_is_recorded_bit_exact_through_intel_hda() {
    let (_, wav) = record_tone(Case {
        artifact: Artifact::Multiboot,
        machine: "q35",
        controller: "intel-hda",
        properties: "",
        codec: "hda-output",
        hz: 440,
        ms: 1000,
    });
    assert_clean_tone(&wav, 440, 1000);
    // The recording starts with the first sample the image generated.
    let mut sine = Sine::new(440, 48000, 16384).unwrap();
    let expected: Vec<i16> = (0..wav.frames()).map(|_| sine.next_sample()).collect();
    assert!(
        wav.channel(0) == expected,
        "the recording differs from the generated tone"
    );
}

#[test]
fn without_a_selftest_the_image_chimes_two_rising_notes_and_idles() {
    let dir = std::env::temp_dir().join(format!("audiovm-chime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.wav");
    let boot = Qemu::new("q35", Artifact::Multiboot)
        .deterministic_time()
        .timeout(Duration::from_secs(6))
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
    boot.assert_logged("interrupts: MSI");
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
