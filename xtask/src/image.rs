//! Building the domain image and booting it in QEMU.

use std::path::PathBuf;
use std::process::Command;

use crate::{deps, shell};

/// The bare-metal target the image is built for.
pub const TARGET: &str = "x86_64-unknown-none";

/// The files `build` produces.
pub struct Artifacts {
    /// The ELF image (Multiboot1 header and Xen PVH note).
    pub elf: PathBuf,
}

impl Artifacts {
    pub fn print(&self) {
        println!("image ELF: {}", self.elf.display());
    }

    /// Tells the tests where the artifacts are.
    pub fn export(&self, command: &mut Command) {
        command.env("AUDIOVM_ELF", &self.elf);
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
    let elf = shell::root()
        .join("target")
        .join(TARGET)
        .join("release")
        .join("audiovm");
    if !elf.exists() {
        return Err(format!("the build did not produce {}", elf.display()));
    }
    Ok(Artifacts { elf })
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
    shell::step("run", qemu)
}
