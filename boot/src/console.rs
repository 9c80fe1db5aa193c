//! The console: the first 16550 UART (COM1) and QEMU's debug port 0xe9, behind the `log`
//! crate, each line stamped with the time since boot.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use heapless::Deque;
use spin::Mutex;

use crate::time::{self, TscSource};
use crate::xen::PvConsole;
use crate::{cpu, port};

const COM1: u16 = 0x3f8;
/// QEMU's (and Xen's HVM) debug console port: bytes written here appear in the log at once.
const DEBUG_PORT: u16 = 0xe9;

static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
/// Port 0xe9 goes to the hypervisor's log under Xen; elsewhere every write is a costly exit
/// for text the serial port already carries.
static DEBUG_PORT_ON: AtomicBool = AtomicBool::new(false);
/// Whether COM1 gets the log too (see [`serial_off`]).
static SERIAL_ON: AtomicBool = AtomicBool::new(true);
static TSC_KHZ: AtomicU64 = AtomicU64::new(0);
/// Whether log text waits in [`PENDING`] for [`drain`] instead of going out at once.
static DEFERRED: AtomicBool = AtomicBool::new(false);
/// Log text not sent yet, and how many bytes did not fit.
static PENDING: Mutex<Deque<u8, PENDING_BYTES>> = Mutex::new(Deque::new());
/// Under Xen, where queued text goes instead of the ports (see [`use_pv_console`]).
static PV_CONSOLE: Mutex<Option<PvConsole>> = Mutex::new(None);
static DROPPED: AtomicUsize = AtomicUsize::new(0);
/// A few seconds of warnings; beyond that, lines are dropped and counted.
const PENDING_BYTES: usize = 8192;
/// Bytes sent per port write while draining: small, so that the time budget holds even where
/// every byte is a slow exit.
const DRAIN_CHUNK: usize = 4;
static mut TSC_SOURCE: TscSource = TscSource::Guess;

/// Programs COM1 for 115200 8N1 and installs the logger.
pub fn init(level: log::LevelFilter) {
    port::outb(COM1 + 1, 0x00); // no interrupts
    port::outb(COM1 + 3, 0x80); // DLAB on
    port::outb(COM1, 0x01); // divisor 1: 115200 baud
    port::outb(COM1 + 1, 0x00);
    port::outb(COM1 + 3, 0x03); // 8N1, DLAB off
    port::outb(COM1 + 2, 0xc7); // FIFO on, cleared
    unsafe extern "C" {
        /// The TSC at the image's first instruction (`entry.rs`).
        static boot_entry_tsc: u64;
    }
    // SAFETY: written once by the entry code before any Rust runs.
    let entry = unsafe { core::ptr::addr_of!(boot_entry_tsc).read_volatile() };
    BOOT_TSC.store(
        if entry != 0 { entry } else { cpu::rdtsc() },
        Ordering::Relaxed,
    );
    DEBUG_PORT_ON.store(
        cpu::hypervisor_signature() == Some(*b"XenVMMXenVMM"),
        Ordering::Relaxed,
    );
    let (khz, source) = time::tsc_khz();
    TSC_KHZ.store(khz, Ordering::Relaxed);
    // SAFETY: written once here, before anything reads it, on the only CPU.
    unsafe { *core::ptr::addr_of_mut!(TSC_SOURCE) = source };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// The TSC frequency in kHz.
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

/// Where the TSC frequency came from.
pub fn tsc_source() -> TscSource {
    // SAFETY: written once in `init`, before the first caller.
    unsafe { *core::ptr::addr_of!(TSC_SOURCE) }
}

/// Microseconds since the image's first instruction.
pub fn uptime_us() -> u64 {
    let cycles = cpu::rdtsc().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed));
    let khz = TSC_KHZ.load(Ordering::Relaxed).max(1);
    cycles.saturating_mul(1000) / khz
}

