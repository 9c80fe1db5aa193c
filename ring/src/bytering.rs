//! Byte rings: a power-of-two data area with free-running producer and consumer indices,
//! the shape of the xenstore and console rings. One end writes bytes and moves the producer
//! index; the other reads and moves the consumer index.

use crate::shmem::{SharedMem, mb, rmb, wmb};

/// Where one direction of a byte ring lives in its page.
#[derive(Debug, Clone, Copy)]
pub struct ByteRing {
    /// Offset of the data area.
    pub data: usize,
    /// Size of the data area (a power of two).
    pub size: u32,
    /// Offset of the consumer index.
    pub cons: usize,
    /// Offset of the producer index.
    pub prod: usize,
}

/// The peer's indices say more bytes are in the ring than it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenIndices {
    pub cons: u32,
    pub prod: u32,
}

impl ByteRing {
    fn indices(&self, mem: &impl SharedMem) -> Result<(u32, u32), BrokenIndices> {
        let cons = mem.load_u32(self.cons);
        let prod = mem.load_u32(self.prod);
        if prod.wrapping_sub(cons) > self.size {
            return Err(BrokenIndices { cons, prod });
        }
        Ok((cons, prod))
    }

    /// Writes as much of `bytes` as fits and publishes it; returns how many were written
    /// (0 when full: retry after the consumer signals).
    pub fn write(&self, mem: &impl SharedMem, bytes: &[u8]) -> Result<usize, BrokenIndices> {
        let (cons, prod) = self.indices(mem)?;
        mb(); // the consumer's index is read before we overwrite the slots it freed
        let free = (self.size - prod.wrapping_sub(cons)) as usize;
        let count = free.min(bytes.len());
        let start = (prod & (self.size - 1)) as usize;
        let first = count.min(self.size as usize - start);
        mem.write(self.data + start, &bytes[..first]);
        mem.write(self.data, &bytes[first..count]);
        wmb(); // data before the index that publishes it
        mem.store_u32(self.prod, prod.wrapping_add(count as u32));
        Ok(count)
    }

    /// Reads up to `buf.len()` available bytes, frees them, and returns how many.
    pub fn read(&self, mem: &impl SharedMem, buf: &mut [u8]) -> Result<usize, BrokenIndices> {
        let (cons, prod) = self.indices(mem)?;
        rmb(); // data after the index that published it
        let count = (prod.wrapping_sub(cons) as usize).min(buf.len());
        let start = (cons & (self.size - 1)) as usize;
        let first = count.min(self.size as usize - start);
        mem.read(self.data + start, &mut buf[..first]);
        mem.read(self.data, &mut buf[first..count]);
        mb(); // finished reading before the slots are handed back
        mem.store_u32(self.cons, cons.wrapping_add(count as u32));
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::AtomicPage;

    const RING: ByteRing = ByteRing {
        data: 0,
        size: 16,
        cons: 64,
        prod: 68,
    };

    #[test]
    fn bytes_cross_the_wrap_intact() {
        let page = AtomicPage::new();
        page.store_u32(64, 10);
        page.store_u32(68, 10);
        assert_eq!(RING.write(&page, b"0123456789abcdefXYZ"), Ok(16));
        let mut out = [0u8; 32];
        assert_eq!(RING.read(&page, &mut out[..5]), Ok(5));
        assert_eq!(&out[..5], b"01234");
        assert_eq!(RING.write(&page, b"XYZ"), Ok(3));
        assert_eq!(RING.read(&page, &mut out), Ok(14));
        assert_eq!(&out[..14], b"56789abcdefXYZ");
    }

    #[test]
    fn impossible_indices_are_reported() {
        let page = AtomicPage::new();
        page.store_u32(68, 17);
        assert_eq!(
            RING.read(&page, &mut [0; 4]),
            Err(BrokenIndices { cons: 0, prod: 17 })
        );
        assert!(RING.write(&page, b"x").is_err());
    }
}
