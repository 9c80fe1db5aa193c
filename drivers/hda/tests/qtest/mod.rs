//! A QEMU machine driven over the qtest text protocol: our side of hda.md §3.9.
//!
//! QEMU runs an Intel HDA controller with codecs on a q35 machine whose firmware is a page
//! of `hlt`: the CPU never runs guest code, so nothing but this harness touches the
//! controller or guest RAM, and no firmware boot time is spent. We program BAR0 ourselves.
//! Debian's QEMU has no qtest accelerator (so no `clock_step`): the machine runs under TCG
//! and its virtual clock follows the host's, or runs ahead of it with `-icount sleep=off`.

pub mod adapters;
pub mod wav;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const QEMU: &str = "qemu-system-x86_64";
/// Where we map BAR0: inside q35's PCI hole, clear of the IOAPIC, HPET and LAPIC.
pub const BAR0: u64 = 0xfe00_0000;
/// The controller's PCI slot on bus 0.
pub const SLOT: u32 = 4;
/// Guest RAM handed out for DMA (the machine has 128 MiB; nothing else uses RAM).
pub const DMA_START: u64 = 16 << 20;
pub const DMA_END: u64 = 120 << 20;

/// The two controller models of QEMU 7.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// `intel-hda`, ICH6, 8086:2668.
    Ich6,
    /// `ich9-intel-hda`, 8086:293E.
    Ich9,
}

impl Model {
    pub const BOTH: [Model; 2] = [Model::Ich6, Model::Ich9];

    fn device(self) -> &'static str {
        match self {
            Model::Ich6 => "intel-hda",
            Model::Ich9 => "ich9-intel-hda",
        }
    }

    pub fn device_id(self) -> u32 {
        match self {
            Model::Ich6 => 0x2668,
            Model::Ich9 => 0x293e,
        }
    }
}

/// A machine to start: one controller, its codecs and audio backends.
pub struct Machine {
    model: Model,
    dir: PathBuf,
    args: Vec<String>,
}

static SERIAL: AtomicU32 = AtomicU32::new(0);

