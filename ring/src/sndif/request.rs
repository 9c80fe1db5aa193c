//! Requests: 64 raw bytes → one validated, typed value.
//!
//! Everything checkable from the request alone is checked here (known operation, trigger
//! type and format, non-zero rate and channels, sane intervals); what needs the stream's
//! state (offsets within the buffer, policy) is the backend's job. A request that fails
//! still yields its `id` and `operation`, because the reply must echo them.

use zerocopy::{FromBytes, IntoBytes};

use super::wire::{HwParam, OpenReq, Req, RwReq, SLOT_SIZE, TriggerReq};
use super::*;

/// A trigger type (`XENSND_OP_TRIGGER_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerType {
    Start,
    Pause,
    Stop,
    Resume,
}

impl TriggerType {
    pub fn from_code(code: u8) -> Option<TriggerType> {
        match code {
            XENSND_OP_TRIGGER_START => Some(TriggerType::Start),
            XENSND_OP_TRIGGER_PAUSE => Some(TriggerType::Pause),
            XENSND_OP_TRIGGER_STOP => Some(TriggerType::Stop),
            XENSND_OP_TRIGGER_RESUME => Some(TriggerType::Resume),
            _ => None,
        }
    }

    pub const fn code(self) -> u8 {
        match self {
            TriggerType::Start => XENSND_OP_TRIGGER_START,
            TriggerType::Pause => XENSND_OP_TRIGGER_PAUSE,
            TriggerType::Stop => XENSND_OP_TRIGGER_STOP,
            TriggerType::Resume => XENSND_OP_TRIGGER_RESUME,
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOp {
    /// Open (or re-open) the stream with a buffer of `buffer_sz` octets described by the
    /// grant directory `gref_directory`; `period_sz` octets between position events (0: none).
    Open {
        rate: u32,
        format: PcmFormat,
        channels: u8,
        buffer_sz: u32,
        gref_directory: u32,
        period_sz: u32,
    },
    Close,
    /// Capture: fill `buffer[offset..offset + length]`.
    Read {
        offset: u32,
        length: u32,
    },
    /// Playback: `buffer[offset..offset + length]` holds samples.
    Write {
        offset: u32,
        length: u32,
    },
    /// The buffer holds one `i32` per channel, in 0.001 dB.
    SetVolume {
        offset: u32,
        length: u32,
    },
    GetVolume {
        offset: u32,
        length: u32,
    },
    /// The buffer holds one byte per channel; non-zero selects the channel.
    Mute {
        offset: u32,
        length: u32,
    },
    Unmute {
        offset: u32,
        length: u32,
    },
    Trigger(TriggerType),
    /// The guest's configuration space; buffer and period in frames.
    HwParamQuery(HwParam),
}

impl RequestOp {
    /// The wire operation code.
    pub const fn code(&self) -> u8 {
        match self {
            RequestOp::Open { .. } => XENSND_OP_OPEN,
            RequestOp::Close => XENSND_OP_CLOSE,
            RequestOp::Read { .. } => XENSND_OP_READ,
            RequestOp::Write { .. } => XENSND_OP_WRITE,
            RequestOp::SetVolume { .. } => XENSND_OP_SET_VOLUME,
            RequestOp::GetVolume { .. } => XENSND_OP_GET_VOLUME,
            RequestOp::Mute { .. } => XENSND_OP_MUTE,
            RequestOp::Unmute { .. } => XENSND_OP_UNMUTE,
            RequestOp::Trigger(_) => XENSND_OP_TRIGGER,
            RequestOp::HwParamQuery(_) => XENSND_OP_HW_PARAM_QUERY,
        }
    }
}

/// A request as received: the guest's cookie `id` and what it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub id: u16,
    pub op: RequestOp,
}

/// Why a request was refused, with what the reply must echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestError {
    pub id: u16,
    pub operation: u8,
    pub reason: Invalid,
}

/// What was wrong with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// `operation` is not a sndif operation.
    UnknownOperation,
    /// TRIGGER with a type that is not START/PAUSE/STOP/RESUME.
    UnknownTrigger(u8),
    /// OPEN with a format code past `XENSND_PCM_FORMAT_GSM`.
    UnknownFormat(u8),
    /// OPEN with zero channels.
    NoChannels,
    /// OPEN with rate 0.
    ZeroRate,
    /// OPEN with an empty buffer.
    EmptyBuffer,
    /// OPEN with `period_sz > buffer_sz`.
    PeriodBeyondBuffer,
    /// HW_PARAM_QUERY with an interval whose `min > max`.
    EmptyInterval,
}

impl Invalid {
    /// The status a reply carries for this mistake.
    pub const fn errno(self) -> crate::errno::Errno {
        match self {
            Invalid::UnknownOperation => crate::errno::ENOSYS,
            _ => crate::errno::EINVAL,
        }
    }
}

