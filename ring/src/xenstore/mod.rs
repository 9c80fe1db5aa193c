//! The xenstore wire protocol (`xen/include/public/io/xs_wire.h`).
//!
//! A guest talks to xenstored through two 1 KiB byte rings in one shared page; each message
//! is a 16-byte header (`struct xsd_sockmsg`) and up to 4096 payload bytes, usually
//! NUL-terminated strings. Replies carry the request's `req_id`; watch events arrive at any
//! time. This module has the constants, [`codec`] turns messages into bytes and back, and
//! [`DomainInterface`] moves the bytes through the shared page.

pub mod client;
mod codec;
pub mod interface;

pub use codec::{DecodeError, Decoder, EncodeError, Header, Message, Reply, encode, strings};
pub use interface::DomainInterface;

use crate::errno::{self, Errno};

/// Size of the header before the payload.
pub const HEADER_SIZE: usize = 16;
/// Largest payload (`XENSTORE_PAYLOAD_MAX`).
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// Longest absolute path (`XENSTORE_ABS_PATH_MAX`).
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// Longest relative path (`XENSTORE_REL_PATH_MAX`).
pub const XENSTORE_REL_PATH_MAX: usize = 2048;
/// Each byte ring's size (`XENSTORE_RING_SIZE`).
pub const XENSTORE_RING_SIZE: u32 = 1024;

/// `server_features` bits.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;
/// `connection` values.
pub const XENSTORE_CONNECTED: u32 = 0;
pub const XENSTORE_RECONNECT: u32 = 1;
/// `error` values.
pub const XENSTORE_ERROR_NONE: u32 = 0;
pub const XENSTORE_ERROR_COMM: u32 = 1;
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
pub const XENSTORE_ERROR_PROTO: u32 = 3;

/// `XS_WRITE_*` strings (the old write-flags argument).
pub const XS_WRITE_NONE: &str = "NONE";
pub const XS_WRITE_CREATE: &str = "CREATE";
pub const XS_WRITE_CREATE_EXCL: &str = "CREATE|EXCL";

/// Index of the path in a watch event's payload (`XS_WATCH_PATH`), then the token.
pub const XS_WATCH_PATH: usize = 0;
pub const XS_WATCH_TOKEN: usize = 1;

/// `enum xsd_sockmsg_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MsgType {
    Control = 0,
    Directory = 1,
    Read = 2,
    GetPerms = 3,
    Watch = 4,
    Unwatch = 5,
    TransactionStart = 6,
    TransactionEnd = 7,
    Introduce = 8,
    Release = 9,
    GetDomainPath = 10,
    Write = 11,
    Mkdir = 12,
    Rm = 13,
    SetPerms = 14,
    WatchEvent = 15,
    Error = 16,
    IsDomainIntroduced = 17,
    Resume = 18,
    SetTarget = 19,
    // 20 was XS_RESTRICT, removed.
    ResetWatches = 21,
    DirectoryPart = 22,
}

/// `XS_TYPE_COUNT`: one past the last valid type.
pub const XS_TYPE_COUNT: u32 = 23;
/// `XS_INVALID`: guaranteed never to be a valid type.
pub const XS_INVALID: u32 = 0xffff;

impl MsgType {
    pub const ALL: [MsgType; 22] = {
        use MsgType::*;
        [
            Control,
            Directory,
            Read,
            GetPerms,
            Watch,
            Unwatch,
            TransactionStart,
            TransactionEnd,
            Introduce,
            Release,
            GetDomainPath,
            Write,
            Mkdir,
            Rm,
            SetPerms,
            WatchEvent,
            Error,
            IsDomainIntroduced,
            Resume,
            SetTarget,
            ResetWatches,
            DirectoryPart,
        ]
    };

    pub fn from_value(value: u32) -> Option<MsgType> {
        Self::ALL.into_iter().find(|t| *t as u32 == value)
    }
}

/// The error names xenstored sends in `XS_ERROR` replies (`xsd_errors[]`), in header order.
pub const XSD_ERRORS: [(&str, Errno); 16] = [
    ("EINVAL", errno::EINVAL),
    ("EACCES", errno::EACCES),
    ("EEXIST", errno::EEXIST),
    ("EISDIR", errno::EISDIR),
    ("ENOENT", errno::ENOENT),
    ("ENOMEM", errno::ENOMEM),
    ("ENOSPC", errno::ENOSPC),
    ("EIO", errno::EIO),
    ("ENOTEMPTY", errno::ENOTEMPTY),
    ("ENOSYS", errno::ENOSYS),
    ("EROFS", errno::EROFS),
    ("EBUSY", errno::EBUSY),
    ("EAGAIN", errno::EAGAIN),
    ("EISCONN", errno::EISCONN),
    ("E2BIG", errno::E2BIG),
    ("EPERM", errno::EPERM),
];

/// The errno an `XS_ERROR` string names. Unknown names map to `EINVAL`, as the C clients do.
pub fn error_from_name(name: &str) -> Errno {
    XSD_ERRORS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(errno::EINVAL, |(_, e)| *e)
}

/// The string xenstored sends for `errno`, if it is one it knows.
pub fn error_name(errno: Errno) -> Option<&'static str> {
    XSD_ERRORS
        .iter()
        .find(|(_, e)| *e == errno)
        .map(|(n, _)| *n)
}
