//! Codec verbs (Intel HDA specification §7.3): the 32-bit command word, the verbs and
//! parameters the driver uses, and the transport trait the controller implements.

/// A verb with its payload, without the codec address and node id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verb(u32);

impl Verb {
    /// A 12-bit verb with an 8-bit payload (the `7xx`/`Fxx` verbs).
    pub const fn short(verb: u16, payload: u8) -> Verb {
        Verb(((verb as u32 & 0xfff) << 8) | payload as u32)
    }

    /// A 4-bit verb with a 16-bit payload (format `2`/`A`, amplifier `3`/`B`).
    pub const fn long(verb: u8, payload: u16) -> Verb {
        Verb(((verb as u32 & 0xf) << 16) | payload as u32)
    }

    /// `GET_PARAMETER` (`F00`).
    pub const fn parameter(id: u8) -> Verb {
        Verb::short(GET_PARAMETER, id)
    }

    /// The 20 low bits of the command word.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The command word for codec address `cad` (0..15) and node `nid` (0..127).
    pub const fn command(self, cad: u8, nid: u8) -> u32 {
        (cad as u32 & 0xf) << 28 | (nid as u32 & 0x7f) << 20 | self.0
    }
}

pub const GET_PARAMETER: u16 = 0xf00;
pub const GET_CONNECTION_SELECT: u16 = 0xf01;
pub const SET_CONNECTION_SELECT: u16 = 0x701;
pub const GET_CONNECTION_LIST: u16 = 0xf02;
pub const SET_POWER_STATE: u16 = 0x705;
pub const GET_POWER_STATE: u16 = 0xf05;
pub const SET_CONVERTER_STREAM: u16 = 0x706;
pub const GET_PIN_CONTROL: u16 = 0xf07;
pub const SET_PIN_CONTROL: u16 = 0x707;
pub const GET_EAPD: u16 = 0xf0c;
pub const SET_EAPD: u16 = 0x70c;
pub const GET_CONFIG_DEFAULT: u16 = 0xf1c;
/// 4-bit verbs.
pub const SET_CONVERTER_FORMAT: u8 = 0x2;
pub const SET_AMP_GAIN_MUTE: u8 = 0x3;
pub const GET_CONVERTER_FORMAT: u8 = 0xa;
pub const GET_AMP_GAIN_MUTE: u8 = 0xb;

/// Parameters (`F00` payloads).
pub const PARAM_VENDOR_ID: u8 = 0x00;
pub const PARAM_REVISION_ID: u8 = 0x02;
pub const PARAM_NODE_COUNT: u8 = 0x04;
pub const PARAM_FUNCTION_GROUP_TYPE: u8 = 0x05;
pub const PARAM_AUDIO_FG_CAPS: u8 = 0x08;
pub const PARAM_AUDIO_WIDGET_CAPS: u8 = 0x09;
pub const PARAM_PCM: u8 = 0x0a;
pub const PARAM_STREAM_FORMATS: u8 = 0x0b;
pub const PARAM_PIN_CAPS: u8 = 0x0c;
pub const PARAM_IN_AMP_CAPS: u8 = 0x0d;
pub const PARAM_CONNECTION_LIST_LEN: u8 = 0x0e;
pub const PARAM_POWER_STATES: u8 = 0x0f;
pub const PARAM_GPIO_COUNT: u8 = 0x11;
pub const PARAM_OUT_AMP_CAPS: u8 = 0x12;

/// Why a command got no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    /// No response within the time limit (absent codec, stalled rings).
    Timeout { cad: u8, nid: u8, verb: u32 },
    /// The controller reads all ones: removed or powered down.
    DeviceGone,
    /// The command rings are not running (controller not initialised).
    NotReady,
    /// The answer came from another codec address than the one asked (immediate path; on
    /// the CORB such answers are dropped and the wait goes on).
    WrongCodec { expected: u8, got: u8 },
    /// Responses were lost in a RIRB overrun twice in a row, even after resynchronising.
    Overrun,
}

/// Sends verbs to codecs and returns their 32-bit responses.
pub trait CommandTransport {
    /// One verb, one response. Errors: [`CommandError`].
    fn command(&mut self, cad: u8, nid: u8, verb: Verb) -> Result<u32, CommandError>;

    /// `GET_PARAMETER(id)` of node `nid`.
    fn parameter(&mut self, cad: u8, nid: u8, id: u8) -> Result<u32, CommandError> {
        self.command(cad, nid, Verb::parameter(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_match_the_specification_layout() {
        assert_eq!(Verb::parameter(PARAM_VENDOR_ID).command(0, 0), 0x000f_0000);
        assert_eq!(
            Verb::short(SET_PIN_CONTROL, 0x40).command(2, 3),
            0x2037_0740
        );
        assert_eq!(
            Verb::long(SET_CONVERTER_FORMAT, 0x0011).command(0, 2),
            0x0022_0011
        );
        assert_eq!(
            Verb::long(SET_AMP_GAIN_MUTE, 0xb04a).command(1, 0x7f),
            0x17f3_b04a
        );
    }
}
