//! One boot of the Xen machine under QEMU TCG: Xen, dom0 with its initramfs, an emulated AMD
//! IOMMU and an ICH9 HDA card whose output QEMU records to a WAV file. The serial port (Xen,
//! dom0 and the domains' debug-port lines) is read line by line, timestamped and logged.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::shell;

/// Xen's command line.
/// - `smap=0`: with SMAP, the PV dom0 dies at its first exception bounce under TCG.
/// - `spec-ctrl=eager-fpu`: lazy FPU switching under TCG's SVM corrupts dom0's SIMD state
///   while an HVM domain runs.
/// - `guest_loglvl=all`: the domains' debug-port lines (audiovm's log) reach the serial port.
/// - `conring_size`: `xl dmesg` keeps every line audiovm printed.
const XEN_ARGS: &str = "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all \
    console_timestamps=boot conring_size=1M dom0_mem=768M,max:768M noreboot smap=0 \
    spec-ctrl=eager-fpu";
const DOM0_ARGS: &str = "console=hvc0 earlyprintk=xen loglevel=6";
/// The machine prints something at least this often (its longest quiet stretch, the Linux
/// HVM domain of `linux-audio` booting, took up to 160 s on a busy host); longer means a hang.
const SILENCE: Duration = Duration::from_secs(180);
/// dom0 prints this, then powers off; QEMU should exit right after.
pub const RESULT_MARKER: &str = "AUDIOVM-E2E RESULT=";

/// What one boot needs.
pub struct Boot<'a> {
    pub xen: &'a Path,
    pub vmlinuz: &'a Path,
    pub initramfs: &'a Path,
    /// `audiovm.scenario=` for dom0's init.
    pub scenario: &'a str,
    pub wav: PathBuf,
    pub log: PathBuf,
    pub timeout: Duration,
}

/// A serial line and when it arrived, in seconds since QEMU started.
pub struct Line {
    pub at: f64,
    pub text: String,
}

pub struct Run {
    pub lines: Vec<Line>,
    pub timed_out: bool,
    pub elapsed: Duration,
    /// When the recording grew: (seconds since QEMU started, file length), for timing sounds
    /// against serial lines.
    pub wav_growth: Vec<(f64, u64)>,
}

impl Run {
    /// When byte `offset` of the recording reached the file, in seconds since QEMU started
    /// (late by at most QEMU's write buffering, a few KiB: ~20 ms of audio).
    pub fn wav_written_at(&self, offset: u64) -> Option<f64> {
        self.wav_growth
            .iter()
            .find(|(_, len)| *len > offset)
            .map(|(at, _)| *at)
    }

    /// The first line containing `text`, from line `from` on.
    pub fn find(&self, from: usize, text: &str) -> Option<(usize, &Line)> {
        self.lines
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, l)| l.text.contains(text))
    }
}

