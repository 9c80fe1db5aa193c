//! Reaching another domain's memory through its grants (`xen/include/public/grant_table.h`).
//!
//! A frontend grants pages to us by reference; we either map a page (and then access it as
//! [`SharedMem`] until we unmap it) or copy bytes to and from it with the hypervisor's
//! grant copy, which needs no mapping lifetime at all. Both the real runtime (hypercalls)
//! and the simulated host implement [`GrantTable`].

use crate::shmem::SharedMem;

/// A domain id (`domid_t`).
pub type DomId = u16;
/// A grant reference (`grant_ref_t`).
pub type GrantRef = u32;

/// `DOMID_SELF`: ourselves, in calls that take a domain.
pub const DOMID_SELF: DomId = 0x7ff0;

/// `GNTMAP_host_map` and `GNTMAP_readonly` flag bits.
pub const GNTMAP_HOST_MAP: u32 = 1 << 1;
pub const GNTMAP_READONLY: u32 = 1 << 2;
/// `GNTCOPY_source_gref`, `GNTCOPY_dest_gref`.
pub const GNTCOPY_SOURCE_GREF: u32 = 1 << 0;
pub const GNTCOPY_DEST_GREF: u32 = 1 << 1;

/// Grant operation status codes (`GNTST_*`).
pub const GNTST_OKAY: i16 = 0;
pub const GNTST_GENERAL_ERROR: i16 = -1;
pub const GNTST_BAD_DOMAIN: i16 = -2;
pub const GNTST_BAD_GNTREF: i16 = -3;
pub const GNTST_BAD_HANDLE: i16 = -4;
pub const GNTST_BAD_VIRT_ADDR: i16 = -5;
pub const GNTST_BAD_DEV_ADDR: i16 = -6;
pub const GNTST_NO_DEVICE_SPACE: i16 = -7;
pub const GNTST_PERMISSION_DENIED: i16 = -8;
pub const GNTST_BAD_PAGE: i16 = -9;
pub const GNTST_BAD_COPY_ARG: i16 = -10;
pub const GNTST_ADDRESS_TOO_BIG: i16 = -11;
pub const GNTST_EAGAIN: i16 = -12;
pub const GNTST_NO_SPACE: i16 = -13;

/// How we want to use a granted page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// Why a grant operation failed. Every variant except `Exhausted` is the granting domain's
/// doing: the caller answers that guest with an error and carries on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantError {
    /// The domain does not exist or is dying (`GNTST_bad_domain`).
    BadDomain,
    /// The reference is not a grant to us (`GNTST_bad_gntref`).
    NotGranted,
    /// The grant is read-only and we asked to write (`GNTST_permission_denied`).
    ReadOnly,
    /// An offset/length outside one page (`GNTST_bad_copy_arg`).
    OutOfPage,
    /// Our mapping window or handle table is full (`GNTST_no_space`/`no_device_space`).
    Exhausted,
    /// Any other status the hypervisor returned.
    Status(i16),
}

impl GrantError {
    /// The error a `GNTST_*` status means (`None` for `GNTST_okay`).
    pub fn from_status(status: i16) -> Option<GrantError> {
        Some(match status {
            GNTST_OKAY => return None,
            GNTST_BAD_DOMAIN => GrantError::BadDomain,
            GNTST_BAD_GNTREF => GrantError::NotGranted,
            GNTST_PERMISSION_DENIED => GrantError::ReadOnly,
            GNTST_BAD_COPY_ARG => GrantError::OutOfPage,
            GNTST_NO_SPACE | GNTST_NO_DEVICE_SPACE => GrantError::Exhausted,
            other => GrantError::Status(other),
        })
    }
}

impl core::fmt::Display for GrantError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            GrantError::BadDomain => write!(f, "no such domain"),
            GrantError::NotGranted => write!(f, "reference not granted to us"),
            GrantError::ReadOnly => write!(f, "grant is read-only"),
            GrantError::OutOfPage => write!(f, "access outside the page"),
            GrantError::Exhausted => write!(f, "out of mapping space"),
            GrantError::Status(s) => write!(f, "grant status {s}"),
        }
    }
}

/// Access to pages other domains granted us.
pub trait GrantTable {
    /// A mapped page; it stays valid until passed to [`GrantTable::unmap`].
    type Page: SharedMem;

    /// Maps `gref` of domain `domid`.
    ///
    /// Errors: `BadDomain`, `NotGranted`, `ReadOnly` (asked `ReadWrite` of a read-only
    /// grant), `Exhausted`, `Status`.
    fn map(
        &mut self,
        domid: DomId,
        gref: GrantRef,
        access: Access,
    ) -> Result<Self::Page, GrantError>;

    /// Releases a mapping. Errors: `Status` if the hypervisor refused (the page is then
    /// leaked, never reused).
    fn unmap(&mut self, page: Self::Page) -> Result<(), GrantError>;

    /// Copies `buf.len()` bytes at `offset` of the granted page into `buf` (grant copy).
    ///
    /// Errors: `BadDomain`, `NotGranted`, `OutOfPage` (`offset + len > 4096`), `Status`.
    fn copy_from(
        &mut self,
        domid: DomId,
        gref: GrantRef,
        offset: usize,
        buf: &mut [u8],
    ) -> Result<(), GrantError>;

    /// Copies `data` into the granted page at `offset`.
    ///
    /// Errors: as [`GrantTable::copy_from`], plus `ReadOnly`.
    fn copy_to(
        &mut self,
        domid: DomId,
        gref: GrantRef,
        offset: usize,
        data: &[u8],
    ) -> Result<(), GrantError>;
}