impl core::fmt::Display for Invalid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Invalid::UnknownOperation => write!(f, "unknown operation"),
            Invalid::UnknownTrigger(t) => write!(f, "unknown trigger type {t}"),
            Invalid::UnknownFormat(c) => write!(f, "unknown PCM format code {c}"),
            Invalid::NoChannels => write!(f, "zero channels"),
            Invalid::ZeroRate => write!(f, "zero sample rate"),
            Invalid::EmptyBuffer => write!(f, "empty buffer"),
            Invalid::PeriodBeyondBuffer => write!(f, "period larger than the buffer"),
            Invalid::EmptyInterval => write!(f, "an interval with min > max"),
        }
    }
}

fn payload<T: FromBytes>(op: &[u8; 56]) -> T {
    match T::read_from_prefix(op) {
        Ok((value, _)) => value,
        // Every payload struct is at most 40 bytes: reading from 56 cannot fail.
        Err(_) => unreachable!("sndif payloads fit the 56-byte union"),
    }
}

impl Request {
    /// Parses one slot copied out of the ring.
    pub fn parse(slot: &[u8; SLOT_SIZE]) -> Result<Request, RequestError> {
        let req = Req::read_from_bytes(slot).unwrap_or_else(|_| unreachable!("64 bytes"));
        let reject = |reason| RequestError {
            id: req.id,
            operation: req.operation,
            reason,
        };
        let rw = || {
            let rw: RwReq = payload(&req.op);
            (rw.offset, rw.length)
        };
        let op = match req.operation {
            XENSND_OP_OPEN => {
                let open: OpenReq = payload(&req.op);
                let format = PcmFormat::from_code(open.pcm_format)
                    .ok_or(reject(Invalid::UnknownFormat(open.pcm_format)))?;
                if open.pcm_channels == 0 {
                    return Err(reject(Invalid::NoChannels));
                }
                if open.pcm_rate == 0 {
                    return Err(reject(Invalid::ZeroRate));
                }
                if open.buffer_sz == 0 {
                    return Err(reject(Invalid::EmptyBuffer));
                }
                if open.period_sz > open.buffer_sz {
                    return Err(reject(Invalid::PeriodBeyondBuffer));
                }
                RequestOp::Open {
                    rate: open.pcm_rate,
                    format,
                    channels: open.pcm_channels,
                    buffer_sz: open.buffer_sz,
                    gref_directory: open.gref_directory,
                    period_sz: open.period_sz,
                }
            }
            XENSND_OP_CLOSE => RequestOp::Close,
            XENSND_OP_READ => {
                let (offset, length) = rw();
                RequestOp::Read { offset, length }
            }
            XENSND_OP_WRITE => {
                let (offset, length) = rw();
                RequestOp::Write { offset, length }
            }
            XENSND_OP_SET_VOLUME => {
                let (offset, length) = rw();
                RequestOp::SetVolume { offset, length }
            }
            XENSND_OP_GET_VOLUME => {
                let (offset, length) = rw();
                RequestOp::GetVolume { offset, length }
            }
            XENSND_OP_MUTE => {
                let (offset, length) = rw();
                RequestOp::Mute { offset, length }
            }
            XENSND_OP_UNMUTE => {
                let (offset, length) = rw();
                RequestOp::Unmute { offset, length }
            }
            XENSND_OP_TRIGGER => {
                let trigger: TriggerReq = payload(&req.op);
                let kind = TriggerType::from_code(trigger.kind)
                    .ok_or(reject(Invalid::UnknownTrigger(trigger.kind)))?;
                RequestOp::Trigger(kind)
            }
            XENSND_OP_HW_PARAM_QUERY => {
                let query: HwParam = payload(&req.op);
                let intervals = [query.rates, query.channels, query.buffer, query.period];
                if intervals.iter().any(|i| i.min > i.max) {
                    return Err(reject(Invalid::EmptyInterval));
                }
                RequestOp::HwParamQuery(query)
            }
            _ => return Err(reject(Invalid::UnknownOperation)),
        };
        Ok(Request { id: req.id, op })
    }