impl Boot<'_> {
    fn command(&self) -> Command {
        let mut qemu = Command::new("qemu-system-x86_64");
        // -cpu max is an AMD model with SVM and NPT under TCG (Debian's Xen has no shadow
        // paging, so HVM needs NPT); -rdtscp because TCG's SVM reports RDTSCP badly.
        qemu.args([
            "-accel",
            "tcg",
            "-cpu",
            "max,-rdtscp",
            "-m",
            "2G",
            "-smp",
            "2",
        ])
        .args(["-machine", "q35", "-nodefaults", "-display", "none"])
        .args(["-monitor", "none", "-serial", "stdio", "-no-reboot"])
        .args(["-device", "amd-iommu"])
        .args(icount())
        // At 00:1b.0, where real ICH9 boards have it, as examples/audiovm.cfg says.
        .args(["-device", "ich9-intel-hda,id=hda,bus=pcie.0,addr=0x1b"])
        .args(["-device", "hda-duplex,bus=hda.0,audiodev=snd0"])
        // QEMU's codec drops audio itself when the host does not run it in time: said on
        // stderr, so that a gap in the recording can be told from one of audiovm's.
        .args(["-trace", "hda_audio_overrun"])
        .arg("-audiodev")
        .arg(format!(
            "wav,id=snd0,path={},out.frequency=48000,out.channels=2",
            self.wav.display()
        ))
        .arg("-kernel")
        .arg(self.xen)
        .args(["-append", XEN_ARGS])
        .arg("-initrd")
        .arg(format!(
            "{} {DOM0_ARGS} audiovm.scenario={},{}",
            self.vmlinuz.display(),
            self.scenario,
            self.initramfs.display()
        ));
        qemu
    }

    /// Boots with the serial port on this terminal (Ctrl-A X quits QEMU, Ctrl-A C its
    /// monitor): `cargo xtask xen shell`.
    pub fn interactive(&self) -> Result<(), String> {
        super::host_tool("qemu-system-x86_64")?;
        let mut command = self.command();
        let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
        let mut qemu = Command::new(command.get_program());
        for arg in args {
            // One stdio user: the serial port, with QEMU's monitor multiplexed in.
            match arg.to_str() {
                Some("stdio") => qemu.arg("mon:stdio"),
                _ => qemu.arg(arg),
            };
        }
        command = qemu;
        let status = command
            .status()
            .map_err(|e| format!("cannot start qemu-system-x86_64: {e}"))?;
        println!(
            "QEMU exited ({status}); the recording is {}",
            self.wav.display()
        );
        Ok(())
    }

    /// Boots, collects the serial lines until QEMU exits or the timeout, writes the log.
    pub fn run(&self) -> Result<Run, String> {
        super::host_tool("qemu-system-x86_64")?;
        let _ = std::fs::remove_file(&self.wav);
        let mut command = self.command();
        let mut log = std::fs::File::create(&self.log)
            .map_err(|e| format!("create {}: {e}", self.log.display()))?;
        let _ = writeln!(log, "CMD: {}", shell::describe(&command));
        let start = Instant::now();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start qemu-system-x86_64: {e}"))?;
        let (send, receive) = mpsc::channel();
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let send = send.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut bytes = Vec::new();
                while reader.read_until(b'\n', &mut bytes).is_ok_and(|n| n > 0) {
                    let text = String::from_utf8_lossy(&bytes).replace('\r', "");
                    if send
                        .send((start.elapsed(), text.trim_end().to_string()))
                        .is_err()
                    {
                        break;
                    }
                    bytes.clear();
                }
            });
        }
        drop(send);
        let watcher = watch_growth(self.wav.clone(), start);
        let mut lines = Vec::new();
        let mut deadline = start + self.timeout;
        let mut timed_out = false;
        let mut silent_since = Instant::now();
        loop {
            let now = Instant::now();
            if now >= deadline {
                timed_out = !lines.iter().any(|l: &Line| l.text.contains(RESULT_MARKER));
                let _ = writeln!(
                    log,
                    "[{:8.2}] TIMEOUT: stopping QEMU",
                    start.elapsed().as_secs_f64()
                );
                stop(&mut child);
                break;
            }
            match receive.recv_timeout((deadline - now).min(SILENCE)) {
                Ok((at, text)) => {
                    silent_since = Instant::now();
                    let at = at.as_secs_f64();
                    let _ = writeln!(log, "[{at:8.2}] {text}");
                    if text.starts_with("AUDIOVM-E2E") {
                        println!(
                            "  [{at:7.1} s] {}",
                            &text["AUDIOVM-E2E ".len().min(text.len())..]
                        );
                    }
                    if text.contains(RESULT_MARKER) {
                        // dom0 powers off next; don't wait long if that hangs.
                        deadline = deadline.min(Instant::now() + Duration::from_secs(30));
                    }
                    lines.push(Line { at, text });
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // Nested TCG sometimes hangs a kernel at boot: give up early.
                    if silent_since.elapsed() >= SILENCE {
                        deadline = Instant::now();
                        let _ = writeln!(
                            log,
                            "[{:8.2}] no output for {} s",
                            start.elapsed().as_secs_f64(),
                            SILENCE.as_secs()
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = child.wait().map_err(|e| format!("wait for qemu: {e}"))?;
        let elapsed = start.elapsed();
        let _ = writeln!(log, "[{:8.2}] QEMU exited: {status}", elapsed.as_secs_f64());
        watcher.0.store(true, Ordering::Relaxed);
        let wav_growth = watcher.1.join().unwrap_or_default();
        Ok(Run {
            lines,
            timed_out,
            elapsed,
            wav_growth,
        })
    }
}

/// The machine runs in instruction-counted virtual time: every clock in it, the card's DMA
/// included, follows the instructions executed, and skips ahead while every CPU halts. A
/// busy or slow host then makes the machine slower, never makes gaps in its sound: the gaps
/// that remain are Xen's scheduling inside the machine and the image's own. Without it, a
/// host that leaves QEMU's threads unscheduled for a few tens of milliseconds stalls the
/// card, the domains and their clocks by different amounts, and two guests' tones broke up
/// on a loaded 2-core host in every run. `AUDIOVM_XEN_ICOUNT=<shift>` sets the
/// nanoseconds-per-instruction exponent (default 0); `off` runs in real time.
fn icount() -> Vec<String> {
    let shift = std::env::var("AUDIOVM_XEN_ICOUNT").unwrap_or_else(|_| "0".into());
    if shift == "off" {
        return vec![];
    }
    vec!["-icount".into(), format!("shift={shift},sleep=off")]
}

/// Samples the length of `wav` every millisecond until told to stop: (stop flag, thread
/// returning the changes as (seconds since `start`, length)).
fn watch_growth(wav: PathBuf, start: Instant) -> (Arc<AtomicBool>, JoinHandle<Vec<(f64, u64)>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut growth = Vec::new();
        let mut last = 0;
        while !stopped.load(Ordering::Relaxed) {
            let len = std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0);
            if len != last {
                growth.push((start.elapsed().as_secs_f64(), len));
                last = len;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        growth
    });
    (stop, thread)
}

/// SIGTERM first, so that QEMU completes the WAV header; SIGKILL if it lingers.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
}
