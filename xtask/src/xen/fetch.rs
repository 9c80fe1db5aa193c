//! The Debian packages the Xen machine is made of: downloaded with `apt-get download` (no
//! install, so the host stays untouched), unpacked with `dpkg-deb -x`, cached until
//! `AUDIOVM_XEN_REFETCH=1`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{host_tool, run_quiet};

/// Packages unpacked into `root/`, the tree both initramfs images are taken from. apt-get
/// download does not resolve dependencies, so the libraries are listed too; the rest of the
/// shared libraries come from the host (Debian 12 as well) through `ldd`.
const PACKAGES: &[&str] = &[
    "xen-hypervisor-4.17-amd64",
    "xen-utils-4.17",
    "xen-utils-common",
    "xenstore-utils",
    "libxenmisc4.17",
    "libxencall1",
    "libxenevtchn1",
    "libxenforeignmemory1",
    "libxengnttab1",
    "libxenstore4",
    "libxentoollog1",
    "libxendevicemodel1",
    "libxenhypfs1",
    "libxentoolcore1",
    "libyajl2",
    "libext2fs2",
    "libuuid1",
    "busybox-static",
    // qemu-xen, the HVM device model, with the firmware and option ROMs of the same release.
    "qemu-system-xen",
    "qemu-system-data",
    "seabios",
    // aplay/arecord in the guest.
    "alsa-utils",
    "libasound2",
    "libasound2-data",
    // glibc dlopens it for pthread_cancel: xl aborts without it, and ldd does not list it.
    "libgcc-s1",
];

/// depmod, unpacked apart: it runs on the host only, to index the kernel's modules.
const KMOD_PACKAGES: &[&str] = &["kmod", "libkmod2"];

/// The meta-package whose dependency names the current Debian kernel.
const KERNEL_META: &str = "linux-image-amd64";

/// The unpacked packages.
pub struct Packages {
    /// Every package but kmod, unpacked together.
    pub root: PathBuf,
    /// The Debian kernel release, e.g. `6.1.0-48-amd64`.
    pub kernel: String,
    /// Xen, gunzipped: a Multiboot 1 ELF that QEMU's `-kernel` loads.
    pub xen: PathBuf,
}

impl Packages {
    pub fn vmlinuz(&self) -> PathBuf {
        self.root.join(format!("boot/vmlinuz-{}", self.kernel))
    }

    pub fn modules(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.kernel)
    }
}

/// The cached packages, downloading and unpacking them first if needed.
pub fn packages(dir: &Path) -> Result<Packages, String> {
    let root = dir.join("root");
    let stamp = dir.join("fetched");
    let refetch = std::env::var_os("AUDIOVM_XEN_REFETCH").is_some_and(|v| v == "1");
    if !refetch && let Ok(kernel) = std::fs::read_to_string(&stamp) {
        let packages = Packages {
            root: root.clone(),
            kernel: kernel.trim().to_string(),
            xen: dir.join("xen-4.17.elf"),
        };
        if packages.xen.exists() && packages.modules().join("modules.dep").exists() {
            return Ok(packages);
        }
    }
    for tool in ["apt-get", "apt-cache", "dpkg-deb", "gzip"] {
        host_tool(tool)?;
    }
    let _ = std::fs::remove_file(&stamp);
    let started = std::time::Instant::now();
    let (debs, kmod) = (dir.join("debs"), dir.join("kmod"));
    // A fresh machine may have no package lists, or stale ones naming versions the mirror
    // no longer has: then update and start again from an empty directory.
    let kernel = match download(&debs) {
        Ok(kernel) => kernel,
        Err(_) => {
            apt_update()?;
            download(&debs)?
        }
    };
    for d in [&root, &kmod] {
        fresh_dir(d)?;
    }
    for entry in std::fs::read_dir(&debs).map_err(|e| format!("{}: {e}", debs.display()))? {
        let deb = entry.map_err(|e| e.to_string())?.path();
        let name = deb.file_name().unwrap_or_default().to_string_lossy();
        let into = if KMOD_PACKAGES
            .iter()
            .any(|p| name.starts_with(&format!("{p}_")))
        {
            &kmod
        } else {
            &root
        };
        let mut unpack = Command::new("dpkg-deb");
        unpack.arg("-x").arg(&deb).arg(into);
        run_quiet(unpack)?;
    }
    let xen = dir.join("xen-4.17.elf");
    gunzip(&root.join("boot/xen-4.17-amd64.gz"), &xen)?;
    depmod(&kmod, &root, &kernel)?;
    std::fs::write(&stamp, &kernel).map_err(|e| format!("write {}: {e}", stamp.display()))?;
    println!(
        "xen: fetched and unpacked the packages (kernel {kernel}) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Packages { root, kernel, xen })
}

/// Downloads every package into an emptied `debs`; returns the kernel release.
fn download(debs: &Path) -> Result<String, String> {
    let kernel = kernel_release()?;
    fresh_dir(debs)?;
    let image = format!("linux-image-{kernel}");
    let mut apt = Command::new("apt-get");
    apt.arg("download")
        .args(PACKAGES)
        .arg(&image)
        .args(KMOD_PACKAGES)
        .current_dir(debs);
    run_quiet(apt)?;
    Ok(kernel)
}

/// The kernel release `linux-image-amd64` currently depends on.
fn kernel_release() -> Result<String, String> {
    let out = Command::new("apt-cache")
        .args(["depends", KERNEL_META])
        .output()
        .map_err(|e| format!("apt-cache: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: linux-image-"))
        .map(str::to_string)
        .ok_or_else(|| format!("apt-cache depends {KERNEL_META} names no linux-image package"))
}

fn fresh_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("remove {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))
}

fn apt_update() -> Result<(), String> {
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    run_quiet(update)
        .map_err(|e| format!("{e}\n(the Xen machine's packages come from Debian's mirrors)"))
}

fn gunzip(from: &Path, to: &Path) -> Result<(), String> {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(from)
        .output()
        .map_err(|e| format!("gzip: {e}"))?;
    if !out.status.success() {
        return Err(format!("gzip -dc {} failed", from.display()));
    }
    std::fs::write(to, out.stdout).map_err(|e| format!("write {}: {e}", to.display()))
}

/// Indexes the modules (the debs ship no `modules.dep`) with the unpacked kmod.
fn depmod(kmod: &Path, root: &Path, kernel: &str) -> Result<(), String> {
    let mut depmod = Command::new(kmod.join("bin/kmod"));
    depmod
        .arg0("depmod")
        .arg("-b")
        .arg(root)
        .arg(kernel)
        .env("LD_LIBRARY_PATH", kmod.join("usr/lib/x86_64-linux-gnu"));
    run_quiet(depmod)
}
