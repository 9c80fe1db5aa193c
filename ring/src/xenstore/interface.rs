//! The guest's end of `struct xenstore_domain_interface`: requests go out on `req`, replies
//! and watch events come back on `rsp`.

use crate::bytering::{BrokenIndices, ByteRing};
use crate::shmem::SharedMem;

use super::XENSTORE_RING_SIZE;

/// Offsets in `struct xenstore_domain_interface`.
pub const REQ: usize = 0;
pub const RSP: usize = 1024;
pub const REQ_CONS: usize = 2048;
pub const REQ_PROD: usize = 2052;
pub const RSP_CONS: usize = 2056;
pub const RSP_PROD: usize = 2060;
pub const SERVER_FEATURES: usize = 2064;
pub const CONNECTION: usize = 2068;
pub const ERROR: usize = 2072;
/// `sizeof(struct xenstore_domain_interface)`.
pub const INTERFACE_SIZE: usize = 2076;

const REQ_RING: ByteRing = ByteRing {
    data: REQ,
    size: XENSTORE_RING_SIZE,
    cons: REQ_CONS,
    prod: REQ_PROD,
};
const RSP_RING: ByteRing = ByteRing {
    data: RSP,
    size: XENSTORE_RING_SIZE,
    cons: RSP_CONS,
    prod: RSP_PROD,
};

/// A guest's xenstore page. Messages longer than the ring, or arriving in pieces, are
/// written and read in parts: the caller keeps calling after each event-channel kick.
pub struct DomainInterface<M> {
    mem: M,
}

impl<M: SharedMem> DomainInterface<M> {
    pub fn new(mem: M) -> Self {
        DomainInterface { mem }
    }

    /// Queues as many request bytes as fit; returns how many.
    pub fn write_request(&self, bytes: &[u8]) -> Result<usize, BrokenIndices> {
        REQ_RING.write(&self.mem, bytes)
    }

    /// Takes available reply bytes; returns how many.
    pub fn read_response(&self, buf: &mut [u8]) -> Result<usize, BrokenIndices> {
        RSP_RING.read(&self.mem, buf)
    }

    /// The daemon's side: takes request bytes (for the simulated host and tests).
    pub fn daemon_read_request(&self, buf: &mut [u8]) -> Result<usize, BrokenIndices> {
        REQ_RING.read(&self.mem, buf)
    }

    /// The daemon's side: queues reply bytes.
    pub fn daemon_write_response(&self, bytes: &[u8]) -> Result<usize, BrokenIndices> {
        RSP_RING.write(&self.mem, bytes)
    }

    /// `server_features`, `connection`, `error`, as the daemon last wrote them.
    pub fn status(&self) -> (u32, u32, u32) {
        (
            self.mem.load_u32(SERVER_FEATURES),
            self.mem.load_u32(CONNECTION),
            self.mem.load_u32(ERROR),
        )
    }
}
