//! Xenstore messages to bytes and back.
//!
//! The decoder takes bytes in whatever pieces the ring hands out and yields whole messages.
//! The protocol has no framing to resynchronise on: a header announcing more than
//! `XENSTORE_PAYLOAD_MAX` bytes leaves the stream unreadable, so the decoder stops for good
//! (the daemon's `XENSTORE_ERROR_PROTO`). A message of unknown type but sane length is skipped
//! whole and reported, and the stream continues.

use super::{HEADER_SIZE, MsgType, XENSTORE_PAYLOAD_MAX, error_from_name};
use crate::errno::Errno;

/// `struct xsd_sockmsg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The raw type (see [`MsgType`]).
    pub kind: u32,
    /// Chosen by the client, echoed in the reply.
    pub req_id: u32,
    /// Transaction id, 0 outside transactions.
    pub tx_id: u32,
    /// Payload bytes following the header.
    pub len: u32,
}

impl Header {
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        for (i, v) in [self.kind, self.req_id, self.tx_id, self.len]
            .into_iter()
            .enumerate()
        {
            out[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn parse(bytes: &[u8; HEADER_SIZE]) -> Header {
        let word = |i: usize| {
            u32::from_le_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ])
        };
        Header {
            kind: word(0),
            req_id: word(1),
            tx_id: word(2),
            len: word(3),
        }
    }
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The payload would exceed `XENSTORE_PAYLOAD_MAX`.
    TooLong { len: usize },
    /// An argument contains a NUL byte, which would split it in two.
    EmbeddedNul,
    /// `out` is smaller than the message.
    BufferTooSmall { needed: usize },
}

/// Encodes a message into `out`: each of `args` NUL-terminated, then `value` raw (as
/// `XS_WRITE` sends its data). Returns the message length.
pub fn encode(
    kind: MsgType,
    req_id: u32,
    tx_id: u32,
    args: &[&[u8]],
    value: &[u8],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    if args.iter().any(|a| a.contains(&0)) {
        return Err(EncodeError::EmbeddedNul);
    }
    let len = args.iter().map(|a| a.len() + 1).sum::<usize>() + value.len();
    if len > XENSTORE_PAYLOAD_MAX {
        return Err(EncodeError::TooLong { len });
    }
    let needed = HEADER_SIZE + len;
    if out.len() < needed {
        return Err(EncodeError::BufferTooSmall { needed });
    }
    let header = Header {
        kind: kind as u32,
        req_id,
        tx_id,
        len: len as u32,
    };
    out[..HEADER_SIZE].copy_from_slice(&header.to_bytes());
    let mut at = HEADER_SIZE;
    for arg in args {
        out[at..at + arg.len()].copy_from_slice(arg);
        out[at + arg.len()] = 0;
        at += arg.len() + 1;
    }
    out[at..at + value.len()].copy_from_slice(value);
    Ok(needed)
}

/// What the decoder found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A header announced more than `XENSTORE_PAYLOAD_MAX` bytes; the stream is unusable.
    TooLong { len: u32 },
    /// A whole message of an unknown type was skipped.
    UnknownType { kind: u32, req_id: u32 },
    /// A reply's payload is not what its type requires (missing NUL, not UTF-8, ...).
    BadPayload { kind: MsgType, req_id: u32 },
}

/// One decoded message; the payload borrows the decoder's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: MsgType,
    pub req_id: u32,
    pub tx_id: u32,
    pub payload: &'a [u8],
}

/// A message from the daemon, interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A successful reply to request `req_id` of type `kind`.
    Ok {
        kind: MsgType,
        req_id: u32,
        payload: &'a [u8],
    },
    /// Request `req_id` failed.
    Error { req_id: u32, errno: Errno },
    /// A watch fired.
    WatchEvent { path: &'a str, token: &'a str },
}

