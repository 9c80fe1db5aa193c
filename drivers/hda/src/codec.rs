//! Codec enumeration and output path finding.
//!
//! [`enumerate`] walks a codec's tree (root → audio function group → widgets) through any
//! [`CommandTransport`]; every count the codec reports is clamped, so a lying codec cannot
//! make it loop or overflow. [`playback_path`] is a pure function from the graph to the
//! chosen pin and route, and [`activation`] turns a route into the verbs that open it.

use heapless::Vec;

use crate::verb::*;

/// Most widgets kept per codec (real codecs have a few dozen).
pub const MAX_WIDGETS: usize = 96;
/// Most connections kept per widget.
pub const MAX_CONNECTIONS: usize = 16;
/// Longest route from a pin to a converter.
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

/// Widget capability bits.
pub const WCAP_STEREO: u32 = 1 << 0;
pub const WCAP_IN_AMP: u32 = 1 << 1;
pub const WCAP_OUT_AMP: u32 = 1 << 2;
pub const WCAP_AMP_OVERRIDE: u32 = 1 << 3;
pub const WCAP_CONN_LIST: u32 = 1 << 8;
pub const WCAP_POWER_CONTROL: u32 = 1 << 10;
pub const WCAP_DIGITAL: u32 = 1 << 9;
/// Pin capability bits.
pub const PINCAP_HP_DRIVE: u32 = 1 << 3;
pub const PINCAP_OUT: u32 = 1 << 4;
pub const PINCAP_IN: u32 = 1 << 5;
pub const PINCAP_EAPD: u32 = 1 << 16;
/// Pin control bits (verb 707).
pub const PIN_IN_EN: u8 = 1 << 5;
pub const PIN_OUT_EN: u8 = 1 << 6;
/// Pin capability: 80 % microphone bias (VRef) available.
pub const PINCAP_VREF_80: u32 = 1 << 10;
/// Pin control VRef field for 80 %.
pub const PIN_VREF_80: u8 = 0b100;
pub const PIN_HP_EN: u8 = 1 << 7;

/// One widget as enumerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widget {
    pub nid: u8,
    pub caps: u32,
    pub kind: WidgetType,
    pub pin_caps: u32,
    /// Pin configuration default (F1C).
    pub config: u32,
    pub out_amp_caps: u32,
    pub in_amp_caps: u32,
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

/// Why a codec could not be enumerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnumError {
    Command(CommandError),
    /// No audio function group (a modem-only codec, or a codec lying about its nodes).
    NoAudioFunctionGroup,
}

impl From<CommandError> for EnumError {
    fn from(e: CommandError) -> Self {
        EnumError::Command(e)
    }
}

/// Start and count of a node's children (parameter 04), clamped to valid 7-bit node ids.
fn children<T: CommandTransport>(
    t: &mut T,
    cad: u8,
    nid: u8,
) -> Result<core::ops::Range<u8>, CommandError> {
    let count = t.parameter(cad, nid, PARAM_NODE_COUNT)?;
    let start = ((count >> 16) & 0xff).min(127) as u8;
    let end = (u32::from(start) + (count & 0xff)).min(128) as u8;
    Ok(start..end)
}

/// Enumerates codec `cad`: its audio function group and every widget in it.
pub fn enumerate<T: CommandTransport>(t: &mut T, cad: u8) -> Result<Codec, EnumError> {
    let vendor_id = t.parameter(cad, 0, PARAM_VENDOR_ID)?;
    let revision = t.parameter(cad, 0, PARAM_REVISION_ID)?;
    let mut afg = None;
    for nid in children(t, cad, 0)? {
        if t.parameter(cad, nid, PARAM_FUNCTION_GROUP_TYPE)? & 0xff == 1 {
            afg = Some(nid);
            break;
        }
    }
    let afg = afg.ok_or(EnumError::NoAudioFunctionGroup)?;
    let afg_out_amp = t.parameter(cad, afg, PARAM_OUT_AMP_CAPS)?;
    let afg_in_amp = t.parameter(cad, afg, PARAM_IN_AMP_CAPS)?;
    let mut widgets = Vec::new();
    for nid in children(t, cad, afg)? {
        let caps = t.parameter(cad, nid, PARAM_AUDIO_WIDGET_CAPS)?;
        let kind = WidgetType::from_caps(caps);
        let (pin_caps, config) = if kind == WidgetType::Pin {
            (
                t.parameter(cad, nid, PARAM_PIN_CAPS)?,
                t.command(cad, nid, Verb::short(GET_CONFIG_DEFAULT, 0))?,
            )
        } else {
            (0, 0)
        };
        let amp = |t: &mut T, param, afg_caps| -> Result<u32, CommandError> {
            if caps & WCAP_AMP_OVERRIDE != 0 {
                t.parameter(cad, nid, param)
            } else {
                Ok(afg_caps)
            }
        };
        let out_amp_caps = if caps & WCAP_OUT_AMP != 0 {
            amp(t, PARAM_OUT_AMP_CAPS, afg_out_amp)?
        } else {
            0
        };
        let in_amp_caps = if caps & WCAP_IN_AMP != 0 {
            amp(t, PARAM_IN_AMP_CAPS, afg_in_amp)?
        } else {
            0
        };
        let connections = if caps & WCAP_CONN_LIST != 0 {
            connection_list(t, cad, nid)?
        } else {
            Vec::new()
        };
        let widget = Widget {
            nid,
            caps,
            kind,
            pin_caps,
            config,
            out_amp_caps,
            in_amp_caps,
            connections,
        };
        if widgets.push(widget).is_err() {
            log::warn!("hda: codec {cad}: more than {MAX_WIDGETS} widgets, ignoring the rest");
            break;
        }
    }
    Ok(Codec {
        cad,
        vendor_id,
        revision,
        afg,
        widgets,
    })
}

