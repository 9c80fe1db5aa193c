//! The domain's PV console (`io/console.h`), which xenconsoled in dom0 serves: `xl console
//! -t pv`, and its `--log=guest` files. Once Xen is set up the log goes here: a copy into
//! shared memory and one event per batch, where the debug port (0xe9) costs a trap per write
//! and shows only in `xl dmesg`, and only if Xen's `guest_loglvl` lets it.

use xen_ring::console::Console;
use xen_ring::evtchn::{EventChannels, Port};

use super::XenEvtchn;
use super::page::PhysPage;

pub struct PvConsole {
    ring: Console<PhysPage>,
    port: Port,
    evtchn: XenEvtchn,
}

impl PvConsole {
    pub(super) fn new(page: PhysPage, port: Port, evtchn: XenEvtchn) -> PvConsole {
        PvConsole {
            ring: Console::new(page),
            port,
            evtchn,
        }
    }

    /// Puts as much of `bytes` as the ring has room for and says how much went; xenconsoled
    /// hears of it at the next [`PvConsole::notify`]. A ring whose indices dom0 broke takes
    /// nothing.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        self.ring.write(bytes).unwrap_or(0)
    }

    /// Tells xenconsoled there is new text.
    pub fn notify(&mut self) {
        let _ = self.evtchn.notify(self.port);
    }
}
