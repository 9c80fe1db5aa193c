//! The xenstore connection: `xen-ring`'s client over our xenstore page, rung and waited on
//! through its event channel.

use xen_ring::evtchn::{EventChannels, Port};
use xen_ring::xenstore::client::{Client, Doorbell};

use super::XenEvtchn;
use super::page::PhysPage;
use crate::console::uptime_us;

/// Give up on a request after this long: xenstored answers in microseconds unless it is gone.
const PATIENCE_US: u64 = 5_000_000;
/// One wait: how long to spin for the daemon's kick before looking at the ring again.
const SPIN_US: u64 = 50;

/// Kicks and waits on the xenstore event channel.
pub struct StoreBell {
    port: Port,
    evtchn: XenEvtchn,
    started_us: u64,
}

impl Doorbell for StoreBell {
    fn ring(&mut self) {
        let _ = self.evtchn.notify(self.port);
    }

    fn wait(&mut self) -> bool {
        let until = uptime_us() + SPIN_US;
        while uptime_us() < until && !self.evtchn.take(self.port) {
            core::hint::spin_loop();
        }
        uptime_us() - self.started_us < PATIENCE_US
    }

    fn start(&mut self) {
        self.started_us = uptime_us();
    }
}

/// Our xenstore client.
pub type XenStore = Client<PhysPage, StoreBell>;

pub(super) fn connect(address: usize, port: Port, evtchn: XenEvtchn) -> XenStore {
    // SAFETY: the page named by HVM_PARAM_STORE_PFN is Xen's special page for xenstore; it
    // lies outside our RAM map and nothing else here uses it.
    let page = unsafe { PhysPage::new(address) };
    let bell = StoreBell {
        port,
        evtchn,
        started_us: 0,
    };
    // Our domid is not known until xenstore tells us; `Client::set_domid` fixes it up.
    Client::new(page, bell, 0)
}
