//! A small codec that answers verbs from a synthetic widget graph, for the path-finding
//! tests: the driver enumerates it through the same `CommandTransport` it uses on hardware,
//! and every verb it sends is logged.

use std::collections::BTreeMap;

use hda::codec::{GET_PIN_SENSE, SET_PIN_SENSE, WCAP_CONN_LIST};
use hda::verb::*;

/// One widget as the codec reports it.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub caps: u32,
    pub pin_caps: u32,
    pub config: u32,
    pub in_amp: u32,
    pub out_amp: u32,
    pub pcm: u32,
    pub formats: u32,
    /// Connection-list entries as the codec encodes them (range bit included).
    pub entries: Vec<u16>,
    /// Long-form (16-bit) entries.
    pub long: bool,
    /// The F09 answer; `None`: the pin never answers F09.
    pub sense: Option<u32>,
}

/// Widget type codes (caps bits 23:20).
pub const DAC: u32 = 0x0;
pub const ADC: u32 = 0x1;
pub const MIXER: u32 = 0x2;
pub const SELECTOR: u32 = 0x3;
pub const PIN: u32 = 0x4;

/// A widget of type `kind` with capability bits `caps` (type bits are added).
pub fn widget(kind: u32, caps: u32) -> Node {
    Node {
        caps: kind << 20 | caps,
        ..Node::default()
    }
}

impl Node {
    /// A short-form connection list of plain node ids.
    pub fn conns(mut self, nids: &[u8]) -> Node {
        self.caps |= WCAP_CONN_LIST;
        self.entries = nids.iter().map(|&n| u16::from(n)).collect();
        self
    }

    /// Raw entries: short form (8-bit, bit 7 = range) or long form (16-bit, bit 15 = range).
    pub fn raw_conns(mut self, entries: &[u16], long: bool) -> Node {
        self.caps |= WCAP_CONN_LIST;
        self.entries = entries.to_vec();
        self.long = long;
        self
    }

    pub fn pin(mut self, pin_caps: u32, config: u32) -> Node {
        self.pin_caps = pin_caps;
        self.config = config;
        self
    }

    pub fn amps(mut self, in_amp: u32, out_amp: u32) -> Node {
        self.in_amp = in_amp;
        self.out_amp = out_amp;
        self
    }

    pub fn sense(mut self, sense: u32) -> Node {
        self.sense = Some(sense);
        self
    }
}

/// A codec at address `cad`: root node 0, audio function group at node 1, widgets from 2.
pub struct Fake {
    pub cad: u8,
    pub vendor: u32,
    pub afg_in_amp: u32,
    pub afg_out_amp: u32,
    pub afg_pcm: u32,
    pub afg_formats: u32,
    pub nodes: BTreeMap<u8, Node>,
    /// Every verb received, in order.
    pub log: Vec<(u8, Verb)>,
    /// How many power-state reads (F05) still report D3 before the codec settles in D0.
    pub settling: usize,
}

impl Fake {
    pub fn new(nodes: impl IntoIterator<Item = (u8, Node)>) -> Fake {
        Fake {
            cad: 0,
            vendor: 0x10ec_0269,
            afg_in_amp: 0,
            afg_out_amp: 0,
            afg_pcm: 0x000e_0560,
            afg_formats: 1,
            nodes: nodes.into_iter().collect(),
            log: Vec::new(),
            settling: 0,
        }
    }

    pub fn node(&mut self, nid: u8) -> &mut Node {
        self.nodes.get_mut(&nid).expect("no such node")
    }

    /// Sends `verbs` as the driver would.
    pub fn send(&mut self, verbs: &[(u8, Verb)]) {
        for &(nid, verb) in verbs {
            self.command(self.cad, nid, verb).unwrap();
        }
    }

    /// The verbs node `nid` received whose 12-bit verb id is `id`, as payloads.
    pub fn received(&self, nid: u8, id: u16) -> Vec<u32> {
        self.log
            .iter()
            .filter(|(n, v)| *n == nid && v.bits() >> 8 == u32::from(id))
            .map(|(_, v)| v.bits() & 0xff)
            .collect()
    }

