//! The initramfs images: dom0's (the Xen toolstack, qemu-xen, audiovm, the guests' kernel and
//! initramfs, the example configs), the Linux guest's (xen-snd-front, aplay/arecord, the test
//! signals), and the same guest as a Linux audio driver domain (snd-hda-intel instead of
//! xen-snd-front), which the `linux-audio` scenario measures audiovm against.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cpio::Tree;
use super::fetch::Packages;
use super::signals;
use crate::image::Artifacts;
use crate::shell;

/// Modules dom0 loads: the Xen device files, xenfs and pciback for passthrough.
const DOM0_MODULES: &[&str] = &[
    "xen-evtchn",
    "xen-gntdev",
    "xen-gntalloc",
    "xen-privcmd",
    "xenfs",
    "xen-pciback",
];
const GUEST_MODULES: &[&str] = &["snd-xen-front"];
/// What a Linux driver domain needs for QEMU's HDA card (the generic codec parser drives
/// hda-duplex).
const LINUX_AUDIO_MODULES: &[&str] = &["snd-hda-intel", "snd-hda-codec-generic"];
/// The toolstack programs in `/usr/lib/xen-4.17/bin`.
const XEN_TOOLS: &[&str] = &[
    "xl",
    "xenstored",
    "xenconsoled",
    "xen-init-dom0",
    "libxl-save-helper",
    // `xl console` and `xl create -c`.
    "xenconsole",
];
const XENSTORE_CLIENTS: &[&str] = &[
    "xenstore-chmod",
    "xenstore-exists",
    "xenstore-list",
    "xenstore-ls",
    "xenstore-read",
    "xenstore-rm",
    "xenstore-watch",
    "xenstore-write",
];
/// qemu-xen's option ROMs (direct kernel boot) and keymap: without them the device model
/// of an HVM domain with `kernel=` fails to start.
const QEMU_DATA: &[&str] = &[
    "linuxboot.bin",
    "linuxboot_dma.bin",
    "kvmvapic.bin",
    "multiboot.bin",
    "multiboot_dma.bin",
    "pvh.bin",
    "keymaps/en-us",
];

/// What the machine boots: dom0's kernel and initramfs.
pub struct Built {
    pub vmlinuz: PathBuf,
    pub dom0: PathBuf,
}

pub fn build(out: &Path, packages: &Packages, image: &Artifacts) -> Result<Built, String> {
    super::host_tool("gzip")?;
    std::fs::create_dir_all(out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let started = std::time::Instant::now();
    let guest = out.join("guest.cpio.gz");
    guest_tree(packages, GUEST_MODULES)?.write_gz(&guest)?;
    let linux_audio = out.join("linux-audio.cpio.gz");
    guest_tree(packages, LINUX_AUDIO_MODULES)?.write_gz(&linux_audio)?;
    let dom0 = out.join("dom0.cpio.gz");
    dom0_tree(packages, image, &guest, &linux_audio)?.write_gz(&dom0)?;
    println!(
        "xen: initramfs images built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Built {
        vmlinuz: packages.vmlinuz(),
        dom0,
    })
}