impl<'a> Message<'a> {
    /// Interprets the message as a reply or event.
    pub fn reply(&self) -> Result<Reply<'a>, DecodeError> {
        let bad = DecodeError::BadPayload {
            kind: self.kind,
            req_id: self.req_id,
        };
        match self.kind {
            MsgType::Error => {
                let name = strings(self.payload).next().ok_or(bad)?;
                let name = core::str::from_utf8(name).map_err(|_| bad)?;
                Ok(Reply::Error {
                    req_id: self.req_id,
                    errno: error_from_name(name),
                })
            }
            MsgType::WatchEvent => {
                let mut parts = strings(self.payload);
                let path = parts
                    .next()
                    .and_then(|p| core::str::from_utf8(p).ok())
                    .ok_or(bad)?;
                let token = parts
                    .next()
                    .and_then(|t| core::str::from_utf8(t).ok())
                    .ok_or(bad)?;
                Ok(Reply::WatchEvent { path, token })
            }
            kind => Ok(Reply::Ok {
                kind,
                req_id: self.req_id,
                payload: self.payload,
            }),
        }
    }
}

/// The NUL-terminated strings of a payload (an `XS_DIRECTORY` listing, a watch event). A
/// trailing part without its NUL is not returned.
pub fn strings(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let terminated = match payload.iter().rposition(|&b| b == 0) {
        Some(last) => &payload[..last],
        None => &[][..],
    };
    let mut parts = terminated.split(|&b| b == 0);
    let empty = payload.is_empty() || !payload.contains(&0);
    core::iter::from_fn(move || if empty { None } else { parts.next() })
}

/// Reassembles messages from bytes arriving in arbitrary pieces.
pub struct Decoder {
    buf: [u8; HEADER_SIZE + XENSTORE_PAYLOAD_MAX],
    filled: usize,
    broken: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub const fn new() -> Self {
        Decoder {
            buf: [0; HEADER_SIZE + XENSTORE_PAYLOAD_MAX],
            filled: 0,
            broken: false,
        }
    }

