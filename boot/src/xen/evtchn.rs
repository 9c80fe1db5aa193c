//! Event channels, 2-level ABI, polled: pending bits are read (and cleared) from
//! `shared_info.evtchn_pending` rather than delivered as interrupts.

use core::sync::atomic::{AtomicU64, Ordering};

use xen_ring::evtchn::{EventChannels, EvtchnError, Port};
use xen_ring::grant::DomId;

use super::abi;
use super::hypercall::{self, EVENT_CHANNEL_OP};

/// `shared_info.evtchn_pending` (after 32 64-byte `vcpu_info`s) and its 64 words.
const PENDING: usize = 2048;
const WORDS: usize = 64;

/// Our event channels.
#[derive(Debug, Clone, Copy)]
pub struct XenEvtchn {
    shared_info: usize,
}

fn error(rc: i64) -> EvtchnError {
    match -rc {
        3 /* ESRCH */ | 22 /* EINVAL */ => EvtchnError::BadPort,
        28 /* ENOSPC */ => EvtchnError::Exhausted,
        _ => EvtchnError::Other(xen_ring::errno::Errno(-rc as i32)),
    }
}

impl XenEvtchn {
    pub(super) fn new(shared_info: usize) -> Self {
        XenEvtchn { shared_info }
    }

    fn word(&self, index: usize) -> &AtomicU64 {
        // SAFETY: `shared_info` is the page Xen mapped for us (see `Xen::init`); the pending
        // words are 64-bit aligned inside it and shared only through atomics.
        unsafe { &*((self.shared_info + PENDING + 8 * index) as *const AtomicU64) }
    }

    /// Whether `port` is pending, clearing it.
    pub fn take(&self, port: Port) -> bool {
        let (index, bit) = (port as usize / 64, 1u64 << (port % 64));
        index < WORDS && self.word(index).fetch_and(!bit, Ordering::AcqRel) & bit != 0
    }

    fn op(&self, cmd: u64, arg: u64) -> i64 {
        // SAFETY: callers pass a pointer to the argument structure `cmd` expects.
        unsafe { hypercall::call(EVENT_CHANNEL_OP, cmd, arg, 0) }
    }

    fn port_op(&self, cmd: u64, port: Port) -> Result<(), EvtchnError> {
        let mut arg = abi::PortArg { port };
        match self.op(cmd, &mut arg as *mut _ as u64) {
            0 => Ok(()),
            rc => Err(error(rc)),
        }
    }
}

impl EventChannels for XenEvtchn {
    fn bind_interdomain(&mut self, remote: DomId, remote_port: Port) -> Result<Port, EvtchnError> {
        let mut bind = abi::BindInterdomain {
            remote_dom: remote,
            pad: 0,
            remote_port,
            local_port: 0,
        };
        match self.op(abi::EVTCHNOP_BIND_INTERDOMAIN, &mut bind as *mut _ as u64) {
            0 => Ok(bind.local_port),
            // EPERM, ESRCH, EINVAL: not a port of that domain left unbound for us.
            -1 | -3 | -22 => Err(EvtchnError::BadRemote),
            rc => Err(error(rc)),
        }
    }

    fn notify(&mut self, port: Port) -> Result<(), EvtchnError> {
        self.port_op(abi::EVTCHNOP_SEND, port)
    }

    fn unmask(&mut self, port: Port) -> Result<(), EvtchnError> {
        self.port_op(abi::EVTCHNOP_UNMASK, port)
    }

    fn close(&mut self, port: Port) -> Result<(), EvtchnError> {
        self.port_op(abi::EVTCHNOP_CLOSE, port)
    }

    fn take_pending(&mut self, fired: &mut dyn FnMut(Port)) {
        for index in 0..WORDS {
            let mut bits = self.word(index).swap(0, Ordering::AcqRel);
            while bits != 0 {
                let bit = bits.trailing_zeros();
                fired((index * 64) as Port + bit);
                bits &= bits - 1;
            }
        }
    }
}
