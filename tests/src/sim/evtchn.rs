//! Event channels between simulated domains: a domain allocates an unbound port for a named
//! remote, the remote binds to it, and each end's notifications mark the other end pending.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use xen_ring::evtchn::{EventChannels, EvtchnError, Port};
use xen_ring::grant::DomId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unbound { remote: DomId },
    Bound { remote: DomId, remote_port: Port },
}

#[derive(Debug, Default)]
struct Channels {
    ports: HashMap<(DomId, Port), State>,
    next: HashMap<DomId, Port>,
    pending: HashMap<DomId, BTreeSet<Port>>,
    /// Notifications sent by each domain, for assertions.
    sent: HashMap<DomId, u64>,
}

impl Channels {
    fn allocate(&mut self, domid: DomId, state: State) -> Port {
        let next = self.next.entry(domid).or_insert(1);
        let port = *next;
        *next += 1;
        self.ports.insert((domid, port), state);
        port
    }
}

/// The hypervisor's event channels.
#[derive(Clone, Default)]
pub struct EvtchnHost {
    channels: Rc<RefCell<Channels>>,
}

impl EvtchnHost {
    pub fn new() -> EvtchnHost {
        EvtchnHost::default()
    }

    /// `EVTCHNOP_alloc_unbound`: a port of `domid` that `remote` may bind to.
    pub fn alloc_unbound(&self, domid: DomId, remote: DomId) -> Port {
        self.channels
            .borrow_mut()
            .allocate(domid, State::Unbound { remote })
    }

    /// Domain `domid`'s endpoint, implementing `EventChannels`.
    pub fn endpoint(&self, domid: DomId) -> Endpoint {
        Endpoint {
            domid,
            channels: self.channels.clone(),
        }
    }

    /// Notifications `domid` has sent so far.
    pub fn sent_by(&self, domid: DomId) -> u64 {
        self.channels
            .borrow()
            .sent
            .get(&domid)
            .copied()
            .unwrap_or(0)
    }
}

/// One domain's event channels.
pub struct Endpoint {
    domid: DomId,
    channels: Rc<RefCell<Channels>>,
}

impl Endpoint {
    /// Whether `port` is pending, clearing it (the frontend side's view).
    pub fn take(&mut self, port: Port) -> bool {
        self.channels
            .borrow_mut()
            .pending
            .get_mut(&self.domid)
            .is_some_and(|p| p.remove(&port))
    }
}

impl EventChannels for Endpoint {
    fn bind_interdomain(&mut self, remote: DomId, remote_port: Port) -> Result<Port, EvtchnError> {
        let mut c = self.channels.borrow_mut();
        match c.ports.get(&(remote, remote_port)) {
            Some(State::Unbound { remote: allowed }) if *allowed == self.domid => {}
            _ => return Err(EvtchnError::BadRemote),
        }
        let local = c.allocate(
            self.domid,
            State::Bound {
                remote,
                remote_port,
            },
        );
        c.ports.insert(
            (remote, remote_port),
            State::Bound {
                remote: self.domid,
                remote_port: local,
            },
        );
        Ok(local)
    }

    fn notify(&mut self, port: Port) -> Result<(), EvtchnError> {
        let mut c = self.channels.borrow_mut();
        let Some(State::Bound {
            remote,
            remote_port,
        }) = c.ports.get(&(self.domid, port)).copied()
        else {
            return Err(EvtchnError::BadPort);
        };
        *c.sent.entry(self.domid).or_default() += 1;
        c.pending.entry(remote).or_default().insert(remote_port);
        Ok(())
    }

    fn unmask(&mut self, port: Port) -> Result<(), EvtchnError> {
        if self
            .channels
            .borrow()
            .ports
            .contains_key(&(self.domid, port))
        {
            Ok(())
        } else {
            Err(EvtchnError::BadPort)
        }
    }

    fn close(&mut self, port: Port) -> Result<(), EvtchnError> {
        let mut c = self.channels.borrow_mut();
        match c.ports.remove(&(self.domid, port)) {
            Some(State::Bound {
                remote,
                remote_port,
            }) => {
                // The other end goes back to unbound, as in Xen.
                c.ports
                    .insert((remote, remote_port), State::Unbound { remote: self.domid });
                Ok(())
            }
            Some(State::Unbound { .. }) => Ok(()),
            None => Err(EvtchnError::BadPort),
        }
    }

    fn take_pending(&mut self, fired: &mut dyn FnMut(Port)) {
        let pending = self
            .channels
            .borrow_mut()
            .pending
            .remove(&self.domid)
            .unwrap_or_default();
        for port in pending {
            fired(port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_ports_carry_notifications_both_ways() {
        let host = EvtchnHost::new();
        let front_port = host.alloc_unbound(5, 1);
        let mut backend = host.endpoint(1);
        let mut frontend = host.endpoint(5);
        let back_port = backend.bind_interdomain(5, front_port).unwrap();
        backend.notify(back_port).unwrap();
        assert!(frontend.take(front_port));
        assert!(!frontend.take(front_port), "taking clears it");
        frontend.notify(front_port).unwrap();
        let mut fired = vec![];
        backend.take_pending(&mut |p| fired.push(p));
        assert_eq!(fired, [back_port]);
    }

    #[test]
    fn only_the_named_remote_can_bind_and_only_once() {
        let host = EvtchnHost::new();
        let port = host.alloc_unbound(5, 1);
        assert_eq!(
            host.endpoint(2).bind_interdomain(5, port),
            Err(EvtchnError::BadRemote)
        );
        host.endpoint(1).bind_interdomain(5, port).unwrap();
        assert_eq!(
            host.endpoint(1).bind_interdomain(5, port),
            Err(EvtchnError::BadRemote)
        );
        assert_eq!(
            host.endpoint(1).bind_interdomain(5, 77),
            Err(EvtchnError::BadRemote)
        );
        assert_eq!(host.endpoint(1).notify(99), Err(EvtchnError::BadPort));
    }
}
