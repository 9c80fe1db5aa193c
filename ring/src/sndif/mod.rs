//! The Xen PV sound protocol, version 2 (`xen/include/public/io/sndif.h`).
//!
//! Per stream a frontend shares a request ring (requests and responses, 64 bytes each) and an
//! event page (backend → frontend events), plus, at OPEN, a PCM buffer described by a chain
//! of grant-reference directory pages. Every type here is a plain copy of wire bytes: parsing
//! validates once, and nothing keeps a view into guest memory.

mod event;
mod format;
mod gref;
mod request;
mod response;
pub mod wire;

pub use event::{CurPos, EventConsumer, EventPage, EventPageError};
pub use format::{FormatSet, PcmFormat, parse_formats, parse_rates};
pub use gref::{GrefDirectoryError, data_pages, directory_pages, read_gref_directory};
pub use request::{Invalid, Request, RequestError, RequestOp, TriggerType};
pub use response::Response;

/// `XENSND_PROTOCOL_VERSION`.
pub const XENSND_PROTOCOL_VERSION: u32 = 2;

/// Request operation codes (`XENSND_OP_*`).
pub const XENSND_OP_OPEN: u8 = 0;
pub const XENSND_OP_CLOSE: u8 = 1;
pub const XENSND_OP_READ: u8 = 2;
pub const XENSND_OP_WRITE: u8 = 3;
pub const XENSND_OP_SET_VOLUME: u8 = 4;
pub const XENSND_OP_GET_VOLUME: u8 = 5;
pub const XENSND_OP_MUTE: u8 = 6;
pub const XENSND_OP_UNMUTE: u8 = 7;
pub const XENSND_OP_TRIGGER: u8 = 8;
pub const XENSND_OP_HW_PARAM_QUERY: u8 = 9;

/// Trigger types (`XENSND_OP_TRIGGER_*`).
pub const XENSND_OP_TRIGGER_START: u8 = 0;
pub const XENSND_OP_TRIGGER_PAUSE: u8 = 1;
pub const XENSND_OP_TRIGGER_STOP: u8 = 2;
pub const XENSND_OP_TRIGGER_RESUME: u8 = 3;

/// Event type: the stream's current position in octets (`XENSND_EVT_CUR_POS`).
pub const XENSND_EVT_CUR_POS: u8 = 0;

/// The frontend driver's name (`XENSND_DRIVER_NAME`): the device class in xenstore paths.
pub const XENSND_DRIVER_NAME: &str = "vsnd";
/// Separator of xenstore lists (`XENSND_LIST_SEPARATOR`).
pub const XENSND_LIST_SEPARATOR: &str = ",";

/// Xenstore keys (`XENSND_FIELD_*`).
pub const XENSND_FIELD_BE_VERSIONS: &str = "versions";
pub const XENSND_FIELD_FE_VERSION: &str = "version";
pub const XENSND_FIELD_VCARD_SHORT_NAME: &str = "short-name";
pub const XENSND_FIELD_VCARD_LONG_NAME: &str = "long-name";
pub const XENSND_FIELD_RING_REF: &str = "ring-ref";
pub const XENSND_FIELD_EVT_CHNL: &str = "event-channel";
pub const XENSND_FIELD_EVT_RING_REF: &str = "evt-ring-ref";
pub const XENSND_FIELD_EVT_EVT_CHNL: &str = "evt-event-channel";
pub const XENSND_FIELD_DEVICE_NAME: &str = "name";
pub const XENSND_FIELD_TYPE: &str = "type";
pub const XENSND_FIELD_STREAM_UNIQUE_ID: &str = "unique-id";
pub const XENSND_FIELD_CHANNELS_MIN: &str = "channels-min";
pub const XENSND_FIELD_CHANNELS_MAX: &str = "channels-max";
pub const XENSND_FIELD_SAMPLE_RATES: &str = "sample-rates";
pub const XENSND_FIELD_SAMPLE_FORMATS: &str = "sample-formats";
pub const XENSND_FIELD_BUFFER_SIZE: &str = "buffer-size";

/// Stream types (`XENSND_STREAM_TYPE_*`).
pub const XENSND_STREAM_TYPE_PLAYBACK: &str = "p";
pub const XENSND_STREAM_TYPE_CAPTURE: &str = "c";

/// Longest rate and format names in a list (`XENSND_SAMPLE_RATE_MAX_LEN`,
/// `XENSND_SAMPLE_FORMAT_MAX_LEN`).
pub const XENSND_SAMPLE_RATE_MAX_LEN: usize = 11;
pub const XENSND_SAMPLE_FORMAT_MAX_LEN: usize = 24;

/// Size of the event page (`XENSND_EVENT_PAGE_SIZE`), a literal 4096 in the header.
pub const XENSND_EVENT_PAGE_SIZE: usize = 4096;
/// Where events start on the event page (`XENSND_IN_RING_OFFS`).
pub const XENSND_IN_RING_OFFS: usize = core::mem::size_of::<wire::EventPageHeader>();
/// Bytes of event slots (`XENSND_IN_RING_SIZE`).
pub const XENSND_IN_RING_SIZE: usize = XENSND_EVENT_PAGE_SIZE - XENSND_IN_RING_OFFS;
/// Event slots: 63, not a power of two (`XENSND_IN_RING_LEN`).
pub const XENSND_IN_RING_LEN: usize = XENSND_IN_RING_SIZE / core::mem::size_of::<wire::Event>();

/// Slots in the request ring (`__CONST_RING_SIZE(xen_sndif, 4096)`).
pub const SNDIF_RING_SIZE: u32 = crate::ring::ring_size(wire::SLOT_SIZE);

/// The backend end of a stream's request ring.
pub type SndifBackRing<M> = crate::ring::BackRing<M, { wire::SLOT_SIZE }>;
/// The frontend end, for simulated guests and tests.
pub type SndifFrontRing<M> = crate::ring::FrontRing<M, { wire::SLOT_SIZE }>;

/// The standard rates a Linux frontend recognises in `sample-rates`, in ascending order.
pub const LINUX_RATES: [u32; 12] = [
    5512, 8000, 11025, 16000, 22050, 32000, 44100, 48000, 64000, 96000, 176400, 192000,
];
