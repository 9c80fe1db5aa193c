//! Reading a codec's graph through the command transport.

use heapless::Vec;

use super::*;
use crate::verb::*;

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

/// Enumerates codec `cad`: its audio function group and every widget in it, with each
/// pin's presence as sensed now.
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
    // Widgets without the override bits inherit these from the function group.
    let afg_out_amp = t.parameter(cad, afg, PARAM_OUT_AMP_CAPS)?;
    let afg_in_amp = t.parameter(cad, afg, PARAM_IN_AMP_CAPS)?;
    let afg_pcm = t.parameter(cad, afg, PARAM_PCM)?;
    let afg_formats = t.parameter(cad, afg, PARAM_STREAM_FORMATS)?;
    let mut widgets = Vec::new();
    for nid in children(t, cad, afg)? {
        let caps = t.parameter(cad, nid, PARAM_AUDIO_WIDGET_CAPS)?;
        let kind = WidgetType::from_caps(caps);
        let (mut pin_caps, mut config, mut present) = (0, 0, None);
        if kind == WidgetType::Pin {
            pin_caps = t.parameter(cad, nid, PARAM_PIN_CAPS)?;
            config = t.command(cad, nid, Verb::short(GET_CONFIG_DEFAULT, 0))?;
            if pin_caps & PINCAP_PRESENCE != 0 && config & (1 << 8) == 0 {
                present = sense(t, cad, nid, pin_caps)?;
            }
        }
        let own = |t: &mut T, bit, param, inherited| -> Result<u32, CommandError> {
            if caps & bit != 0 {
                t.parameter(cad, nid, param)
            } else {
                Ok(inherited)
            }
        };
        let out_amp_caps = if caps & WCAP_OUT_AMP != 0 {
            own(t, WCAP_AMP_OVERRIDE, PARAM_OUT_AMP_CAPS, afg_out_amp)?
        } else {
            0
        };
        let in_amp_caps = if caps & WCAP_IN_AMP != 0 {
            own(t, WCAP_AMP_OVERRIDE, PARAM_IN_AMP_CAPS, afg_in_amp)?
        } else {
            0
        };
        let (pcm, formats) = if matches!(kind, WidgetType::Output | WidgetType::Input) {
            (
                own(t, WCAP_FORMAT_OVERRIDE, PARAM_PCM, afg_pcm)?,
                own(t, WCAP_FORMAT_OVERRIDE, PARAM_STREAM_FORMATS, afg_formats)?,
            )
        } else {
            (0, 0)
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
            present,
            out_amp_caps,
            in_amp_caps,
            pcm,
            formats,
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

/// Whether something is plugged into pin `nid`. Pins that need it are told to measure
/// first (709). A pin that does not answer the sense verb is treated as unable to sense: its
/// jack state is a preference, not a requirement to play.
fn sense<T: CommandTransport>(
    t: &mut T,
    cad: u8,
    nid: u8,
    pin_caps: u32,
) -> Result<Option<bool>, CommandError> {
    let answer = (|| {
        if pin_caps & PINCAP_TRIGGER != 0 {
            t.command(cad, nid, Verb::short(SET_PIN_SENSE, 0))?;
        }
        t.command(cad, nid, Verb::short(GET_PIN_SENSE, 0))
    })();
    match answer {
        Ok(sense) => Ok(Some(sense & SENSE_PRESENT != 0)),
        Err(CommandError::Timeout { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a connection list (short or long form, with ranges), keeping at most
/// [`MAX_CONNECTIONS`] entries. Entries keep their positions, since verbs 701 and 3 address
/// connections by index: an entry that cannot be a widget (node 0, or above 127 in the long
/// form) stays in the list as 0, which no route passes through. An invalid range adds nothing;
/// a second zero entry ends the list (the rest of such a list is noise).
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
    let mut zeros = 0;
    let mut response = 0;
    for i in 0..count {
        if list.is_full() {
            log::warn!("hda: codec {cad} node {nid}: more than {MAX_CONNECTIONS} connections");
            break;
        }
        if i % per_response == 0 {
            response = t.command(cad, nid, Verb::short(GET_CONNECTION_LIST, i as u8))?;
        }
        let entry = (response >> ((i % per_response) * bits)) & ((1 << bits) - 1);
        let value = entry & !range_flag;
        if value == 0 {
            zeros += 1;
            if zeros > 1 {
                break;
            }
        }
        let node = |n: u32| if n < 128 { n as u8 } else { 0 };
        if entry & range_flag != 0 {
            match previous {
                Some(p) if p < value => {
                    for n in p + 1..=value {
                        if list.push(node(n)).is_err() {
                            break;
                        }
                    }
                }
                _ => log::warn!("hda: codec {cad} node {nid}: invalid connection range to {value}"),
            }
        } else {
            let _ = list.push(node(value));
        }
        previous = Some(value);
    }
    Ok(list)
}
