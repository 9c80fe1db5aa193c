//! Event channels (`xen/include/public/event_channel.h`): the doorbells between domains.
//!
//! A frontend allocates an unbound port for us and publishes it in xenstore; we bind our end
//! to it, and each side can then notify the other. Notifications carry no data and coalesce.

use crate::grant::DomId;

/// An event channel port.
pub type Port = u32;

/// Why an event channel operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvtchnError {
    /// The remote domain does not exist, or its port is not unbound for us
    /// (`-ESRCH`/`-EINVAL` from `EVTCHNOP_bind_interdomain`): the guest lied or went away.
    BadRemote,
    /// The port is not one of ours, or is closed.
    BadPort,
    /// We have no free ports left.
    Exhausted,
    /// Any other hypervisor error (a Xen errno).
    Other(crate::errno::Errno),
}

impl core::fmt::Display for EvtchnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EvtchnError::BadRemote => write!(f, "remote port not bindable"),
            EvtchnError::BadPort => write!(f, "not an open local port"),
            EvtchnError::Exhausted => write!(f, "no free ports"),
            EvtchnError::Other(e) => write!(f, "event channel error {e}"),
        }
    }
}

/// Our event channels.
pub trait EventChannels {
    /// Binds a new local port to `remote_port` of `remote`, which the remote allocated
    /// unbound for us. Errors: `BadRemote`, `Exhausted`, `Other`.
    fn bind_interdomain(&mut self, remote: DomId, remote_port: Port) -> Result<Port, EvtchnError>;

    /// Signals the remote end. Errors: `BadPort`.
    fn notify(&mut self, port: Port) -> Result<(), EvtchnError>;

    /// Allows `port` to fire again after handling. Errors: `BadPort`.
    fn unmask(&mut self, port: Port) -> Result<(), EvtchnError>;

    /// Closes `port`; later events on it are lost. Errors: `BadPort`.
    fn close(&mut self, port: Port) -> Result<(), EvtchnError>;

    /// Calls `fired` once for every port that was signalled since the last call, and clears
    /// them. Order is unspecified.
    fn take_pending(&mut self, fired: &mut dyn FnMut(Port));
}
