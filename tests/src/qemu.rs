//! Booting the domain image in QEMU and collecting what it printed and how it stopped.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Which image file to boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    /// The ELF with the Multiboot 1 header (QEMU takes that entry).
    Multiboot,
    /// The same ELF with the Multiboot magic cleared: QEMU takes the Xen PVH note.
    Pvh,
    /// The Linux x86 boot-protocol image (what Xen's HVM `kernel=` boots).
    Linux,
}

/// How the image stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It wrote 0 to isa-debug-exit.
    Success,
    /// It wrote `1 + code`.
    Failure(u8),
    /// QEMU ended some other way (status, or `None` when killed at the timeout).
    Other(Option<i32>),
}

/// One boot's result.
#[derive(Debug)]
pub struct Boot {
    pub outcome: Outcome,
    /// Everything the image wrote to its serial port.
    pub serial: String,
    pub elapsed: Duration,
}

impl Boot {
    /// Panics with the whole serial log unless it contains `text`.
    pub fn assert_logged(&self, text: &str) {
        assert!(
            self.serial.contains(text),
            "expected {text:?} in the serial log:\n{}",
            self.serial
        );
    }
}

/// The image file for `artifact`: from `AUDIOVM_ELF`/`AUDIOVM_PVH_ELF` (set by `cargo xtask
/// test`), else built now with `cargo xtask build`.
pub fn artifact(artifact: Artifact) -> PathBuf {
    let var = match artifact {
        Artifact::Multiboot => "AUDIOVM_ELF",
        Artifact::Pvh => "AUDIOVM_PVH_ELF",
        Artifact::Linux => "AUDIOVM_BZIMAGE",
    };
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(cargo)
        .args(["run", "--quiet", "--package", "xtask", "--", "build"])
        .current_dir(root)
        .output()
        .expect("run cargo xtask build");
    assert!(
        out.status.success(),
        "cargo xtask build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = match artifact {
        Artifact::Multiboot => "image ELF: ",
        Artifact::Pvh => "image PVH-only ELF: ",
        Artifact::Linux => "image Linux boot protocol: ",
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix(prefix));
    PathBuf::from(
        line.unwrap_or_else(|| panic!("cargo xtask build printed no {prefix:?} line:\n{stdout}")),
    )
}

/// Whether KVM can be used (the device opens read-write); TCG otherwise.
pub fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// A QEMU command line for the image.
pub struct Qemu {
    machine: String,
    artifact: Artifact,
    devices: Vec<String>,
    audiodevs: Vec<String>,
    append: String,
    timeout: Duration,
    icount: bool,
    memory_mib: u32,
}

impl Qemu {
    pub fn new(machine: &str, artifact: Artifact) -> Qemu {
        Qemu {
            machine: machine.into(),
            artifact,
            devices: Vec::new(),
            audiodevs: Vec::new(),
            append: String::new(),
            timeout: Duration::from_secs(30),
            icount: false,
            memory_mib: 64,
        }
    }

    /// Adds `-device <spec>`.
    pub fn device(mut self, spec: &str) -> Qemu {
        self.devices.push(spec.into());
        self
    }

    /// Adds `-audiodev <spec>`.
    pub fn audiodev(mut self, spec: &str) -> Qemu {
        self.audiodevs.push(spec.into());
        self
    }

    /// Runs under TCG with `-icount shift=0,sleep=off`: virtual time follows the guest's
    /// instructions and skips while it halts, so audio timing is deterministic and independent
    /// of host load. Needed for recordings: with KVM on this host the HDA model's DMA timer and
    /// the wav backend drift apart and QEMU replays stale periods.
    pub fn deterministic_time(mut self) -> Qemu {
        self.icount = true;
        self
    }

    /// Stops QEMU after `timeout` (SIGTERM, so it closes its WAV files properly).
    pub fn timeout(mut self, timeout: Duration) -> Qemu {
        self.timeout = timeout;
        self
    }

    /// The guest's RAM (`-m`), 64 MiB unless set.
    pub fn memory(mut self, mib: u32) -> Qemu {
        self.memory_mib = mib;
        self
    }

    /// Forces KVM (when usable) even for recordings: for wall-clock measurements.
    pub fn kvm(mut self) -> Qemu {
        self.icount = false;
        self
    }

    /// The kernel command line.
    pub fn append(mut self, cmdline: &str) -> Qemu {
        self.append = cmdline.into();
        self
    }

    /// Boots and waits for the image to stop (or kills it at the timeout).
    pub fn boot(self) -> Boot {
        let image = artifact(self.artifact);
        let mut command = Command::new("qemu-system-x86_64");
        command
            .args([
                "-machine",
                &self.machine,
                "-m",
                &format!("{}M", self.memory_mib),
                "-display",
                "none",
                "-nodefaults",
            ])
            .args(["-serial", "stdio", "-monitor", "none", "-no-reboot"])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"])
            .args(if self.icount {
                &["-accel", "tcg", "-icount", "shift=0,sleep=off"][..]
            } else if kvm_usable() {
                &["-accel", "kvm"][..]
            } else {
                &["-accel", "tcg"][..]
            })
            .arg("-kernel")
            .arg(&image)
            .args(["-append", &self.append]);
        for device in &self.devices {
            command.args(["-device", device]);
        }
        for audiodev in &self.audiodevs {
            command.args(["-audiodev", audiodev]);
        }
        let start = Instant::now();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start qemu-system-x86_64 ({e}): install it with `apt-get install qemu-system-x86`")
            });
        let mut stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stdout.read_to_end(&mut text);
            String::from_utf8_lossy(&text).replace('\r', "")
        });
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for qemu") {
                break status.code();
            }
            if start.elapsed() > self.timeout {
                // SIGTERM first: QEMU then finishes its WAV header. SIGKILL if it lingers.
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                let deadline = Instant::now() + Duration::from_secs(5);
                while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let serial = reader.join().expect("serial reader");
        let outcome = match status {
            Some(1) => Outcome::Success,
            Some(s) if s > 1 && s % 2 == 1 => Outcome::Failure(((s >> 1) - 1) as u8),
            other => Outcome::Other(other),
        };
        Boot {
            outcome,
            serial,
            elapsed: start.elapsed(),
        }
    }
}

/// Runs `cases` on a few threads (QEMU under TCG takes a core each); panics listing every
/// case that failed, with its panic message.
pub fn run_cases<C: std::fmt::Debug + Copy + Sync>(cases: &[C], check: impl Fn(C) + Sync) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(&case) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let began = Instant::now();
                    let result =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(case)));
                    eprintln!(
                        "{case:?}: {} in {:.1} s",
                        if result.is_ok() { "ok" } else { "FAILED" },
                        began.elapsed().as_secs_f64()
                    );
                    if let Err(panic) = result {
                        let message = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{case:?}:\n{message}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{} cases on {threads} threads in {:.1} s",
        cases.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
