//! The PV console ring (`xen/include/public/io/console.h`, `struct xencons_interface`): the
//! domain writes its log to `out` and reads keyboard input from `in`.

use crate::bytering::{BrokenIndices, ByteRing};
use crate::shmem::SharedMem;

/// Size of `in`.
pub const IN_SIZE: u32 = 1024;
/// Size of `out`.
pub const OUT_SIZE: u32 = 2048;
/// Offset of `in[]`.
pub const IN: usize = 0;
/// Offset of `out[]`.
pub const OUT: usize = 1024;
/// Offsets of the indices.
pub const IN_CONS: usize = 3072;
pub const IN_PROD: usize = 3076;
pub const OUT_CONS: usize = 3080;
pub const OUT_PROD: usize = 3084;
/// `sizeof(struct xencons_interface)`.
pub const INTERFACE_SIZE: usize = 3088;

const OUT_RING: ByteRing = ByteRing {
    data: OUT,
    size: OUT_SIZE,
    cons: OUT_CONS,
    prod: OUT_PROD,
};
const IN_RING: ByteRing = ByteRing {
    data: IN,
    size: IN_SIZE,
    cons: IN_CONS,
    prod: IN_PROD,
};

/// The domain's end of its console page.
pub struct Console<M> {
    mem: M,
}

impl<M: SharedMem> Console<M> {
    pub fn new(mem: M) -> Self {
        Console { mem }
    }

    /// Queues as much of `text` as fits in `out`; returns how much. The caller notifies the
    /// console event channel after writing, and retries the rest later.
    pub fn write(&self, text: &[u8]) -> Result<usize, BrokenIndices> {
        OUT_RING.write(&self.mem, text)
    }

    /// Takes input bytes.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, BrokenIndices> {
        IN_RING.read(&self.mem, buf)
    }
}

/// The console daemon's end (what xenconsoled does), for tests.
pub struct ConsoleDaemon<M> {
    mem: M,
}

impl<M: SharedMem> ConsoleDaemon<M> {
    pub fn new(mem: M) -> Self {
        ConsoleDaemon { mem }
    }

    /// Drains the domain's output.
    pub fn read_output(&self, buf: &mut [u8]) -> Result<usize, BrokenIndices> {
        OUT_RING.read(&self.mem, buf)
    }

    /// Sends input to the domain.
    pub fn write_input(&self, bytes: &[u8]) -> Result<usize, BrokenIndices> {
        IN_RING.write(&self.mem, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::AtomicPage;

    #[test]
    fn log_text_reaches_the_daemon_across_the_wrap() {
        let page = AtomicPage::new();
        let console = Console::new(&page);
        let daemon = ConsoleDaemon::new(&page);
        let line = [b'x'; 1500];
        let mut out = [0u8; 2048];
        for _ in 0..5 {
            assert_eq!(console.write(&line), Ok(1500));
            assert_eq!(daemon.read_output(&mut out), Ok(1500));
        }
        assert_eq!(
            console.write(&[b'y'; 3000]),
            Ok(2048),
            "a full ring takes what fits"
        );
        assert_eq!(daemon.write_input(b"help\n"), Ok(5));
        let mut input = [0u8; 8];
        assert_eq!(console.read(&mut input), Ok(5));
        assert_eq!(&input[..5], b"help\n");
    }
}