impl Machine {
    pub fn new(model: Model) -> Machine {
        let dir = std::env::temp_dir().join(format!(
            "audiovm-qtest-{}-{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        Machine {
            model,
            dir,
            args: Vec::new(),
        }
    }

    /// `-audiodev none`: output discarded, input reads silence at the stream's rate.
    pub fn none_audio(mut self, id: &str) -> Self {
        self.args.push("-audiodev".into());
        self.args.push(format!("none,id={id}"));
        self
    }

    /// `-audiodev wav` recording at `rate` into `<id>.wav` (see [`Qemu::read_file`]); output only.
    pub fn wav_audio(mut self, id: &str, rate: u32) -> Self {
        let path = self.dir.join(format!("{id}.wav"));
        self.args.push("-audiodev".into());
        self.args.push(format!(
            "wav,id={id},path={},out.frequency={rate},out.channels=2,out.format=s16",
            path.display()
        ));
        self
    }

    /// A codec device (`hda-output`, `hda-duplex`, `hda-micro`) on the controller's link,
    /// with extra properties such as `cad=1,mixer=off`.
    pub fn codec(mut self, model: &str, audiodev: &str, extra: &str) -> Self {
        self.args.push("-device".into());
        let mut spec = format!("{model},bus=hda0.0,audiodev={audiodev}");
        if !extra.is_empty() {
            spec.push(',');
            spec.push_str(extra);
        }
        self.args.push(spec);
        self
    }

    /// Logs QEMU trace `event` (e.g. `hda_audio_overrun`) to its stderr, see [`Qemu::stderr`].
    pub fn trace(mut self, event: &str) -> Self {
        self.args.push("-trace".into());
        self.args.push(event.into());
        self
    }

    /// Virtual time from an instruction counter that skips ahead while the CPU halts:
    /// minutes of virtual audio in seconds (hda.md §3.6).
    pub fn icount(mut self) -> Self {
        self.args.push("-icount".into());
        self.args.push("shift=0,sleep=off".into());
        self
    }

    /// Starts QEMU and maps the controller's BAR0 with memory decoding and bus mastering on.
    pub fn start(self) -> Qemu {
        let firmware = self.dir.join("hlt.bin");
        // 64 KiB of `hlt` at the top of the first 4 GiB: the reset vector halts, and with
        // interrupts disabled nothing ever wakes the CPU.
        std::fs::write(&firmware, vec![0xf4u8; 0x10000]).expect("firmware image");
        let stderr = std::fs::File::create(self.dir.join("stderr.log")).expect("stderr log");
        let mut command = Command::new(QEMU);
        command
            .args(["-machine", "q35", "-accel", "tcg", "-m", "128M"])
            .args(["-display", "none", "-nodefaults", "-no-reboot"])
            // Without `-qtest-log none` QEMU copies every command (and all the hex of the
            // guest RAM writes) to stderr.
            .args(["-qtest", "stdio", "-qtest-log", "none", "-bios"])
            .arg(&firmware)
            .arg("-device")
            .arg(format!("{},id=hda0,addr={SLOT:#x}", self.model.device()))
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => panic!(
                "{QEMU} not found: these tests run Intel HDA against QEMU's device model; \
                 install Debian's qemu-system-x86 package (apt-get install qemu-system-x86)"
            ),
            Err(e) => panic!("cannot start {QEMU}: {e}"),
        };
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut qemu = Qemu {
            child,
            input,
            output,
            dir: self.dir,
            model: self.model,
            irq_level: HashMap::new(),
            irq_raised: HashMap::new(),
            stopped: false,
        };
        let id = qemu.pci_read32(0x00);
        assert_eq!(
            id,
            0x8086 | qemu.model.device_id() << 16,
            "PCI ID of the {:?} controller",
            qemu.model
        );
        qemu.pci_write32(0x10, BAR0 as u32);
        // COMMAND: memory space and bus master on (hda.md §6 item 2).
        qemu.pci_write32(0x04, 0x0006);
        qemu
    }
}

/// A running QEMU, spoken to over qtest.
pub struct Qemu {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    dir: PathBuf,
    pub model: Model,
    /// Last level seen per intercepted interrupt line, and how often each was raised.
    irq_level: HashMap<u32, bool>,
    irq_raised: HashMap<u32, u32>,
    stopped: bool,
}

/// A machine shared by the driver's register, clock and DMA adapters.
pub type Link = Rc<RefCell<Qemu>>;

fn hex(text: &str) -> u64 {
    let digits = text.trim().trim_start_matches("0x");
    u64::from_str_radix(digits, 16).unwrap_or_else(|_| panic!("qtest: not a number: {text:?}"))
}

impl Qemu {
    pub fn link(self) -> Link {
        Rc::new(RefCell::new(self))
    }

    /// What QEMU wrote to its stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Sends one command and returns what follows `OK` in its answer. Interrupt events
    /// that arrive in between are recorded.
    pub fn command(&mut self, line: &str) -> String {
        assert!(!self.stopped, "qtest command after shutdown: {line}");
        if let Err(e) = writeln!(self.input, "{line}").and_then(|_| self.input.flush()) {
            panic!(
                "qtest: QEMU gone ({e}) at {line:?}; stderr:\n{}",
                self.stderr()
            );
        }
        loop {
            let mut answer = String::new();
            match self.output.read_line(&mut answer) {
                Ok(0) | Err(_) => {
                    panic!("qtest: QEMU exited at {line:?}; stderr:\n{}", self.stderr())
                }
                Ok(_) => {}
            }
            let answer = answer.trim_end();
            if let Some(event) = answer.strip_prefix("IRQ ") {
                let (what, number) = event.split_once(' ').expect("IRQ event");
                let number: u32 = number.parse().expect("IRQ number");
                let raise = what == "raise";
                self.irq_level.insert(number, raise);
                if raise {
                    *self.irq_raised.entry(number).or_default() += 1;
                }
            } else if let Some(rest) = answer.strip_prefix("OK") {
                return rest.trim().to_string();
            } else {
                panic!("qtest: {line:?} answered {answer:?}");
            }
        }
    }