    fn list_entry(node: &Node, index: usize) -> u32 {
        let (per, bits) = if node.long { (2, 16) } else { (4, 8) };
        (0..per)
            .filter_map(|k| {
                node.entries
                    .get(index + k)
                    .map(|&e| u32::from(e) << (bits * k))
            })
            .fold(0, |a, b| a | b)
    }
}

impl CommandTransport for Fake {
    fn command(&mut self, cad: u8, nid: u8, verb: Verb) -> Result<u32, CommandError> {
        let timeout = Err(CommandError::Timeout {
            cad,
            nid,
            verb: verb.command(cad, nid),
        });
        if cad != self.cad {
            return timeout;
        }
        self.log.push((nid, verb));
        let bits = verb.bits();
        if !matches!(bits >> 16, 0x7 | 0xf) {
            return Ok(0); // 4-bit verbs: format and amplifiers
        }
        let (id, payload) = ((bits >> 8) as u16, (bits & 0xff) as u8);
        let first = self.nodes.keys().next().copied().unwrap_or(2);
        let last = self.nodes.keys().last().copied().unwrap_or(1);
        Ok(match (id, nid) {
            (GET_PARAMETER, 0) => match payload {
                PARAM_VENDOR_ID => self.vendor,
                PARAM_REVISION_ID => 0x0010_0100,
                PARAM_NODE_COUNT => 0x0001_0001,
                _ => 0,
            },
            (GET_PARAMETER, 1) => match payload {
                PARAM_FUNCTION_GROUP_TYPE => 1,
                PARAM_NODE_COUNT => u32::from(first) << 16 | u32::from(last - first + 1),
                PARAM_IN_AMP_CAPS => self.afg_in_amp,
                PARAM_OUT_AMP_CAPS => self.afg_out_amp,
                PARAM_PCM => self.afg_pcm,
                PARAM_STREAM_FORMATS => self.afg_formats,
                _ => 0,
            },
            (GET_PARAMETER, _) => {
                // Node ids in the range that the graph leaves out are vendor widgets.
                let Some(n) = self.nodes.get(&nid) else {
                    return Ok(if payload == PARAM_AUDIO_WIDGET_CAPS {
                        0x00f0_0000
                    } else {
                        0
                    });
                };
                match payload {
                    PARAM_AUDIO_WIDGET_CAPS => n.caps,
                    PARAM_PIN_CAPS => n.pin_caps,
                    PARAM_IN_AMP_CAPS => n.in_amp,
                    PARAM_OUT_AMP_CAPS => n.out_amp,
                    PARAM_PCM => n.pcm,
                    PARAM_STREAM_FORMATS => n.formats,
                    PARAM_CONNECTION_LIST_LEN => {
                        n.entries.len() as u32 | if n.long { 0x80 } else { 0 }
                    }
                    _ => 0,
                }
            }
            (GET_CONNECTION_LIST, _) => self
                .nodes
                .get(&nid)
                .map_or(0, |n| Fake::list_entry(n, usize::from(payload))),
            (GET_CONFIG_DEFAULT, _) => self.nodes.get(&nid).map_or(0, |n| n.config),
            (GET_PIN_SENSE, _) => match self.nodes.get(&nid).and_then(|n| n.sense) {
                Some(sense) => sense,
                None => return timeout,
            },
            (SET_PIN_SENSE, _) => 0,
            (GET_POWER_STATE, _) if self.settling > 0 => {
                self.settling -= 1;
                0x30 // asked for D0, still in D3
            }
            _ => 0,
        })
    }
}

