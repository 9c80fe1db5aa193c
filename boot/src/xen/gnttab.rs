//! Grant mapping and copying for a backend: the frontend's pages mapped into a window of
//! guest-physical space that holds nothing else (above our RAM, below the PCI hole), and
//! grant copies for one-off reads such as the gref directory.

use alloc::vec;
use alloc::vec::Vec;

use xen_ring::grant::{Access, DomId, GrantError, GrantRef, GrantTable};
use xen_ring::shmem::{PAGE_SIZE, SharedMem};

use super::DOMID_SELF;
use super::abi;
use super::hypercall::{self, GRANT_TABLE_OP};
use super::page::PhysPage;

/// A frontend page mapped into our window.
#[derive(Debug)]
pub struct MappedPage {
    page: PhysPage,
    handle: u32,
    slot: usize,
}

impl SharedMem for MappedPage {
    fn len(&self) -> usize {
        PAGE_SIZE
    }
    fn load_u32(&self, offset: usize) -> u32 {
        self.page.load_u32(offset)
    }
    fn store_u32(&self, offset: usize, value: u32) {
        self.page.store_u32(offset, value)
    }
    fn read(&self, offset: usize, buf: &mut [u8]) {
        self.page.read(offset, buf)
    }
    fn write(&self, offset: usize, data: &[u8]) {
        self.page.write(offset, data)
    }
}

/// Our use of other domains' grants.
pub struct XenGrants {
    window: usize,
    used: Vec<bool>,
}

fn status(status: i16, rc: i64) -> Result<(), GrantError> {
    if rc != 0 {
        return Err(GrantError::Status(rc as i16));
    }
    match GrantError::from_status(status) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

impl XenGrants {
    /// Maps grants into `pages` pages starting at guest-physical `window`.
    ///
    /// # Safety
    /// The window must be unpopulated guest-physical space (not RAM, not MMIO) that is
    /// identity-mapped and used by nothing else.
    pub unsafe fn new(window: usize, pages: usize) -> XenGrants {
        XenGrants {
            window,
            used: vec![false; pages],
        }
    }

    fn op<T>(&self, cmd: u64, arg: &mut T) -> i64 {
        // SAFETY: `arg` is the one structure `cmd` expects (count 1).
        unsafe { hypercall::call(GRANT_TABLE_OP, cmd, arg as *mut T as u64, 1) }
    }

    /// One grant copy between a frontend's page and our memory at `ours` (not crossing a
    /// page on either side).
    fn copy(
        &self,
        domid: DomId,
        gref: GrantRef,
        offset: usize,
        ours: usize,
        len: usize,
        to_guest: bool,
    ) -> Result<(), GrantError> {
        let theirs = abi::CopyPtr {
            u: u64::from(gref),
            domid,
            offset: offset as u16,
            pad: 0,
        };
        let local = abi::CopyPtr {
            u: (ours >> 12) as u64,
            domid: DOMID_SELF,
            offset: (ours & (PAGE_SIZE - 1)) as u16,
            pad: 0,
        };
        let (source, dest, flags) = if to_guest {
            (local, theirs, abi::GNTCOPY_DEST_GREF)
        } else {
            (theirs, local, abi::GNTCOPY_SOURCE_GREF)
        };
        let mut copy = abi::GrantCopy {
            source,
            dest,
            len: len as u16,
            flags,
            status: 0,
            pad: 0,
        };
        let rc = self.op(abi::GNTTABOP_COPY, &mut copy);
        status(copy.status, rc)
    }

    /// Splits a copy at our page boundaries (the image is identity-mapped, so our buffer's
    /// address is its guest-physical address).
    fn copy_split(
        &self,
        domid: DomId,
        gref: GrantRef,
        offset: usize,
        ours: usize,
        len: usize,
        to_guest: bool,
    ) -> Result<(), GrantError> {
        if offset + len > PAGE_SIZE {
            return Err(GrantError::OutOfPage);
        }
        let mut done = 0;
        while done < len {
            let here = ours + done;
            let n = (len - done).min(PAGE_SIZE - (here & (PAGE_SIZE - 1)));
            self.copy(domid, gref, offset + done, here, n, to_guest)?;
            done += n;
        }
        Ok(())
    }
}

impl GrantTable for XenGrants {
    type Page = MappedPage;

    fn map(
        &mut self,
        domid: DomId,
        gref: GrantRef,
        access: Access,
    ) -> Result<MappedPage, GrantError> {
        let slot = self
            .used
            .iter()
            .position(|used| !used)
            .ok_or(GrantError::Exhausted)?;
        let address = self.window + slot * PAGE_SIZE;
        let mut flags = abi::GNTMAP_HOST_MAP;
        if access == Access::ReadOnly {
            flags |= abi::GNTMAP_READONLY;
        }
        let mut map = abi::MapGrantRef {
            host_addr: address as u64,
            flags,
            gref,
            dom: domid,
            status: 0,
            handle: 0,
            dev_bus_addr: 0,
        };
        let rc = self.op(abi::GNTTABOP_MAP_GRANT_REF, &mut map);
        status(map.status, rc)?;
        self.used[slot] = true;
        Ok(MappedPage {
            // SAFETY: the slot is in the window (constructor contract) and now holds the
            // frontend's page, used only through this value.
            page: unsafe { PhysPage::new(address) },
            handle: map.handle,
            slot,
        })
    }

    fn unmap(&mut self, page: MappedPage) -> Result<(), GrantError> {
        let mut unmap = abi::UnmapGrantRef {
            host_addr: page.page.address() as u64,
            dev_bus_addr: 0,
            handle: page.handle,
            status: 0,
            pad: 0,
        };
        let rc = self.op(abi::GNTTABOP_UNMAP_GRANT_REF, &mut unmap);
        status(unmap.status, rc)?;
        // A slot whose unmap failed is never reused: it may still hold the guest's page.
        self.used[page.slot] = false;
        Ok(())
    }

    fn copy_from(
        &mut self,
        domid: DomId,
        gref: GrantRef,
        offset: usize,
        buf: &mut [u8],
    ) -> Result<(), GrantError> {
        self.copy_split(
            domid,
            gref,
            offset,
            buf.as_mut_ptr() as usize,
            buf.len(),
            false,
        )
    }

    fn copy_to(
        &mut self,
        domid: DomId,
        gref: GrantRef,
        offset: usize,
        data: &[u8],
    ) -> Result<(), GrantError> {
        self.copy_split(
            domid,
            gref,
            offset,
            data.as_ptr() as usize,
            data.len(),
            true,
        )
    }
}
