//! Hypercall argument structures and constants (`xen/include/public/`: memory.h,
//! hvm/hvm_op.h, hvm/params.h, event_channel.h, grant_table.h), x86_64 layouts.

pub const XENMEM_ADD_TO_PHYSMAP: u64 = 7;
pub const XENMAPSPACE_SHARED_INFO: u32 = 0;

pub const HVMOP_GET_PARAM: u64 = 1;
pub const HVM_PARAM_STORE_PFN: u32 = 1;
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
pub const HVM_PARAM_CONSOLE_PFN: u32 = 17;
pub const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;

pub const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
pub const EVTCHNOP_CLOSE: u64 = 3;
pub const EVTCHNOP_SEND: u64 = 4;
pub const EVTCHNOP_UNMASK: u64 = 9;

pub const GNTTABOP_MAP_GRANT_REF: u64 = 0;
pub const GNTTABOP_UNMAP_GRANT_REF: u64 = 1;
pub const GNTTABOP_COPY: u64 = 5;
pub const GNTMAP_HOST_MAP: u32 = 1 << 1;
pub const GNTMAP_READONLY: u32 = 1 << 2;
pub const GNTCOPY_SOURCE_GREF: u16 = 1 << 0;
pub const GNTCOPY_DEST_GREF: u16 = 1 << 1;

/// `struct xen_add_to_physmap` (24 bytes).
#[repr(C)]
pub struct AddToPhysmap {
    pub domid: u16,
    pub size: u16,
    pub space: u32,
    pub idx: u64,
    pub gpfn: u64,
}

/// `struct xen_hvm_param` (16 bytes).
#[repr(C)]
pub struct HvmParam {
    pub domid: u16,
    pub pad: u16,
    pub index: u32,
    pub value: u64,
}

/// `struct evtchn_bind_interdomain` (12 bytes).
#[repr(C)]
pub struct BindInterdomain {
    pub remote_dom: u16,
    pub pad: u16,
    pub remote_port: u32,
    pub local_port: u32,
}

/// `struct evtchn_send`, `evtchn_close`, `evtchn_unmask`: a port.
#[repr(C)]
pub struct PortArg {
    pub port: u32,
}

/// `struct gnttab_map_grant_ref` (32 bytes).
#[repr(C)]
pub struct MapGrantRef {
    pub host_addr: u64,
    pub flags: u32,
    pub gref: u32,
    pub dom: u16,
    pub status: i16,
    pub handle: u32,
    pub dev_bus_addr: u64,
}

/// `struct gnttab_unmap_grant_ref` (24 bytes).
#[repr(C)]
pub struct UnmapGrantRef {
    pub host_addr: u64,
    pub dev_bus_addr: u64,
    pub handle: u32,
    pub status: i16,
    pub pad: u16,
}

/// One side of `struct gnttab_copy`: a grant reference or our frame number (16 bytes).
#[repr(C)]
pub struct CopyPtr {
    /// `union { grant_ref_t ref; xen_pfn_t gmfn; }`
    pub u: u64,
    pub domid: u16,
    pub offset: u16,
    pub pad: u32,
}

/// `struct gnttab_copy` (40 bytes).
#[repr(C)]
pub struct GrantCopy {
    pub source: CopyPtr,
    pub dest: CopyPtr,
    pub len: u16,
    pub flags: u16,
    pub status: i16,
    pub pad: u16,
}

const _: () = {
    assert!(core::mem::size_of::<AddToPhysmap>() == 24);
    assert!(core::mem::size_of::<HvmParam>() == 16);
    assert!(core::mem::size_of::<BindInterdomain>() == 12);
    assert!(core::mem::size_of::<MapGrantRef>() == 32);
    assert!(core::mem::size_of::<UnmapGrantRef>() == 24);
    assert!(core::mem::size_of::<CopyPtr>() == 16);
    assert!(core::mem::size_of::<GrantCopy>() == 40);
};
