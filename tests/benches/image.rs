//! The image's figures (issue #4): its size, the time from the image's first instruction to
//! "ready" in its own clock (virtual time under icount, wall time under KVM; QEMU's own
//! start-up is not in it), the smallest RAM the tone self-test passes with, and the heap's
//! high-water mark. Printed as a report; `cargo xtask bench` runs it.
//!
//! Under KVM the figure moves with the host's load (other guests, builds), so it is the
//! median of several boots, with the spread.

use std::time::{Duration, Instant};

use e2e::qemu::{Artifact, Outcome, Qemu, artifact};

/// The image's own timestamp of `marker` (seconds since its console came up).
fn logged_at(serial: &str, marker: &str) -> Option<f64> {
    let line = serial.lines().find(|l| l.contains(marker))?;
    line.trim_start_matches('[')
        .split(']')
        .next()?
        .trim()
        .parse()
        .ok()
}

fn ready(qemu: Qemu) -> (Duration, Option<f64>) {
    let start = Instant::now();
    let boot = qemu
        .device("ich9-intel-hda,id=hda")
        .device("hda-duplex,bus=hda.0,audiodev=snd")
        .audiodev("none,id=snd")
        .append("audiovm.selftest=ready")
        .boot();
    assert_eq!(boot.outcome, Outcome::Success, "{}", boot.serial);
    (
        start.elapsed(),
        logged_at(&boot.serial, "INFO  audiovm::image: ready"),
    )
}

fn tone_passes(mib: u32) -> Option<String> {
    let boot = Qemu::new("q35", Artifact::Multiboot)
        .deterministic_time()
        .memory(mib)
        .device("ich9-intel-hda,id=hda")
        .device("hda-duplex,bus=hda.0,audiodev=snd")
        .audiodev("none,id=snd")
        .append("audiovm.selftest=tone:440:1")
        .boot();
    (boot.outcome == Outcome::Success).then_some(boot.serial)
}

fn main() {
    // `cargo bench` passes --bench; nothing to filter here.
    let elf = artifact(Artifact::Multiboot);
    let bzimage = artifact(Artifact::Linux);
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!("\nimage report");
    println!(
        "  size: audiovm.elf {} KiB, audiovm.bzimage {} KiB (goal <= 512 KiB)",
        size(&elf) / 1024,
        size(&bzimage) / 1024
    );
    let (wall, image) = ready(Qemu::new("q35", Artifact::Multiboot).deterministic_time());
    println!(
        "  boot to ready, TCG icount: {:.1} ms in the image's own clock (QEMU run {} ms wall)",
        image.unwrap_or(f64::NAN) * 1000.0,
        wall.as_millis()
    );
    if e2e::qemu::kvm_usable() {
        const RUNS: usize = 7;
        let mut images = Vec::new();
        let mut walls = Vec::new();
        for _ in 0..RUNS {
            let (wall, image) = ready(Qemu::new("q35", Artifact::Multiboot).kvm());
            images.push(image.unwrap_or(f64::NAN) * 1000.0);
            walls.push(wall.as_millis());
        }
        images.sort_by(f64::total_cmp);
        walls.sort();
        println!(
            "  boot to ready, KVM: median {:.1} ms in the image's clock (min {:.1}, max {:.1}, {RUNS} boots; goal <= 50 ms); QEMU start to exit median {} ms wall",
            images[RUNS / 2],
            images[0],
            images[RUNS - 1],
            walls[RUNS / 2]
        );
    }
    let mut smallest = None;
    for mib in [3, 4, 6, 8, 12, 16, 24, 32] {
        if let Some(serial) = tone_passes(mib) {
            let peak = serial
                .lines()
                .find_map(|l| l.split("peak ").nth(1))
                .unwrap_or("?")
                .trim()
                .to_string();
            smallest = Some((mib, peak));
            break;
        }
    }
    match smallest {
        Some((mib, peak)) => println!(
            "  smallest -m for the tone self-test: {mib} MiB; heap peak {peak} bytes (goal: <= 8 MiB of own allocations)"
        ),
        None => println!("  the tone self-test failed at every -m up to 32 MiB"),
    }
}