/// Writes raw text to both console ports. Text is gathered into lines and sent with
/// `rep outsb`, one UART status read per 16 bytes (its FIFO) instead of one per byte: under
/// a hypervisor every port access is an exit, and a hypervisor may take a whole string
/// instruction in one (this machine's KVM still exits per byte, about 11 us each).
pub struct Console {
    buffer: [u8; 128],
    len: usize,
}

impl Console {
    pub const fn new() -> Console {
        Console {
            buffer: [0; 128],
            len: 0,
        }
    }

    fn push(&mut self, byte: u8) {
        if self.len == self.buffer.len() {
            self.flush();
        }
        self.buffer[self.len] = byte;
        self.len += 1;
    }

    /// Sends what is gathered.
    pub fn flush(&mut self) {
        send(&self.buffer[..self.len]);
        self.len = 0;
    }
}

impl Default for Console {
    fn default() -> Console {
        Console::new()
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.push(b'\r');
            }
            self.push(b);
        }
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Stops writing to COM1, keeping the debug port. Under Xen the UART is emulated by
/// qemu-xen in dom0: every byte is two round trips there (about 2.5 ms each under nested
/// emulation), while port 0xe9 is answered by Xen itself and shows in `xl dmesg`.
pub fn serial_off() {
    if DEBUG_PORT_ON.load(Ordering::Relaxed) {
        SERIAL_ON.store(false, Ordering::Relaxed);
    }
}

/// The 16550's transmit FIFO: with it on (`init`), "transmit holding register empty" means
/// that many bytes may follow.
const UART_FIFO: usize = 16;

/// From now on, log text is queued and sent by [`drain`], a little at a time: where every
/// console byte is a trap to the hypervisor (tens of microseconds each under nested
/// emulation), a line written at once would stall the audio loop for milliseconds. Errors
/// still go out at once, and [`flush`] (called on exit) sends everything left.
pub fn defer() {
    DEFERRED.store(true, Ordering::Relaxed);
}

/// From now on, queued log text goes to the Xen PV console rather than the ports: a copy and
/// one event per tick instead of a trap per few bytes (and, in the nested test machine, fewer
/// of the traps after which QEMU's emulated SVM was seen to fail). Errors and the exit report
/// still go to the ports at once, so `xl dmesg` keeps them.
pub fn use_pv_console(console: PvConsole) {
    *PV_CONSOLE.lock() = Some(console);
}

/// Sends queued log text: all that fits into the PV console once there is one, else to the
/// ports for about `budget_us` microseconds (at least a few bytes).
pub fn drain(budget_us: u64) {
    if let Some(mut pv) = PV_CONSOLE.try_lock()
        && let Some(pv) = pv.as_mut()
    {
        drain_to_pv(pv);
        return;
    }
    drain_to_ports(budget_us);
}

/// Moves queued text into the PV console's ring, as much as it has room for, with one event
/// for all of it.
fn drain_to_pv(pv: &mut PvConsole) {
    let mut chunk = [0u8; 256];
    let mut sent_any = false;
    loop {
        let n = take_pending(&mut chunk);
        if n == 0 {
            if report_dropped() {
                continue;
            }
            break;
        }
        let sent = pv.write(&chunk[..n]);
        sent_any |= sent > 0;
        send_serial(&chunk[..sent]);
        if sent < n {
            // What did not fit waits, in order, for the next tick.
            put_back(&chunk[sent..n]);
            break;
        }
    }
    if sent_any {
        pv.notify();
    }
}

fn drain_to_ports(budget_us: u64) {
    let start = uptime_us();
    loop {
        let mut chunk = [0u8; DRAIN_CHUNK];
        let n = take_pending(&mut chunk);
        if n == 0 {
            if report_dropped() {
                continue;
            }
            return;
        }
        send_now(&chunk[..n]);
        if uptime_us().saturating_sub(start) >= budget_us {
            return;
        }
    }
}

