//! The sndif wire structures, laid out exactly as the C header does.
//!
//! Layout is checked at compile time here and against the real header by the conformance
//! tests. These structs are only ever filled by copying bytes (zerocopy), never by pointing
//! into shared memory.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Every request, response and event is one 64-byte slot.
pub const SLOT_SIZE: usize = 64;

/// `struct xensnd_open_req`.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct OpenReq {
    pub pcm_rate: u32,
    pub pcm_format: u8,
    pub pcm_channels: u8,
    pub reserved: u16,
    pub buffer_sz: u32,
    pub gref_directory: u32,
    pub period_sz: u32,
}

/// `struct xensnd_rw_req` (READ, WRITE, and the volume/mute operations).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct RwReq {
    pub offset: u32,
    pub length: u32,
}

/// `struct xensnd_trigger_req`.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct TriggerReq {
    pub kind: u8,
}

/// The `{min, max}` pairs of `struct xensnd_query_hw_param`.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct Interval {
    pub min: u32,
    pub max: u32,
}

/// `struct xensnd_query_hw_param`: formats as a bit mask of `1 << XENSND_PCM_FORMAT_*`;
/// buffer and period in frames (not octets).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct HwParam {
    pub formats: u64,
    pub rates: Interval,
    pub channels: Interval,
    pub buffer: Interval,
    pub period: Interval,
}

/// `struct xensnd_req`: header plus the 56-byte operation union.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct Req {
    pub id: u16,
    pub operation: u8,
    pub reserved: [u8; 5],
    pub op: [u8; 56],
}

/// `struct xensnd_resp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct Resp {
    pub id: u16,
    pub operation: u8,
    pub reserved: u8,
    pub status: i32,
    pub resp: [u8; 56],
}

/// `struct xensnd_cur_pos_evt`.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct CurPosEvt {
    pub position: u64,
}

/// `struct xensnd_evt`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct Event {
    pub id: u16,
    pub kind: u8,
    pub reserved: [u8; 5],
    pub op: [u8; 56],
}

/// `struct xensnd_event_page`: the header before the 63 event slots.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct EventPageHeader {
    pub in_cons: u32,
    pub in_prod: u32,
    pub reserved: [u8; 56],
}

/// Offset of `in_cons` on the event page.
pub const EVT_IN_CONS: usize = core::mem::offset_of!(EventPageHeader, in_cons);
/// Offset of `in_prod` on the event page.
pub const EVT_IN_PROD: usize = core::mem::offset_of!(EventPageHeader, in_prod);

/// Offset of `gref_dir_next_page` in `struct xensnd_page_directory`.
pub const DIR_NEXT_PAGE: usize = 0;
/// Offset of `gref[0]`.
pub const DIR_GREFS: usize = 4;
/// Grant references one directory page holds: (4096 - 4) / 4.
pub const GREFS_PER_DIR_PAGE: usize = (crate::shmem::PAGE_SIZE - DIR_GREFS) / 4;

const _: () = {
    assert!(core::mem::size_of::<Req>() == SLOT_SIZE);
    assert!(core::mem::size_of::<Resp>() == SLOT_SIZE);
    assert!(core::mem::size_of::<Event>() == SLOT_SIZE);
    assert!(core::mem::size_of::<HwParam>() == 40);
    assert!(core::mem::size_of::<OpenReq>() == 20);
    assert!(core::mem::size_of::<EventPageHeader>() == 64);
    assert!(GREFS_PER_DIR_PAGE == 1023);
};