fn dom0_tree(
    packages: &Packages,
    image: &Artifacts,
    guest: &Path,
    linux_audio: &Path,
) -> Result<Tree, String> {
    let root = &packages.root;
    let repo = shell::root();
    let mut tree = base(packages, DOM0_MODULES)?;
    let mut binaries = Vec::new();
    for tool in XEN_TOOLS {
        let path = format!("/usr/lib/xen-4.17/bin/{tool}");
        tree.file(&path, &root.join(&path[1..]))?;
        binaries.push(root.join(&path[1..]));
    }
    tree.tree(
        "/usr/lib/xen-4.17/boot",
        &root.join("usr/lib/xen-4.17/boot"),
    )?;
    tree.tree("/etc/xen/scripts", &root.join("etc/xen/scripts"))?;
    tree.file("/etc/xen/xl.conf", &root.join("etc/xen/xl.conf"))?;
    tree.file("/usr/bin/xenstore", &root.join("usr/bin/xenstore"))?;
    binaries.push(root.join("usr/bin/xenstore"));
    for client in XENSTORE_CLIENTS {
        tree.symlink(&format!("/usr/bin/{client}"), "xenstore");
    }
    let qemu = "usr/libexec/xen-qemu-system-i386";
    tree.file(&format!("/{qemu}"), &root.join(qemu))?;
    binaries.push(root.join(qemu));
    for data in QEMU_DATA {
        let path = format!("usr/share/qemu/{data}");
        tree.file(&format!("/{path}"), &root.join(&path))?;
    }
    tree.file(
        "/usr/share/seabios/bios-256k.bin",
        &root.join("usr/share/seabios/bios-256k.bin"),
    )?;
    libraries(&mut tree, root, &binaries)?;
    // The driver domain, the guest and the example configs, at the paths the configs name.
    tree.file("/root/audiovm.bzimage", &image.bzimage)?;
    tree.file("/root/audiovm.elf", &image.elf)?;
    tree.file("/root/vmlinuz", &packages.vmlinuz())?;
    tree.file("/root/guest.cpio.gz", guest)?;
    tree.file("/root/linux-audio.cpio.gz", linux_audio)?;
    for cfg in ["audiovm.cfg", "guest.cfg"] {
        tree.file(&format!("/etc/xen/{cfg}"), &repo.join("examples").join(cfg))?;
    }
    tree.file(
        "/etc/xen/linux-audio.cfg",
        &repo.join("tests/xen/linux-audio.cfg"),
    )?;
    script(&mut tree, "/init", &repo.join("tests/xen/dom0-init.sh"))?;
    Ok(tree)
}

/// A Linux guest with the sound driver `modules` (the first is the one its init loads).
fn guest_tree(packages: &Packages, modules: &[&str]) -> Result<Tree, String> {
    let root = &packages.root;
    let mut tree = base(packages, modules)?;
    tree.file("/usr/bin/aplay", &root.join("usr/bin/aplay"))?;
    tree.symlink("/usr/bin/arecord", "aplay");
    // A fresh snd-hda-intel card starts muted; xen-snd-front has no mixer.
    tree.file("/usr/bin/amixer", &root.join("usr/bin/amixer"))?;
    tree.tree("/usr/share/alsa", &root.join("usr/share/alsa"))?;
    libraries(
        &mut tree,
        root,
        &[
            root.join("usr/bin/aplay"),
            root.join("usr/bin/amixer"),
            root.join("usr/bin/xenstore"),
        ],
    )?;
    for (name, wav) in signals::all() {
        tree.bytes(&format!("/root/{name}.wav"), wav, 0o644);
    }
    // The guest talks to dom0 (ready, go) through its own xenstore directory.
    tree.file("/usr/bin/xenstore", &root.join("usr/bin/xenstore"))?;
    for client in XENSTORE_CLIENTS {
        tree.symlink(&format!("/usr/bin/{client}"), "xenstore");
    }
    script(
        &mut tree,
        "/init",
        &shell::root().join("tests/xen/guest-init.sh"),
    )?;
    Ok(tree)
}

/// Adds a shell script, executable whatever its mode in the work tree.
fn script(tree: &mut Tree, path: &str, source: &Path) -> Result<(), String> {
    let text = std::fs::read(source).map_err(|e| format!("{}: {e}", source.display()))?;
    tree.bytes(path, text, 0o755);
    Ok(())
}

