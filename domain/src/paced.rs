//! Xenstore access that keeps the card fed.
//!
//! Every xenstore request is a round trip to xenstored in another domain: tens of
//! microseconds on an idle host, milliseconds on a busy or nested one. A guest coming or
//! going costs dozens of them, and the guests still playing must not hear it. [`Paced`]
//! forwards each request and then ticks the audio engine if a tick has come due meanwhile.

use xen_ring::evtchn::EventChannels;
use xen_ring::grant::{DomId, GrantTable};
use xen_ring::xs::{Perm, TxId, Xenstore, XsError};

use audio_hal::AudioDevice;

use crate::serve::{Engine, TICK_US};

/// A xenstore connection that ticks `engine` between requests.
pub(crate) struct Paced<'a, X, G: GrantTable, E, D> {
    pub xs: &'a mut X,
    pub engine: &'a mut Engine<G, E, D>,
    /// The engine's clock in microseconds; `None`: never tick here.
    pub clock: Option<fn() -> u64>,
}

impl<X, G: GrantTable, E: EventChannels, D: AudioDevice> Paced<'_, X, G, E, D> {
    /// Ticks if a tick is due.
    pub fn keep_up(&mut self) {
        let Some(clock) = self.clock else {
            return;
        };
        let now = clock();
        if self
            .engine
            .last_tick_us
            .is_none_or(|last| now >= last + TICK_US)
        {
            self.engine.tick(now);
        }
    }

    fn paced<T>(&mut self, request: impl FnOnce(&mut X) -> T) -> T {
        let answer = request(self.xs);
        self.keep_up();
        answer
    }
}

impl<X: Xenstore, G: GrantTable, E: EventChannels, D: AudioDevice> Xenstore
    for Paced<'_, X, G, E, D>
{
    fn domid(&self) -> DomId {
        self.xs.domid()
    }
    fn read(&mut self, tx: TxId, path: &str, buf: &mut [u8]) -> Result<usize, XsError> {
        self.paced(|xs| xs.read(tx, path, buf))
    }
    fn write(&mut self, tx: TxId, path: &str, value: &[u8]) -> Result<(), XsError> {
        self.paced(|xs| xs.write(tx, path, value))
    }
    fn directory(
        &mut self,
        tx: TxId,
        path: &str,
        entry: &mut dyn FnMut(&str),
    ) -> Result<(), XsError> {
        self.paced(|xs| xs.directory(tx, path, entry))
    }
    fn remove(&mut self, tx: TxId, path: &str) -> Result<(), XsError> {
        self.paced(|xs| xs.remove(tx, path))
    }
    fn set_perms(&mut self, tx: TxId, path: &str, perms: &[Perm]) -> Result<(), XsError> {
        self.paced(|xs| xs.set_perms(tx, path, perms))
    }
    fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.paced(|xs| xs.watch(path, token))
    }
    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.paced(|xs| xs.unwatch(path, token))
    }
    fn take_watch_events(&mut self, event: &mut dyn FnMut(&str, &str)) {
        self.xs.take_watch_events(event);
    }
    fn transaction_start(&mut self) -> Result<TxId, XsError> {
        self.paced(|xs| xs.transaction_start())
    }
    fn transaction_end(&mut self, tx: TxId, commit: bool) -> Result<(), XsError> {
        self.paced(|xs| xs.transaction_end(tx, commit))
    }
}
