//! The Debian packages the project needs, checked before a command runs.
//!
//! As root (a fresh CI machine) missing packages are installed with `apt-get`; otherwise the
//! exact command to install them is printed and the command fails.

use std::path::Path;
use std::process::Command;

/// A Debian package and a file whose presence shows it is installed.
pub struct Package {
    pub name: &'static str,
    pub probe: &'static str,
    pub why: &'static str,
}

pub const QEMU: Package = Package {
    name: "qemu-system-x86",
    probe: "/usr/bin/qemu-system-x86_64",
    why: "boots the image and runs QEMU's HDA model over qtest",
};
const XEN_HEADERS: Package = Package {
    name: "libxen-dev",
    probe: "/usr/include/xen/io/sndif.h",
    why: "the real Xen public headers the conformance tests check against",
};
const C_COMPILER: Package = Package {
    name: "gcc",
    probe: "/usr/bin/cc",
    why: "builds the C side of the conformance and cross-language ring tests",
};
const SPEEXDSP: Package = Package {
    name: "libspeexdsp-dev",
    probe: "/usr/include/speex/speex_resampler.h",
    why: "the peer resampler the resampler's quality test and benchmark compare against",
};

pub const TEST: &[Package] = &[QEMU, XEN_HEADERS, C_COMPILER, SPEEXDSP];
pub const BENCH: &[Package] = &[XEN_HEADERS, C_COMPILER, SPEEXDSP];
pub const ALL: &[Package] = &[QEMU, XEN_HEADERS, C_COMPILER, SPEEXDSP];

/// Makes sure every package is there, installing missing ones when running as root.
pub fn ensure(packages: &[Package]) -> Result<(), String> {
    let missing: Vec<&Package> = packages
        .iter()
        .filter(|p| !Path::new(p.probe).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
    for package in &missing {
        println!("missing Debian package {}: {}", package.name, package.why);
    }
    let command = format!("apt-get update && apt-get install -y {}", names.join(" "));
    if !is_root() {
        return Err(format!(
            "install the missing packages first:\n    sudo sh -c '{command}'"
        ));
    }
    println!("==> installing: {command}");
    let status = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    match missing.iter().find(|p| !Path::new(p.probe).exists()) {
        None if status.success() => Ok(()),
        _ => Err(format!("`{command}` did not install everything ({status})")),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}