    pub fn readb(&mut self, addr: u64) -> u8 {
        hex(&self.command(&format!("readb {addr:#x}"))) as u8
    }
    pub fn readw(&mut self, addr: u64) -> u16 {
        hex(&self.command(&format!("readw {addr:#x}"))) as u16
    }
    pub fn readl(&mut self, addr: u64) -> u32 {
        hex(&self.command(&format!("readl {addr:#x}"))) as u32
    }
    pub fn writeb(&mut self, addr: u64, value: u8) {
        self.command(&format!("writeb {addr:#x} {value:#x}"));
    }
    pub fn writew(&mut self, addr: u64, value: u16) {
        self.command(&format!("writew {addr:#x} {value:#x}"));
    }
    pub fn writel(&mut self, addr: u64, value: u32) {
        self.command(&format!("writel {addr:#x} {value:#x}"));
    }

    /// Guest RAM into `buf`.
    pub fn mem_read(&mut self, addr: u64, buf: &mut [u8]) {
        if buf.is_empty() {
            return;
        }
        let answer = self.command(&format!("read {addr:#x} {:#x}", buf.len()));
        let digits = answer.trim_start_matches("0x").as_bytes();
        assert_eq!(digits.len(), 2 * buf.len(), "qtest read {addr:#x}");
        for (byte, pair) in buf.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap();
        }
    }

    /// `data` into guest RAM.
    pub fn mem_write(&mut self, addr: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut line = format!("write {addr:#x} {:#x} 0x", data.len());
        for byte in data {
            line.push_str(&format!("{byte:02x}"));
        }
        self.command(&line);
    }

    pub fn memset(&mut self, addr: u64, len: usize, value: u8) {
        if len > 0 {
            self.command(&format!("memset {addr:#x} {len:#x} {value:#x}"));
        }
    }

    /// The controller's PCI configuration space, through ports 0xCF8/0xCFC.
    pub fn pci_read32(&mut self, reg: u32) -> u32 {
        self.command(&format!("outl 0xcf8 {:#x}", 0x8000_0000 | SLOT << 11 | reg));
        hex(&self.command("inl 0xcfc")) as u32
    }

    pub fn pci_write32(&mut self, reg: u32, value: u32) {
        self.command(&format!("outl 0xcf8 {:#x}", 0x8000_0000 | SLOT << 11 | reg));
        self.command(&format!("outl 0xcfc {value:#x}"));
    }

    /// Reports every IOAPIC input's level changes from now on.
    pub fn intercept_irqs(&mut self) {
        self.command("irq_intercept_in ioapic");
    }

    /// The last level seen on IOAPIC input `line` (low if it never changed).
    pub fn irq_level(&self, line: u32) -> bool {
        self.irq_level.get(&line).copied().unwrap_or(false)
    }

    /// How often IOAPIC input `line` went high.
    pub fn irq_raises(&self, line: u32) -> u32 {
        self.irq_raised.get(&line).copied().unwrap_or(0)
    }

    /// Lines that are high now.
    pub fn irqs_high(&self) -> Vec<u32> {
        let mut high: Vec<u32> = self
            .irq_level
            .iter()
            .filter(|(_, up)| **up)
            .map(|(n, _)| *n)
            .collect();
        high.sort_unstable();
        high
    }

    /// Ends QEMU with SIGTERM, the orderly exit that finalizes WAV files (hda.md §3.5);
    /// SIGKILL if it is still there after 10 s.
    pub fn shutdown(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(None) = self.child.try_wait() {
            if Instant::now() > deadline {
                eprintln!("qtest: QEMU ignored SIGTERM; killing it");
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.wait();
    }

    /// Reads a file QEMU wrote, after [`Qemu::shutdown`].
    pub fn read_file(&self, name: &str) -> Vec<u8> {
        let path: &Path = &self.dir.join(name);
        std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("qtest: machine files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
