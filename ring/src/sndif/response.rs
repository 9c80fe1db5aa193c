//! Responses: the backend's answer to one request, echoing its `id` and `operation`.

use zerocopy::IntoBytes;

use super::wire::{HwParam, Resp, SLOT_SIZE};
use crate::errno::Errno;

/// One response. Linux matches it to its request by `id` and then switches on `operation`,
/// so both must be echoed exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    pub operation: u8,
    /// 0, or a negative Xen errno.
    pub status: i32,
    /// Filled for HW_PARAM_QUERY.
    pub hw_param: Option<HwParam>,
}

impl Response {
    /// Success.
    pub const fn ok(id: u16, operation: u8) -> Response {
        Response {
            id,
            operation,
            status: 0,
            hw_param: None,
        }
    }

    /// Failure with `errno` (sent negated).
    pub const fn error(id: u16, operation: u8, errno: Errno) -> Response {
        Response {
            id,
            operation,
            status: errno.negated(),
            hw_param: None,
        }
    }

    /// A successful HW_PARAM_QUERY answer.
    pub const fn hw_param(id: u16, operation: u8, param: HwParam) -> Response {
        Response {
            id,
            operation,
            status: 0,
            hw_param: Some(param),
        }
    }

    pub fn to_bytes(&self) -> [u8; SLOT_SIZE] {
        let mut resp = Resp {
            id: self.id,
            operation: self.operation,
            reserved: 0,
            status: self.status,
            resp: [0; 56],
        };
        if let Some(param) = self.hw_param {
            param.write_to_prefix(&mut resp.resp).ok();
        }
        let mut slot = [0u8; SLOT_SIZE];
        slot.copy_from_slice(resp.as_bytes());
        slot
    }

    /// Decodes a response as a frontend reads it. `hw_param` is decoded for HW_PARAM_QUERY.
    pub fn parse(slot: &[u8; SLOT_SIZE]) -> Response {
        use zerocopy::FromBytes;
        let resp = Resp::read_from_bytes(slot).unwrap_or_else(|_| unreachable!("64 bytes"));
        let hw_param = (resp.operation == super::XENSND_OP_HW_PARAM_QUERY)
            .then(|| HwParam::read_from_prefix(&resp.resp).map(|(p, _)| p).ok())
            .flatten();
        Response {
            id: resp.id,
            operation: resp.operation,
            status: resp.status,
            hw_param,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sndif::wire::Interval;

    #[test]
    fn responses_echo_id_operation_and_status() {
        let bytes = Response::error(0x1234, 3, crate::errno::EACCES).to_bytes();
        assert_eq!(&bytes[..8], &[0x34, 0x12, 3, 0, 0xf3, 0xff, 0xff, 0xff]);
        assert!(bytes[8..].iter().all(|&b| b == 0));
    }

    #[test]
    fn hw_param_answers_round_trip() {
        let param = HwParam {
            formats: 4,
            rates: Interval {
                min: 48000,
                max: 48000,
            },
            ..HwParam::default()
        };
        let resp = Response::hw_param(9, super::super::XENSND_OP_HW_PARAM_QUERY, param);
        assert_eq!(Response::parse(&resp.to_bytes()), resp);
    }
}
