//! A small codec that answers verbs: QEMU's `hda-duplex` graph (DAC 2 → line-out pin 3,
//! mic pin 5 → ADC 4), with the state the driver programs (converter stream and format, pin
//! control, amplifiers, power) kept so tests can check it, and every verb logged.

use std::collections::BTreeMap;

pub const AFG: u8 = 1;
pub const DAC: u8 = 2;
pub const OUT_PIN: u8 = 3;
pub const ADC: u8 = 4;
pub const IN_PIN: u8 = 5;

/// 16-bit PCM at 16-96 kHz, as QEMU reports.
const PCM: u32 = 0x0002_01fc;
const AMP: u32 = 0x8003_4a4a;

#[derive(Default)]
pub struct ModelCodec {
    /// Never answers anything (a codec that asked for an address and then died).
    pub dead: bool,
    /// Every verb received: (node, 20-bit verb and payload).
    pub verbs: Vec<(u8, u32)>,
    /// Converter node → stream tag (706 bits 7:4).
    pub stream_tag: BTreeMap<u8, u8>,
    /// Converter node → format word (verb 2).
    pub format: BTreeMap<u8, u16>,
    pub pin_control: BTreeMap<u8, u8>,
    pub power_state: BTreeMap<u8, u8>,
}

impl ModelCodec {
    pub fn new() -> Self {
        let mut codec = ModelCodec::default();
        codec.reset();
        codec
    }

    /// A link reset: converters back to 48 kHz 16-bit stereo and stream 0, pins off.
    pub fn reset(&mut self) {
        self.stream_tag.clear();
        self.pin_control.clear();
        self.power_state.clear();
        self.format.insert(DAC, 0x0011);
        self.format.insert(ADC, 0x0011);
    }

    /// The node's answer to a 20-bit verb; unknown verbs and nodes answer 0 as QEMU does.
    pub fn answer(&mut self, nid: u8, verb: u32) -> u32 {
        self.verbs.push((nid, verb));
        let (short, payload) = (verb >> 8, (verb & 0xff) as u8);
        match verb >> 16 {
            0x2 => {
                self.format.insert(nid, verb as u16);
                return 0;
            }
            0xa => return u32::from(self.format.get(&nid).copied().unwrap_or(0)),
            0x3 | 0xb => return 0,
            _ => {}
        }
        match short {
            0xf00 => parameter(nid, payload),
            0xf02 => match nid {
                OUT_PIN => u32::from(DAC),
                ADC => u32::from(IN_PIN),
                _ => 0,
            },
            0xf1c => match nid {
                OUT_PIN => 0x0101_4010, // line out, rear jack, green
                IN_PIN => 0x01a1_9020,  // mic in, rear jack, pink
                _ => 0,
            },
            0x706 => {
                self.stream_tag.insert(nid, payload >> 4);
                0
            }
            0xf06 => u32::from(self.stream_tag.get(&nid).copied().unwrap_or(0)) << 4,
            0x707 => {
                self.pin_control.insert(nid, payload);
                0
            }
            0xf07 => u32::from(self.pin_control.get(&nid).copied().unwrap_or(0)),
            0x705 => {
                self.power_state.insert(nid, payload & 0xf);
                0
            }
            // Actual state (7:4) equals the requested one (3:0): transitions are instant.
            0xf05 => {
                let state = u32::from(self.power_state.get(&nid).copied().unwrap_or(0));
                state << 4 | state
            }
            _ => 0,
        }
    }

    /// The converter the driver bound to stream `tag`, if any.
    pub fn converter_for_tag(&self, tag: u8) -> Option<u8> {
        self.stream_tag
            .iter()
            .find(|&(_, &t)| t == tag)
            .map(|(&nid, _)| nid)
    }
}

fn parameter(nid: u8, id: u8) -> u32 {
    match (nid, id) {
        (0, 0x00) => 0x10ec_0d0c, // vendor id
        (0, 0x02) => 0x0010_0101,
        (0, 0x04) => 0x0001_0001, // one function group at node 1
        (AFG, 0x04) => 0x0002_0004,
        (AFG, 0x05) => 0x0000_0001, // audio function group
        (AFG, 0x08) => 0x0000_0808,
        (AFG, 0x0a) => PCM,
        (AFG, 0x0b) => 1,
        (DAC, 0x09) => 0x0000_001d,
        (DAC, 0x0a) | (ADC, 0x0a) => PCM,
        (DAC, 0x0b) | (ADC, 0x0b) => 1,
        (DAC, 0x12) | (ADC, 0x0d) => AMP,
        (OUT_PIN, 0x09) => 0x0040_0101,
        (OUT_PIN, 0x0c) => 0x10,
        (OUT_PIN, 0x0e) | (ADC, 0x0e) => 1,
        (ADC, 0x09) => 0x0010_011b,
        (IN_PIN, 0x09) => 0x0040_0001,
        (IN_PIN, 0x0c) => 0x20,
        _ => 0,
    }
}