/// Reads a connection list (short or long form, with ranges), keeping at most
/// [`MAX_CONNECTIONS`] entries; invalid ranges are skipped.
fn connection_list<T: CommandTransport>(
    t: &mut T,
    cad: u8,
    nid: u8,
) -> Result<Vec<u8, MAX_CONNECTIONS>, CommandError> {
    let info = t.parameter(cad, nid, PARAM_CONNECTION_LIST_LEN)?;
    let long = info & 0x80 != 0;
    let count = info & 0x7f;
    let (per_response, bits) = if long { (2, 16) } else { (4, 8) };
    let range_flag = 1u32 << (bits - 1);
    let mut list = Vec::new();
    let mut previous: Option<u32> = None;
    let mut response = 0;
    for i in 0..count {
        if i % per_response == 0 {
            response = t.command(cad, nid, Verb::short(GET_CONNECTION_LIST, i as u8))?;
        }
        let entry = (response >> ((i % per_response) * bits)) & ((1 << bits) - 1);
        let value = entry & !range_flag;
        let mut add = |n: u32| list.push((n & 0x7f) as u8).is_ok();
        if entry & range_flag != 0 {
            match previous {
                Some(p) if p < value => {
                    for n in p + 1..=value.min(p + MAX_CONNECTIONS as u32) {
                        add(n);
                    }
                }
                _ => log::warn!("hda: codec {cad} node {nid}: invalid connection range to {value}"),
            }
        } else {
            add(value);
        }
        previous = Some(value);
    }
    Ok(list)
}

/// A route from a converter to a pin: `hops[0]` is the pin, the last is the converter; each
/// hop but the last records which of its connections leads on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub hops: Vec<(u8, u8), MAX_DEPTH>,
}

impl Route {
    pub fn pin(&self) -> u8 {
        self.hops[0].0
    }

    pub fn converter(&self) -> u8 {
        self.hops[self.hops.len() - 1].0
    }
}

/// Output pins in order of preference: line out, speaker, headphone, then anything else
/// that can output, each after every pin of the machine itself when it sits on a docking
/// station. Pins whose configuration says nothing is wired come last of all: some firmware
/// leaves every pin "unconnected", and the codec must still play.
fn output_rank(w: &Widget) -> Option<(bool, bool, u8)> {
    if w.kind != WidgetType::Pin || w.pin_caps & PINCAP_OUT == 0 || w.caps & WCAP_DIGITAL != 0 {
        return None;
    }
    let device = match w.default_device() {
        0 => 0,
        1 => 1,
        2 => 2,
        _ => 3,
    };
    Some((w.unconnected(), w.on_dock(), device))
}

/// Depth-first search from `nid` to an output converter, never revisiting a node.
fn find_dac(codec: &Codec, nid: u8, route: &mut Route, visited: &mut u128) -> bool {
    let Some(widget) = codec.widget(nid) else {
        return false;
    };
    if *visited & (1 << nid) != 0 || route.hops.is_full() {
        return false;
    }
    *visited |= 1 << nid;
    if widget.kind == WidgetType::Output {
        return route.hops.push((nid, 0)).is_ok();
    }
    if !matches!(
        widget.kind,
        WidgetType::Pin | WidgetType::Mixer | WidgetType::Selector
    ) {
        return false;
    }
    for (index, &next) in widget.connections.iter().enumerate() {
        let depth = route.hops.len();
        if route.hops.push((nid, index as u8)).is_err() {
            return false;
        }
        if find_dac(codec, next, route, visited) {
            return true;
        }
        route.hops.truncate(depth);
    }
    false
}

