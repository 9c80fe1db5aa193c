//! Grant tables between simulated domains: a domain grants one of its pages to another,
//! read-only or read-write; the grantee maps it (checked like Xen: right domain, granted,
//! not writing through a read-only grant) or copies through it. Pages are `AtomicPage`s, so
//! both sides really share memory.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use xen_ring::grant::{Access, DomId, GrantError, GrantRef, GrantTable};
use xen_ring::shmem::{AtomicPage, PAGE_SIZE, SharedMem};

struct Entry {
    page: Rc<AtomicPage>,
    grantee: DomId,
    readonly: bool,
    mapped: u32,
}

#[derive(Default)]
struct Grants {
    entries: HashMap<(DomId, GrantRef), Entry>,
    next: HashMap<DomId, GrantRef>,
    dead: Vec<DomId>,
}

/// The hypervisor's grant tables for every simulated domain.
#[derive(Clone, Default)]
pub struct GrantHost {
    grants: Rc<RefCell<Grants>>,
}

/// Why a grant could not be revoked.
#[derive(Debug, PartialEq, Eq)]
pub struct StillMapped;

impl GrantHost {
    pub fn new() -> GrantHost {
        GrantHost::default()
    }

    /// `granter` grants `page` to `grantee`; returns the reference (refs start at 8, as the
    /// first few are reserved in Linux).
    pub fn grant(
        &self,
        granter: DomId,
        grantee: DomId,
        page: Rc<AtomicPage>,
        readonly: bool,
    ) -> GrantRef {
        let mut g = self.grants.borrow_mut();
        let next = g.next.entry(granter).or_insert(8);
        let gref = *next;
        *next += 1;
        g.entries.insert(
            (granter, gref),
            Entry {
                page,
                grantee,
                readonly,
                mapped: 0,
            },
        );
        gref
    }

    /// Ends a grant; refused while the grantee still maps it (as `gnttab_end_foreign_access`).
    pub fn revoke(&self, granter: DomId, gref: GrantRef) -> Result<(), StillMapped> {
        let mut g = self.grants.borrow_mut();
        match g.entries.get(&(granter, gref)) {
            Some(e) if e.mapped > 0 => Err(StillMapped),
            _ => {
                g.entries.remove(&(granter, gref));
                Ok(())
            }
        }
    }

    /// How many of `granter`'s grants are currently mapped by someone.
    pub fn mapped_count(&self, granter: DomId) -> u32 {
        self.grants
            .borrow()
            .entries
            .iter()
            .filter(|((d, _), _)| *d == granter)
            .map(|(_, e)| e.mapped)
            .sum()
    }

    /// The domain dies: its grants can no longer be mapped (existing mappings stay valid, as
    /// the pages stay with the zombie until unmapped).
    pub fn kill(&self, domid: DomId) {
        self.grants.borrow_mut().dead.push(domid);
    }

    /// Domain `domid`'s view, implementing `GrantTable`.
    pub fn table(&self, domid: DomId) -> DomainGrants {
        DomainGrants {
            domid,
            grants: self.grants.clone(),
        }
    }
}

/// A page another domain granted, mapped.
pub struct MappedPage {
    page: Rc<AtomicPage>,
    key: (DomId, GrantRef),
    readonly: bool,
}

impl SharedMem for MappedPage {
    fn len(&self) -> usize {
        PAGE_SIZE
    }
    fn load_u32(&self, offset: usize) -> u32 {
        self.page.load_u32(offset)
    }
    fn store_u32(&self, offset: usize, value: u32) {
        assert!(!self.readonly, "store through a read-only mapping");
        self.page.store_u32(offset, value)
    }
    fn read(&self, offset: usize, buf: &mut [u8]) {
        self.page.read(offset, buf)
    }
    fn write(&self, offset: usize, data: &[u8]) {
        assert!(!self.readonly, "write through a read-only mapping");
        self.page.write(offset, data)
    }
}

/// One domain's use of other domains' grants.
pub struct DomainGrants {
    domid: DomId,
    grants: Rc<RefCell<Grants>>,
}

