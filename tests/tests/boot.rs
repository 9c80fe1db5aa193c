//! The image boots in QEMU through each entry, on both machine types, and reports what it
//! finds; exceptions are reported and end in a failure exit.

use e2e::qemu::{Artifact, Outcome, Qemu};

/// The image's exit codes (`src/main.rs`, `boot::idt`).
const EXIT_NO_HDA: u8 = 1;
const EXIT_EXCEPTION: u8 = 3;
const EXIT_NO_DRIVER: u8 = 4;

const MACHINES: [&str; 2] = ["q35", "pc-i440fx-3.1"];

/// Each entry with the machines whose loader takes it: QEMU disables PVH loading on
/// pc-i440fx-3.1 (the option set of Xen's xenfv machine), so PVH boots on q35 and the
/// current `pc`.
const ENTRIES: [(Artifact, &str, &str); 4] = [
    (Artifact::Multiboot, "Multiboot", "q35"),
    (Artifact::Multiboot, "Multiboot", "pc-i440fx-3.1"),
    (Artifact::Pvh, "Pvh", "q35"),
    (Artifact::Pvh, "Pvh", "pc"),
];

#[test]
fn every_entry_boots_and_reports_no_controller() {
    {
        for (artifact, path, machine) in ENTRIES {
            let boot = Qemu::new(machine, artifact)
                .append("audiovm.test=entry")
                .boot();
            boot.assert_logged(&format!("booted via {path}"));
            boot.assert_logged("command line: \"");
            boot.assert_logged("audiovm.test=entry");
            boot.assert_logged("no HDA controller");
            assert_eq!(
                boot.outcome,
                Outcome::Failure(EXIT_NO_HDA),
                "{machine} {path}:\n{}",
                boot.serial
            );
        }
    }
}

#[test]
fn the_memory_map_reaches_the_image_through_both_entries() {
    for artifact in [Artifact::Multiboot, Artifact::Pvh] {
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
    }
}

#[test]
fn hda_controllers_are_found_on_both_machines_even_behind_a_bridge() {
    for machine in MACHINES {
        for (controller, id) in [("intel-hda", "8086:2668"), ("ich9-intel-hda", "8086:293e")] {
            let boot = Qemu::new(machine, Artifact::Multiboot)
                .device(controller)
                .boot();
            boot.assert_logged("HDA controller");
            boot.assert_logged(&format!("({id})"));
            assert_eq!(
                boot.outcome,
                Outcome::Failure(EXIT_NO_DRIVER),
                "{machine} {controller}:\n{}",
                boot.serial
            );
        }
    }
    let boot = Qemu::new("q35", Artifact::Pvh)
        .device("pcie-root-port,id=rp,chassis=1")
        .device("intel-hda,bus=rp")
        .boot();
    boot.assert_logged("HDA controller 01:00.0 (8086:2668)");
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