/// Widget capability shorthands.
pub const STEREO: u32 = 1 << 0;
pub const IN_AMP: u32 = 1 << 1;
pub const OUT_AMP: u32 = 1 << 2;
pub const AMP_OVERRIDE: u32 = 1 << 3;
pub const FORMAT_OVERRIDE: u32 = 1 << 4;
pub const UNSOL: u32 = 1 << 7;
pub const DIGITAL: u32 = 1 << 9;
pub const POWER: u32 = 1 << 10;

/// Amplifier capabilities: mute capable, step size, steps, 0 dB offset.
pub const fn amp(mute: bool, step: u32, steps: u32, offset: u32) -> u32 {
    (mute as u32) << 31 | step << 16 | steps << 8 | offset
}

/// Pin configurations (F1C) of the Realtek-like laptop: connectivity, location, device,
/// connection type, colour, misc (bit 8: no presence detect), association and sequence.
pub const CFG_SPEAKER: u32 = 0x9017_0110; // fixed, internal, speaker, assoc 1
pub const CFG_HP: u32 = 0x0221_401f; // jack, front, headphone, assoc 1 seq 15
pub const CFG_LINE_OUT: u32 = 0x0101_4020; // jack, rear, line out, assoc 2
pub const CFG_MIC_JACK: u32 = 0x01a1_9030; // jack, rear, mic
pub const CFG_INT_MIC: u32 = 0x90a7_0140; // fixed, internal, mic, no presence detect
pub const CFG_LINE_IN: u32 = 0x0181_3050; // jack, rear, line in
pub const CFG_SPDIF_OUT: u32 = 0x0144_1160; // jack, rear, S/PDIF out
pub const CFG_NONE: u32 = 0x4111_11f0; // connectivity none

/// Pin capabilities.
pub const PC_TRIGGER: u32 = 1 << 1;
pub const PC_PRESENCE: u32 = 1 << 2;
pub const PC_HP_DRIVE: u32 = 1 << 3;
pub const PC_OUT: u32 = 1 << 4;
pub const PC_IN: u32 = 1 << 5;
pub const PC_VREF_50: u32 = 1 << 9;
pub const PC_VREF_80: u32 = 1 << 12;
pub const PC_EAPD: u32 = 1 << 16;

/// F09 answers.
pub const PLUGGED: u32 = 1 << 31;
pub const EMPTY: u32 = 0;