impl DomainGrants {
    fn check(
        &self,
        g: &Grants,
        granter: DomId,
        gref: GrantRef,
        write: bool,
    ) -> Result<Rc<AtomicPage>, GrantError> {
        if g.dead.contains(&granter) {
            return Err(GrantError::BadDomain);
        }
        let entry = g
            .entries
            .get(&(granter, gref))
            .ok_or(GrantError::NotGranted)?;
        if entry.grantee != self.domid {
            return Err(GrantError::NotGranted);
        }
        if write && entry.readonly {
            return Err(GrantError::ReadOnly);
        }
        Ok(entry.page.clone())
    }
}

impl GrantTable for DomainGrants {
    type Page = MappedPage;

    fn map(
        &mut self,
        domid: DomId,
        gref: GrantRef,
        access: Access,
    ) -> Result<MappedPage, GrantError> {
        let mut g = self.grants.borrow_mut();
        let readonly = access == Access::ReadOnly;
        let page = self.check(&g, domid, gref, !readonly)?;
        if let Some(e) = g.entries.get_mut(&(domid, gref)) {
            e.mapped += 1;
        }
        Ok(MappedPage {
            page,
            key: (domid, gref),
            readonly,
        })
    }

    fn unmap(&mut self, page: MappedPage) -> Result<(), GrantError> {
        let mut g = self.grants.borrow_mut();
        if let Some(e) = g.entries.get_mut(&page.key) {
            e.mapped = e.mapped.saturating_sub(1);
        }
        Ok(())
    }

    fn copy_from(
        &mut self,
        domid: DomId,
        gref: GrantRef,
        offset: usize,
        buf: &mut [u8],
    ) -> Result<(), GrantError> {
        if offset + buf.len() > PAGE_SIZE {
            return Err(GrantError::OutOfPage);
        }
        let page = self.check(&self.grants.borrow(), domid, gref, false)?;
        page.read(offset, buf);
        Ok(())
    }

    fn copy_to(
        &mut self,
        domid: DomId,
        gref: GrantRef,
        offset: usize,
        data: &[u8],
    ) -> Result<(), GrantError> {
        if offset + data.len() > PAGE_SIZE {
            return Err(GrantError::OutOfPage);
        }
        let page = self.check(&self.grants.borrow(), domid, gref, true)?;
        page.write(offset, data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_is_checked_like_xen() {
        let host = GrantHost::new();
        let page = Rc::new(AtomicPage::new());
        let rw = host.grant(5, 1, page.clone(), false);
        let ro = host.grant(5, 1, page.clone(), true);
        let mut backend = host.table(1);
        let mapped = backend.map(5, rw, Access::ReadWrite).unwrap();
        mapped.store_u32(0, 42);
        assert_eq!(page.load_u32(0), 42, "both sides see the same memory");
        assert_eq!(
            backend.map(5, ro, Access::ReadWrite).err(),
            Some(GrantError::ReadOnly)
        );
        assert!(backend.map(5, ro, Access::ReadOnly).is_ok());
        assert_eq!(
            host.table(2).map(5, rw, Access::ReadOnly).err(),
            Some(GrantError::NotGranted)
        );
        assert_eq!(
            backend.map(5, 999, Access::ReadOnly).err(),
            Some(GrantError::NotGranted)
        );
        assert_eq!(host.revoke(5, rw), Err(StillMapped));
        backend.unmap(mapped).unwrap();
        assert_eq!(host.revoke(5, rw), Ok(()));
        assert_eq!(
            backend.map(5, rw, Access::ReadOnly).err(),
            Some(GrantError::NotGranted)
        );
    }

    #[test]
    fn copies_stay_inside_the_page_and_respect_read_only_grants() {
        let host = GrantHost::new();
        let ro = host.grant(5, 1, Rc::new(AtomicPage::new()), true);
        let mut backend = host.table(1);
        let mut buf = [0u8; 16];
        assert!(backend.copy_from(5, ro, 4080, &mut buf).is_ok());
        assert_eq!(
            backend.copy_from(5, ro, 4090, &mut buf),
            Err(GrantError::OutOfPage)
        );
        assert_eq!(backend.copy_to(5, ro, 0, &buf), Err(GrantError::ReadOnly));
        host.kill(5);
        assert_eq!(
            backend.copy_from(5, ro, 0, &mut buf),
            Err(GrantError::BadDomain)
        );
    }
}
