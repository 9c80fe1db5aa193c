//! Codecs: enumeration, path finding and activation.
//!
//! [`enumerate`] walks a codec's tree (root → audio function group → widgets) through any
//! [`CommandTransport`](crate::verb::CommandTransport); every count the codec reports is
//! clamped, so a lying codec cannot make it loop or overflow. [`playback_path`] and
//! [`capture_path`] are pure functions from the graph to the chosen pin and route (bounded
//! depth, cycle-safe, no allocation), and [`activation`] / [`capture_activation`] turn a route
//! into the verbs that open it, which [`apply`] sends, waiting for each power-up to settle.

mod activation;
mod enumerate;
mod path;

use heapless::Vec;

pub use activation::{MAX_ACTIVATION, POWER_POLLS, activation, apply, capture_activation};
pub use enumerate::{EnumError, enumerate};
pub use path::{CaptureRoute, Route, capture_path, playback_path};

/// Most widgets kept per codec (real codecs have a few dozen).
pub const MAX_WIDGETS: usize = 96;
/// Most connections kept per widget (real codecs have up to 25: IDT's long mixers).
pub const MAX_CONNECTIONS: usize = 32;
/// Most widgets on a route, converter and pin included (Linux's `MAX_NID_PATH_DEPTH`).
pub const MAX_DEPTH: usize = 10;

/// Widget types (audio widget capabilities bits 23:20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WidgetType {
    Output,
    Input,
    Mixer,
    Selector,
    Pin,
    Power,
    VolumeKnob,
    Beep,
    Vendor,
    Reserved(u8),
}

impl WidgetType {
    fn from_caps(caps: u32) -> WidgetType {
        match (caps >> 20) & 0xf {
            0 => WidgetType::Output,
            1 => WidgetType::Input,
            2 => WidgetType::Mixer,
            3 => WidgetType::Selector,
            4 => WidgetType::Pin,
            5 => WidgetType::Power,
            6 => WidgetType::VolumeKnob,
            7 => WidgetType::Beep,
            0xf => WidgetType::Vendor,
            other => WidgetType::Reserved(other as u8),
        }
    }
}

/// Widget capability bits (parameter 09).
pub const WCAP_STEREO: u32 = 1 << 0;
pub const WCAP_IN_AMP: u32 = 1 << 1;
pub const WCAP_OUT_AMP: u32 = 1 << 2;
pub const WCAP_AMP_OVERRIDE: u32 = 1 << 3;
pub const WCAP_FORMAT_OVERRIDE: u32 = 1 << 4;
pub const WCAP_CONN_LIST: u32 = 1 << 8;
pub const WCAP_DIGITAL: u32 = 1 << 9;
pub const WCAP_POWER_CONTROL: u32 = 1 << 10;
/// Pin capability bits (parameter 0C).
pub const PINCAP_TRIGGER: u32 = 1 << 1;
pub const PINCAP_PRESENCE: u32 = 1 << 2;
pub const PINCAP_HP_DRIVE: u32 = 1 << 3;
pub const PINCAP_OUT: u32 = 1 << 4;
pub const PINCAP_IN: u32 = 1 << 5;
pub const PINCAP_VREF_50: u32 = 1 << 9;
pub const PINCAP_VREF_80: u32 = 1 << 12;
pub const PINCAP_VREF_100: u32 = 1 << 13;
pub const PINCAP_EAPD: u32 = 1 << 16;
/// Pin control bits (verb 707).
pub const PIN_IN_EN: u8 = 1 << 5;
pub const PIN_OUT_EN: u8 = 1 << 6;
pub const PIN_HP_EN: u8 = 1 << 7;
/// Pin control VRef field (bits 2:0).
pub const PIN_VREF_50: u8 = 0b001;
pub const PIN_VREF_80: u8 = 0b100;
pub const PIN_VREF_100: u8 = 0b101;
/// Amplifier capability: can mute (bit 31).
pub const AMP_CAN_MUTE: u32 = 1 << 31;
/// Pin sense (F09 reads, 709 triggers an impedance/presence measurement); bit 31 = presence.
pub const GET_PIN_SENSE: u16 = 0xf09;
pub const SET_PIN_SENSE: u16 = 0x709;
pub const SENSE_PRESENT: u32 = 1 << 31;

/// Default device (configuration default bits 23:20).
pub const DEVICE_LINE_OUT: u8 = 0x0;
pub const DEVICE_SPEAKER: u8 = 0x1;
pub const DEVICE_HP_OUT: u8 = 0x2;
pub const DEVICE_CD: u8 = 0x3;
pub const DEVICE_SPDIF_OUT: u8 = 0x4;
pub const DEVICE_DIGITAL_OUT: u8 = 0x5;
pub const DEVICE_LINE_IN: u8 = 0x8;
pub const DEVICE_AUX: u8 = 0x9;
pub const DEVICE_MIC_IN: u8 = 0xa;
pub const DEVICE_SPDIF_IN: u8 = 0xc;
pub const DEVICE_DIGITAL_IN: u8 = 0xd;