/// A Realtek-ALC-like laptop codec (the layout of the ALC26x family, values our own):
///
/// ```text
/// DAC 0x02 ─┬─ mixer 0x0c ─┬─ speaker 0x14 (fixed, EAPD)
///   aamix ──┘              ├─ headphone 0x15 (jack, HP drive, presence + trigger, EAPD)
/// DAC 0x03 ─┬─ mixer 0x0d ─┼─ line out 0x1b (jack, HP drive, presence; no EAPD)
///   aamix ──┘              ├─ mic jack 0x18 (can also output), 0x19 (wired to nothing)
/// aamix 0x0b ← 0x18 0x19 0x1a 0x1b 0x12 (the analog loopback)
/// ADC 0x08 ← capture mixer 0x23 ← 0x18 0x19 0x1a 0x1b 0x12 0x0b
/// ADC 0x09 ← selector 0x22 ← 0x18 0x19 0x1a 0x12 0x0b
/// S/PDIF: digital DAC 0x06 → digital pin 0x1e
/// ```
///
/// Nothing is plugged in.
pub fn alc_like() -> Fake {
    let out_pins = [0x0c, 0x0d];
    let mut fake = Fake::new([
        (
            0x02,
            widget(DAC, STEREO | OUT_AMP | AMP_OVERRIDE | POWER).amps(0, amp(false, 2, 0x57, 0x57)),
        ),
        (
            0x03,
            widget(DAC, STEREO | OUT_AMP | AMP_OVERRIDE | POWER).amps(0, amp(false, 2, 0x57, 0x57)),
        ),
        (0x06, widget(DAC, STEREO | DIGITAL)),
        (
            0x08,
            widget(ADC, STEREO | IN_AMP | AMP_OVERRIDE)
                .amps(amp(true, 5, 0x1f, 0x0a), 0)
                .conns(&[0x23]),
        ),
        (
            0x09,
            widget(ADC, STEREO | IN_AMP | AMP_OVERRIDE)
                .amps(amp(true, 5, 0x1f, 0x0a), 0)
                .conns(&[0x22]),
        ),
        (
            0x0b,
            widget(MIXER, STEREO | IN_AMP | AMP_OVERRIDE)
                .amps(amp(true, 5, 0x1f, 0x17), 0)
                .conns(&[0x18, 0x19, 0x1a, 0x1b, 0x12]),
        ),
        (
            0x0c,
            widget(MIXER, STEREO | IN_AMP | AMP_OVERRIDE)
                .amps(amp(true, 0, 0, 0), 0)
                .conns(&[0x02, 0x0b]),
        ),
        (
            0x0d,
            widget(MIXER, STEREO | IN_AMP | AMP_OVERRIDE)
                .amps(amp(true, 0, 0, 0), 0)
                .conns(&[0x03, 0x0b]),
        ),
        (0x12, widget(PIN, STEREO).pin(PC_IN, CFG_INT_MIC)),
        (
            0x14,
            widget(PIN, STEREO | OUT_AMP | AMP_OVERRIDE)
                .amps(0, amp(true, 0, 0, 0))
                .pin(PC_OUT | PC_EAPD, CFG_SPEAKER)
                .conns(&out_pins),
        ),
        (
            0x15,
            widget(PIN, STEREO | OUT_AMP | AMP_OVERRIDE | UNSOL)
                .amps(0, amp(true, 0, 0, 0))
                .pin(
                    PC_OUT | PC_IN | PC_HP_DRIVE | PC_PRESENCE | PC_TRIGGER | PC_EAPD,
                    CFG_HP,
                )
                .conns(&out_pins)
                .sense(EMPTY),
        ),
        (
            0x18,
            widget(PIN, STEREO | IN_AMP | OUT_AMP | AMP_OVERRIDE | UNSOL)
                .amps(amp(false, 0x27, 3, 0), amp(true, 0, 0, 0))
                .pin(
                    PC_OUT | PC_IN | PC_PRESENCE | PC_VREF_50 | PC_VREF_80,
                    CFG_MIC_JACK,
                )
                .conns(&out_pins)
                .sense(EMPTY),
        ),
        (
            0x19,
            widget(PIN, STEREO | OUT_AMP | AMP_OVERRIDE)
                .amps(0, amp(true, 0, 0, 0))
                .pin(PC_OUT | PC_IN, CFG_NONE)
                .conns(&out_pins),
        ),
        (
            0x1a,
            widget(PIN, STEREO | UNSOL)
                .pin(PC_IN | PC_PRESENCE | PC_VREF_50 | PC_VREF_80, CFG_LINE_IN),
        ),
        (
            0x1b,
            widget(PIN, STEREO | OUT_AMP | AMP_OVERRIDE | UNSOL)
                .amps(0, amp(true, 0, 0, 0))
                .pin(PC_OUT | PC_IN | PC_HP_DRIVE | PC_PRESENCE, CFG_LINE_OUT)
                .conns(&out_pins)
                .sense(EMPTY),
        ),
        (
            0x1e,
            widget(PIN, STEREO | DIGITAL)
                .pin(PC_OUT, CFG_SPDIF_OUT)
                .conns(&[0x06]),
        ),
        (
            0x22,
            widget(SELECTOR, STEREO).conns(&[0x18, 0x19, 0x1a, 0x12, 0x0b]),
        ),
        (
            0x23,
            widget(MIXER, STEREO | IN_AMP | AMP_OVERRIDE)
                .amps(amp(true, 0, 0, 0), 0)
                .conns(&[0x18, 0x19, 0x1a, 0x1b, 0x12, 0x0b]),
        ),
    ]);
    fake.afg_pcm = 0x000e_0560;
    fake
}
