//! The verbs that open a route. Pure: the caller sends them, in order.
//!
//! Order: the function group and every widget on the route to D0 first (a widget in D3 may
//! ignore its settings), then the converter's stream and format, then the route from the
//! converter to the pin (amplifiers at 0 dB and unmuted, the other inputs of each mixer on
//! the way muted so nothing else is mixed in, selections), and the pin last: its control,
//! then EAPD, which switches the external amplifier on once the signal is in place.

use heapless::Vec;

use super::*;
use crate::verb::*;

/// Most verbs [`activation`] or [`capture_activation`] emit: power for the group and each
/// hop, the converter's two, three per hop (input amp, selection, output amp), the muting of
/// every other input of each hop, and three for the pin.
pub const MAX_ACTIVATION: usize =
    1 + MAX_DEPTH + 2 + 3 * MAX_DEPTH + MAX_DEPTH * (MAX_CONNECTIONS - 1) + 3;

type Verbs = Vec<(u8, Verb), MAX_ACTIVATION>;

/// The 0 dB step of an amplifier (amp caps bits 6:0).
fn zero_db(amp_caps: u32) -> u16 {
    (amp_caps & 0x7f) as u16
}

/// Set-amplifier payloads (verb 3): output or input `index`, both channels.
const AMP_OUT: u16 = 0xb000;
const AMP_IN: u16 = 0x7000;
const AMP_MUTE: u16 = 0x80;

/// Power for the function group and the route's widgets.
fn power(codec: &Codec, hops: &[(u8, u8)], verbs: &mut Verbs) {
    let _ = verbs.push((codec.afg, Verb::short(SET_POWER_STATE, 0)));
    for &(nid, _) in hops {
        if codec
            .widget(nid)
            .is_some_and(|w| w.caps & WCAP_POWER_CONTROL != 0)
        {
            let _ = verbs.push((nid, Verb::short(SET_POWER_STATE, 0)));
        }
    }
}

/// A hop that takes its signal from connection `index`: that input at 0 dB and unmuted,
/// every other input of a mixer muted, the selection made where there is a choice. A pin's
/// input amplifier belongs to its jack's input, not to its connections: left alone here.
fn take_input(w: &Widget, index: u8, verbs: &mut Verbs) {
    if w.caps & WCAP_IN_AMP != 0 && w.kind != WidgetType::Pin {
        let gain = zero_db(w.in_amp_caps);
        let _ = verbs.push((
            w.nid,
            Verb::long(SET_AMP_GAIN_MUTE, AMP_IN | u16::from(index) << 8 | gain),
        ));
        if w.kind == WidgetType::Mixer && w.in_amp_caps & AMP_CAN_MUTE != 0 {
            for other in (0..w.connections.len() as u8).filter(|&i| i != index) {
                let _ = verbs.push((
                    w.nid,
                    Verb::long(SET_AMP_GAIN_MUTE, AMP_IN | u16::from(other) << 8 | AMP_MUTE),
                ));
            }
        }
    }
    if w.kind != WidgetType::Mixer && w.connections.len() > 1 {
        let _ = verbs.push((w.nid, Verb::short(SET_CONNECTION_SELECT, index)));
    }
}

fn converter(nid: u8, tag: u8, format: u16, verbs: &mut Verbs) {
    let _ = verbs.push((nid, Verb::short(SET_CONVERTER_STREAM, tag << 4)));
    let _ = verbs.push((nid, Verb::long(SET_CONVERTER_FORMAT, format)));
}