/// The playback route Linux would most likely pick: the best-ranked output pin that reaches
/// an output converter. `None`: the codec cannot play.
pub fn playback_path(codec: &Codec) -> Option<Route> {
    let mut pins: Vec<((bool, bool, u8), u8), MAX_WIDGETS> = codec
        .widgets
        .iter()
        .filter_map(|w| Some((output_rank(w)?, w.nid)))
        .collect();
    pins.sort_unstable();
    pins.iter().find_map(|&(_, pin)| {
        let mut route = Route { hops: Vec::new() };
        let mut visited = 0u128;
        find_dac(codec, pin, &mut route, &mut visited).then_some(route)
    })
}

/// A route from an input converter (ADC) to an input pin: `hops[0]` is the converter, the
/// last is the pin; each hop but the last records which of its connections leads on (the
/// ADC's connection list points back toward the pins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRoute {
    pub hops: Vec<(u8, u8), MAX_DEPTH>,
}

impl CaptureRoute {
    pub fn converter(&self) -> u8 {
        self.hops[0].0
    }

    pub fn pin(&self) -> u8 {
        self.hops[self.hops.len() - 1].0
    }
}

/// Input pins in order of preference: microphone, line in, then any other input; wired
/// before unconnected, the machine's own before a dock's.
fn input_rank(w: &Widget) -> Option<(bool, bool, u8)> {
    if w.kind != WidgetType::Pin || w.pin_caps & PINCAP_IN == 0 || w.caps & WCAP_DIGITAL != 0 {
        return None;
    }
    let device = match w.default_device() {
        0xa => 0,                   // mic in
        0x8 => 1,                   // line in
        0x9 | 0xb | 0xc | 0xd => 2, // aux, telephony, S/PDIF in, digital other in
        _ => 3,
    };
    Some((w.unconnected(), w.on_dock(), device))
}

/// Depth-first search from `nid` (a converter or a mixer/selector on the way) to `pin`.
fn reach_pin(
    codec: &Codec,
    nid: u8,
    pin: u8,
    route: &mut CaptureRoute,
    visited: &mut u128,
) -> bool {
    let Some(widget) = codec.widget(nid) else {
        return false;
    };
    if *visited & (1 << nid) != 0 || route.hops.is_full() {
        return false;
    }
    *visited |= 1 << nid;
    if nid == pin {
        return route.hops.push((nid, 0)).is_ok();
    }
    if !matches!(
        widget.kind,
        WidgetType::Input | WidgetType::Mixer | WidgetType::Selector
    ) {
        return false;
    }
    for (index, &next) in widget.connections.iter().enumerate() {
        let depth = route.hops.len();
        if route.hops.push((nid, index as u8)).is_err() {
            return false;
        }
        if reach_pin(codec, next, pin, route, visited) {
            return true;
        }
        route.hops.truncate(depth);
    }
    false
}

/// The capture route: the best-ranked input pin that some input converter reaches.
/// `None`: the codec cannot record.
pub fn capture_path(codec: &Codec) -> Option<CaptureRoute> {
    let mut pins: Vec<((bool, bool, u8), u8), MAX_WIDGETS> = codec
        .widgets
        .iter()
        .filter_map(|w| Some((input_rank(w)?, w.nid)))
        .collect();
    pins.sort_unstable();
    pins.iter().find_map(|&(_, pin)| {
        codec
            .widgets
            .iter()
            .filter(|w| w.kind == WidgetType::Input && w.caps & WCAP_DIGITAL == 0)
            .find_map(|adc| {
                let mut route = CaptureRoute { hops: Vec::new() };
                let mut visited = 0u128;
                reach_pin(codec, adc.nid, pin, &mut route, &mut visited).then_some(route)
            })
    })
}

