//! The image boots in QEMU through each entry, on both machine types, and reports what it
//! finds; exceptions are reported and end in a failure exit.

use e2e::qemu::{Artifact, Outcome, Qemu, run_cases};

/// The image's exit codes (`src/main.rs`, `boot::idt`).
const EXIT_NO_HDA: u8 = 1;
const EXIT_EXCEPTION: u8 = 3;
const EXIT_NO_CODEC: u8 = 5;

const MACHINES: [&str; 2] = ["q35", "pc-i440fx-3.1"];

/// Each entry with the machines whose loader takes it: QEMU disables PVH loading on
/// pc-i440fx-3.1 (the option set of Xen's xenfv machine), so PVH boots on q35 and the
/// current `pc`.
const ENTRIES: [(Artifact, &str, &str); 6] = [
    (Artifact::Multiboot, "Multiboot", "q35"),
    (Artifact::Multiboot, "Multiboot", "pc-i440fx-3.1"),
    (Artifact::Pvh, "Pvh", "q35"),
    (Artifact::Pvh, "Pvh", "pc"),
    (Artifact::Linux, "Linux", "q35"),
    (Artifact::Linux, "Linux", "pc-i440fx-3.1"),
];

#[test]
fn every_entry_boots_and_reports_no_controller() {
    run_cases(&ENTRIES, |(artifact, path, machine)| {
        let boot = Qemu::new(machine, artifact)
            .append("audiovm.test=entry audiovm.log=debug")
            .boot();
        boot.assert_logged(&format!("booted via {path}"));
        boot.assert_logged("command line: \"");
        boot.assert_logged("audiovm.test=entry audiovm.log=debug");
        boot.assert_logged("no HDA controller");
        assert_eq!(
            boot.outcome,
            Outcome::Failure(EXIT_NO_HDA),
            "{machine} {path}:\n{}",
            boot.serial
        );
    });
}