    /// Encodes the request as a frontend puts it on the ring (reserved bytes zero).
    pub fn to_bytes(&self) -> [u8; SLOT_SIZE] {
        let mut req = Req {
            id: self.id,
            operation: self.op.code(),
            reserved: [0; 5],
            op: [0; 56],
        };
        let rw = |offset, length| RwReq { offset, length };
        match self.op {
            RequestOp::Open {
                rate,
                format,
                channels,
                buffer_sz,
                gref_directory,
                period_sz,
            } => {
                let open = OpenReq {
                    pcm_rate: rate,
                    pcm_format: format.code(),
                    pcm_channels: channels,
                    reserved: 0,
                    buffer_sz,
                    gref_directory,
                    period_sz,
                };
                open.write_to_prefix(&mut req.op).ok();
            }
            RequestOp::Close => {}
            RequestOp::Read { offset, length }
            | RequestOp::Write { offset, length }
            | RequestOp::SetVolume { offset, length }
            | RequestOp::GetVolume { offset, length }
            | RequestOp::Mute { offset, length }
            | RequestOp::Unmute { offset, length } => {
                rw(offset, length).write_to_prefix(&mut req.op).ok();
            }
            RequestOp::Trigger(kind) => {
                TriggerReq { kind: kind.code() }
                    .write_to_prefix(&mut req.op)
                    .ok();
            }
            RequestOp::HwParamQuery(query) => {
                query.write_to_prefix(&mut req.op).ok();
            }
        }
        let mut slot = [0u8; SLOT_SIZE];
        slot.copy_from_slice(req.as_bytes());
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sndif::wire::Interval;

    fn raw(id: u16, operation: u8, payload: &[u8]) -> [u8; 64] {
        let mut slot = [0u8; 64];
        slot[..2].copy_from_slice(&id.to_le_bytes());
        slot[2] = operation;
        slot[8..8 + payload.len()].copy_from_slice(payload);
        slot
    }

    #[test]
    fn open_is_decoded_field_by_field() {
        let mut p = [0u8; 24];
        p[0..4].copy_from_slice(&48000u32.to_le_bytes());
        p[4] = XENSND_PCM_FORMAT_S16_LE_CODE;
        p[5] = 2;
        p[8..12].copy_from_slice(&65536u32.to_le_bytes());
        p[12..16].copy_from_slice(&77u32.to_le_bytes());
        p[16..20].copy_from_slice(&4096u32.to_le_bytes());
        let req = Request::parse(&raw(7, XENSND_OP_OPEN, &p)).unwrap();
        assert_eq!(
            req,
            Request {
                id: 7,
                op: RequestOp::Open {
                    rate: 48000,
                    format: PcmFormat::S16Le,
                    channels: 2,
                    buffer_sz: 65536,
                    gref_directory: 77,
                    period_sz: 4096
                }
            }
        );
    }
    const XENSND_PCM_FORMAT_S16_LE_CODE: u8 = 2;

    #[test]
    fn every_request_round_trips_through_bytes() {
        let hw = HwParam {
            formats: 0b101,
            rates: Interval {
                min: 8000,
                max: 48000,
            },
            channels: Interval { min: 1, max: 2 },
            buffer: Interval {
                min: 64,
                max: 16384,
            },
            period: Interval { min: 32, max: 8192 },
        };
        let ops = [
            RequestOp::Open {
                rate: 44100,
                format: PcmFormat::F64Be,
                channels: 6,
                buffer_sz: 1 << 20,
                gref_directory: u32::MAX,
                period_sz: 0,
            },
            RequestOp::Close,
            RequestOp::Read {
                offset: 1,
                length: 2,
            },
            RequestOp::Write {
                offset: 3,
                length: 4,
            },
            RequestOp::SetVolume {
                offset: 5,
                length: 6,
            },
            RequestOp::GetVolume {
                offset: 7,
                length: 8,
            },
            RequestOp::Mute {
                offset: 9,
                length: 10,
            },
            RequestOp::Unmute {
                offset: 11,
                length: 12,
            },
            RequestOp::Trigger(TriggerType::Resume),
            RequestOp::HwParamQuery(hw),
        ];
        for (i, op) in ops.into_iter().enumerate() {
            let req = Request {
                id: 1000 + i as u16,
                op,
            };
            assert_eq!(Request::parse(&req.to_bytes()), Ok(req));
        }
    }

    #[test]
    fn unknown_operation_keeps_id_and_code_for_the_reply() {
        let err = Request::parse(&raw(0xbeef, 42, &[])).unwrap_err();
        assert_eq!(
            err,
            RequestError {
                id: 0xbeef,
                operation: 42,
                reason: Invalid::UnknownOperation
            }
        );
        assert_eq!(err.reason.errno(), crate::errno::ENOSYS);
    }

    #[test]
    fn invalid_requests_are_classified() {
        let cases: [(u8, &[u8], Invalid); 6] = [
            (XENSND_OP_TRIGGER, &[9], Invalid::UnknownTrigger(9)),
            (
                XENSND_OP_OPEN,
                &[0x80, 0xbb, 0, 0, 25, 2],
                Invalid::UnknownFormat(25),
            ),
            (
                XENSND_OP_OPEN,
                &[0x80, 0xbb, 0, 0, 2, 0],
                Invalid::NoChannels,
            ),
            (
                XENSND_OP_OPEN,
                &[0, 0, 0, 0, 2, 2, 0, 0, 1],
                Invalid::ZeroRate,
            ),
            (
                XENSND_OP_OPEN,
                &[1, 0, 0, 0, 2, 2, 0, 0, 0],
                Invalid::EmptyBuffer,
            ),
            (
                XENSND_OP_HW_PARAM_QUERY,
                &[0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1],
                Invalid::EmptyInterval,
            ),
        ];
        for (op, payload, reason) in cases {
            assert_eq!(
                Request::parse(&raw(1, op, payload)).unwrap_err().reason,
                reason
            );
        }
        let mut p = [0u8; 24];
        p[0] = 1;
        p[4] = 2;
        p[5] = 1;
        p[8] = 4; // buffer 4 octets
        p[16] = 8; // period 8 octets
        assert_eq!(
            Request::parse(&raw(1, XENSND_OP_OPEN, &p))
                .unwrap_err()
                .reason,
            Invalid::PeriodBeyondBuffer
        );
    }
}