/// The verbs that open a capture `route` for stream `tag` in `format`: power, converter
/// stream and format, input amplifiers at 0 dB unmuted, selectors, pin control (input, with
/// microphone bias where the pin has it).
pub fn capture_activation(
    codec: &Codec,
    route: &CaptureRoute,
    tag: u8,
    format: u16,
) -> Vec<(u8, Verb), MAX_ACTIVATION> {
    let mut verbs = Vec::new();
    let mut push = |nid, verb| {
        let _ = verbs.push((nid, verb));
    };
    push(codec.afg, Verb::short(SET_POWER_STATE, 0));
    for (position, &(nid, index)) in route.hops.iter().enumerate() {
        let Some(w) = codec.widget(nid) else { continue };
        if w.caps & WCAP_POWER_CONTROL != 0 {
            push(nid, Verb::short(SET_POWER_STATE, 0));
        }
        let last = position + 1 == route.hops.len();
        if w.kind == WidgetType::Input {
            push(nid, Verb::short(SET_CONVERTER_STREAM, tag << 4));
            push(nid, Verb::long(SET_CONVERTER_FORMAT, format));
        }
        if !last && w.caps & WCAP_IN_AMP != 0 {
            push(
                nid,
                Verb::long(
                    SET_AMP_GAIN_MUTE,
                    0x7000 | u16::from(index) << 8 | zero_db(w.in_amp_caps),
                ),
            );
        }
        if !last
            && matches!(w.kind, WidgetType::Selector | WidgetType::Input)
            && w.connections.len() > 1
        {
            push(nid, Verb::short(SET_CONNECTION_SELECT, index));
        }
        if last && w.kind == WidgetType::Pin {
            if w.caps & WCAP_IN_AMP != 0 {
                push(
                    nid,
                    Verb::long(SET_AMP_GAIN_MUTE, 0x7000 | zero_db(w.in_amp_caps)),
                );
            }
            let vref = if w.pin_caps & PINCAP_VREF_80 != 0 && w.default_device() == 0xa {
                PIN_VREF_80
            } else {
                0
            };
            push(nid, Verb::short(SET_PIN_CONTROL, PIN_IN_EN | vref));
        }
    }
    verbs
}

/// The 0 dB step of an amplifier (amp caps bits 6:0).
fn zero_db(amp_caps: u32) -> u16 {
    (amp_caps & 0x7f) as u16
}

/// Most verbs [`activation`] emits.
pub const MAX_ACTIVATION: usize = 4 * MAX_DEPTH + 4;

/// The verbs that open `route` for stream `tag` in `format` (a converter format word):
/// power, converter stream and format, amplifiers at 0 dB unmuted, selectors, pin control
/// and EAPD. Pure: the caller sends them.
pub fn activation(
    codec: &Codec,
    route: &Route,
    tag: u8,
    format: u16,
) -> Vec<(u8, Verb), MAX_ACTIVATION> {
    let mut verbs = Vec::new();
    let mut push = |nid, verb| {
        let _ = verbs.push((nid, verb));
    };
    push(codec.afg, Verb::short(SET_POWER_STATE, 0));
    for (position, &(nid, index)) in route.hops.iter().enumerate() {
        let Some(w) = codec.widget(nid) else { continue };
        if w.caps & WCAP_POWER_CONTROL != 0 {
            push(nid, Verb::short(SET_POWER_STATE, 0));
        }
        let last = position + 1 == route.hops.len();
        if w.kind == WidgetType::Output {
            push(nid, Verb::short(SET_CONVERTER_STREAM, tag << 4));
            push(nid, Verb::long(SET_CONVERTER_FORMAT, format));
        }
        if w.caps & WCAP_OUT_AMP != 0 {
            // Output amp, both channels, 0 dB, unmuted.
            push(
                nid,
                Verb::long(SET_AMP_GAIN_MUTE, 0xb000 | zero_db(w.out_amp_caps)),
            );
        }
        if !last && w.caps & WCAP_IN_AMP != 0 {
            // Input amp of the connection in use.
            push(
                nid,
                Verb::long(
                    SET_AMP_GAIN_MUTE,
                    0x7000 | u16::from(index) << 8 | zero_db(w.in_amp_caps),
                ),
            );
        }
        if !last
            && matches!(w.kind, WidgetType::Selector | WidgetType::Pin)
            && w.connections.len() > 1
        {
            push(nid, Verb::short(SET_CONNECTION_SELECT, index));
        }
        if w.kind == WidgetType::Pin {
            let hp = if w.pin_caps & PINCAP_HP_DRIVE != 0 {
                PIN_HP_EN
            } else {
                0
            };
            push(nid, Verb::short(SET_PIN_CONTROL, PIN_OUT_EN | hp));
            if w.pin_caps & PINCAP_EAPD != 0 {
                push(nid, Verb::short(SET_EAPD, 0x02));
            }
        }
    }
    verbs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widget(nid: u8, caps: u32, pin_caps: u32, config: u32, conns: &[u8]) -> Widget {
        Widget {
            nid,
            caps,
            kind: WidgetType::from_caps(caps),
            pin_caps,
            config,
            out_amp_caps: 0x8003_4a4a,
            in_amp_caps: 0x8003_4a4a,
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
            (3, Verb::short(SET_PIN_CONTROL, PIN_OUT_EN)),
            (2, Verb::short(SET_CONVERTER_STREAM, 0x10)),
            (2, Verb::long(SET_CONVERTER_FORMAT, 0x0011)),
            (2, Verb::long(SET_AMP_GAIN_MUTE, 0xb04a)),
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
            (4, Verb::long(SET_AMP_GAIN_MUTE, 0x704a)),
            (5, Verb::short(SET_PIN_CONTROL, PIN_IN_EN)),
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