#[test]
fn the_memory_map_reaches_the_image_through_every_entry() {
    run_cases(
        &[Artifact::Multiboot, Artifact::Pvh, Artifact::Linux],
        |artifact| {
            let boot = Qemu::new("q35", artifact).boot();
            let line = boot
                .serial
                .lines()
                .find(|l| l.contains("KiB usable"))
                .expect(&boot.serial);
            let kib: u64 = line
                .split("memory: ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .unwrap()
                .parse()
                .unwrap();
            // -m 64: nearly all of it is usable RAM.
            assert!(
                (60 * 1024..=64 * 1024).contains(&kib),
                "{artifact:?}: {line}"
            );
        },
    );
}

/// The TSC's frequency comes from the hypervisor when it says (KVM's kvmclock; no PIT wait
/// on the boot path) and from the PIT under TCG, whose TSC runs at 1 GHz under icount.
#[test]
fn the_tsc_frequency_comes_from_kvm_or_the_pit() {
    let line = |boot: &e2e::qemu::Boot| {
        boot.serial
            .lines()
            .find(|l| l.contains(" kHz ("))
            .unwrap_or_else(|| panic!("no TSC line:\n{}", boot.serial))
            .to_string()
    };
    let tcg = Qemu::new("q35", Artifact::Multiboot)
        .deterministic_time()
        .append("audiovm.log=debug")
        .boot();
    let tcg = line(&tcg);
    assert!(tcg.contains("kHz (Pit)"), "{tcg}");
    let khz: f64 = tcg
        .split("TSC ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|k| k.parse().ok())
        .expect(&tcg);
    assert!((khz - 1e6).abs() < 1e4, "{tcg}");
    if e2e::qemu::kvm_usable() {
        let kvm = Qemu::new("q35", Artifact::Multiboot)
            .append("audiovm.log=debug")
            .boot();
        let kvm = line(&kvm);
        assert!(
            kvm.contains("(KvmClock)") || kvm.contains("(TimingLeaf)"),
            "{kvm}"
        );
    }
}

#[test]
fn a_controller_without_codec_reports_no_codec() {
    let mut cases = Vec::new();
    for machine in MACHINES {
        for (controller, id) in [("intel-hda", "8086:2668"), ("ich9-intel-hda", "8086:293e")] {
            cases.push((machine, controller, id));
        }
    }
    run_cases(&cases, |(machine, controller, id)| {
        let boot = Qemu::new(machine, Artifact::Multiboot)
            .device(controller)
            .boot();
        boot.assert_logged(&format!("({id})"));
        boot.assert_logged("no codec");
        assert_eq!(
            boot.outcome,
            Outcome::Failure(EXIT_NO_CODEC),
            "{machine} {controller}:\n{}",
            boot.serial
        );
    });
    let boot = Qemu::new("q35", Artifact::Pvh)
        .device("pcie-root-port,id=rp,chassis=1")
        .device("intel-hda,bus=rp")
        .boot();
    boot.assert_logged("HDA controller 01:00.0 (8086:2668)");
    boot.assert_logged("no codec");
}

/// QEMU's codec graphs (hda.md §3.1): vendor id, and per widget its caps, pin caps, default
/// configuration and connections, exactly as the image logs them.
const OUTPUT_WIDGETS: [&str; 2] = [
    "node 0x02 Output caps 0000001d pincaps 00000000 config 00000000 connections []",
    "node 0x03 Pin caps 00400101 pincaps 00000010 config 00004010 connections [2]",
];
const INPUT_WIDGETS: [&str; 2] = [
    "node 0x04 Input caps 0010011b pincaps 00000000 config 00000000 connections [5]",
    "node 0x05 Pin caps 00400001 pincaps 00000020 config 00805020 connections []",
];

#[test]
fn every_qemu_codec_is_enumerated_and_routed_on_both_controllers() {
    let mut cases = Vec::new();
    for controller in ["intel-hda", "ich9-intel-hda"] {
        for (codec, vendor) in [
            ("hda-output", "1af40012"),
            ("hda-duplex", "1af40022"),
            ("hda-micro", "1af40032"),
        ] {
            cases.push((controller, codec, vendor));
        }
    }
    run_cases(&cases, |(controller, codec, vendor)| {
        let boot = Qemu::new("q35", Artifact::Multiboot)
            .append("audiovm.selftest=ready audiovm.log=debug")
            .device(&format!("{controller},id=hda"))
            .device(&format!("{codec},bus=hda.0,audiodev=silence"))
            .audiodev("none,id=silence")
            .boot();
        boot.assert_logged(&format!(
            "codec 0: vendor {vendor} revision 00100101, audio function group 1"
        ));
        boot.assert_logged(OUTPUT_WIDGETS[0]);
        if codec == "hda-micro" {
            boot.assert_logged(
                "node 0x03 Pin caps 00400101 pincaps 00000010 config 00104010 connections [2]",
            );
            boot.assert_logged(
                "node 0x05 Pin caps 00400001 pincaps 00000020 config 00a05020 connections []",
            );
        } else {
            boot.assert_logged(OUTPUT_WIDGETS[1]);
        }
        if codec == "hda-duplex" {
            INPUT_WIDGETS.iter().for_each(|w| boot.assert_logged(w));
        }
        boot.assert_logged("playback path: codec 0 pin 0x03 from converter 0x02");
        boot.assert_logged("ready");
        assert_eq!(
            boot.outcome,
            Outcome::Success,
            "{controller} {codec}:\n{}",
            boot.serial
        );
    });
}

#[test]
fn two_codecs_on_one_link_are_both_enumerated() {
    let boot = Qemu::new("pc-i440fx-3.1", Artifact::Multiboot)
        .append("audiovm.selftest=ready audiovm.log=debug")
        .device("ich9-intel-hda,id=hda")
        .device("hda-output,bus=hda.0,audiodev=silence")
        .device("hda-micro,bus=hda.0,audiodev=silence")
        .audiodev("none,id=silence")
        .boot();
    boot.assert_logged("codec 0: vendor 1af40012");
    boot.assert_logged("codec 1: vendor 1af40032");
    boot.assert_logged("codec 1: playback route");
    assert_eq!(boot.outcome, Outcome::Success, "{}", boot.serial);
}

#[test]
fn an_invalid_opcode_is_reported_and_stops_the_domain() {
    let boot = Qemu::new("q35", Artifact::Multiboot)
        .append("audiovm.fault=ud")
        .boot();
    boot.assert_logged("EXCEPTION 6 (#UD invalid opcode)");
    boot.assert_logged("RIP 0x2");
    assert_eq!(
        boot.outcome,
        Outcome::Failure(EXIT_EXCEPTION),
        "{}",
        boot.serial
    );
}

#[test]
fn a_page_fault_reports_the_faulting_address() {
    let boot = Qemu::new("pc", Artifact::Pvh)
        .append("audiovm.fault=pf")
        .boot();
    boot.assert_logged("EXCEPTION 14 (#PF page fault)");
    boot.assert_logged("CR2 0x1000000000");
    assert_eq!(
        boot.outcome,
        Outcome::Failure(EXIT_EXCEPTION),
        "{}",
        boot.serial
    );
}