/// Takes up to `chunk.len()` queued bytes into `chunk`; 0 when there are none (or the queue
/// is held: a fault while logging).
fn take_pending(chunk: &mut [u8]) -> usize {
    let Some(mut pending) = PENDING.try_lock() else {
        return 0;
    };
    let mut n = 0;
    while n < chunk.len()
        && let Some(byte) = pending.pop_front()
    {
        chunk[n] = byte;
        n += 1;
    }
    n
}

/// Returns `bytes`, just taken, to the front of the queue.
fn put_back(bytes: &[u8]) {
    if let Some(mut pending) = PENDING.try_lock() {
        for &byte in bytes.iter().rev() {
            let _ = pending.push_front(byte);
        }
    }
}

/// Once the queue has emptied, says how much text did not fit in it; whether there was any.
fn report_dropped() -> bool {
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        log::warn!("console: {dropped} bytes of log dropped");
    }
    dropped > 0
}

/// Sends everything queued, and stops queueing.
pub fn flush() {
    DEFERRED.store(false, Ordering::Relaxed);
    drain(u64::MAX);
    // What the PV console had no room for.
    drain_to_ports(u64::MAX);
}

fn send(bytes: &[u8]) {
    if DEFERRED.load(Ordering::Relaxed) {
        // `try_lock`: a fault while the queue is held must still be reported.
        if let Some(mut pending) = PENDING.try_lock() {
            if pending.capacity() - pending.len() >= bytes.len() {
                for &byte in bytes {
                    let _ = pending.push_back(byte);
                }
            } else {
                DROPPED.fetch_add(bytes.len(), Ordering::Relaxed);
            }
            return;
        }
    }
    send_now(bytes);
}

fn send_now(bytes: &[u8]) {
    send_serial(bytes);
    if DEBUG_PORT_ON.load(Ordering::Relaxed) {
        port::outsb(DEBUG_PORT, bytes);
    }
}

fn send_serial(bytes: &[u8]) {
    if SERIAL_ON.load(Ordering::Relaxed) {
        for chunk in bytes.chunks(UART_FIFO) {
            // Wait (bounded) for an empty FIFO; a missing UART reads 0xff.
            for _ in 0..100_000 {
                if port::inb(COM1 + 5) & 0x20 != 0 {
                    break;
                }
            }
            port::outsb(COM1, chunk);
        }
    }
}

struct Logger;
static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    /// `[    0.025393] INFO  target: message`, the stamp and level put together by hand:
    /// where a hypervisor emulates every instruction, `core::fmt`'s padding costs
    /// milliseconds per line on the boot path.
    fn log(&self, record: &log::Record) {
        let us = uptime_us();
        let mut stamp = *b"[    0.000000] ";
        let (mut seconds, mut fraction) = (us / 1_000_000, us % 1_000_000);
        for digit in stamp[7..13].iter_mut().rev() {
            *digit = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        for digit in stamp[1..6].iter_mut().rev() {
            *digit = b'0' + (seconds % 10) as u8;
            seconds /= 10;
            if seconds == 0 {
                break;
            }
        }
        let level = match record.level() {
            log::Level::Error => "ERROR ",
            log::Level::Warn => "WARN  ",
            log::Level::Info => "INFO  ",
            log::Level::Debug => "DEBUG ",
            log::Level::Trace => "TRACE ",
        };
        if record.level() == log::Level::Error {
            // What went wrong goes out now, after what was queued before it.
            flush();
        }
        let mut console = Console::new();
        stamp.iter().for_each(|&b| console.push(b));
        let _ = console.write_str(level);
        let _ = console.write_str(record.target());
        let _ = console.write_str(": ");
        let _ = match record.args().as_str() {
            Some(text) => console.write_str(text),
            None => console.write_fmt(*record.args()),
        };
        let _ = console.write_str("\n");
    }

    fn flush(&self) {}
}