/// One widget as enumerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widget {
    pub nid: u8,
    pub caps: u32,
    pub kind: WidgetType,
    pub pin_caps: u32,
    /// Pin configuration default (F1C).
    pub config: u32,
    /// Presence detect (F09 bit 31) when the pin can sense a plug and its configuration does
    /// not say the jack is undetectable; `None` otherwise.
    pub present: Option<bool>,
    pub out_amp_caps: u32,
    pub in_amp_caps: u32,
    /// Converters: supported rates and sizes (parameter 0A, the AFG's unless overridden).
    pub pcm: u32,
    /// Converters: stream formats (parameter 0B, the AFG's unless overridden).
    pub formats: u32,
    /// Connection list, expanded: index `i` here is index `i` for verbs 701 and 3.
    pub connections: Vec<u8, MAX_CONNECTIONS>,
}

impl Widget {
    /// Default device (F1C bits 23:20): 0 line out, 1 speaker, 2 headphone, ...
    pub fn default_device(&self) -> u8 {
        ((self.config >> 20) & 0xf) as u8
    }

    /// Gross location "separate chassis" (F1C bits 29:28 = 2): a docking station's jack.
    pub fn on_dock(&self) -> bool {
        (self.config >> 28) & 0b11 == 2
    }

    /// Port connectivity NONE (F1C bits 31:30 = 1): nothing is wired to this pin.
    pub fn unconnected(&self) -> bool {
        self.config >> 30 == 1
    }

    /// Port connectivity "fixed" or "both" (F1C bits 31:30 = 2 or 3): a built-in device.
    pub fn built_in(&self) -> bool {
        self.config >> 31 == 1
    }

    /// Default association (F1C bits 7:4) and sequence (bits 3:0), as one byte.
    pub fn association_sequence(&self) -> u8 {
        self.config as u8
    }

    /// Jack detect override (F1C bit 8): the jack cannot report presence.
    pub fn no_presence_detect(&self) -> bool {
        self.config & (1 << 8) != 0
    }

    pub fn digital(&self) -> bool {
        self.caps & WCAP_DIGITAL != 0
    }
}

/// An enumerated codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    pub cad: u8,
    pub vendor_id: u32,
    pub revision: u32,
    /// The audio function group's node id.
    pub afg: u8,
    pub widgets: Vec<Widget, MAX_WIDGETS>,
}

