//! Building the domain image and booting it in QEMU.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{deps, shell};

/// The bare-metal target the image is built for.
pub const TARGET: &str = "x86_64-unknown-none";

/// The Multiboot 1 header magic (`0x1BADB002`), as it sits in the file.
const MULTIBOOT_MAGIC: [u8; 4] = 0x1bad_b002u32.to_le_bytes();
/// A Multiboot loader looks for the header in the first 8 KiB.
const MULTIBOOT_SEARCH: usize = 8192;

/// The files `build` produces.
pub struct Artifacts {
    /// The ELF image with both entries (Multiboot 1 header and Xen PVH note). QEMU's
    /// `-kernel` takes its Multiboot header, a Xen PVH domain its note.
    pub elf: PathBuf,
    /// The same image with the Multiboot magic cleared, so that QEMU's `-kernel` takes the
    /// PVH note instead: how the tests exercise the PVH entry without Xen.
    pub pvh_elf: PathBuf,
    /// A Linux x86 boot-protocol image (setup + the image's bytes), what Xen's HVM
    /// `kernel=` boots on an unmodified dom0.
    pub bzimage: PathBuf,
}

impl Artifacts {
    pub fn print(&self) {
        println!("image ELF: {}", self.elf.display());
        println!("image PVH-only ELF: {}", self.pvh_elf.display());
        println!("image Linux boot protocol: {}", self.bzimage.display());
    }

    /// Tells the tests where the artifacts are.
    pub fn export(&self, command: &mut Command) {
        command
            .env("AUDIOVM_ELF", &self.elf)
            .env("AUDIOVM_PVH_ELF", &self.pvh_elf)
            .env("AUDIOVM_BZIMAGE", &self.bzimage);
    }
}

pub fn build() -> Result<Artifacts, String> {
    shell::step(
        "build image",
        shell::cargo(&[
            "build",
            "--release",
            "--package",
            "audiovm",
            "--target",
            TARGET,
        ]),
    )?;
    let out = shell::target_dir().join(TARGET).join("release");
    let built = out.join("audiovm");
    let elf = out.join("audiovm.elf");
    std::fs::copy(&built, &elf).map_err(|e| format!("copy {}: {e}", built.display()))?;
    let pvh_elf = out.join("audiovm-pvh.elf");
    write_pvh_only(&elf, &pvh_elf)?;
    let bzimage = out.join("audiovm.bzimage");
    crate::bzimage::write(&elf, &bzimage)?;
    Ok(Artifacts {
        elf,
        pvh_elf,
        bzimage,
    })
}

/// Writes a copy of `elf` whose Multiboot header no loader will recognise.
fn write_pvh_only(elf: &Path, out: &Path) -> Result<(), String> {
    let mut bytes = std::fs::read(elf).map_err(|e| format!("read {}: {e}", elf.display()))?;
    let search = &bytes[..bytes.len().min(MULTIBOOT_SEARCH)];
    let at = (0..search.len().saturating_sub(3))
        .step_by(4)
        .find(|&i| search[i..i + 4] == MULTIBOOT_MAGIC)
        .ok_or_else(|| format!("{}: no Multiboot header in the first 8 KiB", elf.display()))?;
    bytes[at..at + 4].fill(0);
    std::fs::write(out, bytes).map_err(|e| format!("write {}: {e}", out.display()))
}

/// Boots the image in QEMU with an emulated HDA card whose output goes to a WAV file.
pub fn run(args: &[String]) -> Result<(), String> {
    deps::ensure(&[deps::QEMU])?;
    let artifacts = build()?;
    let wav = shell::target_dir().join("audiovm-run.wav");
    let audiodev = match args {
        [flag, backend] if flag == "--audio" => format!("{backend},id=snd"),
        [] => format!("wav,id=snd,path={}", wav.display()),
        _ => return Err("usage: cargo xtask run [--audio pa|alsa]".into()),
    };
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args([
        "-machine", "q35", "-m", "64", "-display", "none", "-serial", "stdio",
    ])
    .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"])
    .args([
        "-device",
        "intel-hda,id=hda",
        "-device",
        "hda-duplex,bus=hda.0,audiodev=snd",
    ])
    .args(["-audiodev", &audiodev])
    .arg("-kernel")
    .arg(&artifacts.elf);
    if kvm_usable() {
        qemu.args(["-accel", "kvm"]);
    }
    let status = qemu
        .status()
        .map_err(|e| format!("cannot start qemu-system-x86_64: {e}"))?;
    // isa-debug-exit: status 1 is the image's success (it writes 0).
    match status.code() {
        Some(1) => Ok(()),
        other => Err(format!("the image stopped with QEMU status {other:?}")),
    }
}

/// Whether /dev/kvm can be opened for KVM acceleration.
fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}