/// Busybox with every applet, the standard directories and `modules` with their
/// dependencies.
fn base(packages: &Packages, modules: &[&str]) -> Result<Tree, String> {
    let mut tree = Tree::default();
    for dir in [
        "/dev", "/proc", "/sys", "/run", "/tmp", "/root", "/mnt", "/var/log", "/var/lib",
    ] {
        tree.dir(dir);
    }
    tree.symlink("/var/run", "/run");
    let busybox = packages.root.join("bin/busybox");
    tree.file("/bin/busybox", &busybox)?;
    // The static busybox runs on the host too: ask it where its applets belong.
    let out = Command::new(&busybox)
        .arg("--list-full")
        .output()
        .map_err(|e| format!("{}: {e}", busybox.display()))?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let path = format!("/{applet}");
        if !tree.contains(&path) {
            tree.symlink(&path, "/bin/busybox");
        }
    }
    add_modules(&mut tree, packages, modules)?;
    Ok(tree)
}

/// Copies `names` and what they depend on, with the full `modules.dep` (busybox modprobe
/// reads it; entries for absent modules are harmless).
fn add_modules(tree: &mut Tree, packages: &Packages, names: &[&str]) -> Result<(), String> {
    let dir = packages.modules();
    let inside = format!("/lib/modules/{}", packages.kernel);
    let dep_path = dir.join("modules.dep");
    let deps =
        std::fs::read_to_string(&dep_path).map_err(|e| format!("{}: {e}", dep_path.display()))?;
    let by_name: BTreeMap<String, Vec<&str>> = deps
        .lines()
        .filter_map(|line| {
            let (module, rest) = line.split_once(':')?;
            let mut files = vec![module];
            files.extend(rest.split_whitespace());
            Some((module_name(module), files))
        })
        .collect();
    let mut files = BTreeSet::new();
    for name in names {
        let wanted = name.replace('-', "_");
        let module_files = by_name
            .get(&wanted)
            .ok_or_else(|| format!("kernel {} has no module {name}", packages.kernel))?;
        files.extend(module_files.iter().copied());
    }
    for file in files {
        tree.file(&format!("{inside}/{file}"), &dir.join(file))?;
    }
    for index in [
        "modules.dep",
        "modules.alias",
        "modules.builtin",
        "modules.order",
    ] {
        tree.file(&format!("{inside}/{index}"), &dir.join(index))?;
    }
    Ok(())
}

/// `kernel/sound/xen/snd_xen_front.ko` → `snd_xen_front`.
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file).replace('-', "_")
}

/// Copies the shared libraries `binaries` need (resolved by `ldd`, the unpacked packages
/// first, then the host, which is Debian 12 too), the dynamic loader and libgcc_s.
fn libraries(tree: &mut Tree, root: &Path, binaries: &[PathBuf]) -> Result<(), String> {
    super::host_tool("ldd")?;
    let search = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"]
        .map(|d| root.join(d).display().to_string())
        .join(":");
    let mut missing = BTreeSet::new();
    for binary in binaries {
        let out = Command::new("ldd")
            .arg(binary)
            .env("LD_LIBRARY_PATH", &search)
            .output()
            .map_err(|e| format!("ldd: {e}"))?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some((name, resolved)) = line.trim().split_once(" => ") else {
                continue;
            };
            match resolved.split_whitespace().next() {
                Some(path) if path.starts_with('/') => {
                    tree.file(&format!("/lib/x86_64-linux-gnu/{name}"), Path::new(path))?
                }
                _ => {
                    missing.insert(format!("{name} (for {})", binary.display()));
                }
            }
        }
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing.into_iter().collect();
        return Err(format!(
            "shared libraries not found on the host: {}\n(install the Debian packages that \
             provide them, e.g. qemu-system-x86 brings most of qemu-xen's)",
            list.join(", ")
        ));
    }
    tree.file(
        "/lib64/ld-linux-x86-64.so.2",
        Path::new("/lib64/ld-linux-x86-64.so.2"),
    )?;
    // glibc dlopens libgcc_s for pthread_cancel; xl aborts without it.
    tree.file(
        "/lib/x86_64-linux-gnu/libgcc_s.so.1",
        &root.join("lib/x86_64-linux-gnu/libgcc_s.so.1"),
    )
}