impl Codec {
    pub fn widget(&self, nid: u8) -> Option<&Widget> {
        self.widgets.iter().find(|w| w.nid == nid)
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::verb::*;

    fn widget(nid: u8, caps: u32, pin_caps: u32, config: u32, conns: &[u8]) -> Widget {
        Widget {
            nid,
            caps,
            kind: WidgetType::from_caps(caps),
            pin_caps,
            config,
            present: None,
            out_amp_caps: 0x8003_4a4a,
            in_amp_caps: 0x8003_4a4a,
            pcm: 0,
            formats: 0,
            connections: conns.iter().copied().collect(),
        }
    }

    /// QEMU's hda-duplex graph (hda.md §3.1).
    fn qemu_duplex() -> Codec {
        let widgets = [
            widget(2, 0x0000_001d, 0, 0, &[]),
            widget(3, 0x0040_0101, 0x10, 0x0000_4010, &[2]),
            widget(4, 0x0010_011b, 0, 0, &[5]),
            widget(5, 0x0040_0001, 0x20, 0x0080_5020, &[]),
        ];
        Codec {
            cad: 0,
            vendor_id: 0x1af4_0022,
            revision: 0x0010_0101,
            afg: 1,
            widgets: widgets.into_iter().collect(),
        }
    }

    #[test]
    fn qemu_duplex_plays_from_dac_2_through_pin_3() {
        let route = playback_path(&qemu_duplex()).unwrap();
        assert_eq!(route.hops.as_slice(), &[(3, 0), (2, 0)]);
        let verbs = activation(&qemu_duplex(), &route, 1, 0x0011);
        let expected = [
            (1, Verb::short(SET_POWER_STATE, 0)),
            (2, Verb::short(SET_CONVERTER_STREAM, 0x10)),
            (2, Verb::long(SET_CONVERTER_FORMAT, 0x0011)),
            (2, Verb::long(SET_AMP_GAIN_MUTE, 0xb04a)),
            (3, Verb::short(SET_PIN_CONTROL, PIN_OUT_EN)),
        ];
        assert_eq!(verbs.as_slice(), &expected);
    }

    #[test]
    fn qemu_duplex_records_through_adc_4_from_its_line_in_pin_5() {
        let codec = qemu_duplex();
        let route = capture_path(&codec).unwrap();
        assert_eq!(route.hops.as_slice(), &[(4, 0), (5, 0)]);
        assert_eq!((route.converter(), route.pin()), (4, 5));
        let verbs = capture_activation(&codec, &route, 2, 0x0011);
        let expected = [
            (1, Verb::short(SET_POWER_STATE, 0)),
            (4, Verb::short(SET_CONVERTER_STREAM, 0x20)),
            (4, Verb::long(SET_CONVERTER_FORMAT, 0x0011)),
            (5, Verb::short(SET_PIN_CONTROL, PIN_IN_EN)),
            (4, Verb::long(SET_AMP_GAIN_MUTE, 0x704a)),
        ];
        assert_eq!(verbs.as_slice(), &expected);
    }

    #[test]
    fn a_microphone_beats_line_in_through_a_selector_and_gets_its_bias() {
        // ADC 8 <- selector 0x23 <- {line in 0x1a, mic 0x18}; a playback-only codec part.
        let widgets = [
            widget(2, 0x0000_001d, 0, 0, &[]),
            widget(0x14, 0x0040_0101, 0x10, 0x0101_4010, &[2]),
            widget(8, 0x0010_011b, 0, 0, &[0x23]),
            widget(0x23, 0x0030_0103, 0, 0, &[0x1a, 0x18]),
            widget(0x1a, 0x0040_0001, 0x20, 0x0181_3020, &[]),
            widget(0x18, 0x0040_0003, 0x20 | PINCAP_VREF_80, 0x01a1_9030, &[]),
        ];
        let codec = Codec {
            cad: 0,
            vendor_id: 0x10ec_0269,
            revision: 0,
            afg: 1,
            widgets: widgets.into_iter().collect(),
        };
        let route = capture_path(&codec).unwrap();
        assert_eq!(route.hops.as_slice(), &[(8, 0), (0x23, 1), (0x18, 0)]);
        let verbs = capture_activation(&codec, &route, 2, 0x0011);
        assert!(verbs.contains(&(0x23, Verb::short(SET_CONNECTION_SELECT, 1))));
        assert!(verbs.contains(&(0x18, Verb::short(SET_PIN_CONTROL, PIN_IN_EN | PIN_VREF_80))));
        assert!(verbs.contains(&(0x18, Verb::long(SET_AMP_GAIN_MUTE, 0x704a))));
        // Without the microphone, line in; without inputs at all, nothing.
        let mut codec = codec;
        codec.widgets.retain(|w| w.nid != 0x18);
        assert_eq!(capture_path(&codec).unwrap().pin(), 0x1a);
        codec.widgets.retain(|w| w.nid != 0x1a);
        assert_eq!(capture_path(&codec), None);
    }

    #[test]
    fn line_out_beats_headphone_and_unconnected_pins_are_skipped() {
        let mut codec = qemu_duplex();
        // 6: headphone pin on DAC 2 through selector 7; 8: a line out wired to nothing.
        codec
            .widgets
            .push(widget(6, 0x0040_0105, 0x18, 0x0220_4020, &[7]))
            .unwrap();
        codec
            .widgets
            .push(widget(7, 0x0030_0101, 0, 0, &[9, 2]))
            .unwrap();
        codec
            .widgets
            .push(widget(8, 0x0040_0101, 0x10, 0x4000_4010, &[2]))
            .unwrap();
        assert_eq!(playback_path(&codec).unwrap().pin(), 3);
        codec.widgets.retain(|w| w.nid != 3);
        let route = playback_path(&codec).unwrap();
        assert_eq!(
            route.hops.as_slice(),
            &[(6, 0), (7, 1), (2, 0)],
            "selector index 1 leads to the DAC"
        );
        let verbs = activation(&codec, &route, 2, 0x4011);
        assert!(verbs.contains(&(7, Verb::short(SET_CONNECTION_SELECT, 1))));
        assert!(verbs.contains(&(6, Verb::short(SET_PIN_CONTROL, PIN_OUT_EN | PIN_HP_EN))));
    }

    #[test]
    fn cycles_end_the_search_and_a_codec_without_dac_cannot_play() {
        let widgets = [
            widget(3, 0x0040_0101, 0x10, 0x0000_4010, &[4]),
            widget(4, 0x0020_0101, 0, 0, &[5]),
            widget(5, 0x0020_0101, 0, 0, &[4]),
        ];
        let codec = Codec {
            cad: 0,
            vendor_id: 0,
            revision: 0,
            afg: 1,
            widgets: widgets.into_iter().collect(),
        };
        assert_eq!(playback_path(&codec), None);
    }
}
