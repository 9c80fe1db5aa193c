//! `cargo xtask xen`: a real Xen 4.17 machine inside QEMU (TCG, emulated AMD IOMMU, an
//! ICH9 HDA card recorded to a WAV file), built from Debian packages, in which dom0 starts
//! audiovm as an HVM driver domain with the card passed through and Linux guests use it.
//!
//! Each scenario is one fresh boot of the machine: dom0's `/init` (`tests/xen/dom0-init.sh`)
//! runs the scenario named on its command line and prints `AUDIOVM-E2E RESULT=...`; the host
//! then checks what QEMU recorded.

mod analysis;
mod checks;
mod cpio;
mod fetch;
mod initramfs;
mod machine;
mod scenario;
mod signals;

use std::path::PathBuf;
use std::process::Command;

use crate::image::{self, Artifacts};
use crate::{deps, shell};

pub use scenario::ALL as SCENARIOS;

const USAGE: &str = "\
usage: cargo xtask xen [scenario...]

Boots Xen 4.17 + a Debian dom0 in QEMU (TCG) once per scenario and runs audiovm as an HVM
driver domain with QEMU's ICH9 HDA card passed through; the card's output is recorded to
target/xen-machine/out/<scenario>.wav and checked. Scenarios (default: all):
  card        audiovm boots with the card and plays its chime
  play        a Linux guest plays 1 kHz through audiovm with aplay
  capture     a guest allowed to record gets data; one not allowed is refused
  two-guests  two guests play 440 Hz and 1 kHz at once: both heard, mixed
  crash       a guest is destroyed mid-stream; the other plays on without a gap
  linux-audio the yardstick: a Linux HVM domain with snd-hda-intel plays the tone itself
`cargo xtask xen shell` boots the same machine with a dom0 shell on this terminal.
`cargo xtask xen check <scenario> <file.wav>` checks an earlier recording again.
Debian packages are cached in target/xen-machine (AUDIOVM_XEN_REFETCH=1 downloads again);
serial logs go to target/xen-machine/logs/<scenario>.log. The machine runs in
instruction-counted virtual time (-icount shift=0,sleep=off), so that host load cannot break
up its sound; AUDIOVM_XEN_ICOUNT=<shift> changes the shift, AUDIOVM_XEN_ICOUNT=off runs it in
real time.
";

/// Where the machine's packages, images, recordings and logs live.
pub fn machine_dir() -> PathBuf {
    shell::target_dir().join("xen-machine")
}

/// `cargo xtask xen [scenario...]`.
pub fn command(args: &[String]) -> Result<(), String> {
    if args
        .iter()
        .any(|a| matches!(a.as_str(), "help" | "-h" | "--help"))
    {
        print!("{USAGE}");
        return Ok(());
    }
    if let [check, name, wav] = args
        && check == "check"
    {
        let notes = checks::check(name, std::path::Path::new(wav))?;
        notes.iter().for_each(|n| println!("{n}"));
        return Ok(());
    }
    let names: Vec<&str> = if args.is_empty() {
        SCENARIOS.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    if names == ["shell"] {
        return interactive(&image::build()?);
    }
    if let Some(unknown) = names.iter().find(|n| !SCENARIOS.contains(n)) {
        return Err(format!("unknown scenario `{unknown}`\n\n{USAGE}"));
    }
    let artifacts = image::build()?;
    run(&artifacts, &names)
}

/// Runs `names` (from [`SCENARIOS`]) with the image in `artifacts`, each in a fresh
/// machine, retried once; fails with the logs of the failed ones. For `cargo xtask test`.
pub fn run(artifacts: &Artifacts, names: &[&str]) -> Result<(), String> {
    let started = std::time::Instant::now();
    let machine = prepare(artifacts)?;
    // Retries stop once the suite has run this long, so that a broken image cannot make
    // it take more than about 15 minutes (five scenarios take 5-6 minutes).
    let retry_budget = std::time::Duration::from_secs(11 * 60);
    let outcomes: Vec<scenario::Outcome> = names
        .iter()
        .map(|name| scenario::run(&machine, name, started.elapsed() < retry_budget))
        .collect();
    println!(
        "xen: {} scenarios in {:.0} s",
        names.len(),
        started.elapsed().as_secs_f64()
    );
    scenario::summary(&outcomes, &machine.dir.join("logs"))
}

/// The showcase: the machine with audiovm started, and a dom0 shell on this terminal.
pub fn interactive(artifacts: &Artifacts) -> Result<(), String> {
    let machine = prepare(artifacts)?;
    println!(
        "xen: dom0 starts audiovm, then gives you a shell. Try `xl create -c \
         /etc/xen/guest.cfg`: the guest plays 1 kHz and gives you its shell (Ctrl-] leaves it).\n\
         Ctrl-A X stops the machine."
    );
    machine::Boot {
        xen: &machine.xen,
        vmlinuz: &machine.vmlinuz,
        initramfs: &machine.initramfs,
        scenario: "shell",
        wav: machine.dir.join("out/shell.wav"),
        log: machine.dir.join("logs/shell.log"),
        timeout: std::time::Duration::MAX,
    }
    .interactive()
}

/// The packages (fetched once) and both initramfs images (built every time: the image,
/// scripts and configs change).
fn prepare(artifacts: &Artifacts) -> Result<scenario::Machine, String> {
    // qemu-system-x86 also brings the shared libraries qemu-xen needs in dom0.
    deps::ensure(&[deps::QEMU])?;
    let dir = machine_dir();
    let packages = fetch::packages(&dir)?;
    let built = initramfs::build(&dir.join("out"), &packages, artifacts)?;
    Ok(scenario::Machine {
        xen: packages.xen.clone(),
        vmlinuz: built.vmlinuz,
        initramfs: built.dom0,
        dir,
    })
}

/// Fails with what to install when a host program is missing.
fn host_tool(name: &str) -> Result<(), String> {
    let package = match name {
        "qemu-system-x86_64" => "qemu-system-x86",
        "apt-get" | "apt-cache" => "apt",
        "dpkg-deb" => "dpkg",
        "ldd" => "libc-bin",
        other => other,
    };
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()));
    if found {
        Ok(())
    } else {
        Err(format!(
            "the Xen machine needs `{name}` on the host: apt-get install {package}"
        ))
    }
}

/// Runs a helper program, failing with its output when it fails.
fn run_quiet(mut command: Command) -> Result<(), String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot start {}: {e}", shell::describe(&command)))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}):\n{}{}",
            shell::describe(&command),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