/// The verbs that open `route` for stream `tag` (channel 0) in `format` (a converter format
/// word): power, converter stream and format, amplifiers at 0 dB and unmuted, selectors, pin
/// control (headphone drive on headphones that have it) and EAPD where the pin has it.
pub fn activation(codec: &Codec, route: &Route, tag: u8, format: u16) -> Verbs {
    let mut verbs = Vec::new();
    power(codec, &route.hops, &mut verbs);
    converter(route.converter(), tag, format, &mut verbs);
    // From the converter toward the pin; each widget's output amp after its inputs.
    for (position, &(nid, index)) in route.hops.iter().enumerate().rev() {
        let Some(w) = codec.widget(nid) else { continue };
        if position + 1 < route.hops.len() {
            take_input(w, index, &mut verbs);
        }
        if w.caps & WCAP_OUT_AMP != 0 {
            let _ = verbs.push((
                nid,
                Verb::long(SET_AMP_GAIN_MUTE, AMP_OUT | zero_db(w.out_amp_caps)),
            ));
        }
    }
    if let Some(pin) = codec.widget(route.pin()) {
        let hp = pin.default_device() == DEVICE_HP_OUT && pin.pin_caps & PINCAP_HP_DRIVE != 0;
        let control = PIN_OUT_EN | if hp { PIN_HP_EN } else { 0 };
        let _ = verbs.push((pin.nid, Verb::short(SET_PIN_CONTROL, control)));
        if pin.pin_caps & PINCAP_EAPD != 0 {
            let _ = verbs.push((pin.nid, Verb::short(SET_EAPD, 0x02)));
        }
    }
    verbs
}

/// The microphone bias a pin should get: 80 %, else 50 %, else 100 %, for microphones only.
fn mic_bias(pin: &Widget) -> u8 {
    if pin.default_device() != DEVICE_MIC_IN {
        0
    } else if pin.pin_caps & PINCAP_VREF_80 != 0 {
        PIN_VREF_80
    } else if pin.pin_caps & PINCAP_VREF_50 != 0 {
        PIN_VREF_50
    } else if pin.pin_caps & PINCAP_VREF_100 != 0 {
        PIN_VREF_100
    } else {
        0
    }
}

/// The verbs that open a capture `route` for stream `tag` in `format`: power, converter
/// stream and format, the pin (input amplifier at 0 dB, input enabled, microphone bias where
/// it is a microphone that has one), then the route from the pin to the converter as for
/// playback.
pub fn capture_activation(codec: &Codec, route: &CaptureRoute, tag: u8, format: u16) -> Verbs {
    let mut verbs = Vec::new();
    power(codec, &route.hops, &mut verbs);
    converter(route.converter(), tag, format, &mut verbs);
    if let Some(pin) = codec.widget(route.pin()) {
        if pin.caps & WCAP_IN_AMP != 0 {
            let _ = verbs.push((
                pin.nid,
                Verb::long(SET_AMP_GAIN_MUTE, AMP_IN | zero_db(pin.in_amp_caps)),
            ));
        }
        let _ = verbs.push((
            pin.nid,
            Verb::short(SET_PIN_CONTROL, PIN_IN_EN | mic_bias(pin)),
        ));
    }
    // From the pin toward the converter.
    for &(nid, index) in route.hops.iter().rev().skip(1) {
        let Some(w) = codec.widget(nid) else { continue };
        take_input(w, index, &mut verbs);
        if w.kind != WidgetType::Input && w.caps & WCAP_OUT_AMP != 0 {
            let _ = verbs.push((
                nid,
                Verb::long(SET_AMP_GAIN_MUTE, AMP_OUT | zero_db(w.out_amp_caps)),
            ));
        }
    }
    verbs
}

/// Most power-state reads while waiting for one node to reach D0.
pub const POWER_POLLS: usize = 1000;

/// Sends `verbs` to codec `cad` in order. After each power-up (705 D0) it reads the node's
/// power state (F05) until the actual state (bits 7:4) is D0, at most [`POWER_POLLS`] times:
/// a widget still in D3 may drop the settings that follow. A node that never reports D0 is
/// logged and the rest is still sent, as a codec that misreports its state may well work.
/// Errors: the first error of the transport; nothing is sent after it.
pub fn apply<T: CommandTransport>(
    t: &mut T,
    cad: u8,
    verbs: &[(u8, Verb)],
) -> Result<(), CommandError> {
    let power_up = Verb::short(SET_POWER_STATE, 0);
    for &(nid, verb) in verbs {
        t.command(cad, nid, verb)?;
        if verb == power_up {
            let mut polls = 0;
            while t.command(cad, nid, Verb::short(GET_POWER_STATE, 0))? >> 4 & 0xf != 0 {
                polls += 1;
                if polls == POWER_POLLS {
                    log::warn!("hda: codec {cad} node {nid}: not in D0 after {polls} reads");
                    break;
                }
            }
        }
    }
    Ok(())
}