    /// Whether an oversized header made the stream unreadable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Feeds bytes, calling `on_message` for every complete message or error. Returns how
    /// many bytes were consumed: all of them, unless the stream broke.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut on_message: impl FnMut(Result<Message<'_>, DecodeError>),
    ) -> usize {
        let mut used = 0;
        while used < input.len() && !self.broken {
            let want = if self.filled < HEADER_SIZE {
                HEADER_SIZE
            } else {
                HEADER_SIZE + self.payload_len()
            };
            let take = (want - self.filled).min(input.len() - used);
            self.buf[self.filled..self.filled + take].copy_from_slice(&input[used..used + take]);
            self.filled += take;
            used += take;
            if self.filled == HEADER_SIZE {
                let len = self.header().len;
                if len as usize > XENSTORE_PAYLOAD_MAX {
                    self.broken = true;
                    on_message(Err(DecodeError::TooLong { len }));
                    break;
                }
            }
            if self.filled >= HEADER_SIZE && self.filled == HEADER_SIZE + self.payload_len() {
                let header = self.header();
                let payload = &self.buf[HEADER_SIZE..self.filled];
                match MsgType::from_value(header.kind) {
                    Some(kind) => on_message(Ok(Message {
                        kind,
                        req_id: header.req_id,
                        tx_id: header.tx_id,
                        payload,
                    })),
                    None => on_message(Err(DecodeError::UnknownType {
                        kind: header.kind,
                        req_id: header.req_id,
                    })),
                }
                self.filled = 0;
            }
        }
        used
    }

    fn header(&self) -> Header {
        let mut bytes = [0u8; HEADER_SIZE];
        bytes.copy_from_slice(&self.buf[..HEADER_SIZE]);
        Header::parse(&bytes)
    }

    fn payload_len(&self) -> usize {
        (self.header().len as usize).min(XENSTORE_PAYLOAD_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno;
    use std::vec::Vec;

    type Decoded = Result<(MsgType, u32, Vec<u8>), DecodeError>;

    fn collect(decoder: &mut Decoder, bytes: &[u8]) -> Vec<Decoded> {
        let mut out = Vec::new();
        decoder.feed(bytes, |m| {
            out.push(m.map(|m| (m.kind, m.req_id, m.payload.to_vec())))
        });
        out
    }

    #[test]
    fn a_write_request_has_nul_terminated_path_and_raw_value() {
        let mut out = [0u8; 64];
        let n = encode(
            MsgType::Write,
            7,
            0,
            &[b"device/vsnd/0/state"],
            b"4",
            &mut out,
        )
        .unwrap();
        assert_eq!(n, 16 + 20 + 1);
        assert_eq!(
            Header::parse(out[..16].try_into().unwrap()),
            Header {
                kind: 11,
                req_id: 7,
                tx_id: 0,
                len: 21
            }
        );
        assert_eq!(&out[16..n], b"device/vsnd/0/state\x004");
    }

    #[test]
    fn messages_split_at_every_byte_are_reassembled() {
        let mut bytes = [0u8; 64];
        let n = encode(
            MsgType::WatchEvent,
            0,
            0,
            &[b"backend/vsnd", b"tok"],
            b"",
            &mut bytes,
        )
        .unwrap();
        let mut decoder = Decoder::new();
        let mut got = Vec::new();
        for b in &bytes[..n] {
            got.extend(collect(&mut decoder, core::slice::from_ref(b)));
        }
        assert_eq!(
            got,
            [Ok((
                MsgType::WatchEvent,
                0,
                b"backend/vsnd\0tok\0".to_vec()
            ))]
        );
    }

    #[test]
    fn replies_are_interpreted() {
        let event = Message {
            kind: MsgType::WatchEvent,
            req_id: 0,
            tx_id: 0,
            payload: b"a/b\0t1\0",
        };
        assert_eq!(
            event.reply(),
            Ok(Reply::WatchEvent {
                path: "a/b",
                token: "t1"
            })
        );
        let error = Message {
            kind: MsgType::Error,
            req_id: 3,
            tx_id: 0,
            payload: b"EAGAIN\0",
        };
        assert_eq!(
            error.reply(),
            Ok(Reply::Error {
                req_id: 3,
                errno: errno::EAGAIN
            })
        );
        let bad = Message {
            kind: MsgType::WatchEvent,
            req_id: 0,
            tx_id: 0,
            payload: b"\xff\xfe\0t\0",
        };
        assert!(bad.reply().is_err());
        let unterminated = Message {
            kind: MsgType::WatchEvent,
            req_id: 0,
            tx_id: 0,
            payload: b"path",
        };
        assert!(unterminated.reply().is_err());
    }

    #[test]
    fn directory_listings_split_on_nul() {
        let parts: Vec<&[u8]> = strings(b"0\x001\x00vsnd\x00").collect();
        assert_eq!(parts, [&b"0"[..], b"1", b"vsnd"]);
        assert_eq!(strings(b"").count(), 0);
    }

    #[test]
    fn oversized_length_breaks_the_stream_for_good() {
        let header = Header {
            kind: 2,
            req_id: 1,
            tx_id: 0,
            len: 4097,
        }
        .to_bytes();
        let mut decoder = Decoder::new();
        assert_eq!(
            collect(&mut decoder, &header),
            [Err(DecodeError::TooLong { len: 4097 })]
        );
        assert!(decoder.is_broken());
        assert_eq!(decoder.feed(&[0; 32], |_| panic!("no more messages")), 0);
    }

    #[test]
    fn unknown_types_are_skipped_whole() {
        let mut bytes = Header {
            kind: 20,
            req_id: 9,
            tx_id: 0,
            len: 3,
        }
        .to_bytes()
        .to_vec();
        bytes.extend_from_slice(b"xyz");
        let mut next = [0u8; 32];
        let n = encode(MsgType::Read, 10, 0, &[], b"ok", &mut next).unwrap();
        bytes.extend_from_slice(&next[..n]);
        let mut decoder = Decoder::new();
        assert_eq!(
            collect(&mut decoder, &bytes),
            [
                Err(DecodeError::UnknownType {
                    kind: 20,
                    req_id: 9
                }),
                Ok((MsgType::Read, 10, b"ok".to_vec()))
            ]
        );
    }

    #[test]
    fn encoding_refuses_what_cannot_be_sent() {
        let mut out = [0u8; 8192];
        assert_eq!(
            encode(MsgType::Read, 0, 0, &[b"a\0b"], b"", &mut out),
            Err(EncodeError::EmbeddedNul)
        );
        assert_eq!(
            encode(MsgType::Write, 0, 0, &[b"p"], &[b'x'; 4095], &mut out),
            Err(EncodeError::TooLong { len: 4097 })
        );
        assert_eq!(
            encode(MsgType::Read, 0, 0, &[b"path"], b"", &mut out[..10]),
            Err(EncodeError::BufferTooSmall { needed: 21 })
        );
    }
}
